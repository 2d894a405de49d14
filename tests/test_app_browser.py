"""``motion4d app`` in a real browser: a text-to-4D run on tiny models, outputs drawn, zip, bad uploads."""
from __future__ import annotations

import json
import time
import zipfile

import numpy as np
import pytest

from _browser import Browser, chromium_or_skip, drawn, free_port, shot

TOY = ["clip.frames=4", "clip.width=32", "clip.height=32", "clip.steps=2", "customize.steps=2"]
TOY_LIFT = ["static.iters=3", "static.num_points=300", "dynamic.iters=2", "input.size=32", "output.mesh_resolution=12",
            "output.turntable_views=3", "output.video_size=32", "output.preview_every=0", "output.checkpoint_every=1"]
LIMIT_MB = 0.25


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    pytest.importorskip("gradio", reason="app tests skipped: gradio is not installed (pip install 'motion4d[app]')")
    from _video_tiny import build_tiny_model
    from motion4d.app import AppSettings, UploadLimits, launch

    root = tmp_path_factory.mktemp("app")
    model = build_tiny_model(root / "model")
    index = json.loads((model / "model_index.json").read_text())
    index["motion4d"] = {"background": [0.1, 0.1, 0.3]}
    (model / "model_index.json").write_text(json.dumps(index))
    settings = AppSettings(root / "runs", UploadLimits(max_file_mb=LIMIT_MB, max_video_frames=50),
                           overrides={"text-to-4d": TOY + [f"clip.model={model}", "lift.preset=demo",
                                                           "lift.novel_view=none"]},
                           lift_overrides={"text-to-4d": TOY_LIFT})
    demo, url = launch(settings, port=free_port(), block=False)
    yield url, settings
    demo.close()


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(chromium_or_skip(), tmp_path_factory.mktemp("browser"))
    yield b
    b.close()


def test_text_to_4d_in_the_browser(app, browser, tmp_path):
    url, settings = app
    assert url.startswith("http://127.0.0.1:")
    page = browser.page()
    page.goto(url)
    assert "tiny" in page.locator("#models").inner_text() or "model" in page.locator("#models").inner_text()
    page.locator("#prompt textarea").fill("a red ball jumping")
    page.locator("#run-text").click()
    status = page.locator("#status")
    deadline = time.time() + 150
    seen_running = False
    while time.time() < deadline:
        text = status.inner_text()
        seen_running |= "stage" in text and "running" in text
        if text.startswith(("done", "failed", "cancelled")):
            break
        time.sleep(0.5)
    text = status.inner_text()
    assert text.startswith("done"), text
    assert seen_running, "no live stage progress was shown"
    assert "✓ stage export" in text and "✓ stage report" in text
    # the animated GLB is drawn in the Model3D canvas
    canvas = page.locator("#glb canvas").first
    canvas.wait_for(timeout=30000)
    time.sleep(3.0)
    assert drawn(shot(canvas)) > 3, "the Model3D canvas is blank"
    # the zip of the run folder downloads and holds the GLB
    with page.expect_download(timeout=30000) as dl:
        page.locator("#zip a[download]").first.click()
    path = tmp_path / "run.zip"
    dl.value.save_as(path)
    names = zipfile.ZipFile(path).namelist()
    assert "run/lift/animation.glb" in names and "run/manifest.json" in names
    assert not any("/checkpoints/" in n for n in names)
    # the run sits in this session's folder, named by a random token (not guessable from another browser)
    sessions = [p for p in settings.runs_root.iterdir() if p.is_dir()]
    assert len(sessions) == 1 and len(sessions[0].name) >= 20


def _upload_error(browser, url, tmp_path, name: str, data: bytes) -> str:
    page = browser.page()
    page.goto(url)
    page.locator("#prompt textarea").fill("a ball")
    f = tmp_path / name
    f.write_bytes(data)
    page.locator("#motion input[type=file]").set_input_files(str(f))
    time.sleep(1.0)
    page.locator("#run-text").click()
    toast = page.locator(".toast-body, [data-testid='toast-body']").first
    toast.wait_for(timeout=20000)
    return page.locator(".toast-body, [data-testid='toast-body']").all_inner_texts()


@pytest.mark.parametrize("name, data, message", [
    ("big.mp4", b"\0" * int(LIMIT_MB * 2 ** 20 + 1000), "maximum"),
    ("notes.txt", b"hello", "invalid file type"),          # gradio checks file_types itself
    ("clip.mp4", b"not a video at all" * 10, "no video frames"),
])
def test_bad_uploads_are_refused_with_their_message(app, browser, tmp_path, name, data, message):
    url, _ = app
    texts = " ".join(_upload_error(browser, url, tmp_path, name, data))
    assert message in texts.lower() or message in texts, texts
