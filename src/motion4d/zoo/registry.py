"""The tiny family: one row per model (layout, job, recipe module, whether weights are shipped).

Shipped weights live in ``motion4d/assets/zoo/<key>/`` (diffusers / transformers folder layouts) and are
the output of ``motion4d zoo train KEY --out DIR`` copied there (see the README's zoo section).
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path

__all__ = ["ZooModel", "ZOO", "zoo_model", "task_module", "assets_dir", "shipped_folder", "NotTrainedError"]


class NotTrainedError(ValueError):
    """A tiny model that has a row in the table but no training recipe or shipped weights yet."""


@dataclass(frozen=True)
class ZooModel:
    """``layout``: the folder layout (diffusers/transformers class); ``module``: the recipe module under
    ``motion4d.zoo`` (None: not trained yet); ``needs``: keys whose shipped weights training builds on."""

    key: str
    layout: str
    job: str
    module: str | None
    needs: tuple[str, ...] = ()


ZOO: dict[str, ZooModel] = {m.key: m for m in (
    ZooModel("tiny-vae", "diffusers AutoencoderKL", "64x64 RGB frames <-> 4x16x16 latents (factor 4)", "vae"),
    ZooModel("tiny-clip", "transformers CLIPModel + CLIPTokenizer", "image/text embeddings over the world's "
             "caption vocabulary; text encoder of the others, offline CLIP score", "clip"),
    ZooModel("tiny-t2v", "diffusers TextToVideoSDPipeline (UNet3D, VAE, CLIP text encoder, tokenizer, scheduler)",
             "text to 8x64x64 clips; the stage-1 backbone", "t2v", needs=("tiny-vae", "tiny-clip")),
    ZooModel("tiny-zero123", "Zero123 (8-channel UNet2D, CLIP image encoder, camera projection)",
             "novel views of a 64x64 front view (zero123 camera); guidance type zero123", "zero123",
             needs=("tiny-vae", "tiny-clip")),
    ZooModel("tiny-svd", "diffusers StableVideoDiffusionPipeline (UNetSpatioTemporal, tiny-vae, tiny-clip vision "
             "tower at 224 px, Euler EDM scheduler)", "64x64 image to 8-frame driving clip; image-to-4d", "svd",
             needs=("tiny-vae", "tiny-clip")),
)}


def zoo_model(key: str) -> ZooModel:
    if key not in ZOO:
        raise ValueError(f"unknown tiny model {key!r}; known: {', '.join(ZOO)}")
    return ZOO[key]


def task_module(key: str):
    """The recipe module of ``key``; :class:`NotTrainedError` for rows without one."""
    m = zoo_model(key)
    if m.module is None:
        raise NotTrainedError(f"{key} is not trained yet: it has a row in the zoo table ({m.layout}) but no "
                              f"training recipe; trained now: "
                              f"{', '.join(k for k, v in ZOO.items() if v.module)}")
    return importlib.import_module(f"motion4d.zoo.{m.module}")


def assets_dir() -> Path:
    """``motion4d/assets/zoo`` inside the installed package."""
    return Path(__file__).resolve().parent.parent / "assets" / "zoo"


def shipped_folder(key: str) -> Path:
    """The built-in folder of ``key`` (may not exist yet; see :func:`motion4d.zoo.check_shipped`)."""
    zoo_model(key)
    return assets_dir() / key
