"""3D Gaussians: the plain-tensor :class:`Gaussians` used by the renderer, the trainable
:class:`GaussianModel`, their quaternion/covariance maths, densification, and PLY I/O in the standard 3DGS layout."""
from motion4d.gaussians.densify import DensifyStrategy
from motion4d.gaussians.geometry import covariance_3d, quat_to_rotmat
from motion4d.gaussians.model import SH_C0, Gaussians, GaussianModel, num_sh_bases, rgb_to_sh, sh_to_rgb
from motion4d.gaussians.ply import load_ply, save_ply

__all__ = ["SH_C0", "Gaussians", "GaussianModel", "DensifyStrategy", "load_ply", "save_ply", "rgb_to_sh",
           "sh_to_rgb", "num_sh_bases", "quat_to_rotmat", "covariance_3d"]
