"""Chamfer distance between point sets, computed in chunks so memory stays ``O(chunk * Q)``."""
from __future__ import annotations

import torch

__all__ = ["chamfer", "nearest_distances"]


def nearest_distances(a: torch.Tensor, b: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
    """Euclidean distance from every point of ``a [P,3]`` to its nearest point in ``b [Q,3]``, ``[P]``."""
    a, b = torch.as_tensor(a).double(), torch.as_tensor(b).double()
    for name, p in (("a", a), ("b", b)):
        if p.ndim != 2 or p.shape[0] == 0:
            raise ValueError(f"chamfer: point set {name} must be a non-empty [P, D] tensor, got {tuple(p.shape)}")
    if a.shape[1] != b.shape[1]:
        raise ValueError(f"chamfer: point dimensions differ: {a.shape[1]} vs {b.shape[1]}")
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    out = [torch.cdist(a[i:i + chunk], b).min(dim=1).values for i in range(0, len(a), chunk)]
    return torch.cat(out)


def chamfer(a: torch.Tensor, b: torch.Tensor, squared: bool = False, chunk: int = 4096) -> torch.Tensor:
    """Symmetric Chamfer distance (scalar): ``mean_a min_b d(a, b) + mean_b min_a d(b, a)``.

    ``d`` is the Euclidean distance, or its square with ``squared=True`` (the convention of many
    point-cloud papers). Identical sets score 0.
    """
    da, db = nearest_distances(a, b, chunk), nearest_distances(b, a, chunk)
    if squared:
        da, db = da ** 2, db ** 2
    return da.mean() + db.mean()
