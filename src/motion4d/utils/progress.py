"""Progress bars for long loops (tqdm), quiet when stdout is not a terminal unless forced.

A caller that runs a job for someone else (the web app) can :func:`watch` every bar the job opens in its
thread: the hook sees ``(desc, n, total)`` at every step and may raise to stop the job there (cancellation).
"""
from __future__ import annotations

import os
import sys
import threading
from contextlib import contextmanager
from typing import Callable, Iterable, Iterator, TypeVar

T = TypeVar("T")

__all__ = ["progress", "watch"]

_local = threading.local()


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             disable: bool | None = None, **kwargs):
    """Return a ``tqdm`` bar. ``disable=None`` hides it when ``MOTION4D_NO_PROGRESS=1``.

    Use ``bar.set_postfix(loss=...)`` to show losses next to the bar. Inside :func:`watch` the bar is
    wrapped so that the hook sees every step.
    """
    from tqdm.auto import tqdm

    if disable is None:
        disable = os.environ.get("MOTION4D_NO_PROGRESS", "0") == "1"
    bar = tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr,
               dynamic_ncols=True, leave=False, **kwargs)
    hook = getattr(_local, "hook", None)
    return bar if hook is None else _Watched(bar, hook, desc, total if total is not None else _len(iterable))


@contextmanager
def watch(hook: Callable[[str, int, int | None], None]) -> Iterator[None]:
    """Call ``hook(desc, steps_done, total)`` at every step of every bar opened in this thread meanwhile.

    ``hook`` may raise (e.g. a cancellation error): the exception leaves the job's loop at that step.
    """
    previous = getattr(_local, "hook", None)
    _local.hook = hook
    try:
        yield
    finally:
        _local.hook = previous


def _len(iterable) -> int | None:
    try:
        return len(iterable)  # type: ignore[arg-type]
    except TypeError:
        return None


class _Watched:
    """A tqdm bar whose steps are also reported to a :func:`watch` hook (everything else is delegated)."""

    def __init__(self, bar, hook, desc: str, total: int | None) -> None:
        self._bar, self._hook, self._desc, self._total = bar, hook, desc, total
        self._n = int(getattr(bar, "n", 0) or 0)
        hook(desc, self._n, total)

    def __iter__(self):
        for item in self._bar:
            yield item
            self._n += 1
            self._hook(self._desc, self._n, self._total)

    def update(self, n: int = 1):
        out = self._bar.update(n)
        self._n += n
        self._hook(self._desc, self._n, self._total)
        return out

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._bar.close()
        return False

    def __getattr__(self, name):
        return getattr(self._bar, name)
