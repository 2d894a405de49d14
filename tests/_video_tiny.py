"""Tiny text-to-video components built offline from configs and saved in the diffusers folder layout.

Sizes follow diffusers' own T2V fast tests (research notes §7), with a 2-block VAE (factor 2) so that a 32x32 clip
has 16x16 latents. The CLIP tokenizer is built from a 23-token vocab.json + merges.txt (no hub access).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

VOCAB = ["l", "o", "w", "e", "r", "s", "t", "i", "d", "n", "lo", "l</w>", "w</w>", "r</w>", "t</w>", "low</w>",
         "er</w>", "lowest</w>", "newer</w>", "wider", "<unk>", "<|startoftext|>", "<|endoftext|>"]
MERGES = ["#version: 0.2", "l o", "lo w</w>", "e r</w>"]


def build_tiny_model(folder: str | Path, seed: int = 0, channels: tuple[int, int] = (8, 8)) -> Path:
    """Write a tiny ZeroScope-like model (unet, vae, text_encoder, tokenizer, scheduler) into ``folder``.
    ``channels`` are the UNet's block widths (the tests use (8, 8); benchmarks may use wider ones)."""
    from diffusers import AutoencoderKL, DDIMScheduler, UNet3DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(seed)
    unet = UNet3DConditionModel(
        block_out_channels=tuple(channels), layers_per_block=1, sample_size=16, in_channels=4, out_channels=4,
        down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"), up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"),
        cross_attention_dim=4, attention_head_dim=4, norm_num_groups=2)
    torch.manual_seed(seed)
    vae = AutoencoderKL(block_out_channels=(8, 8), in_channels=3, out_channels=3,
                        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
                        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"), latent_channels=4, sample_size=32,
                        norm_num_groups=2)
    torch.manual_seed(seed)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=4, intermediate_size=16, layer_norm_eps=1e-5,
        num_attention_heads=2, num_hidden_layers=2, vocab_size=1000, hidden_act="gelu", projection_dim=32))
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                              set_alpha_to_one=False)
    unet.save_pretrained(folder / "unet")
    vae.save_pretrained(folder / "vae")
    text_encoder.save_pretrained(folder / "text_encoder")
    scheduler.save_pretrained(folder / "scheduler")
    tok_dir = folder / "tokenizer"
    tok_dir.mkdir(exist_ok=True)
    (tok_dir / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    (tok_dir / "merges.txt").write_text("\n".join(MERGES) + "\n")
    tokenizer = CLIPTokenizer(str(tok_dir / "vocab.json"), str(tok_dir / "merges.txt"), model_max_length=77)
    tokenizer.save_pretrained(tok_dir)
    (folder / "model_index.json").write_text(json.dumps({
        "_class_name": "TextToVideoSDPipeline", "_name_or_path": "motion4d-tests/tiny-t2v",
        "unet": ["diffusers", "UNet3DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
        "text_encoder": ["transformers", "CLIPTextModel"], "tokenizer": ["transformers", "CLIPTokenizer"],
        "scheduler": ["diffusers", "DDIMScheduler"]}, indent=2))
    return folder


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
