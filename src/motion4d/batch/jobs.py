"""The jobs file of ``motion4d batch``: parsing, sweep expansion and up-front validation.

A jobs file is YAML with a ``jobs`` list (and optional ``defaults`` per route)::

    defaults:                       # merged under every job of that route (job keys win)
      generate-video: {model: tiny-t2v, frames: 8, width: 64, height: 64}
    jobs:
      - route: text-to-4d           # one of ROUTES
        name: ball                  # optional: [A-Za-z0-9_.-]+, unique; default <route>-<index>
        preset: default             # optional: the route's preset (train-motion: a list)
        config: ball.yaml           # optional: a YAML config file of the route (relative to the jobs file)
        overrides: [clip.steps=20]  # optional: key=value overrides
        prompt: a red ball jumping  # any other key is a field of the route's config
      - sweep:                      # expands prompts x seeds x loras into one job each
          route: generate-video
          prompts: [a cat, a dog]
          seeds: [0, 1]
          loras: [null, runs/jump]  # the route's motion LoRA (``motion``); null = none
          steps: 10

Every job is checked before anything runs (:func:`load_jobs`): its route, its keys, and its config
(built with the route's loader, so a bad override or value fails here, naming the job and the key).
"""
from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Job", "JobsFileError", "ROUTES", "load_jobs", "parse_jobs", "expand_sweep"]

#: The routes a job may name.
ROUTES = ("text-to-4d", "image-to-4d", "video-to-4d", "train-motion", "generate-video")
_COMMON = ("route", "name", "preset", "config", "overrides")
_SWEEP_AXES = {"prompts": "prompt", "seeds": "seed", "loras": "motion"}
#: Top-level keys that hold paths: relative ones that exist next to the jobs file are made absolute.
_PATH_KEYS = ("motion", "appearance", "image", "static", "input", "views", "noise_prior_video", "model")
_NAME = re.compile(r"[A-Za-z0-9_.\-]+")


class JobsFileError(ValueError):
    """The jobs file is malformed; the message names the entry and the key."""


@dataclass
class Job:
    """One unit of work: a route and its settings. Its run folder is ``OUT/jobs/<name>``.

    Attributes:
        name: unique folder name.
        route: one of :data:`ROUTES`.
        preset: the route's preset(s) (None: the route's default).
        config: a YAML config file of the route, or None.
        overrides: ``key=value`` overrides, applied last.
        fields: every other key, a field of the route's config (or a ``generate_video`` argument).
        where: where the job came from in the file (for messages), e.g. ``jobs[2]`` or ``jobs[1] (sweep #3)``.
    """

    name: str
    route: str
    preset: Any = None
    config: str | None = None
    overrides: list[str] = field(default_factory=list)
    fields: dict[str, Any] = field(default_factory=dict)
    where: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "route": self.route, "preset": self.preset, "config": self.config,
                "overrides": list(self.overrides), "fields": dict(self.fields)}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Job":
        return cls(d["name"], d["route"], d.get("preset"), d.get("config"), list(d.get("overrides", [])),
                   dict(d.get("fields", {})), d.get("where", ""))


def load_jobs(path: str | Path, *, check: bool = True) -> list[Job]:
    """Read, expand and (``check=True``) validate a jobs file; relative ``config`` paths and path fields
    stay as written but are resolved against the jobs file's folder. Raises :class:`JobsFileError`."""
    import yaml

    path = Path(path)
    if not path.is_file():
        raise JobsFileError(f"jobs file {str(path)!r} does not exist")
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as e:
        raise JobsFileError(f"{path}: not valid YAML: {e}") from None
    return parse_jobs(data, base=path.parent, source=str(path), check=check)


def parse_jobs(data: Any, *, base: str | Path = ".", source: str = "jobs", check: bool = True) -> list[Job]:
    """Turn the parsed YAML of a jobs file into jobs (see the module docstring)."""
    if not isinstance(data, dict) or not isinstance(data.get("jobs"), list) or not data["jobs"]:
        raise JobsFileError(f"{source}: expected a mapping with a non-empty 'jobs' list")
    unknown = sorted(set(data) - {"jobs", "defaults"})
    if unknown:
        raise JobsFileError(f"{source}: unknown top-level key(s) {', '.join(unknown)}; allowed: jobs, defaults")
    defaults = data.get("defaults") or {}
    if not isinstance(defaults, dict) or any(k not in ROUTES or not isinstance(v, dict) for k, v in defaults.items()):
        raise JobsFileError(f"{source}: 'defaults' must map routes ({', '.join(ROUTES)}) to mappings of keys")
    jobs: list[Job] = []
    for i, entry in enumerate(data["jobs"]):
        where = f"{source}: jobs[{i}]"
        if not isinstance(entry, dict):
            raise JobsFileError(f"{where}: expected a mapping, got {type(entry).__name__}")
        if "sweep" in entry:
            if set(entry) != {"sweep"}:
                raise JobsFileError(f"{where}: a sweep entry holds only 'sweep', got {', '.join(sorted(entry))}")
            entries = expand_sweep(entry["sweep"], where)
        else:
            entries = [(where, entry)]
        for w, e in entries:
            jobs.append(_job(w, e, defaults, base, len(jobs)))
    seen: dict[str, str] = {}
    for job in jobs:
        if job.name in seen:
            raise JobsFileError(f"{job.where}: name {job.name!r} is already used by {seen[job.name]}")
        seen[job.name] = job.where
    if check:
        from motion4d.batch.routes import check_job

        for job in jobs:
            try:
                check_job(job)
            except (ValueError, TypeError, OSError) as e:
                raise JobsFileError(f"{job.where} (name {job.name!r}, route {job.route}): {e}") from None
    return jobs


def expand_sweep(sweep: Any, where: str) -> list[tuple[str, dict[str, Any]]]:
    """Expand ``prompts x seeds x loras`` (each optional, at least one given) into plain job entries.
    Names are ``<name or route>-p<i>-s<seed>-l<j>`` (only the axes given)."""
    if not isinstance(sweep, dict) or "route" not in sweep:
        raise JobsFileError(f"{where}: 'sweep' must be a mapping with a 'route'")
    axes = {k: sweep[k] for k in _SWEEP_AXES if k in sweep}
    if not axes:
        raise JobsFileError(f"{where}: a sweep needs at least one of {', '.join(_SWEEP_AXES)}")
    for k, v in axes.items():
        if not isinstance(v, list) or not v:
            raise JobsFileError(f"{where}: sweep key {k!r} must be a non-empty list, got {v!r}")
    for k in _SWEEP_AXES.values():
        if k in sweep:
            raise JobsFileError(f"{where}: sweep sets {k!r} through its list key; remove {k!r}")
    base = {k: v for k, v in sweep.items() if k not in _SWEEP_AXES and k != "name"}
    stem = str(sweep.get("name", sweep["route"]))
    out = []
    keys = list(axes)
    for n, combo in enumerate(itertools.product(*(list(enumerate(axes[k])) for k in keys))):
        entry = dict(base)
        parts = []
        for key, (i, value) in zip(keys, combo):
            target = _SWEEP_AXES[key]
            if key == "loras" and sweep["route"] in ("text-to-4d",):
                value = [] if value is None else [value]
            if value is not None:
                entry[target] = value
            parts.append(f"s{value}" if key == "seeds" else f"{key[0]}{i}")
        entry["name"] = "-".join([stem, *parts])
        out.append((f"{where} (sweep #{n})", entry))
    return out


def _job(where: str, entry: dict[str, Any], defaults: dict, base: str | Path, index: int) -> Job:
    route = entry.get("route")
    if route not in ROUTES:
        raise JobsFileError(f"{where}: route {route!r} is not one of: {', '.join(ROUTES)}")
    merged = {**defaults.get(route, {}), **entry}
    name = str(merged.get("name", f"{route}-{index}"))
    if not _NAME.fullmatch(name) or name in (".", ".."):
        raise JobsFileError(f"{where}: name {name!r} must be letters, digits, '_', '.' or '-'")
    overrides = merged.get("overrides") or []
    if not isinstance(overrides, list) or not all(isinstance(o, str) and "=" in o for o in overrides):
        raise JobsFileError(f"{where}: 'overrides' must be a list of 'key=value' strings, got {overrides!r}")
    config = merged.get("config")
    if config is not None:
        config = str(Path(base) / config) if not Path(config).is_absolute() else str(config)
    fields = {k: _resolve(v, base) if k in _PATH_KEYS else v for k, v in merged.items() if k not in _COMMON}
    return Job(name, route, merged.get("preset"), config, list(overrides), fields, where)


def _resolve(value: Any, base: str | Path) -> Any:
    if isinstance(value, list):
        return [_resolve(v, base) for v in value]
    if isinstance(value, str) and value and not Path(value).is_absolute() and (Path(base) / value).exists():
        return str((Path(base) / value).resolve())
    return value
