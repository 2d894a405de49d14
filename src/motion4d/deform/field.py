"""The deformation field: HexPlane features -> small MLP -> zero-initialised residual heads.

``DeformationField(points [N,3], t) -> Deltas`` gives per-Gaussian residuals at normalised time
``t`` in [0, 1] (frame ``f`` of ``F`` at ``t = f / (F - 1)``; fractional times interpolate because
the planes are continuous). Points are normalised by the field's axis-aligned bounding box
``aabb [2, 3]`` (min, max) to [-1, 1]; points outside are clamped to the box border.

The heads end in zero-initialised linear layers, so a fresh field is the exact identity:
:func:`deform` returns the canonical Gaussians unchanged (bit for bit) before any training.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field

import torch
from torch import nn

from motion4d.deform.hexplane import HexPlaneField
from motion4d.gaussians.model import Gaussians

__all__ = ["DeformConfig", "Deltas", "DeformationField", "deform", "apply_deltas"]


@dataclass
class DeformConfig:
    """Architecture of a :class:`DeformationField` (DreamGaussian4D's 4d.yaml defaults)."""

    resolution: list[int] = field(default_factory=lambda: [32, 32, 32, 12])
    """HexPlane grid size (x, y, z, t) at scale 1."""
    channels: int = 32
    """Feature channels per plane."""
    multires: list[int] = field(default_factory=lambda: [1])
    """Spatial resolution multipliers; features of the scales are concatenated."""
    width: int = 64
    """Width of the MLP trunk and heads."""
    depth: int = 1
    """Number of Linear layers in the trunk."""
    deform_opacity: bool = False
    """Also predict an opacity residual (in logit space)."""
    deform_color: bool = False
    """Also predict a colour residual (added to the SH DC term)."""
    bounds_padding: float = 0.2
    """The bounding box is the canonical points' box grown by this fraction of its size per side."""

    def __post_init__(self) -> None:
        if len(self.resolution) != 4:
            raise ValueError(f"deform.resolution must have 4 entries (x, y, z, t), got {self.resolution}")
        if self.width < 1 or self.depth < 1:
            raise ValueError(f"deform.width and deform.depth must be >= 1, got {self.width}, {self.depth}")


@dataclass
class Deltas:
    """Residuals for N Gaussians: ``means [N,3]`` (world units), ``log_scales [N,3]``,
    ``quats [N,4]`` (added to the wxyz quaternion), optional ``opacity_logits [N]`` and ``rgb [N,3]``."""

    means: torch.Tensor
    log_scales: torch.Tensor
    quats: torch.Tensor
    opacity_logits: torch.Tensor | None = None
    rgb: torch.Tensor | None = None

    def __getitem__(self, index) -> "Deltas":
        """Rows ``index`` of every residual (e.g. one frame of a batched evaluation)."""
        pick = lambda t: None if t is None else t[index]  # noqa: E731
        return Deltas(self.means[index], self.log_scales[index], self.quats[index], pick(self.opacity_logits),
                      pick(self.rgb))

    def detach(self) -> "Deltas":
        """The same residuals cut from the graph (renders through them do not train the field)."""
        cut = lambda t: None if t is None else t.detach()  # noqa: E731
        return Deltas(self.means.detach(), self.log_scales.detach(), self.quats.detach(), cut(self.opacity_logits),
                      cut(self.rgb))


class _Head(nn.Sequential):
    def __init__(self, width: int, out: int) -> None:
        last = nn.Linear(width, out)
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        super().__init__(nn.ReLU(), nn.Linear(width, width), nn.ReLU(), last)


class DeformationField(nn.Module):
    """HexPlane + MLP deformation field (see the module docstring).

    Args:
        config: architecture (:class:`DeformConfig`).
        aabb: bounding box ``[2, 3]`` (min, max) used to normalise points; see :meth:`for_points`.
    """

    def __init__(self, config: DeformConfig | None = None, aabb: torch.Tensor | None = None) -> None:
        super().__init__()
        self.config = config = config or DeformConfig()
        if aabb is None:
            aabb = torch.tensor([[-1.0, -1.0, -1.0], [1.0, 1.0, 1.0]])
        aabb = torch.as_tensor(aabb, dtype=torch.float32)
        if aabb.shape != (2, 3) or not bool((aabb[1] > aabb[0]).all()):
            raise ValueError(f"aabb must be [2, 3] (min, max) with max > min, got {aabb.tolist()}")
        self.register_buffer("aabb", aabb.clone())
        self.grid = HexPlaneField(config.resolution, config.channels, config.multires)
        layers: list[nn.Module] = [nn.Linear(self.grid.out_dim, config.width)]
        for _ in range(config.depth - 1):
            layers += [nn.ReLU(), nn.Linear(config.width, config.width)]
        self.trunk = nn.Sequential(*layers)
        for m in self.trunk:
            if isinstance(m, nn.Linear):
                nn.init.xavier_uniform_(m.weight)
                nn.init.zeros_(m.bias)
        self.head_means = _Head(config.width, 3)
        self.head_scales = _Head(config.width, 3)
        self.head_quats = _Head(config.width, 4)
        self.head_opacity = _Head(config.width, 1) if config.deform_opacity else None
        self.head_rgb = _Head(config.width, 3) if config.deform_color else None

    @classmethod
    def for_points(cls, points: torch.Tensor, config: DeformConfig | None = None) -> "DeformationField":
        """A field whose box is the bounding box of ``points [N,3]`` grown by ``bounds_padding``."""
        config = config or DeformConfig()
        points = points.detach().float()
        lo, hi = points.min(0).values, points.max(0).values
        size = (hi - lo).clamp_min(1e-3)
        pad = config.bounds_padding * size.max()
        return cls(config, torch.stack([lo - pad, hi + pad]).cpu()).to(points.device)

    # -- parameters grouped for the optimiser -----------------------------------------------
    def grid_parameters(self) -> list[nn.Parameter]:
        return list(self.grid.parameters())

    def mlp_parameters(self) -> list[nn.Parameter]:
        return [p for n, p in self.named_parameters() if not n.startswith("grid.")]

    # -- evaluation -------------------------------------------------------------------------
    def normalize(self, points: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """``[N, 4]`` grid coordinates in [-1, 1] of ``points [N,3]`` at time ``t`` (scalar or ``[N]``)."""
        lo, hi = self.aabb[0].to(points), self.aabb[1].to(points)
        xyz = ((points - lo) / (hi - lo)) * 2 - 1
        t = torch.as_tensor(t, dtype=points.dtype, device=points.device)
        t = t.expand(points.shape[0]) if t.ndim == 0 else t
        if t.shape != points.shape[:1]:
            raise ValueError(f"t must be a scalar or have shape [N]={points.shape[0]}, got {tuple(t.shape)}")
        return torch.cat([xyz, (t * 2 - 1)[:, None]], dim=-1).clamp(-1, 1)

    def forward(self, points: torch.Tensor, t: torch.Tensor | float) -> Deltas:
        """Residuals at normalised time ``t`` (a float, 0-d tensor or ``[N]`` tensor) for ``points [N,3]``."""
        if points.ndim != 2 or points.shape[-1] != 3:
            raise ValueError(f"DeformationField: points must have shape [N, 3], got {tuple(points.shape)}")
        h = self.trunk(self.grid(self.normalize(points, t)))
        return Deltas(
            means=self.head_means(h),
            log_scales=self.head_scales(h),
            quats=self.head_quats(h),
            opacity_logits=self.head_opacity(h)[:, 0] if self.head_opacity is not None else None,
            rgb=self.head_rgb(h) if self.head_rgb is not None else None,
        )

    def displace(self, points: torch.Tensor, t: torch.Tensor | float) -> torch.Tensor:
        """Deformed positions ``[N,3]`` of arbitrary points (for moving mesh vertices)."""
        return points + self(points, t).means

    # -- regularisers ---------------------------------------------------------------------
    def regularizers(self) -> dict[str, torch.Tensor]:
        """``plane_tv`` (spatial planes), ``time_smoothness`` (2nd difference along t) and
        ``time_l1`` (|1 - time planes|); weight them with the config's lambdas."""
        return {"plane_tv": self.grid.plane_tv(), "time_smoothness": self.grid.time_smoothness(),
                "time_l1": self.grid.time_l1()}

    def config_dict(self) -> dict:
        return asdict(self.config)


def deform(gaussians: Gaussians, field: DeformationField, t: torch.Tensor | float) -> Gaussians:
    """Gaussians at normalised time ``t``: canonical + the field's residuals.

    Positions are offset, scales multiplied by ``exp(delta)``, the quaternion residual is added
    (the renderer normalises), opacity is moved in logit space and colour added to the DC term
    when those heads exist. With zero residuals the result equals ``gaussians`` exactly.
    """
    return apply_deltas(gaussians, field(gaussians.means, t))


def apply_deltas(gaussians: Gaussians, d: Deltas) -> Gaussians:
    """Canonical Gaussians moved by residuals ``d`` (the arithmetic of :func:`deform`)."""
    opac = gaussians.opacities
    if d.opacity_logits is not None:
        o = opac.clamp(1e-6, 1 - 1e-6)
        opac = torch.sigmoid(torch.log(o / (1 - o)) + d.opacity_logits)
    sh = gaussians.sh
    if d.rgb is not None:
        from motion4d.gaussians.model import SH_C0

        sh = torch.cat([sh[:, :1] + d.rgb[:, None] / SH_C0, sh[:, 1:]], dim=1)
    return Gaussians(gaussians.means + d.means, gaussians.quats + d.quats,
                     gaussians.scales * torch.exp(d.log_scales), opac, sh)

