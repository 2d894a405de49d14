"""Motion overfit check: does a temporal LoRA trained on one clip move the tiny model's samples towards that
clip's motion?

Usage:
    PYTHONPATH=src python benchmarks/motion_overfit.py [--quick] [--clip world|square] [--json PATH]

Builds the tiny test text-to-video model (tests/_video_tiny.py sizes, offline), takes one reference clip (a
shapes-world scene rendered by ``motion4d.world`` when available, else a procedural moving square), trains
dual-path LoRAs on it with ``train_motion``, and compares samples from several seeds (pure noise, no noise prior)
before and after training with two appearance-free motion measures:

* ``shift_err``: mean distance (pixels) between the per-frame-pair global translation of the sample and of the
  reference (phase correlation of consecutive grey frames, sub-pixel by parabolic peak fit);
* ``energy_corr``: Pearson correlation over time between the sample's and the reference's frame-difference energy
  (mean |frame[i+1] - frame[i]|), i.e. whether motion happens at the same moments.

Lower ``shift_err`` and higher ``energy_corr`` after training mean the samples move more like the clip.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))


def motion_descriptors(frames) -> dict:
    return {"frames": frames}


def compare(sample, ref: dict) -> dict:
    from motion4d.video.motion import global_shifts, motion_distance

    out = motion_distance(sample, ref["frames"])
    out["mean_shift"] = global_shifts(sample).mean(0).tolist()
    return out


def _latent_frames(latents: torch.Tensor) -> np.ndarray:
    """Latents [C, F, h, w] -> pseudo-frames [F, h, w, C] (motion measures only use their channel mean)."""
    return latents.float().permute(1, 2, 3, 0).cpu().numpy()


def reference_clip(kind: str, num_frames: int, size: int) -> tuple[np.ndarray, str]:
    """The clip the LoRA learns: [F, H, W, 3] float in [0, 1] and a description."""
    if kind == "world":
        from motion4d.world import make_scene, write_scene

        scene = make_scene(3, motions="translate", num_objects=1, num_frames=num_frames, size=size, num_points=600,
                           background=(0.1, 0.1, 0.3))
        with tempfile.TemporaryDirectory() as d:
            write_scene(scene, Path(d) / "s", views=False, gaussians=False, video=False)
            import imageio.v3 as iio

            files = sorted((Path(d) / "s" / "reference").glob("*.png"))
            rgba = np.stack([iio.imread(f) for f in files]).astype(np.float32) / 255.0
        bg = np.asarray(scene.background, dtype=np.float32)
        return rgba[..., :3] * rgba[..., 3:4] + (1 - rgba[..., 3:4]) * bg, f"shapes world seed 3: {scene.caption}"
    from _video_tiny import moving_square_clip

    return moving_square_clip(num_frames, size=size, square=size // 3, dx=2, dy=1).numpy(), \
        "moving square (dx=2, dy=1 px/frame)"


def random_square_clips(n: int, num_frames: int, size: int, seed: int) -> torch.Tensor:
    """``n`` clips [n, F, H, W, 3] of one square (random colour, size, start) moving with a random integer
    velocity in [-2, 2]^2 (static included) on a random dark background: the base model's 'pretraining' world."""
    from _video_tiny import moving_square_clip

    g = np.random.default_rng(seed)
    clips = []
    for _ in range(n):
        sq = int(g.integers(size // 4, size // 2))
        clips.append(moving_square_clip(
            num_frames, size=size, square=sq, dx=int(g.integers(-2, 3)), dy=int(g.integers(-2, 3)),
            background=tuple(g.uniform(0.0, 0.4, 3)), colour=tuple(g.uniform(0.5, 1.0, 3)),
            start=(int(g.integers(0, size - sq)), int(g.integers(0, size - sq)))))
    return torch.stack(clips)


def pretrain_base(bb, steps: int, num_frames: int, size: int, batch: int = 4, lr: float = 2e-3) -> list[float]:
    """Train the tiny UNet's own weights as a denoiser of random moving squares (epsilon prediction), so that
    its samples are squares moving in random directions before any LoRA is trained. Returns the losses."""
    from diffusers import DDIMScheduler

    clips = random_square_clips(64, num_frames, size, seed=123)
    # like SD's 0.18215, pick the VAE scaling factor that gives the (random) VAE's latents unit variance
    bb.vae.register_to_config(scaling_factor=1.0)
    raw_std = float(torch.cat([bb.encode_frames(c, sample=False) for c in clips[:16]]).std())
    bb.vae.register_to_config(scaling_factor=1.0 / raw_std)
    lat = torch.cat([bb.encode_frames(c, sample=False) for c in clips])            # [64, C, F, h, w]
    text = bb.encode_prompt("lower")
    alphas = DDIMScheduler.from_config(bb.scheduler_config).alphas_cumprod
    unet = bb.unet
    unet.requires_grad_(True).train()
    opt = torch.optim.AdamW(unet.parameters(), lr=lr, weight_decay=0.0)
    g = torch.Generator().manual_seed(0)
    losses = []
    for _ in range(steps):
        idx = torch.randint(0, len(lat), (batch,), generator=g)
        z0 = lat[idx]
        t = torch.randint(0, len(alphas), (batch,), generator=g)
        a = alphas[t].view(-1, 1, 1, 1, 1)
        eps = torch.randn(z0.shape, generator=g)
        pred = unet(a.sqrt() * z0 + (1 - a).sqrt() * eps, t, encoder_hidden_states=text.expand(batch, -1, -1)).sample
        loss = torch.nn.functional.mse_loss(pred, eps)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    unet.requires_grad_(False).eval()
    return losses


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer steps and seeds")
    p.add_argument("--clip", choices=["world", "square"], default="square")
    p.add_argument("--steps", type=int, default=None, help="training steps (default 150, quick 60)")
    p.add_argument("--seeds", type=int, default=None, help="sample seeds (default 8, quick 4)")
    p.add_argument("--pretrain-steps", type=int, default=None,
                   help="steps of base-model pretraining on random moving squares (default 600, quick 200)")
    p.add_argument("--width-mult", type=int, default=2, help="UNet width (8 * this) of the benchmark's tiny model")
    p.add_argument("--lr", type=float, nargs="+", default=[1e-3, 3e-3],
                   help="LoRA learning rates to try, each on the same pretrained base (default 1e-3 3e-3)")
    p.add_argument("--spatial", action="store_true", help="also train the spatial LoRA (default: temporal only)")
    p.add_argument("--noise-prior", type=float, default=0.0,
                   help="sample from sqrt(p) * DDIM-inverted reference latent + sqrt(1-p) * noise, as MotionDirector "
                        "recommends (0.1-0.5) for one-video motions; the inversion uses the base model, so before "
                        "and after training start from the same latents (default 0: pure noise)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    from _video_tiny import build_tiny_model, load_tiny

    from motion4d.config import load_config
    from motion4d.video.config import TrainMotionConfig
    from motion4d.video.outputs import write_mp4
    from motion4d.video.lora import get_lora
    from motion4d.video.motion import global_shifts
    from motion4d.video.sampling import sample_video
    from motion4d.video.inversion import ddim_invert, mix_noise_prior
    from motion4d.video.sampling import initial_noise
    from motion4d.video.train import train_motion

    steps = args.steps or (60 if args.quick else 150)
    n_seeds = args.seeds or (4 if args.quick else 8)
    pre_steps = args.pretrain_steps if args.pretrain_steps is not None else (200 if args.quick else 600)
    frames, size = 8, 32
    clip, clip_name = reference_clip(args.clip, frames, size)
    ref = motion_descriptors(clip)
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        w = 8 * args.width_mult
        model = build_tiny_model(tmp / "model", channels=(w, w))
        video = write_mp4(clip, tmp / "clip.mp4", fps=8)
        bb = load_tiny(model)
        t0 = time.time()
        pre_losses = pretrain_base(bb, pre_steps, frames, size) if pre_steps else []
        pre_time = time.time() - t0

        ref_lat = bb.encode_frames(torch.from_numpy(clip).float(), sample=False)[0]  # [C, F, h, w]
        ref_lat_desc = motion_descriptors(_latent_frames(ref_lat))
        inverted = None
        if args.noise_prior > 0:
            inverted = ddim_invert(bb.unet, bb.scheduler_config, ref_lat[None], bb.encode_prompt(""), steps=20,
                                   show_progress=False)

        def evaluate():
            rows = []
            for s in range(n_seeds):
                init = None
                if inverted is not None:
                    noise = initial_noise(tuple(inverted.shape), 1000 + s, bb.device, bb.dtype)
                    init = mix_noise_prior(inverted, noise, args.noise_prior)
                out = sample_video(bb, "lower", num_frames=frames, width=size, height=size, steps=20, guidance=1.0,
                                   seed=1000 + s, latents=init, show_progress=False)
                row = {f"pixel_{k}": v for k, v in compare(out.frames[0].numpy(), ref).items()}
                row.update({f"latent_{k}": v for k, v in compare(_latent_frames(out.latents[0]), ref_lat_desc).items()})
                row["latent_rel_err"] = float((out.latents[0].float() - ref_lat).norm() / ref_lat.norm())
                rows.append(row)
            keys = [k for k in rows[0] if not k.endswith("mean_shift")]
            return {k: float(np.mean([r[k] for r in rows])) for k in keys}

        t0 = time.time()
        before = evaluate()
        runs = {}
        for lr in args.lr:
            cfg = load_config(TrainMotionConfig, data={
                "model": str(model), "output_dir": str(tmp / f"run-{lr:g}"), "seed": 0,
                "data": {"paths": [str(video)], "caption": "lower", "num_frames": frames, "width": size,
                         "height": size, "clips_per_video": 1},
                "lora": {"rank": 8, "dropout": 0.0, "spatial": args.spatial}, "steps": steps, "lr": lr,
                "weight_decay": 0.0, "checkpoint_every": steps, "validation": {"every": -1}})
            res = train_motion(cfg, backbone=bb, show_progress=False)
            losses = [e["loss_temporal"] for e in res.losses if "loss_temporal" in e]
            runs[f"lr={lr:g}"] = {**evaluate(), "loss_temporal_first10": float(np.mean(losses[:10])),
                                  "loss_temporal_last10": float(np.mean(losses[-10:]))}
            lora = get_lora(bb.unet)
            for name in list(lora.adapters):
                lora.remove(name)
        check_off = evaluate()  # adapters removed: the "before" numbers come back
        elapsed = time.time() - t0
    result = {"clip": clip_name, "steps": steps, "seeds": n_seeds, "frames": frames, "size": size,
              "noise_prior": args.noise_prior,
              "reference_mean_shift": global_shifts(clip).mean(0).tolist(),
              "before": before, "after": runs,
              "adapters_removed": check_off, "paths": "spatial+temporal" if args.spatial else "temporal",
              "seconds": round(elapsed, 1),
              "pretrain_steps": pre_steps, "unet_width": 8 * args.width_mult,
              "pretrain_loss_first20": float(np.mean(pre_losses[:20])) if pre_losses else None,
              "pretrain_loss_last20": float(np.mean(pre_losses[-20:])) if pre_losses else None,
              "pretrain_seconds": round(pre_time, 1)}
    print(f"motion overfit ({clip_name}; base pretrained {pre_steps} steps on random moving squares, "
          f"LoRA {steps} steps, {n_seeds} seeds, {frames}x{size}x{size}, noise prior {args.noise_prior:g})")
    if pre_losses:
        print(f"base pretraining loss: first 20 {result['pretrain_loss_first20']:.4f}, last 20 "
              f"{result['pretrain_loss_last20']:.4f}; {result['pretrain_seconds']} s")
    keys = list(before)
    print(f"{'':16s}" + "".join(f"{k:>22s}" for k in keys))
    table = {"before": before, **{f"after {k}": v for k, v in runs.items()}, "adapters removed": check_off}
    for name, row in table.items():
        print(f"{name:16s}" + "".join(f"{row[k]:22.3f}" for k in keys))
    for k, v in runs.items():
        print(f"temporal loss {k}: first 10 steps {v['loss_temporal_first10']:.4f}, last 10 "
              f"{v['loss_temporal_last10']:.4f}")
    print(f"{result['seconds']} s after pretraining")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
