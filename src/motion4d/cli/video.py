"""``motion4d train-motion``, ``motion4d generate-video`` and ``motion4d convert-motiondirector``."""
from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub) -> None:
    from motion4d.cli._types import seed

    p = sub.add_parser("train-motion", help="train motion (temporal) and/or appearance (spatial) LoRAs",
                       description="Train MotionDirector-style dual-path LoRAs on videos and/or images. "
                                   "Config: defaults < --preset (repeatable) < --config FILE < key=value overrides.")
    p.add_argument("--config", help="YAML config file (keys of motion4d.video.config.TrainMotionConfig)")
    p.add_argument("--preset", action="append", default=[],
                   help="preset from presets/motion (single_video, multi_videos, single_image, multi_images, "
                        "gpu_16gb, gpu_24gb); repeat to combine")
    p.add_argument("--resume", action="store_true", help="continue from the newest checkpoint in output_dir")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. steps=300 data.fps=8")
    p.set_defaults(func=_train)

    g = sub.add_parser("generate-video", help="generate a video with optional motion/appearance LoRAs",
                       description="Text-to-video with ZeroScope/ModelScope plus trained or imported LoRAs. Writes "
                                   "OUT/video.mp4, OUT/video.gif, OUT/frames/ and OUT/settings.json.")
    g.add_argument("prompt")
    g.add_argument("--model", default="zeroscope", help="registry key, hub id or local folder (default zeroscope)")
    g.add_argument("--motion", help="temporal LoRA file or train-motion run folder")
    g.add_argument("--appearance", help="spatial LoRA file or train-motion run folder")
    g.add_argument("--motion-scale", type=float, default=1.0)
    g.add_argument("--appearance-scale", type=float, default=1.0)
    g.add_argument("--noise-prior", type=float, default=0.0, help="p in [0, 1]: z = sqrt(p) z_inv + sqrt(1-p) eps")
    g.add_argument("--noise-prior-video", help="reference video, or RUN/cache/clip-0000.safetensors")
    g.add_argument("--seed", type=seed, help="noise seed (default: random, recorded in settings.json)")
    g.add_argument("--frames", type=int, default=16)
    g.add_argument("--width", type=int, default=384)
    g.add_argument("--height", type=int, default=384)
    g.add_argument("--steps", type=int, default=30)
    g.add_argument("--guidance", type=float, default=12.0)
    g.add_argument("--scheduler", default="ddim", help="sampling scheduler: ddim (default), dpm-solver++, unipc, "
                   "euler; flow-match-euler for flow-matching backbones")
    g.add_argument("--negative-prompt", default="")
    g.add_argument("--fps", type=float, default=8.0)
    g.add_argument("--device", default="auto")
    g.add_argument("--precision", default="auto", choices=["auto", "fp32", "fp16", "bf16"])
    g.add_argument("--allow-base-mismatch", action="store_true",
                   help="apply LoRAs trained on another base model with the same architecture")
    g.add_argument("--out", required=True, help="output folder (new, empty, or an earlier generate-video folder)")
    g.add_argument("--overwrite", action="store_true",
                   help="write into a non-empty folder that motion4d did not make (files of other names are kept)")
    g.set_defaults(func=_generate)

    c = sub.add_parser("convert-motiondirector", help="import MotionDirector LoRA checkpoints",
                       description="Convert checkpoint-N/{spatial,temporal}/lora/N_unet.pt (pickled lists, read with "
                                   "weights_only=True) into OUT/{spatial,temporal}.safetensors.")
    c.add_argument("path", help="checkpoint-N folder, spatial/ or temporal/ folder, lora/ folder or N_unet.pt file")
    c.add_argument("out", help="output folder")
    c.add_argument("--base-model", default="zeroscope", help="base model the LoRA was trained on (default zeroscope)")
    c.add_argument("--spatial-index", type=int, metavar="K",
                   help="multi-video checkpoints: convert the spatial LoRA of training video K (0-based)")
    c.set_defaults(func=_convert)


def _train(args: argparse.Namespace) -> int:
    from motion4d.video.config import load_train_config
    from motion4d.video.train import train_motion

    cfg = load_train_config(args.config, args.preset, args.overrides)
    res = train_motion(cfg, resume=args.resume)
    print(f"trained {res.steps} steps -> {res.output_dir}")
    for name, path in (("motion (temporal) LoRA", res.temporal), ("appearance (spatial) LoRA", res.spatial)):
        if path:
            print(f"  {name}: {path}")
    print(f"  log: {res.log}")
    for s in res.samples[-3:]:
        print(f"  sample: {s / 'video.mp4'}")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from motion4d.utils.run_dir import prepare_run_dir
    from motion4d.video.generate import generate_video

    prepare_run_dir(args.out, "generate-video", overwrite=args.overwrite, legacy=["settings.json"])
    res = generate_video(
        args.prompt, args.out, model=args.model, motion=args.motion, appearance=args.appearance,
        motion_scale=args.motion_scale, appearance_scale=args.appearance_scale, noise_prior=args.noise_prior,
        noise_prior_video=args.noise_prior_video, seed=args.seed, num_frames=args.frames, width=args.width,
        height=args.height, steps=args.steps, guidance=args.guidance, negative_prompt=args.negative_prompt,
        fps=args.fps, device=args.device, precision=args.precision, allow_base_mismatch=args.allow_base_mismatch,
        scheduler=args.scheduler)
    for note in res.notes:
        print(note)
    print(f"generated {args.frames} frames at {args.width}x{args.height} (seed {res.seed})")
    for key in ("mp4", "gif", "frames", "settings"):
        print(f"  {key}: {res.paths[key]}")
    return 0


def _convert(args: argparse.Namespace) -> int:
    from motion4d.video.convert import convert_motiondirector

    written = convert_motiondirector(args.path, args.out, base_model=args.base_model,
                                     spatial_index=args.spatial_index)
    print(f"converted MotionDirector checkpoint {args.path}")
    for name, path in written.items():
        print(f"  {name}: {path}")
    for note in written.notes:
        print(f"  note: {note}")
    return 0
