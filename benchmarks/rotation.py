"""Rotation recovery (issue #11): a cube with a different colour on each face turns 90 degrees about Y; how far do
the lift's Gaussians turn? Rotation measured by Procrustes between canonical and deformed means.

    PYTHONPATH=src python benchmarks/rotation.py [--json PATH] [key=value ...]   (lift config overrides)

Measured (docs/notes/lift2.md, dev seed 201, 32 px, 5 frames, multiview preset, 100 static / 150 dynamic
iterations): 40.1 degrees of 90. The issue's target is within 10 degrees; not met yet, so this is a benchmark
and not a test.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    from motion4d.evaluation.motion import procrustes, rotation_about
    from motion4d.lift import lift, load_lift_config
    from motion4d.world import SceneSpec, write_scene

    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--json", default=None)
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    spec = SceneSpec("cube", 201, ("box",), ("spin",), faces=True, spin=(0.0, 1.0, 0.0, 90.0))
    scene = spec.make(num_frames=5, size=32, num_points=1500, elevations=[0.0, 30.0], azimuths=[0, 90, 180, 270])
    with tempfile.TemporaryDirectory() as tmp:
        write_scene(scene, Path(tmp) / "scene", show_progress=False, video=False)
        cfg = load_lift_config("multiview", overrides=[
            "output.export=false", "output.preview_every=0", "output.checkpoint_every=0",
            f"camera.background={list(scene.background)}", "static.iters=100", "static.num_points=1200",
            "dynamic.iters=150", *args.overrides])
        start = time.perf_counter()
        res = lift(Path(tmp) / "scene", Path(tmp) / "run", cfg, log=lambda s: None)
        seconds = time.perf_counter() - start
    c = res.canonical
    keep = c.opacities > 0.3
    r, _ = procrustes(c.means[keep], res.gaussians_at(1.0).means[keep], c.opacities[keep])
    truth, _ = procrustes(scene.gaussians_at(0.0).means, scene.gaussians_at(1.0).means)
    row = {"true_deg": round(abs(rotation_about(truth, [0, 1, 0])), 2),
           "recovered_deg": round(abs(rotation_about(r, [0, 1, 0])), 2), "seconds": round(seconds, 1),
           "overrides": args.overrides}
    print("| true deg | recovered deg | seconds |\n|---|---|---|\n"
          f"| {row['true_deg']} | {row['recovered_deg']} | {row['seconds']} |")
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
