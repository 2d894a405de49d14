"""Our own DDIM sampling and inversion loops with classifier-free guidance (diffusers' TextToVideoSDPipeline is
deprecated, so motion4d does not build on it).

DDIM (Song et al. 2021, eq. 12 with σ_t = 0), written out so that sampling and inversion share one update:

| code          | paper            |
|---------------|------------------|
| ``a_t``       | ᾱ_t (alphas_cumprod at t)        |
| ``a_prev``    | ᾱ_{t-Δ} (``final_alpha`` below 0) |
| ``x0``        | predicted x_0    |
| ``eps``       | ε_θ(x_t, t)      |

    x_{t-Δ} = √ᾱ_{t-Δ} · x0 + √(1 − ᾱ_{t-Δ}) · eps        (sampling, t decreasing)
    x_{t}   = √ᾱ_{t}   · x0 + √(1 − ᾱ_{t})   · eps        (inversion, evaluated at x_{t-Δ}, t increasing)

The noise schedule, timestep spacing and prediction type come from the backbone's scheduler config (read through
diffusers' ``DDIMScheduler``). CFG batches are ordered (uncond, cond). Latents are ``[B, C, F, h, w]``.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import torch

from motion4d.utils.progress import progress

__all__ = ["DDIM", "VideoSample", "initial_noise", "sample_video", "denoise"]


class DDIM:
    """Deterministic DDIM (η = 0) over ``num_steps`` timesteps of a diffusers scheduler config."""

    def __init__(self, scheduler_config: dict, num_steps: int):
        from diffusers import DDIMScheduler

        if not isinstance(num_steps, int) or num_steps < 1:
            raise ValueError(f"number of DDIM steps must be a positive integer, got {num_steps!r}")
        sched = DDIMScheduler.from_config(scheduler_config)
        sched.set_timesteps(num_steps)
        self.num_train_timesteps = int(sched.config.num_train_timesteps)
        self.timesteps = sched.timesteps.clone()  # descending
        self.step_ratio = self.num_train_timesteps // num_steps
        self.alphas_cumprod = sched.alphas_cumprod.double()
        self.final_alpha = 1.0 if sched.config.set_alpha_to_one else float(self.alphas_cumprod[0])
        self.prediction_type = sched.config.prediction_type
        if self.prediction_type not in ("epsilon", "v_prediction", "sample"):
            raise ValueError(f"unsupported prediction_type {self.prediction_type!r} in the scheduler config")

    def alpha(self, t: int) -> float:
        return float(self.alphas_cumprod[t]) if t >= 0 else self.final_alpha

    def split(self, out: torch.Tensor, x: torch.Tensor, a_t: float) -> tuple[torch.Tensor, torch.Tensor]:
        """(x0, eps) from the model output at a point with ᾱ = ``a_t``."""
        sa, sb = a_t ** 0.5, (1 - a_t) ** 0.5
        if self.prediction_type == "epsilon":
            return (x - sb * out) / sa, out
        if self.prediction_type == "v_prediction":
            return sa * x - sb * out, sa * out + sb * x
        return out, (x - sa * out) / sb

    def step(self, out: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        """One sampling step from timestep ``t`` to ``t - step_ratio``."""
        a_t, a_prev = self.alpha(t), self.alpha(t - self.step_ratio)
        x0, eps = self.split(out.float(), x.float(), a_t)
        return (a_prev ** 0.5 * x0 + (1 - a_prev) ** 0.5 * eps).to(x.dtype)

    def inverse_step(self, out: torch.Tensor, t: int, x: torch.Tensor) -> torch.Tensor:
        """One inversion step: ``x`` is at ``t - step_ratio``, ``out`` is the model output at (x, t); returns x_t."""
        a_cur, a_t = self.alpha(t - self.step_ratio), self.alpha(t)
        x0, eps = self.split(out.float(), x.float(), a_cur)
        return (a_t ** 0.5 * x0 + (1 - a_t) ** 0.5 * eps).to(x.dtype)


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


def _model_output(unet, x: torch.Tensor, t: int, cond: torch.Tensor, uncond: torch.Tensor | None,
                  guidance: float) -> torch.Tensor:
    if uncond is None or guidance == 1.0:
        return unet(x, t, encoder_hidden_states=cond).sample
    out = unet(torch.cat([x, x]), t, encoder_hidden_states=torch.cat([uncond, cond])).sample
    out_u, out_c = out.chunk(2)
    return out_u + guidance * (out_c - out_u)


@torch.no_grad()
def denoise(unet, scheduler_config: dict, latents: torch.Tensor, cond: torch.Tensor,
            uncond: torch.Tensor | None = None, *, steps: int = 30, guidance: float = 12.0,
            callback: Callable[[int, torch.Tensor], None] | None = None, show_progress: bool = True) -> torch.Tensor:
    """Run the DDIM sampling loop from noise ``latents`` [B, C, F, h, w]; ``cond``/``uncond`` are text embeddings
    [B, L, D]. Returns the denoised latents."""
    ddim = DDIM(scheduler_config, steps)
    x = latents
    for i, t in enumerate(progress(ddim.timesteps.tolist(), desc="sampling", disable=None if show_progress else True)):
        out = _model_output(unet, x, int(t), cond, uncond, guidance)
        x = ddim.step(out, int(t), x)
        if callback is not None:
            callback(i, x)
    return x


@torch.no_grad()
def sample_video(backbone, prompt: str | list[str], *, negative_prompt: str = "", num_frames: int = 16,
                 width: int = 384, height: int = 384, steps: int = 30, guidance: float = 12.0,
                 seed: int | None = None, latents: torch.Tensor | None = None, decode: bool = True,
                 show_progress: bool = True) -> VideoSample:
    """Generate a clip with the backbone (and whatever LoRA adapters are active on its UNet).

    Args:
        prompt: one prompt or a list (batch).
        num_frames, width, height: clip size; width/height must be multiples of the model's size step.
        steps: DDIM steps. guidance: CFG scale (1 disables the unconditional branch).
        seed: noise seed (same seed -> same video); ignored when ``latents`` [B, C, F, h, w] is given
            (e.g. the noise-prior mix from :func:`motion4d.video.inversion.noise_prior`).
    """
    prompts = [prompt] if isinstance(prompt, str) else list(prompt)
    if not prompts:
        raise ValueError("sample_video needs at least one prompt")
    if num_frames < 1:
        raise ValueError(f"num_frames must be >= 1, got {num_frames}")
    backbone.check_size(width, height)
    f = backbone.vae_scale_factor
    shape = (len(prompts), backbone.latent_channels, num_frames, height // f, width // f)
    if latents is None:
        latents = initial_noise(shape, seed, backbone.device, backbone.dtype)
    elif tuple(latents.shape) != shape:
        raise ValueError(f"initial latents have shape {tuple(latents.shape)}, expected {shape} for "
                         f"{len(prompts)} prompt(s), {num_frames} frames at {width}x{height}")
    latents = latents.to(backbone.device, backbone.dtype)
    cond = backbone.encode_prompt(prompts)
    uncond = backbone.encode_prompt([negative_prompt] * len(prompts)) if guidance != 1.0 else None
    out = denoise(backbone.unet, backbone.scheduler_config, latents, cond, uncond, steps=steps, guidance=guidance,
                  show_progress=show_progress)
    frames = backbone.decode_latents(out) if decode else None
    return VideoSample(frames=frames, latents=out, init_latents=latents)
