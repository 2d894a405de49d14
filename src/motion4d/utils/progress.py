"""Progress bars for long loops (tqdm), quiet when stdout is not a terminal unless forced."""
from __future__ import annotations

import os
import sys
from typing import Iterable, TypeVar

T = TypeVar("T")


def progress(iterable: Iterable[T] | None = None, *, total: int | None = None, desc: str = "",
             disable: bool | None = None, **kwargs):
    """Return a ``tqdm`` bar. ``disable=None`` hides it when ``MOTION4D_NO_PROGRESS=1``.

    Use ``bar.set_postfix(loss=...)`` to show losses next to the bar.
    """
    from tqdm.auto import tqdm

    if disable is None:
        disable = os.environ.get("MOTION4D_NO_PROGRESS", "0") == "1"
    return tqdm(iterable, total=total, desc=desc, disable=disable, file=sys.stderr,
                dynamic_ncols=True, leave=False, **kwargs)
