"""Running a batch on a Ray cluster: one actor per GPU slot (or CPU slot), models loaded once per actor.

Actors, not tasks: Ray GPU tasks default to ``max_calls=1`` (a fresh process per task), which would reload the
models for every job. Each actor is a :class:`~motion4d.batch.runner.BatchWorker` holding a
:class:`~motion4d.batch.routes.ModelCache`. A job that raises is retried (on whichever actor is free) up to
``max_retries`` times and then recorded as failed; an actor that dies (out of memory, a crash) is restarted by
Ray and the job it held counts one attempt. Ray itself is optional (``pip install "motion4d[batch]"``) and
imported only here.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable

from motion4d.batch.jobs import Job
from motion4d.batch.runner import BatchWorker, JobResult, Progress

__all__ = ["run_ray", "connect", "slots", "RAY_HINT"]

RAY_HINT = 'Ray is not installed; install the batch extra: pip install "motion4d[batch]"'


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError(RAY_HINT) from None
    return ray


def connect(address: str) -> Any:
    """Attach to Ray: ``auto`` (an existing cluster: ``RAY_ADDRESS`` or the local head, else error), ``local``
    (start a private one on this machine), ``host:port`` or ``ray://host:10001``. A session already started in
    this process (e.g. by a test) is used as is. Returns the ``ray`` module."""
    ray = _ray()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    if not ray.is_initialized():
        try:
            ray.init(address=address, include_dashboard=False if address == "local" else None, log_to_driver=False)
        except ConnectionError as e:
            raise ConnectionError(f"--ray {address}: no Ray cluster found ({e}); start one with 'ray start --head' "
                                  f"or use --ray local for a private one on this machine") from None
    return ray


def slots(resources: dict[str, float], gpus_per_job: float | None) -> tuple[int, dict[str, float]]:
    """(number of actors, resources per actor) for a cluster's resources. ``gpus_per_job`` None: 1 when the
    cluster has GPUs, else 0 (one actor per CPU)."""
    gpus, cpus = float(resources.get("GPU", 0)), float(resources.get("CPU", 0))
    if gpus_per_job is None:
        gpus_per_job = 1.0 if gpus > 0 else 0.0
    if gpus_per_job < 0:
        raise ValueError(f"--gpus-per-job must be >= 0, got {gpus_per_job}")
    if gpus_per_job > 0:
        if gpus < gpus_per_job:
            raise ValueError(f"--gpus-per-job {gpus_per_job:g}: the cluster has {gpus:g} GPU(s); "
                             f"use --gpus-per-job 0 to run on CPUs")
        return int(gpus // gpus_per_job + 1e-9), {"num_gpus": gpus_per_job, "num_cpus": min(1.0, cpus / (gpus // gpus_per_job))}
    if cpus < 1:
        raise ValueError("the cluster has no CPU to run jobs on")
    return int(cpus), {"num_gpus": 0, "num_cpus": 1.0}


def run_ray(jobs: list[Job], out: str | Path, *, address: str = "auto", gpus_per_job: float | None = None,
            max_retries: int = 0, max_workers: int | None = None, progress: Progress | None = None,
            on_result: Callable[[JobResult], None] | None = None) -> tuple[list[JobResult], dict[str, Any]]:
    """Run ``jobs`` on Ray actors; returns (one result per job in order, info: ``workers``, ``loads`` per actor
    pid, ``node_ips``). ``out`` must be reachable at the same path from every node (a shared filesystem)."""
    ray = connect(address)
    n, opts = slots(ray.cluster_resources(), gpus_per_job)
    n = max(1, min(n, len(jobs), max_workers or n))
    if progress:
        progress.workers = n
    Actor = ray.remote(BatchWorker).options(max_restarts=max(1, max_retries), max_task_retries=0, **opts)
    actors = [Actor.remote() for _ in range(n)]
    out = str(Path(out).resolve())
    queue = [(job, 1) for job in jobs]
    running: dict[Any, tuple[Any, Job, int]] = {}
    final: dict[str, JobResult] = {}
    free = list(actors)

    def submit() -> None:
        while free and queue:
            actor = free.pop(0)
            job, attempt = queue.pop(0)
            running[actor.run.remote(job.to_dict(), out, attempt)] = (actor, job, attempt)
        if progress:
            progress.update(running=len(running))

    submit()
    while running:
        ready, _ = ray.wait(list(running), num_returns=1)
        actor, job, attempt = running.pop(ready[0])
        free.append(actor)
        try:
            res = JobResult(**ray.get(ready[0]))
        except ray.exceptions.RayError as e:  # the actor died: Ray restarts it; the attempt counts
            res = JobResult(job.name, job.route, "failed", 0.0, attempt, error=f"worker lost: {type(e).__name__}: "
                            f"{str(e).splitlines()[0] if str(e) else ''}")
        if res.status == "failed" and attempt <= max_retries:
            queue.append((job, attempt + 1))
        else:
            final[job.name] = res
            if progress:
                progress.update(res, running=len(running))
            if on_result:
                on_result(res)
        submit()
    info = {"workers": n, "resources_per_worker": opts,
            "loads": {str(p): lo for p, lo in zip(ray.get([a.pid.remote() for a in actors]),
                                                  ray.get([a.loads.remote() for a in actors]))},
            "node_ips": sorted({nd["NodeManagerAddress"] for nd in ray.nodes() if nd.get("Alive")})}
    for a in actors:
        ray.kill(a)
    return [final[j.name] for j in jobs], info
