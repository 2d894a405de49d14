"""Media I/O for all of motion4d: one float->uint8 converter, one mp4 writer, one GIF writer, PNG writing and one
video reader. Every write is atomic (:mod:`motion4d.utils.io`).

Conventions: frames are ``[F, H, W, C]`` (C = 3 RGB, or 4 straight-alpha RGBA where a format keeps alpha),
uint8 0..255 or float in [0, 1]; numpy arrays, torch tensors or lists of frames are accepted. Float -> uint8 is
``floor(clip(x, 0, 1) * 255 + 0.5)`` (round half up).

Reading (:func:`read_video`): ``.mp4 .mov .webm .mkv .avi`` through imageio-ffmpeg, ``.gif`` through Pillow, a
single image, or a folder of images (natural sort: ``2.png`` before ``10.png``). The alpha channel is kept when the
file has one: RGBA/ARGB/yuva streams (``.mov`` with the png or qtrle codec, ``.webm`` VP8/VP9 with
``alpha_mode=1``, decoded with libvpx because ffmpeg's native VP9 decoder drops alpha), GIF transparency, and
RGBA/LA PNG frames. Files without alpha give 3 channels.
"""
from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from motion4d.utils.io import atomic_dir, atomic_path

__all__ = ["VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS", "WRITE_FORMATS", "Video", "to_uint8", "check_video_path",
           "write_video", "write_mp4", "write_gif", "write_png", "write_png_frames", "read_video", "read_image"]

VIDEO_EXTENSIONS = (".mp4", ".mov", ".webm", ".mkv", ".avi", ".gif")
IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
WRITE_FORMATS = (".mp4", ".gif")
# deterministic libx264 output: the same frames give the same bytes (the world's reference.mp4 relies on it)
_BITEXACT = ["-threads", "1", "-fflags", "+bitexact", "-flags:v", "+bitexact", "-map_metadata", "-1"]
_ALPHA_PIX = re.compile(r"^(rgba|bgra|argb|abgr|yuva|gbrap|ya8|ya16|pal8a)")


# -- conversion ---------------------------------------------------------------------------------------------
def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def to_uint8(frames, *, alpha: bool = False) -> np.ndarray:
    """Frames as a contiguous ``uint8 [F, H, W, C]`` array.

    Accepts numpy, torch or a list of per-frame arrays, ``uint8`` or float in [0, 1] (clipped, rounded half up),
    shaped ``[F, H, W, 3]``, ``[F, H, W]`` (grey, repeated to RGB) or, with ``alpha=True``, ``[F, H, W, 4]``.
    ``ValueError`` names the bad shape, dtype or value.
    """
    if isinstance(frames, (list, tuple)):
        if len(frames) == 0:
            raise ValueError("no frames to write: got an empty list")
        frames = [_as_numpy(f) for f in frames]
        shapes = {f.shape for f in frames}
        if len(shapes) != 1:
            raise ValueError(f"all frames must have the same shape, got {sorted(shapes)}")
        frames = np.stack(frames)
    else:
        frames = _as_numpy(frames)
    if frames.ndim == 3:
        frames = np.repeat(frames[..., None], 3, axis=-1)
    channels = (3, 4) if alpha else (3,)
    if frames.ndim != 4 or frames.shape[-1] not in channels:
        want = "[F, H, W, 3] or [F, H, W, 4]" if alpha else "[F, H, W, 3] (or [F, H, W] grey)"
        raise ValueError(f"frames must be {want}, got shape {tuple(frames.shape)}"
                         + ("; composite RGBA over a background first" if frames.ndim == 4 and frames.shape[-1] == 4
                            else ""))
    if frames.shape[0] == 0:
        raise ValueError("no frames to write: got 0 frames")
    if frames.shape[1] == 0 or frames.shape[2] == 0:
        raise ValueError(f"frames must have a positive size, got {frames.shape[2]}x{frames.shape[1]}")
    if frames.dtype == np.uint8:
        return np.ascontiguousarray(frames)
    if frames.dtype == bool or not np.issubdtype(frames.dtype, np.floating):
        raise ValueError(f"frames must be uint8 (0..255) or float in [0, 1], got dtype {frames.dtype}")
    if not np.isfinite(frames).all():
        raise ValueError("frames contain NaN or infinite values")
    return np.ascontiguousarray(np.floor(np.clip(frames, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8))


# -- writing ------------------------------------------------------------------------------------------------
def check_video_path(path: str | os.PathLike) -> Path:
    """``Path(path)`` if its extension is one :func:`write_video` writes (``.mp4``, ``.gif``), else ValueError."""
    path = Path(path)
    if path.suffix.lower() not in WRITE_FORMATS:
        raise ValueError(f"unknown video format {path.suffix or '(no extension)'!r} for {str(path)!r}; "
                         f"use one of {', '.join(WRITE_FORMATS)}")
    return path


def _check_fps(fps: float) -> float:
    if isinstance(fps, bool) or not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def write_video(frames, path: str | os.PathLike, fps: float = 12.0, *, quality: int = 8) -> Path:
    """Write ``frames`` to ``path`` by its extension (:func:`write_mp4` or :func:`write_gif`); returns the path."""
    path = check_video_path(path)
    if path.suffix.lower() == ".mp4":
        return write_mp4(frames, path, fps, quality=quality)
    return write_gif(frames, path, fps)


def write_mp4(frames, path: str | os.PathLike, fps: float = 8.0, *, quality: int = 8,
              bitexact: bool = False) -> Path:
    """H.264 mp4 (libx264, yuv420p, ``+faststart``: plays everywhere), written atomically.

    Args:
        frames: ``[F, H, W, 3]`` (see :func:`to_uint8`). Odd sizes are padded by one edge row/column (yuv420p).
        fps: frames per second (> 0). quality: imageio-ffmpeg's 0..10 scale (10 best).
        bitexact: one encoder thread and no metadata, so the same frames always give the same bytes.
    """
    import imageio_ffmpeg

    fps = _check_fps(fps)
    if isinstance(quality, bool) or not isinstance(quality, int) or not 0 <= quality <= 10:
        raise ValueError(f"quality must be an integer in 0..10, got {quality!r}")
    data = to_uint8(frames)
    h, w = data.shape[1:3]
    if h % 2 or w % 2:
        data = np.pad(data, ((0, 0), (0, h % 2), (0, w % 2), (0, 0)), mode="edge")
    path = Path(path)
    with atomic_path(path) as tmp:
        writer = imageio_ffmpeg.write_frames(
            str(tmp), (data.shape[2], data.shape[1]), pix_fmt_in="rgb24", pix_fmt_out="yuv420p", fps=fps,
            quality=quality, codec="libx264", macro_block_size=1, ffmpeg_log_level="error",
            output_params=["-movflags", "+faststart"] + (_BITEXACT if bitexact else []))
        writer.send(None)
        try:
            for frame in data:
                writer.send(frame)
        finally:
            writer.close()
    return path


def write_gif(frames, path: str | os.PathLike, fps: float = 8.0) -> Path:
    """Looping GIF (Pillow), written atomically. Frame delays are rounded to 10 ms (the format's unit)."""
    from PIL import Image

    fps = _check_fps(fps)
    data = to_uint8(frames)
    images = [Image.fromarray(f) for f in data]
    duration = max(10, int(round(1000.0 / fps / 10.0)) * 10)
    path = Path(path)
    with atomic_path(path) as tmp:
        images[0].save(tmp, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                       optimize=False, disposal=1)
    return path


def write_png(image, path: str | os.PathLike) -> Path:
    """One PNG of ``image`` ``[H, W]``, ``[H, W, 3]`` or ``[H, W, 4]`` (RGBA kept), uint8 or float in [0, 1]."""
    from PIL import Image

    data = to_uint8(_as_numpy(image)[None], alpha=True)[0]
    path = Path(path)
    with atomic_path(path) as tmp:
        Image.fromarray(data, mode="RGBA" if data.shape[-1] == 4 else "RGB").save(tmp, format="PNG", optimize=False)
    return path


def write_png_frames(frames, folder: str | os.PathLike, *, digits: int = 3) -> Path:
    """PNGs ``000.png``, ``001.png``, ... of ``frames`` (RGB or RGBA) in ``folder``, replaced as a whole."""
    data = to_uint8(frames, alpha=True)
    with atomic_dir(folder) as tmp:
        for i, frame in enumerate(data):
            write_png(frame, Path(tmp) / f"{i:0{digits}d}.png")
    return Path(folder)


# -- reading ------------------------------------------------------------------------------------------------
@dataclass
class Video:
    """Decoded frames ``[F, H, W, C]`` (float32 in [0, 1], or uint8 with ``as_uint8``), C = 4 when the source
    has alpha (straight alpha) else 3; ``fps`` (None for image folders and single images)."""

    frames: np.ndarray
    fps: float | None

    @property
    def has_alpha(self) -> bool:
        return self.frames.shape[-1] == 4


def _natural_key(p: Path):
    return [int(s) if s.isdigit() else s for s in re.split(r"(\d+)", p.name)]


def _image_uint8(img) -> np.ndarray:
    """A PIL image as uint8 RGB, or RGBA when it carries alpha (RGBA, LA, palette/RGB with transparency)."""
    has_alpha = img.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in img.info
    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit grey (0..65535), 32-bit int, float in [0, 1]
        arr = np.asarray(img, dtype=np.float64)
        arr = np.clip(arr if img.mode == "F" else arr / 65535.0, 0, 1)
        return np.repeat(np.floor(arr * 255 + 0.5).astype(np.uint8)[..., None], 3, -1)
    return np.asarray(img.convert("RGBA" if has_alpha else "RGB"))


def read_image(path: str | os.PathLike) -> np.ndarray:
    """An image file as uint8 ``[H, W, 3]`` or ``[H, W, 4]`` (when it has alpha)."""
    from PIL import Image

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"image {str(path)!r} does not exist")
    try:
        with Image.open(path) as im:
            return _image_uint8(im)
    except Exception as e:  # noqa: BLE001 - Pillow raises many types
        raise ValueError(f"could not read image {str(path)!r}: {e}") from None


def _stack_channels(frames: list[np.ndarray], where: str) -> np.ndarray:
    shapes = {fr.shape[:2] for fr in frames}
    if len(shapes) != 1:
        raise ValueError(f"frames in {where!r} have different sizes: {sorted(shapes)}")
    chans = max(fr.shape[2] for fr in frames)
    return np.stack([fr if fr.shape[2] == chans else np.concatenate([fr, np.full(fr.shape[:2] + (1,), 255, np.uint8)],
                                                                    -1) for fr in frames])


def _read_folder(path: Path) -> np.ndarray:
    files = sorted((p for p in path.iterdir() if p.suffix.lower() in IMAGE_EXTENSIONS), key=_natural_key)
    if not files:
        raise ValueError(f"folder {str(path)!r} holds no frames ({', '.join(IMAGE_EXTENSIONS)})")
    return _stack_channels([read_image(f) for f in files], str(path))


def _read_gif(path: Path) -> tuple[np.ndarray, float | None]:
    from PIL import Image, ImageSequence

    with Image.open(path) as im:
        frames = [np.asarray(f.convert("RGBA")) for f in ImageSequence.Iterator(im)]
        duration = im.info.get("duration")
    arr = np.stack(frames)
    if (arr[..., 3] == 255).all():
        arr = np.ascontiguousarray(arr[..., :3])
    return arr, (1000.0 / float(duration) if duration else None)


def _probe(path: Path) -> tuple[str, str, bool]:
    """(codec, pix_fmt, has_alpha) of the first video stream, from ``ffmpeg -i`` (no ffprobe in imageio-ffmpeg)."""
    import imageio_ffmpeg

    text = subprocess.run([imageio_ffmpeg.get_ffmpeg_exe(), "-hide_banner", "-i", str(path)], capture_output=True,
                          text=True, errors="replace").stderr
    m = re.search(r"Stream #\S+.*?: Video: (\w+)[^,]*, (\w+)", text)
    if m is None:
        return "", "", False
    codec, pix = m.group(1), m.group(2)
    stream = text[m.start():]
    alpha = bool(_ALPHA_PIX.match(pix)) or re.search(r"alpha_mode\s*:\s*1", stream) is not None
    return codec, pix, alpha


def _read_ffmpeg(path: Path) -> tuple[np.ndarray, float | None]:
    import imageio_ffmpeg

    codec, _, alpha = _probe(path)
    input_params = None
    if alpha and codec in ("vp8", "vp9"):  # ffmpeg's native VP8/VP9 decoders drop the alpha plane
        input_params = ["-c:v", "libvpx" if codec == "vp8" else "libvpx-vp9"]
    chans = 4 if alpha else 3
    gen = imageio_ffmpeg.read_frames(str(path), pix_fmt="rgba" if alpha else "rgb24", bpp=chans,
                                     input_params=input_params)
    meta = next(gen)
    w, h = meta["size"]
    frames = [np.frombuffer(buf, np.uint8).reshape(h, w, chans) for buf in gen]
    if not frames:
        raise ValueError("no frames decoded")
    return np.stack(frames), (float(meta["fps"]) if meta.get("fps") else None)


def read_video(path: str | os.PathLike, *, as_uint8: bool = False) -> Video:
    """Decode a video file, a GIF, a single image or a folder of images (see the module docstring).

    Returns a :class:`Video` with frames ``[F, H, W, 3|4]`` float32 in [0, 1] (uint8 with ``as_uint8``) and
    the file's fps (None when the source has none). ``FileNotFoundError`` for a missing path; ``ValueError`` for
    an unknown extension or an undecodable file, naming the file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input {str(path)!r} does not exist")
    fps = None
    if path.is_dir():
        arr = _read_folder(path)
    else:
        suffix = path.suffix.lower()
        if suffix not in VIDEO_EXTENSIONS + IMAGE_EXTENSIONS:
            raise ValueError(f"input {str(path)!r} is neither a folder of frames nor a video "
                             f"({', '.join(VIDEO_EXTENSIONS)}) nor an image ({', '.join(IMAGE_EXTENSIONS)})")
        try:
            if suffix in IMAGE_EXTENSIONS:
                arr = read_image(path)[None]
            elif suffix == ".gif":
                arr, fps = _read_gif(path)
            else:
                arr, fps = _read_ffmpeg(path)
        except Exception as e:  # noqa: BLE001 - decoders raise many types
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ValueError(f"could not read video {str(path)!r}: {first}") from None
    return Video(arr if as_uint8 else arr.astype(np.float32) / np.float32(255.0), fps)
