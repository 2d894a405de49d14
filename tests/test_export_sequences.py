"""Per-frame OBJ and PLY sequences."""
import numpy as np
import pytest
import torch
from _export_scenes import BlobScene, ball_interior_density

from motion4d.export import export_obj_sequence, extract_mesh, write_obj

THR = ball_interior_density() / 2


def test_obj_sequence_files_parse_with_colours_and_follow_the_motion(tmp_path):
    import trimesh

    scene = BlobScene(num_frames=3, shift=0.3)
    (tmp_path / "obj").mkdir()
    (tmp_path / "obj" / "007.obj").write_text("stale frame from a longer export\n")
    (tmp_path / "obj" / "notes.txt").write_text("user file\n")
    paths = export_obj_sequence(scene, tmp_path / "obj", resolution=20, threshold=THR)
    assert [p.name for p in paths] == ["000.obj", "001.obj", "002.obj"]
    assert sorted(p.name for p in (tmp_path / "obj").iterdir()) == ["000.obj", "001.obj", "002.obj", "notes.txt"]
    centres = []
    for p in paths:
        text = p.read_text().splitlines()
        v_line = next(line for line in text if line.startswith("v "))
        assert len(v_line.split()) == 7  # v x y z r g b
        mesh = trimesh.load(p, process=False)
        assert len(mesh.faces) > 100 and mesh.visual.kind == "vertex"
        colors = np.asarray(mesh.visual.vertex_colors)
        right = colors[mesh.vertices[:, 0] > mesh.vertices[:, 0].mean() + 0.15, :3].mean(0)
        np.testing.assert_allclose(right, [230, 26, 26], atol=6)  # red half stays red
        centres.append(mesh.vertices[:, 0].mean())
    np.testing.assert_allclose(np.diff(centres), [0.15, 0.15], atol=0.01)


def test_write_obj_round_trip(tmp_path):
    import trimesh

    from _export_scenes import ball_gaussians

    mesh = extract_mesh(ball_gaussians(), resolution=16, threshold=THR)
    back = trimesh.load(write_obj(mesh, tmp_path / "m.obj"), process=False)
    np.testing.assert_allclose(back.vertices, mesh.vertices, atol=1e-5)
    np.testing.assert_array_equal(back.faces, mesh.faces)
    np.testing.assert_allclose(np.asarray(back.visual.vertex_colors)[:, :3],
                               np.asarray(mesh.visual.vertex_colors)[:, :3], atol=1)


def test_sequences_reject_bad_frame_counts(tmp_path):
    scene = BlobScene(num_frames=3)
    for bad in (0, -2, 1.5, True):
        with pytest.raises(ValueError, match="num_frames must be a positive integer"):
            export_obj_sequence(scene, tmp_path / "o", num_frames=bad)


def test_obj_sequence_interrupted_leaves_only_complete_frames(tmp_path):
    class Failing(BlobScene):
        def gaussians_at(self, t):
            if t > 0.6:
                raise RuntimeError("out of memory")
            return super().gaussians_at(t)

    with pytest.raises(RuntimeError, match="out of memory"):
        export_obj_sequence(Failing(num_frames=3), tmp_path, resolution=16, threshold=THR)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["000.obj", "001.obj"]  # complete frames only
    assert all(p.read_text().rstrip().splitlines()[-1].startswith("f ") for p in tmp_path.iterdir())


def test_ply_sequence_round_trip_renders_the_same(tmp_path):
    from motion4d.camera import orbit_cameras
    from motion4d.export import export_ply_sequence
    from motion4d.gaussians.ply import load_ply
    from motion4d.render import render

    scene = BlobScene(num_frames=3, radius=0.3, step=0.1, scale=0.08)
    (tmp_path / "ply").mkdir()
    (tmp_path / "ply" / "005.ply").write_bytes(b"stale")
    paths = export_ply_sequence(scene, tmp_path / "ply")
    assert [p.name for p in paths] == ["000.ply", "001.ply", "002.ply"]
    assert sorted(p.name for p in (tmp_path / "ply").iterdir()) == ["000.ply", "001.ply", "002.ply"]
    cams = orbit_cameras([0.0, 30.0], [0.0, 90.0], width=24)
    for p, t in zip(paths, (0.0, 0.5, 1.0)):
        original = scene.gaussians_at(t)
        loaded = load_ply(p).gaussians()
        assert len(loaded) == len(original)
        torch.testing.assert_close(loaded.means, original.means)
        a = render(original, cams, torch.ones(3)).rgb
        b = render(loaded.detach(), cams, torch.ones(3)).rgb
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    assert export_ply_sequence(scene, tmp_path / "two", num_frames=2)[-1].name == "001.ply"
