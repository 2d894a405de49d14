"""Customized text-to-video: MotionDirector's dual-path LoRA on ZeroScope/ModelScope (diffusers UNet3D).

Modules (each one job): ``backbone`` (loading), ``sampling`` (DDIM + CFG), ``lora`` (peft adapters per path),
``temporal_bypass`` (single-frame spatial path), ``checkpointing`` (gradient checkpointing), ``losses``
(appearance-debiased loss), ``data`` (clips, captions, latent cache), ``config``/``train`` (train-motion),
``checkpoint`` (LoRA safetensors), ``inversion`` (noise prior), ``convert`` (MotionDirector import),
``generate`` (generate-video), ``outputs`` (mp4/gif/PNG writers); motion measures are in ``motion4d.metrics``.

Names below are imported lazily so that ``import motion4d.video`` does not import diffusers.
"""
from __future__ import annotations

import importlib

_EXPORTS = {
    "VideoBackbone": "backbone", "load_backbone": "backbone",
    "sample_video": "sampling", "VideoSample": "sampling", "DDIM": "sampling",
    "DualPathLoRA": "lora", "get_lora": "lora", "target_module_names": "lora",
    "temporal_bypass": "temporal_bypass", "debiased_loss": "losses", "temporal_loss": "losses",
    "enable_gradient_checkpointing": "checkpointing",
    "TrainMotionConfig": "config", "train_motion": "train", "TrainResult": "train",
    "save_adapter": "checkpoint", "load_lora": "checkpoint", "read_lora": "checkpoint",
    "ddim_invert": "inversion", "mix_noise_prior": "inversion",
    "convert_motiondirector": "convert", "generate_video": "generate",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name in _EXPORTS:
        return getattr(importlib.import_module(f"motion4d.video.{_EXPORTS[name]}"), name)
    raise AttributeError(f"module 'motion4d.video' has no attribute {name!r}")
