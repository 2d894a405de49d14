"""k nearest neighbours of 3D points: one helper on scipy's ``cKDTree`` (CPU, float64 distances).

Used by the Gaussians' initial scales, the lift's isometry (rigidity) loss and the mesh animation's
skinning weights. About a second for 200k queries among 20k points.
"""
from __future__ import annotations

import torch

__all__ = ["knn"]


@torch.no_grad()
def knn(points: torch.Tensor, k: int, queries: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Distances and indices of the ``k`` nearest ``points [N, D]`` of each query.

    Args:
        points: the reference set ``[N, D]`` (any device and float dtype; not differentiated).
        k: neighbours per query, >= 1; clamped to the number of candidates available.
        queries: ``[P, D]``; default ``None`` queries ``points`` themselves and *excludes each point
            itself* (its neighbours are other points, even when some coincide).
    Returns:
        ``(dist [P, k'] float32, idx [P, k'] long)`` sorted by distance, on ``points``' device, with
        ``k' = min(k, N)`` (``min(k, N - 1)`` for self-queries; ``[P, 0]`` when that is 0).
    """
    from scipy.spatial import cKDTree

    if isinstance(k, bool) or int(k) != k or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}")
    if points.ndim != 2 or (queries is not None and (queries.ndim != 2 or queries.shape[1] != points.shape[1])):
        raise ValueError(f"knn needs points [N, D] and queries [P, D], got {tuple(points.shape)} and "
                         f"{None if queries is None else tuple(queries.shape)}")
    n = points.shape[0]
    own = queries is None
    k = min(int(k), n - 1 if own else n)
    q = points if own else queries
    if k <= 0:
        empty = torch.zeros(q.shape[0], 0)
        return empty.to(points.device), empty.long().to(points.device)
    tree = cKDTree(points.detach().cpu().double().numpy())
    qn = q.detach().cpu().double().numpy()
    dist, idx = tree.query(qn, k=k + 1 if own else k)
    dist = torch.as_tensor(dist, dtype=torch.float32).reshape(len(qn), -1)
    idx = torch.as_tensor(idx, dtype=torch.long).reshape(len(qn), -1)
    if own:  # drop each point itself (it may not come first when duplicates tie at distance 0)
        rows = torch.arange(len(qn))[:, None]
        is_self = idx == rows
        drop = torch.where(is_self.any(1), is_self.float().argmax(1), torch.full((len(qn),), k))
        keep = torch.ones_like(idx, dtype=torch.bool)
        keep[torch.arange(len(qn)), drop] = False
        dist, idx = dist[keep].reshape(len(qn), k), idx[keep].reshape(len(qn), k)
    return dist.to(points.device), idx.to(points.device)
