"""Single-frame spatial path: run diffusers' UNet3D as a pure image (T2I) model when ``num_frames == 1``.

MotionDirector's vendored UNet skips ``transformer_in``, every temporal transformer (``temp_attentions``) and
every temporal convolution (``temp_convs``) when it sees one frame, so its spatial LoRA learns appearance from a
plain 2D pass. Stock diffusers (0.42) still runs those layers on a single frame: a temporal conv then mixes
zero-padded neighbours into the frame and temporal attention adds its (self-only) projection, so a spatial LoRA
trained on single frames would absorb the temporal layers' single-frame behaviour.

:func:`temporal_bypass` restores MotionDirector's behaviour on any ``UNet3DConditionModel``: inside the context,
every ``TransformerTemporalModel`` and ``TemporalConvLayer`` returns its input unchanged whenever it is called with
``num_frames == 1`` (and runs normally for clips). Nothing inside them is executed: their forward hooks, LoRA
layers and weights are never touched.
"""
from __future__ import annotations

import contextlib
from typing import Iterator

from torch import nn

__all__ = ["temporal_bypass", "temporal_modules"]


def temporal_modules(unet: nn.Module) -> dict[str, nn.Module]:
    """``{name: module}`` of the UNet's temporal layers (``transformer_in``, ``temp_attentions.*``,
    ``temp_convs.*``), in traversal order."""
    from diffusers.models.resnet import TemporalConvLayer
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModel

    return {n: m for n, m in unet.named_modules() if isinstance(m, (TransformerTemporalModel, TemporalConvLayer))}


def _bypassing_forward(module: nn.Module, inner):
    from diffusers.models.transformers.transformer_temporal import TransformerTemporalModelOutput

    is_transformer = not hasattr(module, "conv1")  # TemporalConvLayer has conv1..conv4

    def forward(hidden_states, *args, **kwargs):
        num_frames = kwargs.get("num_frames", 1)
        if num_frames != 1:
            return inner(hidden_states, *args, **kwargs)
        if not is_transformer:
            return hidden_states
        return (hidden_states,) if kwargs.get("return_dict", True) is False else \
            TransformerTemporalModelOutput(sample=hidden_states)

    return forward


@contextlib.contextmanager
def temporal_bypass(unet: nn.Module, enabled: bool = True) -> Iterator[nn.Module]:
    """Context in which single-frame UNet calls (``sample`` of shape ``[B, C, 1, h, w]``) bypass every temporal
    layer. Clips with more frames are unaffected. Re-entrant; restores the original forwards on exit."""
    if not enabled:
        yield unet
        return
    patched = []
    for module in temporal_modules(unet).values():
        if module.__dict__.get("_motion4d_bypassed"):
            continue
        previous = module.__dict__.get("forward")  # e.g. a gradient-checkpointing wrapper, or None
        module.forward = _bypassing_forward(module, previous or module.forward)
        module._motion4d_bypassed = True
        patched.append((module, previous))
    try:
        yield unet
    finally:
        for module, previous in patched:
            del module.__dict__["_motion4d_bypassed"]
            if previous is None:
                del module.__dict__["forward"]
            else:
                module.forward = previous
