"""Customized text-to-video: MotionDirector's dual-path LoRA on a text-to-video backbone.

Modules (each one job): ``backbones`` (the :class:`VideoBackbone` protocol, its registry and the UNet3D
implementation for ZeroScope/ModelScope), ``schedulers`` (diffusers schedulers by name, training noise),
``sampling`` (sampling loop + CFG), ``inversion`` (DDIM inversion, noise prior), ``lora`` (peft adapters per
path), ``checkpoint`` (LoRA safetensors, the one LoRA loading path), ``temporal_bypass`` (single-frame spatial
path), ``checkpointing`` (gradient checkpointing), ``losses`` (appearance-debiased loss), ``data`` (clips,
captions, latent cache), ``config``/``train`` (train-motion), ``convert`` (MotionDirector import), ``generate``
(generate-video), ``outputs`` (a clip's mp4/gif/PNGs/settings through :mod:`motion4d.utils.media`). Motion
measures live in :mod:`motion4d.metrics.motion`.

Names below are imported lazily so that ``import motion4d.video`` does not import diffusers.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "VideoBackbone": "backbones", "UNet3DBackbone": "backbones", "BACKBONES": "backbones",
    "load_backbone": "backbones",
    "SCHEDULERS": "schedulers", "make_scheduler": "schedulers", "noisy_and_target": "schedulers",
    "sample_video": "sampling", "VideoSample": "sampling", "denoise": "sampling", "initial_noise": "sampling",
    "DualPathLoRA": "lora", "get_lora": "lora", "target_module_names": "lora",
    "temporal_bypass": "temporal_bypass", "debiased_loss": "losses", "temporal_loss": "losses",
    "enable_gradient_checkpointing": "checkpointing",
    "TrainMotionConfig": "config", "train_motion": "train", "TrainResult": "train",
    "save_adapter": "checkpoint", "load_lora": "checkpoint", "read_lora": "checkpoint",
    "load_lora_file": "checkpoint",
    "ddim_invert": "inversion", "mix_noise_prior": "inversion",
    "convert_motiondirector": "convert", "generate_video": "generate", "write_clip": "outputs",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"motion4d.video.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'motion4d.video' has no attribute {name!r}")
