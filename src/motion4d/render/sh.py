"""Real spherical harmonics up to degree 3 (the 3DGS/gsplat basis and sign convention)."""
from __future__ import annotations

import torch

_C0 = 0.28209479177387814
_C1 = 0.4886025119029199
_C2 = (1.0925484305920792, -1.0925484305920792, 0.31539156525252005, -1.0925484305920792, 0.5462742152960396)
_C3 = (-0.5900435899266435, 2.890611442640554, -0.4570457994644658, 0.3731763325901154,
       -0.4570457994644658, 1.445305721320277, -0.5900435899266435)


def eval_sh(sh: torch.Tensor, dirs: torch.Tensor, degree: int | None = None) -> torch.Tensor:
    """Evaluate SH colour (without the +0.5 offset).

    Args:
        sh: coefficients ``[..., K, 3]`` with K = (degree+1)^2.
        dirs: unit view directions ``[..., 3]`` (camera centre -> Gaussian), broadcastable to ``sh[..., 0, :]``.
        degree: degree to use (default: the highest ``sh`` holds).
    Returns:
        ``[..., 3]``.
    """
    k = sh.shape[-2]
    deg = int(round(k ** 0.5)) - 1 if degree is None else degree
    out = _C0 * sh[..., 0, :]
    if deg < 1:
        return out
    x, y, z = dirs[..., 0:1], dirs[..., 1:2], dirs[..., 2:3]
    out = out - _C1 * y * sh[..., 1, :] + _C1 * z * sh[..., 2, :] - _C1 * x * sh[..., 3, :]
    if deg < 2:
        return out
    xx, yy, zz, xy, yz, xz = x * x, y * y, z * z, x * y, y * z, x * z
    out = (out + _C2[0] * xy * sh[..., 4, :] + _C2[1] * yz * sh[..., 5, :]
           + _C2[2] * (2.0 * zz - xx - yy) * sh[..., 6, :] + _C2[3] * xz * sh[..., 7, :]
           + _C2[4] * (xx - yy) * sh[..., 8, :])
    if deg < 3:
        return out
    return (out + _C3[0] * y * (3 * xx - yy) * sh[..., 9, :] + _C3[1] * xy * z * sh[..., 10, :]
            + _C3[2] * y * (4 * zz - xx - yy) * sh[..., 11, :]
            + _C3[3] * z * (2 * zz - 3 * xx - 3 * yy) * sh[..., 12, :]
            + _C3[4] * x * (4 * zz - xx - yy) * sh[..., 13, :] + _C3[5] * z * (xx - yy) * sh[..., 14, :]
            + _C3[6] * x * (xx - 3 * yy) * sh[..., 15, :])
