"""HexPlane (K-planes) feature field over (x, y, z, t).

Six learnable 2D feature planes, one per pair of the four axes: ``xy, xz, yz`` (space) and
``xt, yt, zt`` (space-time). A query point's feature is the elementwise product of the six
bilinearly sampled plane features; with several spatial scales (``multires``) the per-scale
products are concatenated. Letters: N query points, D channels per plane.

Coordinates are expected normalised to [-1, 1] on every axis (the caller maps its bounding box
and time range); values outside are clamped to the border, as in DreamGaussian4D / 4DGaussians.
Initialisation follows them too: spatial planes ~ U(0.1, 0.5), planes containing time = 1, so
time has no effect on the feature at initialisation.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

__all__ = ["HexPlaneField", "NonFiniteError", "check_finite_coords", "PLANE_AXES", "PLANE_NAMES", "SPACE_PLANES", "TIME_PLANES"]

#: Axis pairs of the six planes (0=x, 1=y, 2=z, 3=t), in storage order.
PLANE_AXES: tuple[tuple[int, int], ...] = ((0, 1), (0, 2), (1, 2), (0, 3), (1, 3), (2, 3))
PLANE_NAMES: tuple[str, ...] = ("xy", "xz", "yz", "xt", "yt", "zt")
SPACE_PLANES: tuple[int, ...] = (0, 1, 2)
TIME_PLANES: tuple[int, ...] = (3, 4, 5)


class NonFiniteError(ValueError):
    """Non-finite (NaN/inf) values where training needs finite ones: the run has diverged."""


def check_finite_coords(xyzt: torch.Tensor) -> None:
    """Raise :class:`NonFiniteError` if any coordinate is NaN or inf.

    Needed before ``grid_sample``: torch's CPU ``grid_sample`` backward crashes the process
    (segmentation fault, no message) on NaN grid coordinates. On CUDA the check costs one sync.
    """
    finite = torch.isfinite(xyzt).all(dim=-1)
    if not bool(finite.all()):
        bad = int((~finite).sum())
        raise NonFiniteError(
            f"the deformation field got non-finite coordinates (NaN or inf) for {bad} of {len(xyzt)} points: "
            f"the model has diverged (a learning rate or loss weight too high, e.g. dynamic.gaussian_lr_scale, or "
            f"an input model with NaN/huge values); resume from an earlier checkpoint with lower rates")


class HexPlaneField(nn.Module):
    """Six-plane feature field.

    Args:
        resolution: grid size per axis ``(x, y, z, t)`` at scale 1, e.g. ``(32, 32, 32, 12)``.
        channels: feature channels ``D`` per plane.
        multires: spatial resolution multipliers; the time resolution is never multiplied.
        init_range: uniform init range of the spatial planes.

    ``planes[s][p]`` is the parameter of scale ``s`` and plane ``p`` (see :data:`PLANE_NAMES`),
    shaped ``[1, D, res(axis_b), res(axis_a)]`` for the axis pair ``(a, b)`` (``grid_sample`` layout:
    ``a`` runs along the width).
    """

    def __init__(self, resolution: Sequence[int] = (32, 32, 32, 12), channels: int = 32,
                 multires: Sequence[int] = (1,), init_range: tuple[float, float] = (0.1, 0.5)) -> None:
        super().__init__()
        if len(resolution) != 4 or any(int(r) < 2 for r in resolution):
            raise ValueError(f"resolution must be 4 integers >= 2 (x, y, z, t), got {list(resolution)}")
        if channels < 1 or not multires or any(int(m) < 1 for m in multires):
            raise ValueError(f"channels must be >= 1 and multires a non-empty list of integers >= 1, "
                             f"got channels={channels}, multires={list(multires)}")
        self.resolution = tuple(int(r) for r in resolution)
        self.channels = int(channels)
        self.multires = tuple(int(m) for m in multires)
        self.planes = nn.ModuleList()
        for m in self.multires:
            res = [r * m for r in self.resolution[:3]] + [self.resolution[3]]
            scale = nn.ParameterList()
            for a, b in PLANE_AXES:
                p = torch.empty(1, self.channels, res[b], res[a])
                if 3 in (a, b):
                    nn.init.ones_(p)
                else:
                    nn.init.uniform_(p, *init_range)
                scale.append(nn.Parameter(p))
            self.planes.append(scale)

    @property
    def out_dim(self) -> int:
        """Feature dimension: ``channels * len(multires)``."""
        return self.channels * len(self.multires)

    def iter_planes(self):
        """Yield ``(scale_index, plane_index, parameter)`` for every plane."""
        for s, scale in enumerate(self.planes):
            for p, plane in enumerate(scale):
                yield s, p, plane

    def forward(self, xyzt: torch.Tensor) -> torch.Tensor:
        """Features ``[N, out_dim]`` of normalised points ``xyzt [N, 4]`` in [-1, 1]."""
        if xyzt.ndim != 2 or xyzt.shape[-1] != 4:
            raise ValueError(f"HexPlaneField.forward: xyzt must have shape [N, 4], got {tuple(xyzt.shape)}")
        check_finite_coords(xyzt)
        feats = []
        for scale in self.planes:
            prod = None
            for (a, b), plane in zip(PLANE_AXES, scale):
                grid = xyzt[:, (a, b)].reshape(1, -1, 1, 2).to(plane.dtype)
                f = F.grid_sample(plane, grid, mode="bilinear", padding_mode="border", align_corners=True)
                f = f.reshape(self.channels, -1).t()  # [N, D]
                prod = f if prod is None else prod * f
            feats.append(prod)
        return torch.cat(feats, dim=-1)

    # -- regularisers ---------------------------------------------------------------------
    def plane_tv(self) -> torch.Tensor:
        """Total variation of the spatial planes (mean squared first differences, both axes)."""
        terms = []
        for s, p, plane in self.iter_planes():
            if p in SPACE_PLANES:
                terms.append((plane[..., 1:, :] - plane[..., :-1, :]).square().mean()
                             + (plane[..., :, 1:] - plane[..., :, :-1]).square().mean())
        return torch.stack(terms).mean()

    def time_smoothness(self) -> torch.Tensor:
        """Squared second difference along the time axis of the space-time planes."""
        terms = []
        for s, p, plane in self.iter_planes():
            if p in TIME_PLANES:
                # time is the second axis of the pair, i.e. the height (dim -2) of the plane tensor
                d2 = plane[..., 2:, :] - 2 * plane[..., 1:-1, :] + plane[..., :-2, :]
                terms.append(d2.square().mean() if d2.numel() else plane.sum() * 0)
        return torch.stack(terms).mean()

    def time_l1(self) -> torch.Tensor:
        """Mean ``|1 - plane|`` of the space-time planes (pulls them to the identity value 1)."""
        return torch.stack([(1 - plane).abs().mean() for s, p, plane in self.iter_planes()
                            if p in TIME_PLANES]).mean()
