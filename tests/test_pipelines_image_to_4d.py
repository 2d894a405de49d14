"""image-to-4d end to end on a tiny random SVD, and the DreamGaussian4D-style preprocessing."""
from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from _svd_tiny import build_tiny_svd
from motion4d.pipelines import ImageTo4DPipeline, load_image_to_4d_config
from motion4d.pipelines.image_to_4d import preprocess_image

TOY = ["drive.frames=4", "drive.width=32", "drive.height=32", "drive.steps=2", "drive.decode_chunk_size=2",
       "lift.preset=demo", "lift.novel_view=none",
       "lift.overrides=[static.iters=3, static.num_points=300, dynamic.iters=2, input.size=32, "
       "output.mesh_resolution=12, output.turntable_views=3, output.video_size=32, output.preview_every=0]"]


def _disc(path, size=48, centre=(14, 30), radius=8, mode="RGBA"):
    yy, xx = np.mgrid[:size, :size]
    inside = (yy - centre[0]) ** 2 + (xx - centre[1]) ** 2 <= radius ** 2
    img = np.zeros((size, size, 4), np.uint8)
    img[inside] = (200, 30, 30, 255)
    Image.fromarray(img if mode == "RGBA" else img[..., :3], mode).save(path)
    return path


def test_preprocess_recentres_and_scales_the_object(tmp_path):
    rgba = preprocess_image(_disc(tmp_path / "disc.png"), "auto", (64, 64), border_ratio=0.2)
    ys, xs = np.nonzero(rgba[..., 3] > 0.5)
    assert abs((ys.min() + ys.max()) / 2 - 31.5) <= 1 and abs((xs.min() + xs.max()) / 2 - 31.5) <= 1
    assert abs((ys.max() - ys.min() + 1) - 0.6 * 64) <= 2                       # fills 1 - 2 * 0.2 of the side
    assert np.allclose(rgba[32, 32, :3], (200 / 255, 30 / 255, 30 / 255), atol=0.02)
    with pytest.raises(ValueError, match="no alpha channel"):
        preprocess_image(_disc(tmp_path / "rgb.png", mode="RGB"), "alpha", (64, 64))


def test_image_to_4d_end_to_end(tmp_path):
    svd = build_tiny_svd(tmp_path / "tiny-svd")
    image = _disc(tmp_path / "disc.png")
    cfg = load_image_to_4d_config(str(image), preset="quick", overrides=TOY + [f"drive.model={svd}"])
    res = ImageTo4DPipeline(cfg, log=lambda s: None)(tmp_path / "run")
    stages = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]
    assert [s["status"] for s in stages] == ["done"] * 7
    assert len(list((tmp_path / "run" / "clip" / "rgba").glob("*.png"))) == 4
    assert res.outputs["animation"].is_file() and res.outputs["report"].is_file()
    html = res.outputs["report"].read_text()
    assert 'src="input/input.png"' in html and 'src="clip/video.mp4"' in html


def test_image_to_4d_bad_inputs(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        ImageTo4DPipeline(load_image_to_4d_config(str(tmp_path / "nope.png"), preset="quick"))
    (tmp_path / "a.txt").write_text("x")
    with pytest.raises(ValueError, match="not one of"):
        ImageTo4DPipeline(load_image_to_4d_config(str(tmp_path / "a.txt"), preset="quick"))
    with pytest.raises(FileNotFoundError, match="static model"):
        ImageTo4DPipeline(load_image_to_4d_config(str(_disc(tmp_path / "d.png")), preset="quick",
                                                  static=str(tmp_path / "none.ply")))
