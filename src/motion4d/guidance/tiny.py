"""Tiny random diffusion checkpoints in the exact diffusers folder layouts (for tests and benchmarks).

``tiny_checkpoint(kind)`` writes (once per process, in a temporary folder) and returns a folder that
the guidance loaders read exactly as they read a hub snapshot: ``model_index.json`` plus one
sub-folder per component. Kinds: ``zero123`` (Zero123Pipeline layout), ``sd``
(StableDiffusionPipeline), ``mvdream`` (MVDreamPipeline with ``MultiViewUNetModel``), ``video``
(TextToVideoSDPipeline). Use them with ``GuidanceConfig(model=str(folder), height=8, width=8)``.
The weights are random: outputs are meaningless, shapes and code paths are the real ones.
"""
from __future__ import annotations

import atexit
import json
import shutil
import tempfile
from pathlib import Path

import torch

__all__ = ["tiny_checkpoint", "tiny_zero123", "tiny_sd", "tiny_mvdream", "tiny_video", "build_tiny_t2v", "MV_TINY",
           "VOCAB", "MERGES"]

_ROOT: Path | None = None
_BUILT: dict[str, Path] = {}

VOCAB = ["l", "o", "w", "e", "r", "s", "t", "i", "d", "n", "lo", "l</w>", "w</w>", "r</w>", "t</w>", "low</w>",
         "er</w>", "lowest</w>", "newer</w>", "wider", "<unk>", "<|startoftext|>", "<|endoftext|>"]
MERGES = ["#version: 0.2", "l o", "lo w</w>", "e r</w>"]
TEXT_DIM = 8


def _root() -> Path:
    global _ROOT
    if _ROOT is None:
        _ROOT = Path(tempfile.mkdtemp(prefix="motion4d-tiny-guidance-"))
        atexit.register(shutil.rmtree, _ROOT, True)
    return _ROOT


def _index(root: Path, cls: str, components: dict, name_or_path: str | None = None) -> None:
    data = {"_class_name": cls, "_diffusers_version": "0.24.0", **components}
    if name_or_path:
        data["_name_or_path"] = name_or_path
    (root / "model_index.json").write_text(json.dumps(data, indent=2))


def _scheduler(root: Path) -> None:
    from diffusers import DDIMScheduler

    DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", clip_sample=False,
                  set_alpha_to_one=False).save_pretrained(root / "scheduler")


def _vae(root: Path, blocks: int = 1, seed: int = 0) -> None:
    """AutoencoderKL with ``blocks`` 8-channel blocks: downscale factor ``2 ** (blocks - 1)``."""
    from diffusers import AutoencoderKL

    torch.manual_seed(seed)
    AutoencoderKL(block_out_channels=(8,) * blocks, in_channels=3, out_channels=3,
                  down_block_types=("DownEncoderBlock2D",) * blocks, up_block_types=("UpDecoderBlock2D",) * blocks,
                  latent_channels=4, sample_size=16 * 2 ** (blocks - 1), norm_num_groups=2).save_pretrained(root / "vae")


def _text(root: Path, dim: int = TEXT_DIM, seed: int = 0) -> None:
    """CLIP tokenizer from the 23-token :data:`VOCAB` and :data:`MERGES` (no hub access), text encoder of width
    ``dim``."""
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    tok_dir = root / "tokenizer"
    tok_dir.mkdir(parents=True)
    tmp = root / "_tok"
    tmp.mkdir()
    (tmp / "vocab.json").write_text(json.dumps({t: i for i, t in enumerate(VOCAB)}))
    (tmp / "merges.txt").write_text("\n".join(MERGES) + "\n")
    CLIPTokenizer(str(tmp / "vocab.json"), str(tmp / "merges.txt"), model_max_length=77).save_pretrained(tok_dir)
    shutil.rmtree(tmp)
    torch.manual_seed(seed)
    cfg = CLIPTextConfig(bos_token_id=0, eos_token_id=2, pad_token_id=1, hidden_size=dim, intermediate_size=16,
                         layer_norm_eps=1e-5, num_attention_heads=2, num_hidden_layers=2, vocab_size=1000,
                         hidden_act="gelu", projection_dim=8)
    CLIPTextModel(cfg).save_pretrained(root / "text_encoder")


def _unet2d(root: Path, in_channels: int, cross_dim: int) -> None:
    from diffusers import UNet2DConditionModel

    torch.manual_seed(0)
    UNet2DConditionModel(block_out_channels=(4, 8), layers_per_block=1, sample_size=8, in_channels=in_channels,
                         out_channels=4, down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"),
                         up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"), cross_attention_dim=cross_dim,
                         attention_head_dim=2, norm_num_groups=2).save_pretrained(root / "unet")


def tiny_zero123() -> Path:
    """``ashawkey/zero123-xl-diffusers`` layout (Zero123Pipeline)."""
    if "zero123" in _BUILT:
        return _BUILT["zero123"]
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    from motion4d.guidance.zero123 import CLIPCameraProjection

    root = _root() / "zero123"
    root.mkdir()
    _scheduler(root)
    _vae(root)
    _unet2d(root, in_channels=8, cross_dim=8)
    torch.manual_seed(0)
    vcfg = CLIPVisionConfig(hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=1,
                            image_size=16, patch_size=8, projection_dim=8)
    CLIPVisionModelWithProjection(vcfg).save_pretrained(root / "image_encoder")
    (root / "feature_extractor").mkdir()
    (root / "feature_extractor" / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "CLIPImageProcessor", "do_normalize": True, "do_resize": True,
        "image_mean": [0.48145466, 0.4578275, 0.40821073], "image_std": [0.26862954, 0.26130258, 0.27577711],
        "size": {"shortest_edge": 16}, "crop_size": {"height": 16, "width": 16}}))
    CLIPCameraProjection(embedding_dim=8, additional_embeddings=4).save_pretrained(root / "clip_camera_projection")
    _index(root, "Zero123Pipeline", {
        "clip_camera_projection": ["zero123", "CLIPCameraProjection"],
        "feature_extractor": ["transformers", "CLIPImageProcessor"],
        "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
        "requires_safety_checker": True, "safety_checker": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    _BUILT["zero123"] = root
    return root


def tiny_sd() -> Path:
    """``stabilityai/stable-diffusion-2-1-base`` layout (StableDiffusionPipeline)."""
    if "sd" in _BUILT:
        return _BUILT["sd"]
    root = _root() / "sd"
    root.mkdir()
    _scheduler(root)
    _vae(root)
    _text(root)
    _unet2d(root, in_channels=4, cross_dim=TEXT_DIM)
    _index(root, "StableDiffusionPipeline", {
        "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet2DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    _BUILT["sd"] = root
    return root


MV_TINY = dict(image_size=8, in_channels=4, model_channels=32, out_channels=4, num_res_blocks=1,
               attention_resolutions=[1, 2], channel_mult=[1, 2], num_head_channels=16, context_dim=TEXT_DIM,
               camera_dim=16, transformer_depth=1)


def tiny_mvdream() -> Path:
    """``ashawkey/mvdream-sd2.1-diffusers`` layout (MVDreamPipeline with unet/mv_unet.MultiViewUNetModel)."""
    if "mvdream" in _BUILT:
        return _BUILT["mvdream"]
    from motion4d.guidance.mv_unet import MultiViewUNetModel

    root = _root() / "mvdream"
    root.mkdir()
    _scheduler(root)
    _vae(root)
    _text(root)
    torch.manual_seed(0)
    MultiViewUNetModel(**MV_TINY).save_pretrained(root / "unet")
    _index(root, "MVDreamPipeline", {
        "feature_extractor": [None, None], "image_encoder": [None, None],
        "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["mv_unet", "MultiViewUNetModel"],
        "vae": ["diffusers", "AutoencoderKL"]})
    _BUILT["mvdream"] = root
    return root


def build_tiny_t2v(root: str | Path, *, seed: int = 0, channels: tuple[int, int] = (8, 8), text_dim: int = TEXT_DIM,
                   vae_blocks: int = 1, name_or_path: str | None = None) -> Path:
    """Write a tiny ZeroScope-like text-to-video model (``TextToVideoSDPipeline`` layout: unet, vae, text_encoder,
    tokenizer, scheduler) into ``root`` and return it. Sizes follow diffusers' own T2V fast tests: a 2-block
    UNet3D of widths ``channels``, a ``vae_blocks``-block VAE (factor ``2 ** (vae_blocks - 1)``), a CLIP text
    encoder of width ``text_dim``; every component is initialised from ``torch.manual_seed(seed)``.
    ``name_or_path`` is recorded in ``model_index.json`` (what motion4d reports as the model id)."""
    from diffusers import UNet3DConditionModel

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    _scheduler(root)
    _vae(root, vae_blocks, seed)
    _text(root, text_dim, seed)
    torch.manual_seed(seed)
    UNet3DConditionModel(block_out_channels=tuple(channels), layers_per_block=1, sample_size=8 * 2 ** (vae_blocks - 1),
                         in_channels=4, out_channels=4, down_block_types=("CrossAttnDownBlock3D", "DownBlock3D"),
                         up_block_types=("UpBlock3D", "CrossAttnUpBlock3D"), cross_attention_dim=text_dim,
                         attention_head_dim=4, norm_num_groups=2).save_pretrained(root / "unet")
    _index(root, "TextToVideoSDPipeline", {
        "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
        "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet3DConditionModel"],
        "vae": ["diffusers", "AutoencoderKL"]}, name_or_path)
    return root


def tiny_video() -> Path:
    """``cerspense/zeroscope_v2_576w`` layout (TextToVideoSDPipeline): :func:`build_tiny_t2v` with a factor-1 VAE
    and an 8-wide text encoder."""
    if "video" not in _BUILT:
        _BUILT["video"] = build_tiny_t2v(_root() / "video")
    return _BUILT["video"]


def tiny_checkpoint(kind: str) -> Path:
    """Folder of the tiny ``kind`` checkpoint (zero123 | sd | mvdream | video), built on first use."""
    builders = {"zero123": tiny_zero123, "sd": tiny_sd, "mvdream": tiny_mvdream, "video": tiny_video}
    if kind not in builders:
        raise ValueError(f"tiny checkpoint kind {kind!r} is not one of {', '.join(builders)}")
    return builders[kind]()
