"""Matting of generated clips: known background, hooks (opt-in), clear errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from motion4d.pipelines.matting import matte
from motion4d.render import render
from motion4d.world import make_scene


def _world_frames(background):
    scene = make_scene(11, num_points=800)
    cams = scene.cameras(size=48, include_ref=True)[0]
    rgba = []
    for t in (0.0, 1.0):
        out = render(scene.gaussians_at(t), cams, background=0.0)
        rgba.append(torch.cat([out.rgb[0] / out.alpha[0].clamp_min(1e-6), out.alpha[0]], -1).clamp(0, 1))
    rgba = torch.stack(rgba).numpy()
    rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:]) * np.asarray(background, np.float32)
    return (rgb * 255).round().astype(np.uint8), rgba


@pytest.mark.parametrize("bg, rendered", [((1.0, 1.0, 1.0), (1.0, 1.0, 1.0)), ((0.5, 0.5, 0.5), (0.5, 0.5, 0.5)),
                                          # a generator that renders its white only approximately (tiny-t2v)
                                          ((1.0, 1.0, 1.0), (0.93, 0.95, 0.93))])
def test_known_background_recovers_alpha_and_colour(bg, rendered):
    frames, truth = _world_frames(rendered)
    out = matte(frames, "background", background=bg)
    assert out.shape == truth.shape
    pred, gt = out[..., 3] > 0.5, truth[..., 3] > 0.5
    iou = (pred & gt).sum() / (pred | gt).sum()
    assert iou > 0.98, iou
    assert np.abs(out[..., 3] - truth[..., 3]).mean() < 0.01       # soft edges too
    solid = truth[..., 3] > 0.95
    assert np.abs(out[..., :3][solid] - truth[..., :3][solid]).mean() < 0.03


def test_hooks_need_opt_in_and_errors_name_the_problem():
    frames = np.zeros((2, 8, 8, 3), np.uint8)
    frames[:, 2:6, 2:6] = 200
    with pytest.raises(ValueError, match="imports code"):
        matte(frames, "numpy:ones_like")
    with pytest.raises(ValueError, match="expected"):
        matte(frames, "numpy:ones_like", allow_code=True)      # returns [H, W, 3], not [H, W]
    with pytest.raises(ValueError, match="no object"):
        matte(np.zeros((2, 8, 8, 3), np.uint8), "background", background=(0, 0, 0))
    with pytest.raises(ValueError, match="not one of"):
        matte(frames, "guess")
    with pytest.raises(ValueError, match="background colour"):
        matte(frames, "background")


def test_frame_background_is_the_border_only_near_the_known_colour():
    from motion4d.pipelines.matting import frame_backgrounds

    frames = np.zeros((2, 8, 8, 3), np.float32)
    frames[0] = (0.93, 0.95, 0.93)
    frames[1] = (0.2, 0.2, 0.9)                     # far from white: the known colour is kept
    frames[:, 3:5, 3:5] = (1.0, 0.5, 0.0)           # the object, inside the border
    bg = frame_backgrounds(frames, (1.0, 1.0, 1.0))
    assert np.allclose(bg[0], (0.93, 0.95, 0.93)) and np.allclose(bg[1], (1.0, 1.0, 1.0))
