"""Noise prior: DDIM inversion of a reference latent clip, mixed with fresh noise (MotionDirector §4).

    z_T = √p · z_inv + √(1 − p) · ε          (variance preserving; p = 0: pure noise, p = 1: pure inversion)

``z_inv`` is the DDIM inversion (empty prompt, no guidance; diffusers' ``DDIMInverseScheduler``) of the reference
clip's latents ``[B, C, F, h, w]``, computed with the backbone as it is (with any LoRA adapters switched on). MotionDirector's advice: p = 0 for
multi-video motion LoRAs, 0.1-0.5 for single-video ones (0.3 zoom shots, 0.5 car/dolly zoom).

MotionDirector caches ``z_inv`` next to its training clips (``inversion_noise``, 50 DDIM steps, computed with the
base UNet before training); ``convert-motiondirector`` keeps it in ``reference.safetensors`` and
:func:`stored_inversion_noise` reads it back so that ``generate-video`` can use it instead of inverting again.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F

from motion4d.utils.progress import progress
from motion4d.video.schedulers import make_inverse_scheduler

__all__ = ["ddim_invert", "mix_noise_prior", "resize_latents", "stored_inversion_noise"]


@torch.no_grad()
def ddim_invert(model, latents: torch.Tensor, cond: torch.Tensor, *, steps: int = 50,
                show_progress: bool = True) -> torch.Tensor:
    """Invert clean ``latents`` [B, C, F, h, w] to the noise that DDIM sampling (``scheduler="ddim"``, same
    ``steps``) maps back to them. ``model``: a backbone (``predict`` and ``scheduler_config``).

    ``cond`` [B or 1, L, D] is the text embedding used at every step (the empty prompt for the noise prior).
    """
    if latents.ndim != 5:
        raise ValueError(f"ddim_invert expects latents [B, C, F, h, w], got {tuple(latents.shape)}")
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"number of inversion steps must be a positive integer, got {steps!r}")
    sched = make_inverse_scheduler(model.scheduler_config)
    sched.set_timesteps(steps)
    cond = cond.expand(latents.shape[0], *cond.shape[1:]) if cond.shape[0] == 1 else cond
    dtype = latents.dtype
    x = latents.float()
    for t in progress(sched.timesteps, desc="inverting", disable=None if show_progress else True):
        out = model.predict(x.to(dtype), t, cond)
        x = sched.step(out.float(), t, x).prev_sample
    return x.to(dtype)


def stored_inversion_noise(file) -> tuple[torch.Tensor, int | None] | None:
    """``(noise [1, C, F, h, w], DDIM steps or None when unrecorded)`` stored in a latent-cache / converted
    ``reference.safetensors`` file (tensor ``inversion_noise``, metadata ``inversion_steps``), or ``None`` when the
    file is not safetensors or holds no stored noise."""
    from pathlib import Path

    from safetensors import safe_open

    file = Path(file).expanduser()
    if file.suffix != ".safetensors" or not file.is_file():
        return None
    with safe_open(str(file), framework="pt") as f:
        if "inversion_noise" not in set(f.keys()):
            return None
        noise = f.get_tensor("inversion_noise")
        steps = (f.metadata() or {}).get("inversion_steps", "")
    noise = noise[None] if noise.ndim == 4 else noise
    return noise, int(steps) if steps.isdigit() else None


def resize_latents(latents: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """Bilinearly resize every frame of ``latents`` [B, C, F, h, w] to [B, C, F, height, width]."""
    b, c, f, h, w = latents.shape
    if (h, w) == (height, width):
        return latents
    x = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, h, w)
    x = F.interpolate(x.float(), size=(height, width), mode="bilinear", align_corners=False).to(latents.dtype)
    return x.reshape(b, f, c, height, width).permute(0, 2, 1, 3, 4)


def mix_noise_prior(inverted: torch.Tensor, noise: torch.Tensor, p: float) -> torch.Tensor:
    """√p · inverted + √(1 − p) · noise, both [B, C, F, h, w] (``inverted`` is resized to ``noise``'s size and
    broadcast over the batch). Frame counts must agree."""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"noise prior p={p!r} must be in [0, 1]")
    if inverted.shape[2] != noise.shape[2]:
        raise ValueError(f"the noise-prior clip has {inverted.shape[2]} frames but the video has {noise.shape[2]}; "
                         f"use --frames {inverted.shape[2]} or a reference clip with {noise.shape[2]} frames")
    inv = resize_latents(inverted, noise.shape[3], noise.shape[4]).to(noise.device, noise.dtype)
    return p ** 0.5 * inv + (1.0 - p) ** 0.5 * noise
