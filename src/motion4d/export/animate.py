"""Move a mesh extracted from one frame along with a 4D scene's motion (one topology for all frames).

Two ways, picked by what the scene offers:

* ``scene.deform_points(points [P, 3], t) -> [P, 3]``: the scene's continuous deformation field
  (the lift result has one). Points are in canonical space: the space of
  ``scene.canonical_gaussians()`` or of the ``scene.canonical`` Gaussians when the scene has either,
  else of ``scene.gaussians_at(0)``.
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
                     k: int = 8, power: float = 1.0, min_opacity: float = 0.005) -> torch.Tensor:
    """Positions ``[F, V, 3]`` of mesh ``vertices [V, 3]`` at each normalised time in ``times``.

    ``source`` are the Gaussians the mesh was extracted from (default:
    :func:`mesh_source_gaussians`). With ``scene.deform_points`` the vertices go through it;
    otherwise they follow their ``k`` nearest source Gaussians (opacity above ``min_opacity``) by
    inverse-distance weighting with exponent ``power``.
    """
    source = mesh_source_gaussians(scene) if source is None else source
    device = source.means.device
    verts = torch.as_tensor(vertices, dtype=torch.float32, device=device)
    out = []
    with torch.no_grad():
        if hasattr(scene, "deform_points"):
            for t in progress(times, desc="deform mesh"):
                moved = torch.as_tensor(scene.deform_points(verts, float(t)))
                if tuple(moved.shape) != tuple(verts.shape):
                    raise ValueError(f"scene.deform_points returned shape {tuple(moved.shape)} for points "
                                     f"{tuple(verts.shape)}; it must return one point per input point")
                out.append(moved.to(device=device, dtype=torch.float32))
            return torch.stack(out)
        keep = torch.nonzero(source.opacities > min_opacity).squeeze(1)
        if keep.numel() == 0:
            raise ValueError(f"no Gaussian has opacity above min_opacity={min_opacity} to move the mesh with")
        means0 = source.means[keep].float()
        idx, w = knn_weights(verts, means0, k=k, power=power)
        for t in progress(times, desc="deform mesh"):
            g = scene.gaussians_at(float(t))
            if len(g) != len(source):
                raise ValueError(f"scene.gaussians_at({t:.4g}) has {len(g)} Gaussians but the mesh's source frame has "
                                 f"{len(source)}; moving the mesh by nearest Gaussians needs the same Gaussians at "
                                 f"every time (or give the scene a deform_points(points, t) method)")
            disp = g.means.to(device)[keep].float() - means0  # [N,3]
            out.append(verts + (disp[idx] * w[..., None]).sum(1))
    return torch.stack(out)
