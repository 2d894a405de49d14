"""``motion4d view`` in a real browser: splats drawn, the time slider changes the picture, offline HTML."""
from __future__ import annotations

import time

import numpy as np
import pytest

from _browser import Browser, chromium_or_skip, drawn, free_port, shot
from motion4d.cli import main

@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from _lift_data import tiny_lift_run

    return tiny_lift_run(tmp_path_factory.mktemp("view"), "output.preview_every=0", "output.mesh_resolution=16")


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    b = Browser(chromium_or_skip(), tmp_path_factory.mktemp("browser"))
    yield b
    b.close()


def test_viewer_data_frames_cameras_and_reference(run):
    from motion4d.view import load_view_data

    d = load_view_data(run, max_gaussians=100)
    assert len(d.frames) == 3 and len(d.times) == 3 and all(len(f) == len(d.canonical) <= 100 for f in d.frames)
    f0 = d.frames[0]
    assert f0.covariances.shape == (len(f0), 3, 3) and f0.opacities.shape == (len(f0), 1)
    assert np.allclose(f0.covariances, f0.covariances.transpose(0, 2, 1), atol=1e-6)
    assert (np.linalg.eigvalsh(f0.covariances.astype(np.float64)) > -1e-9).all()
    assert 0 <= f0.rgbs.min() and f0.rgbs.max() <= 1
    # the reference camera sits on +Z at the orbit radius, looking at the origin (OpenCV: +z forward)
    assert np.allclose(d.reference_camera.c2w[:3, 3], [0, 0, 2.5], atol=1e-4)
    assert np.allclose(d.reference_camera.c2w[:3, 2], [0, 0, -1], atol=1e-4)
    # training views: the calibrated cameras of the multi-view input (5 in cameras.json)
    assert len(d.training_cameras) == 5
    assert len(d.reference) == 3 and d.reference[0].shape == (32, 32, 3)
    assert not np.array_equal(d.reference[0], d.reference[2])            # the blob moves in the input


def test_viewer_time_slider_changes_the_picture(run, browser):
    from motion4d.view import serve

    server, viewer = serve(run, port=free_port(), block=False)
    try:
        page = browser.page(800, 600)
        page.goto(f"http://127.0.0.1:{server.get_port()}/")
        canvas = page.locator("canvas").first
        canvas.wait_for(timeout=30000)
        time.sleep(3.0)                                     # splats sorted and drawn
        before = shot(page)
        assert drawn(shot(canvas)) > 5, "the 3D canvas is blank"
        slider = page.get_by_role("slider").first           # "Time" is the first slider of the panel
        slider.focus()
        slider.press("ArrowRight")
        slider.press("ArrowRight")
        deadline = time.time() + 15
        while viewer.index != 2 and time.time() < deadline:
            time.sleep(0.1)
        assert viewer.index == 2, "the server did not see the slider move"
        time.sleep(2.0)
        after = shot(page)
        assert np.abs(after.astype(int) - before.astype(int)).mean() > 0.05, "the picture did not change"
    finally:
        viewer.close()
        server.stop()


def test_exported_html_renders_offline(run, browser, tmp_path):
    out = tmp_path / "anim.html"
    assert main(["view", str(run), "--export-html", str(out)]) == 0
    html = out.read_text()
    assert "__VISER_EMBED_DATA__" in html and "http://" not in html.split("__VISER_EMBED_DATA__")[1][:200]
    page = browser.page(800, 600)
    requests: list[str] = []

    def block(route):                                      # offline: anything not from the file is refused
        requests.append(route.request.url)
        route.abort()

    page.route("http*://**/*", block)
    page.goto(out.as_uri())
    canvas = page.locator("canvas").first
    canvas.wait_for(timeout=30000)
    time.sleep(3.0)
    assert drawn(shot(canvas)) > 5, f"the exported page drew nothing (blocked requests: {requests})"


def test_view_refuses_a_folder_that_is_not_a_result(tmp_path):
    assert main(["view", str(tmp_path), "--export-html", str(tmp_path / "x.html")]) == 2
    (tmp_path / "manifest.json").write_text("{}")
    from motion4d.view import load_view_data

    with pytest.raises(FileNotFoundError, match="lift stage has not finished"):
        load_view_data(tmp_path)
