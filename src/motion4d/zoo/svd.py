"""tiny-svd: an image-to-video model in the Stable Video Diffusion diffusers layout, trained on shapes-world clips.

The folder is what :func:`motion4d.video.image_to_video.load_svd` (diffusers' ``StableVideoDiffusionPipeline
.from_pretrained``) loads unchanged, and the image-to-4d pipeline's offline default (``drive.model=auto``)::

    model_index.json     StableVideoDiffusionPipeline (vae class AutoencoderKL)
    unet/                UNetSpatioTemporalConditionModel, 8 input channels (noisy latent + conditioning latent),
                         trained, saved in fp16 (loads as fp32 on the CPU)
    vae/                 tiny-vae unchanged (AutoencoderKL, factor 4), frozen: the pipeline decodes frame by frame
                         when the VAE's forward takes no ``num_frames`` (diffusers' AutoencoderKLTemporalDecoder has
                         no ``norm_num_groups`` and so cannot hold tiny-vae's 8-group encoder)
    image_encoder/       tiny-clip's vision tower re-expressed at 224 px (:func:`~motion4d.zoo.svd_cond
                         .vision_tower_224`), frozen
    feature_extractor/   CLIPImageProcessor at 224 px with CLIP's mean/std (the pipeline only normalises with it)
    scheduler/           SVD's EulerDiscreteScheduler config (v-prediction, EDM, Karras sigmas 0.002..700)

Data (:func:`motion4d.zoo.data.render_clips`): front-view clips of one-object train-split scenes, 8 frames over the
whole motion, 64x64 over white; frame 0 conditions, the 8 frames are the target; each clip is also used mirrored
left-right. Cached once: clip latents (VAE mode x ``scaling_factor``), frame 0 (uint8) and its CLIP image embedding
computed as the pipeline computes it. Per step the conditioning latent is encoded from frame 0 plus pixel noise of a
random strength in ``[0, noise_aug_max]`` (the pipeline's ``noise_aug_strength``, also fed as an added time id).

Loss (:mod:`motion4d.zoo.svd_cond`): log sigma ~ N(``p_mean``, ``p_std``), EDM v-preconditioning exactly as the Euler
scheduler inverts it, plain MSE on the UNet output; ``cfg_drop`` of the rows have the image embedding and the
conditioning latent both zeroed (the pipeline's unconditional half). ``fps`` and ``motion_bucket_id`` are fixed at
the pipeline's defaults (7 and 127): the model was never shown other values. Quality (:func:`evaluate`): clips made by
:func:`~motion4d.video.image_to_video.image_to_video` from unseen first frames, judged by
:func:`motion4d.zoo.judge.judge_image_to_video` (keeps the object and moves it).
"""
from __future__ import annotations

import copy
import shutil
from pathlib import Path

import torch

from motion4d.zoo.svd_cond import SCHEDULER

__all__ = ["KEY", "FILES", "defaults", "build", "prepare", "loss", "export", "evaluate", "SCHEDULER", "drive_settings"]

KEY = "tiny-svd"
FILES = ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
         "vae/diffusion_pytorch_model.safetensors", "image_encoder/config.json", "image_encoder/model.safetensors",
         "feature_extractor/preprocessor_config.json", "scheduler/scheduler_config.json")
defaults = {"vae": "tiny-vae", "clip": "tiny-clip", "channels": "32,64,64", "heads": "2,4,4", "time_dim": 32,
            "clips": 1024, "frames": 8, "mirror": 1, "steps": 1200, "batch": 8, "lr": 3e-4, "warmup": 100,
            "ckpt_every": 100, "cfg_drop": 0.1, "p_mean": 0.7, "p_std": 1.6, "noise_aug_max": 0.1, "fps": 7,
            "motion_bucket_id": 127, "export_fp16": 1, "eval_scenes": 32, "eval_steps": 25}
_CHUNK = 256                        # clips per rendered cache file


def _ints(value, name: str) -> tuple[int, ...]:
    try:
        out = tuple(int(c) for c in str(value).split(","))
    except ValueError:
        out = ()
    if not out:
        raise ValueError(f"{name} must be comma-separated integers, got {value!r}")
    return out


def build(cfg: dict, device) -> torch.nn.Module:
    """UNetSpatioTemporalConditionModel: ``channels`` per level (multiples of 32: its GroupNorms have 32 groups),
    spatial+temporal attention at the inner levels and the mid block only (none at the 16x16 latent level)."""
    import json

    from diffusers import UNetSpatioTemporalConditionModel

    from motion4d.hub import resolve_pretrained

    ch, heads = _ints(cfg["channels"], "channels"), _ints(cfg["heads"], "heads")
    if len(ch) < 2 or len(heads) != len(ch) or any(c % 32 for c in ch):
        raise ValueError(f"channels must be >= 2 levels of multiples of 32 and heads one per level; got "
                         f"channels={cfg['channels']!r}, heads={cfg['heads']!r}")
    dim = int(json.loads((resolve_pretrained(cfg["clip"]) / "config.json").read_text())["projection_dim"])
    inner = len(ch) - 2
    down = ("DownBlockSpatioTemporal",) + ("CrossAttnDownBlockSpatioTemporal",) * inner + ("DownBlockSpatioTemporal",)
    up = ("UpBlockSpatioTemporal",) + ("CrossAttnUpBlockSpatioTemporal",) * inner + ("UpBlockSpatioTemporal",)
    if inner == 0:                  # two levels: attention at the lower one
        down, up = ("DownBlockSpatioTemporal", "CrossAttnDownBlockSpatioTemporal"), \
            ("CrossAttnUpBlockSpatioTemporal", "UpBlockSpatioTemporal")
    t = int(cfg["time_dim"])
    return UNetSpatioTemporalConditionModel(
        sample_size=16, in_channels=8, out_channels=4, down_block_types=down, up_block_types=up,
        block_out_channels=ch, addition_time_embed_dim=t, projection_class_embeddings_input_dim=3 * t,
        layers_per_block=1, cross_attention_dim=dim, num_attention_heads=heads, num_frames=int(cfg["frames"]))


def _parts(cfg: dict, parts_dir: Path) -> Path:
    """The frozen components (vae, image_encoder, feature_extractor), made once into the run."""
    from transformers import CLIPImageProcessor

    from motion4d.hub import resolve_pretrained
    from motion4d.utils.io import atomic_dir
    from motion4d.zoo.svd_cond import CLIP_SIZE, vision_tower_224

    if not parts_dir.is_dir():
        vae_dir, clip_dir = resolve_pretrained(cfg["vae"]), resolve_pretrained(cfg["clip"])
        import json

        pre = json.loads((clip_dir / "preprocessor_config.json").read_text())
        with atomic_dir(parts_dir) as tmp:
            shutil.copytree(vae_dir, tmp / "vae", ignore=shutil.ignore_patterns("zoo_recipe.json"))
            vision_tower_224(clip_dir).save_pretrained(str(tmp / "image_encoder"))
            CLIPImageProcessor(size={"shortest_edge": CLIP_SIZE}, crop_size={"height": CLIP_SIZE, "width": CLIP_SIZE},
                               image_mean=pre["image_mean"], image_std=pre["image_std"]
                               ).save_pretrained(str(tmp / "feature_extractor"))
    return parts_dir


def _frozen(parts: Path, device) -> tuple:
    from diffusers import AutoencoderKL
    from transformers import CLIPImageProcessor, CLIPVisionModelWithProjection

    vae = AutoencoderKL.from_pretrained(str(parts / "vae")).to(device).eval().requires_grad_(False)
    enc = CLIPVisionModelWithProjection.from_pretrained(str(parts / "image_encoder")).to(device).eval()
    return vae, enc, CLIPImageProcessor.from_pretrained(str(parts / "feature_extractor"))


@torch.no_grad()
def _features(rgb: torch.Tensor, vae, encoder, processor, device) -> dict:
    """``latents`` ``[n, 2, F, 4, 16, 16]``, ``first`` uint8 ``[n, 2, 3, 64, 64]``, ``emb`` ``[n, 2, D]`` of clips
    ``rgb`` ``[n, F, 3, 64, 64]`` in [0, 1] (dim 1: plain, mirrored)."""
    from motion4d.zoo.svd_cond import image_embeds, quantize

    out: dict[str, list] = {"latents": [], "first": [], "emb": []}
    n, f = rgb.shape[:2]
    for mirrored in (False, True):
        x = quantize(rgb.flip(-1) if mirrored else rgb)
        z = torch.cat([vae.encode((c * 2 - 1).to(device)).latent_dist.mode().float().cpu()
                       for c in x.flatten(0, 1).split(128)])
        out["latents"].append((z * vae.config.scaling_factor).view(n, f, *z.shape[1:]))
        out["first"].append((x[:, 0] * 255).round().to(torch.uint8))
        out["emb"].append(image_embeds(x[:, 0], encoder, processor).cpu())
    return {key: torch.stack(v, 1) for key, v in out.items()}


@torch.no_grad()
def prepare(cfg: dict, model, cache_dir: Path, device, show_progress: bool = True) -> dict:
    """Render clips and cache their features (:func:`_features`); the frozen VAE rides along for the per-step
    conditioning latent."""
    from motion4d.utils.io import atomic_path
    from motion4d.zoo.data import ClipSpec, render_clips, to_rgb

    cache_dir = Path(cache_dir)
    parts = _parts(cfg, cache_dir / "parts")
    vae, encoder, processor = _frozen(parts, device)
    n, f = int(cfg["clips"]), int(cfg["frames"])
    feat_file = cache_dir / f"clips-{n}-{f}.pt"
    if feat_file.is_file():
        feats = torch.load(feat_file, weights_only=True)
    else:
        chunks = []
        for s in range(0, n, _CHUNK):
            rgba, _ = render_clips("train", min(_CHUNK, n - s), ClipSpec(frames=f), start=s, cache_dir=cache_dir,
                                   show_progress=show_progress)
            chunks.append(_features(to_rgb(rgba), vae, encoder, processor, device))
        feats = {key: torch.cat([c[key] for c in chunks]).contiguous() for key in chunks[0]}
        with atomic_path(feat_file, suffix=".pt") as tmp:
            torch.save(feats, tmp)
    return {**feats, "parts": parts, "vae": vae}


def loss(cfg: dict, model, data: dict, gen: torch.Generator, device):
    from motion4d.zoo.svd_cond import added_time_ids, condition_latent, noisy_and_target

    n = int(cfg["batch"])
    idx = torch.randint(0, len(data["emb"]), (n,), generator=gen)
    mir = torch.randint(0, 2, (n,), generator=gen) * int(bool(int(cfg["mirror"])))
    drop = torch.rand(n, generator=gen) < float(cfg["cfg_drop"])
    sigma = (torch.randn(n, generator=gen) * float(cfg["p_std"]) + float(cfg["p_mean"])).exp()
    aug = torch.rand(n, generator=gen) * float(cfg["noise_aug_max"])
    z0 = data["latents"][idx, mir]                                             # [n, F, 4, h, w]
    eps = torch.randn(z0.shape, generator=gen)
    first = data["first"][idx, mir].float() / 255
    pix_noise = torch.randn(first.shape, generator=gen)
    with torch.no_grad():
        cond = condition_latent(first, data["vae"], aug, pix_noise).float()
    keep = (~drop).float().to(device)
    cond = cond * keep.view(-1, 1, 1, 1)
    emb = data["emb"][idx, mir].to(device) * keep.view(-1, 1)
    _, inp, t, target = noisy_and_target(z0, eps, sigma)
    sample = torch.cat([inp.to(device), cond[:, None].expand(-1, z0.shape[1], -1, -1, -1)], dim=2)
    ids = added_time_ids(int(cfg["fps"]), int(cfg["motion_bucket_id"]), aug).to(device)
    pred = model(sample, t.to(device), encoder_hidden_states=emb[:, None], added_time_ids=ids).sample
    return torch.nn.functional.mse_loss(pred.float(), target.to(device)), {}


def export(cfg: dict, model, data, folder: Path) -> Path:
    """The StableVideoDiffusionPipeline folder (module docstring) with the trained ``unet``."""
    from motion4d.utils.io import atomic_dir, write_json

    parts = Path(data["parts"])
    with atomic_dir(folder) as tmp:
        unet = copy.deepcopy(model).cpu()
        (unet.half() if int(cfg.get("export_fp16", 1)) else unet).save_pretrained(str(tmp / "unet"))
        for name in ("vae", "image_encoder", "feature_extractor"):
            shutil.copytree(parts / name, tmp / name)
        write_json(tmp / "scheduler" / "scheduler_config.json", {**SCHEDULER, "_diffusers_version": "0.42.1"})
        write_json(tmp / "model_index.json", {
            "_class_name": "StableVideoDiffusionPipeline", "_diffusers_version": "0.42.1",
            "_name_or_path": "motion4d/tiny-svd", "feature_extractor": ["transformers", "CLIPImageProcessor"],
            "image_encoder": ["transformers", "CLIPVisionModelWithProjection"],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"],
            "unet": ["diffusers", "UNetSpatioTemporalConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})
        write_json(tmp / "zoo_recipe.json", cfg)
    return Path(folder)


def drive_settings(cfg: dict):
    """The :class:`~motion4d.video.image_to_video.ImageToVideoSettings` tiny-svd is evaluated with: its training size
    and length (64x64, ``frames``), ``eval_steps`` Euler steps, the pipeline's other defaults (guidance 1 -> 3, fps 7,
    motion bucket 127, noise augmentation 0.02)."""
    from motion4d.video.image_to_video import ImageToVideoSettings

    return ImageToVideoSettings(frames=int(cfg.get("frames", 8)), width=64, height=64,
                                steps=int(cfg.get("eval_steps", 25)), fps=int(cfg.get("fps", 7)),
                                motion_bucket_id=int(cfg.get("motion_bucket_id", 127)))


def evaluate(folder, cfg: dict, split: str = "test", device="cpu", cache_dir=None, show_progress=False) -> dict:
    """From frame 0 of ``eval_scenes`` one-object clips of ``split``, one clip each (seed = index) through
    :func:`~motion4d.video.image_to_video.image_to_video` (the image-to-4d pipeline's code path), judged by
    :func:`motion4d.zoo.judge.judge_image_to_video`; ``gt_*``: the same figures for the ground-truth clips (what a
    perfect model gets: some motions, e.g. a spinning ball, do not show from the front)."""
    from motion4d.utils.progress import progress
    from motion4d.video.image_to_video import image_to_video, load_svd
    from motion4d.zoo.data import ClipSpec, render_clips, to_rgb
    from motion4d.zoo.judge import judge_image_to_video

    s = drive_settings(cfg)
    rgba, _ = render_clips(split, int(cfg.get("eval_scenes", 32)), ClipSpec(frames=int(s.frames)),
                           cache_dir=cache_dir, show_progress=show_progress)
    gt = to_rgb(rgba).permute(0, 1, 3, 4, 2)                                       # [n, F, H, W, 3]
    first = (gt[:, 0].clamp(0, 1) * 255).round().to(torch.uint8)
    pipe = load_svd(str(folder), device=str(device))
    clips = [torch.from_numpy(image_to_video(first[i].numpy(), s, seed=i, pipe=pipe))
             for i in progress(range(len(gt)), desc="tiny-svd eval", disable=None if show_progress else True)]
    res = judge_image_to_video(torch.stack(clips), first.float() / 255)
    ref = judge_image_to_video(gt, first.float() / 255)
    return {**res, **{f"gt_{k}": v for k, v in ref.items() if k != "clips"}, "eval_steps": int(s.steps)}
