"""Tile binning: which screen tiles each projected Gaussian touches, in depth order.

Pure, vectorised torch (no Python loop over Gaussians, tiles or cameras). The result is the
"intersection list" of 3DGS/gsplat: every (camera, Gaussian, tile) triple whose 3-sigma box
(the per-axis ``radii`` from :func:`motion4d.render.projection.project`) overlaps the tile, sorted
by ``(camera, tile, depth)``, plus ``[start, end)`` ranges per tile.

Letters: C cameras, N Gaussians, M intersections, ``TX x TY`` tiles of ``tile_size`` pixels.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

__all__ = ["TILE_SIZE", "TileBins", "bin_gaussians"]

TILE_SIZE = 16


@dataclass
class TileBins:
    """Intersection list for C cameras.

    Attributes:
        flat_ids: ``[M]`` int64 index ``c * N + n`` of each intersection's Gaussian, grouped by
            tile (camera-major, then row-major tiles) and front to back within a tile.
        tile_offsets: ``[C * TY * TX + 1]`` int64; tile ``t``'s intersections are
            ``flat_ids[tile_offsets[t]:tile_offsets[t + 1]]``.
        tiles_x, tiles_y: number of tiles per image row / column.
        tile_size: tile edge in pixels.
    """

    flat_ids: torch.Tensor
    tile_offsets: torch.Tensor
    tiles_x: int
    tiles_y: int
    tile_size: int

    @property
    def num_intersections(self) -> int:
        return int(self.flat_ids.shape[0])

    def counts(self) -> torch.Tensor:
        """Gaussians per tile, ``[C * TY * TX]``."""
        return self.tile_offsets[1:] - self.tile_offsets[:-1]


@torch.no_grad()
def bin_gaussians(means2d: torch.Tensor, radii: torch.Tensor, depths: torch.Tensor, width: int, height: int,
                  tile_size: int = TILE_SIZE) -> TileBins:
    """Bin projected Gaussians into ``tile_size``-pixel tiles.

    Args:
        means2d: ``[C, N, 2]`` pixel centres (x, y).
        radii: ``[C, N, 2]`` integer half-extent of the box per axis in pixels; a Gaussian with a
            zero radius is culled.
        depths: ``[C, N]`` sort key (camera z); ties keep the Gaussians' index order.
        width, height: image size in pixels.
        tile_size: tile edge in pixels.
    Returns:
        :class:`TileBins`.
    """
    if means2d.ndim != 3 or means2d.shape[-1] != 2:
        raise ValueError(f"means2d must be [C, N, 2], got {tuple(means2d.shape)}")
    C, N = means2d.shape[:2]
    device = means2d.device
    tiles_x = (width + tile_size - 1) // tile_size
    tiles_y = (height + tile_size - 1) // tile_size
    num_tiles = tiles_x * tiles_y

    m = means2d.detach()
    r = radii.to(m.dtype)
    visible = (radii > 0).all(dim=-1)
    x0 = torch.floor((m[..., 0] - r[..., 0]) / tile_size).clamp(0, tiles_x).long()
    x1 = torch.ceil((m[..., 0] + r[..., 0]) / tile_size).clamp(0, tiles_x).long()
    y0 = torch.floor((m[..., 1] - r[..., 1]) / tile_size).clamp(0, tiles_y).long()
    y1 = torch.ceil((m[..., 1] + r[..., 1]) / tile_size).clamp(0, tiles_y).long()
    nx = (x1 - x0).clamp_min(0)
    ny = (y1 - y0).clamp_min(0)
    count = torch.where(visible, nx * ny, torch.zeros_like(nx))  # [C, N]

    # Gaussians of every camera in (camera, depth) order; stable so equal depths keep index order.
    order = torch.argsort(depths.detach(), dim=1, stable=True)
    flat_sorted = (order + torch.arange(C, device=device)[:, None] * N).reshape(-1)
    cnt = count.reshape(-1)[flat_sorted]
    ids = torch.repeat_interleave(flat_sorted, cnt)  # [M], still in (camera, depth) order
    first = torch.cumsum(cnt, 0) - cnt
    local = torch.arange(ids.shape[0], device=device) - torch.repeat_interleave(first, cnt)
    nx_i = nx.reshape(-1)[ids]
    tx = x0.reshape(-1)[ids] + local % nx_i.clamp_min(1)
    ty = y0.reshape(-1)[ids] + local // nx_i.clamp_min(1)
    key = (ids // N) * num_tiles + ty * tiles_x + tx
    # A stable sort by tile keeps the depth order within every tile.
    key, perm = torch.sort(key, stable=True)
    ids = ids[perm]
    offsets = torch.zeros(C * num_tiles + 1, dtype=torch.int64, device=device)
    offsets[1:] = torch.cumsum(torch.bincount(key, minlength=C * num_tiles), 0)
    return TileBins(ids, offsets, tiles_x, tiles_y, tile_size)
