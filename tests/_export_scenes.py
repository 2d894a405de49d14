"""Tiny synthetic 4D scenes for the export tests (built in code, no files)."""
from __future__ import annotations

import math

import torch

from motion4d.gaussians import Gaussians

__all__ = ["ball_gaussians", "ball_interior_density", "BlobScene", "DeformBlobScene", "CanonicalBlobScene"]


def ball_gaussians(radius: float = 0.4, step: float = 0.06, scale: float = 0.06, opacity: float = 0.5) -> Gaussians:
    """Isotropic Gaussians on a cubic lattice filling a ball; +x half red, -x half blue."""
    ax = torch.arange(-radius, radius + 1e-9, step)
    ax = ax - ax.mean()
    pts = torch.stack(torch.meshgrid(ax, ax, ax, indexing="ij"), -1).reshape(-1, 3)
    pts = pts[pts.norm(dim=1) <= radius]
    n = len(pts)
    red, blue = torch.tensor([0.9, 0.1, 0.1]), torch.tensor([0.1, 0.1, 0.9])
    rgb = torch.where(pts[:, :1] > 0, red, blue)
    return Gaussians.from_rgb(pts, rgb, torch.full((n, 3), scale), torch.full((n,), opacity))


def ball_interior_density(step: float = 0.06, scale: float = 0.06, opacity: float = 0.5) -> float:
    """Density deep inside :func:`ball_gaussians`: lattice density times one Gaussian's integral."""
    return opacity * (2 * math.pi) ** 1.5 * scale ** 3 / step ** 3


class BlobScene:
    """A ball of Gaussians translating along +x by ``shift`` over the clip and squashing in y
    (Gaussian ``i`` is the same Gaussian at every time)."""

    def __init__(self, num_frames: int = 4, shift: float = 0.3, squash: float = 0.2, fps: float = 8.0, **ball):
        self.num_frames = num_frames
        self.fps = fps
        self.shift = shift
        self.squash = squash
        self.base = ball_gaussians(**ball)

    def motion(self, points: torch.Tensor, t: float) -> torch.Tensor:
        out = points.clone()
        out[:, 0] = out[:, 0] + self.shift * t
        out[:, 1] = out[:, 1] * (1.0 - self.squash * t)
        return out

    def gaussians_at(self, t: float) -> Gaussians:
        return self.base.replace(means=self.motion(self.base.means, t))


class DeformBlobScene(BlobScene):
    """The same motion, also offered as a continuous ``deform_points`` (like a lift result)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.deform_calls = 0

    def deform_points(self, points: torch.Tensor, t: float) -> torch.Tensor:
        self.deform_calls += 1
        return self.motion(points, t)


class CanonicalBlobScene(DeformBlobScene):
    """Like a lift result: ``canonical`` Gaussians that no frame shows as they are (every frame is
    lifted by +0.2 in y), and ``deform_points`` mapping canonical points to time t."""

    lift = 0.2

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.canonical = self.base

    def motion(self, points, t):
        out = super().motion(points, t)
        out[:, 1] = out[:, 1] + self.lift
        return out
