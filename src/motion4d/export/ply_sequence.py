"""Per-frame Gaussians as a PLY sequence in the standard 3DGS layout (``000.ply``, ``001.ply`` ...).

The layout is the one 3DGS splat viewers read (see :mod:`motion4d.gaussians.ply`); files load
back into motion4d with :func:`motion4d.gaussians.ply.load_ply`.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from motion4d.export._common import frame_name, remove_stale_frames, resolve_times
from motion4d.utils.progress import progress

__all__ = ["export_ply_sequence"]


def export_ply_sequence(scene, out_dir: str | os.PathLike, num_frames: int | None = None) -> list[Path]:
    """Write ``scene.gaussians_at(t)`` for every frame time to ``out_dir/000.ply`` ...

    Args:
        scene: any :class:`~motion4d.scene4d.Scene4D`.
        out_dir: folder (created if needed). Numbered ``.ply`` files beyond the new frame count,
            left by an earlier and longer export into the same folder, are removed.
        num_frames: frames to write, at ``t = f / (F - 1)``; default ``scene.num_frames``.
    Returns:
        The written paths, in frame order.
    """
    from motion4d.gaussians.ply import save_ply

    times = resolve_times(scene, num_frames)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with torch.no_grad():
        for f, t in enumerate(progress(times, desc="PLY sequence")):
            path = out / frame_name(f, len(times), ".ply")
            paths.append(save_ply(scene.gaussians_at(t).detach(), path))  # atomic: temp file, then rename
    remove_stale_frames(out, len(times), ".ply")
    return paths
