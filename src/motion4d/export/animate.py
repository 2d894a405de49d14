"""Move a mesh extracted from one frame along with a 4D scene's motion (one topology for all frames).

Two ways, picked by what the scene offers:

* ``scene.deform_points(points [P, 3], t) -> [P, 3]``: the scene's continuous deformation field
  (the lift result has one). Points are in canonical space: the space of
  ``scene.canonical_gaussians()`` or of the ``scene.canonical`` Gaussians when the scene has either,
  else of ``scene.gaussians_at(0)``. The field is only trained where the Gaussians are, so it is
  **clamped to their support**: a vertex farther than ``cutoff`` from every source Gaussian takes the
  inverse-distance-weighted displacement of its ``k`` nearest Gaussians instead of the field's, and
  every vertex's displacement is scaled down, where needed, to at most ``1 + slack`` times the largest
  displacement among its ``k`` nearest Gaussians. So no vertex travels (much) farther than the
  Gaussians near it; the slack lets a vertex just outside a rotating or stretching part keep its motion.
* otherwise, inverse-distance weighting: each vertex follows the weighted mean displacement of its
  ``k`` nearest Gaussians between the mesh's source frame and time ``t`` (weights
  ``1 / (distance + eps)^power``). This needs Gaussian ``i`` to be the same Gaussian at every time,
  which every :class:`~motion4d.scene4d.Scene4D` guarantees (means correspond by index).
"""
from __future__ import annotations

import torch

from motion4d.gaussians.model import Gaussians
from motion4d.utils.progress import progress

__all__ = ["mesh_source_gaussians", "animate_vertices", "knn_weights"]


def mesh_source_gaussians(scene) -> Gaussians:
    """The Gaussians the shared mesh is extracted from (see the module docstring)."""
    if hasattr(scene, "deform_points"):
        if callable(getattr(scene, "canonical_gaussians", None)):
            return scene.canonical_gaussians()
        if isinstance(getattr(scene, "canonical", None), Gaussians):
            return scene.canonical
    return scene.gaussians_at(0.0)


def knn_weights(points: torch.Tensor, sources: torch.Tensor, k: int = 8, power: float = 1.0,
                eps: float = 1e-6) -> tuple[torch.Tensor, torch.Tensor]:
    """Indices ``[P, k]`` of the ``k`` nearest ``sources [N, 3]`` of each point ``[P, 3]`` and their
    normalised inverse-distance weights ``[P, k]`` (rows sum to 1), on the points' device.

    Uses :func:`motion4d.utils.knn.knn` (a k-d tree on the CPU): about a second for 200k points
    among 20k sources.
    """
    from motion4d.utils.knn import knn

    dist, idx = knn(sources, k, queries=points)
    w = 1.0 / (dist + eps) ** power
    return idx.to(points.device), (w / w.sum(1, keepdim=True)).to(points.device)


def animate_vertices(scene, vertices: torch.Tensor, times: list[float], source: Gaussians | None = None, *,
                     k: int = 8, power: float = 1.0, min_opacity: float = 0.005,
                     cutoff: float | None = None, slack: float = 0.1) -> torch.Tensor:
    """Positions ``[F, V, 3]`` of mesh ``vertices [V, 3]`` at each normalised time in ``times``.

    ``source`` are the Gaussians the mesh was extracted from (default:
    :func:`mesh_source_gaussians`); only those with opacity above ``min_opacity`` move vertices. With
    ``scene.deform_points`` the vertices go through the field, clamped to the Gaussians' support (module
    docstring; ``cutoff`` in world units, default 3 times the median of the Gaussians' largest axis scale, the
    reach of the density the mesh was extracted from; ``slack`` >= 0);
    otherwise they follow their ``k`` nearest Gaussians by inverse-distance weighting with exponent ``power``.
    """
    source = mesh_source_gaussians(scene) if source is None else source
    device = source.means.device
    verts = torch.as_tensor(vertices, dtype=torch.float32, device=device)
    keep = torch.nonzero(source.opacities > min_opacity).squeeze(1)
    if keep.numel() == 0:
        raise ValueError(f"no Gaussian has opacity above min_opacity={min_opacity} to move the mesh with")
    means0 = source.means[keep].float()
    idx, w = knn_weights(verts, means0, k=k, power=power)
    field = hasattr(scene, "deform_points")
    if field:
        from motion4d.utils.knn import knn

        if cutoff is None:
            cutoff = 3.0 * float(source.scales[keep].max(-1).values.median())
        if not cutoff > 0 or not slack >= 0:
            raise ValueError(f"cutoff must be > 0 world units and slack >= 0, got cutoff={cutoff}, slack={slack}")
        near = (knn(means0, 1, queries=verts)[0][:, 0].to(device) <= cutoff)[:, None]  # [V, 1]
    out = []
    with torch.no_grad():
        for t in progress(times, desc="deform mesh"):
            if field:
                both = _call_field(scene, torch.cat([verts, means0]), t)  # one field call per frame
                moved, disp_g = both[:len(verts)], both[len(verts):] - means0  # disp_g: the Gaussians' own [N, 3]
            else:
                g = scene.gaussians_at(float(t))
                if len(g) != len(source):
                    raise ValueError(f"scene.gaussians_at({t:.4g}) has {len(g)} Gaussians but the mesh's source "
                                     f"frame has {len(source)}; moving the mesh by nearest Gaussians needs the same "
                                     f"Gaussians at every time (or give the scene a deform_points(points, t) method)")
                disp_g = g.means.to(device)[keep].float() - means0  # [N,3]
            idw = (disp_g[idx] * w[..., None]).sum(1)
            if not field:
                out.append(verts + idw)
                continue
            disp = torch.where(near, moved - verts, idw)
            cap = (1.0 + slack) * disp_g[idx].norm(dim=-1).max(1).values  # [V]: farthest a nearby Gaussian moved
            norm = disp.norm(dim=-1)
            scale = torch.where(norm > cap, cap / norm.clamp_min(1e-12), torch.ones_like(norm))
            out.append(verts + disp * scale[:, None])
    return torch.stack(out)


def _call_field(scene, points: torch.Tensor, t: float) -> torch.Tensor:
    moved = torch.as_tensor(scene.deform_points(points, float(t)))
    if tuple(moved.shape) != tuple(points.shape):
        raise ValueError(f"scene.deform_points returned shape {tuple(moved.shape)} for points "
                         f"{tuple(points.shape)}; it must return one point per input point")
    return moved.to(device=points.device, dtype=torch.float32)
