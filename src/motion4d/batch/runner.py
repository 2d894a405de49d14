"""Running a batch: job folders, resume records, retries, the progress line and the in-process runner.

Each job owns its run folder ``OUT/jobs/<name>/`` (only the route writes there). The batch keeps its record in
``OUT/records/<name>.json`` and the job's log in ``OUT/logs/<name>.log``: ``{"status": "running", "hash"}``
when the job starts and ``{"status": "done", "hash", "seconds", "outputs", "scores"}`` when it ends. On a re-run:

- ``done`` with the same config hash: skipped;
- ``running`` with the same hash (the batch was cut off): run again with ``resume=True``, and the route continues
  from its own checkpoints (pipeline manifests, lift and LoRA-training checkpoints);
- any other hash, or no record: the folder (it belongs to the batch) is emptied and the job starts afresh.
"""
from __future__ import annotations

import os
import shutil
import sys
import time
import traceback
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from motion4d.batch.jobs import Job
from motion4d.batch.routes import RESUMABLE, ModelCache, job_hash, run_job

__all__ = ["JobResult", "BatchWorker", "Progress", "job_dir", "record_path", "read_record", "is_done", "run_local",
           "plan"]


@dataclass
class JobResult:
    """What happened to one job. ``status``: ``done`` (ran now), ``skipped`` (done before) or ``failed``.
    ``seconds`` is wall time of the last attempt; ``loads`` the worker's model loads so far; ``worker`` its pid."""

    name: str
    route: str
    status: str
    seconds: float = 0.0
    attempts: int = 0
    outputs: dict[str, str] = field(default_factory=dict)
    scores: dict[str, float] = field(default_factory=dict)
    error: str | None = None
    hash: str = ""
    worker: int | None = None
    loads: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def job_dir(out: str | Path, job: Job) -> Path:
    """The job's run folder, ``OUT/jobs/<name>``."""
    return Path(out) / "jobs" / job.name


def record_path(out: str | Path, job: Job) -> Path:
    """The batch's record of the job, ``OUT/records/<name>.json``."""
    return Path(out) / "records" / f"{job.name}.json"


def read_record(out: str | Path, job: Job) -> dict[str, Any] | None:
    import json

    try:
        return json.loads(record_path(out, job).read_text())
    except (OSError, ValueError):
        return None


def is_done(out: str | Path, job: Job, h: str | None = None) -> bool:
    """True when the job's folder holds a finished run of this same configuration."""
    rec = read_record(out, job)
    return bool(rec and rec.get("status") == "done" and rec.get("hash") == (h or job_hash(job))
                and job_dir(out, job).is_dir())


def plan(jobs: list[Job], out: str | Path) -> tuple[list[Job], list[JobResult]]:
    """Split jobs into (to run, skipped results) by their records."""
    todo, skipped = [], []
    for job in jobs:
        h = job_hash(job)
        rec = read_record(out, job)
        if is_done(out, job, h):
            skipped.append(JobResult(job.name, job.route, "skipped", rec.get("seconds", 0.0), 0, rec.get("outputs", {}),
                                     rec.get("scores", {}), None, h))
        else:
            todo.append(job)
    return todo, skipped


class BatchWorker:
    """Runs jobs one at a time and keeps its :class:`ModelCache` between them (a Ray actor, or in-process)."""

    def __init__(self) -> None:
        self.cache = ModelCache()

    def run(self, job: dict[str, Any] | Job, out: str, attempt: int = 1, quiet: bool = True) -> dict[str, Any]:
        """Run one job (a :class:`Job` or its ``to_dict()``) into ``OUT/jobs/<name>``; never raises for a job's
        own error: returns a :class:`JobResult` dict with ``status='failed'`` and the error instead."""
        from motion4d.utils.io import write_json

        job = job if isinstance(job, Job) else Job.from_dict(job)
        folder, record = job_dir(out, job), record_path(out, job)
        h = job_hash(job)
        rec = read_record(out, job)
        resume = bool(rec and rec.get("hash") == h and rec.get("status") in ("running", "failed")
                      and job.route in RESUMABLE)
        if not resume and folder.exists():
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        record.parent.mkdir(parents=True, exist_ok=True)
        write_json(record, {"status": "running", "hash": h, "route": job.route, "job": job.to_dict()})
        log_file = Path(out) / "logs" / f"{job.name}.log"
        log_file.parent.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        with open(log_file, "a") as fh:
            def log(msg: str) -> None:
                fh.write(f"{msg}\n")
                fh.flush()
                if not quiet:
                    print(f"[{job.name}] {msg}", file=sys.stderr)
            try:
                res = run_job(job, folder, self.cache, resume=resume, log=log)
            except Exception as e:  # noqa: BLE001 - a job's failure is recorded, the batch goes on
                fh.write(traceback.format_exc())
                err = f"{type(e).__name__}: {e}".strip()
                write_json(record, {"status": "failed", "hash": h, "route": job.route, "error": err,
                                                  "job": job.to_dict()})
                return JobResult(job.name, job.route, "failed", time.perf_counter() - t0, attempt, error=err,
                                 hash=h, worker=os.getpid(), loads=self.cache.loads).to_dict()
        seconds = time.perf_counter() - t0
        write_json(record, {"status": "done", "hash": h, "route": job.route, "seconds": seconds,
                                          "outputs": res["outputs"], "scores": res["scores"], "job": job.to_dict()})
        return JobResult(job.name, job.route, "done", seconds, attempt, res["outputs"], res["scores"], None, h,
                         os.getpid(), self.cache.loads).to_dict()

    def loads(self) -> int:
        return self.cache.loads

    def pid(self) -> int:
        return os.getpid()


class Progress:
    """The progress line: ``batch: 3/8 done, 2 running, 1 failed, ETA 1m20s`` (on stderr, rewritten in place
    on a terminal). ETA = mean seconds of the jobs finished in this run x jobs left / workers."""

    def __init__(self, total: int, workers: int = 1, stream=None, skipped: int = 0) -> None:
        self.total, self.workers, self.stream = total, max(1, workers), stream or sys.stderr
        self.done, self.failed, self.running, self.skipped = skipped, 0, 0, skipped
        self._secs: list[float] = []
        self.last = ""

    def update(self, result: JobResult | None = None, running: int | None = None) -> str:
        if result is not None:
            if result.status == "failed":
                self.failed += 1
            else:
                self.done += 1
                self._secs.append(result.seconds)
        if running is not None:
            self.running = running
        left = self.total - self.done - self.failed
        eta = "?" if not self._secs else _dur(sum(self._secs) / len(self._secs) * left / self.workers)
        self.last = (f"batch: {self.done}/{self.total} done" + (f" ({self.skipped} skipped)" if self.skipped else "")
                     + f", {self.running} running, {self.failed} failed, ETA {eta if left else '0s'}")
        tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        if tty or result is not None:  # a log file gets one line per finished job
            self.stream.write(("\r" + self.last + "\x1b[K") if tty else self.last + "\n")
            self.stream.flush()
        return self.last


def _dur(s: float) -> str:
    s = int(round(s))
    return f"{s // 3600}h{s % 3600 // 60:02d}m" if s >= 3600 else f"{s // 60}m{s % 60:02d}s" if s >= 60 else f"{s}s"


def run_local(jobs: list[Job], out: str | Path, *, max_retries: int = 0, progress: Progress | None = None,
              quiet: bool = True, on_result: Callable[[JobResult], None] | None = None) -> list[JobResult]:
    """Run ``jobs`` one after another in this process (one :class:`BatchWorker`, so models load once), each
    retried up to ``max_retries`` times; returns one result per job, in order."""
    worker = BatchWorker()
    results = []
    for job in jobs:
        for attempt in range(1, max_retries + 2):
            if progress:
                progress.update(running=1)
            res = JobResult(**worker.run(job, str(out), attempt, quiet=quiet))
            if res.status == "done":
                break
        if progress:
            progress.update(res, running=0)
        if on_result:
            on_result(res)
        results.append(res)
    return results
