"""numba kernel that splats Gaussian densities into a grid (imported lazily, cached on disk)."""
from __future__ import annotations

import math

from numba import njit


@njit(fastmath=True, cache=True)
def splat_density(acc, means, inv_cov, half, feats, origin, voxel, cutoff2):
    """Add ``feats[i] * exp(-0.5 maha)`` of every Gaussian ``i`` into ``acc [X, Y, Z, D]``.

    Sample ``[a, b, c]`` sits at ``origin + voxel * (a, b, c)``. Gaussian ``i`` visits the samples
    of its axis-aligned ``half[i]``-voxel box; for each (a, b) column the z range where
    ``maha <= cutoff2`` is solved from the quadratic in dz, so no sample outside the ellipsoid is
    evaluated. Serial: no write races.
    """
    X, Y, Z, D = acc.shape
    for i in range(means.shape[0]):
        mx, my, mz = means[i, 0], means[i, 1], means[i, 2]
        a00, a11, a22 = inv_cov[i, 0, 0], inv_cov[i, 1, 1], inv_cov[i, 2, 2]
        a01, a02, a12 = inv_cov[i, 0, 1], inv_cov[i, 0, 2], inv_cov[i, 1, 2]
        cx = int(round((mx - origin[0]) / voxel))
        cy = int(round((my - origin[1]) / voxel))
        for a in range(max(0, cx - half[i, 0]), min(X, cx + half[i, 0] + 1)):
            dx = origin[0] + a * voxel - mx
            for b in range(max(0, cy - half[i, 1]), min(Y, cy + half[i, 1] + 1)):
                dy = origin[1] + b * voxel - my
                lin = a02 * dx + a12 * dy
                const = a00 * dx * dx + a11 * dy * dy + 2.0 * a01 * dx * dy
                disc = lin * lin - a22 * (const - cutoff2)
                if disc < 0.0:
                    continue
                root = math.sqrt(disc)
                z_lo = mz + (-lin - root) / a22
                z_hi = mz + (-lin + root) / a22
                c0 = max(0, int(math.ceil((z_lo - origin[2]) / voxel)))
                c1 = min(Z - 1, int(math.floor((z_hi - origin[2]) / voxel)))
                for c in range(c0, c1 + 1):
                    dz = origin[2] + c * voxel - mz
                    m = const + dz * (a22 * dz + 2.0 * lin)
                    if m <= cutoff2:
                        w = math.exp(-0.5 * m)
                        for d in range(D):
                            acc[a, b, c, d] += w * feats[i, d]
