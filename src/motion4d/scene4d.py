"""The one protocol every 4D result speaks: Gaussians at a normalised time.

Time convention (used by the world, lift, export and metrics): a clip of ``F`` frames spans
normalised time ``t`` in [0, 1]; frame ``f`` sits at ``t = f / (F - 1)`` (``t = 0`` when F == 1).
Fractional times between frames are valid and interpolate.

Anything with ``num_frames`` and ``gaussians_at(t)`` can be rendered, evaluated against the shapes
world's ground truth (``motion4d eval``), and exported (PLY sequence, videos, meshes):

* ``motion4d.world`` scenes (ground truth),
* ``motion4d.lift`` results (canonical Gaussians + deformation field).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from motion4d.gaussians.model import Gaussians

__all__ = ["Scene4D", "frame_times"]


@runtime_checkable
class Scene4D(Protocol):
    """A time-varying set of Gaussians."""

    @property
    def num_frames(self) -> int:
        """Number of frames in the clip this scene was made from or for (>= 1)."""

    def gaussians_at(self, t: float) -> Gaussians:
        """Activated Gaussians at normalised time ``t`` in [0, 1]."""


def frame_times(num_frames: int) -> list[float]:
    """Normalised times of ``num_frames`` evenly spaced frames: ``f / (F - 1)``."""
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    return [0.0] if num_frames == 1 else [f / (num_frames - 1) for f in range(num_frames)]
