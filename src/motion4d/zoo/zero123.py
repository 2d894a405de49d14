"""tiny-zero123: a novel-view model in the Zero123 diffusers layout, trained on shapes-world view pairs.

The folder is what :class:`motion4d.guidance.zero123.Zero123Guidance` loads (``type: zero123``, 64x64 renders)::

    model_index.json          Zero123Pipeline, _name_or_path "motion4d/tiny-zero123" (detected as zero123)
    unet/                     UNet2DConditionModel, 8 input channels (noisy latent + reference latent), trained
    clip_camera_projection/   CLIPCameraProjection: Linear(proj + 4 -> proj), trained (init: identity, as Zero123)
    image_encoder/            CLIPVisionModelWithProjection: tiny-clip's vision tower + visual projection, frozen
    feature_extractor/        tiny-clip's CLIP preprocessor config (64 px, CLIP mean/std)
    vae/                      tiny-vae, frozen (factor 4: 64x64 RGB -> 4x16x16)
    scheduler/                DDIM config, v-prediction, squared-cosine schedule (the guidance converts to eps)

Data (:func:`motion4d.zoo.data.render_pairs`): one-object scenes of the train split; per scene the reference front
view (elevation 0, azimuth 0) and ``targets`` views at the same random time from elevations -15/0/15/30 and azimuths
in 15-degree steps, 64x64 over white. Every pair is also used mirrored left-right (both images flipped, azimuth
delta negated). Cached once: the target latents (posterior mean x ``scaling_factor``), the reference posterior
(mean and std, **not** scaled; a posterior sample is drawn per step, as the guidance's default
``zero123.reference_latent: sample`` does), the reference CLIP image embedding (computed as the guidance computes it:
:func:`motion4d.guidance.zero123.clip_pixels_pil` with the exported preprocessor) and the camera vectors
(:func:`pair_camera`, the guidance's :func:`~motion4d.guidance.zero123.zero123_camera`). A step runs only the UNet.

Loss: v-prediction MSE; 10% of rows (``cfg_drop``) drop the condition: the camera token and the concatenated
reference latent are both zeros, exactly the guidance's unconditional half. Quality (:func:`evaluate`): from the
front view of unseen objects, DDIM samples at azimuth 90, 180 and 270 (elevation 0) through the guidance's own
``novel_view``, PSNR and foreground-mask IoU against the ground-truth renders.
"""
from __future__ import annotations

import copy
import json
import shutil
from pathlib import Path

import torch

__all__ = ["KEY", "FILES", "defaults", "build", "prepare", "loss", "export", "evaluate", "SCHEDULER", "EVAL_VIEWS",
           "Zero123Net", "pair_camera", "condition", "noisy_and_target", "vision_tower"]

KEY = "tiny-zero123"
FILES = ("model_index.json", "unet/config.json", "unet/diffusion_pytorch_model.safetensors",
         "clip_camera_projection/config.json", "clip_camera_projection/diffusion_pytorch_model.safetensors",
         "image_encoder/config.json", "image_encoder/model.safetensors", "feature_extractor/preprocessor_config.json",
         "vae/config.json", "vae/diffusion_pytorch_model.safetensors", "scheduler/scheduler_config.json")
SCHEDULER = {"_class_name": "DDIMScheduler", "num_train_timesteps": 1000, "beta_schedule": "squaredcos_cap_v2",
             "prediction_type": "v_prediction", "clip_sample": False, "set_alpha_to_one": False, "steps_offset": 0,
             "timestep_spacing": "leading"}
EVAL_VIEWS = ((0.0, 90.0), (0.0, 180.0), (0.0, 270.0))
defaults = {"vae": "tiny-vae", "clip": "tiny-clip", "channels": "32,64,128", "heads": 4, "groups": 8, "scenes": 2048,
            "targets": 4, "mirror": 1, "steps": 4000, "batch": 32, "lr": 5e-4, "warmup": 200, "ckpt_every": 250,
            "cfg_drop": 0.1, "eval_scenes": 32, "eval_steps": 50, "eval_guidance": 3.0}
_CHUNK = 256                        # scenes per rendered cache file


class Zero123Net(torch.nn.Module):
    """The trained parts: ``unet`` (UNet2DConditionModel, 8 input channels) and ``cc_projection``."""

    def __init__(self, unet, cc_projection):
        super().__init__()
        self.unet, self.cc_projection = unet, cc_projection

    def tokens(self, emb: torch.Tensor, cam: torch.Tensor) -> torch.Tensor:
        """Cross-attention token ``[B, 1, D]`` of CLIP image embeddings ``[B, D]`` and cameras ``[B, 4]``."""
        return self.cc_projection(torch.cat([emb, cam], dim=-1))[:, None]

    def forward(self, noisy: torch.Tensor, ref: torch.Tensor, t: torch.Tensor, tokens: torch.Tensor) -> torch.Tensor:
        """UNet output for ``[noisy, ref]`` latents ``[B, 4 + 4, h, w]``, timesteps ``[B]`` and tokens."""
        return self.unet(torch.cat([noisy, ref], dim=1), t, encoder_hidden_states=tokens).sample


def _proj_dim(cfg: dict) -> int:
    from motion4d.hub import resolve_pretrained

    return int(json.loads((resolve_pretrained(cfg["clip"]) / "config.json").read_text())["projection_dim"])


def build(cfg: dict, device) -> torch.nn.Module:
    """UNet (no attention at the 16x16 level; cross-attention to the camera token below it) + camera projection."""
    from diffusers import UNet2DConditionModel

    from motion4d.guidance.zero123 import CLIPCameraProjection

    dim = _proj_dim(cfg)
    ch = tuple(int(c) for c in str(cfg["channels"]).split(","))
    if len(ch) < 2:
        raise ValueError(f"channels must name at least 2 levels, got {cfg['channels']!r}")
    down = ("DownBlock2D",) + ("CrossAttnDownBlock2D",) * (len(ch) - 2) + ("DownBlock2D",)
    up = ("UpBlock2D",) + ("CrossAttnUpBlock2D",) * (len(ch) - 2) + ("UpBlock2D",)
    unet = UNet2DConditionModel(sample_size=16, in_channels=8, out_channels=4, block_out_channels=ch,
                                down_block_types=down, up_block_types=up, layers_per_block=1,
                                cross_attention_dim=dim, attention_head_dim=int(cfg["heads"]),
                                norm_num_groups=int(cfg["groups"]))
    cc = CLIPCameraProjection(embedding_dim=dim, additional_embeddings=4)
    with torch.no_grad():                        # Zero123's init: the CLIP embedding passes through unchanged
        cc.proj.weight[:, :dim].copy_(torch.eye(dim))
        cc.proj.bias.zero_()
    return Zero123Net(unet, cc)


def pair_camera(ref_view, view, mirrored: bool = False) -> torch.Tensor:
    """Zero123 camera vector ``[4]`` from the reference ``(elevation, azimuth)`` to a target view (degrees, same
    radius), via the guidance's :func:`~motion4d.guidance.zero123.zero123_camera` (type ``zero123``). A mirrored
    pair (both images flipped left-right) has the azimuth delta negated."""
    from motion4d.guidance.zero123 import zero123_camera

    d_az = float(view[1]) - float(ref_view[1])
    return zero123_camera(float(view[0]) - float(ref_view[0]), -d_az if mirrored else d_az, 0.0)[0]


def vision_tower(clip_dir) -> "torch.nn.Module":
    """tiny-clip's vision tower and visual projection as a ``CLIPVisionModelWithProjection`` (same weights)."""
    from transformers import CLIPModel, CLIPVisionModelWithProjection

    clip = CLIPModel.from_pretrained(str(clip_dir))
    vcfg = copy.deepcopy(clip.config.vision_config)
    vcfg.projection_dim = clip.config.projection_dim
    tower = CLIPVisionModelWithProjection(vcfg)
    tower.vision_model.load_state_dict(clip.vision_model.state_dict())
    tower.visual_projection.load_state_dict(clip.visual_projection.state_dict())
    return tower.eval()


def _parts(cfg: dict, parts_dir: Path) -> Path:
    """The frozen components (vae, image_encoder, feature_extractor), copied once into the run."""
    from motion4d.hub import resolve_pretrained
    from motion4d.utils.io import atomic_dir

    if not parts_dir.is_dir():
        vae_dir, clip_dir = resolve_pretrained(cfg["vae"]), resolve_pretrained(cfg["clip"])
        with atomic_dir(parts_dir) as tmp:
            shutil.copytree(vae_dir, tmp / "vae", ignore=shutil.ignore_patterns("zoo_recipe.json"))
            vision_tower(clip_dir).save_pretrained(str(tmp / "image_encoder"))
            name = "preprocessor_config.json"
            (tmp / "feature_extractor").mkdir()
            shutil.copyfile(clip_dir / name, tmp / "feature_extractor" / name)
    return parts_dir


@torch.no_grad()
def _features(rgb: torch.Tensor, metas: list[dict], vae, encoder, processor, device) -> dict:
    """Cached features of pairs ``rgb`` ``[n, 1 + K, 3, 64, 64]`` in [0, 1], plain and mirrored (dim 1)."""
    from motion4d.guidance.zero123 import clip_pixels_pil

    out: dict[str, list] = {"ref_mean": [], "ref_std": [], "emb": [], "target": [], "cam": []}
    n, k = rgb.shape[0], rgb.shape[1] - 1
    for mirrored in (False, True):
        x = rgb.flip(-1) if mirrored else rgb
        post = vae.encode((x[:, 0] * 2 - 1).to(device)).latent_dist
        out["ref_mean"].append(post.mean.float().cpu())
        out["ref_std"].append(post.std.float().cpu())
        out["emb"].append(encoder(clip_pixels_pil(x[:, 0], processor).to(device)).image_embeds.float().cpu())
        z = torch.cat([vae.encode((c * 2 - 1).to(device)).latent_dist.mean.float().cpu()
                       for c in x[:, 1:].flatten(0, 1).split(128)])
        out["target"].append((z * vae.config.scaling_factor).view(n, k, *z.shape[1:]))
        out["cam"].append(torch.stack([torch.stack([pair_camera(m["views"][0], v, mirrored) for v in m["views"][1:]])
                                       for m in metas]))
    return {key: torch.stack(v, 1) for key, v in out.items()}


@torch.no_grad()
def prepare(cfg: dict, model, cache_dir: Path, device, show_progress: bool = True) -> dict:
    """Render view pairs and cache ``ref_mean``/``ref_std`` ``[N, 2, 4, 16, 16]``, ``emb`` ``[N, 2, D]``, ``target``
    ``[N, 2, K, 4, 16, 16]`` and ``cam`` ``[N, 2, K, 4]`` (dim 1: plain, mirrored)."""
    from diffusers import AutoencoderKL
    from transformers import CLIPImageProcessorPil, CLIPVisionModelWithProjection

    from motion4d.utils.io import atomic_path
    from motion4d.zoo.data import PairSpec, render_pairs, to_rgb

    cache_dir = Path(cache_dir)
    parts = _parts(cfg, cache_dir / "parts")
    n, k = int(cfg["scenes"]), int(cfg["targets"])
    feat_file = cache_dir / f"pairs-{n}-{k}.pt"
    if feat_file.is_file():
        feats = torch.load(feat_file, weights_only=True)
    else:
        vae = AutoencoderKL.from_pretrained(str(parts / "vae")).to(device).eval()
        encoder = CLIPVisionModelWithProjection.from_pretrained(str(parts / "image_encoder")).to(device).eval()
        processor = CLIPImageProcessorPil.from_pretrained(str(parts / "feature_extractor"))
        chunks = []
        for s in range(0, n, _CHUNK):
            rgba, metas = render_pairs("train", min(_CHUNK, n - s), PairSpec(targets=k), start=s,
                                       cache_dir=cache_dir, show_progress=show_progress)
            chunks.append(_features(to_rgb(rgba), metas, vae, encoder, processor, device))
        feats = {key: torch.cat([c[key] for c in chunks]).contiguous() for key in chunks[0]}
        with atomic_path(feat_file, suffix=".pt") as tmp:
            torch.save(feats, tmp)
    return {**feats, "parts": parts}


def noisy_and_target(z0: torch.Tensor, eps: torch.Tensor, alpha_bar: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """``(x_t, v)`` for clean latents ``z0``, noise ``eps`` and ``alpha_bar_t`` ``[B]``: v-prediction."""
    a = alpha_bar.float().view(-1, *([1] * (z0.ndim - 1)))
    return a.sqrt() * z0 + (1 - a).sqrt() * eps, a.sqrt() * eps - (1 - a).sqrt() * z0


def condition(model: Zero123Net, emb: torch.Tensor, cam: torch.Tensor, ref: torch.Tensor, drop: torch.Tensor
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """``(tokens [B, 1, D], ref latents [B, 4, h, w])``; rows where ``drop`` is True are zeros in both (the
    guidance's unconditional branch)."""
    keep = (~drop).to(ref.device)
    tokens = model.tokens(emb, cam) * keep.view(-1, 1, 1).to(emb.dtype)
    return tokens, ref * keep.view(-1, 1, 1, 1).to(ref.dtype)


def loss(cfg: dict, model, data: dict, gen: torch.Generator, device):
    from diffusers import DDIMScheduler

    n = int(cfg["batch"])
    if "alphas" not in data:
        data["alphas"] = DDIMScheduler.from_config(SCHEDULER).alphas_cumprod.float()
    idx = torch.randint(0, len(data["emb"]), (n,), generator=gen)
    tgt = torch.randint(0, data["target"].shape[2], (n,), generator=gen)
    mir = torch.randint(0, 2, (n,), generator=gen) * int(bool(int(cfg["mirror"])))
    drop = torch.rand(n, generator=gen) < float(cfg["cfg_drop"])
    t = torch.randint(0, len(data["alphas"]), (n,), generator=gen)
    eps = torch.randn((n, *data["target"].shape[3:]), generator=gen)
    ref_noise = torch.randn((n, *data["ref_mean"].shape[2:]), generator=gen)
    ref = data["ref_mean"][idx, mir] + data["ref_std"][idx, mir] * ref_noise       # posterior sample, unscaled
    xt, v = noisy_and_target(data["target"][idx, mir, tgt], eps, data["alphas"][t])
    tokens, ref = condition(model, data["emb"][idx, mir].to(device), data["cam"][idx, mir, tgt].to(device),
                            ref.to(device), drop)
    pred = model(xt.to(device), ref, t.to(device), tokens)
    return torch.nn.functional.mse_loss(pred.float(), v.to(device)), {}


def export(cfg: dict, model, data, folder: Path) -> Path:
    """The Zero123 folder (module docstring) with the trained ``unet`` and ``clip_camera_projection``."""
    from motion4d.utils.io import atomic_dir, write_json

    parts = Path(data["parts"])
    with atomic_dir(folder) as tmp:
        model.unet.save_pretrained(str(tmp / "unet"))
        model.cc_projection.save_pretrained(str(tmp / "clip_camera_projection"))
        for name in ("vae", "image_encoder", "feature_extractor"):
            shutil.copytree(parts / name, tmp / name)
        write_json(tmp / "scheduler" / "scheduler_config.json", {**SCHEDULER, "_diffusers_version": "0.42.1"})
        write_json(tmp / "model_index.json", {
            "_class_name": "Zero123Pipeline", "_diffusers_version": "0.42.1", "_name_or_path": "motion4d/tiny-zero123",
            "clip_camera_projection": ["zero123", "CLIPCameraProjection"],
            "feature_extractor": ["transformers", "CLIPImageProcessor"],
            "image_encoder": ["transformers", "CLIPVisionModelWithProjection"], "requires_safety_checker": False,
            "safety_checker": [None, None], "scheduler": ["diffusers", "DDIMScheduler"],
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]})
        write_json(tmp / "zoo_recipe.json", cfg)
    return Path(folder)


def load_guidance(folder, device="cpu", seed: int = 0):
    """The exported folder as motion4d's Zero123 guidance (``type: zero123``, 64x64), loaded."""
    from motion4d.guidance import GuidanceConfig, build_guidance

    return build_guidance(GuidanceConfig(type="zero123", model=str(folder), height=64, width=64, device=str(device),
                                         seed=seed)).load()


def evaluate(folder, cfg: dict, split: str = "test", device="cpu", cache_dir=None, show_progress=False) -> dict:
    """PSNR (dB) and foreground-mask IoU (:func:`motion4d.zoo.judge.foreground` of both images) of views sampled at
    azimuth 90, 180, 270 (elevation 0) from the front view of ``eval_scenes`` one-object scenes of ``split``, per
    azimuth and mean; ``copy_*``: the same figures for the reference view itself (what ignoring the camera gets)."""
    import numpy as np

    from motion4d.metrics.image import mask_iou, psnr
    from motion4d.utils.progress import progress
    from motion4d.zoo.data import PairSpec, render_pairs, to_rgb
    from motion4d.zoo.judge import foreground

    rgba, _ = render_pairs(split, int(cfg.get("eval_scenes", 32)), PairSpec(views=EVAL_VIEWS), cache_dir=cache_dir,
                           show_progress=show_progress)
    rgb = to_rgb(rgba).permute(0, 1, 3, 4, 2)                         # [n, 1 + 3, H, W, 3]
    guide = load_guidance(folder, device)
    k = len(EVAL_VIEWS)
    az = torch.tensor([a for _, a in EVAL_VIEWS])
    outs = []
    for s in progress(range(0, len(rgb), 8), desc="tiny-zero123 eval", disable=None if show_progress else True):
        refs = rgb[s:s + 8, 0].repeat_interleave(k, 0)
        outs.append(guide.novel_view(refs, 0.0, az.repeat(len(refs) // k), 0.0,
                                     num_inference_steps=int(cfg.get("eval_steps", 50)),
                                     guidance_scale=float(cfg.get("eval_guidance", 3.0)), seed=s).cpu())
    pred = torch.cat(outs).view(len(rgb), k, *rgb.shape[2:])
    gt = rgb[:, 1:]
    copy_ref = rgb[:, :1].expand_as(gt)
    res: dict = {}
    for name, images in (("", pred), ("copy_", copy_ref)):
        p = psnr(images, gt).float()
        iou = mask_iou(foreground(images).float(), foreground(gt).float()).float()
        res[f"{name}psnr_db"], res[f"{name}mask_iou"] = float(p.mean()), float(iou.mean())
        if not name:
            for j, (_, a) in enumerate(EVAL_VIEWS):
                res[f"psnr_az{int(a):03d}_db"] = float(p[:, j].mean())
                res[f"mask_iou_az{int(a):03d}"] = float(iou[:, j].mean())
            res["psnr_p10_db"] = float(np.percentile(p.numpy(), 10))
    return {**res, "views": int(pred.shape[0] * k), "eval_steps": int(cfg.get("eval_steps", 50)),
            "eval_guidance": float(cfg.get("eval_guidance", 3.0))}
