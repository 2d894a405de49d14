"""MotionDirector's training losses on latent clips ``[B, C, F, h, w]``.

Appearance-debiased temporal loss (MotionDirector, eq. 6; research notes §2), with β = 1 and α = √(β² + 1) = √2:

    φ(x) = α·x − β·x[:, :, a]            (a = anchor frame index, broadcast over frames)
    L_ad = MSE(φ(pred), φ(target))        (the anchor frame itself is included in the mean)

| code         | paper          |
|--------------|----------------|
| ``pred``     | ε_θ(z_t, t, c) |
| ``target``   | ε (or v)       |
| ``anchor``   | a (random)     |

The temporal path's loss is ``lambda_org * MSE(pred, target) + lambda_ad * L_ad`` (both 1 in MotionDirector).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

__all__ = ["debias", "debiased_loss", "temporal_loss", "spatial_loss"]


def debias(x: torch.Tensor, anchor: int, beta: float = 1.0) -> torch.Tensor:
    """φ(x) = √(β²+1)·x − β·x[:, :, anchor] for ``x`` of shape ``[B, C, F, h, w]``."""
    if x.ndim != 5:
        raise ValueError(f"debias expects a latent clip [B, C, F, h, w], got shape {tuple(x.shape)}")
    if not -x.shape[2] <= anchor < x.shape[2]:
        raise ValueError(f"anchor frame {anchor} is out of range for {x.shape[2]} frames")
    a = anchor % x.shape[2]
    alpha = math.sqrt(beta * beta + 1.0)
    return alpha * x - beta * x[:, :, a:a + 1]


def debiased_loss(pred: torch.Tensor, target: torch.Tensor, anchor: int, beta: float = 1.0) -> torch.Tensor:
    """L_ad = MSE(φ(pred), φ(target)) in float32 (scalar)."""
    if pred.shape != target.shape:
        raise ValueError(f"pred {tuple(pred.shape)} and target {tuple(target.shape)} must have the same shape")
    return F.mse_loss(debias(pred.float(), anchor, beta), debias(target.float(), anchor, beta))


def temporal_loss(pred: torch.Tensor, target: torch.Tensor, anchor: int, *, lambda_org: float = 1.0,
                  lambda_ad: float = 1.0, beta: float = 1.0) -> dict[str, torch.Tensor]:
    """Temporal-path losses: ``{"loss": total, "loss_org": MSE, "loss_ad": debiased}`` (float32 scalars)."""
    loss_org = F.mse_loss(pred.float(), target.float())
    loss_ad = debiased_loss(pred, target, anchor, beta)
    return {"loss": lambda_org * loss_org + lambda_ad * loss_ad, "loss_org": loss_org, "loss_ad": loss_ad}


def spatial_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Spatial-path loss: plain MSE on the single frame (float32 scalar)."""
    return F.mse_loss(pred.float(), target.float())
