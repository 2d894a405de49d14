"""``report.html``: one page per run that people can look at instead of reading JSON.

The page shows the prompt, the clips (reference, generated, turntable, comparison), an interactive
viewer of the animated GLB, the scores and the time per stage. It works offline from the run folder:
videos are referenced by relative path (browsers play local media files), the GLB is embedded as a
``data:`` URI (browsers refuse to ``fetch`` ``file://`` URLs) when it is at most ``embed_limit_mb``,
and the viewer, Google's ``<model-viewer>`` (three.js bundled, Apache-2.0), is inlined from the copy
shipped in ``motion4d/assets/web``. No request leaves the machine.
"""
from __future__ import annotations

import base64
import html
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motion4d.utils.io import atomic_path

__all__ = ["Report", "write_report", "MODEL_VIEWER_JS"]

MODEL_VIEWER_JS = Path(__file__).resolve().parents[1] / "assets" / "web" / "model-viewer-umd.min.js"

_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:1100px;padding:0 1rem;color:#222}
h1{font-size:1.5rem;margin-bottom:.2rem} .prompt{font-size:1.2rem;color:#444;margin:.2rem 0 1.2rem}
.grid{display:flex;flex-wrap:wrap;gap:1rem} figure{margin:0} figcaption{font-size:.85rem;color:#555}
video,img.clip{width:256px;image-rendering:pixelated;background:#eee;border-radius:4px}
model-viewer{width:100%;height:420px;background:#f3f3f3;border-radius:6px}
table{border-collapse:collapse;margin:.5rem 0 1rem} td,th{padding:.2rem .8rem;border-bottom:1px solid #ddd;text-align:left}
td.num{text-align:right;font-variant-numeric:tabular-nums} .muted{color:#777;font-size:.85rem}
"""


@dataclass
class Report:
    """What goes on the page. Paths point inside the run folder.

    Attributes:
        title: page heading (e.g. ``"text-to-4d"``).
        prompt: the text prompt, if any.
        media: label -> video (``.mp4``/``.webm``) or image (``.gif``/``.png``) path, shown in this order.
        glb: the animated GLB, or None.
        scores: name -> number (or text), shown as a table.
        timings: stage -> seconds (None = not run).
        config: the resolved configuration, shown folded.
        notes: lines shown under the title (which models ran, warnings).
    """

    title: str
    prompt: str | None = None
    media: dict[str, Path] = field(default_factory=dict)
    glb: Path | None = None
    scores: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float | None] = field(default_factory=dict)
    config: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)


def write_report(run_dir: str | Path, report: Report, name: str = "report.html", embed_limit_mb: float = 25.0) -> Path:
    """Write ``run_dir/name`` atomically and return its path.

    Raises ``FileNotFoundError`` naming a media file or GLB that does not exist, and ``ValueError`` for a
    path outside ``run_dir`` (the page must keep working when the folder is moved or zipped).
    """
    run_dir = Path(run_dir)
    media_html = "".join(_figure(label, _rel(run_dir, path)) for label, path in report.media.items())
    parts = [f"<h1>motion4d · {_e(report.title)}</h1>"]
    if report.prompt:
        parts.append(f'<p class="prompt">“{_e(report.prompt)}”</p>')
    parts += [f'<p class="muted">{_e(n)}</p>' for n in report.notes]
    if media_html:
        parts.append(f'<h2>Clips</h2><div class="grid">{media_html}</div>')
    viewer_js = ""
    if report.glb is not None:
        glb = Path(report.glb)
        rel = _rel(run_dir, glb)
        size_mb = glb.stat().st_size / 2 ** 20
        src = ("data:model/gltf-binary;base64," + base64.b64encode(glb.read_bytes()).decode()
               if size_mb <= embed_limit_mb else rel)
        note = "" if size_mb <= embed_limit_mb else (f'<p class="muted">{rel} ({size_mb:.0f} MB) is not embedded: '
                                                     f"serve the folder (python -m http.server) to view it here.</p>")
        parts.append(f'<h2>Animated mesh</h2><model-viewer src="{src}" camera-controls autoplay '
                     f'shadow-intensity="0.6" exposure="1.0" alt="animated GLB of the result"></model-viewer>'
                     f'<p class="muted"><a href="{_e(rel)}">{_e(rel)}</a> · drag to orbit, scroll to zoom</p>{note}')
        viewer_js = f"<script>{MODEL_VIEWER_JS.read_text()}</script>"
    if report.scores:
        parts.append("<h2>Scores</h2>" + _table(report.scores))
    if report.timings:
        total = sum(v for v in report.timings.values() if v)
        parts.append("<h2>Time per stage</h2>" + _table({**{k: _secs(v) for k, v in report.timings.items()},
                                                          "total": _secs(total)}))
    if report.config:
        parts.append("<details><summary>Configuration</summary><pre>"
                     f"{_e(json.dumps(report.config, indent=2, default=str))}</pre></details>")
    page = (f'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>motion4d · {_e(report.title)}'
            f"</title><style>{_CSS}</style>{viewer_js}</head><body>{''.join(parts)}</body></html>\n")
    path = run_dir / name
    with atomic_path(path) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return path


def _rel(run_dir: Path, path: str | Path) -> str:
    p = Path(path)
    full = p if p.is_absolute() else run_dir / p
    if not full.exists():
        raise FileNotFoundError(f"report: {full} does not exist")
    try:
        return full.resolve().relative_to(run_dir.resolve()).as_posix()
    except ValueError:
        raise ValueError(f"report: {full} lies outside the run folder {run_dir}") from None


def _figure(label: str, rel: str) -> str:
    if rel.lower().endswith((".mp4", ".webm")):
        body = f'<video src="{_e(rel)}" autoplay loop muted playsinline controls></video>'
    else:
        body = f'<img class="clip" src="{_e(rel)}" alt="{_e(label)}">'
    return f"<figure>{body}<figcaption>{_e(label)}</figcaption></figure>"


def _table(rows: dict[str, Any]) -> str:
    cells = "".join(f"<tr><th>{_e(k)}</th><td class=num>{_e(_fmt(v))}</td></tr>" for k, v in rows.items())
    return f"<table>{cells}</table>"


def _fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "–" if v is None else str(v)


def _secs(v: float | None) -> str | None:
    return None if v is None else f"{v:.1f} s"


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)
