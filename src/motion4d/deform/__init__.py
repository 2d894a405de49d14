"""Spatial-temporal deformation of Gaussians (DreamGaussian4D's HexPlane field).

* :class:`HexPlaneField`: six feature planes (xy, xz, yz, xt, yt, zt) fused by product.
* :class:`DeformationField`: planes -> MLP -> zero-initialised residual heads (position, scale,
  rotation; opacity and colour optional), evaluated at normalised time t in [0, 1].
* :func:`deform`: apply a field to canonical :class:`~motion4d.gaussians.Gaussians` at time t.
"""
from motion4d.deform.field import DeformConfig, DeformationField, Deltas, apply_deltas, deform
from motion4d.deform.hexplane import PLANE_NAMES, HexPlaneField, NonFiniteError

__all__ = ["DeformConfig", "DeformationField", "Deltas", "deform", "apply_deltas", "HexPlaneField", "NonFiniteError", "PLANE_NAMES"]
