"""Text-to-video backbones behind one protocol (:class:`~motion4d.video.backbones.base.VideoBackbone`).

:data:`BACKBONES` is the registry: ``kind -> (module, class, detector)``. The detector is a function of the model
folder (diffusers layout) that says whether the folder holds that kind; :func:`load_backbone` tries them in order.
Adding a backbone (e.g. Wan2.1: ``WanTransformer3DModel`` + ``AutoencoderKLWan`` + flow matching) is one new module
implementing the protocol and one row here.
"""
from __future__ import annotations

import importlib
import os

from motion4d.video.backbones.base import VideoBackbone

__all__ = ["BACKBONES", "VideoBackbone", "UNet3DBackbone", "backbone_class", "load_backbone"]

BACKBONES: dict[str, tuple[str, str, str]] = {
    "unet3d": ("motion4d.video.backbones.unet3d", "UNet3DBackbone", "is_unet3d_folder"),
}


def backbone_class(kind: str) -> type:
    """The class registered as ``kind``; ``ValueError`` naming the registered kinds otherwise."""
    if kind not in BACKBONES:
        raise ValueError(f"unknown video backbone kind {kind!r}; registered: {', '.join(BACKBONES)}")
    module, cls, _ = BACKBONES[kind]
    return getattr(importlib.import_module(module), cls)


def load_backbone(name_or_path: str | os.PathLike = "zeroscope", *, kind: str | None = None,
                  **kwargs) -> VideoBackbone:
    """Load a backbone from a registry key, a cached hub id or a diffusers folder. ``kind`` forces a registry row;
    by default the first row whose detector accepts the folder is used. ``kwargs`` go to ``from_pretrained``
    (``device``, ``precision``, ...)."""
    from pathlib import Path

    from motion4d.hub import resolve_pretrained

    if kind is None:
        folder = Path(resolve_pretrained(name_or_path, purpose="text-to-video"))
        for k, (module, _, detector) in BACKBONES.items():
            if getattr(importlib.import_module(module), detector)(folder):
                kind = k
                break
        else:
            raise ValueError(f"{str(folder)!r} is not a text-to-video model motion4d knows: no registered backbone "
                             f"({', '.join(BACKBONES)}) recognises its unet/transformer config")
    return backbone_class(kind).from_pretrained(name_or_path, **kwargs)


def __getattr__(name: str):
    if name == "UNet3DBackbone":
        return backbone_class("unet3d")
    raise AttributeError(f"module 'motion4d.video.backbones' has no attribute {name!r}")
