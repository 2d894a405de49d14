"""HexPlane deformation field: identity at init, gradients, interpolation in time, regularisers."""
import pytest
import torch

from motion4d.deform import DeformConfig, DeformationField, HexPlaneField, deform, PLANE_NAMES
from motion4d.gaussians import GaussianModel

SMALL = DeformConfig(resolution=[8, 8, 8, 5], channels=4, width=16)


def _canonical(n=50, seed=0):
    g = torch.Generator().manual_seed(seed)
    model = GaussianModel.random_in_sphere(n, radius=0.5, generator=g)
    with torch.no_grad():
        model.quats.add_(0.1 * torch.randn(n, 4, generator=g))  # unnormalised quats must survive untouched
    return model.gaussians().detach()


def test_zero_at_init_exact_identity():
    torch.manual_seed(0)
    g = _canonical()
    field = DeformationField.for_points(g.means, DeformConfig(resolution=[8, 8, 8, 5], channels=4, width=16,
                                                              deform_color=True))
    for t in (0.0, 0.37, 1.0):
        out = deform(g, field, t)
        for name in ("means", "quats", "scales", "opacities", "sh"):
            assert torch.equal(getattr(out, name), getattr(g, name)), name


def test_gradients_reach_every_plane_and_head():
    torch.manual_seed(0)
    g = _canonical()
    field = DeformationField.for_points(g.means, SMALL)
    opt = torch.optim.Adam(field.parameters(), lr=1e-2)
    target = g.means + torch.tensor([0.1, 0.0, 0.0]) * torch.rand(len(g), 1)
    for step in range(2):  # zero heads block gradients to the planes on the very first step only
        opt.zero_grad()
        times = torch.rand(len(g))
        loss = (deform(g, field, times).means - target).square().mean()
        loss.backward()
        opt.step()
    planes = list(field.grid.iter_planes())
    assert len(planes) == 6
    for s, p, plane in planes:
        assert plane.grad is not None and plane.grad.abs().sum() > 0, PLANE_NAMES[p]
    for name, param in field.named_parameters():
        if name.startswith(("head_scales", "head_quats")):
            continue  # the loss only involves positions
        assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_fractional_time_interpolates_linearly_in_a_time_plane():
    torch.manual_seed(0)
    hp = HexPlaneField(resolution=(4, 4, 4, 5), channels=3)
    with torch.no_grad():
        hp.planes[0][3].copy_(torch.rand_like(hp.planes[0][3]) + 0.5)  # only xt varies with time
    pts = torch.rand(20, 3) * 2 - 1
    # grid times (align_corners): t_k = -1 + 2k/4 ; midpoint between k=1 and k=2
    f = lambda t: hp(torch.cat([pts, torch.full((20, 1), t)], 1))  # noqa: E731
    mid = f(-0.25)
    torch.testing.assert_close(mid, 0.5 * (f(-0.5) + f(0.0)), rtol=1e-5, atol=1e-6)
    assert not torch.allclose(mid, f(-0.5))


def test_field_is_continuous_in_time_between_frames():
    torch.manual_seed(0)
    g = _canonical()
    field = DeformationField.for_points(g.means, SMALL)
    with torch.no_grad():
        for p in field.parameters():
            p.add_(0.3 * torch.randn_like(p))
    a, b, mid = (field(g.means, t).means for t in (0.25, 0.5, 0.375))
    assert not torch.allclose(a, b)
    assert (mid - 0.5 * (a + b)).abs().max() < (a - b).abs().max()
    near = field(g.means, 0.375 + 1e-4).means
    assert (near - mid).abs().max() < 1e-2 * (a - b).abs().max() + 1e-6


def test_regularizers_apply_and_reach_planes():
    torch.manual_seed(0)
    field = DeformationField(SMALL)
    reg = field.regularizers()
    assert reg["plane_tv"] > 0  # random spatial planes are not flat
    assert reg["time_smoothness"] == 0 and reg["time_l1"] == 0  # time planes start at exactly 1
    with torch.no_grad():
        for s, p, plane in field.grid.iter_planes():
            if p >= 3:
                plane.add_(0.1 * torch.randn_like(plane))
    reg = field.regularizers()
    total = reg["plane_tv"] + reg["time_smoothness"] + reg["time_l1"]
    total.backward()
    for s, p, plane in field.grid.iter_planes():
        assert plane.grad.abs().sum() > 0, PLANE_NAMES[p]
    # a few optimiser steps on the regularisers alone make the planes smoother
    opt = torch.optim.Adam(field.grid.parameters(), lr=1e-2)
    before = {k: float(v.detach()) for k, v in field.regularizers().items()}
    for _ in range(20):
        opt.zero_grad()
        r = field.regularizers()
        (r["plane_tv"] + r["time_smoothness"] + r["time_l1"]).backward()
        opt.step()
    after = field.regularizers()
    for k in before:
        assert float(after[k].detach()) < before[k], k


def test_multires_concatenates_and_bad_args():
    field = HexPlaneField(resolution=(4, 4, 4, 3), channels=2, multires=(1, 2))
    assert field.out_dim == 4
    assert field.planes[1][0].shape == (1, 2, 8, 8) and field.planes[1][3].shape == (1, 2, 3, 8)
    assert field(torch.zeros(5, 4)).shape == (5, 4)
    with pytest.raises(ValueError, match="resolution"):
        HexPlaneField(resolution=(4, 4, 4))
    with pytest.raises(ValueError, match=r"\[N, 4\]"):
        field(torch.zeros(5, 3))
    with pytest.raises(ValueError, match="aabb"):
        DeformationField(SMALL, aabb=torch.tensor([[1.0, 1, 1], [0, 0, 0]]))


def test_points_outside_box_are_clamped_not_extrapolated():
    field = DeformationField(SMALL)
    with torch.no_grad():
        for p in field.parameters():
            p.add_(0.3 * torch.randn_like(p))
    inside = field(torch.tensor([[1.0, 0.0, 0.0]]), 0.5).means
    outside = field(torch.tensor([[5.0, 0.0, 0.0]]), 0.5).means
    torch.testing.assert_close(inside, outside)
