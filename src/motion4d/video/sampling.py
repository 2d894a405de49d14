"""Sampling loop with classifier-free guidance over any diffusers scheduler (diffusers' TextToVideoSDPipeline is
deprecated, so motion4d does not build on it).

One step: ``out = uncond + w (cond - uncond)`` (CFG; batch order (uncond, cond)), then
``x = scheduler.step(out, t, x).prev_sample`` in float32. The scheduler is chosen by name
(:data:`motion4d.video.schedulers.SCHEDULERS`: ``ddim`` by default, ``dpm-solver++``, ``unipc``, ``euler``,
``flow-match-euler``) on the backbone's noise schedule. With ``ddim`` this is DDIM (Song et al. 2021, eq. 12,
σ_t = 0)::

    x_{t-Δ} = √ᾱ_{t-Δ} · x0 + √(1 − ᾱ_{t-Δ}) · eps

The model is reached only through the backbone protocol (:class:`motion4d.video.backbones.VideoBackbone`):
``predict(latents, t, text)`` and ``scheduler_config``. Latents are ``[B, C, F, h, w]``; initial noise is drawn on
the CPU from a seeded generator (same seed, same noise on every device).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from motion4d.utils.progress import progress
from motion4d.video.schedulers import make_scheduler

__all__ = ["VideoSample", "initial_noise", "sample_video", "denoise", "guided_prediction"]


@dataclass
class VideoSample:
    """A generated clip: ``frames`` [B, F, H, W, 3] float32 in [0, 1] on the CPU (None when not decoded),
    ``latents`` [B, C, F, h, w] final latents, ``init_latents`` the starting noise."""

    frames: torch.Tensor | None
    latents: torch.Tensor
    init_latents: torch.Tensor


def initial_noise(shape: tuple[int, ...], seed: int | None, device: torch.device | str = "cpu",
                  dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """Standard normal noise drawn on the CPU from ``torch.Generator().manual_seed(seed)`` (so a seed gives the
    same noise on every device), then moved to ``device``. ``seed=None`` draws a fresh one."""
    gen = torch.Generator("cpu")
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return torch.randn(shape, generator=gen, dtype=torch.float32).to(device, dtype)


def guided_prediction(model, x: torch.Tensor, t, cond: torch.Tensor, uncond: torch.Tensor | None,
                      guidance: float) -> torch.Tensor:
    """CFG model output ``uncond + guidance * (cond - uncond)``, one batched call ordered (uncond, cond);
    a single conditional call when ``uncond`` is None or ``guidance == 1``. ``model`` has ``predict(x, t, text)``."""
    if uncond is None or guidance == 1.0:
        return model.predict(x, t, cond)
    out_u, out_c = model.predict(torch.cat([x, x]), t, torch.cat([uncond, cond])).chunk(2)
    return out_u + guidance * (out_c - out_u)


@torch.no_grad()
def denoise(model, latents: torch.Tensor, cond: torch.Tensor, uncond: torch.Tensor | None = None, *,
            steps: int = 30, guidance: float = 12.0, scheduler: str = "ddim",
            callback: Callable[[int, torch.Tensor], None] | None = None, show_progress: bool = True) -> torch.Tensor:
    """Run the sampling loop from noise ``latents`` [B, C, F, h, w] (unit variance; scaled by the scheduler's
    ``init_noise_sigma``). ``model``: a backbone (``predict`` and ``scheduler_config``); ``cond``/``uncond``: text
    embeddings [B, L, D]. Returns the denoised latents in ``latents``' dtype."""
    if isinstance(steps, bool) or not isinstance(steps, int) or steps < 1:
        raise ValueError(f"number of sampling steps must be a positive integer, got {steps!r}")
    sched = make_scheduler(model.scheduler_config, scheduler)
    sched.set_timesteps(steps)
    dtype = latents.dtype
    x = latents.float() * sched.init_noise_sigma
    for i, t in enumerate(progress(sched.timesteps, desc="sampling", disable=None if show_progress else True)):
        inp = sched.scale_model_input(x, t).to(dtype)
        out = guided_prediction(model, inp, t, cond, uncond, guidance)
        x = sched.step(out.float(), t, x).prev_sample
        if callback is not None:
            callback(i, x.to(dtype))
    return x.to(dtype)


@torch.no_grad()
def sample_video(backbone, prompt: str | list[str], *, negative_prompt: str = "", num_frames: int = 16,
                 width: int = 384, height: int = 384, steps: int = 30, guidance: float = 12.0,
                 seed: int | None = None, latents: torch.Tensor | None = None, decode: bool = True,
                 scheduler: str = "ddim", show_progress: bool = True) -> VideoSample:
    """Generate a clip with the backbone (and whatever LoRA adapters are active on its UNet).

    Args:
        prompt: one prompt or a list (batch).
        num_frames, width, height: clip size; width/height must be multiples of the model's size step.
        steps: sampling steps. guidance: CFG scale (1 disables the unconditional branch).
        scheduler: sampling scheduler name (``ddim``, ``dpm-solver++``, ...; see motion4d.video.schedulers).
        seed: noise seed (same seed -> same video); ignored when ``latents`` [B, C, F, h, w] is given
            (e.g. the noise-prior mix from :func:`motion4d.video.inversion.noise_prior`).
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise ValueError("sample_video needs at least one prompt")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    backbone.check_size(width, height)
    shape = backbone.latent_shape(len(prompts), num_frames, height, width)
    if latents is None:
        latents = initial_noise(shape, seed, backbone.device, backbone.dtype)
    elif tuple(latents.shape) != shape:
        raise ValueError(f"initial latents have shape {tuple(latents.shape)}, expected {shape} for "
                         f"{len(prompts)} prompt(s), {num_frames} frames at {width}x{height}")
    latents = latents.to(backbone.device, backbone.dtype)
    cond = backbone.encode_prompt(prompts)
    uncond = backbone.encode_prompt([negative_prompt] * len(prompts)) if guidance != 1.0 else None
    out = denoise(backbone, latents, cond, uncond, steps=steps, guidance=guidance, scheduler=scheduler,
                  show_progress=show_progress)
    frames = backbone.decode_latents(out) if decode else None
    return VideoSample(frames=frames, latents=out, init_latents=latents)
