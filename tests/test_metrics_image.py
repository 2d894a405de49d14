"""Metrics against hand-computed values."""
import math

import numpy as np
import pytest
import torch

from motion4d.metrics import chamfer, flicker, mask_iou, mse, nearest_distances, psnr, ssim


def test_psnr_of_known_mse():
    target = torch.zeros(2, 8, 8, 3)
    pred = torch.full((2, 8, 8, 3), 0.1)
    pred[1, :4] = 0.3  # half the pixels off by 0.3, half by 0.1: MSE = (0.09 + 0.01) / 2 = 0.05
    assert torch.allclose(mse(pred, target), torch.tensor([0.01, 0.05], dtype=torch.float64))
    assert torch.allclose(psnr(pred, target), torch.tensor([20.0, 10 * math.log10(20)], dtype=torch.float64))
    assert math.isclose(float(psnr(pred[0] * 255, target[0], data_range=255.0)), 20.0, rel_tol=1e-9)
    assert math.isinf(float(psnr(target[0], target[0])))


def test_ssim_identical_is_one_and_constant_case_by_hand():
    x = torch.rand(16, 20, 3, generator=torch.Generator().manual_seed(0))
    assert math.isclose(float(ssim(x, x)), 1.0, abs_tol=1e-12)
    a, b = 0.2, 0.6  # constant images: no variance, so SSIM = (2ab + C1) / (a^2 + b^2 + C1)
    c1 = 0.01 ** 2
    expect = (2 * a * b + c1) / (a * a + b * b + c1)
    got = ssim(torch.full((12, 12, 3), a), torch.full((12, 12, 3), b))
    assert math.isclose(float(got), expect, rel_tol=1e-6)


def test_ssim_matches_scikit_image():
    from skimage.metrics import structural_similarity

    g = torch.Generator().manual_seed(1)
    x = torch.rand(24, 28, 3, generator=g)
    y = (x + 0.2 * torch.rand(24, 28, 3, generator=g)).clamp(0, 1)
    ref = structural_similarity(x.numpy().astype(np.float64), y.numpy().astype(np.float64), gaussian_weights=True,
                                sigma=1.5, use_sample_covariance=False, data_range=1.0, channel_axis=-1)
    assert math.isclose(float(ssim(x, y)), ref, abs_tol=1e-6)
    batch = ssim(torch.stack([x, x]), torch.stack([y, x]))
    assert batch.shape == (2,) and math.isclose(float(batch[1]), 1.0, abs_tol=1e-12)


def test_mask_iou_of_known_masks():
    a = torch.zeros(4, 4)
    b = torch.zeros(4, 4)
    a[:2, :] = 1  # 8 pixels
    b[1:3, :] = 1  # 8 pixels, 4 shared -> IoU 4 / 12
    assert math.isclose(float(mask_iou(a, b)), 1 / 3)
    assert float(mask_iou(a[..., None], a[..., None])) == 1.0
    assert float(mask_iou(torch.zeros(4, 4), torch.zeros(4, 4))) == 1.0  # both empty
    assert float(mask_iou(a * 0.4, a)) == 0.0  # 0.4 is below the 0.5 threshold
    with pytest.raises(ValueError, match="shape"):
        mask_iou(a, b[:3])


def test_flicker():
    static = torch.full((3, 4, 4, 3), 0.5)
    assert float(flicker(static)) == 0.0
    blink = static.clone()
    blink[1] = 0.7  # changes of +0.2 then -0.2
    assert math.isclose(float(flicker(blink)), 0.2, rel_tol=1e-6)
    assert float(flicker(blink + 0.1, blink)) == pytest.approx(0.0, abs=1e-7)  # same changes, offset colours
    assert math.isclose(float(flicker(static, blink)), 0.2, rel_tol=1e-6)  # misses the blink
    with pytest.raises(ValueError, match="F >= 2"):
        flicker(static[:1])


def test_chamfer_of_known_sets():
    a = torch.tensor([[0.0, 0, 0], [1.0, 0, 0]])
    b = torch.tensor([[0.0, 0, 0]])
    # a -> b: mean(0, 1) = 0.5; b -> a: 0
    assert math.isclose(float(chamfer(a, b)), 0.5)
    c = torch.tensor([[0.0, 3, 4]])
    assert math.isclose(float(chamfer(b, c)), 10.0)  # 5 each way
    assert math.isclose(float(chamfer(b, c, squared=True)), 50.0)
    pts = torch.rand(300, 3, generator=torch.Generator().manual_seed(2))
    assert float(chamfer(pts, pts)) == 0.0
    other = pts + 0.01
    assert torch.allclose(nearest_distances(pts, other, chunk=7), nearest_distances(pts, other, chunk=4096))
    with pytest.raises(ValueError, match="non-empty"):
        chamfer(torch.zeros(0, 3), b)


def test_shape_errors_name_the_problem():
    with pytest.raises(ValueError, match="differ in shape"):
        psnr(torch.zeros(4, 4, 3), torch.zeros(4, 5, 3))
    with pytest.raises(ValueError, match="at least 11x11"):
        ssim(torch.zeros(8, 8, 3), torch.zeros(8, 8, 3))
