"""Results of a batch: ``OUT/summary.json``, ``OUT/summary.csv`` and the offline gallery ``OUT/index.html``.

The gallery has one card per job: status, seconds, scores, the clip or turntable (videos by relative path),
a ``<model-viewer>`` of the animated GLB (embedded as a ``data:`` URI up to ``embed_limit_mb`` per job, since
browsers refuse to fetch ``file://``) and a link to the job's own report. The viewer script is the copy shipped
in ``motion4d/assets/web``, inlined once; no request leaves the machine.
"""
from __future__ import annotations

import base64
import csv
import io
import json
from pathlib import Path
from typing import Any

from motion4d.batch.runner import JobResult
from motion4d.utils.io import atomic_path, write_json

__all__ = ["write_summary", "write_gallery", "CSV_COLUMNS"]

CSV_COLUMNS = ("name", "route", "status", "seconds", "attempts", "error", "scores", "outputs")
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#222} .cards{display:flex;flex-wrap:wrap;gap:1rem}
.card{border:1px solid #ddd;border-radius:8px;padding:.8rem;width:300px} .card h3{margin:.1rem 0;font-size:1rem}
.done,.skipped{color:#186a3b} .failed{color:#a93226} video,img{width:280px;background:#eee;border-radius:4px}
model-viewer{width:280px;height:220px;background:#f3f3f3;border-radius:4px} table{font-size:.85rem}
td{padding:0 .5rem} .muted{color:#777;font-size:.8rem} pre{white-space:pre-wrap;font-size:.75rem}
"""
_VIDEO_KEYS = ("turntable", "mp4", "clip", "video", "gif")


def write_summary(out: str | Path, results: list[JobResult], info: dict[str, Any] | None = None) -> dict[str, Path]:
    """Write ``summary.json`` (``{"jobs": [...], "counts": {...}, "info": {...}}``), ``summary.csv`` (one row per
    job; scores and outputs as JSON cells) and ``index.html``; returns their paths."""
    out = Path(out)
    counts = {s: sum(r.status == s for r in results) for s in ("done", "skipped", "failed")}
    paths = {"json": write_json(out / "summary.json", {"format": "motion4d.batch/1", "counts": counts,
                                                       "info": info or {}, "jobs": [r.to_dict() for r in results]})}
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_COLUMNS)
    for r in results:
        w.writerow([r.name, r.route, r.status, f"{r.seconds:.3f}", r.attempts, r.error or "",
                    json.dumps(r.scores, sort_keys=True), json.dumps(_rel_outputs(out, r.outputs), sort_keys=True)])
    with atomic_path(out / "summary.csv") as tmp:
        tmp.write_text(buf.getvalue())
    paths["csv"] = out / "summary.csv"
    paths["html"] = write_gallery(out, results)
    return paths


def write_gallery(out: str | Path, results: list[JobResult], embed_limit_mb: float = 8.0) -> Path:
    """Write ``out/index.html`` (see the module docstring)."""
    from motion4d.pipelines.report import MODEL_VIEWER_JS

    out = Path(out)
    cards, any_glb = [], False
    for r in results:
        outs = _rel_outputs(out, r.outputs)
        parts = [f'<h3>{_e(r.name)}</h3><div class="muted">{_e(r.route)} · <span class="{_e(r.status)}">'
                 f"{_e(r.status)}</span> · {r.seconds:.1f} s" + (f" · {r.attempts} attempts" if r.attempts > 1 else "")
                 + "</div>"]
        video = next((outs[k] for k in _VIDEO_KEYS if k in outs), None)
        if video:
            parts.append(f'<video src="{_e(video)}" autoplay loop muted playsinline></video>' if video.endswith(
                (".mp4", ".webm")) else f'<img src="{_e(video)}" alt="{_e(r.name)}">')
        glb = next((Path(v) for v in r.outputs.values() if str(v).endswith(".glb") and Path(v).is_file()), None)
        if glb is not None:
            any_glb = True
            src = ("data:model/gltf-binary;base64," + base64.b64encode(glb.read_bytes()).decode()
                   if glb.stat().st_size <= embed_limit_mb * 2 ** 20 else _rel(out, glb))
            parts.append(f'<model-viewer src="{src}" camera-controls autoplay alt="{_e(r.name)}"></model-viewer>')
        if r.scores:
            parts.append("<table>" + "".join(f"<tr><td>{_e(k)}</td><td>{v:.4g}</td></tr>"
                                             for k, v in sorted(r.scores.items())) + "</table>")
        if "report" in outs:
            parts.append(f'<a href="{_e(outs["report"])}">report</a>')
        if r.error:
            parts.append(f"<pre>{_e(r.error)}</pre>")
        cards.append(f'<div class="card">{"".join(parts)}</div>')
    counts = ", ".join(f"{sum(r.status == s for r in results)} {s}" for s in ("done", "skipped", "failed"))
    js = f"<script>{MODEL_VIEWER_JS.read_text()}</script>" if any_glb else ""
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>motion4d batch</title>'
            f"<style>{_CSS}</style>{js}</head><body><h1>motion4d batch</h1><p>{len(results)} jobs: {counts}</p>"
            f'<div class="cards">{"".join(cards)}</div></body></html>\n')
    with atomic_path(out / "index.html") as tmp:
        tmp.write_text(page, encoding="utf-8")
    return out / "index.html"


def _rel(out: Path, path: str | Path) -> str:
    try:
        return Path(path).resolve().relative_to(out.resolve()).as_posix()
    except ValueError:
        return Path(path).resolve().as_uri()


def _rel_outputs(out: Path, outputs: dict[str, str]) -> dict[str, str]:
    return {k: _rel(out, v) for k, v in outputs.items()}


def _e(text: Any) -> str:
    import html

    return html.escape(str(text), quote=True)
