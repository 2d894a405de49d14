"""Loaders for diffusers-layout checkpoints (table key, hub id or local folder).

The models themselves are listed once, in :data:`motion4d.hub.MODELS` (``motion4d models``).
Loading never downloads: :func:`resolve_model` goes through :func:`motion4d.hub.resolve_pretrained`
(local folder, or the local Hugging Face cache) and fails with :class:`motion4d.hub.ModelNotFoundError`
naming the model and the download command. Components are then read from the folder's
sub-folders (``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``, ...), exactly
as diffusers' ``save_pretrained`` writes them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import torch

from motion4d.hub import ModelNotFoundError, resolve_pretrained

__all__ = ["resolve_model", "load_component", "load_scheduler", "load_tokenizer", "load_text_encoder",
           "load_transformers", "weights_variant", "check_layout", "read_model_index"]


def resolve_model(name_or_path: str, purpose: str) -> Path:
    """Local folder of a model (table key, alias, hub id or folder). Never downloads.

    Raises :class:`ModelNotFoundError` naming the model, its use and the download command.
    """
    return resolve_pretrained(str(name_or_path), purpose=purpose)


def read_model_index(root: Path) -> dict:
    """``model_index.json`` of a diffusers folder ({} when absent)."""
    path = Path(root) / "model_index.json"
    return json.loads(path.read_text()) if path.is_file() else {}


def check_layout(root: Path, subfolders: Sequence[str], model: str) -> None:
    """Raise :class:`ModelNotFoundError` naming the missing sub-folders of a diffusers-layout model."""
    missing = [s for s in subfolders if not (Path(root) / s).is_dir()]
    if missing:
        raise ModelNotFoundError(
            f"{model}: folder {str(root)!r} is not a complete diffusers-layout checkpoint; missing "
            f"sub-folder(s) {', '.join(missing)} (expected {', '.join(subfolders)})")


def weights_variant(folder: Path, stem: str) -> str | None:
    """``"fp16"`` when ``folder`` holds only fp16-variant weights (``<stem>.fp16.safetensors``/``.bin``)."""
    if any((folder / f"{stem}.{ext}").is_file() for ext in ("safetensors", "bin")) or \
            any(folder.glob(f"{stem}.safetensors.index.json")) or any(folder.glob(f"{stem}.bin.index.json")):
        return None
    return "fp16" if any(folder.glob(f"{stem}*.fp16*.safetensors")) or any(folder.glob(f"{stem}*.fp16*.bin")) \
        else None


def load_transformers(cls: Any, folder: Path, dtype: torch.dtype, device: torch.device) -> Any:
    """A transformers model (CLIP text / vision) from ``folder``, frozen, on ``device``/``dtype``."""
    variant = weights_variant(Path(folder), "model") or weights_variant(Path(folder), "pytorch_model")
    model = cls.from_pretrained(str(folder), **({"variant": variant} if variant else {}))
    model = model.to(device, dtype)
    model.requires_grad_(False)
    return model.eval()


def load_component(cls: Any, root: Path, subfolder: str, dtype: torch.dtype | None = None,
                   device: torch.device | None = None) -> Any:
    """``cls.from_pretrained(root, subfolder=...)``, frozen, in eval mode, on ``device``/``dtype``.

    Folders holding only ``*.fp16.safetensors`` / ``*.fp16.bin`` weights load that variant.
    """
    kwargs: dict[str, Any] = {"subfolder": subfolder}
    variant = weights_variant(Path(root) / subfolder, "diffusion_pytorch_model")
    if variant:
        kwargs["variant"] = variant
    if dtype is not None:
        kwargs["torch_dtype"] = dtype
    model = cls.from_pretrained(str(root), **kwargs)
    if device is not None:
        model = model.to(device)
    if isinstance(model, torch.nn.Module):
        model.requires_grad_(False)
        model.eval()
    return model


def load_scheduler(root: Path, cls_name: str = "DDIMScheduler") -> Any:
    """The checkpoint's noise schedule as ``cls_name`` (DDIM by default; only the betas matter for SDS)."""
    import diffusers

    return getattr(diffusers, cls_name).from_pretrained(str(root), subfolder="scheduler")


def load_tokenizer(root: Path, subfolder: str = "tokenizer") -> Any:
    from transformers import CLIPTokenizer

    return CLIPTokenizer.from_pretrained(str(Path(root) / subfolder))


def load_text_encoder(root: Path, dtype: torch.dtype, device: torch.device, subfolder: str = "text_encoder") -> Any:
    from transformers import CLIPTextModel

    return load_transformers(CLIPTextModel, Path(root) / subfolder, dtype, device)
