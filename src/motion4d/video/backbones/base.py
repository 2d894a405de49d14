"""The video-backbone protocol: everything motion4d.video (training, sampling, inversion, generate) and the video
SDS guidance need from a text-to-video model, and nothing more.

A backbone owns:

- **prompt encoding**: ``encode_prompt(prompts) -> [B, L, D]`` (cached), ``offload_text_encoder()``;
- **VAE encode/decode** with **temporal compression**: ``encode_frames(frames [B, F, H, W, 3]) -> [B, C, f, h, w]``
  with ``f = (F - 1) // temporal_compression + 1`` for causal video VAEs (``temporal_compression = 1``: one latent
  frame per frame, the UNet3D models), ``h = H / vae_scale_factor``; ``decode_latents`` the inverse;
  ``latent_shape(batch, num_frames, height, width)``;
- **noise prediction**: ``predict(latents, t, text) -> model output`` (ε, v, x0 or flow velocity, as
  ``prediction_type`` says) for latents ``[B, C, f, h, w]``, a timestep (scalar or ``[B]``) and text ``[B, L, D]``;
- **LoRA target groups**: ``denoiser`` (the module adapters go into) and ``lora_targets``
  ``{"spatial": regex, "temporal": regex}`` over its module names (:mod:`motion4d.video.lora`);
  ``temporal_bypass()`` (a context in which the denoiser treats frames independently: the single-frame
  spatial path; a backbone without separate temporal layers may return a context that runs one latent frame);
- **the scheduler**: ``scheduler_config`` (diffusers config dict; :func:`motion4d.video.schedulers.make_scheduler`
  builds ``ddim``, ``dpm-solver++``, ... or ``flow-match-euler`` from it) and ``prediction_type``
  (``epsilon``, ``v_prediction``, ``sample`` or ``flow``).

Identity: ``model_id`` (recorded in LoRA checkpoints), ``fingerprint`` (architecture hash), ``device``, ``dtype``.
Implementations: :class:`motion4d.video.backbones.unet3d.UNet3DBackbone` (ZeroScope, ModelScope). A new backbone is
one module implementing this protocol plus one row in :data:`motion4d.video.backbones.BACKBONES`.
"""
from __future__ import annotations

from typing import ContextManager, Protocol, runtime_checkable

import torch

__all__ = ["VideoBackbone"]


@runtime_checkable
class VideoBackbone(Protocol):
    """What a text-to-video backbone provides (see the module docstring for shapes and conventions)."""

    model_id: str
    device: torch.device
    dtype: torch.dtype
    scheduler_config: dict

    @property
    def denoiser(self) -> torch.nn.Module: ...

    @property
    def lora_targets(self) -> dict[str, str]: ...

    @property
    def vae_scale_factor(self) -> int: ...

    @property
    def temporal_compression(self) -> int: ...

    @property
    def latent_channels(self) -> int: ...

    @property
    def prediction_type(self) -> str: ...

    @property
    def fingerprint(self) -> str: ...

    def check_size(self, width: int, height: int) -> None: ...

    def latent_shape(self, batch: int, num_frames: int, height: int, width: int) -> tuple[int, ...]: ...

    def encode_prompt(self, prompts: str | list[str]) -> torch.Tensor: ...

    def offload_text_encoder(self) -> None: ...

    def encode_frames(self, frames: torch.Tensor, generator: torch.Generator | None = None,
                      sample: bool = True) -> torch.Tensor: ...

    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor: ...

    def predict(self, latents: torch.Tensor, t, text: torch.Tensor) -> torch.Tensor: ...

    def temporal_bypass(self) -> ContextManager[None]: ...
