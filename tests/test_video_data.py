"""Training data: clip sampling at a target fps, captions, resizing, latent cache, clear errors."""
import pytest
import torch

from _video_tiny import load_tiny, tiny_model_dir, write_square_video
from motion4d.video.data import build_latent_cache, clip_indices, find_media, load_clip, resize_frames


def test_clip_indices_follow_target_fps():
    g = torch.Generator().manual_seed(0)
    idx, stride = clip_indices(100, native_fps=24, fps=8, num_frames=16, generator=g)
    assert stride == 3 and len(idx) == 16 and all(b - a == 3 for a, b in zip(idx, idx[1:])) and idx[-1] < 100
    starts = {clip_indices(100, 24, 8, 16, g)[0][0] for _ in range(20)}
    assert len(starts) > 5  # random start positions
    idx, stride = clip_indices(20, native_fps=24, fps=8, num_frames=16)  # too short for stride 3: stride 1
    assert stride == 1 and idx == list(range(idx[0], idx[0] + 16))
    with pytest.raises(ValueError, match="the video has 10 frames, fewer than num_frames=16"):
        clip_indices(10, 24, 8, 16)


def test_resize_covers_and_crops():
    frames = torch.zeros(2, 40, 80, 3, dtype=torch.uint8).numpy()
    frames[:, :, 20:60] = 255  # a bright centre band
    out = resize_frames(frames, 32, 32)
    assert out.shape == (2, 32, 32, 3) and out.dtype == torch.float32
    assert out[:, :, 8:24].min() > 0.95  # centre crop kept the band, no squashing


def test_media_captions_and_errors(tmp_path):
    write_square_video(tmp_path / "a.mp4")
    (tmp_path / "a.txt").write_text("a square moves right\n")
    write_square_video(tmp_path / "b.mp4")
    from PIL import Image

    Image.new("RGB", (20, 20), (255, 0, 0)).save(tmp_path / "c.png")
    items = find_media([str(tmp_path)], caption="default caption")
    assert [(i.path.name, i.caption, i.kind) for i in items] == [
        ("a.mp4", "a square moves right", "video"), ("b.mp4", "default caption", "video"),
        ("c.png", "default caption", "image")]
    with pytest.raises(FileNotFoundError, match="missing.mp4' does not exist"):
        find_media([str(tmp_path / "missing.mp4")], "x")
    with pytest.raises(ValueError, match="no caption for .*b.mp4"):
        find_media([str(tmp_path / "b.mp4")])
    (tmp_path / "notes.md").write_text("x")
    with pytest.raises(ValueError, match="neither a video"):
        find_media([str(tmp_path / "notes.md")], "x")
    frames, info = load_clip(items[0], num_frames=4, fps=4, width=32, height=32)
    assert frames.shape == (4, 32, 32, 3) and info["stride"] == 2
    img, _ = load_clip(items[2], num_frames=4, fps=4, width=16, height=16)
    assert img.shape == (1, 16, 16, 3) and img[..., 0].min() > 0.95


def test_latent_cache_is_reused_and_keyed(tmp_path_factory, tmp_path):
    bb = load_tiny(tiny_model_dir(tmp_path_factory))
    v = write_square_video(tmp_path / "a.mp4")
    items = find_media([str(v)], "lower")
    kw = dict(num_frames=4, fps=8, width=32, height=32, clips_per_video=2, show_progress=False)
    files = build_latent_cache(bb, items, tmp_path / "cache", **kw)
    assert len(files) == 2
    stamp = [f.stat().st_mtime_ns for f in files]
    assert build_latent_cache(bb, items, tmp_path / "cache", **kw) == files
    assert [f.stat().st_mtime_ns for f in files] == stamp  # reused, not re-encoded
    from motion4d.video.data import load_cached_clip

    clip = load_cached_clip(files[0])
    assert clip.latents.shape == (4, 4, 16, 16) and clip.caption == "lower" and clip.text.shape[0] == 77
    build_latent_cache(bb, items, tmp_path / "cache", **{**kw, "fps": 4})  # other settings: re-encoded
    assert [f.stat().st_mtime_ns for f in files] != stamp
