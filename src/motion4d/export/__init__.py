"""Exports of a 4D result (anything speaking the :class:`~motion4d.scene4d.Scene4D` protocol).

Every function writes atomically (a reader never sees a half-written file under its final name)
and returns the path(s) it wrote.

* :func:`write_video`: frames to ``.mp4`` (H.264, yuv420p) or ``.gif`` (re-exported from
  :mod:`motion4d.utils.media`, the one media I/O module).
* :func:`export_ply_sequence`: per-frame Gaussians in the standard 3DGS PLY layout (``000.ply`` ...).
* :func:`render_turntable`, :func:`render_comparison`: turntable and reference-vs-render videos.
* :func:`extract_mesh`: marching cubes on the Gaussians' density field, with vertex colours.
* :func:`export_obj_sequence`: per-frame OBJ meshes with vertex colours (Blender Stop-motion-OBJ).
* :func:`export_animated_glb`: one mesh topology animated by morph targets (glTF 2.0 binary).
* :func:`prune_floaters`: drop faint far-off Gaussians before exporting (:class:`PrunedScene`).
"""
from motion4d.export.glb import export_animated_glb, write_morph_glb
from motion4d.export.density import DensityGrid, density_grid
from motion4d.export.mesh import extract_mesh
from motion4d.export.obj_sequence import export_obj_sequence, write_obj
from motion4d.export.ply_sequence import export_ply_sequence
from motion4d.export.prune import PrunedScene, floater_mask, prune_floaters
from motion4d.export.turntable import render_comparison, render_turntable
from motion4d.utils.media import WRITE_FORMATS as VIDEO_FORMATS, write_video

__all__ = [
    "VIDEO_FORMATS",
    "DensityGrid",
    "PrunedScene",
    "floater_mask",
    "prune_floaters",
    "density_grid",
    "export_animated_glb",
    "export_obj_sequence",
    "export_ply_sequence",
    "extract_mesh",
    "render_comparison",
    "render_turntable",
    "write_morph_glb",
    "write_obj",
    "write_video",
]
