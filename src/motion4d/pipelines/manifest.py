"""One run folder per job: a manifest of stages, their configs and outputs, and stage-level resume.

A pipeline (text-to-4d, image-to-4d, hybrid, video-to-4d) is a fixed list of named stages. Each stage
writes inside the run folder and reports its outputs (paths relative to the folder). The manifest,
``RUN/manifest.json``, is rewritten atomically after every change of state::

    {"format": "motion4d.run/1", "route": "text-to-4d", "fingerprint": "…", "config": {...},
     "created": "2026-12-02T12:00:00", "finished": null,
     "stages": [{"name": "generate", "status": "done", "fingerprint": "…", "seconds": 41.2,
                 "outputs": {"video": "video/video.mp4"}, "error": null, "note": "…"}, ...]}

Re-running the same command on the same folder skips every stage whose status is ``done``, whose
fingerprint is unchanged and whose outputs still exist, and continues with the first one that is not
(a stage cut off half-way resumes from its own checkpoints). A stage's fingerprint chains the
fingerprint of the stage before it, so changing an early stage's settings re-runs everything after it.

Folder rules: a run folder is created by the pipeline or holds its manifest. A non-empty folder without
a manifest, or a manifest of another route or another configuration, is refused (``--overwrite`` clears
the stages' records and starts again; nothing outside the folder is touched).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from motion4d.utils.io import write_json

__all__ = ["RunManifest", "StageRecord", "RunFolderError", "fingerprint", "MANIFEST_NAME"]

MANIFEST_NAME = "manifest.json"
_FORMAT = "motion4d.run/1"
_STATUSES = ("pending", "running", "done", "failed")


class RunFolderError(ValueError):
    """The run folder cannot be used for this job (not ours, another route or another configuration)."""


def fingerprint(*parts: Any) -> str:
    """A short, stable hash of JSON-serialisable parts (dict keys sorted; paths and other objects as text)."""
    text = json.dumps(parts, sort_keys=True, default=str, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _now() -> str:
    return _dt.datetime.now().isoformat(timespec="seconds")


@dataclass
class StageRecord:
    """What the manifest knows of one stage. ``outputs`` maps a name to a path relative to the run folder."""

    name: str
    status: str = "pending"
    fingerprint: str | None = None
    seconds: float | None = None
    outputs: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    note: str | None = None


class RunManifest:
    """The manifest of one run folder; see the module docstring for the file and the resume rules.

    Args:
        root: the run folder.
        route: pipeline name (``text-to-4d`` ...).
        config: the job's resolved configuration (JSON-serialisable); its fingerprint identifies the job.
        stages: stage names, in order.
    """

    def __init__(self, root: str | Path, route: str, config: dict[str, Any], stages: list[str]) -> None:
        if len(set(stages)) != len(stages) or not stages:
            raise ValueError(f"stage names must be unique and non-empty, got {stages}")
        self.root = Path(root)
        self.route = route
        self.config = config
        self.fingerprint = fingerprint(route, config)
        self.stages = {name: StageRecord(name) for name in stages}
        self.created = _now()
        self.finished: str | None = None

    # ------------------------------------------------------------------------------ open / save
    @classmethod
    def open(cls, root: str | Path, route: str, config: dict[str, Any], stages: list[str], *,
             overwrite: bool = False) -> "RunManifest":
        """Open ``root`` for this job: a new folder, or the same job's folder to continue it.

        Raises :class:`RunFolderError` for a path that is a file, a non-empty folder without a manifest,
        or a manifest of another route or configuration (unless ``overwrite``: then the old records are
        dropped and the stages run again; files are replaced as stages rewrite them).
        """
        from motion4d.utils.run_dir import RunDirError, check_out_dir

        try:
            root = check_out_dir(root)            # never ".", "/", home, or a path that is a file
        except RunDirError as e:
            raise RunFolderError(str(e)) from None
        new = cls(root, route, config, stages)
        path = root / MANIFEST_NAME
        if not path.exists():
            if root.exists() and any(root.iterdir()) and not overwrite:
                raise RunFolderError(f"{str(root)!r} is not empty and holds no {MANIFEST_NAME}: it is not a motion4d "
                                     f"run folder. Pick a new folder, or pass --overwrite to use it anyway")
            new.save()
            return new
        if overwrite:
            new.save()
            return new
        old = cls.load(root)
        if old.route != route:
            raise RunFolderError(f"{str(root)!r} holds a {old.route!r} run, not {route!r}; pick another folder "
                                 f"or pass --overwrite")
        if old.fingerprint != new.fingerprint:
            changed = _changed_keys(old.config, config)
            raise RunFolderError(f"{str(root)!r} holds a {route} run with other settings (changed: "
                                 f"{', '.join(changed[:8]) or 'unknown'}); re-run with the same settings to continue "
                                 f"it, pick another folder, or pass --overwrite")
        for name, rec in old.stages.items():
            if name in new.stages:
                new.stages[name] = rec
                if rec.status == "running":          # the process died inside this stage
                    rec.status, rec.note = "failed", "interrupted; continues from its own checkpoints"
        new.created = old.created
        new.save()
        return new

    @classmethod
    def load(cls, root: str | Path) -> "RunManifest":
        """Read ``root/manifest.json``; a clear error for a missing or malformed file."""
        path = Path(root) / MANIFEST_NAME
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"{str(root)!r} is not a motion4d run folder (no {MANIFEST_NAME})") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise RunFolderError(f"{path} is not valid JSON ({e}); pass --overwrite to start the run again") from None
        if not isinstance(data, dict) or data.get("format") != _FORMAT or not isinstance(data.get("stages"), list):
            raise RunFolderError(f"{path} is not a motion4d run manifest (format {_FORMAT!r})")
        try:
            m = cls(root, str(data["route"]), dict(data["config"]), [str(s["name"]) for s in data["stages"]])
            for s in data["stages"]:
                rec = StageRecord(**{k: s.get(k) for k in StageRecord.__dataclass_fields__ if k in s})
                if rec.status not in _STATUSES:
                    raise ValueError(f"stage {rec.name!r} has status {rec.status!r}")
                rec.outputs = dict(rec.outputs or {})
                m.stages[rec.name] = rec
        except (KeyError, TypeError, ValueError) as e:
            raise RunFolderError(f"{path} is malformed ({e}); pass --overwrite to start the run again") from None
        m.fingerprint = str(data.get("fingerprint", m.fingerprint))
        m.created, m.finished = data.get("created", m.created), data.get("finished")
        return m

    def to_dict(self) -> dict[str, Any]:
        return {"format": _FORMAT, "route": self.route, "fingerprint": self.fingerprint, "config": self.config,
                "created": self.created, "finished": self.finished,
                "stages": [asdict(rec) for rec in self.stages.values()]}

    def save(self) -> Path:
        """Write the manifest atomically."""
        return write_json(self.root / MANIFEST_NAME, self.to_dict())

    # ------------------------------------------------------------------------------------ stages
    def stage_fingerprint(self, name: str, settings: Any) -> str:
        """Fingerprint of stage ``name`` given its settings, chained to the stage before it."""
        names = list(self.stages)
        before = self.stages[names[names.index(name) - 1]].fingerprint if names.index(name) > 0 else self.fingerprint
        return fingerprint(name, before, settings)

    def is_done(self, name: str, settings: Any = None) -> bool:
        """True when ``name`` finished with these settings and every output it reported still exists."""
        rec = self.stages[name]
        if rec.status != "done" or rec.fingerprint != self.stage_fingerprint(name, settings):
            return False
        return all((self.root / p).exists() for p in _paths(rec.outputs))

    def run(self, name: str, fn: Callable[[], dict[str, Any]], settings: Any = None,
            log: Callable[[str], None] = print) -> dict[str, Any]:
        """Run stage ``name`` (``fn() -> outputs``) unless it is already done; return its outputs.

        Output values that are paths are stored relative to the run folder. On an exception the stage is
        recorded as failed with the error, and the exception propagates.
        """
        if name not in self.stages:
            raise KeyError(f"unknown stage {name!r}; stages: {', '.join(self.stages)}")
        rec = self.stages[name]
        if self.is_done(name, settings):
            log(f"stage {name}: done earlier, kept ({_summary(rec.outputs)})")
            return self.outputs(name)
        resumed = rec.status in ("failed", "running")
        rec.status, rec.error, rec.fingerprint = "running", None, self.stage_fingerprint(name, settings)
        rec.note = "continued" if resumed else None
        for later in list(self.stages)[list(self.stages).index(name) + 1:]:
            if self.stages[later].status == "done":    # an earlier stage re-runs: later ones are stale
                self.stages[later].status = "pending"
        self.finished = None
        self.save()
        t0 = time.perf_counter()
        try:
            outputs = fn() or {}
        except BaseException as e:
            rec.status, rec.error = "failed", f"{type(e).__name__}: {e}"
            rec.seconds = round(time.perf_counter() - t0, 3)
            self.save()
            raise
        rec.outputs = {k: self._relative(v) for k, v in outputs.items()}
        rec.status, rec.seconds = "done", round(time.perf_counter() - t0, 3)
        if all(r.status == "done" for r in self.stages.values()):
            self.finished = _now()
        self.save()
        return self.outputs(name)

    def outputs(self, name: str) -> dict[str, Any]:
        """The outputs of stage ``name`` with paths made absolute again (``Path`` objects)."""
        return {k: self._absolute(v) for k, v in self.stages[name].outputs.items()}

    def timings(self) -> dict[str, float | None]:
        return {name: rec.seconds for name, rec in self.stages.items()}

    def _relative(self, value: Any) -> Any:
        if isinstance(value, Path):
            p = value if value.is_absolute() else Path.cwd() / value
            try:
                return {"path": str(p.resolve().relative_to(self.root.resolve()))}
            except ValueError:
                raise ValueError(f"stage output {str(value)!r} lies outside the run folder {str(self.root)!r}") from None
        if isinstance(value, (list, tuple)):
            return [self._relative(v) for v in value]
        return value

    def _absolute(self, value: Any) -> Any:
        if isinstance(value, dict) and set(value) == {"path"}:
            return self.root / value["path"]
        if isinstance(value, list):
            return [self._absolute(v) for v in value]
        return value


def _paths(outputs: dict[str, Any]) -> list[str]:
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict) and set(v) == {"path"}:
            found.append(v["path"])
        elif isinstance(v, list):
            for x in v:
                walk(x)

    for v in outputs.values():
        walk(v)
    return found


def _summary(outputs: dict[str, Any]) -> str:
    return ", ".join(sorted(outputs)) or "no outputs"


def _changed_keys(a: Any, b: Any, prefix: str = "") -> list[str]:
    if isinstance(a, dict) and isinstance(b, dict):
        keys = sorted(set(a) | set(b))
        return [k for key in keys for k in _changed_keys(a.get(key), b.get(key), f"{prefix}{key}.")]
    return [] if a == b else [prefix.rstrip(".") or "(root)"]
