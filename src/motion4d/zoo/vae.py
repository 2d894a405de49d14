"""tiny-vae: a diffusers ``AutoencoderKL`` for 64x64 shapes-world frames, 4x downsampling to 4x16x16 latents.

Training data: still images of random scenes (1-3 objects, front and orbit views, random times), composited
over a random plain background (white half the time, else a random grey or colour) so the autoencoder does not
depend on one background. Loss: mean squared error of the reconstruction (posterior sample) in [-1, 1] plus
``kl_weight`` times the KL term. Quality: PSNR of the posterior mode's reconstruction on test-split images over
white, in dB.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["KEY", "FILES", "defaults", "build", "prepare", "loss", "export", "evaluate", "psnr"]

KEY = "tiny-vae"
FILES = ("config.json", "diffusion_pytorch_model.safetensors")
defaults = {"channels": "16,32,64", "latent_channels": 4, "layers_per_block": 1, "groups": 8, "scenes": 1536,
            "per_scene": 2, "kl_weight": 1e-6, "steps": 1500, "batch": 16, "lr": 1e-3, "warmup": 200,
            "ckpt_every": 200, "eval_scenes": 64}


def _channels(cfg) -> tuple[int, ...]:
    return tuple(int(c) for c in str(cfg["channels"]).split(","))


def build(cfg: dict, device) -> torch.nn.Module:
    from diffusers import AutoencoderKL

    ch = _channels(cfg)
    return AutoencoderKL(in_channels=3, out_channels=3, down_block_types=("DownEncoderBlock2D",) * len(ch),
                         up_block_types=("UpDecoderBlock2D",) * len(ch), block_out_channels=ch,
                         layers_per_block=int(cfg["layers_per_block"]), latent_channels=int(cfg["latent_channels"]),
                         norm_num_groups=int(cfg["groups"]), sample_size=64, scaling_factor=1.0)


def prepare(cfg: dict, model, cache_dir: Path, device, show_progress: bool = True) -> dict:
    from motion4d.zoo.data import StillSpec, render_stills

    rgba, _ = render_stills("train", int(cfg["scenes"]), StillSpec(per_scene=int(cfg["per_scene"])),
                            cache_dir=cache_dir, show_progress=show_progress)
    return {"rgba": torch.from_numpy(rgba)}


def _backgrounds(n: int, gen: torch.Generator) -> torch.Tensor:
    """``[n, 1, 1, 3]``: white with probability 1/2, else a random grey (1/4) or a random colour (1/4)."""
    u = torch.rand(n, generator=gen)
    grey = torch.rand(n, 1, generator=gen).expand(n, 3)
    colour = torch.rand(n, 3, generator=gen)
    bg = torch.where((u < 0.5)[:, None], torch.ones(n, 3), torch.where((u < 0.75)[:, None], grey, colour))
    return bg.view(n, 1, 1, 3)


def loss(cfg: dict, model, data: dict, gen: torch.Generator, device):
    from motion4d.zoo.data import to_rgb

    n = int(cfg["batch"])
    idx = torch.randint(0, len(data["rgba"]), (n,), generator=gen)
    x = to_rgb(data["rgba"][idx], _backgrounds(n, gen)).to(device) * 2 - 1
    flip = torch.rand(n, generator=gen) < 0.5
    x = torch.where(flip.to(device)[:, None, None, None], x.flip(-1), x)
    post = model.encode(x).latent_dist
    noise = torch.randn(post.mean.shape, generator=gen).to(device)
    z = post.mean + post.std * noise
    rec = model.decode(z).sample
    mse = torch.nn.functional.mse_loss(rec.float(), x)
    kl = post.kl().mean() / x[0].numel()
    return mse + float(cfg["kl_weight"]) * kl, {"mse": float(mse.detach()), "kl": float(kl.detach())}


def export(cfg: dict, model, data, folder: Path) -> Path:
    """Save the autoencoder with ``scaling_factor`` set so that training latents have unit variance."""
    from motion4d.utils.io import atomic_dir, write_json
    from motion4d.zoo.data import to_rgb

    with torch.no_grad():
        dev = next(model.parameters()).device
        x = to_rgb(data["rgba"][:64]).to(dev) * 2 - 1
        std = float(model.encode(x).latent_dist.mean.std())
    model.register_to_config(scaling_factor=round(1.0 / max(std, 1e-6), 5))
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)
        write_json(tmp / "zoo_recipe.json", cfg)
    return Path(folder)


def psnr(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """PSNR in dB per image of images ``[N, 3, H, W]`` in [0, 1]."""
    mse = ((a.float() - b.float()) ** 2).flatten(1).mean(1).clamp_min(1e-10)
    return -10 * torch.log10(mse)


@torch.no_grad()
def reconstruct(vae, rgb: torch.Tensor, batch: int = 32) -> torch.Tensor:
    """Posterior-mode reconstruction of ``rgb`` ``[N, 3, H, W]`` in [0, 1], clamped to [0, 1]."""
    dev, dtype = vae.device, vae.dtype
    outs = []
    for i in range(0, len(rgb), batch):
        x = rgb[i:i + batch].to(dev, dtype) * 2 - 1
        outs.append(((vae.decode(vae.encode(x).latent_dist.mode()).sample.float() + 1) / 2).clamp(0, 1).cpu())
    return torch.cat(outs)


def evaluate(folder, cfg: dict, split: str = "test", device="cpu", cache_dir=None, show_progress=False) -> dict:
    """PSNR (dB) of reconstructions of ``eval_scenes`` scenes x 2 images of ``split``: mean, 5th percentile,
    and the mean over a dark (0.1 grey) background."""
    from diffusers import AutoencoderKL

    from motion4d.zoo.data import StillSpec, render_stills, to_rgb

    vae = AutoencoderKL.from_pretrained(str(folder)).to(device).eval()
    rgba, _ = render_stills(split, int(cfg.get("eval_scenes", 64)), StillSpec(per_scene=2), cache_dir=cache_dir,
                            show_progress=show_progress)
    rgb = to_rgb(rgba)
    p = psnr(reconstruct(vae, rgb), rgb)
    dark = to_rgb(rgba, (0.1, 0.1, 0.1))
    return {"psnr_db": float(p.mean()), "psnr_p5_db": float(np.percentile(p.numpy(), 5)),
            "psnr_dark_db": float(psnr(reconstruct(vae, dark), dark).mean()), "images": len(rgb)}
