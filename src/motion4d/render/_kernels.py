"""numba kernels: per-pixel front-to-back compositing and its hand-written backward.

Imported lazily (by :mod:`motion4d.render.rasterize`) so ``import motion4d`` neither imports numba
nor compiles anything. Kernels are compiled on first call per dtype and cached on disk
(``NUMBA_CACHE_DIR``, else numba's default cache location); a cached load takes well under a second.

Data layout ("packed" intersections, see :mod:`motion4d.render.binning`): row ``i`` of ``means2d
[M, 2]``, ``conics [M, 3]``, ``opacities [M]`` and ``features [M, D]`` is the i-th intersection;
tile ``t`` (camera-major, row-major tiles) owns rows ``offsets[t]:offsets[t + 1]``, front to back.

Work split: one ``prange`` iteration per (camera, tile); inside it a loop over the tile's pixels and,
per pixel, over the tile's intersections. Each intersection row belongs to exactly one tile, so the
backward writes its gradients into per-intersection rows that only one thread ever touches: no
atomics, no races, no per-thread reduction. (The caller scatters them back to the Gaussians.)

Constants follow gsplat's CUDA kernels: ``alpha = min(0.999, o * exp(-sigma))``; skip when
``sigma < 0`` or ``alpha < 1/255``; stop before the Gaussian that would take the transmittance to
``<= 1e-4``; pixel centres at ``+0.5``; the opacity/geometry gradient only flows where
``o * exp(-sigma) <= 0.999`` (the clamp is inactive).

Speed: most (pixel, intersection) pairs of a tile lie outside the Gaussian's footprint. The caller
passes ``sigma_max = log(255 * opacity) + SIGMA_MARGIN`` per intersection; a pair with a larger
``sigma`` certainly has ``alpha < 1/255`` (the margin absorbs rounding), so it is skipped without
evaluating ``exp``. The exact ``alpha < 1/255`` test still decides every other pair.
"""
from __future__ import annotations

import math

import numpy as np
from numba import njit, prange

ALPHA_MAX = 0.999
ALPHA_MIN = 1.0 / 255.0
T_MIN = 1e-4
SIGMA_MARGIN = 1e-2


@njit(parallel=True, fastmath=True, cache=True)
def rasterize_fwd(means2d, conics, opacities, sigma_max, features, offsets, width, height, tile_size, tiles_x, tiles_y,
                  out_image, out_T, out_last):
    """Forward compositing.

    Writes ``out_image [C, H, W, D]`` (sum of weight * feature), ``out_T [C, H, W]`` (final
    transmittance) and ``out_last [C, H, W]`` (one past the last intersection that contributed).
    """
    num_tiles = tiles_x * tiles_y
    total = offsets.shape[0] - 1
    D = features.shape[1]
    for t in prange(total):
        c = t // num_tiles
        tile = t % num_tiles
        ty = tile // tiles_x
        tx = tile % tiles_x
        start = offsets[t]
        end = offsets[t + 1]
        acc = np.zeros(D, dtype=np.float64)
        y_end = min(height, (ty + 1) * tile_size)
        x_end = min(width, (tx + 1) * tile_size)
        for py in range(ty * tile_size, y_end):
            fy = py + 0.5
            for px in range(tx * tile_size, x_end):
                fx = px + 0.5
                for d in range(D):
                    acc[d] = 0.0
                T = 1.0
                last = start
                for i in range(start, end):
                    dx = means2d[i, 0] - fx
                    dy = means2d[i, 1] - fy
                    sigma = 0.5 * (conics[i, 0] * dx * dx + conics[i, 2] * dy * dy) + conics[i, 1] * dx * dy
                    if sigma < 0.0 or sigma > sigma_max[i]:
                        continue
                    alpha = min(ALPHA_MAX, opacities[i] * math.exp(-sigma))
                    if alpha < ALPHA_MIN:
                        continue
                    next_T = T * (1.0 - alpha)
                    if next_T <= T_MIN:
                        break
                    w = alpha * T
                    for d in range(D):
                        acc[d] += features[i, d] * w
                    T = next_T
                    last = i + 1
                for d in range(D):
                    out_image[c, py, px, d] = acc[d]
                out_T[c, py, px] = T
                out_last[c, py, px] = last


@njit(parallel=True, fastmath=True, cache=True)
def rasterize_bwd(means2d, conics, opacities, sigma_max, features, offsets, width, height, tile_size, tiles_x, tiles_y,
                  T_final, last_idx, v_image, v_alpha, g_means2d, g_conics, g_opacities, g_features):
    """Backward of :func:`rasterize_fwd` for ``image`` and ``alpha = 1 - T_final``.

    Walks every pixel's list back to front from its last contributing intersection, undoing the
    transmittance (``T_i = T_{i+1} / (1 - alpha_i)``) and keeping the colour accumulated behind.
    Adds into the zero-initialised per-intersection gradients ``g_*`` (same shapes as the inputs).
    """
    num_tiles = tiles_x * tiles_y
    total = offsets.shape[0] - 1
    D = features.shape[1]
    for t in prange(total):
        c = t // num_tiles
        tile = t % num_tiles
        ty = tile // tiles_x
        tx = tile % tiles_x
        start = offsets[t]
        behind = np.zeros(D, dtype=np.float64)
        vimg = np.zeros(D, dtype=np.float64)
        y_end = min(height, (ty + 1) * tile_size)
        x_end = min(width, (tx + 1) * tile_size)
        for py in range(ty * tile_size, y_end):
            fy = py + 0.5
            for px in range(tx * tile_size, x_end):
                fx = px + 0.5
                T_fin = T_final[c, py, px]
                T = T_fin
                va = v_alpha[c, py, px]
                for d in range(D):
                    behind[d] = 0.0
                    vimg[d] = v_image[c, py, px, d]
                for i in range(last_idx[c, py, px] - 1, start - 1, -1):
                    dx = means2d[i, 0] - fx
                    dy = means2d[i, 1] - fy
                    ca = conics[i, 0]
                    cb = conics[i, 1]
                    cc = conics[i, 2]
                    sigma = 0.5 * (ca * dx * dx + cc * dy * dy) + cb * dx * dy
                    if sigma < 0.0 or sigma > sigma_max[i]:
                        continue
                    op = opacities[i]
                    vis = math.exp(-sigma)
                    alpha = min(ALPHA_MAX, op * vis)
                    if alpha < ALPHA_MIN:
                        continue
                    ra = 1.0 / (1.0 - alpha)
                    T = T * ra  # transmittance in front of intersection i
                    w = alpha * T
                    v_al = T_fin * ra * va
                    for d in range(D):
                        f = features[i, d]
                        g_features[i, d] += w * vimg[d]
                        v_al += (f * T - behind[d] * ra) * vimg[d]
                        behind[d] += f * w
                    if op * vis <= ALPHA_MAX:
                        v_sigma = -op * vis * v_al
                        g_conics[i, 0] += 0.5 * v_sigma * dx * dx
                        g_conics[i, 1] += v_sigma * dx * dy
                        g_conics[i, 2] += 0.5 * v_sigma * dy * dy
                        g_means2d[i, 0] += v_sigma * (ca * dx + cb * dy)
                        g_means2d[i, 1] += v_sigma * (cb * dx + cc * dy)
                        g_opacities[i] += vis * v_al
