"""Pretrained-model registry and resolution (hub id or local folder), with one clear error when absent.

Nothing here downloads: ``resolve_pretrained`` only looks at a local folder or the Hugging Face
cache (``local_files_only=True``). A missing model raises :class:`ModelNotFoundError`, whose message
names the model, its size and the command that fetches it.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelInfo", "MODELS", "ModelNotFoundError", "resolve_pretrained", "is_present", "model_info",
           "TINY_MODELS", "builtin_folder"]


@dataclass(frozen=True)
class ModelInfo:
    """One model motion4d can use.

    ``size_gb`` is the download size of the files motion4d loads; ``task`` is one of
    text-to-video backbone, novel-view guidance, multi-view guidance, image guidance.
    """

    key: str
    hub_id: str
    task: str
    size_gb: float | None
    license: str
    used_by: str
    builtin: str | None = None    # motion4d-tiny: folder under motion4d/assets/ shipped with the package

    @property
    def download_command(self) -> str:
        if self.builtin:
            return f"built in (retrain: motion4d zoo train {self.key} --out DIR)"
        return f"huggingface-cli download {self.hub_id}"


# Filled in by the guidance and text-to-video modules' owners; keys are short names users type.
MODELS: dict[str, ModelInfo] = {}


def register_model(info: ModelInfo) -> ModelInfo:
    MODELS[info.key] = info
    return info


def model_info(name_or_id: str) -> ModelInfo | None:
    """Registry entry by short key or hub id, or None."""
    if name_or_id in MODELS:
        return MODELS[name_or_id]
    return next((m for m in MODELS.values() if m.hub_id == name_or_id), None)


class ModelNotFoundError(FileNotFoundError):
    """A pretrained model is neither a local folder nor in the local Hugging Face cache."""


def resolve_pretrained(name_or_path: str | os.PathLike, *, purpose: str = "") -> Path:
    """Local folder of a model given a registry key, a hub id or a folder path.

    Raises :class:`ModelNotFoundError` with download instructions when it is not available offline.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    info = model_info(text)
    if info is not None and info.builtin:
        return builtin_folder(info)
    hub_id = info.hub_id if info else text
    if text.startswith((".", "/", "~")) or (os.sep in text and text.count("/") != 1):
        raise ModelNotFoundError(f"model folder {text!r} does not exist")
    try:
        from huggingface_hub import snapshot_download

        return Path(snapshot_download(hub_id, local_files_only=True))
    except Exception:  # noqa: BLE001 - any failure here means "not in the local cache"
        pass
    size = f", {info.size_gb:g} GB" if info and info.size_gb else ""
    what = f" for {purpose}" if purpose else ""
    raise ModelNotFoundError(
        f"model {hub_id!r}{what} is not available locally{size}. Download it once with\n"
        f"    huggingface-cli download {hub_id}\n"
        f"(or pass a local folder in diffusers layout). motion4d never downloads at run time.")


def is_present(name_or_path: str) -> bool:
    """True when :func:`resolve_pretrained` would succeed."""
    try:
        resolve_pretrained(name_or_path)
        return True
    except ModelNotFoundError:
        return False


# --- motion4d-tiny (motion4d.zoo): built-in models shipped in motion4d/assets/zoo/<key>/ ----------------------
# Rows of the model table whose weights ship with the package (``builtin``); resolve_pretrained returns their
# folder. Trained by ``motion4d zoo train KEY`` on the shapes world (README, zoo section).
_ASSETS = Path(__file__).resolve().parent / "assets"
_TINY = (("tiny-vae", "VAE (AutoencoderKL, 64 px frames, factor 4)", "motion4d.zoo, tiny-t2v"),
         ("tiny-clip", "image-text embeddings (CLIPModel + tokenizer)", "motion4d.zoo, tiny-t2v text encoder"),
         ("tiny-t2v", "text-to-video backbone", "motion4d.video (offline default)"),
         ("tiny-zero123", "novel-view guidance", "not trained yet"),
         ("tiny-svd", "image-to-video", "not trained yet"))
TINY_MODELS: dict[str, ModelInfo] = {
    key: ModelInfo(key=key, hub_id=f"motion4d/{key}", task=task, size_gb=None, license="Apache-2.0",
                   used_by=used_by, builtin=f"zoo/{key}") for key, task, used_by in _TINY}
MODELS.update(TINY_MODELS)


def builtin_folder(info: ModelInfo) -> Path:
    """The shipped folder of a built-in model; :class:`ModelNotFoundError` naming it when it is absent."""
    folder = _ASSETS / str(info.builtin)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise ModelNotFoundError(
            f"built-in model {info.key!r} has no weights in {str(folder)!r} ({info.used_by}); train it with\n"
            f"    motion4d zoo train {info.key} --out DIR\nand copy DIR/model to that folder")
    return folder
