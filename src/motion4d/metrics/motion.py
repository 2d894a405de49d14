"""Appearance-free motion measures for clips: does one clip move like another?

* :func:`phase_shift`: the translation (dx, dy) in pixels between two frames (multi-channel phase correlation,
  sub-pixel by a parabolic fit of the correlation peak; x right, y down), optionally searched only within
  ``max_shift`` pixels.
* :func:`global_shifts`: that translation for every pair of consecutive frames.
* :func:`difference_energy`: per frame pair, mean |frame[i+1] - frame[i]| (when motion happens).
* :func:`motion_distance`: ``shift_err`` (mean distance between two clips' shift sequences, pixels; lower is
  closer), ``velocity_err`` (distance between their mean shifts, pixels per frame) and ``energy_corr`` (Pearson
  correlation of their difference energies over time; higher is closer).

Frames are ``[F, H, W, C]`` arrays or tensors with any number of channels: decoded RGB, or latents moved to
channels-last (``latents[b].permute(1, 2, 3, 0)``). Each channel contributes its cross-power spectrum to one
correlation surface, so channels that carry opposite-signed copies of an object do not cancel.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["phase_shift", "global_shifts", "difference_energy", "motion_distance"]


def _frames(frames) -> np.ndarray:
    x = frames.detach().float().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    x = x.astype(np.float64)
    if x.ndim != 4 or x.shape[0] < 2:
        raise ValueError(f"frames must be [F >= 2, H, W, C], got shape {x.shape}")
    return x


def _parabola(cm: float, c0: float, cp: float) -> float:
    d = cm - 2 * c0 + cp
    return 0.0 if abs(d) < 1e-12 else float(np.clip(0.5 * (cm - cp) / d, -0.5, 0.5))


def phase_shift(a: np.ndarray, b: np.ndarray, max_shift: float | None = None) -> np.ndarray:
    """Translation (dx, dy) in pixels that moves image ``a`` onto ``b`` (``[H, W]`` or ``[H, W, C]``; circular
    phase correlation). ``max_shift`` limits the peak search to shifts of at most that many pixels per axis
    (motions faster than that are not considered); ``None`` searches the whole image. Two featureless images
    give (0, 0)."""
    a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
    if a.shape != b.shape or a.ndim not in (2, 3):
        raise ValueError(f"phase_shift needs two images of one shape [H, W] or [H, W, C], got {a.shape} and {b.shape}")
    if a.ndim == 2:
        a, b = a[..., None], b[..., None]
    fa = np.fft.fft2(a - a.mean((0, 1)), axes=(0, 1))
    fb = np.fft.fft2(b - b.mean((0, 1)), axes=(0, 1))
    r = (fb * np.conj(fa)).sum(-1)
    if np.abs(r).max() < 1e-12:
        return np.zeros(2)
    r /= np.abs(r) + 1e-9
    c = np.real(np.fft.ifft2(r))
    h, w = c.shape
    if max_shift is not None:
        if max_shift < 0:
            raise ValueError(f"max_shift must be >= 0 pixels, got {max_shift}")
        dy = np.minimum(np.arange(h), h - np.arange(h))[:, None]
        dx = np.minimum(np.arange(w), w - np.arange(w))[None, :]
        c = np.where((dy <= max_shift) & (dx <= max_shift), c, -np.inf)
    y, x = np.unravel_index(np.argmax(c), c.shape)
    fin = np.isfinite
    cy = [c[(y - 1) % h, x], c[y, x], c[(y + 1) % h, x]]
    cx = [c[y, (x - 1) % w], c[y, x], c[y, (x + 1) % w]]
    ddy = y + (_parabola(*cy) if all(fin(cy)) else 0.0)
    ddx = x + (_parabola(*cx) if all(fin(cx)) else 0.0)
    return np.array([ddx - w if ddx > w / 2 else ddx, ddy - h if ddy > h / 2 else ddy])


def global_shifts(frames, max_shift: float | None = None) -> np.ndarray:
    """[F - 1, 2] translations (dx, dy) in pixels between consecutive frames of ``frames`` [F, H, W, C]."""
    x = _frames(frames)
    return np.stack([phase_shift(x[i], x[i + 1], max_shift) for i in range(len(x) - 1)])


def difference_energy(frames) -> np.ndarray:
    """[F - 1] mean absolute difference between consecutive frames."""
    return np.abs(np.diff(_frames(frames), axis=0)).mean(axis=(1, 2, 3))


def motion_distance(frames, reference, max_shift: float | None = None) -> dict[str, float]:
    """How differently ``frames`` moves than ``reference`` (same frame count, any sizes and channels):

    * ``shift_err``: mean over frame pairs of the distance between the two clips' shifts (pixels);
    * ``velocity_err``: distance between the two clips' mean shifts (pixels per frame), i.e. whether they
      travel the same way on average;
    * ``energy_corr``: correlation of the difference energies (0 when either is constant).
    """
    s1, s2 = global_shifts(frames, max_shift), global_shifts(reference, max_shift)
    if s1.shape != s2.shape:
        raise ValueError(f"clips have different frame counts: {s1.shape[0] + 1} vs {s2.shape[0] + 1}")
    e1, e2 = difference_energy(frames), difference_energy(reference)
    corr = float(np.corrcoef(e1, e2)[0, 1]) if e1.std() > 1e-9 and e2.std() > 1e-9 else 0.0
    return {"shift_err": float(np.linalg.norm(s1 - s2, axis=1).mean()),
            "velocity_err": float(np.linalg.norm(s1.mean(0) - s2.mean(0))), "energy_corr": corr}
