"""Cost of video SDS in the lift's dynamic stage (text-to-4d ``lift.video_sds``), per variant:

* ``novel-view``   the novel-view guidance (zero123) on every dynamic step (the lift as it was);
* ``video-P``      a hybrid lift: the customized video model on a share P of the dynamic steps, zero123 on the others
                   (:func:`motion4d.lift.hybrid.dynamic_mix`).

Each lifts the same shapes-world clip (8 frames, 64 px) and reports seconds per static / dynamic step, the share
of dynamic steps that drew the video model, and the last dynamic losses. By default the guidances are the tiny
random checkpoints of ``motion4d.guidance.tiny`` (code-path cost only: the numbers say nothing about quality);
``--zero123`` / ``--video`` / ``--lora`` point at real models on a GPU machine.

    PYTHONPATH=src python benchmarks/lift_hybrid.py [--iters 40] [--variants novel-view,video-0.25,video-1]
        [--threads 1] [--json PATH]
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path


def _clip(root: Path) -> Path:
    from motion4d.world import make_scene, write_scene

    scene = make_scene(7, num_objects=1, motions="translate", num_frames=8, size=64)
    return write_scene(scene, root / "scene", views=False, gaussians=False, show_progress=False) / "reference.mp4"


def run(variant: str, clip: Path, args, out: Path) -> dict:
    from motion4d.guidance.tiny import tiny_checkpoint
    from motion4d.lift import lift, load_lift_config
    from motion4d.lift.hybrid import dynamic_mix

    small = {} if args.zero123 else {"height": 8, "width": 8}
    zero123 = {"model": args.zero123 or str(tiny_checkpoint("zero123")), **small}
    overrides = [f"static.iters={args.iters}", f"dynamic.iters={args.iters}", "dynamic.frames_per_step=4",
                 "dynamic.sds_views_per_frame=1", "output.export=false", "output.preview_every=0",
                 "output.checkpoint_every=0", "prompt=a red ball moving", "guidance.render_size=64"]
    if variant == "novel-view":
        guidance = {"kind": "zero123", "options": zero123}
    else:
        p = float(variant.split("-", 1)[1])
        video = {"type": "video", "model": args.video or str(tiny_checkpoint("video")),
                 **({} if args.video else {"height": 8, "width": 8}), "video": {"num_frames": 8}}
        if args.lora:
            video["video"]["lora_path"] = args.lora
        guidance = {"kind": "hybrid", "options": dynamic_mix("zero123", zero123, "video", video, p, 0.1)}
    cfg = load_lift_config("demo", overrides=overrides, data={"guidance": guidance})
    logs: list[str] = []
    res = lift(clip, out / variant, cfg, log=logs.append)
    meta = res.metadata
    row = {"variant": variant, "s/static step": round(meta["seconds_per_iter"]["static"], 4),
           "s/dynamic step": round(meta["seconds_per_iter"]["dynamic"], 4)}
    hist = [h for h in meta.get("losses", {}).items() if h[0].startswith("sds")]
    row["last dynamic sds terms"] = ", ".join(f"{k} {v:.3g}" for k, v in hist) or "-"
    if variant != "novel-view":
        from motion4d.lift.hybrid import HybridLiftGuidance

        g = HybridLiftGuidance(cfg.guidance.options)
        draws = [g.plan("dynamic", k).guidance for k in range(args.iters)]
        row["video share"] = round(draws.count("video") / len(draws), 3)
    return row


def main(argv: list[str] | None = None) -> int:
    import torch

    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--iters", type=int, default=40, help="static and dynamic steps each")
    p.add_argument("--variants", default="novel-view,video-0.25,video-1")
    p.add_argument("--zero123", default=None, help="a real zero123 model (default: the tiny random one)")
    p.add_argument("--video", default=None, help="a real text-to-video model (default: the tiny random one)")
    p.add_argument("--lora", default=None, help="a motion LoRA (train-motion run or temporal.safetensors)")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    with tempfile.TemporaryDirectory() as tmp:
        clip = _clip(Path(tmp))
        rows = [run(v, clip, args, Path(tmp)) for v in args.variants.split(",")]
    cols = list(dict.fromkeys(c for r in rows for c in r))
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "")) for c in cols))
    if args.json:
        from motion4d.utils.io import write_json

        print(f"wrote {write_json(args.json, rows)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
