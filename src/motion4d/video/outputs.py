"""Writing a generated clip: ``<name>.mp4``, ``<name>.gif``, ``frames/`` (PNGs) and ``settings.json``, each
atomically, through :mod:`motion4d.utils.media`."""
from __future__ import annotations

from pathlib import Path

from motion4d.utils.io import write_json
from motion4d.utils.media import write_gif, write_mp4, write_png_frames

__all__ = ["write_clip"]


def write_clip(frames, out_dir: str | Path, *, name: str = "video", fps: float = 8.0,
               settings: dict | None = None) -> dict[str, Path]:
    """Write ``frames`` [F, H, W, 3] (float in [0, 1] or uint8) as ``<name>.mp4``, ``<name>.gif``, ``frames/``
    and, when given, ``settings.json`` into ``out_dir``; returns those paths by kind
    (``mp4``, ``gif``, ``frames``, ``settings``)."""
    out = Path(out_dir)
    paths = {"mp4": write_mp4(frames, out / f"{name}.mp4", fps), "gif": write_gif(frames, out / f"{name}.gif", fps),
             "frames": write_png_frames(frames, out / "frames")}
    if settings is not None:
        paths["settings"] = write_json(out / "settings.json", settings)
    return paths
