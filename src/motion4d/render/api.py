"""The :func:`render` entry point (its output type lives in :mod:`motion4d.render.types`)."""
from __future__ import annotations

import torch

from motion4d.camera import Cameras
from motion4d.gaussians.model import Gaussians
from motion4d.render.types import RenderOutput

__all__ = ["BACKENDS", "RenderOutput", "render"]

BACKENDS = ("auto", "cpu", "gsplat")


def render(gaussians: Gaussians, cameras: Cameras, background: torch.Tensor | float | None = None, *,
           sh_degree: int | None = None, backend: str = "auto") -> RenderOutput:
    """Rasterize N Gaussians into C cameras, differentiably w.r.t. every Gaussian parameter.

    Args:
        gaussians: activated Gaussians (``GaussianModel.gaussians()`` or a deformed copy).
        cameras: batch of C cameras (``cameras.width x cameras.height``), on the same device.
        background: colour behind the Gaussians: a float, ``[3]`` or ``[C, 3]``; default black.
        sh_degree: SH degree to evaluate (default: all that ``gaussians.sh`` holds).
        backend: ``"auto"``, ``"cpu"`` or ``"gsplat"`` (CUDA only).
    Returns:
        :class:`RenderOutput`.
    """
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {', '.join(BACKENDS)}")
    device = gaussians.means.device
    if cameras.device != device:
        raise ValueError(f"cameras are on {cameras.device} but Gaussians are on {device}; call cameras.to(device)")
    if backend == "auto":
        backend = "gsplat" if device.type == "cuda" else "cpu"
    if backend == "gsplat" and device.type != "cuda":
        raise ValueError("backend='gsplat' needs CUDA tensors; use backend='cpu' or 'auto' on this device")
    if sh_degree is not None and not 0 <= int(sh_degree) <= gaussians.sh_degree:
        raise ValueError(f"sh_degree={sh_degree} must be between 0 and the Gaussians' SH degree {gaussians.sh_degree}")
    bg = _background(background, len(cameras), gaussians.means)
    if backend == "gsplat":
        from motion4d.render.gsplat_backend import render_gsplat

        return render_gsplat(gaussians, cameras, bg, sh_degree)
    from motion4d.render.cpu import render_cpu

    return render_cpu(gaussians, cameras, bg, sh_degree)


def _background(background, num_cameras: int, like: torch.Tensor) -> torch.Tensor:
    if background is None:
        background = 0.0
    bg = torch.as_tensor(background, dtype=like.dtype, device=like.device)
    if bg.ndim == 0:
        bg = bg.expand(3)
    if bg.shape == (3,):
        bg = bg.expand(num_cameras, 3)
    if bg.shape != (num_cameras, 3):
        raise ValueError(f"background must be a float, [3] or [C, 3] with C={num_cameras}, got {tuple(bg.shape)}")
    return bg
