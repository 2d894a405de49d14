"""Time one guidance step (render latents -> losses -> backward to the images) per guidance type.

By default runs the tiny random checkpoints of ``motion4d.guidance.tiny`` (code-path cost, useful for
CPU regressions). Point ``--model TYPE=PATH_OR_ID`` at a real checkpoint (e.g. on a GPU machine with
the weights in the Hugging Face cache) to time the real models at their native input sizes and to
record peak CUDA memory.

    python benchmarks/guidance.py --quick
    python benchmarks/guidance.py --model mvdream=ashawkey/mvdream-sd2.1-diffusers --types mvdream --json out.json
"""
from __future__ import annotations

import argparse
import sys
import time

import torch


def run(kind: str, model: str | None, steps: int, device: str) -> dict:
    from motion4d.guidance import Condition, GuidanceConfig, build_guidance
    from motion4d.guidance.tiny import tiny_checkpoint

    tiny = model is None
    tiny_kind = {"zero123": "zero123", "stable-zero123": "zero123", "sd": "sd", "vsd": "sd", "mvdream": "mvdream",
                 "video": "video"}[kind]
    size = {"height": 8, "width": 8} if tiny else {}
    cfg = GuidanceConfig(type=kind, model=str(tiny_checkpoint(tiny_kind)) if tiny else model, device=device,
                         timesteps="uniform", **size)
    g = build_guidance(cfg)
    t0 = time.perf_counter()
    g.load()
    load_s = time.perf_counter() - t0
    spec = g.render_spec
    n = spec.frames if spec.is_clip else spec.views
    h, w = (8, 8) if tiny else (spec.height, spec.width)
    cond = Condition(prompt="a lower", image=torch.rand(h, w, 3), elevation=[15.0] * n,
                     azimuth=[90.0 * i for i in range(n)], radius=2.5)
    dev = g.device_
    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats(dev)
    times = []
    for step in range(steps + 1):
        images = torch.rand(n, h, w, 3, device=dev, requires_grad=True)
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        t0 = time.perf_counter()
        sum(g(images, cond, step).values()).backward()
        if dev.type == "cuda":
            torch.cuda.synchronize(dev)
        if step:                                    # the first step warms up
            times.append(time.perf_counter() - t0)
    row = {"type": kind, "model": "tiny" if tiny else model, "device": str(dev), "renders": n,
           "size": f"{h}x{w}", "load_s": round(load_s, 3), "step_ms": round(1000 * sum(times) / len(times), 2)}
    if dev.type == "cuda":
        row["peak_cuda_gb"] = round(torch.cuda.max_memory_allocated(dev) / 2 ** 30, 3)
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--types", default="zero123,stable-zero123,sd,vsd,mvdream,video")
    p.add_argument("--model", action="append", default=[], metavar="TYPE=PATH_OR_ID",
                   help="real checkpoint for a type (otherwise the tiny random one)")
    p.add_argument("--steps", type=int, default=5)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=0, help="torch CPU threads (0 = torch default)")
    p.add_argument("--quick", action="store_true", help="2 timed steps")
    p.add_argument("--json", metavar="PATH", help="also write the rows as JSON")
    args = p.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    models = dict(m.split("=", 1) for m in args.model)
    steps = 2 if args.quick else args.steps
    rows = [run(k, models.get(k), steps, args.device) for k in args.types.split(",")]
    cols = list(dict.fromkeys(c for r in rows for c in r))
    print(" | ".join(cols))
    for r in rows:
        print(" | ".join(str(r.get(c, "")) for c in cols))
    if args.json:
        from motion4d.utils.io import write_json

        path = write_json(args.json, rows)
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
