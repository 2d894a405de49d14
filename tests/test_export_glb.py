"""Animated GLB: one topology, one morph target per frame, read back with pygltflib and trimesh."""
import numpy as np
import pytest
import torch
from _export_scenes import BlobScene, CanonicalBlobScene, DeformBlobScene, ball_interior_density

from motion4d.export import export_animated_glb, extract_mesh, write_morph_glb
from motion4d.export.animate import animate_vertices
from motion4d.export.glb import srgb_to_linear
from motion4d.scene4d import frame_times

THR = ball_interior_density() / 2
RES = 24


def _accessor(gltf, index):
    """Accessor ``index`` as a numpy array ``[count, components]``, honouring the glTF layout rules."""
    acc = gltf.accessors[index]
    view = gltf.bufferViews[acc.bufferView]
    assert view.byteOffset % 4 == 0 and (acc.byteOffset or 0) % 4 == 0  # glTF alignment
    assert view.byteStride is None  # tightly packed, one accessor per view
    comps = {"SCALAR": 1, "VEC3": 3, "VEC4": 4}[acc.type]
    dtype = {5126: np.float32, 5125: np.uint32}[acc.componentType]
    start = view.byteOffset + (acc.byteOffset or 0)
    blob = gltf.binary_blob()
    assert start + acc.count * comps * np.dtype(dtype).itemsize <= view.byteOffset + view.byteLength <= len(blob)
    return np.frombuffer(blob, dtype=dtype, count=acc.count * comps, offset=start).reshape(acc.count, comps)


def _load(path):
    import pygltflib

    gltf = pygltflib.GLTF2().load_binary(str(path))
    assert gltf.asset.version == "2.0" and len(gltf.buffers) == 1
    assert gltf.buffers[0].byteLength == len(gltf.binary_blob())
    return gltf


def _check_glb(path, positions_expected, num_frames, fps):
    gltf = _load(path)
    prim = gltf.meshes[0].primitives[0]
    base = _accessor(gltf, prim.attributes.POSITION)
    V = positions_expected.shape[1]
    assert base.shape == (V, 3)
    # POSITION accessors carry exact min/max (required by glTF)
    pos_acc = gltf.accessors[prim.attributes.POSITION]
    np.testing.assert_allclose(pos_acc.min, base.min(0))
    np.testing.assert_allclose(pos_acc.max, base.max(0))
    assert len(prim.targets) == num_frames
    assert gltf.meshes[0].extras["targetNames"] == [f"frame_{f:03d}" for f in range(num_frames)]
    # applying target f with weight 1 reproduces frame f
    for f, target in enumerate(prim.targets):  # pygltflib reads targets back as dicts
        delta = _accessor(gltf, target["POSITION"])
        acc = gltf.accessors[target["POSITION"]]
        np.testing.assert_allclose(acc.min, delta.min(0), atol=1e-7)
        np.testing.assert_allclose(base + delta, positions_expected[f], atol=1e-5)
        assert _accessor(gltf, target["NORMAL"]).shape == (V, 3)
    # the animation: F keyframes at f / fps, one-hot weights on target f
    (anim,) = gltf.animations
    (sampler,) = anim.samplers
    assert anim.channels[0].target.path == "weights" and anim.channels[0].target.node == 0
    times = _accessor(gltf, sampler.input)[:, 0]
    assert gltf.accessors[sampler.input].count == num_frames
    np.testing.assert_allclose(times, np.arange(num_frames) / fps, rtol=1e-6)
    assert gltf.accessors[sampler.input].min == [0.0]
    weights = _accessor(gltf, sampler.output).reshape(num_frames, num_frames)
    np.testing.assert_array_equal(weights, np.eye(num_frames))
    faces = _accessor(gltf, prim.indices).reshape(-1, 3)
    return gltf, base, faces


def test_knn_glb_round_trip(tmp_path):
    scene = BlobScene(num_frames=5, fps=8.0)
    path = export_animated_glb(scene, tmp_path / "anim.glb", resolution=RES, threshold=THR)
    assert path == tmp_path / "anim.glb" and [p.name for p in tmp_path.iterdir()] == ["anim.glb"]
    mesh = extract_mesh(scene.gaussians_at(0.0), resolution=RES, threshold=THR)
    verts = torch.as_tensor(mesh.vertices, dtype=torch.float32)
    expected = animate_vertices(scene, verts, frame_times(5)).numpy()
    gltf, base, faces = _check_glb(path, expected, 5, 8.0)
    np.testing.assert_array_equal(faces, mesh.faces)
    # vertices follow the scene's motion: the +x shift is exact (every Gaussian moves the same),
    # the y squash is linear, so inverse-distance weights of nearby Gaussians nearly reproduce it
    for f, t in enumerate(frame_times(5)):
        truth = scene.motion(verts, t).numpy()
        assert np.abs(expected[f][:, 0] - truth[:, 0]).max() < 1e-5
        assert np.abs(expected[f] - truth).max() < 0.03
    # colours: linearised sRGB vertex colours, as glTF wants
    colors = _accessor(gltf, gltf.meshes[0].primitives[0].attributes.COLOR_0)
    np.testing.assert_allclose(colors[:, :3], srgb_to_linear(np.asarray(mesh.visual.vertex_colors)[:, :3] / 255),
                               atol=1e-6)
    # trimesh reads the base mesh
    import trimesh

    loaded = trimesh.load(path, force="mesh", process=False)
    assert len(loaded.vertices) == len(mesh.vertices) and len(loaded.faces) == len(mesh.faces)


def test_deform_points_is_used_when_the_scene_has_it(tmp_path):
    scene = DeformBlobScene(num_frames=3, fps=6.0)
    path = export_animated_glb(scene, tmp_path / "anim.glb", resolution=RES, threshold=THR, interpolation="STEP")
    assert scene.deform_calls == 3
    mesh = extract_mesh(scene.gaussians_at(0.0), resolution=RES, threshold=THR)
    verts = torch.as_tensor(mesh.vertices, dtype=torch.float32)
    expected = np.stack([scene.motion(verts, t).numpy() for t in frame_times(3)])  # exact, no kNN error
    gltf, _, _ = _check_glb(path, expected, 3, 6.0)
    assert gltf.animations[0].samplers[0].interpolation == "STEP"


def test_mesh_comes_from_canonical_gaussians_when_the_scene_has_them(tmp_path):
    scene = CanonicalBlobScene(num_frames=3, fps=6.0)
    path = export_animated_glb(scene, tmp_path / "anim.glb", resolution=RES, threshold=THR)
    mesh = extract_mesh(scene.canonical, resolution=RES, threshold=THR)
    verts = torch.as_tensor(mesh.vertices, dtype=torch.float32)
    expected = np.stack([scene.motion(verts, t).numpy() for t in frame_times(3)])
    _, base, _ = _check_glb(path, expected, 3, 6.0)
    assert base[:, 1].mean() == pytest.approx(0.2, abs=0.01)  # frame 0 = canonical moved, not canonical itself


def test_num_frames_override_and_single_frame(tmp_path):
    scene = BlobScene(num_frames=4)
    gltf = _load(export_animated_glb(scene, tmp_path / "a.glb", num_frames=2, fps=2.0, resolution=RES, threshold=THR))
    assert len(gltf.meshes[0].primitives[0].targets) == 2
    gltf = _load(export_animated_glb(scene, tmp_path / "b.glb", num_frames=1, resolution=RES, threshold=THR))
    assert len(gltf.meshes[0].primitives[0].targets) == 1


def test_write_morph_glb_validates_input(tmp_path):
    pos = np.zeros((2, 3, 3), dtype=np.float32)
    faces = np.array([[0, 1, 2]])
    with pytest.raises(ValueError, match=r"faces index vertices 0\.\.2"):
        write_morph_glb(tmp_path / "x.glb", pos, np.array([[0, 1, 3]]))
    with pytest.raises(ValueError, match=r"positions must be \[F, V, 3\]"):
        write_morph_glb(tmp_path / "x.glb", pos[0], faces)
    with pytest.raises(ValueError, match="interpolation='CUBIC' is not one of LINEAR, STEP"):
        write_morph_glb(tmp_path / "x.glb", pos, faces, interpolation="CUBIC")
    with pytest.raises(ValueError, match=r"colors must be \[V, 3\] or \[V, 4\]"):
        write_morph_glb(tmp_path / "x.glb", pos, faces, colors=np.zeros((2, 3)))
    assert not (tmp_path / "x.glb").exists()


def test_export_animated_glb_bad_inputs(tmp_path):
    scene = BlobScene(num_frames=3)
    with pytest.raises(ValueError, match="must end in .glb"):
        export_animated_glb(scene, tmp_path / "a.gltf")
    with pytest.raises(ValueError, match="num_frames must be a positive integer, got 0"):
        export_animated_glb(scene, tmp_path / "a.glb", num_frames=0)
    with pytest.raises(ValueError, match="fps must be a positive number"):
        export_animated_glb(scene, tmp_path / "a.glb", fps=-1.0)

    class Growing(BlobScene):  # Gaussians that do not correspond across time
        def gaussians_at(self, t):
            g = super().gaussians_at(t)
            return g if t == 0 else g.select(torch.arange(len(g) - 1))

    with pytest.raises(ValueError, match="same Gaussians at every time .*deform_points"):
        export_animated_glb(Growing(num_frames=2), tmp_path / "a.glb", resolution=RES, threshold=THR)
    assert list(tmp_path.iterdir()) == []
