"""CPU backend: torch projection + SH, torch tile binning, numba compositing (fwd and bwd).

The pipeline for C cameras and N Gaussians:

1. :func:`motion4d.render.projection.project` (torch autograd): means2d, conics, depths, radii.
2. :func:`motion4d.render.sh.eval_sh` (torch autograd): view-dependent colour ``0.5 + SH``,
   clamped at 0 as in gsplat.
3. :func:`motion4d.render.rasterize.composite`: tile binning and the numba kernels, compositing
   D = 4 channels (RGB and camera-z depth) front to back.
4. Background ``rgb += (1 - alpha) * bg``; expected depth ``depth / alpha``.
"""
from __future__ import annotations

import torch

from motion4d.camera import Cameras
from motion4d.gaussians.model import Gaussians
from motion4d.render.types import RenderOutput
from motion4d.render.projection import project
from motion4d.render.rasterize import composite
from motion4d.render.sh import eval_sh

__all__ = ["render_cpu", "composite", "ALPHA_MAX", "ALPHA_MIN", "T_MIN"]

ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0
T_MIN = 1e-4


def render_cpu(g: Gaussians, cameras: Cameras, bg: torch.Tensor, sh_degree: int | None):
    """Render with the CPU backend (see the module docstring); returns a ``RenderOutput``."""
    dtype = g.means.dtype
    proj = project(g.means, g.quats, g.scales, cameras.viewmats.to(dtype), cameras.Ks.to(dtype),
                   cameras.width, cameras.height)
    colors = torch.clamp_min(eval_sh(g.sh[None], proj.dirs, sh_degree) + 0.5, 0.0)
    colors = colors.expand(len(cameras), -1, -1)  # [C,N,3]
    feats = torch.cat([colors, proj.depths[..., None]], dim=-1)
    means2d = proj.means2d
    if means2d.requires_grad:
        means2d.retain_grad()
    img, alpha = composite(means2d, proj.conics, g.opacities, feats, proj.depths, proj.radii,
                           cameras.width, cameras.height)
    rgb = img[..., :3] + (1 - alpha) * bg[:, None, None, :]
    depth = torch.where(alpha > 1e-6, img[..., 3:4] / alpha.clamp_min(1e-6), torch.zeros_like(alpha))
    return RenderOutput(rgb, alpha, depth, means2d, proj.radii)
