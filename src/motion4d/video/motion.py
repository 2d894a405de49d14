"""Appearance-free motion measures for clips (used to check that a motion LoRA transfers motion).

* :func:`global_shifts`: per frame pair, the global translation (dx, dy) in pixels (phase correlation of the grey
  frames, sub-pixel by a parabolic fit of the correlation peak). x right, y down.
* :func:`difference_energy`: per frame pair, mean |frame[i+1] - frame[i]| (when motion happens).
* :func:`motion_distance`: ``shift_err`` (mean distance between two clips' shift sequences, pixels; lower is
  closer) and ``energy_corr`` (Pearson correlation of their difference energies over time; higher is closer).

Frames are ``[F, H, W, C]`` arrays (any C: channels are averaged), e.g. decoded RGB or latents moved to channels-last.
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["phase_shift", "global_shifts", "difference_energy", "motion_distance"]


def _np(frames) -> np.ndarray:
    x = frames.detach().float().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames, np.float64)
    if x.ndim != 4 or x.shape[0] < 2:
        raise ValueError(f"frames must be [F >= 2, H, W, C], got shape {x.shape}")
    return x.mean(-1)


def phase_shift(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Translation (dx, dy) in pixels that moves grey image ``a`` [H, W] onto ``b`` (circular phase correlation)."""
    fa, fb = np.fft.fft2(a - a.mean()), np.fft.fft2(b - b.mean())
    r = fb * np.conj(fa)
    r /= np.abs(r) + 1e-9
    c = np.real(np.fft.ifft2(r))
    h, w = c.shape
    y, x = np.unravel_index(np.argmax(c), c.shape)

    def parabola(cm: float, c0: float, cp: float) -> float:
        d = cm - 2 * c0 + cp
        return 0.0 if abs(d) < 1e-12 else float(np.clip(0.5 * (cm - cp) / d, -0.5, 0.5))

    dy = y + parabola(c[(y - 1) % h, x], c[y, x], c[(y + 1) % h, x])
    dx = x + parabola(c[y, (x - 1) % w], c[y, x], c[y, (x + 1) % w])
    return np.array([dx - w if dx > w / 2 else dx, dy - h if dy > h / 2 else dy])


def global_shifts(frames) -> np.ndarray:
    """[F - 1, 2] translations (dx, dy) between consecutive frames of ``frames`` [F, H, W, C]."""
    grey = _np(frames)
    return np.stack([phase_shift(grey[i], grey[i + 1]) for i in range(len(grey) - 1)])


def difference_energy(frames) -> np.ndarray:
    """[F - 1] mean absolute difference between consecutive frames."""
    return np.abs(np.diff(_np(frames), axis=0)).mean(axis=(1, 2))


def motion_distance(frames, reference) -> dict[str, float]:
    """How differently ``frames`` moves than ``reference`` (same frame count): ``shift_err`` (pixels) and
    ``energy_corr`` (0 when either clip has constant difference energy)."""
    s1, s2 = global_shifts(frames), global_shifts(reference)
    if s1.shape != s2.shape:
        raise ValueError(f"clips have different frame counts: {s1.shape[0] + 1} vs {s2.shape[0] + 1}")
    e1, e2 = difference_energy(frames), difference_energy(reference)
    corr = float(np.corrcoef(e1, e2)[0, 1]) if e1.std() > 1e-9 and e2.std() > 1e-9 else 0.0
    return {"shift_err": float(np.linalg.norm(s1 - s2, axis=1).mean()), "energy_corr": corr}
