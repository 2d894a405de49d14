"""The motion overfit setup shared by tests/test_video_overfit.py and benchmarks/motion_overfit.py: base model,
pretraining worlds, reference clips, LoRA run, evaluation.

A tiny text-to-video model (tests/_video_tiny.py, UNet width 16, v-prediction) is pretrained as a denoiser of the
*square world* (one square moving by -2, 0 or 2 px/frame along each axis) or of the shapes world (one object
translating or bouncing). A temporal LoRA trained on one shapes-world clip should make its samples move like the
clip; the motion is compared in latent space with :mod:`motion4d.metrics.motion`. A pretrained base is a
safetensors file (UNet weights + the VAE scaling factor in its metadata); tests/data/ holds both
(``benchmarks/motion_overfit.py --pretrain-only --base FILE`` writes a new one).
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import numpy as np
import torch

FRAMES, SIZE = 8, 32
PROMPT = "lower"            # the tiny tokenizer's vocabulary; the base is unconditional in practice
SPEED = 2                   # square-world speed per axis, px/frame: each axis moves by -2, 0 or +2


def square_world_clips(n: int, seed: int, square: int = 10) -> torch.Tensor:
    """``n`` clips [n, F, H, W, 3] in [0, 1]: one square (random bright colour, random start that keeps it in view)
    moving by (dx, dy) with each of dx, dy drawn from (-SPEED, 0, SPEED) px/frame (still squares included) over a
    dark background. The base model's pretraining data."""
    from _video_tiny import moving_square_clip

    g = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        dx, dy = (int(v) for v in g.choice([-SPEED, 0, SPEED], 2))

        def span(d: int) -> tuple[int, int]:
            return max(0, -d * (FRAMES - 1)), SIZE - square - max(0, d * (FRAMES - 1))

        (xa, xb), (ya, yb) = span(dx), span(dy)
        clips.append(moving_square_clip(
            FRAMES, size=SIZE, square=square, dx=dx, dy=dy, background=(0.05, 0.05, 0.05),
            colour=tuple(g.uniform(0.6, 1.0, 3)), start=(int(g.integers(xa, xb + 1)), int(g.integers(ya, yb + 1)))))
    return torch.stack(clips)


def world_clip(seed: int = 4, fovy: float = 49.1, objects: str | None = "box",
               motion: str = "translate") -> tuple[np.ndarray, str]:
    """The reference: a one-object translating shapes-world scene seen by its front camera,
    [F, H, W, 3] float in [0, 1] on the dark background, and its caption."""
    from motion4d.world import make_scene
    from motion4d.world.dataset import composite, render_rgba, scene_cameras

    scene = make_scene(seed, objects=objects, motions=motion, num_objects=1, num_frames=FRAMES, size=SIZE,
                       num_points=600, background=(0.05, 0.05, 0.05), fovy=fovy)
    ref_camera = scene_cameras(scene, include_ref=True)[0]     # "ref": elevation 0, azimuth 0
    frames = [composite(render_rgba(scene.gaussians_at(f / (FRAMES - 1)), ref_camera, scene.background)[0],
                        scene.background) for f in range(FRAMES)]
    return torch.stack(frames).numpy(), scene.caption


def world_clips(n: int, seed: int, motions=("translate", "translate", "bounce")) -> torch.Tensor:
    """``n`` shapes-world clips [n, F, H, W, 3] (scene seeds ``seed``, ``seed + 1``, ...; one object each, its motion
    cycling through ``motions``), front view on the dark background: a base pretraining set in the reference's own
    world."""
    return torch.stack([torch.from_numpy(world_clip(seed + i, objects=None, motion=motions[i % len(motions)])[0])
                        for i in range(n)])


def make_base_model(folder: Path) -> Path:
    """The tiny model folder with a v-prediction scheduler (a briefly trained epsilon model's samples from pure
    noise stayed noise in our runs: its high-noise predictions carry almost no gradient)."""
    from _video_tiny import build_tiny_model

    build_tiny_model(folder, channels=(16, 16))
    cfg_file = folder / "scheduler" / "scheduler_config.json"
    cfg = json.loads(cfg_file.read_text())
    cfg["prediction_type"] = "v_prediction"
    cfg_file.write_text(json.dumps(cfg, indent=2))
    return folder


def pretrain_base(bb, steps: int, *, clips: int = 256, batch: int = 4, lr: float = 2e-3,
                  data: torch.Tensor | None = None, show_progress: bool = True) -> list[float]:
    """Train all UNet weights as a v-prediction denoiser of ``data`` [n, F, H, W, 3] (default: ``clips`` clips of
    :func:`square_world_clips`) with a cosine learning rate down to 5 %, after setting the VAE scaling factor that
    gives its latents unit variance (SD's 0.18215 plays that role). Returns the loss per step."""
    from diffusers import DDIMScheduler

    from motion4d.utils.progress import progress

    data = square_world_clips(clips, seed=123) if data is None else data
    bb.vae.register_to_config(scaling_factor=1.0)
    raw_std = float(torch.cat([bb.encode_frames(c, sample=False) for c in data[:16]]).std())
    bb.vae.register_to_config(scaling_factor=1.0 / raw_std)
    lat = torch.cat([bb.encode_frames(c, sample=False) for c in data])                  # [n, C, F, h, w]
    text = bb.encode_prompt(PROMPT)
    alphas = DDIMScheduler.from_config(bb.scheduler_config).alphas_cumprod
    unet = bb.unet
    unet.requires_grad_(True).train()
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * s / steps)))
    g = torch.Generator().manual_seed(0)
    losses = []
    bar = progress(range(steps), desc="pretrain base", disable=None if show_progress else True)
    for _ in bar:
        idx = torch.randint(0, len(lat), (batch,), generator=g)
        z0 = lat[idx]
        t = torch.randint(0, len(alphas), (batch,), generator=g)
        a = alphas[t].view(-1, 1, 1, 1, 1)
        eps = torch.randn(z0.shape, generator=g)
        target = a.sqrt() * eps - (1 - a).sqrt() * z0
        pred = unet(a.sqrt() * z0 + (1 - a).sqrt() * eps, t, encoder_hidden_states=text.expand(batch, -1, -1)).sample
        loss = torch.nn.functional.mse_loss(pred, target)
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(float(loss.detach()))
        if len(losses) % 50 == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-50:]):.4f}")
    unet.requires_grad_(False).eval()
    return losses


def load_base(bb, file: Path) -> dict:
    """Load a pretrained base (UNet weights and VAE scaling factor) into backbone ``bb``; returns its info."""
    from safetensors import safe_open
    from safetensors.torch import load_file

    if not Path(file).is_file():
        raise FileNotFoundError(f"pretrained base {str(file)!r} is missing; write it with "
                                f"'python benchmarks/motion_overfit.py --pretrain-only --base {file}'")
    with safe_open(str(file), "pt") as f:
        meta = f.metadata()
    bb.vae.register_to_config(scaling_factor=float(meta["scaling_factor"]))
    bb.unet.load_state_dict(load_file(str(file)))
    bb.unet.requires_grad_(False).eval()
    return json.loads(meta["info"])


def load_or_pretrain_base(bb, file: Path, steps: int, data: torch.Tensor | None = None,
                          show_progress: bool = True) -> dict:
    """Load the pretrained base from ``file``, or pretrain it for ``steps`` and write it there (atomically)."""
    from safetensors.torch import save_file

    from motion4d.utils.io import atomic_path

    if Path(file).is_file():
        return {"file": str(file), **load_base(bb, file)}
    t0 = time.time()
    losses = pretrain_base(bb, steps, data=data, show_progress=show_progress)
    info = {"steps": steps, "loss_first50": float(np.mean(losses[:50])), "loss_last50": float(np.mean(losses[-50:])),
            "seconds": round(time.time() - t0, 1)}
    Path(file).parent.mkdir(parents=True, exist_ok=True)
    state = {k: v.detach().contiguous() for k, v in bb.unet.state_dict().items()}
    with atomic_path(file) as tmp:
        save_file(state, str(tmp), metadata={"scaling_factor": repr(float(bb.scaling_factor)),
                                             "info": json.dumps(info)})
    return {"file": str(file), "written": True, **info}


def latent_motion(latents: torch.Tensor) -> torch.Tensor:
    """Latents [C, F, h, w] -> frames [F, h, w, C] for :mod:`motion4d.metrics.motion`."""
    return latents.float().permute(1, 2, 3, 0)


def reference_latents(bb, clip: np.ndarray, folder: Path) -> tuple[Path, torch.Tensor]:
    """Write ``clip`` as the GIF that ``train-motion`` reads (lossless for these few colours) and return its path
    and the latents [C, F, h, w] of what was written (the reference every sample is compared with)."""
    from motion4d.utils.media import read_video, write_gif

    gif = write_gif(clip, Path(folder) / "reference.gif", fps=8)
    seen = read_video(gif).frames
    return gif, bb.encode_frames(torch.from_numpy(seen), sample=False)[0]


def train_lora(bb, model: Path, gif: Path, out: Path, *, steps: int, lr: float = 3e-3, rank: int = 8,
               spatial: bool = False, resume: bool = False, show_progress: bool = False):
    """``motion4d.video.train_motion`` on the one reference clip (temporal LoRA; also the spatial one when
    ``spatial``), no dropout, no weight decay, no validation videos. Returns its TrainResult."""
    from motion4d.config import load_config
    from motion4d.video.config import TrainMotionConfig
    from motion4d.video.train import train_motion

    cfg = load_config(TrainMotionConfig, data={
        "model": str(model), "output_dir": str(out), "seed": 0,
        "data": {"paths": [str(gif)], "caption": PROMPT, "num_frames": FRAMES, "width": SIZE, "height": SIZE},
        "lora": {"rank": rank, "dropout": 0.0, "spatial": spatial}, "steps": steps, "lr": lr, "weight_decay": 0.0,
        "gradient_checkpointing": False, "checkpoint_every": 50, "validation": {"every": -1}})
    return train_motion(cfg, backbone=bb, resume=resume, show_progress=show_progress)


def invert(bb, ref_latents: torch.Tensor) -> torch.Tensor:
    """20-step DDIM inversion [1, C, F, h, w] of the reference by the UNet as it is now (empty prompt, no CFG)."""
    from motion4d.video.inversion import ddim_invert

    return ddim_invert(bb, ref_latents[None], bb.encode_prompt(""), steps=20, show_progress=False)


def evaluate(bb, ref_latents: torch.Tensor, seeds: list[int], max_shift: float, noise_prior: float = 0.0,
             inverted: torch.Tensor | None = None) -> dict:
    """Sample one clip per seed (pure noise, or with ``noise_prior`` p: ``sqrt(p)`` x the DDIM inversion of the
    reference + ``sqrt(1 - p)`` x the seed's noise) and compare each sample's latent motion with the reference's.
    The inversion is ``inverted`` when given, else made by the model as it is now (as ``generate-video`` does).
    Returns the means and a row per seed."""
    from motion4d.metrics.motion import global_shifts, motion_distance
    from motion4d.video.inversion import mix_noise_prior
    from motion4d.video.sampling import initial_noise, sample_video

    noise = torch.cat([initial_noise((1, *ref_latents.shape), s) for s in seeds])
    if noise_prior > 0:
        noise = mix_noise_prior(invert(bb, ref_latents) if inverted is None else inverted, noise, noise_prior)
    out = sample_video(bb, [PROMPT] * len(seeds), num_frames=FRAMES, width=SIZE, height=SIZE, steps=20,
                       guidance=1.0, latents=noise, decode=False, show_progress=False)
    rows = []
    for z in out.latents:
        row = motion_distance(latent_motion(z), latent_motion(ref_latents), max_shift=max_shift)
        row["velocity"] = global_shifts(latent_motion(z), max_shift).mean(0).round(3).tolist()
        rows.append(row)
    keys = ("velocity_err", "shift_err", "energy_corr")
    return {**{k: float(np.mean([r[k] for r in rows])) for k in keys},
            "speed": float(np.mean([np.hypot(*r["velocity"]) for r in rows])), "per_seed": rows}
