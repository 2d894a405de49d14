"""Image -> driving video with Stable Video Diffusion (DreamGaussian4D's ``scripts/gen_vid.py``, as a function).

DreamGaussian4D makes the clip it lifts to 4D by calling diffusers' ``StableVideoDiffusionPipeline`` on the
input image (background removed, composited on white) with the pipeline's defaults: 14 frames for the
``img2vid`` model, 25 Euler steps, fps conditioning 7, motion bucket 127, noise augmentation 0.02 and a
per-frame guidance ramp 1 -> 3; different seeds give different motions. Those are the defaults here too.

The model loads from a registry key (``svd``, ``svd-xt``, ``tiny-svd``), a hub id in the local Hugging Face
cache or a local folder in the diffusers layout (``model_index.json``, ``unet/``, ``vae/``, ``image_encoder/``,
``scheduler/``, ``feature_extractor/``); nothing is downloaded at run time.
"""
from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["ImageToVideoSettings", "image_to_video", "load_svd"]


@dataclass
class ImageToVideoSettings:
    """SVD sampling settings (diffusers' names and defaults; ``frames=None`` = the UNet's trained length)."""

    frames: int | None = None
    width: int = 512
    height: int = 512
    steps: int = 25
    fps: int = 7
    motion_bucket_id: int = 127
    noise_aug_strength: float = 0.02
    min_guidance: float = 1.0
    max_guidance: float = 3.0
    decode_chunk_size: int = 8
    """Frames decoded at once: lower saves memory, 1 may flicker (diffusers' SVD guide)."""
    extra: dict = field(default_factory=dict)
    """Further keyword arguments for diffusers' ``StableVideoDiffusionPipeline.__call__``."""

    def check(self) -> None:
        for key in ("width", "height"):
            v = getattr(self, key)
            if v < 8 or v % 8:
                raise ValueError(f"image-to-video {key}={v} must be a positive multiple of 8")
        if self.frames is not None and self.frames < 2:
            raise ValueError(f"image-to-video frames={self.frames} must be >= 2")
        if self.steps < 1 or self.fps < 1 or self.decode_chunk_size < 1:
            raise ValueError("image-to-video steps, fps and decode_chunk_size must be >= 1")
        if not 0 <= self.noise_aug_strength <= 1 or self.min_guidance > self.max_guidance:
            raise ValueError("image-to-video needs 0 <= noise_aug_strength <= 1 and min_guidance <= max_guidance")


def load_svd(model: str = "svd", device: str = "auto", precision: str = "auto"):
    """``StableVideoDiffusionPipeline`` from a key, hub id or folder, on ``device`` (fp16 on CUDA, fp32 on CPU).

    Raises :class:`motion4d.hub.ModelNotFoundError` with the download command when the model is absent.
    """
    from diffusers import StableVideoDiffusionPipeline

    from motion4d.hub import resolve_pretrained
    from motion4d.utils.device import default_dtype, resolve_device

    root = resolve_pretrained(model, purpose="image-to-video (Stable Video Diffusion)")
    if not (root / "model_index.json").is_file():
        raise FileNotFoundError(f"{root} is not a diffusers pipeline folder (no model_index.json)")
    dev = resolve_device(device)
    dtype = default_dtype(dev, precision)
    variant = "fp16" if dtype == torch.float16 and any(root.glob("unet/*.fp16.safetensors")) else None
    with _plain_vae_accepted():
        pipe = StableVideoDiffusionPipeline.from_pretrained(root, torch_dtype=dtype, variant=variant,
                                                            local_files_only=True)
    pipe.set_progress_bar_config(disable=True)
    return pipe.to(dev)


@contextmanager
def _plain_vae_accepted():
    """Silence diffusers' "Expected types for vae" warning while loading: the pipeline decodes frame by frame with a
    plain ``AutoencoderKL`` (its ``decode_latents`` passes ``num_frames`` only to VAEs that take it), which is what
    motion4d's tiny-svd ships (see :mod:`motion4d.zoo.svd`). Other warnings pass through."""
    import logging

    class _Drop(logging.Filter):
        def filter(self, record: logging.LogRecord) -> bool:
            msg = record.getMessage()
            return not (msg.startswith("Expected types for vae") and "AutoencoderKL'>" in msg)

    log = logging.getLogger("diffusers.pipelines.pipeline_utils")
    f = _Drop()
    log.addFilter(f)
    try:
        yield
    finally:
        log.removeFilter(f)


def image_to_video(image: np.ndarray, settings: ImageToVideoSettings | None = None, *, model: str = "svd",
                   seed: int = 0, device: str = "auto", pipe=None) -> np.ndarray:
    """Frames ``float32 [F, H, W, 3]`` in [0, 1] of a clip that starts from ``image``.

    Args:
        image: ``[H, W, 3]`` uint8 or float in [0, 1] (composite RGBA inputs on a background first).
        settings: sampling settings (default: DreamGaussian4D's).
        seed: the generator seed (a CPU generator, so a seed gives the same clip on every device).
        pipe: an already loaded pipeline (:func:`load_svd`), reused between calls.
    """
    from PIL import Image

    s = settings or ImageToVideoSettings()
    s.check()
    x = np.asarray(image)
    if x.ndim != 3 or x.shape[-1] != 3:
        raise ValueError(f"image must be [H, W, 3], got shape {x.shape}")
    if x.dtype != np.uint8:
        x = (np.clip(x, 0.0, 1.0) * 255).round().astype(np.uint8)
    pipe = pipe or load_svd(model, device)
    out = pipe(Image.fromarray(x), height=s.height, width=s.width, num_frames=s.frames, num_inference_steps=s.steps,
               min_guidance_scale=s.min_guidance, max_guidance_scale=s.max_guidance, fps=s.fps,
               motion_bucket_id=s.motion_bucket_id, noise_aug_strength=s.noise_aug_strength,
               decode_chunk_size=s.decode_chunk_size, generator=torch.Generator().manual_seed(int(seed)),
               output_type="np", **s.extra)
    frames = np.asarray(out.frames[0], dtype=np.float32)
    return np.clip(frames, 0.0, 1.0)
