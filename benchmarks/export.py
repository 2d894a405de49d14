"""Export speed: density grid, mesh extraction and animated-GLB export on synthetic Gaussians.

Prints a table; ``--json PATH`` also writes the rows; ``--quick`` runs a small size in seconds.

    PYTHONPATH=src python benchmarks/export.py                 # 20k Gaussians, resolution 128, 16 frames
    PYTHONPATH=src python benchmarks/export.py --quick --json out.json

The Gaussians fill a ball of radius 0.5 (uniform means, log-uniform scales 0.005..0.03, random
rotations, opacities 0.3..1), like a trained object-sized 3DGS model; the 4D scene moves them with a
translation plus a rotation about +Y growing with time. Timings are wall-clock on the current
machine after one warm-up call (numba kernels compiled and cached), median of ``--repeats``.
"""
from __future__ import annotations

import argparse
import json
import math
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch

from motion4d.gaussians import Gaussians


def random_ball(n: int, seed: int = 0) -> Gaussians:
    g = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=g), dim=-1)
    means = dirs * 0.5 * torch.rand(n, 1, generator=g) ** (1 / 3)
    scales = torch.exp(math.log(0.005) + (math.log(0.03) - math.log(0.005)) * torch.rand(n, 3, generator=g))
    quats = torch.randn(n, 4, generator=g)
    opac = 0.3 + 0.7 * torch.rand(n, generator=g)
    rgb = 0.5 + 0.5 * means / 0.5
    return Gaussians(means, quats, scales, opac, ((rgb.clamp(0, 1) - 0.5) / 0.28209479177387814)[:, None, :])


class SwayScene:
    """Gaussians translating along +x and turning about +Y over the clip (index-corresponding)."""

    def __init__(self, base: Gaussians, num_frames: int):
        self.base, self.num_frames, self.fps = base, num_frames, 12.0

    def gaussians_at(self, t: float) -> Gaussians:
        a = 0.5 * t
        rot = torch.tensor([[math.cos(a), 0, math.sin(a)], [0, 1, 0], [-math.sin(a), 0, math.cos(a)]])
        return self.base.replace(means=self.base.means @ rot.T + torch.tensor([0.2 * t, 0.0, 0.0]))


def timed(fn, repeats: int) -> tuple[float, object]:
    fn()  # warm-up: numba compile / cache load, allocator
    times, out = [], None
    for _ in range(repeats):
        t0 = time.perf_counter()
        out = fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--gaussians", type=int, default=20000)
    p.add_argument("--resolution", type=int, default=128)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--threshold", type=float, default=0.5)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--torch", action="store_true", help="also time the torch density backend on this device")
    p.add_argument("--quick", action="store_true", help="2k Gaussians, resolution 64, 4 frames, 1 repeat")
    p.add_argument("--json", type=Path, help="write the rows as JSON")
    args = p.parse_args(argv)
    if args.quick:
        args.gaussians, args.resolution, args.frames, args.repeats = 2000, 64, 4, 1

    from motion4d.export import density_grid, export_animated_glb, extract_mesh

    g = random_ball(args.gaussians)
    rows = []

    def row(name, seconds, **extra):
        rows.append({"step": name, "gaussians": args.gaussians, "resolution": args.resolution,
                     "seconds": round(seconds, 3), **extra})

    sec, grid = timed(lambda: density_grid(g, args.resolution, backend="numba"), args.repeats)
    row("density_grid numba", sec, grid=list(grid.density.shape), max_density=round(float(grid.density.max()), 3))
    if args.torch:
        sec, _ = timed(lambda: density_grid(g, args.resolution, backend="torch"), 1)
        row("density_grid torch", sec)
    sec, mesh = timed(lambda: extract_mesh(g, args.resolution, args.threshold), args.repeats)
    row("extract_mesh", sec, vertices=len(mesh.vertices), faces=len(mesh.faces))
    scene = SwayScene(g, args.frames)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "anim.glb"
        sec, _ = timed(lambda: export_animated_glb(scene, out, resolution=args.resolution,
                                                   threshold=args.threshold), args.repeats)
        row("export_animated_glb", sec, frames=args.frames, megabytes=round(out.stat().st_size / 2 ** 20, 2))

    print(f"export benchmark  ({platform.processor() or platform.machine()}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads)")
    print(f"{'step':<22}{'N':>8}{'res':>6}{'seconds':>10}  extra")
    for r in rows:
        extra = {k: v for k, v in r.items() if k not in ("step", "gaussians", "resolution", "seconds")}
        print(f"{r['step']:<22}{r['gaussians']:>8}{r['resolution']:>6}{r['seconds']:>10.3f}  {extra}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"argv": sys.argv[1:], "rows": rows}, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
