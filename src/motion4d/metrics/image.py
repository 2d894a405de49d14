"""Image metrics on float tensors in [0, 1], channels last: ``[..., H, W, 3]`` (or ``[..., H, W, 1]``).

Every metric returns one value per image: a tensor of shape ``[...]`` (the leading batch dims).
"""
from __future__ import annotations

import math

import torch

__all__ = ["psnr", "ssim", "mask_iou", "mse"]


def _check_pair(pred: torch.Tensor, target: torch.Tensor, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"{name}: prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ in shape")
    if pred.ndim < 3:
        raise ValueError(f"{name}: images must be [..., H, W, C], got shape {tuple(pred.shape)}")
    return pred.double(), target.double()


def mse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean squared error per image, ``[...]``."""
    pred, target = _check_pair(pred, target, "mse")
    return ((pred - target) ** 2).mean(dim=(-3, -2, -1))


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB per image: ``10 log10(data_range^2 / MSE)``; ``inf`` when equal."""
    err = mse(pred, target)
    return 10 * torch.log10(data_range ** 2 / err)  # err == 0 -> inf


def _gaussian_window(size: int, sigma: float, dtype) -> torch.Tensor:
    x = torch.arange(size, dtype=dtype) - (size - 1) / 2
    g = torch.exp(-x ** 2 / (2 * sigma ** 2))
    return g / g.sum()


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = 1.0, window: int = 11,
         sigma: float = 1.5, k1: float = 0.01, k2: float = 0.03) -> torch.Tensor:
    """Structural similarity (Wang et al. 2004) per image, averaged over channels and positions.

    Gaussian window ``window x window`` with ``sigma``; ``C1 = (k1 L)^2``, ``C2 = (k2 L)^2`` with
    ``L = data_range``; population (biased) variances; the mean is taken over the "valid" positions
    where the window fits. Matches ``skimage.metrics.structural_similarity(..., gaussian_weights=True,
    sigma=1.5, use_sample_covariance=False, data_range=1, channel_axis=-1)``.
    Images must be at least ``window`` pixels on each side.
    """
    pred, target = _check_pair(pred, target, "ssim")
    *batch, h, w, c = pred.shape
    if h < window or w < window:
        raise ValueError(f"ssim: images must be at least {window}x{window} pixels, got {h}x{w}")
    x = pred.reshape(-1, h, w, c).permute(0, 3, 1, 2).reshape(-1, 1, h, w)
    y = target.reshape(-1, h, w, c).permute(0, 3, 1, 2).reshape(-1, 1, h, w)
    g = _gaussian_window(window, sigma, x.dtype)

    def blur(z):
        z = torch.nn.functional.conv2d(z, g.view(1, 1, 1, -1))
        return torch.nn.functional.conv2d(z, g.view(1, 1, -1, 1))

    mx, my = blur(x), blur(y)
    vx = blur(x * x) - mx * mx
    vy = blur(y * y) - my * my
    cxy = blur(x * y) - mx * my
    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    smap = ((2 * mx * my + c1) * (2 * cxy + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    per_channel = smap.mean(dim=(-2, -1)).reshape(-1, c)
    return per_channel.mean(-1).reshape(batch)


def mask_iou(pred: torch.Tensor, target: torch.Tensor, threshold: float = 0.5) -> torch.Tensor:
    """Intersection over union of binary masks ``alpha > threshold``, per mask.

    Masks are ``[..., H, W]`` or ``[..., H, W, 1]``. Two empty masks have IoU 1.
    """
    pred, target = torch.as_tensor(pred), torch.as_tensor(target)
    if pred.shape != target.shape:
        raise ValueError(f"mask_iou: masks {tuple(pred.shape)} and {tuple(target.shape)} differ in shape")
    if pred.ndim >= 3 and pred.shape[-1] == 1:
        pred, target = pred[..., 0], target[..., 0]
    if pred.ndim < 2:
        raise ValueError(f"mask_iou: masks must be [..., H, W], got shape {tuple(pred.shape)}")
    a, b = pred > threshold, target > threshold
    inter = (a & b).sum(dim=(-2, -1)).double()
    union = (a | b).sum(dim=(-2, -1)).double()
    return torch.where(union > 0, inter / union.clamp_min(1), torch.ones_like(union))


def psnr_to_json(value: float, cap: float) -> float:
    """PSNR capped at ``cap`` dB (JSON cannot hold ``inf``)."""
    return float(cap) if math.isinf(value) or value > cap else float(value)
