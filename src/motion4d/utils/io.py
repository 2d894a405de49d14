"""Crash-safe output: write to a temporary sibling, rename into place when complete.

A reader therefore never sees a half-written file under its final name, even if the
process is killed mid-write.
"""
from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any, Iterator


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path next to ``path``; on success rename it to ``path``.

    The temporary keeps ``path``'s suffix (or ``suffix``) so that writers which pick a format from
    the file extension (imageio, trimesh) still work. On an exception it is removed.
    """
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    ext = suffix if suffix is not None else "".join(final.suffixes)
    fd, tmp = tempfile.mkstemp(prefix=f".{final.stem}.", suffix=f".partial{ext}", dir=final.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():  # mkstemp creates 0600; give the final file the usual permissions
            os.chmod(tmp_path, 0o666 & ~_umask())
        os.replace(tmp_path, final)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary directory next to ``path``; on success it replaces ``path`` as a whole."""
    final = Path(path)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{final.name}.", suffix=".partial", dir=final.parent))
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())  # mkdtemp creates 0700
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def write_json(path: str | os.PathLike, data: Any, indent: int = 2) -> Path:
    """Atomically write ``data`` as JSON (keys kept in insertion order) and return the path."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=indent) + "\n")
    return Path(path)
