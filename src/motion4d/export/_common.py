"""Small helpers shared by the exporters (frame counts, numbered file names)."""
from __future__ import annotations

import re
from pathlib import Path

from motion4d.scene4d import frame_times

__all__ = ["resolve_times", "frame_name", "remove_stale_frames"]


def resolve_times(scene, num_frames: int | None) -> list[float]:
    """Normalised times of the frames to export: ``scene.num_frames`` of them unless overridden."""
    if num_frames is None:
        num_frames = int(scene.num_frames)
    if isinstance(num_frames, bool) or int(num_frames) != num_frames or num_frames < 1:
        raise ValueError(f"num_frames must be a positive integer, got {num_frames!r}")
    return frame_times(int(num_frames))


def frame_name(index: int, count: int, ext: str) -> str:
    """``000.ext`` style name, with more digits when ``count`` needs them."""
    width = max(3, len(str(max(count - 1, 0))))
    return f"{index:0{width}d}{ext}"


def remove_stale_frames(out_dir: Path, count: int, ext: str) -> None:
    """Delete numbered frames (``NNN.ext``) at index >= ``count`` left by an earlier, longer export."""
    pattern = re.compile(r"^(\d{3,})" + re.escape(ext) + r"$")
    for p in out_dir.iterdir():
        m = pattern.match(p.name)
        if m and int(m.group(1)) >= count and p.is_file():
            p.unlink()
