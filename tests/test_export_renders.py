"""Turntable and reference-vs-render comparison videos."""
import numpy as np
import pytest
import torch
from _export_scenes import BlobScene

from motion4d.camera import orbit_camera, turntable
from motion4d.export import render_comparison, render_turntable
from motion4d.render import render


def _gif_frames(path):
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        return np.stack([np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)])


def test_turntable_frames_views_and_time(tmp_path):
    scene = BlobScene(num_frames=4, shift=0.5, radius=0.3, step=0.1, scale=0.08)
    out = render_turntable(scene, tmp_path / "turn.gif", num_views=4, size=32, elevation=0.0, background=1.0, fps=4)
    frames = _gif_frames(out)
    assert frames.shape == (4, 32, 32, 3)
    # view 2 (azimuth 180, time 2/3) equals a direct render
    cam = turntable(4, elevation=0.0, width=32)[2]
    direct = render(scene.gaussians_at(2 / 3), cam, torch.ones(3)).rgb[0].numpy()
    assert np.abs(frames[2] / 255.0 - direct).mean() < 0.02
    # the object is visible (not all background) in every view
    assert ((frames < 200).any(-1).mean(axis=(1, 2)) > 0.05).all()


def test_turntable_frozen_time(tmp_path):
    scene = BlobScene(num_frames=4, shift=0.5, radius=0.3, step=0.1, scale=0.08)
    frames = _gif_frames(render_turntable(scene, tmp_path / "t.gif", t=0.0, num_views=2, size=24, elevation=0.0))
    cam = turntable(2, elevation=0.0, width=24)
    direct = render(scene.gaussians_at(0.0), cam, torch.ones(3)).rgb.numpy()
    assert np.abs(frames / 255.0 - direct).mean() < 0.02
    with pytest.raises(ValueError, match="t must be a normalised time"):
        render_turntable(scene, tmp_path / "t.gif", t=2.0)
    with pytest.raises(ValueError, match="num_views must be a positive integer"):
        render_turntable(scene, tmp_path / "t.gif", num_views=0)


def test_comparison_puts_reference_left_and_render_right(tmp_path):
    scene = BlobScene(num_frames=3, radius=0.3, step=0.1, scale=0.08)
    cam = orbit_camera(0.0, 0.0, width=32)
    ref = np.zeros((3, 16, 16, 4), dtype=np.float32)
    ref[..., 0] = 1.0
    ref[..., 3] = 1.0  # opaque red references, rendered at their (smaller) size
    out = render_comparison(scene, ref, cam, tmp_path / "cmp.gif", fps=3, background=1.0)
    frames = _gif_frames(out)
    assert frames.shape == (3, 16, 32, 3)
    assert (np.abs(frames[:, :, :16].astype(int) - [255, 0, 0]) <= 3).all()
    direct = render(scene.gaussians_at(1.0), cam.resized(16), torch.ones(3)).rgb[0].numpy()
    assert np.abs(frames[2, :, 16:] / 255.0 - direct).mean() < 0.02


def test_comparison_bad_inputs(tmp_path):
    scene = BlobScene(num_frames=2)
    cams = turntable(3, width=16)
    with pytest.raises(ValueError, match="1 camera or one per reference frame \\(2\\), got 3"):
        render_comparison(scene, np.zeros((2, 16, 16, 3)), cams, tmp_path / "c.mp4")
    with pytest.raises(ValueError, match="reference_frames must be"):
        render_comparison(scene, np.zeros((0, 16, 16, 3)), cams[0], tmp_path / "c.mp4")
    with pytest.raises(ValueError, match="unknown video format"):
        render_comparison(scene, np.zeros((2, 16, 16, 3)), cams[0], tmp_path / "c.webm")
    assert list(tmp_path.iterdir()) == []
