"""The numba compositing kernel against a float64 gradcheck and the dense oracle."""
import torch

from _render_oracle import dense_composite
from motion4d.render.binning import bin_gaussians
from motion4d.render.rasterize import composite


def _screen_scene(C, N, W, H, seed, dtype=torch.float64, sigma_px=2.0):
    gen = torch.Generator().manual_seed(seed)
    means2d = torch.rand(C, N, 2, generator=gen, dtype=dtype) * torch.tensor([W, H], dtype=dtype)
    L = torch.randn(C, N, 2, 2, generator=gen, dtype=dtype) * 0.5 * sigma_px
    cov = L @ L.transpose(-1, -2) + torch.eye(2, dtype=dtype) * sigma_px ** 2
    inv = torch.linalg.inv(cov)
    conics = torch.stack([inv[..., 0, 0], inv[..., 0, 1], inv[..., 1, 1]], -1)
    opac = torch.rand(N, generator=gen, dtype=dtype) * 0.9 + 0.05
    feats = torch.rand(C, N, 4, generator=gen, dtype=dtype)
    depths = torch.rand(C, N, generator=gen, dtype=dtype) + 1.0
    radii = torch.ceil(3.33 * torch.sqrt(torch.stack([cov[..., 0, 0], cov[..., 1, 1]], -1))).int()
    return [t.requires_grad_() for t in (means2d, conics, opac, feats)] + [depths, radii]


def test_kernel_gradcheck_float64():
    m, con, op, f, d, r = _screen_scene(2, 6, 16, 16, seed=0)
    fn = lambda m, con, op, f: composite(m, con, op, f, d, r, 16, 16)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (m, con, op, f), eps=1e-6, atol=1e-5, fast_mode=True)


def test_kernel_gradcheck_multi_tile_with_alpha_loss():
    # 40x24: several tiles, partial edge tiles, Gaussians spanning tile borders.
    m, con, op, f, d, r = _screen_scene(1, 8, 40, 24, seed=1, sigma_px=3.0)
    fn = lambda m, con, op, f: composite(m, con, op, f, d, r, 40, 24)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (m, con, op, f), eps=1e-6, atol=1e-5, fast_mode=True)


def test_kernel_matches_dense_oracle_forward_and_backward():
    for seed in range(3):
        m, con, op, f, d, r = _screen_scene(2, 60, 48, 40, seed=seed)
        img, alpha = composite(m, con, op, f, d, r, 48, 40)
        img_d, alpha_d = dense_composite(m, con, op, f, d, r, 48, 40)
        torch.testing.assert_close(img, img_d, rtol=0, atol=1e-12)
        torch.testing.assert_close(alpha, alpha_d, rtol=0, atol=1e-12)
        w = torch.randn_like(img)
        wa = torch.randn_like(alpha)
        grads = torch.autograd.grad((img * w).sum() + (alpha * wa).sum(), (m, con, op, f))
        grads_d = torch.autograd.grad((img_d * w).sum() + (alpha_d * wa).sum(), (m, con, op, f))
        for g, gd in zip(grads, grads_d):
            torch.testing.assert_close(g, gd, rtol=1e-9, atol=1e-10)


def test_early_termination_and_alpha_clamp():
    # Ten identical Gaussians stacked on one pixel: compositing must stop before the one that would
    # take the transmittance to <= 1e-4 (here the 7th), not run through all ten.
    dt = torch.float64
    N = 10
    m = torch.full((1, N, 2), 8.0, dtype=dt)
    con = torch.tensor([1.0, 0.0, 1.0], dtype=dt).expand(1, N, 3).clone()
    op = torch.ones(N, dtype=dt)
    vals = [float(i + 1) if i < 6 else 1e4 for i in range(N)]  # the back Gaussians would show
    f = torch.tensor(vals, dtype=dt)[None, :, None]
    d = torch.arange(N, dtype=dt)[None] + 1.0
    r = torch.full((1, N, 2), 4, dtype=torch.int32)
    img, alpha = composite(m, con, op, f, d, r, 16, 16)
    # Pixel (7, 7) has centre (7.5, 7.5): sigma = 0.25, alpha = exp(-0.25) < 0.999, no clamp there.
    import math

    a = math.exp(-0.25)
    T, expect, used = 1.0, 0.0, 0
    for i in range(N):
        if T * (1 - a) <= 1e-4:
            break
        expect += vals[i] * a * T
        T *= 1 - a
        used += 1
    assert used == 6
    full = sum(vals[i] * a * (1 - a) ** i for i in range(N))
    assert abs(full - expect) > 1e-3  # without early termination the value would differ
    assert abs(img[0, 7, 7, 0].item() - expect) < 1e-12
    assert abs(alpha[0, 7, 7, 0].item() - (1 - T)) < 1e-12
    # With the clamp active (a huge opacity), only the front Gaussian contributes, with alpha 0.999.
    img2, alpha2 = composite(m, con, op * 1e3, f, d, r, 16, 16)
    assert abs(img2[0, 7, 7, 0].item() - 0.999 * vals[0]) < 1e-12
    assert abs(alpha2[0, 7, 7, 0].item() - 0.999) < 1e-12


def test_low_alpha_gaussians_are_skipped():
    dt = torch.float64
    m = torch.tensor([[[8.0, 8.0]]], dtype=dt)
    con = torch.tensor([[[1e-6, 0.0, 1e-6]]], dtype=dt)  # nearly flat: alpha ~= opacity everywhere
    f = torch.ones(1, 1, 1, dtype=dt)
    d = torch.ones(1, 1, dtype=dt)
    r = torch.full((1, 1, 2), 8, dtype=torch.int32)
    below = composite(m, con, torch.tensor([0.99 / 255], dtype=dt), f, d, r, 16, 16)[1]
    above = composite(m, con, torch.tensor([1.01 / 255], dtype=dt), f, d, r, 16, 16)[1]
    assert below.abs().max() == 0
    assert (above > 1.0 / 255).all()


def test_binning_lists_every_touched_tile_in_depth_order():
    dt = torch.float64
    m = torch.tensor([[[32.0, 16.0], [5.0, 5.0], [60.0, 30.0]]], dtype=dt)
    r = torch.tensor([[[20, 3], [2, 2], [0, 0]]], dtype=torch.int32)  # third is culled
    d = torch.tensor([[2.0, 1.0, 0.5]], dtype=dt)
    bins = bin_gaussians(m, r, d, 64, 32)
    assert (bins.tiles_x, bins.tiles_y) == (4, 2)
    counts = bins.counts().reshape(2, 4)
    # Gaussian 0: x in [12, 52) -> tiles 0..3; y in [13, 19) -> tiles 0..1. Gaussian 1 only tile (0, 0).
    assert counts.tolist() == [[2, 1, 1, 1], [1, 1, 1, 1]]
    first_tile = bins.flat_ids[bins.tile_offsets[0]:bins.tile_offsets[1]].tolist()
    assert first_tile == [1, 0]  # front (depth 1) before back (depth 2)
    assert 2 not in bins.flat_ids.tolist()


def test_kernel_full_jacobian_gradcheck_tiny():
    # Full (not fast-mode) Jacobian check on a tiny case: every output pixel against every input.
    m, con, op, f, d, r = _screen_scene(1, 3, 8, 8, seed=2, sigma_px=1.5)
    f = f[..., :2].detach().requires_grad_()
    fn = lambda m, con, op, f: composite(m, con, op, f, d, r, 8, 8)  # noqa: E731
    assert torch.autograd.gradcheck(fn, (m, con, op, f), eps=1e-6, atol=1e-5)
