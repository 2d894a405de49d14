"""``generate-video``: base model + optional motion (temporal) and appearance (spatial) LoRAs + optional noise
prior -> ``OUT/video.mp4``, ``OUT/video.gif``, ``OUT/frames/000.png ...`` and ``OUT/settings.json``."""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from pathlib import Path

import torch

from motion4d import __version__
from motion4d.video.adapters import resolve_lora_file  # noqa: F401 - re-exported (its former home)

__all__ = ["GenerateResult", "generate_video", "resolve_lora_file", "reference_latents"]


@dataclass
class GenerateResult:
    """Written files (``mp4``, ``gif``, ``frames``, ``settings``), the seed used, the frames [F, H, W, 3] and
    ``notes``: one line each for the user (e.g. where the noise prior came from)."""

    paths: dict[str, Path]
    seed: int
    frames: torch.Tensor
    settings: dict
    notes: list[str] = field(default_factory=list)


def reference_latents(backbone, source: str | Path, *, num_frames: int, width: int, height: int,
                      fps: float = 8.0) -> torch.Tensor:
    """Latents [1, C, F, h, w] of a noise-prior reference: a video file (its first ``num_frames`` frames at
    ``fps``) or a latent-cache file (``RUN/cache/clip-K.safetensors``, or a converted ``reference.safetensors``)."""
    from motion4d.video.data import VIDEO_EXTS, load_cached_clip, read_rgb, resize_frames

    src = Path(source).expanduser()
    if not src.is_file():
        raise FileNotFoundError(f"noise-prior video {str(src)!r} does not exist")
    if src.suffix == ".safetensors":
        return load_cached_clip(src).latents[None]
    if src.suffix.lower() not in VIDEO_EXTS:
        raise ValueError(f"noise-prior video {str(src)!r} must be a video ({' '.join(VIDEO_EXTS)}) or a latent-cache "
                         f".safetensors file")
    frames, native_fps = read_rgb(src)
    stride = max(1, round(native_fps / fps))
    idx = list(range(0, len(frames), stride))[:num_frames]
    if len(idx) < num_frames:
        raise ValueError(f"noise-prior video {str(src)!r} has {len(idx)} frames at {fps:g} fps, fewer than "
                         f"--frames {num_frames}")
    return backbone.encode_frames(resize_frames(frames[idx], width, height), sample=False).float()


def generate_video(prompt: str, out_dir: str | Path, *, model: str = "zeroscope", motion: str | Path | None = None,
                   appearance: str | Path | None = None, motion_scale: float = 1.0, appearance_scale: float = 1.0,
                   noise_prior: float = 0.0, noise_prior_video: str | Path | None = None, seed: int | None = None,
                   num_frames: int = 16, width: int = 384, height: int = 384, steps: int = 30,
                   guidance: float = 12.0, negative_prompt: str = "", fps: float = 8.0, device: str = "auto",
                   precision: str = "auto", allow_base_mismatch: bool = False, backbone=None,
                   scheduler: str = "ddim", show_progress: bool = True) -> GenerateResult:
    """Generate one clip and write it to ``out_dir`` (see module docstring). Every input is checked before the
    model loads. ``seed=None`` picks a seed and records it in settings.json (rerun with it to get the same video).
    ``backbone`` may pass a loaded backbone (:class:`~motion4d.video.backbones.VideoBackbone`) without adapters;
    ``scheduler`` names the sampling scheduler (``ddim``, ``dpm-solver++``, ...; the noise prior inverts with DDIM).
    With a noise prior, the inversion noise stored in ``noise_prior_video`` (MotionDirector's cached latents, kept
    by ``convert-motiondirector``) is used when its DDIM step count equals ``steps``; otherwise the reference is
    inverted with ``steps`` steps. ``GenerateResult.notes`` (and settings.json ``noise_prior_source``) say which.
    """
    from motion4d.video.adapters import ADAPTER_NAMES, check_lora, load_adapter, remove_adapters
    from motion4d.video.inversion import ddim_invert, mix_noise_prior, stored_inversion_noise
    from motion4d.video.outputs import write_clip
    from motion4d.video.sampling import initial_noise, sample_video
    from motion4d.video.schedulers import SCHEDULERS

    if not prompt or not prompt.strip():
        raise ValueError("the prompt is empty")
    if scheduler not in SCHEDULERS:
        raise ValueError(f"--scheduler {scheduler!r} is not one of: {', '.join(SCHEDULERS)}")
    if not 0.0 <= noise_prior <= 1.0:
        raise ValueError(f"--noise-prior {noise_prior} must be in [0, 1]")
    if noise_prior > 0 and noise_prior_video is None:
        raise ValueError("--noise-prior > 0 needs --noise-prior-video (a reference video or a cached clip from a "
                         "train-motion run: RUN/cache/clip-0000.safetensors)")
    if noise_prior_video is not None and not Path(noise_prior_video).expanduser().is_file():
        raise FileNotFoundError(f"noise-prior video {str(noise_prior_video)!r} does not exist")
    for v, name in ((num_frames, "frames"), (steps, "steps")):
        if v < 1:
            raise ValueError(f"--{name} must be >= 1, got {v}")
    loras = {kind: check_lora(arg, kind) for arg, kind in ((motion, "temporal"), (appearance, "spatial"))
             if arg is not None}
    if seed is None:
        seed = random.SystemRandom().randrange(2**31)

    if backbone is None:
        from motion4d.video.backbones import load_backbone

        backbone = load_backbone(model, device=device, precision=precision)
    backbone.check_size(width, height)
    adapters = {}
    for kind, file in loras.items():     # motion4d.video.adapters: the same path as video SDS's customized model
        scale = motion_scale if kind == "temporal" else appearance_scale
        load_adapter(backbone, file, kind, scale=scale, allow_base_mismatch=allow_base_mismatch)
        adapters[ADAPTER_NAMES[kind]] = {"file": str(file), "scale": scale}
    shape = backbone.latent_shape(1, num_frames, height, width)
    latents = initial_noise(shape, seed, backbone.device, backbone.dtype)
    notes, source = [], None
    if noise_prior > 0:
        stored = stored_inversion_noise(noise_prior_video)
        if stored is not None and stored[1] == steps:
            z_inv = stored[0].to(backbone.device, backbone.dtype)
            source = "stored"
            notes.append(f"noise prior: using the inversion noise stored in {noise_prior_video} ({steps} DDIM steps)")
        else:
            ref = reference_latents(backbone, noise_prior_video, num_frames=num_frames, width=width, height=height,
                                    fps=fps).to(backbone.device, backbone.dtype)
            z_inv = ddim_invert(backbone, ref, backbone.encode_prompt(""), steps=steps, show_progress=show_progress)
            source = "inverted"
            why = ("" if stored is None else f" (its stored inversion noise is for "
                   f"{stored[1] if stored[1] is not None else 'an unrecorded number of'} steps, not {steps})")
            notes.append(f"noise prior: DDIM-inverting {noise_prior_video} with {steps} steps{why}")
        latents = mix_noise_prior(z_inv, latents, noise_prior)
    result = sample_video(backbone, prompt, negative_prompt=negative_prompt, num_frames=num_frames, width=width,
                          height=height, steps=steps, guidance=guidance, latents=latents, scheduler=scheduler,
                          show_progress=show_progress)
    settings = {
        "prompt": prompt, "negative_prompt": negative_prompt, "model": backbone.model_id, "seed": seed,
        "frames": num_frames, "width": width, "height": height, "steps": steps, "guidance": guidance, "fps": fps,
        "scheduler": scheduler,
        "noise_prior": noise_prior, "noise_prior_video": str(noise_prior_video) if noise_prior_video else None,
        "noise_prior_source": source,
        "adapters": adapters, "dtype": str(backbone.dtype).replace("torch.", ""), "device": str(backbone.device),
        "motion4d_version": __version__,
    }
    remove_adapters(backbone)  # leave the UNet as it was for later calls
    paths = write_clip(result.frames[0], out_dir, fps=fps, settings=settings)
    return GenerateResult(paths=paths, seed=seed, frames=result.frames[0], settings=settings, notes=notes)
