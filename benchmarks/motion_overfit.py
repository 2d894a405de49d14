"""Motion overfit check: does a temporal LoRA trained on one shapes-world clip make a tiny text-to-video model's
samples move more like that clip?

Usage:
    PYTHONPATH=src python benchmarks/motion_overfit.py [--quick] [--seeds N] [--steps N [N ...]] [--json PATH]
        [--reference world|square] [--base-world squares|world] [--noise-prior P] [--spatial]

Offline and CPU-sized (the pieces are in tests/_video_overfit.py, shared with tests/test_video_overfit.py):

1. **Base model.** The tests' tiny text-to-video model (UNet3D width 16, random VAE with latents rescaled to unit
   variance, v-prediction) pretrained for 2000 steps as a denoiser of the square world (one square moving by
   -2, 0 or 2 px/frame per axis) or on 256 shapes-world scenes (``--base-world world``: seeds 5000-5255, one
   object translating or bouncing). Both bases are in ``tests/data/`` (about 20-25 min each to remake with
   ``--pretrain-only --base NEW_FILE``).
2. **Reference.** ``make_scene(4, objects="box", motions="translate")``, "a cyan box moving to the right", front
   view, 32x32, 8 frames (``--reference square``: a square-world square moving right, the control).
3. **Temporal LoRA.** ``train_motion`` on that one clip (temporal path, appearance-debiased loss, rank 8; with
   ``--spatial`` also the spatial path, switched off when sampling), evaluated after each ``--steps`` total.
4. **Evaluation.** The same seeds sampled (20 DDIM steps, no guidance; noise prior 0.5 by default, 0 = pure noise) before,
   after, and with the adapter removed again (equals "before"). Motion is compared in latent space with
   :mod:`motion4d.metrics.motion`: ``velocity_err`` (distance between the mean per-frame shifts, latent
   px/frame), ``shift_err``, ``energy_corr``, the samples' mean speed and velocity, and how many seeds got closer.

Figures and their exact commands: docs/benchmarks.md.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

BASES = {"squares": ROOT / "tests" / "data" / "motion_overfit_base_squares.safetensors",
         "world": ROOT / "tests" / "data" / "motion_overfit_base_world.safetensors"}

def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--quick", action="store_true", help="fewer seeds and LoRA steps (checks the script)")
    p.add_argument("--seeds", type=int, default=None, help="sample seeds (default 16, quick 4)")
    p.add_argument("--steps", type=int, nargs="+", default=None,
                   help="evaluate after each of these total LoRA steps (default 150 300, quick 20)")
    p.add_argument("--lr", type=float, default=3e-3, help="LoRA learning rate (default 3e-3)")
    p.add_argument("--rank", type=int, default=8, help="LoRA rank (default 8)")
    p.add_argument("--spatial", action="store_true",
                   help="train the spatial LoRA too (MotionDirector's dual path); samples use the temporal one only")
    p.add_argument("--noise-prior", type=float, default=0.5,
                   help="sample from sqrt(p) x the reference's DDIM inversion + sqrt(1-p) x noise (default 0.5, "
                        "MotionDirector's single-video setting; 0: pure noise)")
    p.add_argument("--invert-with", choices=["current", "base"], default="current",
                   help="noise prior: invert the reference with the model being sampled (current, as generate-video "
                        "does) or always with the base (the same starting latents before and after)")
    p.add_argument("--base-world", choices=["squares", "world"], default="world",
                   help="the base's pretraining clips: square world, or shapes-world scenes (seeds 5000+, "
                        "translate/bounce)")
    p.add_argument("--pretrain-steps", type=int, default=2000, help="base pretraining steps (default 2000)")
    p.add_argument("--base", type=Path, default=None,
                   help="pretrained base UNet file; pretrained and written there when missing (default: "
                        "tests/data/motion_overfit_base_<world>.safetensors)")
    p.add_argument("--pretrain-only", action="store_true", help="stop after writing --base")
    p.add_argument("--reference", choices=["world", "square"], default="world",
                   help="the clip the LoRA learns: the shapes-world scene (default), or a square-world square "
                        "moving right at 2 px/frame (the control: a motion the base can already make)")
    p.add_argument("--scene-seed", type=int, default=4, help="shapes-world seed of the reference (default 4)")
    p.add_argument("--object", default="box", help="its object kind (default box: 'a cyan box moving to the right')")
    p.add_argument("--fovy", type=float, default=49.1, help="reference camera's vertical field of view (degrees)")
    p.add_argument("--max-shift", type=float, default=2.0, help="largest motion searched, latent px per frame")
    p.add_argument("--threads", type=int, default=2, help="torch threads (default 2)")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    # checked before anything is loaded or pretrained (a missing base takes ~20 min to make)
    for name in ("seeds", "rank", "pretrain_steps", "threads"):
        value = getattr(args, name)
        if value is not None and value < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if args.steps is not None and min(args.steps) < 1:
        p.error(f"--steps must be >= 1 each, got {args.steps}")
    if not 0.0 <= args.noise_prior <= 1.0:
        p.error(f"--noise-prior must be in [0, 1], got {args.noise_prior}")
    if args.lr <= 0 or args.max_shift <= 0:
        p.error(f"--lr and --max-shift must be > 0, got {args.lr} and {args.max_shift}")
    if args.pretrain_only and args.base is None:
        p.error("--pretrain-only needs --base NEW_FILE (the defaults in tests/data/ already exist)")
    torch.set_num_threads(args.threads)
    from _video_overfit import (SPEED, evaluate, invert, latent_motion, load_or_pretrain_base, make_base_model,
                                reference_latents, train_lora, world_clip, world_clips)
    from _video_tiny import load_tiny, moving_square_clip

    from motion4d.metrics.motion import global_shifts
    from motion4d.video.lora import get_lora

    n_seeds = args.seeds or (4 if args.quick else 16)
    stages = sorted(args.steps or ([20] if args.quick else [150, 300]))
    seeds = [1000 + s for s in range(n_seeds)]
    base_file = args.base or BASES[args.base_world]
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = make_base_model(tmp / "model")
        bb = load_tiny(model)
        data = world_clips(256, 5000) if args.base_world == "world" and not base_file.is_file() else None
        base = load_or_pretrain_base(bb, base_file, args.pretrain_steps, data=data)
        if args.pretrain_only:
            print(f"base model: {base}")
            return 0
        if args.reference == "world":
            clip, caption = world_clip(args.scene_seed, args.fovy, objects=args.object)
            name = f"shapes world seed {args.scene_seed}: {caption}"
        else:
            clip = moving_square_clip(8, 32, 10, SPEED, 0, background=(0.05,) * 3, colour=(0.3, 0.9, 0.9),
                                      start=(4, 11)).numpy()
            name = f"square world: a cyan square moving right at {SPEED} px/frame"
        gif, ref = reference_latents(bb, clip, tmp)

        t0 = time.time()
        fixed = invert(bb, ref) if args.noise_prior > 0 and args.invert_with == "base" else None
        before = evaluate(bb, ref, seeds, args.max_shift, args.noise_prior, fixed)
        after, losses = {}, []
        for k, total in enumerate(stages):   # train to each stage's total, resuming the same run
            lora = get_lora(bb.unet)
            for adapter in list(lora.adapters):
                lora.remove(adapter)
            res = train_lora(bb, model, gif, tmp / "run", steps=total, lr=args.lr, rank=args.rank,
                             spatial=args.spatial, resume=k > 0, show_progress=True)
            losses += [e["loss_temporal"] for e in res.losses]
            with get_lora(bb.unet).scaled(**({"spatial": 0.0} if args.spatial else {})):
                after[total] = evaluate(bb, ref, seeds, args.max_shift, args.noise_prior, fixed)
        lora = get_lora(bb.unet)
        for adapter in list(lora.adapters):
            lora.remove(adapter)
        removed = evaluate(bb, ref, seeds, args.max_shift, args.noise_prior, fixed)
        seconds = time.time() - t0

    ref_velocity = global_shifts(latent_motion(ref), args.max_shift).mean(0)
    result = {
        "reference": name, "reference_velocity": ref_velocity.round(3).tolist(), "base_world": args.base_world,
        "base": base, "seeds": n_seeds, "lr": args.lr, "rank": args.rank, "spatial": args.spatial,
        "noise_prior": args.noise_prior, "invert_with": args.invert_with, "max_shift": args.max_shift, "loss_temporal": losses,
        "before": before, "after": {str(k): v for k, v in after.items()}, "adapter_removed": removed,
        "seeds_closer": {str(k): sum(a["velocity_err"] < b["velocity_err"]
                                     for a, b in zip(v["per_seed"], before["per_seed"])) for k, v in after.items()},
        "seconds_after_base": round(seconds, 1)}

    print(f"\nmotion overfit: {name}; reference velocity {ref_velocity.round(2).tolist()} latent px/frame")
    print(f"base: {args.base_world} ({base.get('steps')} steps); temporal LoRA rank {args.rank}, lr {args.lr:g}"
          f"{', with spatial LoRA (off when sampling)' if args.spatial else ''}; noise prior {args.noise_prior:g}"
          f"{' (inverted by ' + args.invert_with + ' model)' if args.noise_prior else ''}; "
          f"{n_seeds} seeds")
    print(f"{'':22s}{'velocity_err':>13s}{'shift_err':>11s}{'energy_corr':>13s}{'speed':>8s}{'mean vx':>9s}"
          f"{'mean vy':>9s}{'closer':>8s}")
    rows = [("before", before, "")] + [(f"after {k} steps", v, f"{result['seeds_closer'][str(k)]}/{n_seeds}")
                                       for k, v in after.items()] + [("adapter removed", removed, "")]
    for label, row, closer in rows:
        vx, vy = np.mean([r["velocity"] for r in row["per_seed"]], axis=0)
        print(f"{label:22s}{row['velocity_err']:13.3f}{row['shift_err']:11.3f}{row['energy_corr']:13.3f}"
              f"{row['speed']:8.3f}{vx:9.3f}{vy:9.3f}{closer:>8s}")
    print(f"temporal loss first 10 {np.mean(losses[:10]):.4f}, last 10 {np.mean(losses[-10:]):.4f}; "
          f"{result['seconds_after_base']} s after the base")
    if args.json:
        from motion4d.utils.io import write_json

        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
