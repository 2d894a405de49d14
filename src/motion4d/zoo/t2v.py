"""tiny-t2v: a text-to-video model in the TextToVideoSD folder layout, trained on one-object shapes-world clips.

Components: ``unet`` (diffusers ``UNet3DConditionModel``, trained here), ``vae`` (tiny-vae, frozen),
``text_encoder`` + ``tokenizer`` (tiny-clip's text tower, frozen), ``scheduler`` (DDIM config, v-prediction,
squared-cosine schedule). Clips: 8 frames of 64x64 front views over white (4x16x16 latents), every motion kind;
each clip is also used mirrored left-right with "left"/"right" swapped in its caption. Latents (posterior mean x
``scaling_factor``) and text embeddings (the pipeline's: ``max_length`` padding, last hidden state) are
computed once and cached. 10% of captions are replaced by the empty prompt (classifier-free guidance).
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import torch

__all__ = ["KEY", "FILES", "defaults", "build", "prepare", "loss", "export", "evaluate", "SCHEDULER",
           "mirror_caption"]

KEY = "tiny-t2v"
FILES = ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors", "vae/config.json",
         "vae/diffusion_pytorch_model.safetensors", "text_encoder/config.json", "text_encoder/model.safetensors",
         "tokenizer/vocab.json", "tokenizer/merges.txt", "scheduler/scheduler_config.json")
SCHEDULER = {"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2",
             "prediction_type": "v_prediction", "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 0,
             "timestep_spacing": "leading"}
WHITE_BACKGROUND = (1.0, 1.0, 1.0)
defaults = {"vae": "tiny-vae", "clip": "tiny-clip", "channels": "32,64", "head_dim": 8, "groups": 8, "clips": 1024,
            "frames": 8, "steps": 4000, "batch": 16, "lr": 5e-4, "warmup": 100, "ckpt_every": 50, "cfg_drop": 0.1,
            "eval_prompts": 24, "eval_direction": 12, "eval_steps": 20, "eval_guidance": 4.0}


def mirror_caption(caption: str) -> str:
    """The caption of the left-right mirrored clip: "left" and "right" swapped."""
    return " ".join({"left": "right", "right": "left"}.get(w, w) for w in caption.split(" "))


def build(cfg: dict, device) -> torch.nn.Module:
    from diffusers import UNet3DConditionModel

    from motion4d.hub import resolve_pretrained

    text_cfg = json.loads((resolve_pretrained(cfg["clip"]) / "config.json").read_text())
    text_dim = int(text_cfg.get("text_config", text_cfg)["hidden_size"])
    ch = tuple(int(c) for c in str(cfg["channels"]).split(","))
    return UNet3DConditionModel(sample_size=16, in_channels=4, out_channels=4, block_out_channels=ch,
                                down_block_types=("CrossAttnDownBlock3D",) * (len(ch) - 1) + ("DownBlock3D",),
                                up_block_types=("UpBlock3D",) + ("CrossAttnUpBlock3D",) * (len(ch) - 1),
                                layers_per_block=1, cross_attention_dim=text_dim,
                                attention_head_dim=int(cfg["head_dim"]), norm_num_groups=int(cfg["groups"]))


@torch.no_grad()
def _text_embeddings(tokenizer, text_encoder, prompts: list[str], device) -> torch.Tensor:
    ids = tokenizer(prompts, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                    return_tensors="pt").input_ids
    return torch.cat([text_encoder(c.to(device))[0].float().cpu() for c in ids.split(256)])


@torch.no_grad()
def prepare(cfg: dict, model, cache_dir: Path, device, show_progress: bool = True) -> dict:
    """Render clips, cache latents ``[N, 2, 4, F, 16, 16]`` (plain, mirrored) and text ``[N, 2, L, D]``."""
    from diffusers import AutoencoderKL
    from transformers import CLIPTextModel, CLIPTokenizer

    from motion4d.hub import resolve_pretrained
    from motion4d.utils.io import atomic_dir, atomic_path
    from motion4d.zoo.data import ClipSpec, render_clips, to_rgb

    vae_dir, clip_dir = resolve_pretrained(cfg["vae"]), resolve_pretrained(cfg["clip"])
    cache_dir = Path(cache_dir)
    parts_dir = cache_dir / "parts"
    if not parts_dir.is_dir():                      # the frozen components, copied once into the run
        with atomic_dir(parts_dir) as tmp:
            shutil.copytree(vae_dir, tmp / "vae")
            CLIPTextModel.from_pretrained(str(clip_dir)).save_pretrained(str(tmp / "text_encoder"))
            tok = CLIPTokenizer.from_pretrained(str(clip_dir))
            tok.save_pretrained(str(tmp / "tokenizer"))
            for name in ("vocab.json", "merges.txt"):
                shutil.copyfile(clip_dir / name, tmp / "tokenizer" / name)
    vae = AutoencoderKL.from_pretrained(str(parts_dir / "vae")).to(device).eval()
    text_encoder = CLIPTextModel.from_pretrained(str(parts_dir / "text_encoder")).to(device).eval()
    tokenizer = CLIPTokenizer.from_pretrained(str(parts_dir / "tokenizer"))
    n, f = int(cfg["clips"]), int(cfg["frames"])
    lat_file = cache_dir / f"latents-{n}-{f}.pt"
    if lat_file.is_file():
        cached = torch.load(lat_file, weights_only=True)
    else:
        lats, texts = [], []
        for s in range(0, n, 512):
            rgba, meta = render_clips("train", min(512, n - s), ClipSpec(frames=f), start=s, cache_dir=cache_dir,
                                      show_progress=show_progress)
            rgb = to_rgb(rgba)                                          # [n, F, 3, 64, 64]
            for mirrored in (False, True):
                x = (rgb.flip(-1) if mirrored else rgb).flatten(0, 1)
                z = torch.cat([vae.encode(c.to(device) * 2 - 1).latent_dist.mean.cpu() for c in x.split(64)])
                z = z * vae.config.scaling_factor
                lats.append(z.view(len(rgba), f, *z.shape[1:]).transpose(1, 2))
                texts.append(_text_embeddings(tokenizer, text_encoder, [mirror_caption(m["caption"]) if mirrored
                                                                       else m["caption"] for m in meta], device))
        k = len(lats) // 2
        lat = torch.stack([torch.cat(lats[0::2]), torch.cat(lats[1::2])], 1) if k else None
        txt = torch.stack([torch.cat(texts[0::2]), torch.cat(texts[1::2])], 1)
        cached = {"latents": lat.contiguous(), "text": txt.contiguous(),
                  "empty": _text_embeddings(tokenizer, text_encoder, [""], device)[0]}
        with atomic_path(lat_file, suffix=".pt") as tmp:
            torch.save(cached, tmp)
    return {**cached, "parts": parts_dir}


def loss(cfg: dict, model, data: dict, gen: torch.Generator, device):
    from diffusers import DDIMScheduler

    n = int(cfg["batch"])
    if "alphas" not in data:
        data["alphas"] = DDIMScheduler.from_config(SCHEDULER).alphas_cumprod.float()
    idx = torch.randint(0, len(data["latents"]), (n,), generator=gen)
    mir = torch.randint(0, 2, (n,), generator=gen)
    z0 = data["latents"][idx, mir]
    text = data["text"][idx, mir]
    drop = torch.rand(n, generator=gen) < float(cfg["cfg_drop"])
    text = torch.where(drop[:, None, None], data["empty"].expand_as(text), text)
    t = torch.randint(0, len(data["alphas"]), (n,), generator=gen)
    a = data["alphas"][t].view(-1, 1, 1, 1, 1)
    eps = torch.randn(z0.shape, generator=gen)
    target = a.sqrt() * eps - (1 - a).sqrt() * z0                     # v-prediction
    xt = a.sqrt() * z0 + (1 - a).sqrt() * eps
    pred = model(xt.to(device), t.to(device), encoder_hidden_states=text.to(device)).sample
    return torch.nn.functional.mse_loss(pred.float(), target.to(device)), {}


def export(cfg: dict, model, data, folder: Path) -> Path:
    """The TextToVideoSD folder: ``model_index.json``, ``unet/`` (fp16), frozen ``vae/``, ``text_encoder/``,
    ``tokenizer/``, ``scheduler/``."""
    from motion4d.utils.io import atomic_dir, write_json

    parts = Path(data["parts"])
    with atomic_dir(folder) as tmp:
        model.save_pretrained(str(tmp / "unet"))
        for name in ("vae", "text_encoder", "tokenizer"):
            shutil.copytree(parts / name, tmp / name)
        write_json(tmp / "scheduler" / "scheduler_config.json", {**SCHEDULER, "_diffusers_version": "0.42.1"})
        write_json(tmp / "model_index.json", {
            "_class_name": "TextToVideoSDPipeline", "_diffusers_version": "0.42.1",
            "scheduler": ["diffusers", "DDIMScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"], "unet": ["diffusers", "UNet3DConditionModel"],
            "vae": ["diffusers", "AutoencoderKL"],
            # trained over a plain white background: the pipelines' matting keys it (stages.known_background)
            "motion4d": {"background": list(WHITE_BACKGROUND)}})
        write_json(tmp / "zoo_recipe.json", cfg)
    return Path(folder)


def evaluate(folder, cfg: dict, split: str = "test", device="cpu", cache_dir=None, show_progress=False) -> dict:
    """Samples for 2 seeds x (``eval_prompts`` test-split captions + ``eval_direction`` captions of test scenes
    moving to the left or right), scored by :func:`motion4d.zoo.judge.judge_clips`."""
    from motion4d.video.backbones import load_backbone
    from motion4d.video.sampling import sample_video
    from motion4d.zoo.data import ClipSpec, render_clips
    from motion4d.zoo.judge import judge_clips

    _, metas = render_clips(split, int(cfg.get("eval_prompts", 24)), ClipSpec(frames=8), cache_dir=cache_dir,
                            show_progress=show_progress)
    n_dir = int(cfg.get("eval_direction", 12))
    if n_dir > 0:
        _, moving = render_clips(split, 4 * n_dir, ClipSpec(frames=8, motions="translate"), start=50_000,
                                 cache_dir=cache_dir, show_progress=show_progress)
        metas = metas + [m for m in moving if m["direction"] in ("left", "right")][:n_dir]
    bb = load_backbone(str(folder), device=str(device))
    frames, facts = [], []
    for seed in (0, 1):
        for i in range(0, len(metas), 8):
            chunk = metas[i:i + 8]
            out = sample_video(bb, [m["caption"] for m in chunk], num_frames=8, width=64, height=64,
                               steps=int(cfg.get("eval_steps", 20)), guidance=float(cfg.get("eval_guidance", 4.0)),
                               seed=1000 * seed + i, show_progress=show_progress)
            frames.append(out.frames)
            facts.extend(chunk)
    return judge_clips(torch.cat(frames), facts, clip=cfg.get("clip", "tiny-clip"))
