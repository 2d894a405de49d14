"""Temporal flicker of a video, alone or against a reference video.

``flicker(frames)``: mean absolute change between consecutive frames,
``mean_f |x[f+1] - x[f]|`` (over pixels and channels). A static video scores 0.

``flicker(frames, reference)``: mean absolute difference between the two videos' frame-to-frame
changes, ``mean_f |(x[f+1] - x[f]) - (y[f+1] - y[f])|``. It is 0 when the prediction changes exactly as
the reference does (even if both are off by a constant), and it grows with jitter the reference does not
have, or with motion the prediction misses. Frames are ``[F, H, W, C]`` in [0, 1], ``F >= 2``.
"""
from __future__ import annotations

import torch

__all__ = ["flicker"]


def flicker(frames: torch.Tensor, reference: torch.Tensor | None = None) -> torch.Tensor:
    """Temporal flicker (scalar tensor); see the module docstring for the definition."""
    x = torch.as_tensor(frames).double()
    if x.ndim != 4 or x.shape[0] < 2:
        raise ValueError(f"flicker: frames must be [F, H, W, C] with F >= 2, got shape {tuple(x.shape)}")
    dx = x[1:] - x[:-1]
    if reference is None:
        return dx.abs().mean()
    y = torch.as_tensor(reference).double()
    if y.shape != x.shape:
        raise ValueError(f"flicker: reference {tuple(y.shape)} and frames {tuple(x.shape)} differ in shape")
    return (dx - (y[1:] - y[:-1])).abs().mean()
