"""``motion4d render`` draws what a run was trained on, and agrees with ``motion4d eval`` pixel for pixel."""
import json

import numpy as np
import pytest
import torch

from motion4d.camera import Cameras
from motion4d.cli import main
from motion4d.evaluation.views import render_views, to_uint8
from motion4d.gaussians import Gaussians, save_ply
from motion4d.lift import load_result


@pytest.fixture()
def calibrated_run(tmp_path):
    """A still result folder whose cameras (45 degrees, 24 x 32 px) differ from the 49.1-degree default."""
    g = torch.Generator().manual_seed(0)
    n = 60
    means = (torch.rand(n, 3, generator=g) - 0.5) * 0.8
    canon = Gaussians.from_rgb(means, torch.rand(n, 3, generator=g), torch.full((n, 3), 0.06),
                               torch.full((n,), 0.8))
    save_ply(canon, tmp_path / "canonical.ply")
    cams = Cameras.orbit(10.0, [0.0, 70.0, 200.0], 2.2, 45.0, 32, 24)
    cams.names = ["ref", "side", "back"]
    cams.to_json(tmp_path / "cameras.json")
    (tmp_path / "result.json").write_text(json.dumps({
        "num_frames": 2, "canonical": "canonical.ply", "deformation": None, "cameras": "cameras.json",
        "training_views": ["ref", "side"], "background": [1.0, 1.0, 1.0]}))
    return tmp_path, cams


def _png(path):
    from PIL import Image

    return np.asarray(Image.open(path))


def test_render_uses_the_runs_calibrated_cameras(calibrated_run, tmp_path_factory):
    run, cams = calibrated_run
    out = tmp_path_factory.mktemp("r")
    res = load_result(run)
    assert main(["render", str(run), "--out", str(out / "ref.png")]) == 0
    img = _png(out / "ref.png")
    assert img.shape == (24, 32, 3)
    expect = to_uint8(render_views(res, cams[0], [0.0], [1.0, 1.0, 1.0])[0][0, 0])
    np.testing.assert_array_equal(img, expect)
    # a held-out camera by name
    assert main(["render", str(run), "--camera", "back", "--out", str(out / "back.png")]) == 0
    np.testing.assert_array_equal(_png(out / "back.png"),
                                  to_uint8(render_views(res, cams[2], [0.0], [1.0, 1.0, 1.0])[0][0, 0]))
    # --fovy overrides the calibrated field of view: the default 49.1 degrees draws a different image
    assert main(["render", str(run), "--fovy", "49.1", "--out", str(out / "wide.png")]) == 0
    assert np.abs(_png(out / "wide.png").astype(int) - img.astype(int)).max() > 30
    # an orbit camera keeps the run's intrinsics (45 degrees): azimuth 70 at the same radius is camera 'side'
    assert main(["render", str(run), "--elevation", "10", "--azimuth", "70", "--size", "24",
                 "--out", str(out / "orbit.png")]) == 0
    side = to_uint8(render_views(res, cams[1], [0.0], [1.0, 1.0, 1.0])[0][0, 0])
    orbit = _png(out / "orbit.png")
    assert orbit.shape == (24, 24, 3)
    assert np.abs(orbit.astype(int) - side[:, 4:28].astype(int)).max() <= 2
    assert main(["render", str(run), "--camera", "nope", "--out", str(out / "x.png")]) == 2


def test_render_camera_file_matches_eval(calibrated_run, tmp_path_factory):
    """``render --cameras FILE --out DIR`` writes RGBA frames that ``evaluate`` scores as (nearly) identical."""
    from motion4d.evaluation import evaluate

    run, cams = calibrated_run
    scene = tmp_path_factory.mktemp("scene")
    assert main(["render", str(run), "--cameras", str(run / "cameras.json"), "--out", str(scene / "views")]) == 0
    for name in cams.names:
        for f in range(2):
            rgba = _png(scene / "views" / name / f"{f:03d}.png")
            assert rgba.shape == (24, 32, 4) and rgba[..., 3].max() >= 250 and rgba[..., 3].min() == 0
    cams.to_json(scene / "cameras.json")
    (scene / "scene.json").write_text(json.dumps({"num_frames": 2, "background": [1.0, 1.0, 1.0],
                                                  "caption": "dots"}))
    report = evaluate(load_result(run), scene, views=["side", "back"], optional=False)
    assert report["psnr"] > 40 and report["mask_iou"] > 0.97
