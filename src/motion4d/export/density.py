"""The density field of 3D Gaussians sampled on a grid (the input of marching cubes).

The density at a point ``x`` is DreamGaussian's (and DreamGaussian4D's) field::

    density(x) = sum_i  o_i * exp(-0.5 * (x - mu_i)^T Sigma_i^-1 (x - mu_i))

with opacity ``o_i``, mean ``mu_i`` and covariance ``Sigma_i = R S S^T R^T``; each Gaussian counts
within ``cutoff`` standard deviations (Mahalanobis distance). Alongside it the grid holds
``sum_i o_i exp(..) rgb_i`` so that colour = that sum / density (the opacity- and
distance-weighted colour of the Gaussians near a point, from their view-independent SH DC term).

Each Gaussian is splatted only into the samples inside its ellipsoid, so the cost grows with the
number of Gaussians times their volume in voxels, never with grid size times all Gaussians. Two
backends compute the same grid: ``numba`` (a compiled loop, the CPU default) and ``torch``
(vectorised and chunked; the default on CUDA, and the reference the tests compare with).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from motion4d.gaussians.model import Gaussians
from motion4d.gaussians.geometry import quat_to_rotmat

__all__ = ["DensityGrid", "density_grid", "DENSITY_BACKENDS"]

DENSITY_BACKENDS = ("auto", "numba", "torch")


@dataclass
class DensityGrid:
    """A density and colour field sampled on a regular grid of cubic voxels.

    Attributes:
        density: ``[X, Y, Z]`` float32; sample ``[i, j, k]`` sits at ``origin + voxel * (i, j, k)``.
        color_sum: ``[X, Y, Z, 3]`` sum of weight x colour (divide by ``density`` for the colour).
        origin: ``[3]`` world position of sample ``[0, 0, 0]``.
        voxel: edge length of a voxel (world units).
    """

    density: torch.Tensor
    color_sum: torch.Tensor
    origin: torch.Tensor
    voxel: float

    def sample(self, points: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Trilinear density ``[P]`` and colour ``[P, 3]`` (in [0, 1]) at world ``points [P, 3]``."""
        grid = torch.cat([self.density[..., None], self.color_sum], dim=-1)  # [X,Y,Z,4]
        vol = grid.permute(3, 2, 1, 0)[None]  # [1,4,Z,Y,X]: grid_sample's (x, y, z) index (W, H, D)
        size = torch.tensor(self.density.shape, dtype=vol.dtype, device=vol.device)
        norm = (points.to(vol) - self.origin.to(vol)) / self.voxel / (size - 1).clamp_min(1) * 2 - 1
        out = torch.nn.functional.grid_sample(vol, norm.reshape(1, -1, 1, 1, 3), mode="bilinear",
                                              padding_mode="border", align_corners=True)
        out = out.reshape(4, -1).T
        density = out[:, 0]
        color = out[:, 1:] / density.clamp_min(1e-12)[:, None]
        return density, color.clamp(0, 1)


def density_grid(gaussians: Gaussians, resolution: int = 128, *, cutoff: float = 3.0, min_opacity: float = 0.005,
                 bounds=None, backend: str = "auto", chunk_elements: int = 1 << 21) -> DensityGrid:
    """Sample the Gaussians' density (see the module docstring) on a grid of cubic voxels.

    Args:
        gaussians: activated Gaussians (N of them), on any device.
        resolution: samples along the longest side of the bounds (>= 8); the other sides get as
            many as the same voxel size needs.
        cutoff: each Gaussian contributes within ``cutoff`` standard deviations.
        min_opacity: Gaussians at or below this opacity are ignored (DreamGaussian drops <= 0.005).
        bounds: ``[[xmin, ymin, zmin], [xmax, ymax, zmax]]``; default: the union of the Gaussians'
            ``cutoff``-sigma boxes, so the surface is never clipped. One empty sample is added on
            every side so that marching cubes closes the surface.
        backend: ``"numba"`` (CPU), ``"torch"`` (any device) or ``"auto"`` (numba for CPU tensors).
        chunk_elements: Gaussian-sample pairs the torch backend evaluates at once (~50 bytes each).
    Returns:
        :class:`DensityGrid` on the Gaussians' device.
    """
    if isinstance(resolution, bool) or int(resolution) != resolution or resolution < 8:
        raise ValueError(f"resolution must be an integer >= 8, got {resolution!r}")
    if not cutoff > 0:
        raise ValueError(f"cutoff must be positive, got {cutoff!r}")
    if backend not in DENSITY_BACKENDS:
        raise ValueError(f"backend={backend!r} is not one of {', '.join(DENSITY_BACKENDS)}")
    g = gaussians.detach()
    keep = g.opacities > min_opacity
    if not bool(keep.any()):
        raise ValueError(f"no Gaussian has opacity above min_opacity={min_opacity}; nothing to mesh")
    g = g.select(keep)
    device, dtype = g.means.device, torch.float32
    if backend == "auto":
        backend = "numba" if device.type == "cpu" else "torch"
    means = g.means.to(dtype)
    rot = quat_to_rotmat(g.quats.to(dtype))
    scales = g.scales.to(dtype).clamp_min(1e-8)
    inv_cov = (rot / scales[:, None, :] ** 2) @ rot.transpose(1, 2)
    std = torch.sqrt(((rot * scales[:, None, :]) ** 2).sum(-1))  # [N,3] sqrt(diag Sigma): per-axis extent
    if bounds is None:
        lo = (means - cutoff * std).min(0).values
        hi = (means + cutoff * std).max(0).values
    else:
        b = torch.as_tensor(bounds, dtype=dtype, device=device)
        if b.shape != (2, 3) or not bool((b[1] > b[0]).all()):
            raise ValueError(f"bounds must be [[xmin, ymin, zmin], [xmax, ymax, zmax]] with max > min, got {bounds!r}")
        lo, hi = b[0], b[1]
    voxel = float((hi - lo).max()) / (int(resolution) - 1)
    if not voxel > 0:
        raise ValueError("the Gaussians span no volume (every mean coincides and scales are zero)")
    origin = lo - voxel
    dims = tuple(int(d) for d in (torch.floor((hi - lo) / voxel + 1e-6).long() + 3))
    opac = g.opacities.to(dtype)[:, None]
    feats = torch.cat([opac, opac * g.rgb.to(dtype).clamp(0, 1)], 1)  # [N,4]
    half = torch.ceil(cutoff * std / voxel).long().clamp(0, max(dims))  # [N,3] box half-size in samples
    if backend == "numba":
        if device.type != "cpu":
            raise ValueError(f"backend='numba' needs CPU tensors, got {device}; use backend='torch' or 'auto'")
        acc = _splat_numba(means, inv_cov, half, feats, origin, voxel, dims, cutoff)
    else:
        acc = _splat_torch(means, inv_cov, half, feats, origin, voxel, dims, cutoff, chunk_elements)
    return DensityGrid(acc[..., 0].contiguous(), acc[..., 1:].contiguous(), origin, voxel)


def _splat_numba(means, inv_cov, half, feats, origin, voxel, dims, cutoff) -> torch.Tensor:
    import numpy as np

    from motion4d.export._density_kernel import splat_density

    acc = np.zeros((*dims, feats.shape[1]), dtype=np.float32)
    splat_density(acc, means.numpy().astype(np.float64), inv_cov.numpy().astype(np.float64),
                  half.numpy().astype(np.int64), feats.numpy(), origin.numpy().astype(np.float64),
                  float(voxel), float(cutoff) ** 2)
    return torch.from_numpy(acc)


def _splat_torch(means, inv_cov, half, feats, origin, voxel, dims, cutoff, chunk_elements) -> torch.Tensor:
    """Vectorised twin of the numba kernel.

    Gaussians are grouped by their box (a cube of their largest per-axis half-size). Within a group
    the Mahalanobis distances of B Gaussians to the K box offsets are one ``[B, 10] @ [10, K]``
    matmul (the quadratic form expanded around each Gaussian's nearest sample), and the flat sample
    index is ``centre_index + offset_index``; only boxes crossing the grid border pay for a bounds
    check.
    """
    device, dtype = means.device, means.dtype
    X, Y, Z = dims
    D = feats.shape[1]
    acc = torch.zeros(D, X * Y * Z, dtype=dtype, device=device)
    dims_d = torch.tensor(dims, device=device)
    strides = torch.tensor([Y * Z, Z, 1], device=device)
    centre = torch.round((means - origin) / voxel).long()  # [N,3] nearest sample
    e = origin + centre.to(dtype) * voxel - means  # [N,3] from the mean to that sample
    a_e = (inv_cov @ e[:, :, None])[:, :, 0]
    v, v2, ic = voxel, voxel * voxel, inv_cov
    # maha(offset o) = e'Ae + 2v (Ae).o + v^2 o'Ao = gfeat [N,10] . ofeat(o) [10]
    gfeat = torch.stack([(a_e * e).sum(1), 2 * v * a_e[:, 0], 2 * v * a_e[:, 1], 2 * v * a_e[:, 2],
                         v2 * ic[:, 0, 0], v2 * ic[:, 1, 1], v2 * ic[:, 2, 2],
                         2 * v2 * ic[:, 0, 1], 2 * v2 * ic[:, 0, 2], 2 * v2 * ic[:, 1, 2]], 1)
    half = half.max(1, keepdim=True).values.expand(-1, 3)  # cubic boxes: few groups, big batches
    border = ((centre - half) < 0).any(1) | ((centre + half) >= dims_d).any(1)
    key = half[:, 0]
    zero = torch.zeros((), dtype=dtype, device=device)
    cutoff2 = cutoff * cutoff
    for k in torch.unique(key).tolist():
        ar = torch.arange(-k, k + 1, device=device)
        off = torch.stack(torch.meshgrid(ar, ar, ar, indexing="ij"), -1).reshape(-1, 3)  # [K,3]
        o = off.to(dtype)
        ofeat = torch.stack([torch.ones_like(o[:, 0]), o[:, 0], o[:, 1], o[:, 2], o[:, 0] ** 2, o[:, 1] ** 2,
                             o[:, 2] ** 2, o[:, 0] * o[:, 1], o[:, 0] * o[:, 2], o[:, 1] * o[:, 2]], 0)
        off_flat = (off * strides).sum(1)
        per_chunk = max(1, chunk_elements // off.shape[0])
        for on_border in (False, True):
            idx = torch.nonzero((key == k) & (border == on_border)).squeeze(1)
            for start in range(0, idx.numel(), per_chunk):
                sel = idx[start:start + per_chunk]
                maha = gfeat[sel] @ ofeat  # [B,K]
                w = torch.where(maha <= cutoff2, torch.exp(-0.5 * maha), zero)
                flat = (centre[sel] * strides).sum(1)[:, None] + off_flat[None]  # [B,K]
                if on_border:
                    vox = centre[sel, None, :] + off[None]
                    inside = ((vox >= 0) & (vox < dims_d)).all(-1)
                    w = torch.where(inside, w, zero)
                    flat = torch.where(inside, flat, torch.zeros_like(flat))
                flat = flat.reshape(-1)
                for d in range(D):  # one scalar scatter per channel is far faster than one [M, D] scatter
                    acc[d].index_add_(0, flat, (w * feats[sel, d:d + 1]).reshape(-1))
    return acc.T.reshape(X, Y, Z, D)
