"""Batch benchmark: throughput (jobs per minute) in-process vs Ray with 1 and 2 workers, and the per-job
overhead of Ray against running the same jobs in this process.

The jobs are toy ``generate-video`` jobs on the tiny text-to-video model of ``tests/_video_tiny.py``
(``--size`` px, 4 frames, ``--steps`` steps). Each runner gets a fresh output folder. Wall times include each
worker's first model load (the in-process runner loads once; each Ray actor loads once, and starting an actor
costs a Python + torch import); Ray's cluster start-up is timed separately and not included. The Ray cluster
is local, bound to 127.0.0.1, with ``--workers`` fake GPUs (``num_gpus``), so 2 workers on a 2-core machine
share the same cores: on such a machine 2 workers cannot be twice as fast. Times are wall-clock on whatever
machine runs it (it may be shared; say so when you report them).

    python benchmarks/batch.py                      # 8 jobs, 32 px, 2 steps
    python benchmarks/batch.py --jobs 16 --steps 8 --json benchmarks/results/batch.json
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
os.environ.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
                   "RAY_AUTH_MODE": "disabled", "HF_HUB_OFFLINE": "1"})
os.environ["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])  # Ray workers

from motion4d.batch import load_jobs, run_local  # noqa: E402


def _jobs(tmp: Path, model: Path, n: int, size: int, steps: int) -> list:
    import yaml

    data = {"jobs": [{"route": "generate-video", "name": f"j{i}", "prompt": f"a shape number {i}", "seed": i,
                      "model": str(model), "frames": 4, "width": size, "height": size, "steps": steps,
                      "device": "cpu"} for i in range(n)]}
    (tmp / "jobs.yaml").write_text(yaml.safe_dump(data))
    return load_jobs(tmp / "jobs.yaml")


def _row(name: str, wall: float, results: list, extra: dict | None = None) -> dict:
    secs = [r.seconds for r in results]
    assert all(r.status == "done" for r in results), [r.error for r in results if r.status != "done"]
    return {"runner": name, "jobs": len(results), "wall_s": round(wall, 2), "jobs_per_min": round(60 * len(results) / wall, 2),
            "mean_job_s": round(sum(secs) / len(secs), 3), "first_job_s": round(secs[0], 3), **(extra or {})}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--jobs", type=int, default=8)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--steps", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2, help="largest Ray worker count (fake GPUs); 1..N are run")
    ap.add_argument("--no-ray", action="store_true")
    ap.add_argument("--json", help="write the rows here")
    args = ap.parse_args()
    from _video_tiny import build_tiny_model

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        model = build_tiny_model(tmp / "model")
        jobs = _jobs(tmp, model, args.jobs, args.size, args.steps)
        t = time.perf_counter()
        res = run_local(jobs, tmp / "local")
        rows.append(_row("in-process", time.perf_counter() - t, res))
        print(rows[-1], flush=True)
        if not args.no_ray:
            import ray

            from motion4d.batch.ray_runner import run_ray

            t = time.perf_counter()
            ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=args.workers,
                     num_gpus=args.workers, object_store_memory=80 * 2 ** 20, log_to_driver=False)
            start = time.perf_counter() - t
            print(f"ray start-up: {start:.1f} s", flush=True)
            for n in range(1, args.workers + 1):
                t = time.perf_counter()
                res, info = run_ray(jobs, tmp / f"ray{n}", address="local", gpus_per_job=1, max_workers=n)
                rows.append(_row(f"ray-{n}-worker", time.perf_counter() - t, res,
                                 {"workers": info["workers"], "loads": sorted(info["loads"].values()),
                                  "ray_startup_s": round(start, 2)}))
                print(rows[-1], flush=True)
            ray.shutdown()
            base = rows[0]
            for r in rows[1:]:
                r["overhead_per_job_s"] = round((r["wall_s"] - base["wall_s"]) / r["jobs"], 3)
                r["job_overhead_s"] = round(r["mean_job_s"] - base["mean_job_s"], 3)
    info = {"cpus": os.cpu_count(), "load_avg": os.getloadavg(), "args": vars(args)}
    print(json.dumps({"rows": rows, "machine": info}, indent=1))
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "machine": info}, indent=1) + "\n")


if __name__ == "__main__":
    main()
