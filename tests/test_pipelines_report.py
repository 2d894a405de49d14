"""report.html: opens offline, references only files that exist, embeds the GLB and the viewer."""
from __future__ import annotations

import base64
import re
from html.parser import HTMLParser

import numpy as np
import pytest
import trimesh

from motion4d.utils.media import write_video
from motion4d.pipelines.report import Report, write_report


class _Refs(HTMLParser):
    def __init__(self):
        super().__init__()
        self.refs: list[tuple[str, str, str]] = []
        self.tags: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append(tag)
        for k, v in attrs:
            if k in ("src", "href") and v:
                self.refs.append((tag, k, v))


def _run_folder(tmp_path):
    run = tmp_path / "run"
    frames = (np.random.default_rng(0).random((4, 16, 16, 3)) * 255).astype(np.uint8)
    write_video(frames, run / "videos" / "turntable.mp4", fps=4)
    write_video(frames, run / "video" / "clip.gif", fps=4)
    trimesh.creation.box().export(run / "animation.glb")
    return run


def test_report_references_existing_files_and_embeds_glb(tmp_path):
    run = _run_folder(tmp_path)
    path = write_report(run, Report(title="text-to-4d", prompt='a red <ball> "bouncing"',
                                    media={"generated clip": run / "video" / "clip.gif",
                                           "turntable": run / "videos" / "turntable.mp4"},
                                    glb=run / "animation.glb", scores={"clip_score": 0.3123456, "psnr": None},
                                    timings={"generate": 1.5, "lift": 10.25}, config={"seed": 3}))
    text = path.read_text()
    parser = _Refs()
    parser.feed(text)
    assert "model-viewer" in parser.tags and "video" in parser.tags
    for tag, _, ref in parser.refs:
        assert not ref.startswith(("http:", "https:", "//")), f"network reference {ref}"
        if ref.startswith("data:"):
            glb = base64.b64decode(ref.split(",", 1)[1])
            assert glb[:4] == b"glTF" and glb == (run / "animation.glb").read_bytes()
        else:
            assert (run / ref).exists(), ref
    assert "&lt;ball&gt;" in text and "<ball>" not in text            # the prompt is escaped
    assert "0.3123" in text and "11.8 s" in text                       # scores and the total time
    assert "customElements.define" in text                             # the viewer is inlined, not fetched
    assert not re.search(r"<script[^>]+src=", text)


def test_report_large_glb_is_linked_and_missing_files_are_named(tmp_path):
    run = _run_folder(tmp_path)
    text = write_report(run, Report(title="t", glb=run / "animation.glb"), embed_limit_mb=0.0).read_text()
    assert 'src="animation.glb"' in text and "http.server" in text
    with pytest.raises(FileNotFoundError, match="missing.mp4"):
        write_report(run, Report(title="t", media={"x": run / "missing.mp4"}))
    outside = tmp_path / "outside.gif"
    outside.write_bytes((run / "video" / "clip.gif").read_bytes())
    with pytest.raises(ValueError, match="outside the run folder"):
        write_report(run, Report(title="t", media={"x": outside}))
