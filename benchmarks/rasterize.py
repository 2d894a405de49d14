"""Rasterizer benchmark: forward + backward time of the CPU backend against the dense oracle.

Scene (per case): N Gaussians uniform in the unit ball, one camera at distance 4 with a 50 degree
field of view, log-scales ~ N(-3.5, 0.5), random rotations, opacity = sigmoid(N(0, 1)), random RGB
(SH degree 0); loss = L1 against a random image. A step is everything a training step does in the
renderer: projection, SH, binning, compositing, the loss and the backward to the raw parameters.
Times are the minimum over repeats (the machine may be shared).

    python benchmarks/rasterize.py                 # full table
    python benchmarks/rasterize.py --quick         # < 1 minute
    python benchmarks/rasterize.py --json out.json
    python benchmarks/rasterize.py --threads 1     # process CPU time on one thread (shared machines)

On a shared, oversubscribed machine also set ``OMP_WAIT_POLICY=PASSIVE``: torch's spinning OpenMP
threads otherwise make 2-thread wall-clock times several times worse than 1-thread times.

``dense_ms`` is the dense pure-torch oracle (tests/_render_oracle.py) on the same scene, only where
it fits (<= 5000 Gaussians at <= 128 px: it needs O(H*W*N) memory, ~5 GB at 5000 x 128^2).
``grad_rel_err`` is max over parameters of ||g_cpu - g_dense|| / ||g_dense||. On a CUDA machine with
gsplat installed, ``gsplat_ms`` and ``gsplat_rgb_max_diff`` (max |rgb_cpu - rgb_gsplat| on the same
scene: backend parity) are added.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from motion4d.camera import Cameras  # noqa: E402
from motion4d.gaussians import Gaussians  # noqa: E402
from motion4d.render import render  # noqa: E402

CASES = [(2000, 128), (5000, 128), (20000, 256)]
EXTRA_CASES = [(5000, 256), (50000, 256), (20000, 512)]
DENSE_MAX = (5000, 128)


def make_scene(n: int, res: int, seed: int = 0, device="cpu"):
    gen = torch.Generator().manual_seed(seed)
    dirs = torch.nn.functional.normalize(torch.randn(n, 3, generator=gen), dim=-1)
    means = dirs * torch.rand(n, 1, generator=gen) ** (1 / 3)
    params = {
        "means": means,
        "log_scales": -3.5 + 0.5 * torch.randn(n, 3, generator=gen),
        "quats": torch.randn(n, 4, generator=gen),
        "opacity_logits": torch.randn(n, generator=gen),
        "sh": ((torch.rand(n, 3, generator=gen) - 0.5) / 0.28209479177387814)[:, None, :],
    }
    params = {k: v.to(device).requires_grad_() for k, v in params.items()}
    cams = Cameras.orbit(0.0, 0.0, radius=4.0, fovy=50.0, width=res).to(device)
    target = torch.rand(1, res, res, 3, generator=gen).to(device)
    return params, cams, target


def gaussians(p):
    return Gaussians(p["means"], p["quats"], torch.exp(p["log_scales"]), torch.sigmoid(p["opacity_logits"]), p["sh"])


def step(render_fn, params, cams, target):
    for v in params.values():
        v.grad = None
    out = render_fn(gaussians(params), cams)
    loss = (out.rgb - target).abs().mean()
    loss.backward()
    return {k: v.grad.clone() for k, v in params.items()}


CLOCK = time.perf_counter  # main() switches to process CPU time for --threads 1


def timed(fn, repeats: int, sync=lambda: None):
    best, result = math.inf, None
    for _ in range(repeats):
        sync()
        t0 = CLOCK()
        result = fn()
        sync()
        best = min(best, CLOCK() - t0)
    return best * 1e3, result


def run_case(n, res, repeats, dense_repeats, with_dense, with_gsplat):
    params, cams, target = make_scene(n, res)
    cpu = lambda g, c: render(g, c, backend="cpu")  # noqa: E731
    step(cpu, params, cams, target)  # warm-up (loads the cached kernels)
    cpu_ms, g_cpu = timed(lambda: step(cpu, params, cams, target), repeats)
    row = {"gaussians": n, "resolution": res, "cpu_ms": round(cpu_ms, 2), "dense_ms": None, "speedup": None,
           "grad_rel_err": None}
    if with_dense:
        from _render_oracle import render_dense

        dense_ms, g_dense = timed(lambda: step(render_dense, params, cams, target), dense_repeats)
        row["dense_ms"] = round(dense_ms, 1)
        row["speedup"] = round(dense_ms / cpu_ms, 1)
        row["grad_rel_err"] = float(max(((g_cpu[k] - g_dense[k]).norm() / g_dense[k].norm()).item() for k in g_cpu))
    if with_gsplat:
        p_cuda, cams_cuda, target_cuda = make_scene(n, res, device="cuda")
        gs = lambda g, c: render(g, c, backend="gsplat")  # noqa: E731
        step(gs, p_cuda, cams_cuda, target_cuda)
        row["gsplat_ms"] = round(timed(lambda: step(gs, p_cuda, cams_cuda, target_cuda), repeats,
                                       torch.cuda.synchronize)[0], 3)
        with torch.no_grad():  # backend parity on the same scene: max |rgb_cpu - rgb_gsplat|
            rgb_cpu = cpu(gaussians(params), cams).rgb
            rgb_gs = gs(gaussians(p_cuda), cams_cuda).rgb.cpu()
        row["gsplat_rgb_max_diff"] = float((rgb_cpu - rgb_gs).abs().max())
    return row


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--quick", action="store_true", help="few repeats, only the required cases (< 1 minute)")
    ap.add_argument("--json", type=Path, help="also write the results to this JSON file")
    ap.add_argument("--repeats", type=int, default=None, help="repeats of the CPU step (default 7, quick 3)")
    ap.add_argument("--no-dense", action="store_true", help="skip the dense oracle")
    ap.add_argument("--threads", type=int, default=None,
                    help="CPU threads for torch and numba (default: torch's default)")
    args = ap.parse_args(argv)
    global CLOCK
    if args.threads:
        import numba

        torch.set_num_threads(args.threads)
        numba.set_num_threads(args.threads)
        if args.threads == 1:  # one thread: CPU time is robust to other jobs sharing the machine
            CLOCK = time.process_time
    repeats = args.repeats or (3 if args.quick else 7)
    dense_repeats = 1 if args.quick else 2
    with_gsplat = torch.cuda.is_available()
    if with_gsplat:
        try:
            import gsplat  # noqa: F401
        except ImportError:
            print("CUDA is available but gsplat is not installed: skipping gsplat timings "
                  "(pip install 'motion4d[cuda]')")
            with_gsplat = False
    cases = CASES if args.quick else CASES + EXTRA_CASES
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load average {load:.2f}; "
          f"fwd+bwd per step, min of {repeats} (dense: {dense_repeats}), "
          f"{'process CPU time' if CLOCK is time.process_time else 'wall clock'}")
    rows = []
    header = f"{'gaussians':>9} {'res':>5} {'cpu_ms':>9} {'dense_ms':>10} {'speedup':>8} {'grad_rel_err':>12}"
    if with_gsplat:
        header += f" {'gsplat_ms':>10} {'gs_rgb_diff':>11}"
    print(header)
    for n, res in cases:
        with_dense = not args.no_dense and n <= DENSE_MAX[0] and res <= DENSE_MAX[1]
        row = run_case(n, res, repeats, dense_repeats, with_dense, with_gsplat)
        rows.append(row)
        fmt = lambda v, f, w: format("-" if v is None else format(v, f), f">{w}")  # noqa: E731
        line = (f"{n:>9} {res:>5} {row['cpu_ms']:>9.1f} {fmt(row['dense_ms'], '.0f', 10)} "
                f"{fmt(row['speedup'], '.0f', 8)} {fmt(row['grad_rel_err'], '.2e', 12)}")
        if with_gsplat:
            line += f" {row['gsplat_ms']:>10.2f} {row['gsplat_rgb_max_diff']:>11.2e}"
        print(line, flush=True)
    if args.json:
        from motion4d.utils.io import write_json

        meta = {"torch": torch.__version__, "threads": torch.get_num_threads(), "load_average": load,
                "clock": "process_time" if CLOCK is time.process_time else "perf_counter",
                "repeats": repeats, "quick": args.quick}
        print(f"wrote {write_json(args.json, {'cases': rows, 'meta': meta})}")
    return rows


if __name__ == "__main__":
    main()
