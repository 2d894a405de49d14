"""The render() entry point: outputs, errors, and a fit-to-image optimisation."""
import math

import pytest
import torch

from motion4d.camera import Cameras, orbit_cameras
from motion4d.gaussians import Gaussians, GaussianModel
from motion4d.render import render


def _one_gaussian(colour=(1.0, 0.0, 0.0), opacity=0.9, scale=0.2):
    return Gaussians.from_rgb(torch.zeros(1, 3), torch.tensor([colour]), torch.full((1, 3), scale),
                              torch.tensor([opacity]))


def test_single_gaussian_centred_with_background_and_depth():
    cams = Cameras.orbit(0.0, 0.0, radius=2.0, fovy=40.0, width=32)
    out = render(_one_gaussian(), cams, background=torch.tensor([0.0, 0.0, 1.0]))
    centre = out.rgb[0, 15:17, 15:17].mean((0, 1))
    assert centre[0] > 0.8 and centre[2] < 0.2  # red Gaussian in front of a blue background
    torch.testing.assert_close(out.rgb[0, 0, 0], torch.tensor([0.0, 0.0, 1.0]))  # corner: background only
    assert out.alpha[0, 16, 16, 0] > 0.85 and out.alpha[0, 0, 0, 0] == 0
    assert abs(out.depth[0, 16, 16, 0].item() - 2.0) < 1e-4  # expected depth is the camera distance
    assert out.depth[0, 0, 0, 0] == 0
    assert out.visible.tolist() == [[True]]


def test_gaussian_behind_the_camera_is_culled():
    cams = Cameras.orbit(0.0, 0.0, radius=2.0, width=16)
    g = _one_gaussian()
    g = g.replace(means=torch.tensor([[0.0, 0.0, 3.0]]))  # behind a camera sitting at z = 2
    out = render(g, cams)
    assert out.alpha.abs().max() == 0 and out.radii.abs().max() == 0


def test_render_errors():
    cams = Cameras.orbit(0.0, 0.0, width=16)
    g = _one_gaussian()
    with pytest.raises(ValueError, match="backend='vulkan' is not one of auto, cpu, gsplat"):
        render(g, cams, backend="vulkan")
    with pytest.raises(ValueError, match=r"background must be a float, \[3\] or \[C, 3\] with C=1, got \(2,\)"):
        render(g, cams, background=torch.zeros(2))
    with pytest.raises(ValueError, match="needs CUDA tensors"):
        render(g, cams, backend="gsplat")
    with pytest.raises(ValueError, match="sh_degree=2 must be between 0 and the Gaussians' SH degree 0"):
        render(g, cams, sh_degree=2)
    with pytest.raises(ValueError, match="cameras are on meta but Gaussians are on cpu"):
        render(g, cams.to("meta"))


def test_sh_degree_limits_the_bands():
    g = _one_gaussian()
    sh = torch.zeros(1, 16, 3)
    sh[0, 0] = g.sh[0, 0]
    sh[0, 1:4] = 0.5  # degree-1 terms change the colour with the view direction
    g3 = g.replace(sh=sh)
    cams = Cameras.orbit(0.0, [0.0, 180.0], radius=2.0, width=16)
    full = render(g3, cams).rgb[:, 8, 8]
    base = render(g3, cams, sh_degree=0).rgb[:, 8, 8]
    torch.testing.assert_close(base, render(g, cams).rgb[:, 8, 8])
    assert (full - base).abs().max() > 0.05


def test_background_per_camera_and_empty_scene():
    cams = orbit_cameras([0.0], [0.0, 90.0], width=16)
    bg = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    empty = Gaussians.from_rgb(torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0, 3), torch.zeros(0))
    out = render(empty, cams, background=bg)
    torch.testing.assert_close(out.rgb, bg[:, None, None, :].expand(2, 16, 16, 3))


def test_fit_to_image_raises_psnr():
    torch.manual_seed(0)
    cams = Cameras.orbit(0.0, 0.0, radius=2.5, fovy=49.1, width=32)
    # Target: a rendered scene of coloured blobs.
    gen = torch.Generator().manual_seed(1)
    target_model = GaussianModel.random_in_sphere(60, radius=0.6, opacity=0.8, generator=gen)
    with torch.no_grad():
        target_model.log_scales.fill_(math.log(0.12))
        target = render(target_model.gaussians(), cams, background=1.0).rgb
    model = GaussianModel.random_in_sphere(150, radius=0.6, opacity=0.3, generator=torch.Generator().manual_seed(2))
    opt = torch.optim.Adam([{"params": [model.means], "lr": 5e-3},
                            {"params": [model.log_scales, model.quats], "lr": 2e-2},
                            {"params": [model.opacity_logits, model.sh_dc], "lr": 5e-2}])

    def psnr():
        with torch.no_grad():
            mse = ((render(model.gaussians(), cams, background=1.0).rgb - target) ** 2).mean()
        return -10 * math.log10(mse.item())

    start = psnr()
    for _ in range(100):
        opt.zero_grad()
        loss = (render(model.gaussians(), cams, background=1.0).rgb - target).abs().mean()
        loss.backward()
        opt.step()
    end = psnr()
    assert end > start + 10, (start, end)


def test_gsplat_radii_are_normalised():
    from motion4d.render.gsplat_backend import normalise_radii

    old = torch.tensor([[3, 0, 5]])
    new = torch.tensor([[[3, 4], [0, 0], [5, 1]]])
    assert normalise_radii(old).tolist() == [[[3, 3], [0, 0], [5, 5]]]
    assert normalise_radii(new).dtype == torch.int32 and normalise_radii(new).tolist() == new.tolist()
    with pytest.raises(ValueError, match="unexpected gsplat radii shape"):
        normalise_radii(torch.zeros(2, 3, 4))


def test_import_motion4d_compiles_nothing():
    import os
    import subprocess
    import sys
    from pathlib import Path

    code = ("import sys, motion4d, motion4d.render, motion4d.gaussians, motion4d.camera; "
            "bad = [m for m in ('numba', 'gsplat', 'motion4d.render._kernels') if m in sys.modules]; "
            "print(bad); sys.exit(1 if bad else 0)")
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1] / "src")}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert res.returncode == 0, res.stdout + res.stderr


def test_kernels_are_cached_on_disk():
    from numba.core.caching import NullCache

    from motion4d.render import _kernels

    for kernel in (_kernels.rasterize_fwd, _kernels.rasterize_bwd):
        assert not isinstance(kernel._cache, NullCache)  # cache=True: compiled once, loaded afterwards
