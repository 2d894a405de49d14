"""Rigid motion recovered from point correspondences (how well a 4D result turns an object).

:func:`procrustes` fits the rotation ``R`` and translation ``t`` with ``b ~ a @ R.T + t`` (weighted
Kabsch, no scaling; a proper rotation, det +1); :func:`rotation_angle` is the angle of ``R`` in
degrees. For a lift result, ``a`` are the canonical means and ``b`` the deformed means at time ``t``
(Gaussian ``i`` is the same Gaussian in both).
"""
from __future__ import annotations

import math

import torch

__all__ = ["procrustes", "rotation_angle", "rotation_about"]


def procrustes(a: torch.Tensor, b: torch.Tensor, weights: torch.Tensor | None = None
               ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(R [3, 3], t [3])`` minimising ``sum_i w_i |b_i - (R a_i + t)|^2`` for ``a, b [N, 3]`` (N >= 3)."""
    a, b = torch.as_tensor(a, dtype=torch.float64), torch.as_tensor(b, dtype=torch.float64)
    if a.shape != b.shape or a.ndim != 2 or a.shape[1] != 3 or len(a) < 3:
        raise ValueError(f"procrustes needs two [N, 3] point sets with N >= 3, got {tuple(a.shape)} and "
                         f"{tuple(b.shape)}")
    w = torch.ones(len(a), dtype=torch.float64) if weights is None else torch.as_tensor(weights, dtype=torch.float64)
    w = w.reshape(-1) / w.sum().clamp_min(1e-12)
    ca, cb = (w[:, None] * a).sum(0), (w[:, None] * b).sum(0)
    h = ((a - ca) * w[:, None]).T @ (b - cb)
    u, _, vt = torch.linalg.svd(h)
    d = torch.sign(torch.linalg.det(vt.T @ u.T))
    r = vt.T @ torch.diag(torch.tensor([1.0, 1.0, float(d)], dtype=torch.float64)) @ u.T
    return r, cb - r @ ca


def rotation_angle(r: torch.Tensor) -> float:
    """Angle in degrees (0..180) of a rotation matrix ``[3, 3]``."""
    c = (float(torch.trace(torch.as_tensor(r, dtype=torch.float64))) - 1.0) / 2.0
    return math.degrees(math.acos(max(-1.0, min(1.0, c))))


def rotation_about(r: torch.Tensor, axis) -> float:
    """Signed angle in degrees of ``r`` about the unit ``axis [3]`` (right-handed), from its skew part."""
    r = torch.as_tensor(r, dtype=torch.float64)
    ax = torch.as_tensor(axis, dtype=torch.float64)
    ax = ax / ax.norm()
    v = torch.stack([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / 2  # sin(angle) * axis
    s = float(v @ ax)
    c = (float(torch.trace(r)) - 1.0) / 2.0
    return math.degrees(math.atan2(s, c))
