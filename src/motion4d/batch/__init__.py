"""``motion4d batch``: many jobs of the pipeline routes, in this process or on a Ray cluster.

- :mod:`~motion4d.batch.jobs`: the jobs file (routes, sweeps), validated up front.
- :mod:`~motion4d.batch.routes`: how each route runs, hashes and resumes; the per-worker model cache.
- :mod:`~motion4d.batch.runner`: job folders and resume records, retries, progress, the in-process runner.
- :mod:`~motion4d.batch.ray_runner`: Ray actors (Ray is optional: ``pip install "motion4d[batch]"``).
- :mod:`~motion4d.batch.summary`: ``summary.json``, ``summary.csv`` and the ``index.html`` gallery.

Example::

    jobs = load_jobs("jobs.yaml")
    results = run_local(jobs, "out", max_retries=1)
    write_summary("out", results)
"""
from motion4d.batch.jobs import ROUTES, Job, JobsFileError, expand_sweep, load_jobs, parse_jobs
from motion4d.batch.routes import ModelCache, check_job, job_hash, run_job
from motion4d.batch.runner import BatchWorker, JobResult, Progress, is_done, job_dir, plan, run_local
from motion4d.batch.summary import write_gallery, write_summary

__all__ = ["ROUTES", "Job", "JobsFileError", "expand_sweep", "load_jobs", "parse_jobs", "ModelCache", "check_job",
           "job_hash", "run_job", "BatchWorker", "JobResult", "Progress", "is_done", "job_dir", "plan", "run_local",
           "write_gallery", "write_summary", "run_ray"]


def __getattr__(name: str):
    if name == "run_ray":  # imports nothing from Ray until called, but keep the module lazy too
        from motion4d.batch.ray_runner import run_ray

        return run_ray
    raise AttributeError(f"module 'motion4d.batch' has no attribute {name!r}")
