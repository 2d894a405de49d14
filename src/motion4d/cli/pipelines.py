"""``motion4d text-to-4d`` and ``motion4d image-to-4d``: thin layers over :mod:`motion4d.pipelines`."""
from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("text-to-4d", help="prompt (+ reference motion / appearance) -> customized clip -> 4D",
                       description="The paper's system in one command: train the LoRAs that are missing, generate a "
                                   "customized clip, matte it, lift it to 4D Gaussians, export PLYs, videos and an "
                                   "animated GLB, score the result and write report.html. Re-running the same command "
                                   "on the same --out continues from the last finished stage. --route hybrid (4D-fy) "
                                   "generates no clip: the 4D scene is optimised by score distillation alone.")
    p.add_argument("prompt", help='what to make, e.g. "a red ball jumping"')
    p.add_argument("--route", choices=("clip", "hybrid"), default="clip",
                   help="clip (default, the paper): a customized clip lifted to 4D; hybrid (4D-fy): 4D optimised "
                        "directly by score distillation, one of MVDream / SD 2.1 (VSD) / the customized video model "
                        "per step (presets hybrid_to_4d/*, keys of HybridTo4DConfig)")
    p.add_argument("--motion", action="append", default=[], metavar="PATH",
                   help="reference video(s) to learn the motion from, or a train-motion run folder / "
                        "temporal.safetensors (repeatable)")
    p.add_argument("--appearance", action="append", default=[], metavar="PATH",
                   help="reference image(s) or folders of images to learn the appearance from, or a run folder / "
                        "spatial.safetensors (repeatable)")
    p.add_argument("--out", required=True, help="run folder (manifest.json, clip/, lift/, report.html)")
    p.add_argument("--preset", default="default", help="quick (CPU, embedded tiny models) or default (default)")
    p.add_argument("--config", default=None, help="YAML config file applied after the preset")
    p.add_argument("--model", default=None,
                   help="text-to-video model: registry key, hub id or folder (clip.model; video.model with --route "
                        "hybrid)")
    p.add_argument("--seed", type=int, default=None, help="random seed (default 0)")
    p.add_argument("--overwrite", action="store_true",
                   help="start again in a folder that holds another run (its stage records are dropped)")
    p.add_argument("overrides", nargs="*", metavar="key=value",
                   help="config overrides, e.g. clip.frames=8 lift.overrides=[dynamic.iters=100]")
    p.set_defaults(func=_text_to_4d)

    i = sub.add_parser("image-to-4d", help="image -> Stable Video Diffusion clip -> 4D (DreamGaussian4D)",
                       description="DreamGaussian4D's image-to-4D in one command: recentre the object, make a driving "
                                   "clip with Stable Video Diffusion, lift it to 4D Gaussians, export and report. "
                                   "Re-running the same command on the same --out continues the run.")
    i.add_argument("image", help="input image (PNG/JPEG/WebP; an alpha channel is used as the object mask)")
    i.add_argument("--out", required=True, help="run folder")
    i.add_argument("--static", default=None, help="3DGS PLY to use as the canonical model (skips the static stage)")
    i.add_argument("--preset", default="default", help="quick (CPU, embedded tiny models) or default (default)")
    i.add_argument("--config", default=None, help="YAML config file applied after the preset")
    i.add_argument("--model", default=None, help="image-to-video model: registry key, hub id or folder (drive.model)")
    i.add_argument("--seed", type=int, default=None, help="random seed; other seeds give other motions (default 0)")
    i.add_argument("--overwrite", action="store_true", help="start again in a folder that holds another run")
    i.add_argument("overrides", nargs="*", metavar="key=value", help="config overrides, e.g. drive.frames=14")
    i.set_defaults(func=_image_to_4d)


def _text_to_4d(args) -> int:
    from motion4d.pipelines import TextTo4DPipeline, load_text_to_4d_config

    if args.route == "hybrid":
        return _hybrid(args)
    overrides = list(args.overrides)
    if args.model:
        overrides.insert(0, f"clip.model={args.model}")
    cfg = load_text_to_4d_config(args.prompt, preset=args.preset, file=args.config, motion=args.motion or None,
                                 appearance=args.appearance or None, seed=args.seed, overrides=overrides)
    # a matting hook typed on this command line may run code; one from --config may not
    from_cli = any(o.startswith("lift.matting=") for o in overrides)
    TextTo4DPipeline(cfg, allow_code=from_cli)(args.out, overwrite=args.overwrite)
    return 0


def _hybrid(args) -> int:
    from motion4d.pipelines import HybridTo4DPipeline, load_hybrid_to_4d_config

    overrides = list(args.overrides)
    if args.model:
        overrides.insert(0, f"video.model={args.model}")
    cfg = load_hybrid_to_4d_config(args.prompt, preset=args.preset, file=args.config, motion=args.motion or None,
                                   appearance=args.appearance or None, seed=args.seed, overrides=overrides)
    HybridTo4DPipeline(cfg)(args.out, overwrite=args.overwrite)
    return 0


def _image_to_4d(args) -> int:
    from motion4d.pipelines import ImageTo4DPipeline, load_image_to_4d_config

    overrides = list(args.overrides)
    if args.model:
        overrides.insert(0, f"drive.model={args.model}")
    cfg = load_image_to_4d_config(args.image, preset=args.preset, file=args.config, static=args.static,
                                  seed=args.seed, overrides=overrides)
    from_cli = any(o.startswith(("matting=", "lift.matting=")) for o in overrides)
    ImageTo4DPipeline(cfg, allow_code=from_cli)(args.out, overwrite=args.overwrite)
    return 0
