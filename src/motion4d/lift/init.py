"""Initial canonical Gaussians of a lift: a random ball (DreamGaussian) or a visual hull of calibrated views."""
from __future__ import annotations

import torch

from motion4d.gaussians.model import GaussianModel
from motion4d.lift.config import LiftConfig
from motion4d.lift.inputs import LiftInput

__all__ = ["initial_model"]


def initial_model(data: LiftInput, cfg: LiftConfig, ref_radius: float) -> GaussianModel:
    """``static.num_points`` Gaussians from ``static.init`` (``ball`` or ``visual_hull``), seeded by ``cfg.seed``,
    with SH degree ``static.sh_degree`` (above 0 only for several calibrated views: ValueError otherwise)."""
    gen = torch.Generator().manual_seed(cfg.seed)
    if cfg.static.sh_degree > 0 and not (data.calibrated and data.num_views >= 2):
        raise ValueError(f"static.sh_degree={cfg.static.sh_degree} (view-dependent colour) needs several calibrated "
                         f"views (a multi-view input or --views); this input has {data.num_views} "
                         f"{'calibrated' if data.calibrated else 'uncalibrated'} view(s): use static.sh_degree=0")
    if cfg.static.init == "visual_hull":
        return _visual_hull(data, cfg, ref_radius, gen)
    return GaussianModel.random_in_sphere(cfg.static.num_points, cfg.static.init_radius, sh_degree=cfg.static.sh_degree,
                                          opacity=cfg.static.init_opacity, generator=gen)


def _visual_hull(data: LiftInput, cfg: LiftConfig, ref_radius: float, gen: torch.Generator) -> GaussianModel:
    """Grid points inside every calibrated view's frame-0 mask, coloured from the views."""
    cams = data.cameras
    if cams is None or data.num_views < 2 or not data.calibrated:
        raise ValueError("static.init=visual_hull needs >= 2 calibrated views (--views or a multi-view input); "
                         "use static.init=ball for a single clip")
    half = ref_radius * (cams.height / 2) / float(cams.Ks[0, 1, 1])  # visible half-height at the origin
    res = 64
    lin = (torch.arange(res, dtype=torch.float32) + 0.5) / res * 2 - 1
    pts = torch.stack(torch.meshgrid(lin, lin, lin, indexing="ij"), -1).reshape(-1, 3) * half
    keep = torch.ones(len(pts), dtype=torch.bool)
    colour = torch.zeros(len(pts), 3)
    count = torch.zeros(len(pts), 1)
    for v in range(data.num_views):
        cam = cams[v]
        pc = pts @ cam.viewmats[0, :3, :3].T + cam.viewmats[0, :3, 3]
        uv = pc[:, :2] / pc[:, 2:].clamp_min(1e-6) * cam.Ks[0, [0, 1], [0, 1]] + cam.Ks[0, [0, 1], [2, 2]]
        u, w = uv[:, 0].floor().long(), uv[:, 1].floor().long()
        inside = (pc[:, 2] > 0) & (u >= 0) & (u < cams.width) & (w >= 0) & (w < cams.height)
        uc, wc = u.clamp(0, cams.width - 1), w.clamp(0, cams.height - 1)
        m = data.alpha[v, 0, wc, uc, 0] > 0.5
        keep &= ~inside | m
        colour += torch.where((inside & m)[:, None], data.rgb[v, 0, wc, uc], torch.zeros(1, 3))
        count += (inside & m)[:, None].float()
    pts, colour = pts[keep], (colour[keep] / count[keep].clamp_min(1))
    if len(pts) == 0:
        raise ValueError("visual hull is empty: the frame-0 masks of the calibrated views do not overlap")
    n = cfg.static.num_points
    if len(pts) > n:
        idx = torch.randperm(len(pts), generator=gen)[:n]
        pts, colour = pts[idx], colour[idx]
    jitter = (torch.rand(pts.shape, generator=gen) - 0.5) * (2 * half / res)
    return GaussianModel.from_points(pts + jitter, colour, opacity=cfg.static.init_opacity,
                                     sh_degree=cfg.static.sh_degree)
