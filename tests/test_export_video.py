"""write_video: mp4 and gif written atomically, readable, with clear errors for bad input."""
import numpy as np
import pytest

from motion4d.export import write_video
from motion4d.utils.io import atomic_path


def _frames(n=5, h=24, w=32):
    """Smooth colour gradients (chroma subsampling and H.264 keep them), brighter every frame."""
    y, x = np.meshgrid(np.linspace(0, 1, h), np.linspace(0, 1, w), indexing="ij")
    base = np.stack([x, y, 1 - x * y], -1)[None]
    ramp = np.linspace(0, 1, n)[:, None, None, None]
    return np.clip(base * 0.5 + ramp * 0.5, 0, 1)  # float [F,H,W,3], each frame different


def _read_mp4(path):
    import imageio.v2 as imageio

    reader = imageio.get_reader(path, format="FFMPEG")
    try:
        return np.stack([f for f in reader]), reader.get_meta_data()
    finally:
        reader.close()


def test_mp4_has_frames_size_fps_and_content(tmp_path):
    frames = _frames()
    out = write_video(frames, tmp_path / "clip.mp4", fps=10)
    assert out == tmp_path / "clip.mp4" and out.is_file()
    back, meta = _read_mp4(out)
    assert back.shape == (5, 24, 32, 3)
    assert meta["fps"] == pytest.approx(10)
    # lossy codec, but the mean brightness ramp survives
    assert np.abs(back.mean(axis=(1, 2, 3)) / 255 - frames.mean(axis=(1, 2, 3))).max() < 0.03
    assert [p.name for p in tmp_path.iterdir()] == ["clip.mp4"]  # no temporaries left


def test_mp4_odd_size_is_padded_to_even(tmp_path):
    frames = (_frames(3, 15, 21) * 255).astype(np.uint8)
    back, _ = _read_mp4(write_video(frames, tmp_path / "odd.mp4", fps=5))
    assert back.shape == (3, 16, 22, 3)
    assert np.abs(back[:, :15, :21].astype(float) - frames).mean() < 8


def test_gif_frames_and_timing(tmp_path):
    from PIL import Image, ImageSequence

    frames = (_frames(4, 20, 18) * 255).astype(np.uint8)
    out = write_video(list(frames), tmp_path / "clip.gif", fps=5)
    with Image.open(out) as im:
        got = [np.asarray(f.convert("RGB")) for f in ImageSequence.Iterator(im)]
        assert im.info["duration"] == 200 and im.info.get("loop") == 0
    assert len(got) == 4 and got[0].shape == (20, 18, 3)
    assert np.abs(np.stack(got).astype(float) - frames).mean() < 6  # palette quantisation only


def test_torch_and_grey_inputs(tmp_path):
    import torch

    out = write_video(torch.rand(2, 8, 8), tmp_path / "grey.gif", fps=2)
    from PIL import Image

    with Image.open(out) as im:
        assert im.n_frames == 2 and im.size == (8, 8)


@pytest.mark.parametrize("frames, match", [
    (np.zeros((0, 8, 8, 3)), "0 frames"),
    ([], "empty list"),
    (np.zeros((2, 8, 8, 4)), "composite RGBA"),
    (np.zeros((8, 8)), r"\[F, H, W, 3\]"),
    (np.zeros((2, 8, 8, 3), dtype=np.int32), "dtype int32"),
    (np.full((1, 4, 4, 3), np.nan), "NaN"),
])
def test_bad_frames_are_rejected(tmp_path, frames, match):
    with pytest.raises(ValueError, match=match):
        write_video(frames, tmp_path / "x.mp4", fps=4)
    assert not (tmp_path / "x.mp4").exists()


def test_unknown_extension_and_bad_fps(tmp_path):
    with pytest.raises(ValueError, match=r"unknown video format '\.avi'.*\.mp4, \.gif"):
        write_video(_frames(), tmp_path / "x.avi")
    with pytest.raises(ValueError, match="no extension"):
        write_video(_frames(), tmp_path / "x")
    with pytest.raises(ValueError, match="fps must be a positive number"):
        write_video(_frames(), tmp_path / "x.mp4", fps=0)


def test_interrupted_write_leaves_no_final_file(tmp_path, monkeypatch):
    import imageio_ffmpeg

    def crash(path, *args, **kwargs):
        open(path, "wb").write(b"half a video")
        raise RuntimeError("disk full")

    monkeypatch.setattr(imageio_ffmpeg, "write_frames", crash)
    with pytest.raises(RuntimeError, match="disk full"):
        write_video(_frames(), tmp_path / "clip.mp4", fps=4)
    assert list(tmp_path.iterdir()) == []


def test_atomic_path_keeps_previous_file_on_failure(tmp_path):
    final = tmp_path / "a.mp4"
    final.write_bytes(b"old complete file")
    with pytest.raises(KeyboardInterrupt):
        with atomic_path(final) as tmp:
            tmp.write_bytes(b"new partial")
            raise KeyboardInterrupt
    assert final.read_bytes() == b"old complete file" and list(tmp_path.iterdir()) == [final]
