"""The customized text-to-video model: a backbone plus its motion (temporal) and appearance (spatial) LoRAs.

Generation (:func:`motion4d.video.generate.generate_video`) and video score distillation
(:class:`motion4d.guidance.video_sds.VideoSDSGuidance`) both put a LoRA into a backbone through
:func:`load_adapter`, so a ``train-motion`` LoRA customizes the model the same way for a clip and for 4D:

* the adapter is named after its path type: ``motion`` (temporal layers) or ``appearance`` (spatial layers);
* a motion4d LoRA (metadata ``format = motion4d-lora``) gets every check of
  :func:`motion4d.video.checkpoint.load_lora`: architecture fingerprint, layer names and shapes, and the base model
  (recorded id against ``backbone.model_id``, else the recorded probe weights), unless ``allow_base_mismatch``;
* ``motion4d_only=False`` (video SDS) also accepts peft-style safetensors from other tools
  (:func:`motion4d.video.checkpoint.read_peft_lora`: layer names and shapes checked).

A file passed as the wrong kind (a spatial LoRA as the motion LoRA) is a ``ValueError`` naming both.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = ["ADAPTER_NAMES", "resolve_lora_file", "lora_kind", "check_lora", "load_adapter", "remove_adapters"]

#: path type -> adapter name (and the command-line flag that passes it)
ADAPTER_NAMES = {"temporal": "motion", "spatial": "appearance"}
_FLAGS = {"temporal": "--motion", "spatial": "--appearance"}


def resolve_lora_file(path: str | Path, kind: str) -> Path:
    """A LoRA file from a file or a train-motion run folder (``RUN/<kind>.safetensors``)."""
    p = Path(path).expanduser()
    if p.is_dir():
        candidate = p / f"{kind}.safetensors"
        if not candidate.is_file():
            raise FileNotFoundError(f"{str(p)!r} is a folder without {kind}.safetensors; pass the LoRA file itself")
        return candidate
    if not p.is_file():
        raise FileNotFoundError(f"{ADAPTER_NAMES.get(kind, kind)} LoRA {str(p)!r} does not exist")
    return p


def lora_kind(file: str | Path, *, motion4d_only: bool = True) -> str | None:
    """The path type (``temporal`` | ``spatial``) a motion4d LoRA file records; None for another tool's file when
    ``motion4d_only`` is false (its kind is known only once its layers meet a UNet). Errors name the file."""
    from motion4d.video.checkpoint import FORMAT, read_lora

    if not motion4d_only:
        from safetensors import safe_open

        try:
            with safe_open(str(file), framework="pt") as f:
                if (f.metadata() or {}).get("format") != FORMAT:
                    return None
        except Exception as e:  # noqa: BLE001 - safetensors raises several error types for other files
            raise ValueError(f"{str(file)!r} is not a safetensors file: {e}") from None
    return read_lora(file).path


def _check_kind(file: Path, found: str | None, kind: str) -> None:
    if found is not None and found != kind:
        raise ValueError(f"{_FLAGS[kind]} {str(file)!r} is a {found} LoRA; pass it with {_FLAGS[found]}")


def check_lora(path: str | Path, kind: str, *, motion4d_only: bool = True) -> Path:
    """The LoRA file of ``path`` (a file or a run folder), checked to be readable and of ``kind`` before any model
    loads (what can be checked without the model). Returns the file."""
    if kind not in ADAPTER_NAMES:
        raise ValueError(f"LoRA kind {kind!r} is not one of {', '.join(ADAPTER_NAMES)}")
    file = resolve_lora_file(path, kind)
    _check_kind(file, lora_kind(file, motion4d_only=motion4d_only), kind)
    return file


def load_adapter(backbone: Any, path: str | Path, kind: str, *, scale: float = 1.0, motion4d_only: bool = True,
                 allow_base_mismatch: bool = False):
    """Put the ``kind`` LoRA at ``path`` (a file or a train-motion run folder) into ``backbone.denoiser`` as adapter
    ``ADAPTER_NAMES[kind]`` with output scale ``scale`` (see the module docstring for the checks). Returns its
    :class:`~motion4d.video.lora.AdapterInfo`."""
    from motion4d.video.checkpoint import load_lora_file
    from motion4d.video.lora import get_lora

    file = check_lora(path, kind, motion4d_only=motion4d_only)
    lora = get_lora(backbone.denoiser, backbone.lora_targets)
    info = load_lora_file(backbone.denoiser, file, model_id=backbone.model_id, name=ADAPTER_NAMES[kind], scale=scale,
                          allow_base_mismatch=allow_base_mismatch)
    if info.path != kind:                         # another tool's file: its layers said which path it adapts
        lora.remove(ADAPTER_NAMES[kind])
        _check_kind(file, info.path, kind)
    return info


def remove_adapters(backbone: Any) -> None:
    """Remove the ``motion`` and ``appearance`` adapters (leaves the backbone as it was loaded)."""
    from motion4d.video.lora import get_lora

    lora = get_lora(backbone.denoiser, backbone.lora_targets)
    for name in ADAPTER_NAMES.values():
        if name in lora.adapters:
            lora.remove(name)
