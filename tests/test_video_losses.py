"""The appearance-debiased loss against a hand computation."""
import math

import numpy as np
import pytest
import torch

from motion4d.video.losses import debias, debiased_loss, temporal_loss


def test_debiased_loss_matches_hand_computation():
    g = torch.Generator().manual_seed(0)
    pred = torch.randn(2, 3, 5, 4, 4, generator=g)
    target = torch.randn(2, 3, 5, 4, 4, generator=g)
    anchor = 2
    p, t = pred.numpy(), target.numpy()
    total, count = 0.0, 0
    for b in range(2):
        for c in range(3):
            for f in range(5):
                for y in range(4):
                    for x in range(4):
                        phi_p = math.sqrt(2) * p[b, c, f, y, x] - p[b, c, anchor, y, x]
                        phi_t = math.sqrt(2) * t[b, c, f, y, x] - t[b, c, anchor, y, x]
                        total += (phi_p - phi_t) ** 2
                        count += 1
    assert float(debiased_loss(pred, target, anchor)) == pytest.approx(total / count, rel=1e-5)
    parts = temporal_loss(pred, target, anchor, lambda_org=1.0, lambda_ad=1.0)
    org = float(np.mean((p - t) ** 2))
    assert float(parts["loss_org"]) == pytest.approx(org, rel=1e-5)
    assert float(parts["loss"]) == pytest.approx(org + total / count, rel=1e-5)
    # the anchor frame's own term is (sqrt2 - 1)^2 * (p - t)^2, included in the mean
    d = debias(pred, anchor) - debias(target, anchor)
    torch.testing.assert_close(d[:, :, anchor], (math.sqrt(2) - 1) * (pred - target)[:, :, anchor])


def test_debiased_loss_ignores_a_shared_appearance_offset_less_than_mse():
    """phi removes most of a static (appearance) offset shared by all frames: the debiased loss of
    pred = target + static offset is (sqrt2 - 1)^2 times the plain MSE."""
    target = torch.randn(1, 4, 6, 3, 3)
    offset = torch.randn(1, 4, 1, 3, 3)
    pred = target + offset
    mse = float(((pred - target) ** 2).mean())
    assert float(debiased_loss(pred, target, 0)) == pytest.approx((math.sqrt(2) - 1) ** 2 * mse, rel=1e-5)


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"\[B, C, F, h, w\]"):
        debias(torch.zeros(2, 3, 4, 4), 0)
    with pytest.raises(ValueError, match="anchor frame 7 is out of range for 4 frames"):
        debias(torch.zeros(1, 1, 4, 2, 2), 7)
    with pytest.raises(ValueError, match="same shape"):
        debiased_loss(torch.zeros(1, 1, 4, 2, 2), torch.zeros(1, 1, 3, 2, 2), 0)
