"""Tiny text-to-video components for the video tests: the tiny model is motion4d.guidance.tiny's one builder
(:func:`~motion4d.guidance.tiny.build_tiny_t2v`, the same vocabulary as every tiny checkpoint) with a 2-block VAE
(factor 2, so a 32x32 clip has 16x16 latents) and a 4-wide text encoder; plus procedural clips and helpers.
"""
from __future__ import annotations

from pathlib import Path

import torch


def build_tiny_model(folder: str | Path, seed: int = 0, channels: tuple[int, int] = (8, 8)) -> Path:
    """Write a tiny ZeroScope-like model (unet, vae, text_encoder, tokenizer, scheduler) into ``folder``.
    ``channels`` are the UNet's block widths (the tests use (8, 8); benchmarks may use wider ones)."""
    from motion4d.guidance.tiny import build_tiny_t2v

    return build_tiny_t2v(folder, seed=seed, channels=channels, text_dim=4, vae_blocks=2,
                          name_or_path="motion4d-tests/tiny-t2v")


def moving_square_clip(num_frames: int = 8, size: int = 32, square: int = 10, dx: int = 2, dy: int = 1,
                       background=(0.1, 0.1, 0.3), colour=(1.0, 0.8, 0.1), start=(2, 4)) -> torch.Tensor:
    """A procedural clip [F, H, W, 3] in [0, 1]: a square moving by (dx, dy) pixels per frame (clipped at the
    borders)."""
    frames = torch.empty(num_frames, size, size, 3)
    frames[:] = torch.tensor(background)
    for i in range(num_frames):
        x0, y0 = start[0] + i * dx, start[1] + i * dy
        xa, ya, xb, yb = max(0, x0), max(0, y0), min(size, x0 + square), min(size, y0 + square)
        if xa < xb and ya < yb:
            frames[i, ya:yb, xa:xb] = torch.tensor(colour)
    return frames


_BUILT: dict = {}


def tiny_model_dir(tmp_path_factory, seed: int = 0) -> Path:
    """Build (once per test session and seed) the tiny model folder and return it."""
    if seed not in _BUILT:
        _BUILT[seed] = build_tiny_model(tmp_path_factory.mktemp(f"tiny_t2v_{seed}"), seed=seed)
    return _BUILT[seed]


def load_tiny(folder: Path):
    from motion4d.video.backbones import load_backbone

    return load_backbone(str(folder), device="cpu")


def single_thread():
    """Generator body for an autouse fixture: torch on one thread (the test machine's cores are shared)."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)


def write_square_video(path: Path, num_frames: int = 12, fps: float = 8.0, **kw) -> Path:
    from motion4d.utils.media import write_mp4

    return write_mp4(moving_square_clip(num_frames, **kw), path, fps=fps)


def unet_out(backbone, latents: torch.Tensor, t: int = 500, prompt: str = "lower") -> torch.Tensor:
    with torch.no_grad():
        return backbone.unet(latents, t, encoder_hidden_states=backbone.encode_prompt(prompt)).sample
