"""motion4d.utils.media: the one converter, writers and reader; alpha survives every format that carries it."""
import numpy as np
import pytest
import torch

from motion4d.utils.media import (read_video, to_uint8, write_gif, write_mp4, write_png, write_png_frames,
                                  write_video)

F, H, W = 4, 16, 24


def _rgba() -> np.ndarray:
    """uint8 [F, H, W, 4]: a colour that changes per frame, alpha a horizontal ramp 0..255 (shifted per frame)."""
    x = np.zeros((F, H, W, 4), np.uint8)
    for f in range(F):
        x[f, ..., 0] = 40 + 50 * f
        x[f, ..., 1] = 200 - 30 * f
        x[f, ..., 2] = 90
        x[f, ..., 3] = np.roll(np.linspace(0, 255, W).round().astype(np.uint8), 3 * f)[None]
    return x


def _ffmpeg_write(path, frames, codec, pix_fmt, extra=()):
    import imageio_ffmpeg

    w = imageio_ffmpeg.write_frames(str(path), (W, H), pix_fmt_in="rgba", pix_fmt_out=pix_fmt, codec=codec, fps=8,
                                    macro_block_size=1, ffmpeg_log_level="error", output_params=list(extra))
    w.send(None)
    for f in frames:
        w.send(np.ascontiguousarray(f))
    w.close()
    return path


def test_to_uint8_rounds_half_up_and_accepts_torch_lists_grey():
    x = np.array([0.0, 0.5 / 255, 1.5 / 255, 0.999, 1.2, -3.0], np.float64).reshape(1, 1, 6, 1).repeat(3, -1)
    assert to_uint8(x)[0, 0, :, 0].tolist() == [0, 1, 2, 255, 255, 0]
    assert to_uint8(torch.full((2, 3, 5), 0.25)).shape == (2, 3, 5, 3)
    assert to_uint8([np.zeros((3, 5, 3), np.uint8)] * 2).shape == (2, 3, 5, 3)
    with pytest.raises(ValueError, match="composite RGBA"):
        to_uint8(np.zeros((1, 2, 2, 4)))
    assert to_uint8(np.zeros((1, 2, 2, 4)), alpha=True).shape == (1, 2, 2, 4)


@pytest.mark.parametrize("suffix, codec, pix_fmt, extra, tol", [
    (".mov", "png", "rgba", (), 0),                                         # lossless RGBA
    (".mov", "qtrle", "argb", (), 0),                                       # QuickTime Animation
    (".webm", "libvpx-vp9", "yuva420p", ("-auto-alt-ref", "0", "-crf", "4", "-b:v", "0"), 6),
])
def test_reader_keeps_alpha_of_video_files(tmp_path, suffix, codec, pix_fmt, extra, tol):
    src = _rgba()
    path = _ffmpeg_write(tmp_path / f"a{suffix}", src, codec, pix_fmt, extra)
    video = read_video(path, as_uint8=True)
    assert video.has_alpha and video.frames.shape == (F, H, W, 4) and video.fps == pytest.approx(8)
    err = np.abs(video.frames[..., 3].astype(int) - src[..., 3]).max()
    assert err <= tol, f"alpha differs by {err}"
    opaque = src[..., 3] == 255
    rgb_err = np.abs(video.frames[..., :3].astype(int) - src[..., :3])[opaque].max()
    assert rgb_err <= 2 * tol  # exact for the lossless codecs


def test_reader_float_matches_uint8_and_mp4_has_no_alpha(tmp_path):
    rgb = _rgba()[..., :3]
    path = write_mp4(rgb, tmp_path / "c.mp4", fps=10)
    as_float, as_int = read_video(path), read_video(path, as_uint8=True)
    assert not as_float.has_alpha and as_float.frames.dtype == np.float32 and as_float.fps == pytest.approx(10)
    np.testing.assert_array_equal(as_float.frames, as_int.frames.astype(np.float32) / 255)
    assert np.abs(as_int.frames.astype(int) - rgb).mean() < 6  # lossy, but the colours survive


def test_gif_transparency_and_png_frames_keep_alpha(tmp_path):
    from PIL import Image

    src = _rgba()
    binary = src.copy()
    binary[..., 3] = np.where(src[..., 3] >= 128, 255, 0)
    images = []
    for f in binary:  # palette GIF, index 0 transparent
        im = Image.fromarray(f[..., :3]).quantize(colors=16)
        pal = np.asarray(im).copy()
        pal[f[..., 3] == 0] = 15
        im = Image.fromarray(pal.astype(np.uint8), mode="P")
        im.putpalette(Image.fromarray(f[..., :3]).quantize(colors=16).getpalette())
        images.append(im)
    images[0].save(tmp_path / "t.gif", save_all=True, append_images=images[1:], transparency=15, duration=125,
                   loop=0, disposal=2)
    gif = read_video(tmp_path / "t.gif", as_uint8=True)
    assert gif.has_alpha and gif.frames.shape == (F, H, W, 4)
    np.testing.assert_array_equal(gif.frames[..., 3], binary[..., 3])
    assert gif.fps == pytest.approx(1000 / 120, rel=0.05)  # GIF delays are centiseconds

    folder = write_png_frames(src, tmp_path / "frames")
    assert sorted(p.name for p in folder.iterdir()) == ["000.png", "001.png", "002.png", "003.png"]
    back = read_video(folder, as_uint8=True)
    assert back.fps is None
    np.testing.assert_array_equal(back.frames, src)


def test_folder_mixed_alpha_natural_sort_and_single_image(tmp_path):
    src = _rgba()
    for i, name in enumerate(["2.png", "10.png", "1.png"]):
        write_png(src[i] if i else src[i][..., :3], tmp_path / name)
    back = read_video(tmp_path, as_uint8=True)
    assert [int(v) for v in back.frames[:, 0, 0, 0]] == [src[2, 0, 0, 0], src[0, 0, 0, 0], src[1, 0, 0, 0]]
    assert back.frames.shape[-1] == 4 and (back.frames[1, ..., 3] == 255).all()  # RGB frame: opaque
    single = read_video(tmp_path / "1.png")
    assert single.frames.shape == (1, H, W, 4)


def test_mp4_bitexact_is_byte_identical_and_gif_roundtrip(tmp_path):
    rgb = _rgba()[..., :3]
    a = write_mp4(rgb, tmp_path / "a.mp4", fps=8, bitexact=True).read_bytes()
    b = write_mp4(rgb, tmp_path / "b.mp4", fps=8, bitexact=True).read_bytes()
    assert a == b
    gif = write_video(rgb, tmp_path / "c.gif", fps=8)
    back = read_video(gif, as_uint8=True)
    assert back.frames.shape == (F, H, W, 3)  # an opaque GIF reads as RGB
    assert np.abs(back.frames.astype(int) - rgb).max() <= 8  # few colours: palette keeps them


def test_errors_name_the_problem(tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        read_video(tmp_path / "missing.mp4")
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(ValueError, match="neither a folder of frames nor a video"):
        read_video(tmp_path / "x.txt")
    (tmp_path / "broken.webm").write_bytes(b"not a video")
    with pytest.raises(ValueError, match=r"could not read video .*broken\.webm"):
        read_video(tmp_path / "broken.webm")
    with pytest.raises(ValueError, match="fps must be a positive number"):
        write_gif(_rgba()[..., :3], tmp_path / "y.gif", fps=-1)
    with pytest.raises(ValueError, match="quality must be an integer in 0..10"):
        write_mp4(_rgba()[..., :3], tmp_path / "y.mp4", quality=11)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["broken.webm", "x.txt"]


def test_sixteen_bit_grey_png_is_scaled_to_eight_bits(tmp_path):
    from PIL import Image

    grey = np.array([[0, 257 * 128, 65535]], np.uint16)
    Image.fromarray(grey).save(tmp_path / "g.png")
    back = read_video(tmp_path / "g.png", as_uint8=True).frames
    assert back.shape == (1, 1, 3, 3) and back[0, 0, :, 0].tolist() == [0, 128, 255]
