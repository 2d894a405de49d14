"""Per-frame meshes as OBJ files with vertex colours, for Blender's Stop-motion-OBJ add-on.

Each file holds ``v x y z r g b`` lines (colours in [0, 1], the extension Blender, MeshLab and
trimesh read) and 1-based triangle ``f`` lines. Every frame is meshed on its own, so topology
changes between frames; use :func:`motion4d.export.export_animated_glb` for one fixed topology.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch

from motion4d.export._common import frame_name, remove_stale_frames, resolve_times
from motion4d.export.mesh import extract_mesh
from motion4d.utils.io import atomic_path
from motion4d.utils.progress import progress

__all__ = ["export_obj_sequence", "write_obj"]


def write_obj(mesh, path: str | os.PathLike) -> Path:
    """Atomically write a ``trimesh.Trimesh`` as OBJ with per-vertex colours (``v x y z r g b``)."""
    path = Path(path)
    verts = np.asarray(mesh.vertices, dtype=np.float64)
    faces = np.asarray(mesh.faces, dtype=np.int64)
    colors = np.asarray(mesh.visual.vertex_colors)[:, :3].astype(np.float64) / 255.0 \
        if mesh.visual.kind == "vertex" else np.ones((len(verts), 3))
    buf = io.StringIO()
    buf.write(f"# motion4d mesh: {len(verts)} vertices, {len(faces)} faces; v x y z r g b (colours in [0, 1])\n")
    np.savetxt(buf, np.concatenate([verts, colors], 1), fmt="v %.6f %.6f %.6f %.4f %.4f %.4f")
    np.savetxt(buf, faces + 1, fmt="f %d %d %d")
    with atomic_path(path) as tmp:
        tmp.write_text(buf.getvalue())
    return path


def export_obj_sequence(scene, out_dir: str | os.PathLike, num_frames: int | None = None, *, resolution: int = 128,
                        threshold: float = 0.5, **mesh_options) -> list[Path]:
    """Mesh every frame with :func:`extract_mesh` and write ``out_dir/000.obj`` ...

    Args:
        scene: any :class:`~motion4d.scene4d.Scene4D`.
        out_dir: folder (created if needed); numbered ``.obj`` files beyond the new frame count,
            left by an earlier and longer export, are removed.
        num_frames: frames, at ``t = f / (F - 1)``; default ``scene.num_frames``.
        resolution, threshold, mesh_options: passed to :func:`extract_mesh`.
    Returns:
        The written paths, in frame order. In Blender: *File > Import > Mesh Sequence* (the
        Stop-motion-OBJ add-on) on ``out_dir``, file name ``*.obj``.
    """
    times = resolve_times(scene, num_frames)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths = []
    with torch.no_grad():
        for f, t in enumerate(progress(times, desc="OBJ sequence")):
            mesh = extract_mesh(scene.gaussians_at(t), resolution=resolution, threshold=threshold, **mesh_options)
            paths.append(write_obj(mesh, out / frame_name(f, len(times), ".obj")))
    remove_stale_frames(out, len(times), ".obj")
    return paths
