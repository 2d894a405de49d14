"""CUDA backend: ``gsplat.rasterization`` (gsplat 1.4 / 1.5), imported lazily.

Untested in this repository's CI (it has no GPU); written against gsplat 1.5.3's
``gsplat/rendering.py``. gsplat JIT-compiles its CUDA kernels on first use (minutes; it needs
``nvcc`` and ``ninja``, and ``packaging``: install the ``cuda`` extra).

Mapping to :class:`~motion4d.render.types.RenderOutput`:

* ``render_mode="RGB+ED"``: the 4th channel is gsplat's expected depth (accumulated z / alpha),
  set to 0 where alpha <= 1e-6 as in the CPU backend.
* ``backgrounds [C, 3]`` are composited by gsplat (``rgb + T_final * bg``), as on CPU.
* ``means2d`` is ``meta["means2d"]`` (``[C, N, 2]``, ``packed=False``) with ``retain_grad()`` so
  densification can read its gradient after ``backward()``.
* ``radii``: gsplat 1.5 returns ``[C, N, 2]``, 1.4 ``[C, N]``; always returned as ``[C, N, 2]`` int32.

gsplat 1.5 bounds each radius with the opacity (``sqrt(2 ln(255 o))`` sigmas instead of 3.33), so
its radii can be smaller than the CPU backend's; images agree, radii need not.
"""
from __future__ import annotations

import torch

from motion4d.camera import Cameras
from motion4d.gaussians.model import Gaussians
from motion4d.render.types import RenderOutput

__all__ = ["render_gsplat", "normalise_radii"]


def normalise_radii(radii: torch.Tensor) -> torch.Tensor:
    """gsplat radii ``[C, N]`` (1.4) or ``[C, N, 2]`` (1.5) -> ``[C, N, 2]`` int32."""
    if radii.ndim == 2:
        radii = radii[..., None].expand(*radii.shape, 2)
    if radii.ndim != 3 or radii.shape[-1] != 2:
        raise ValueError(f"unexpected gsplat radii shape {tuple(radii.shape)}")
    return radii.to(torch.int32)


def render_gsplat(g: Gaussians, cameras: Cameras, bg: torch.Tensor, sh_degree: int | None):
    """Render with ``gsplat.rasterization`` on CUDA tensors; returns a ``RenderOutput``."""
    try:
        import gsplat
    except ImportError as e:  # pragma: no cover - depends on the machine
        raise ImportError("backend='gsplat' needs gsplat: pip install 'motion4d[cuda]' "
                          "(gsplat>=1.4,<1.6, packaging, ninja) on a machine with CUDA and nvcc") from e
    degree = g.sh_degree if sh_degree is None else sh_degree
    if not 0 <= degree <= g.sh_degree:
        raise ValueError(f"sh_degree={degree} must be between 0 and the Gaussians' degree {g.sh_degree}")
    dtype = torch.float32  # gsplat's kernels are float32
    colours, alphas, meta = gsplat.rasterization(
        means=g.means.to(dtype), quats=g.quats.to(dtype), scales=g.scales.to(dtype),
        opacities=g.opacities.to(dtype), colors=g.sh.to(dtype),
        viewmats=cameras.viewmats.to(dtype), Ks=cameras.Ks.to(dtype),
        width=cameras.width, height=cameras.height, sh_degree=degree, packed=False,
        backgrounds=bg.to(dtype), render_mode="RGB+ED", near_plane=0.01, eps2d=0.3, tile_size=16,
    )
    means2d = meta["means2d"]
    if means2d.requires_grad:
        means2d.retain_grad()
    depth = torch.where(alphas > 1e-6, colours[..., 3:4], torch.zeros_like(alphas))
    return RenderOutput(colours[..., :3], alphas, depth, means2d, normalise_radii(meta["radii"]))
