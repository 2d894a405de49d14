"""Gradient checkpointing for diffusers' UNet3DConditionModel, which does not support it itself (0.42:
``_supports_gradient_checkpointing = False``; the 3D blocks ignore their ``gradient_checkpointing`` flag).

Like MotionDirector's vendored UNet we checkpoint per layer: every ResNet, temporal conv, spatial transformer and
temporal transformer (and ``transformer_in``) recomputes its activations in the backward pass
(``torch.utils.checkpoint`` with ``use_reentrant=False``, RNG state preserved so LoRA dropout is replayed exactly).
It only acts when gradients are enabled, so sampling is unaffected.
"""
from __future__ import annotations

import functools

import torch
from torch import nn
from torch.utils.checkpoint import checkpoint

__all__ = ["enable_gradient_checkpointing", "disable_gradient_checkpointing", "checkpointed_modules"]

_LAYER_LISTS = ("resnets", "temp_convs", "attentions", "temp_attentions")


def checkpointed_modules(unet: nn.Module) -> list[nn.Module]:
    """The layers :func:`enable_gradient_checkpointing` wraps, in traversal order."""
    mods = [unet.transformer_in] if getattr(unet, "transformer_in", None) is not None else []
    blocks = list(unet.down_blocks) + list(unet.up_blocks) + ([unet.mid_block] if unet.mid_block is not None else [])
    for block in blocks:
        for attr in _LAYER_LISTS:
            mods += list(getattr(block, attr, None) or [])
    return mods


def enable_gradient_checkpointing(unet: nn.Module) -> int:
    """Wrap every layer's forward in ``torch.utils.checkpoint``; returns the number of wrapped layers."""
    count = 0
    for module in checkpointed_modules(unet):
        if module.__dict__.get("_motion4d_ckpt"):
            continue
        inner = module.forward

        @functools.wraps(inner)
        def forward(*args, _inner=inner, **kwargs):
            if torch.is_grad_enabled():
                return checkpoint(_inner, *args, use_reentrant=False, **kwargs)
            return _inner(*args, **kwargs)

        module.forward = forward
        module._motion4d_ckpt = True
        count += 1
    return count


def disable_gradient_checkpointing(unet: nn.Module) -> None:
    """Undo :func:`enable_gradient_checkpointing`."""
    for module in checkpointed_modules(unet):
        if module.__dict__.pop("_motion4d_ckpt", False):
            module.__dict__.pop("forward", None)
