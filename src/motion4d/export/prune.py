"""Drop faint far-off Gaussians ("floaters") before export.

A Gaussian is a floater when it is **faint** (opacity below ``faint``) and, at some frame, lies
farther than ``distance`` (world units) from the nearest **support** Gaussian of that frame (opacity at
least ``support_opacity``). ``distance`` defaults to ``relative_distance`` times the diagonal of the
support's bounding box at frame 0. Opaque Gaussians are never dropped, however far (they are drawn
in the training views; dropping them would change the images), and nothing is dropped when there is no
support. The same Gaussians are dropped at every frame, so exported frames keep one-to-one
correspondence (Gaussian ``i`` is the same in every PLY).

:class:`PrunedScene` wraps a :class:`~motion4d.scene4d.Scene4D` with such a mask; the exporters take it
like any scene.
"""
from __future__ import annotations

import torch

from motion4d.gaussians.model import Gaussians

__all__ = ["floater_mask", "prune_floaters", "PrunedScene"]


def floater_mask(frames: list[Gaussians], *, faint: float = 0.3, support_opacity: float = 0.5,
                 distance: float | None = None, relative_distance: float = 0.15) -> torch.Tensor:
    """``[N]`` bool, True for the Gaussians to keep, given the same ``N`` Gaussians at several frames."""
    from motion4d.utils.knn import knn

    if not frames:
        raise ValueError("floater_mask needs the Gaussians of at least one frame")
    n = len(frames[0])
    if any(len(g) != n for g in frames):
        raise ValueError(f"every frame must hold the same Gaussians; got counts {sorted({len(g) for g in frames})}")
    if not 0 <= faint <= 1 or not 0 <= support_opacity <= 1:
        raise ValueError(f"faint={faint} and support_opacity={support_opacity} must be opacities in [0, 1]")
    keep = torch.ones(n, dtype=torch.bool)
    if n == 0:
        return keep
    opac = frames[0].opacities.detach().cpu().reshape(-1)
    support = opac >= support_opacity
    candidates = opac < faint
    if not bool(support.any()) or not bool(candidates.any()):
        return keep
    if distance is None:
        pts = frames[0].means.detach().cpu()[support]
        diag = float((pts.max(0).values - pts.min(0).values).norm())
        distance = max(relative_distance * diag, 1e-6)
    if not distance > 0:
        raise ValueError(f"distance must be > 0 world units, got {distance}")
    for g in frames:
        means = g.means.detach().cpu().float()
        dist, _ = knn(means[support], 1, queries=means[candidates])
        far = torch.zeros(n, dtype=torch.bool)
        far[candidates] = dist.reshape(-1) > distance
        keep &= ~far
    return keep


class PrunedScene:
    """A scene with some Gaussians removed at every time (``keep [N]`` bool over the scene's Gaussians).

    ``gaussians_at``, ``canonical`` and ``deform_points`` are those of ``scene`` (minus the dropped
    Gaussians); other attributes pass through.
    """

    def __init__(self, scene, keep: torch.Tensor) -> None:
        self.scene = scene
        self.keep = keep.to(torch.bool).reshape(-1)

    @property
    def num_frames(self) -> int:
        return self.scene.num_frames

    def gaussians_at(self, t: float) -> Gaussians:
        g = self.scene.gaussians_at(t)
        return g.select(self.keep.to(g.means.device))

    @property
    def canonical(self) -> Gaussians:
        g = self.scene.canonical  # AttributeError when the scene has none
        return g.select(self.keep.to(g.means.device))

    def __getattr__(self, name):  # deform_points, times, metadata, fps ... of the wrapped scene
        if name in ("scene", "keep"):
            raise AttributeError(name)
        return getattr(self.scene, name)


def prune_floaters(scene, times: list[float] | None = None, **options) -> tuple[PrunedScene, int]:
    """``(scene without its floaters, number dropped)``; ``options`` go to :func:`floater_mask`, which
    looks at every time in ``times`` (default: the scene's frame times)."""
    from motion4d.scene4d import frame_times

    times = frame_times(scene.num_frames) if times is None else times
    with torch.no_grad():
        frames = [scene.gaussians_at(float(t)) for t in times]
    keep = floater_mask(frames, **options)
    return PrunedScene(scene, keep), int((~keep).sum())
