"""Gaussian containers.

Shapes use N for the number of Gaussians and K = (degree + 1)^2 for spherical-harmonic bases.

* :class:`Gaussians` holds *activated* values (what the renderer consumes): ``means [N,3]``,
  ``quats [N,4]`` (wxyz, not necessarily normalised), ``scales [N,3]`` (positive, world units),
  ``opacities [N]`` in (0, 1), and ``sh [N,K,3]`` (colour = 0.5 + SH(dir), the 3DGS convention).
  It is immutable in spirit: deformations return new instances, gradients flow through.
* :class:`GaussianModel` is an ``nn.Module`` whose parameters are the raw, unconstrained values
  (means, log-scales, quaternions, opacity logits, SH DC and SH rest), as in 3DGS.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, replace

import torch
from torch import nn

SH_C0 = 0.28209479177387814  # Y_0^0 = 1 / (2 sqrt(pi))


def num_sh_bases(degree: int) -> int:
    """Number of SH bases K for ``degree`` in 0..3."""
    if degree not in (0, 1, 2, 3):
        raise ValueError(f"sh_degree={degree} is not supported; choose 0, 1, 2 or 3")
    return (degree + 1) ** 2


def rgb_to_sh(rgb: torch.Tensor) -> torch.Tensor:
    """DC SH coefficient that renders as ``rgb`` (in [0, 1]) from every direction."""
    return (rgb - 0.5) / SH_C0


def sh_to_rgb(sh_dc: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_sh`."""
    return sh_dc * SH_C0 + 0.5


@dataclass
class Gaussians:
    """Activated Gaussian parameters, the renderer's input (see module docstring for shapes)."""

    means: torch.Tensor
    quats: torch.Tensor
    scales: torch.Tensor
    opacities: torch.Tensor
    sh: torch.Tensor

    def __post_init__(self) -> None:
        n = self.means.shape[0]
        expect = {"means": (n, 3), "quats": (n, 4), "scales": (n, 3), "opacities": (n,)}
        for name, shape in expect.items():
            if tuple(getattr(self, name).shape) != shape:
                raise ValueError(f"Gaussians.{name} must have shape {shape}, got {tuple(getattr(self, name).shape)}")
        if self.sh.ndim != 3 or self.sh.shape[0] != n or self.sh.shape[2] != 3 or \
                int(math.isqrt(self.sh.shape[1])) ** 2 != self.sh.shape[1]:
            raise ValueError(f"Gaussians.sh must have shape [N, K, 3] with K a square (1, 4, 9, 16), "
                             f"got {tuple(self.sh.shape)}")

    @property
    def sh_degree(self) -> int:
        return int(math.isqrt(self.sh.shape[1])) - 1

    @property
    def rgb(self) -> torch.Tensor:
        """View-independent base colour ``[N, 3]`` from the DC term."""
        return sh_to_rgb(self.sh[:, 0])

    def __len__(self) -> int:
        return self.means.shape[0]

    def to(self, device) -> "Gaussians":
        return Gaussians(*(getattr(self, k).to(device) for k in ("means", "quats", "scales", "opacities", "sh")))

    def detach(self) -> "Gaussians":
        return Gaussians(*(getattr(self, k).detach() for k in ("means", "quats", "scales", "opacities", "sh")))

    def replace(self, **changes) -> "Gaussians":
        return replace(self, **changes)

    def select(self, mask_or_index: torch.Tensor) -> "Gaussians":
        return Gaussians(*(getattr(self, k)[mask_or_index] for k in ("means", "quats", "scales", "opacities", "sh")))

    @staticmethod
    def cat(items: list["Gaussians"]) -> "Gaussians":
        k = max(g.sh.shape[1] for g in items)
        shs = [torch.nn.functional.pad(g.sh, (0, 0, 0, k - g.sh.shape[1])) for g in items]
        return Gaussians(torch.cat([g.means for g in items]), torch.cat([g.quats for g in items]),
                         torch.cat([g.scales for g in items]), torch.cat([g.opacities for g in items]),
                         torch.cat(shs))

    @classmethod
    def from_rgb(cls, means: torch.Tensor, rgb: torch.Tensor, scales: torch.Tensor, opacities: torch.Tensor,
                 quats: torch.Tensor | None = None) -> "Gaussians":
        """Degree-0 Gaussians with colours ``rgb [N,3]`` in [0, 1]; identity rotation by default."""
        if quats is None:
            quats = torch.zeros(means.shape[0], 4, dtype=means.dtype, device=means.device)
            quats[:, 0] = 1.0
        return cls(means, quats, scales, opacities, rgb_to_sh(rgb)[:, None, :])


class GaussianModel(nn.Module):
    """Trainable 3D Gaussians with 3DGS's raw parameterisation.

    Parameters (``nn.Parameter``): ``means [N,3]``, ``log_scales [N,3]``, ``quats [N,4]`` (wxyz),
    ``opacity_logits [N]``, ``sh_dc [N,1,3]``, ``sh_rest [N,K-1,3]``. ``active_sh_degree`` can be
    raised during training up to ``sh_degree`` (higher bases are then rendered as zero).
    """

    PARAM_NAMES = ("means", "log_scales", "quats", "opacity_logits", "sh_dc", "sh_rest")

    def __init__(self, means: torch.Tensor, log_scales: torch.Tensor, quats: torch.Tensor,
                 opacity_logits: torch.Tensor, sh_dc: torch.Tensor, sh_rest: torch.Tensor | None = None,
                 sh_degree: int = 0) -> None:
        super().__init__()
        k = num_sh_bases(sh_degree)
        n = means.shape[0]
        if sh_rest is None:
            sh_rest = torch.zeros(n, k - 1, 3, dtype=means.dtype, device=means.device)
        if sh_rest.shape[1] != k - 1:
            raise ValueError(f"sh_rest has {sh_rest.shape[1]} bases but sh_degree={sh_degree} needs {k - 1}")
        self.sh_degree = sh_degree
        self.active_sh_degree = sh_degree
        self.means = nn.Parameter(means.detach().clone())
        self.log_scales = nn.Parameter(log_scales.detach().clone())
        self.quats = nn.Parameter(quats.detach().clone())
        self.opacity_logits = nn.Parameter(opacity_logits.detach().clone())
        self.sh_dc = nn.Parameter(sh_dc.detach().clone().reshape(n, 1, 3))
        self.sh_rest = nn.Parameter(sh_rest.detach().clone())

    # -- constructors ---------------------------------------------------------------------
    @classmethod
    def from_points(cls, points: torch.Tensor, rgb: torch.Tensor | None = None, sh_degree: int = 0,
                    opacity: float = 0.1, scale: float | None = None) -> "GaussianModel":
        """Initialise one Gaussian per point ``[N,3]`` with colour ``rgb [N,3]`` (default grey).

        Scales default to the mean distance to the 3 nearest neighbours (as 3DGS does), isotropic.
        """
        points = torch.as_tensor(points, dtype=torch.float32)
        n = points.shape[0]
        if n == 0:
            raise ValueError("from_points needs at least one point")
        rgb = torch.full((n, 3), 0.5) if rgb is None else torch.as_tensor(rgb, dtype=torch.float32)
        if scale is None:
            scale_t = _knn_scale(points)
        else:
            scale_t = torch.full((n,), float(scale))
        quats = torch.zeros(n, 4)
        quats[:, 0] = 1.0
        logit = math.log(opacity / (1 - opacity))
        return cls(points, torch.log(scale_t)[:, None].repeat(1, 3), quats, torch.full((n,), logit),
                   rgb_to_sh(rgb)[:, None, :], sh_degree=sh_degree)

    @classmethod
    def random_in_sphere(cls, n: int, radius: float = 0.5, sh_degree: int = 0, opacity: float = 0.1,
                         generator: torch.Generator | None = None) -> "GaussianModel":
        """``n`` Gaussians uniform in a ball of ``radius`` with random colours (DreamGaussian's init)."""
        dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=generator), dim=-1)
        r = radius * torch.rand(n, 1, generator=generator) ** (1 / 3)
        rgb = torch.rand(n, 3, generator=generator)
        return cls.from_points(dirs * r, rgb, sh_degree=sh_degree, opacity=opacity)

    @classmethod
    def from_gaussians(cls, g: Gaussians, sh_degree: int | None = None) -> "GaussianModel":
        """Trainable copy of activated Gaussians (inverse activations)."""
        degree = g.sh_degree if sh_degree is None else sh_degree
        k = num_sh_bases(degree)
        sh = torch.zeros(len(g), k, 3, dtype=g.sh.dtype, device=g.sh.device)
        m = min(k, g.sh.shape[1])
        sh[:, :m] = g.sh[:, :m]
        op = g.opacities.clamp(1e-6, 1 - 1e-6)
        return cls(g.means, torch.log(g.scales.clamp_min(1e-12)), g.quats, torch.log(op / (1 - op)),
                   sh[:, :1], sh[:, 1:], sh_degree=degree)

    # -- activated views --------------------------------------------------------------------
    @property
    def scales(self) -> torch.Tensor:
        return torch.exp(self.log_scales)

    @property
    def opacities(self) -> torch.Tensor:
        return torch.sigmoid(self.opacity_logits)

    @property
    def sh(self) -> torch.Tensor:
        sh = torch.cat([self.sh_dc, self.sh_rest], dim=1)
        if self.active_sh_degree < self.sh_degree:
            k = num_sh_bases(self.active_sh_degree)
            sh = torch.cat([sh[:, :k], torch.zeros_like(sh[:, k:])], dim=1)
        return sh

    def gaussians(self) -> Gaussians:
        """Activated, differentiable view of the parameters for :func:`motion4d.render.render`."""
        return Gaussians(self.means, self.quats, self.scales, self.opacities, self.sh)

    def __len__(self) -> int:
        return self.means.shape[0]

    @property
    def num_gaussians(self) -> int:
        return self.means.shape[0]

    def extra_repr(self) -> str:
        return f"num_gaussians={len(self)}, sh_degree={self.sh_degree}"


def _knn_scale(points: torch.Tensor, k: int = 3) -> torch.Tensor:
    """Mean distance to the ``k`` nearest other points, ``[N]`` (clamped away from zero)."""
    from motion4d.utils.knn import knn

    if points.shape[0] == 1:
        return torch.full((1,), 0.01)
    dist, _ = knn(points, k)
    return dist.mean(dim=1).clamp_min(1e-4)
