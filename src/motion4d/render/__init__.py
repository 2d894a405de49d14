"""Differentiable Gaussian splatting: one entry point, :func:`render`, two backends.

* ``cpu``: projection, SH and tile binning in vectorised torch; per-pixel front-to-back compositing
  and its hand-written backward as numba kernels (``motion4d.render.cpu``).
* ``gsplat``: ``gsplat.rasterization`` on CUDA tensors, imported lazily.
* ``auto`` (default) picks ``gsplat`` for CUDA tensors and ``cpu`` otherwise.
"""
from motion4d.render.api import BACKENDS, render
from motion4d.render.types import RenderOutput

__all__ = ["BACKENDS", "RenderOutput", "render"]
