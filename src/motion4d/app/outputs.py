"""The files a finished (or running) run shows on the page, the run's zip, and the session's gallery.

Works on a pipeline run folder (``manifest.json``, ``clip/``, ``lift/``); no gradio here.
"""
from __future__ import annotations

import json
import zipfile
from pathlib import Path

from motion4d.utils.io import atomic_path

__all__ = ["run_outputs", "zip_run", "session_runs", "ZIP_SKIP"]

#: Folders left out of the zip (training state, not results).
ZIP_SKIP = ("checkpoints", "previews")


def run_outputs(run: Path) -> dict[str, Path | None]:
    """``{"clip", "glb", "ply", "turntable", "report"}``: the paths that exist now (None for the others)."""
    run = Path(run)
    candidates = {
        "clip": [run / "clip" / "video.mp4", run / "lift" / "videos" / "reference.mp4"],
        "glb": [run / "lift" / "animation.glb"],
        "ply": [run / "lift" / "canonical.ply"],
        "turntable": [run / "lift" / "videos" / "turntable.mp4"],
        "report": [run / "report.html"],
    }
    out: dict[str, Path | None] = {}
    for key, paths in candidates.items():
        out[key] = next((p for p in paths if p.is_file()), None)
    if not _export_done(run):              # exports being written are not shown half-way
        out["glb"] = out["turntable"] = None
    return out


def _export_done(run: Path) -> bool:
    try:
        stages = json.loads((run / "manifest.json").read_text())["stages"]
    except (OSError, ValueError, KeyError):
        return False
    return any(s.get("name") == "export" and s.get("status") == "done" for s in stages)


def zip_run(run: Path, dest: Path) -> Path:
    """Zip the run folder (without :data:`ZIP_SKIP`) to ``dest``, atomically; paths inside start at ``run/``."""
    run = Path(run)
    with atomic_path(dest) as tmp:
        with zipfile.ZipFile(tmp, "w", compression=zipfile.ZIP_DEFLATED) as zf:
            for p in sorted(run.rglob("*")):
                rel = p.relative_to(run)
                if p.is_file() and not p.is_symlink() and not any(part in ZIP_SKIP for part in rel.parts):
                    zf.write(p, Path("run") / rel)
    return Path(dest)


def session_runs(session_dir: Path) -> list[dict]:
    """The runs of one session, newest first: ``[{"name", "route", "status", "prompt"}]``."""
    rows = []
    if not Path(session_dir).is_dir():
        return rows
    for folder in sorted(Path(session_dir).iterdir(), reverse=True):
        run = folder / "run"
        if not folder.is_dir() or folder.is_symlink():
            continue
        try:
            data = json.loads((run / "manifest.json").read_text())
        except (OSError, ValueError):
            rows.append({"name": folder.name, "route": "?", "status": "not started", "prompt": ""})
            continue
        stages = data.get("stages", [])
        status = "finished" if data.get("finished") else next(
            (f"{s['name']}: {s['status']}" for s in stages if s.get("status") != "done"), "?")
        cfg = data.get("config", {})
        rows.append({"name": folder.name, "route": data.get("route", "?"), "status": status,
                     "prompt": str(cfg.get("prompt") or Path(str(cfg.get("image") or "")).name)[:80]})
    return rows
