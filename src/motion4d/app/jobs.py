"""Jobs of the web app: one at a time per process, run in a thread, observable and cancellable.

A job is a function ``fn(log)`` that writes one run folder (a pipeline call). :meth:`Job.start` runs it in a
daemon thread that first takes the process-wide GPU lock, so jobs run one after the other even when the
web queue hands out more than one worker. While it runs, every progress bar of the job (see
:func:`motion4d.utils.progress.watch`) reports its step to the job, and :meth:`Job.cancel` makes the next
step raise :class:`JobCancelled`: the stage is recorded as failed in the run's manifest and the thread
ends. The stage list shown on the page is read from the run folder's ``manifest.json``.
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from motion4d.utils.progress import watch

__all__ = ["Job", "JobCancelled", "GPU_LOCK", "stage_table"]

#: One job on the accelerator at a time, whatever the web server's thread count.
GPU_LOCK = threading.Lock()


class JobCancelled(RuntimeError):
    """Raised inside a job's thread at its next step after :meth:`Job.cancel`."""


@dataclass
class Job:
    """One run of ``fn(log)`` into ``run_dir``; read its state from any thread."""

    fn: Callable[[Callable[[str], None]], Any]
    run_dir: Path
    route: str
    lines: list[str] = field(default_factory=list)
    step: tuple[str, int, int | None] | None = None
    error: str | None = None
    result: Any = None
    cancelled: bool = False
    started: float | None = None
    ended: float | None = None

    def __post_init__(self) -> None:
        self._cancel = threading.Event()
        self._thread = threading.Thread(target=self._main, name=f"motion4d-job-{self.run_dir.name}", daemon=True)

    # ------------------------------------------------------------------------------------ control
    def start(self) -> "Job":
        self._thread.start()
        return self

    def cancel(self, wait_s: float = 60.0) -> bool:
        """Ask the job to stop at its next step and wait up to ``wait_s`` for it; True if it has ended."""
        self._cancel.set()
        self._thread.join(wait_s)
        return not self._thread.is_alive()

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    @property
    def waiting(self) -> bool:
        """Started but still waiting for the previous job to release the GPU lock."""
        return self._thread.is_alive() and self.started is None

    # ----------------------------------------------------------------------------------- the thread
    def _log(self, line: str) -> None:
        self.lines.append(str(line))
        if self._cancel.is_set():
            raise JobCancelled("cancelled from the page")

    def _hook(self, desc: str, n: int, total: int | None) -> None:
        self.step = (desc, n, total)
        if self._cancel.is_set():
            raise JobCancelled("cancelled from the page")

    def _main(self) -> None:
        with GPU_LOCK:
            if self._cancel.is_set():
                self.cancelled, self.error, self.ended = True, "cancelled before it started", time.time()
                return
            self.started = time.time()
            try:
                with watch(self._hook):
                    self.result = self.fn(self._log)
            except JobCancelled:
                self.cancelled, self.error = True, "cancelled from the page"
            except Exception as e:  # noqa: BLE001 - shown on the page; the run folder keeps the details
                self.error = f"{type(e).__name__}: {e}"
            finally:
                self.ended = time.time()


def stage_table(run_dir: Path) -> list[tuple[str, str, float | None]]:
    """``[(stage, status, seconds)]`` from ``run_dir/manifest.json`` (empty before the manifest exists)."""
    try:
        data = json.loads((Path(run_dir) / "manifest.json").read_text())
    except (OSError, ValueError):
        return []
    return [(s.get("name", "?"), s.get("status", "?"), s.get("seconds")) for s in data.get("stages", [])]
