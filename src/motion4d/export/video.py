"""Write frames to a video file: ``.mp4`` (H.264 via imageio-ffmpeg) or ``.gif`` (Pillow)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from motion4d.utils.io import atomic_path

__all__ = ["VIDEO_FORMATS", "write_video", "to_uint8_frames", "check_video_path"]

VIDEO_FORMATS = (".mp4", ".gif")


def to_uint8_frames(frames) -> np.ndarray:
    """Frames as a ``uint8 [F, H, W, 3]`` array.

    Accepts a numpy array, a torch tensor or a list of per-frame arrays, either ``uint8`` (0..255)
    or floating point in [0, 1] (clipped, rounded), shaped ``[F, H, W, 3]`` or ``[F, H, W]`` (grey).
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
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [F, H, W, 3] (or [F, H, W] grey), got shape {tuple(frames.shape)}"
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
    return np.ascontiguousarray(np.round(np.clip(frames, 0.0, 1.0) * 255.0).astype(np.uint8))


def _as_numpy(x) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def check_video_path(path: str | os.PathLike) -> Path:
    """``Path(path)`` if its extension is a format :func:`write_video` writes, else a ValueError."""
    path = Path(path)
    if path.suffix.lower() not in VIDEO_FORMATS:
        raise ValueError(f"unknown video format {path.suffix or '(no extension)'!r} for {str(path)!r}; "
                         f"use one of {', '.join(VIDEO_FORMATS)}")
    return path


def write_video(frames, path: str | os.PathLike, fps: float = 12.0, *, quality: int = 8) -> Path:
    """Write ``frames`` to ``path`` atomically and return ``path``.

    Args:
        frames: ``[F, H, W, 3]`` uint8, or float in [0, 1] (numpy, torch or a list of frames).
        path: ``.mp4`` (libx264, yuv420p, plays everywhere; odd sizes are padded by one edge
            pixel row/column to even) or ``.gif`` (Pillow, looping; frame delays are rounded to
            10 ms by the format).
        fps: frames per second (> 0).
        quality: mp4 quality 0..10 (imageio-ffmpeg's scale; 10 is best).
    Returns:
        ``Path(path)``.
    """
    path = check_video_path(path)
    ext = path.suffix.lower()
    if not (isinstance(fps, (int, float)) and np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    if not 0 <= int(quality) <= 10:
        raise ValueError(f"quality must be in 0..10, got {quality!r}")
    data = to_uint8_frames(frames)
    with atomic_path(path) as tmp:
        if ext == ".mp4":
            _write_mp4(data, tmp, float(fps), int(quality))
        else:
            _write_gif(data, tmp, float(fps))
    return path


def _write_mp4(frames: np.ndarray, path: Path, fps: float, quality: int) -> None:
    import imageio.v2 as imageio

    h, w = frames.shape[1:3]
    pad = ((0, 0), (0, h % 2), (0, w % 2), (0, 0))
    if h % 2 or w % 2:  # yuv420p needs even sizes
        frames = np.pad(frames, pad, mode="edge")
    writer = imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264",
                                pixelformat="yuv420p", quality=quality, macro_block_size=1,
                                ffmpeg_log_level="error", output_params=["-movflags", "+faststart"])
    try:
        for frame in frames:
            writer.append_data(frame)
    finally:
        writer.close()


def _write_gif(frames: np.ndarray, path: Path, fps: float) -> None:
    from PIL import Image

    images = [Image.fromarray(f) for f in frames]
    duration = max(10, int(round(1000.0 / fps / 10.0)) * 10)  # GIF delays are in 1/100 s
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:], duration=duration, loop=0,
                   optimize=False, disposal=1)
