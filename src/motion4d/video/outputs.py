"""Writing generated clips: mp4, gif, per-frame PNGs and a settings JSON, each file atomically."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motion4d.utils.io import atomic_dir, atomic_path, write_json

__all__ = ["to_uint8", "write_mp4", "write_gif", "write_frames", "write_clip"]


def to_uint8(frames: torch.Tensor | np.ndarray) -> np.ndarray:
    """[F, H, W, 3] float in [0, 1] (or uint8) -> uint8 numpy."""
    x = frames.detach().cpu().numpy() if isinstance(frames, torch.Tensor) else np.asarray(frames)
    if x.dtype != np.uint8:
        x = (np.clip(x, 0.0, 1.0) * 255.0 + 0.5).astype(np.uint8)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be [F, H, W, 3], got {x.shape}")
    return x


def write_mp4(frames, path: str | Path, fps: float = 8.0) -> Path:
    """H.264 mp4 (yuv420p). Odd sizes are padded by one pixel (the codec needs even sizes)."""
    x = to_uint8(frames)
    if x.shape[1] % 2 or x.shape[2] % 2:
        x = np.pad(x, ((0, 0), (0, x.shape[1] % 2), (0, x.shape[2] % 2), (0, 0)), mode="edge")
    with atomic_path(path) as tmp:
        _ffmpeg_write(tmp, x, fps)
    return Path(path)


def _ffmpeg_write(path: Path, x: np.ndarray, fps: float) -> None:
    import imageio.v2 as iio2

    writer = iio2.get_writer(str(path), format="FFMPEG", fps=fps, codec="libx264", macro_block_size=2,
                             quality=8, pixelformat="yuv420p")
    try:
        for frame in x:
            writer.append_data(frame)
    finally:
        writer.close()


def write_gif(frames, path: str | Path, fps: float = 8.0) -> Path:
    """Looping GIF."""
    import imageio.v3 as iio

    with atomic_path(path) as tmp:
        iio.imwrite(tmp, to_uint8(frames), extension=".gif", duration=1000.0 / fps, loop=0)
    return Path(path)


def write_frames(frames, folder: str | Path) -> Path:
    """PNGs ``000.png``, ``001.png``, ... in ``folder`` (replaced as a whole)."""
    import imageio.v3 as iio

    with atomic_dir(folder) as tmp:
        for i, frame in enumerate(to_uint8(frames)):
            iio.imwrite(tmp / f"{i:03d}.png", frame)
    return Path(folder)


def write_clip(frames, out_dir: str | Path, *, name: str = "video", fps: float = 8.0,
               settings: dict | None = None) -> dict[str, Path]:
    """Write ``<name>.mp4``, ``<name>.gif``, ``frames/`` and ``settings.json`` into ``out_dir``."""
    out = Path(out_dir)
    paths = {"mp4": write_mp4(frames, out / f"{name}.mp4", fps), "gif": write_gif(frames, out / f"{name}.gif", fps),
             "frames": write_frames(frames, out / "frames")}
    if settings is not None:
        paths["settings"] = write_json(out / "settings.json", settings)
    return paths
