"""One rule for output folders: a command writes only inside its own run folder.

A run folder is marked by :data:`MARKER` (``.motion4d-run.json``), written when the command first
uses the folder::

    {"format": "motion4d.run/1", "command": "world make", "fingerprint": "<sha256 hex or null>",
     "created": "2026-12-02T12:00:00+00:00", "motion4d": "0.1.0"}

:func:`prepare_run_dir` applies the rule before a command writes anything:

* refused always (one clear line): the filesystem root, the home folder, the current folder and any
  folder above it, top-level system folders such as ``/tmp``, ``/home`` or ``/usr``, and a path that is
  a file;
* a missing or empty folder is created and marked (``state == "new"``);
* a folder marked by the same command is the command's own. With ``fingerprint=None`` (a command
  that rewrites all of its outputs every time) it is reused freely. Otherwise the marker's fingerprint
  must match: a match gives ``state == "same"`` (rerun or ``--resume``); a mismatch is refused
  (``--resume`` with other input or config) unless ``overwrite``, which gives ``state == "changed"``
  after removing the entries the caller names as ``stale`` (checkpoints, cached intermediate files);
* a non-empty folder without a marker, or marked by another command, is refused unless ``overwrite``
  (``state == "foreign"``): the command then writes its own files there, replacing files of the same
  name, and never deletes anything else. Folders made before markers existed are recognised by a
  ``legacy`` file (e.g. ``scene.json``) and adopted as the command's own.

The fingerprint is a short hash of whatever makes two runs the same run (input content, resolved
config, seed): :func:`fingerprint` hashes JSON-able settings and :func:`path_fingerprint` the
content of input files or folders.

Example (what ``video-to-4d`` can adopt)::

    run = prepare_run_dir(out, "video-to-4d", fingerprint(input=path_fingerprint(src), config=cfg_dict),
                          resume=args.resume, overwrite=args.overwrite,
                          stale=["checkpoints", "result.json"], legacy=["result.json", "config.yaml"])
"""
from __future__ import annotations

import contextlib
import datetime
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator

__all__ = ["MARKER", "RunDirError", "RunDir", "prepare_run_dir", "check_out_file", "check_out_dir", "fingerprint",
           "path_fingerprint", "safe_child", "check_name", "replace_entries"]

MARKER = ".motion4d-run.json"
_FORMAT = "motion4d.run/1"


class RunDirError(ValueError):
    """An output folder or file that a command must not write to; the message says why and what to do."""


@dataclass
class RunDir:
    """A prepared run folder. ``state``: ``new``, ``same``, ``changed`` or ``foreign`` (see module doc)."""

    path: Path
    command: str
    fingerprint: str | None
    state: str

    def clear(self, names: Iterable[str]) -> None:
        """Remove the named entries (files or folders) of this run folder; names must stay inside it."""
        for name in names:
            target = safe_child(self.path, name, what="entry to clear")
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif target.exists() or target.is_symlink():
                target.unlink()


def fingerprint(*parts: Any, **named: Any) -> str:
    """A 16-hex-digit hash of JSON-able settings (non-JSON values are hashed by ``str``)."""
    text = json.dumps([parts, named], sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def path_fingerprint(path: str | os.PathLike) -> str:
    """A hash of a file's content, or of a folder's relative file names and contents (hidden entries skipped)."""
    root = Path(path)
    h = hashlib.sha256()
    files = [root] if root.is_file() else sorted(
        p for p in root.rglob("*") if p.is_file() and not any(s.startswith(".") for s in p.relative_to(root).parts))
    if not root.exists():
        raise FileNotFoundError(f"{str(root)!r} does not exist")
    for f in files:
        h.update(str(f.relative_to(root) if f != root else f.name).encode() + b"\0")
        with open(f, "rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                h.update(chunk)
    return h.hexdigest()[:16]


def _forbidden(path: Path) -> str | None:
    """Why ``path`` (absolute, resolved) must never be a run folder, or None."""
    cwd = Path.cwd().resolve()
    home = Path.home().resolve()
    if path == Path(path.anchor):
        return "it is the filesystem root"
    if path == cwd or path in cwd.parents:
        return "it is the current folder or a folder above it"
    if path == home or path in home.parents:
        return "it is the home folder or a folder above it"
    if len(path.parts) == 2 and path.name in _SYSTEM_DIRS:
        return "it is a top-level system folder"
    return None


#: Top-level folders that are never a run folder (``/outputs`` or ``/data`` are fine).
_SYSTEM_DIRS = frozenset({"bin", "boot", "dev", "etc", "home", "lib", "lib32", "lib64", "libx32", "media", "mnt",
                          "opt", "proc", "root", "run", "sbin", "srv", "sys", "tmp", "usr", "var", "Users",
                          "Applications", "Library", "System", "Volumes", "private"})


def check_out_dir(path: str | os.PathLike, option: str = "--out") -> Path:
    """``path`` if it may be used as an output folder (not a file, not ``.``, ``/`` or home); else RunDirError."""
    p = Path(path).expanduser()
    resolved = p.resolve()
    why = _forbidden(resolved)
    if why:
        raise RunDirError(f"{option} {str(path)!r} cannot be an output folder: {why}; give a new sub-folder")
    if p.exists() and not p.is_dir():
        raise RunDirError(f"{option} {str(path)!r} is a file, not a folder; give a folder path")
    for parent in resolved.parents:
        if parent.exists() and not parent.is_dir():
            raise RunDirError(f"{option} {str(path)!r}: {str(parent)!r} is a file, not a folder")
    return p


def check_out_file(path: str | os.PathLike, option: str = "--out", suffixes: Iterable[str] | None = None) -> Path:
    """``path`` if it may be written as one output file: not a folder, parent not a file, a known suffix."""
    p = Path(path).expanduser()
    if p.is_dir() or str(path).endswith(("/", os.sep)):
        raise RunDirError(f"{option} {str(path)!r} is a folder; give a file name, e.g. {str(p / 'out')!r} "
                          f"with a suffix")
    if suffixes is not None:
        allowed = [s.lower() for s in suffixes]
        if p.suffix.lower() not in allowed:
            raise RunDirError(f"{option} {str(path)!r}: unknown suffix {p.suffix or '(none)'!r}; use one of "
                              f"{', '.join(allowed)}")
    for parent in p.resolve().parents:
        if parent.exists() and not parent.is_dir():
            raise RunDirError(f"{option} {str(path)!r}: {str(parent)!r} is a file, not a folder")
    return p


def _read_marker(path: Path) -> dict | None:
    try:
        data = json.loads((path / MARKER).read_text())
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {"command": "(unreadable marker)", "fingerprint": None}
    return data if isinstance(data, dict) else {"command": "(unreadable marker)", "fingerprint": None}


def _write_marker(path: Path, command: str, fp: str | None) -> None:
    from motion4d import __version__
    from motion4d.utils.io import write_json

    write_json(path / MARKER, {"format": _FORMAT, "command": command, "fingerprint": fp,
                               "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
                               "motion4d": __version__})


def prepare_run_dir(path: str | os.PathLike, command: str, fingerprint: str | None = None, *, resume: bool = False,
                    overwrite: bool = False, stale: Iterable[str] = (), legacy: Iterable[str] = (),
                    option: str = "--out") -> RunDir:
    """Check ``path`` against the output-folder rule (module docstring), create and mark it; return a :class:`RunDir`.

    Args:
        command: the command that owns the folder, e.g. ``"world make"``.
        fingerprint: hash of what makes two runs the same run (:func:`fingerprint`); None for commands
            that rewrite all of their outputs on every run.
        resume: the caller continues an earlier run: a marked folder must have the same fingerprint.
            An empty or missing folder is simply a new run.
        overwrite: allow a foreign non-empty folder, or a run of this command with another fingerprint.
        stale: entries (relative names) holding state of an earlier run that the command would reuse
            (checkpoints, a cached scene); removed before the new marker is written when ``overwrite``
            replaces another run.
        legacy: file names whose presence marks a folder this command wrote before markers existed;
            such a folder is adopted as this command's own (``state == "same"``).
        option: the option name used in error messages.
    Raises:
        RunDirError (a ValueError) with one line naming the folder, why, and the flag that allows it.
    """
    p = check_out_dir(path, option)
    shown = f"{option} {str(path)!r}"
    entries = [e.name for e in p.iterdir()] if p.is_dir() else []
    marker = _read_marker(p) if entries else None
    run = RunDir(p, command, fingerprint, "new")
    if not entries or (entries == [MARKER] and not resume):
        p.mkdir(parents=True, exist_ok=True)
        _write_marker(p, command, fingerprint)
        return run
    if marker is None and any((p / n).exists() for n in legacy):
        _write_marker(p, command, fingerprint)
        run.state = "same"
        return run
    if marker is None or marker.get("command") != command:
        owner = "was not made by motion4d" if marker is None else f"holds a run of 'motion4d {marker.get('command')}'"
        if resume:
            raise RunDirError(f"{shown} {owner}; there is no 'motion4d {command}' run to resume there")
        if not overwrite:
            raise RunDirError(f"{shown} is not empty and {owner}; choose a new or empty folder, or pass --overwrite "
                              f"to write into it (files of other names are kept)")
        run.state = "foreign"
    elif fingerprint is None or marker.get("fingerprint") == fingerprint:
        run.state = "same"
        return run
    elif resume:
        raise RunDirError(f"{shown} holds a run made from other input or settings (fingerprint "
                          f"{marker.get('fingerprint')} there, {fingerprint} now); resume with the same input and "
                          f"config, or start a new run in another folder")
    elif not overwrite:
        raise RunDirError(f"{shown} holds an earlier 'motion4d {command}' run with other input or settings; choose "
                          f"another folder, or pass --overwrite to replace that run")
    else:
        run.state = "changed"
    run.clear(stale)  # before the new marker: an interruption here leaves the old marker, never stale state
    _write_marker(p, command, fingerprint)
    return run


_NAME_CHARS = frozenset("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._+-=@,")


def check_name(name: Any, what: str = "name") -> str:
    """``name`` if it is a safe file name (letters, digits, ``._+-=@,``; not ``.``/``..``; <= 128 chars)."""
    if not isinstance(name, str) or not name or len(name) > 128 or name in (".", "..") \
            or not set(name) <= _NAME_CHARS:
        raise ValueError(f"{what} {name!r} is not a safe file name: use letters, digits and ._+-=@, "
                         f"(no '/', '..' or absolute paths), at most 128 characters")
    return name


def safe_child(root: str | os.PathLike, relative: Any, what: str = "path") -> Path:
    """``root / relative`` after checking that it stays inside ``root`` (no absolute paths, no ``..`` escape)."""
    if not isinstance(relative, str) or not relative or "\0" in relative:
        raise ValueError(f"{what} {relative!r} must be a non-empty relative path")
    rel = Path(relative)
    root_p = Path(root)
    if rel.is_absolute() or rel.anchor:
        raise ValueError(f"{what} {relative!r} must be relative to {str(root_p)!r}, not an absolute path")
    target = root_p / rel
    base = root_p.resolve()
    if target.resolve() != base and base not in target.resolve().parents:
        raise ValueError(f"{what} {relative!r} points outside {str(root_p)!r}")
    return target


@contextlib.contextmanager
def replace_entries(path: str | os.PathLike, own: Iterable[str], last: str | None = None) -> Iterator[Path]:
    """Yield a temporary folder inside ``path``; on success move its entries into ``path``.

    Unlike :func:`motion4d.utils.io.atomic_dir` (which replaces a whole folder), only the entries the
    writer owns change: each name in ``own`` that exists in ``path`` but was not written again is
    removed, each written entry replaces the entry of the same name, and everything else in ``path``
    is kept. ``last`` (e.g. ``scene.json``, the file that marks the folder complete) is removed first
    and moved in last, so an interrupted swap leaves a folder that reads as unfinished. Writing a name
    outside ``own`` raises ``ValueError``.
    """
    final = Path(path)
    final.mkdir(parents=True, exist_ok=True)
    own = set(own)
    tmp = Path(tempfile.mkdtemp(prefix=".write.", suffix=".partial", dir=final))
    try:
        yield tmp
        written = sorted(e.name for e in tmp.iterdir())
        unknown = [n for n in written if n not in own]
        if unknown:
            raise ValueError(f"replace_entries: wrote {unknown} outside the owned entries {sorted(own)}")
        os.chmod(tmp, 0o777 & ~_umask())
        if last is not None:
            (final / last).unlink(missing_ok=True)
        RunDir(final, "", None, "").clear(n for n in sorted(own) if n not in written and n != last)
        for name in sorted(written, key=lambda n: n == last):
            target = final / name
            if target.is_dir() and not target.is_symlink():
                shutil.rmtree(target)
            elif (tmp / name).is_dir() and (target.exists() or target.is_symlink()):
                target.unlink()
            os.replace(tmp / name, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask
