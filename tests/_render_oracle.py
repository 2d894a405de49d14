"""Test-only oracle: a dense pure-torch Gaussian renderer (every Gaussian x every pixel).

Same projection and SH as the CPU backend, but compositing by dense cumprod with torch autograd,
so its gradients w.r.t. every Gaussian parameter are independent of the numba kernels. It applies
the same gsplat constants, including early termination: the kernels stop before the first
Gaussian whose inclusive transmittance would reach <= 1e-4, and since transmittance only falls,
that is exactly "drop every Gaussian whose inclusive transmittance is <= 1e-4".
Memory is O(C * H * W * N): keep it to <= 64x64 and a few hundred Gaussians.
"""
from __future__ import annotations

import torch

from motion4d.render.types import RenderOutput
from motion4d.render.projection import project
from motion4d.render.sh import eval_sh

ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0
T_MIN = 1e-4


def dense_composite(means2d, conics, opacities, features, depths, radii, width, height):
    """Dense version of ``motion4d.render.rasterize.composite`` (same arguments and returns)."""
    C, N = means2d.shape[:2]
    if features.ndim == 2:
        features = features[None].expand(C, -1, -1)
    if opacities.ndim == 1:
        opacities = opacities[None].expand(C, -1)
    dt = means2d.dtype
    ys, xs = torch.meshgrid(torch.arange(height, dtype=dt) + 0.5, torch.arange(width, dtype=dt) + 0.5,
                            indexing="ij")
    pix = torch.stack([xs, ys], -1).reshape(-1, 2)
    images, alphas = [], []
    for c in range(C):
        idx = torch.nonzero((radii[c] > 0).all(-1)).squeeze(1)
        idx = idx[torch.argsort(depths[c, idx].detach(), stable=True)]
        d = means2d[c, idx][None] - pix[:, None, :]  # [P, n, 2]
        a, b, cc = conics[c, idx].unbind(-1)
        sigma = 0.5 * (a * d[..., 0] ** 2 + cc * d[..., 1] ** 2) + b * d[..., 0] * d[..., 1]
        alpha = torch.clamp(opacities[c, idx] * torch.exp(-sigma), max=ALPHA_MAX)
        alpha = torch.where((sigma >= 0) & (alpha >= ALPHA_MIN), alpha, torch.zeros_like(alpha))
        T_incl = torch.cumprod(1 - alpha, dim=1)
        T_excl = torch.cat([torch.ones_like(T_incl[:, :1]), T_incl[:, :-1]], dim=1)
        w = alpha * T_excl * (T_incl > T_MIN).to(dt)
        images.append((w @ features[c, idx]).reshape(height, width, -1))
        alphas.append(w.sum(1).reshape(height, width, 1))
    return torch.stack(images), torch.stack(alphas)


def render_dense(g, cameras, background=None, sh_degree=None) -> RenderOutput:
    """Full dense render (projection, SH, compositing, background) like ``motion4d.render.render``."""
    dt = g.means.dtype
    C = len(cameras)
    bg = torch.zeros(3, dtype=dt) if background is None else torch.as_tensor(background, dtype=dt)
    bg = bg.expand(C, 3) if bg.ndim <= 1 else bg
    proj = project(g.means, g.quats, g.scales, cameras.viewmats.to(dt), cameras.Ks.to(dt),
                   cameras.width, cameras.height)
    colors = torch.clamp_min(eval_sh(g.sh[None], proj.dirs, sh_degree) + 0.5, 0.0).expand(C, -1, -1)
    feats = torch.cat([colors, proj.depths[..., None]], dim=-1)
    img, alpha = dense_composite(proj.means2d, proj.conics, g.opacities, feats, proj.depths, proj.radii,
                                 cameras.width, cameras.height)
    rgb = img[..., :3] + (1 - alpha) * bg[:, None, None, :]
    depth = torch.where(alpha > 1e-6, img[..., 3:4] / alpha.clamp_min(1e-6), torch.zeros_like(alpha))
    return RenderOutput(rgb, alpha, depth, proj.means2d, proj.radii)


def random_gaussians(n: int, seed: int, sh_degree: int = 0, dtype=torch.float64, radius: float = 0.6,
                     log_scale: float = -2.5, requires_grad: bool = True):
    """Random raw parameters (means, log_scales, quats, opacity_logits, sh) and a builder of activated
    :class:`~motion4d.gaussians.Gaussians` from them, so gradients reach every raw parameter."""
    from motion4d.gaussians import Gaussians

    gen = torch.Generator().manual_seed(seed)
    k = (sh_degree + 1) ** 2
    params = {
        "means": (torch.rand(n, 3, generator=gen, dtype=dtype) * 2 - 1) * radius,
        "log_scales": log_scale + 0.4 * torch.randn(n, 3, generator=gen, dtype=dtype),
        "quats": torch.randn(n, 4, generator=gen, dtype=dtype),
        "opacity_logits": torch.randn(n, generator=gen, dtype=dtype),
        "sh": 0.5 * torch.randn(n, k, 3, generator=gen, dtype=dtype),
    }
    for p in params.values():
        p.requires_grad_(requires_grad)

    def build():
        return Gaussians(params["means"], params["quats"], torch.exp(params["log_scales"]),
                         torch.sigmoid(params["opacity_logits"]), params["sh"])

    return params, build
