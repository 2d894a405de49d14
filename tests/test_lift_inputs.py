"""Input loading: videos, frame folders, RGBA masks, plain-background keying, recentring, multi-view, errors."""
import json

import imageio
import imageio.v3 as iio
import numpy as np
import pytest
import torch

from motion4d.lift.config import InputConfig
from motion4d.lift.inputs import load_input, read_frames, recenter, resample_indices, segment_plain


def _clip(num_frames=6, size=40, bg=(30, 120, 200)):
    """A red square moving right on a plain background; returns (rgb uint8 [F,H,W,3], mask bool [F,H,W])."""
    frames = np.zeros((num_frames, size, size, 3), np.uint8)
    frames[:] = bg
    masks = np.zeros((num_frames, size, size), bool)
    for f in range(num_frames):
        x = 8 + 2 * f
        frames[f, 14:26, x:x + 10] = (220, 40, 30)
        masks[f, 14:26, x:x + 10] = True
    return frames, masks


def test_video_mp4_and_resample(tmp_path):
    frames, _ = _clip(6)
    path = tmp_path / "clip.mp4"
    imageio.mimwrite(path, list(frames), fps=8, macro_block_size=1)
    out = read_frames(path)
    assert out.shape == (6, 40, 40, 3)
    assert np.abs(out.astype(int) - frames.astype(int)).mean() < 8  # lossy codec, same content
    data = load_input(path, InputConfig(num_frames=3, size=32, segmentation="plain"))
    assert data.rgb.shape == (1, 3, 32, 32, 3) and data.alpha.shape == (1, 3, 32, 32, 1)
    assert not data.calibrated and data.cameras.names == ["ref"]
    assert resample_indices(6, 3) == [0, 2, 5] and resample_indices(6, 0) == list(range(6))


def test_frames_folder_rgba_alpha_is_mask(tmp_path):
    frames, masks = _clip(3)
    for f in range(3):
        rgba = np.concatenate([frames[f], (masks[f] * 255).astype(np.uint8)[..., None]], -1)
        iio.imwrite(tmp_path / f"{f}.png", rgba)
    iio.imwrite(tmp_path / "10.png", rgba)  # natural sort: 10 comes after 2
    data = load_input(tmp_path, InputConfig(num_frames=0, size=40, recenter=False))
    assert data.num_frames == 4
    torch.testing.assert_close(data.alpha[0, :3, ..., 0], torch.from_numpy(masks.astype(np.float32)))


def test_gif_rgba(tmp_path):
    frames, masks = _clip(3)
    rgba = np.concatenate([frames, (masks * 255).astype(np.uint8)[..., None]], -1)
    iio.imwrite(tmp_path / "c.gif", rgba, loop=0, duration=100, disposal=2)
    out = read_frames(tmp_path / "c.gif")
    assert out.shape == (3, 40, 40, 4) and (out[..., 3] > 0).sum() == masks.sum()


def test_plain_background_segmentation_matches_object():
    frames, masks = _clip(2)
    noisy = frames.astype(int) + np.random.default_rng(0).integers(-6, 7, frames.shape)
    noisy[0, 0, 0] = (255, 255, 255)  # a speck of noise away from the object is cleaned away
    m = segment_plain(np.clip(noisy, 0, 255).astype(np.uint8)[0])
    iou = (m.astype(bool) & masks[0]).sum() / (m.astype(bool) | masks[0]).sum()
    assert iou > 0.95


def test_segmentation_hook(tmp_path, monkeypatch):
    frames, masks = _clip(3)
    for f in range(3):
        iio.imwrite(tmp_path / f"{f:03d}.png", frames[f])
    mod = tmp_path / "mykeyer.py"
    mod.write_text("import numpy as np\ndef key(frame):\n    return (frame[..., 0] > 150).astype(np.float32)\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    data = load_input(tmp_path, InputConfig(num_frames=0, size=40, recenter=False, segmentation="mykeyer:key"))
    torch.testing.assert_close(data.alpha[0, ..., 0], torch.from_numpy(masks.astype(np.float32)))
    with pytest.raises(ValueError, match="no callable 'nope'"):
        load_input(tmp_path, InputConfig(segmentation="mykeyer:nope"))


def test_recenter_centres_union_box_and_keeps_motion():
    frames, masks = _clip(6)
    rgb = torch.from_numpy(frames.astype(np.float32) / 255)
    alpha = torch.from_numpy(masks.astype(np.float32))[..., None]
    c, a = recenter(rgb, alpha, 64, 0.2)
    fg = (a[..., 0] > 0.5).any(0)
    ys, xs = torch.nonzero(fg, as_tuple=True)
    # union box is 22 wide x 12 high -> its long side spans 60% of 64 = 38.4 px, centred
    assert abs((xs.max() + 1 - xs.min()).item() - 38.4) <= 2
    assert abs((xs.min() + xs.max() + 1).item() / 2 - 32) <= 1 and abs((ys.min() + ys.max() + 1).item() / 2 - 32) <= 1
    cx = [(torch.nonzero(a[f, ..., 0] > 0.5)[:, 1].float().mean()).item() for f in range(6)]
    assert all(b > a_ for a_, b in zip(cx, cx[1:]))  # the object still moves right
    inside = a[..., 0] > 0.99
    assert (c[inside] - torch.tensor([220, 40, 30]) / 255).abs().max() < 0.05  # colour kept (no halo)


def test_multiview_folder_and_holdout(tmp_path):
    from _lift_data import write_multiview

    root, cams = write_multiview(tmp_path / "mv", num_frames=3)
    data = load_input(root, InputConfig(num_frames=0, holdout=["el+00_az045"]))
    assert data.calibrated and data.cameras.names == ["ref", "el+00_az090", "el+00_az180", "el+00_az270"]
    assert data.rgb.shape == (4, 3, 32, 32, 3)
    torch.testing.assert_close(data.cameras.viewmats, cams[[0, 1, 2, 3]].viewmats)
    assert data.holdout == ["el+00_az045"]
    with pytest.raises(ValueError, match="'nope' is not in"):
        load_input(root, InputConfig(holdout=["nope"]))


# -- bad inputs ---------------------------------------------------------------------------------
def test_unreadable_video(tmp_path):
    bad = tmp_path / "broken.mp4"
    bad.write_bytes(b"definitely not a video")
    with pytest.raises(ValueError, match=r"could not read video .*broken\.mp4"):
        load_input(bad)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        load_input(tmp_path / "missing.mp4")
    with pytest.raises(ValueError, match="neither a folder of frames nor a video"):
        (tmp_path / "notes.txt").write_text("x")
        load_input(tmp_path / "notes.txt")


def test_single_frame_needs_two(tmp_path):
    frames, _ = _clip(1)
    iio.imwrite(tmp_path / "000.png", frames[0])
    with pytest.raises(ValueError, match="has 1 frame; video-to-4D needs a clip of at least 2 frames"):
        load_input(tmp_path)


def test_wrong_cameras_json(tmp_path):
    from _lift_data import write_multiview

    root, _ = write_multiview(tmp_path / "mv", num_frames=2)
    (root / "cameras.json").write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_input(root)
    (root / "cameras.json").write_text(json.dumps({"width": 32, "height": 32, "cameras": [{"name": "ref", "fx": 1}]}))
    with pytest.raises(ValueError, match=r"wrong cameras JSON: .*camera 0 lacks fy, cx, cy, c2w"):
        load_input(root)


def test_mismatched_frame_counts(tmp_path):
    from _lift_data import write_multiview

    root, _ = write_multiview(tmp_path / "mv", num_frames=3)
    (root / "el+00_az090" / "002.png").unlink()
    with pytest.raises(ValueError, match="different frame counts: .*el\\+00_az090=2"):
        load_input(root)
