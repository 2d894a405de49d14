"""``motion4d batch JOBS.yaml --out DIR [--ray auto|local|ADDRESS] [--gpus-per-job X] [--max-retries N]``."""
from __future__ import annotations

import argparse

__all__ = ["register"]


def register(sub) -> None:
    p = sub.add_parser("batch", help="run a list of jobs (text-to-4d, image-to-4d, ...) here or on a Ray cluster",
                       description="Run the jobs of a YAML jobs file (routes text-to-4d, image-to-4d, video-to-4d, "
                                   "train-motion, generate-video; sweeps of prompts x seeds x loras) into "
                                   "DIR/jobs/<name>/, then write DIR/summary.json, DIR/summary.csv and the gallery "
                                   "DIR/index.html. Re-running skips finished jobs and continues cut-off ones. "
                                   "See docs/guide/batch.md.")
    p.add_argument("jobs", help="the jobs file (YAML)")
    p.add_argument("--out", required=True, help="output folder")
    p.add_argument("--ray", metavar="ADDRESS", help="run on Ray: 'auto' (an existing cluster), 'local' (start one "
                                                     "here), host:port or ray://host:10001; default: in this process")
    p.add_argument("--gpus-per-job", type=float, default=None,
                   help="GPUs per worker with --ray (fractions allowed; 0 = CPU workers; default 1 if the cluster has "
                        "GPUs, else 0)")
    p.add_argument("--max-retries", type=int, default=0, help="retries of a failing job before it is recorded as "
                                                              "failed (default 0)")
    p.add_argument("--max-workers", type=int, default=None, help="at most this many Ray workers")
    p.add_argument("--verbose", action="store_true", help="print the jobs' own log lines (in-process only)")
    p.set_defaults(func=_batch)


def _batch(args: argparse.Namespace) -> int:
    from motion4d.batch import Progress, load_jobs, plan, run_local, write_summary
    from motion4d.utils.run_dir import check_out_dir

    if args.max_retries < 0:
        raise ValueError(f"--max-retries must be >= 0, got {args.max_retries}")
    jobs = load_jobs(args.jobs)  # every job is checked before anything runs or is written
    check_out_dir(args.out)
    todo, skipped = plan(jobs, args.out)
    print(f"batch: {len(jobs)} jobs ({len(skipped)} already done) -> {args.out}")
    progress = Progress(len(jobs), skipped=len(skipped))
    info: dict = {"runner": "ray" if args.ray else "local"}
    if not todo:
        ran = []
    elif args.ray:
        from motion4d.batch.ray_runner import run_ray

        ran, ray_info = run_ray(todo, args.out, address=args.ray, gpus_per_job=args.gpus_per_job,
                                max_retries=args.max_retries, max_workers=args.max_workers, progress=progress)
        info.update(ray_info)
    else:
        ran = run_local(todo, args.out, max_retries=args.max_retries, progress=progress, quiet=not args.verbose)
    by_name = {r.name: r for r in [*ran, *skipped]}
    results = [by_name[j.name] for j in jobs]
    paths = write_summary(args.out, results, info)
    failed = [r for r in results if r.status == "failed"]
    print(f"\nbatch: {len(results) - len(failed)} done, {len(failed)} failed; gallery: {paths['html']}")
    for r in failed:
        print(f"  failed: {r.name} ({r.attempts} attempts): {r.error}")
    return 3 if failed else 0
