"""CPU backend.

PLACEHOLDER compositing: dense (every Gaussian x every pixel). The numba tile rasterizer replaces
``composite`` with the same contract.
"""
from __future__ import annotations

import torch

from motion4d.camera import Cameras
from motion4d.gaussians.model import Gaussians
from motion4d.render.projection import project
from motion4d.render.sh import eval_sh

ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0
T_MIN = 1e-4


def render_cpu(g: Gaussians, cameras: Cameras, bg: torch.Tensor, sh_degree: int | None):
    from motion4d.render.api import RenderOutput

    proj = project(g.means, g.quats, g.scales, cameras.viewmats, cameras.Ks, cameras.width, cameras.height)
    colors = torch.clamp_min(eval_sh(g.sh[None], proj.dirs, sh_degree) + 0.5, 0.0)
    colors = colors.expand(len(cameras), -1, -1)  # [C,N,3]
    feats = torch.cat([colors, proj.depths[..., None]], dim=-1)
    means2d = proj.means2d
    if means2d.requires_grad:
        means2d.retain_grad()
    img, alpha = composite(means2d, proj.conics, g.opacities, feats, proj.depths, proj.radii,
                           cameras.width, cameras.height)
    rgb = img[..., :3] + (1 - alpha) * bg[:, None, None, :]
    depth = img[..., 3:4] / alpha.clamp_min(1e-6) * (alpha > 1e-6)
    return RenderOutput(rgb, alpha, depth, means2d, proj.radii)


def composite(means2d, conics, opacities, features, depths, radii, width, height):
    """Front-to-back alpha compositing.

    Args: means2d ``[C,N,2]``, conics ``[C,N,3]``, opacities ``[N]``, features ``[C,N,D]``,
    depths ``[C,N]`` (sort key), radii ``[C,N,2]`` (0 = culled), image size.
    Returns: ``(image [C,H,W,D], alpha [C,H,W,1])``, differentiable w.r.t. means2d, conics,
    opacities and features.
    """
    C = means2d.shape[0]
    ys, xs = torch.meshgrid(torch.arange(height, dtype=means2d.dtype) + 0.5,
                            torch.arange(width, dtype=means2d.dtype) + 0.5, indexing="ij")
    pix = torch.stack([xs, ys], -1).reshape(-1, 2)
    images, alphas = [], []
    for c in range(C):
        keep = (radii[c] > 0).all(-1)
        idx = torch.nonzero(keep).squeeze(1)
        idx = idx[torch.argsort(depths[c, idx], stable=True)]
        d = pix[:, None, :] - means2d[c, idx][None]
        a, b, cc = conics[c, idx].unbind(-1)
        sigma = 0.5 * (a * d[..., 0] ** 2 + cc * d[..., 1] ** 2) + b * d[..., 0] * d[..., 1]
        alpha = torch.clamp(opacities[idx] * torch.exp(-sigma), max=ALPHA_MAX)
        alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_MIN), alpha, torch.zeros_like(alpha))
        T = torch.cumprod(torch.cat([torch.ones_like(alpha[:, :1]), 1 - alpha[:, :-1]], 1), 1)
        w = alpha * T
        images.append((w @ features[c, idx]).reshape(height, width, -1))
        alphas.append(w.sum(1).reshape(height, width, 1))
    return torch.stack(images), torch.stack(alphas)
