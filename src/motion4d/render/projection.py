"""EWA projection of 3D Gaussians to screen space, in differentiable torch (shared by backends).

Follows gsplat's pinhole model and constants so the CPU and CUDA backends agree:
``eps2d = 0.3`` low-pass, ``near = 0.01``, radius ``ceil(3.33 * sqrt(cov2d_ii))`` per axis.
Letters: C cameras, N Gaussians.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from motion4d.gaussians.geometry import covariance_3d

__all__ = ["EPS2D", "NEAR_PLANE", "EXTEND", "Projected", "project"]

EPS2D = 0.3
NEAR_PLANE = 0.01
EXTEND = 3.33


@dataclass
class Projected:
    """Screen-space Gaussians for C cameras.

    means2d ``[C,N,2]`` (pixels), conics ``[C,N,3]`` (upper triangle a, b, c of the inverse 2D
    covariance), depths ``[C,N]`` (camera z), radii ``[C,N,2]`` (int, 0 when culled),
    dirs ``[C,N,3]`` (unit camera->Gaussian directions in world space, for SH).
    """

    means2d: torch.Tensor
    conics: torch.Tensor
    depths: torch.Tensor
    radii: torch.Tensor
    dirs: torch.Tensor


def project(means: torch.Tensor, quats: torch.Tensor, scales: torch.Tensor, viewmats: torch.Tensor,
            Ks: torch.Tensor, width: int, height: int, near_plane: float = NEAR_PLANE) -> Projected:
    """Project N Gaussians into C pinhole cameras (see :class:`Projected`)."""
    R = viewmats[:, :3, :3]  # [C,3,3]
    t = viewmats[:, :3, 3]  # [C,3]
    means_c = torch.einsum("cij,nj->cni", R, means) + t[:, None, :]  # [C,N,3]
    cov_w = covariance_3d(quats, scales)  # [N,3,3]
    cov_c = R[:, None] @ cov_w[None] @ R[:, None].transpose(-1, -2)  # [C,N,3,3]

    fx, fy = Ks[:, 0, 0][:, None], Ks[:, 1, 1][:, None]
    cx, cy = Ks[:, 0, 2][:, None], Ks[:, 1, 2][:, None]
    x, y, z = means_c.unbind(-1)
    valid_z = z > near_plane
    z_safe = torch.where(valid_z, z, torch.ones_like(z))
    # Clamp the Jacobian's view direction to 1.3x the field of view (as 3DGS/gsplat do).
    lim_x = 1.3 * (0.5 * width / fx)
    lim_y = 1.3 * (0.5 * height / fy)
    tx = z_safe * torch.clamp(x / z_safe, -lim_x, lim_x)
    ty = z_safe * torch.clamp(y / z_safe, -lim_y, lim_y)
    zeros = torch.zeros_like(z_safe)
    J = torch.stack([fx / z_safe, zeros, -fx * tx / z_safe ** 2,
                     zeros, fy / z_safe, -fy * ty / z_safe ** 2], dim=-1).reshape(*z.shape, 2, 3)
    cov2d = J @ cov_c @ J.transpose(-1, -2)
    a = cov2d[..., 0, 0] + EPS2D
    b = cov2d[..., 0, 1]
    c = cov2d[..., 1, 1] + EPS2D
    det = a * c - b * b
    valid = valid_z & (det > 0)
    det_safe = torch.where(valid, det, torch.ones_like(det))
    conics = torch.stack([c / det_safe, -b / det_safe, a / det_safe], dim=-1)
    means2d = torch.stack([fx * x / z_safe + cx, fy * y / z_safe + cy], dim=-1)

    with torch.no_grad():
        rx = torch.ceil(EXTEND * torch.sqrt(a.clamp_min(0)))
        ry = torch.ceil(EXTEND * torch.sqrt(c.clamp_min(0)))
        mx, my = means2d[..., 0], means2d[..., 1]
        inside = (mx + rx > 0) & (mx - rx < width) & (my + ry > 0) & (my - ry < height)
        keep = valid & inside
        radii = torch.stack([rx, ry], dim=-1).to(torch.int32) * keep[..., None]

    centers = -torch.einsum("cji,cj->ci", R, t)  # camera centres in world space
    dirs = torch.nn.functional.normalize(means[None] - centers[:, None], dim=-1)
    return Projected(means2d, conics, torch.where(valid_z, z, zeros), radii, dirs)
