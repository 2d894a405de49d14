"""Shapes-world benchmark: time to generate, render and evaluate scenes, and self vs frozen scores.

For each benchmark-suite spec (default: the first 3; ``--all`` for all 12): time ``make_scene``
(generation only), ``write_scene`` (all frames, every ground-truth view, PLYs, mp4) and ``evaluate``
of the scene against itself and of the scene frozen at t=0 (``FrozenScene``), with the scores.
Times are wall-clock on whatever machine runs it (it may be shared; say so when you report them).

    python benchmarks/world.py                   # 3 scenes at the defaults (64 px, 16 frames, 17 cameras)
    python benchmarks/world.py --quick           # 1 scene, 32 px, 4 frames, 5 cameras (< 1 minute)
    python benchmarks/world.py --all --json out.json
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from motion4d.evaluation import evaluate  # noqa: E402
from motion4d.world import BENCHMARK_SUITE, FrozenScene, write_scene  # noqa: E402


def run(specs, kwargs, device) -> list[dict]:
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for spec in specs:
            t0 = time.perf_counter()
            scene = spec.make(**kwargs)
            t1 = time.perf_counter()
            path = write_scene(scene, Path(tmp) / spec.name, device=device, show_progress=False)
            t2 = time.perf_counter()
            own = evaluate(scene, path, device=device, optional=False)
            t3 = time.perf_counter()
            frozen = evaluate(FrozenScene(scene), path, device=device, optional=False)
            rows.append({"scene": spec.name, "gaussians": scene.num_gaussians, "frames": scene.num_frames,
                         "cameras": len(scene.cameras()), "make_s": t1 - t0, "write_s": t2 - t1,
                         "eval_s": t3 - t2, "self_psnr": own["psnr"], "self_ssim": own["ssim"],
                         "self_iou": own["mask_iou"], "frozen_psnr": frozen["psnr"], "frozen_ssim": frozen["ssim"],
                         "frozen_iou": frozen["mask_iou"], "frozen_chamfer": frozen["chamfer"]})
            r = rows[-1]
            print(f"{r['scene']:<16} {r['gaussians']:>5} {r['frames']:>3} {r['cameras']:>3} {r['make_s']:>7.2f} "
                  f"{r['write_s']:>8.1f} {r['eval_s']:>7.1f} {r['self_psnr']:>8.2f} {r['self_iou']:>6.3f} "
                  f"{r['frozen_psnr']:>8.2f} {r['frozen_iou']:>6.3f} {r['frozen_chamfer']:>8.4f}", flush=True)
    return rows


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="1 small scene")
    ap.add_argument("--all", action="store_true", help="all 12 benchmark scenes")
    ap.add_argument("--json", default=None, help="write the rows as JSON here")
    ap.add_argument("--device", default="auto")
    args = ap.parse_args()
    specs = list(BENCHMARK_SUITE) if args.all else list(BENCHMARK_SUITE[:1 if args.quick else 3])
    kwargs = dict(num_frames=4, size=32, azimuths=[0, 90, 180, 270], elevations=[0]) if args.quick else {}
    print(f"{'scene':<16} {'N':>5} {'F':>3} {'C':>3} {'make_s':>7} {'write_s':>8} {'eval_s':>7} "
          f"{'self_dB':>8} {'s_iou':>6} {'frz_dB':>8} {'f_iou':>6} {'f_chamf':>8}")
    rows = run(specs, kwargs, args.device)
    if args.json:
        from motion4d.utils.io import write_json

        write_json(args.json, {"settings": kwargs or "defaults", "rows": rows})
        print(f"wrote {args.json}")


if __name__ == "__main__":
    main()
