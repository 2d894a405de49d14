"""The renderer's output type, shared by :func:`motion4d.render.render` and every backend."""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["RenderOutput"]


@dataclass
class RenderOutput:
    """What :func:`render` returns (C cameras, N Gaussians, H x W images).

    Attributes:
        rgb: ``[C, H, W, 3]`` composited colour over the background.
        alpha: ``[C, H, W, 1]`` accumulated opacity.
        depth: ``[C, H, W, 1]`` expected camera-z depth, normalised by alpha (0 where alpha is 0).
        means2d: ``[C, N, 2]`` projected centres in pixels; its ``.grad`` (when the input requires
            grad and ``retain_grad`` was set) drives densification.
        radii: ``[C, N, 2]`` int32 screen radii in pixels, 0 for culled Gaussians.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    depth: torch.Tensor
    means2d: torch.Tensor
    radii: torch.Tensor

    @property
    def visible(self) -> torch.Tensor:
        """``[C, N]`` bool: Gaussian touched the image in that camera."""
        return (self.radii > 0).all(dim=-1)
