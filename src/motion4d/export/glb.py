"""Animated mesh as glTF 2.0 binary (``.glb``): one topology, one morph target per frame.

Layout of the file :func:`write_morph_glb` writes (checked against the glTF 2.0 rules: every
buffer view 4-byte aligned, vertex data with ``target=ARRAY_BUFFER``, indices with
``ELEMENT_ARRAY_BUFFER``, ``min``/``max`` on every ``POSITION`` accessor and on the animation's
time accessor):

* one node with one mesh with one triangle primitive: ``POSITION`` (frame 0), ``NORMAL``,
  ``COLOR_0`` (float RGBA, *linear* as glTF requires: the sRGB vertex colours are linearised),
  uint32 indices and a matte material (metallic 0, roughness 1, double-sided);
* ``F`` morph targets: target ``f`` holds ``positions[f] - positions[0]`` (and the normal change),
  named ``frame_000`` ... in ``mesh.extras.targetNames`` (Blender names its shape keys after them);
* one animation, ``play``: a ``weights`` channel whose keyframe ``f`` at ``f / fps`` seconds sets
  weight 1 on target ``f`` and 0 on the others. With ``LINEAR`` interpolation the vertices glide
  between frames; ``STEP`` holds each frame.

Blender (File > Import > glTF 2.0) imports the targets as shape keys with an action that plays
them; three.js's ``GLTFLoader`` gives ``gltf.animations[0]`` for an ``AnimationMixer``. Viewers that
ignore animation show frame 0.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from motion4d.export._common import resolve_times
from motion4d.export.animate import animate_vertices, mesh_source_gaussians
from motion4d.export.mesh import extract_mesh
from motion4d.utils.io import atomic_path

__all__ = ["export_animated_glb", "write_morph_glb", "srgb_to_linear", "INTERPOLATIONS"]

INTERPOLATIONS = ("LINEAR", "STEP")

_FLOAT, _UINT32 = 5126, 5125
_ARRAY_BUFFER, _ELEMENT_ARRAY_BUFFER = 34962, 34963


def srgb_to_linear(c: np.ndarray) -> np.ndarray:
    """The sRGB transfer function's inverse, for colours in [0, 1]."""
    c = np.clip(c, 0.0, 1.0)
    return np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)


def export_animated_glb(scene, path: str | os.PathLike, num_frames: int | None = None, *, fps: float | None = None,
                        resolution: int = 128, threshold: float = 0.5, k: int = 8, interpolation: str = "LINEAR",
                        morph_normals: bool = True, **mesh_options) -> Path:
    """Extract one mesh and animate it with the scene's motion; write it as ``.glb``.

    The mesh comes from :func:`extract_mesh` on the scene's canonical Gaussians
    (``scene.canonical_gaussians()`` or ``scene.canonical`` when the scene has ``deform_points``,
    else ``scene.gaussians_at(0)``), so every frame shares its topology and vertex colours. Vertices
    move with ``scene.deform_points`` when the scene has it (clamped to the Gaussians' support: no
    vertex travels farther than its ``k`` nearest Gaussians), else with their ``k`` nearest Gaussians
    (:mod:`motion4d.export.animate`). This replaces DreamGaussian4D's per-frame meshes, whose
    topology changes every frame (its issue #11).

    Args:
        scene: any :class:`~motion4d.scene4d.Scene4D`.
        path: output ``.glb``.
        num_frames: frames (morph targets), at ``t = f / (F - 1)``; default ``scene.num_frames``.
        fps: playback rate; default ``scene.fps`` when the scene has it, else 12.
        resolution, threshold, mesh_options: passed to :func:`extract_mesh`.
        k: nearest Gaussians per vertex (when the scene has no ``deform_points``).
        interpolation: ``"LINEAR"`` (glide between frames) or ``"STEP"`` (hold each frame).
        morph_normals: also store per-frame normal changes (correct shading as parts rotate).
    Returns:
        ``Path(path)``.
    """
    path = Path(path)
    if path.suffix.lower() != ".glb":
        raise ValueError(f"export_animated_glb writes binary glTF; the path must end in .glb, got {str(path)!r}")
    times = resolve_times(scene, num_frames)
    fps = _resolve_fps(scene, fps)
    _check_interpolation(interpolation)
    with torch.no_grad():
        source = mesh_source_gaussians(scene)
        mesh = extract_mesh(source, resolution=resolution, threshold=threshold, **mesh_options)
        verts = torch.as_tensor(np.asarray(mesh.vertices), dtype=torch.float32)
        positions = animate_vertices(scene, verts, times, source, k=k).cpu().numpy()
    colors = np.asarray(mesh.visual.vertex_colors)[:, :4].astype(np.float32) / 255.0
    return write_morph_glb(path, positions, np.asarray(mesh.faces), colors, fps=fps, interpolation=interpolation,
                           morph_normals=morph_normals)


def _resolve_fps(scene, fps) -> float:
    if fps is None:
        fps = getattr(scene, "fps", None) or 12.0
    if isinstance(fps, bool) or not isinstance(fps, (int, float)) or not np.isfinite(fps) or fps <= 0:
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    return float(fps)


def _check_interpolation(interpolation: str) -> None:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation={interpolation!r} is not one of {', '.join(INTERPOLATIONS)}")


def _vertex_normals(positions: np.ndarray, faces: np.ndarray) -> np.ndarray:
    """Area-weighted unit vertex normals ``[V, 3]`` (zero-area vertices get +Y)."""
    tri = positions[faces]
    fn = np.cross(tri[:, 1] - tri[:, 0], tri[:, 2] - tri[:, 0])
    V, flat = len(positions), faces.reshape(-1)
    vn = np.stack([np.bincount(flat, weights=np.repeat(fn[:, c], 3), minlength=V) for c in range(3)], 1)
    norm = np.linalg.norm(vn, axis=1, keepdims=True)
    return np.where(norm > 1e-20, vn / np.maximum(norm, 1e-20), np.array([0.0, 1.0, 0.0]))


def write_morph_glb(path: str | os.PathLike, positions: np.ndarray, faces: np.ndarray,
                    colors: np.ndarray | None = None, *, fps: float = 12.0, interpolation: str = "LINEAR",
                    morph_normals: bool = True, name: str = "motion4d") -> Path:
    """Write frames of one mesh as a morph-target animation (see the module docstring).

    Args:
        path: output ``.glb`` (written atomically).
        positions: ``[F, V, 3]`` vertex positions per frame (world units, +Y up).
        faces: ``[M, 3]`` vertex indices, counter-clockwise seen from outside.
        colors: ``[V, 3]`` or ``[V, 4]`` sRGB colours in [0, 1] (stored linearised), or ``None``.
        fps: keyframe ``f`` plays at ``f / fps`` seconds.
        interpolation: ``"LINEAR"`` or ``"STEP"``.
        morph_normals: store per-frame normal deltas in the targets.
        name: mesh / node / animation name prefix.
    Returns:
        ``Path(path)``.
    """
    import pygltflib as gl

    positions = np.asarray(positions, dtype=np.float32)
    faces = np.asarray(faces)
    if positions.ndim != 3 or positions.shape[-1] != 3 or positions.shape[0] < 1 or positions.shape[1] < 3:
        raise ValueError(f"positions must be [F, V, 3] with F >= 1 and V >= 3, got {tuple(positions.shape)}")
    if not np.isfinite(positions).all():
        raise ValueError("positions contain NaN or infinite values")
    F, V = positions.shape[:2]
    if faces.ndim != 2 or faces.shape[1] != 3 or len(faces) == 0:
        raise ValueError(f"faces must be [M, 3] with M >= 1, got {tuple(faces.shape)}")
    if faces.min() < 0 or faces.max() >= V:
        raise ValueError(f"faces index vertices 0..{V - 1} only, got indices {faces.min()}..{faces.max()}")
    if colors is not None:
        colors = np.asarray(colors, dtype=np.float32)
        if colors.shape not in ((V, 3), (V, 4)):
            raise ValueError(f"colors must be [V, 3] or [V, 4] with V={V}, got {tuple(colors.shape)}")
    if not (np.isfinite(fps) and fps > 0):
        raise ValueError(f"fps must be a positive number, got {fps!r}")
    _check_interpolation(interpolation)

    blob = bytearray()
    views, accessors = [], []

    def add(data: np.ndarray, component: int, kind: str, target: int | None = None, minmax: bool = False,
            ) -> int:
        data = np.ascontiguousarray(data)
        blob.extend(b"\x00" * (-len(blob) % 4))  # every view starts 4-byte aligned
        views.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=data.nbytes, target=target))
        blob.extend(data.tobytes())
        count = data.shape[0]
        acc = gl.Accessor(bufferView=len(views) - 1, byteOffset=0, componentType=component, count=count, type=kind)
        if minmax:
            flat = data.reshape(count, -1)
            acc.min = [float(x) for x in flat.min(0)]
            acc.max = [float(x) for x in flat.max(0)]
        accessors.append(acc)
        return len(accessors) - 1

    base = positions[0]
    indices = add(faces.astype(np.uint32).reshape(-1), _UINT32, gl.SCALAR, _ELEMENT_ARRAY_BUFFER, minmax=True)
    attrs = gl.Attributes(POSITION=add(base, _FLOAT, gl.VEC3, _ARRAY_BUFFER, minmax=True))
    base_normals = _vertex_normals(base, faces).astype(np.float32)
    attrs.NORMAL = add(base_normals, _FLOAT, gl.VEC3, _ARRAY_BUFFER)
    if colors is not None:
        rgba = np.ones((V, 4), dtype=np.float32)
        rgba[:, :3] = srgb_to_linear(colors[:, :3])
        if colors.shape[1] == 4:
            rgba[:, 3] = np.clip(colors[:, 3], 0, 1)
        attrs.COLOR_0 = add(rgba, _FLOAT, gl.VEC4, _ARRAY_BUFFER)
    targets = []
    for f in range(F):
        target = gl.Attributes(POSITION=add(positions[f] - base, _FLOAT, gl.VEC3, _ARRAY_BUFFER, minmax=True))
        if morph_normals:
            target.NORMAL = add(_vertex_normals(positions[f], faces).astype(np.float32) - base_normals,
                                _FLOAT, gl.VEC3, _ARRAY_BUFFER)
        targets.append(target)
    key_times = add(np.arange(F, dtype=np.float32) / np.float32(fps), _FLOAT, gl.SCALAR, minmax=True)
    key_weights = add(np.eye(F, dtype=np.float32).reshape(-1), _FLOAT, gl.SCALAR)

    names = [f"frame_{f:03d}" for f in range(F)]
    material = gl.Material(name=f"{name}_vertex_colour", doubleSided=True,
                           pbrMetallicRoughness=gl.PbrMetallicRoughness(baseColorFactor=[1.0, 1.0, 1.0, 1.0],
                                                                        metallicFactor=0.0, roughnessFactor=1.0))
    primitive = gl.Primitive(attributes=attrs, indices=indices, mode=gl.TRIANGLES, material=0, targets=targets)
    gltf = gl.GLTF2(
        asset=gl.Asset(version="2.0", generator="motion4d"),
        scene=0,
        scenes=[gl.Scene(nodes=[0])],
        nodes=[gl.Node(mesh=0, name=name)],
        meshes=[gl.Mesh(primitives=[primitive], weights=[0.0] * F, name=name, extras={"targetNames": names})],
        materials=[material],
        animations=[gl.Animation(name="play",
                                 samplers=[gl.AnimationSampler(input=key_times, output=key_weights,
                                                               interpolation=interpolation)],
                                 channels=[gl.AnimationChannel(sampler=0, target=gl.AnimationChannelTarget(
                                     node=0, path="weights"))])],
        accessors=accessors,
        bufferViews=views,
        buffers=[gl.Buffer(byteLength=len(blob))],
    )
    gltf.set_binary_blob(bytes(blob))
    path = Path(path)
    with atomic_path(path) as tmp:
        gltf.save_binary(str(tmp))
    return path
