"""The lift result folder: layout, load_result, export round trips, the CLI commands."""
import json

import numpy as np
import pytest
import torch

from motion4d.camera import Cameras
from motion4d.cli import main
from motion4d.gaussians import load_ply
from motion4d.lift import load_result
from motion4d.render import render

#: on top of _lift_data.TINY_LIFT: previews, a finer mesh and view-dependent colour
EXTRA = ("output.preview_every=6", "output.mesh_resolution=20", "static.sh_degree=1")


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from _lift_data import tiny_lift_run

    return tiny_lift_run(tmp_path_factory.mktemp("lift"), *EXTRA)


def test_folder_layout_and_result_json(run):
    info = json.loads((run / "result.json").read_text())
    assert info["num_frames"] == 3 and info["holdout"] == ["el+00_az045"] and info["guidance"] == "none"
    for rel in ("config.yaml", "canonical.ply", "deformation.safetensors", "ply/000.ply", "ply/002.ply",
                "videos/reference.mp4", "videos/turntable.mp4", "mesh/000.obj", "mesh/002.obj", "animation.glb"):
        assert (run / rel).is_file(), rel
    assert not (run / "ply" / "003.ply").exists()
    # a calibrated run records its cameras: training and held-out views, by name
    assert info["cameras"] == "cameras.json" and "el+00_az045" not in info["training_views"]
    assert "el+00_az045" in Cameras.from_json(run / "cameras.json").names
    assert any((run / "checkpoints").iterdir()) and any((run / "previews").glob("step_*.png"))
    # result.json is the last file written: everything it lists is older or as old
    newest = max(p.stat().st_mtime for p in run.rglob("*") if p.is_file() and p.name != "result.json"
                 and "checkpoints" not in p.parts)
    assert (run / "result.json").stat().st_mtime >= newest
    assert not list(run.rglob("*.partial*"))


def test_load_result_reproduces_frames_and_ply_round_trip(run):
    res = load_result(run)
    assert res.num_frames == 3 and res.field is not None
    cam = Cameras.orbit(10.0, 30.0, 2.5, 49.1, 32)
    for f in range(3):
        t = f / 2
        from_ply = load_ply(run / "ply" / f"{f:03d}.ply").gaussians()
        a = render(res.gaussians_at(t), cam, 1.0).rgb
        b = render(from_ply, cam, 1.0).rgb
        torch.testing.assert_close(a, b, atol=1e-5, rtol=1e-5)
    # fractional time lies between its neighbours' motion
    m0, m1, mh = (res.gaussians_at(t).means for t in (0.5, 1.0, 0.75))
    assert not torch.allclose(m0, m1)
    assert ((mh - m0).norm(dim=-1).mean() < (m1 - m0).norm(dim=-1).mean())
    # view-dependent colour (static.sh_degree=1 on calibrated views) survives the PLY round trip
    ply0 = load_ply(run / "ply" / "000.ply").gaussians()
    assert ply0.sh_degree == 1 and float(ply0.sh[:, 1:].detach().abs().max()) > 1e-4
    # canonical.ply is the canonical model; the field moves points as it moves Gaussians
    canon = load_ply(run / "canonical.ply").gaussians()
    torch.testing.assert_close(canon.means, res.canonical.means)
    torch.testing.assert_close(res.deform_points(canon.means, 1.0), res.gaussians_at(1.0).means)


def test_animated_glb_has_one_topology_and_a_frame_per_target(run):
    import pygltflib

    glb = pygltflib.GLTF2().load(str(run / "animation.glb"))
    prim = glb.meshes[0].primitives[0]
    n_vertices = glb.accessors[prim.attributes.POSITION].count
    assert n_vertices > 0
    assert len(prim.targets) == 3
    assert all(glb.accessors[t["POSITION"] if isinstance(t, dict) else t.POSITION].count == n_vertices
               for t in prim.targets)
    assert len(glb.animations) == 1


def test_cli_render_matches_api(run, tmp_path):
    from PIL import Image

    out = tmp_path / "r.png"
    assert main(["render", str(run), "--time", "0.5", "--elevation", "15", "--azimuth", "60", "--size", "32",
                 "--out", str(out)]) == 0
    img = np.asarray(Image.open(out)).astype(np.float32) / 255
    res = load_result(run)
    expect = render(res.gaussians_at(0.5), Cameras.orbit(15.0, 60.0, 2.5, 49.1, 32), 1.0).rgb[0].numpy()
    assert np.abs(img - expect).max() <= 1 / 255 + 1e-6
    assert main(["render", str(run), "--time", "1.5", "--out", str(out)]) == 2  # bad time: clear error


def test_resume_a_finished_run_keeps_the_result(run, tmp_path, capsys):
    from _lift_data import TINY_LIFT

    assert main(["video-to-4d", str(run.parent / "scene"), "--out", str(run), "--preset", "multiview", *TINY_LIFT,
                 *EXTRA, "--resume", "output.export=false"]) == 0
    assert "resumed from" in capsys.readouterr().out
    assert (run / "result.json").is_file() and load_result(run).num_frames == 3


def test_sh_degree_needs_several_calibrated_views():
    from motion4d.lift import load_lift_config
    from motion4d.lift.init import initial_model
    from motion4d.lift.inputs import LiftInput

    cfg = load_lift_config("default", overrides=["static.sh_degree=2", "static.num_points=20"])
    one = LiftInput(torch.zeros(1, 2, 8, 8, 3), torch.zeros(1, 2, 8, 8, 1), Cameras.orbit(0.0, 0.0, 2.5, 49.1, 8),
                    calibrated=False, source="clip")
    with pytest.raises(ValueError, match="static.sh_degree=2.*several calibrated views"):
        initial_model(one, cfg, 2.5)
    two = LiftInput(torch.zeros(2, 2, 8, 8, 3), torch.zeros(2, 2, 8, 8, 1), Cameras.orbit(0.0, [0.0, 90.0], 2.5, 49.1, 8),
                    calibrated=True, source="rig")
    assert initial_model(two, cfg, 2.5).sh_degree == 2


def test_unfinished_folder_is_not_a_result(tmp_path):
    (tmp_path / "checkpoints").mkdir()
    with pytest.raises(FileNotFoundError, match="result.json is missing.*--resume"):
        load_result(tmp_path)


def test_single_view_gif_with_static_model(tmp_path):
    """A plain RGB clip (keyed background, recentred) plus --static: only the dynamic stage runs."""
    import imageio.v3 as iio
    from _lift_data import moving_blob, render_rgba
    from motion4d.gaussians import save_ply

    at, F = moving_blob(3)
    rgba = render_rgba(at, F, Cameras.orbit(0.0, 0.0, 2.5, 49.1, 48))[0].astype(np.float32) / 255
    rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:]) * np.array([0.1, 0.2, 0.9])
    iio.imwrite(tmp_path / "clip.gif", (rgb * 255).round().astype(np.uint8), loop=0, duration=100)
    save_ply(at(0.0), tmp_path / "static.ply")
    out = tmp_path / "run"
    assert main(["video-to-4d", str(tmp_path / "clip.gif"), "--out", str(out), "--preset", "demo",
                 "--static", str(tmp_path / "static.ply"), "input.size=32", "dynamic.iters=3",
                 "output.export=false", "guidance.kind=none"]) == 0
    info = json.loads((out / "result.json").read_text())
    assert info["static_model"].endswith("static.ply") and info["seconds"]["static"] == 0
    assert info["num_gaussians"] == 40 and not info["calibrated"]
