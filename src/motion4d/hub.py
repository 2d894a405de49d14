"""The model table: every pretrained model motion4d can use, and its resolution to a local folder.

:data:`MODELS` is written out below as one explicit table (key -> :class:`ModelInfo`); nothing
registers models at import time. ``motion4d models`` prints it.

Nothing here downloads: :func:`resolve_pretrained` only looks at a built-in folder, a local folder
or the Hugging Face cache (``local_files_only=True``). A missing model raises
:class:`ModelNotFoundError`, whose message names the model, its size and the command that fetches
it (:func:`download_command`, written for the installed huggingface_hub: ``hf download <id>`` from
1.0 on, ``huggingface-cli download <id>`` before).

Licences and sizes come from the project's research notes (``shared/research/*.md``);
``size_gb=None`` means the notes give no figure.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ModelInfo", "MODELS", "ALIASES", "TINY_MODELS", "ModelNotFoundError", "resolve_pretrained", "is_present",
           "model_info", "download_command", "hub_cli_major", "builtin_folder"]


@dataclass(frozen=True)
class ModelInfo:
    """One model motion4d can use.

    Attributes:
        key: short name users type (``motion4d models``, ``model: <key>`` in configs).
        hub_id: Hugging Face hub id (``owner/name``).
        task: text-to-video backbone | novel-view guidance | multi-view guidance | image guidance |
            image-text similarity (metric) | ...
        size_gb: download size of the files motion4d loads, in GB (None: unknown).
        license: licence of the weights (the hub tag where the notes found no other).
        used_by: the motion4d stages / guidance types that load it.
        builtin: folder inside the ``motion4d`` package holding the model (shipped tiny models); None for
            hub models. :func:`resolve_pretrained` returns it without looking at the hub cache.
    """

    key: str
    hub_id: str
    task: str
    size_gb: float | None
    license: str
    used_by: str
    builtin: str | None = None

    @property
    def download_command(self) -> str:
        """The shell command that fetches this model with the installed huggingface_hub (built-in models:
        how to retrain them)."""
        if self.builtin:
            return f"built in (retrain: motion4d zoo train {self.key} --out DIR)"
        return download_command(self.hub_id)


_NC = "cc-by-nc-4.0"
_SD = "openrail++ (CreativeML Open RAIL++-M)"

MODELS: dict[str, ModelInfo] = {
    # text-to-video backbones: one UNet3D architecture (1.41 B params); size = fp16 download
    # (UNet 1.41 B + CLIP-H text encoder 0.35 B + VAE 0.08 B parameters, 2 bytes each)
    "zeroscope": ModelInfo(
        "zeroscope", "cerspense/zeroscope_v2_576w", "text-to-video backbone", 3.7, _NC,
        "motion4d.video (default; trained at 576x320, 24 frames); guidance type video (video SDS, hybrid stage 3)"),
    "modelscope": ModelInfo(
        "modelscope", "damo-vilab/text-to-video-ms-1.7b", "text-to-video backbone", 3.7, _NC,
        "motion4d.video (trained at 256x256, 16 frames); guidance type video (alternative backbone)"),
    # novel-view / multi-view guidance
    "zero123-xl": ModelInfo(
        "zero123-xl", "ashawkey/zero123-xl-diffusers", "novel-view guidance", None, "MIT",
        "lift (static + dynamic, image-conditioned SDS); guidance type zero123"),
    "stable-zero123": ModelInfo(
        "stable-zero123", "ashawkey/stable-zero123-diffusers", "novel-view guidance", None,
        "Stability AI Non-Commercial Research Community License (weights; hub tag MIT)",
        "lift (DreamGaussian4D default); guidance type stable-zero123"),
    "mvdream": ModelInfo(
        "mvdream", "ashawkey/mvdream-sd2.1-diffusers", "multi-view guidance", None, "openrail",
        "lift / hybrid SDS (4D-fy stages 1-3); guidance type mvdream"),
    # image guidance
    "sd21-base": ModelInfo(
        "sd21-base", "stabilityai/stable-diffusion-2-1-base", "image guidance", None, _SD,
        "hybrid SDS (4D-fy stages 2-3, VSD); guidance types sd, vsd"),
    "sd21": ModelInfo(
        "sd21", "stabilityai/stable-diffusion-2-1", "image guidance", None, _SD,
        "hybrid SDS VSD particle (LoRA) model as in 4D-fy (vsd.lora_model: sd21); optional"),
    # image-to-video (image-to-4d's driving clip); size = fp16 weights (UNet 1.52 B + CLIP-H 0.63 B + VAE 0.10 B)
    "svd": ModelInfo(
        "svd", "stabilityai/stable-video-diffusion-img2vid", "image-to-video", 4.5,
        "Stable Video Diffusion NC Community License (research use)",
        "image-to-4d (driving clip, 14 frames; DreamGaussian4D's model)"),
    "svd-xt": ModelInfo(
        "svd-xt", "stabilityai/stable-video-diffusion-img2vid-xt", "image-to-video", 4.5,
        "Stable Video Diffusion NC Community License (research use)", "image-to-4d (25 frames; optional)"),
    # metrics
    "clip-vit-b32": ModelInfo(
        "clip-vit-b32", "openai/clip-vit-base-patch32", "image-text similarity (metric)", 0.6, "MIT",
        "motion4d.metrics (optional CLIP similarity)"),
}

# motion4d-tiny (motion4d.zoo): small models trained on the shapes world, shipped in motion4d/assets/zoo/<key>/,
# the offline default where the real models are absent (docs/guide/zoo.md)
_TINY = (("tiny-vae", "VAE (AutoencoderKL, 64 px frames, factor 4)", "motion4d.zoo, tiny-t2v"),
         ("tiny-clip", "image-text embeddings (CLIPModel + tokenizer)", "motion4d.zoo, tiny-t2v text encoder"),
         ("tiny-t2v", "text-to-video backbone", "motion4d.video, text-to-4d (offline default)"),
         ("tiny-zero123", "novel-view guidance", "lift (offline default; guidance type zero123 at 64 px; "
                                                  "recipe ready, weights not shipped yet)"),
         ("tiny-svd", "image-to-video", "image-to-4d (offline default, 64x64 x 8 frames; recipe ready, weights not "
                                        "shipped yet)"))
TINY_MODELS: dict[str, ModelInfo] = {
    key: ModelInfo(key, f"motion4d/{key}", task, None, "Apache-2.0", used_by, builtin=f"assets/zoo/{key}")
    for key, task, used_by in _TINY}
MODELS.update(TINY_MODELS)

# other names users may type for a table entry
ALIASES: dict[str, str] = {"stable-diffusion-2-1-base": "sd21-base", "sd2.1-base": "sd21-base",
                           "zero123": "zero123-xl"}


def hub_cli_major() -> int:
    """Major version of the installed huggingface_hub (0 when it is not installed)."""
    try:
        from importlib.metadata import version

        return int(version("huggingface_hub").split(".")[0])
    except Exception:  # noqa: BLE001 - not installed or an odd version string
        return 0


def download_command(hub_id: str) -> str:
    """``hf download <id>`` (huggingface_hub >= 1.0 ships only ``hf``), else ``huggingface-cli download <id>``."""
    return f"{'hf' if hub_cli_major() >= 1 else 'huggingface-cli'} download {hub_id}"


def model_info(name_or_id: str) -> ModelInfo | None:
    """Table entry by short key, alias or hub id, or None."""
    name = ALIASES.get(name_or_id, name_or_id)
    if name in MODELS:
        return MODELS[name]
    return next((m for m in MODELS.values() if m.hub_id == name_or_id), None)


class ModelNotFoundError(FileNotFoundError):
    """A pretrained model is neither a local folder nor in the local Hugging Face cache."""


def builtin_folder(info: ModelInfo) -> Path:
    """The shipped folder of a built-in model; :class:`ModelNotFoundError` naming it when it is absent or empty."""
    from importlib import resources

    folder = Path(str(resources.files("motion4d"))) / str(info.builtin)
    if not folder.is_dir() or not any(folder.iterdir()):
        raise ModelNotFoundError(
            f"built-in model {info.key!r} has no weights in {str(folder)!r} ({info.used_by}); train it with\n"
            f"    motion4d zoo train {info.key} --out DIR\nand ship it with: motion4d zoo ship {info.key} --from DIR/model")
    return folder


def resolve_pretrained(name_or_path: str | os.PathLike, *, purpose: str = "") -> Path:
    """Local folder of a model given a table key, an alias, a hub id or a folder path.

    Built-in models (``builtin`` set) resolve to their folder inside the package. Raises
    :class:`ModelNotFoundError` with the download command when a hub model is not available offline.
    """
    text = str(name_or_path)
    path = Path(text).expanduser()
    if path.is_dir():
        return path
    info = model_info(text)
    what = f" for {purpose}" if purpose else ""
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
    raise ModelNotFoundError(
        f"model {hub_id!r}{what} is not available locally{size}. Download it once with\n"
        f"    {download_command(hub_id)}\n"
        f"(or pass a local folder in diffusers layout). motion4d never downloads at run time.")


def is_present(name_or_path: str) -> bool:
    """True when :func:`resolve_pretrained` would succeed."""
    try:
        resolve_pretrained(name_or_path)
        return True
    except ModelNotFoundError:
        return False
