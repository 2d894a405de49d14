"""Dataset folders: layout, byte-identical determinism, camera conventions, CLI, suites, contact sheets."""
import json

import numpy as np
import pytest
import torch
from PIL import Image

from _world_helpers import TINY, tiny_scene, tree_digest
from motion4d.camera import Cameras
from motion4d.cli import main
from motion4d.world import WorldScene, composite, read_rgba, write_scene


@pytest.fixture(scope="module")
def scene_dir(tmp_path_factory):
    return write_scene(tiny_scene(21), tmp_path_factory.mktemp("w") / "scene", show_progress=False)


def test_layout(scene_dir):
    names = ["ref", "el+00_az000", "el+00_az090", "el+00_az180"]
    cams = Cameras.from_json(scene_dir / "cameras.json")
    assert cams.names == names and (cams.width, cams.height) == (32, 32)
    for f in range(3):
        ref = Image.open(scene_dir / "reference" / f"{f:03d}.png")
        assert ref.mode == "RGBA" and ref.size == (32, 32)
        for name in names[1:]:
            assert (scene_dir / "views" / name / f"{f:03d}.png").is_file()
        assert (scene_dir / "gaussians" / f"{f:03d}.ply").is_file()
    assert not (scene_dir / "reference" / "003.png").exists()
    assert (scene_dir / "reference.mp4").stat().st_size > 0
    spec = json.loads((scene_dir / "scene.json").read_text())
    assert (scene_dir / "caption.txt").read_text().strip() == spec["caption"]
    assert not list(scene_dir.parent.glob(".*partial*"))  # nothing left behind by the atomic write


def test_reference_equals_front_view_and_load_rebuilds(scene_dir):
    for f in range(3):
        assert np.array_equal(read_rgba(scene_dir / "reference" / f"{f:03d}.png"),
                              read_rgba(scene_dir / "views" / "el+00_az000" / f"{f:03d}.png"))
    from motion4d.gaussians.ply import load_ply

    ply = load_ply(scene_dir / "gaussians" / "001.ply").gaussians()
    g = tiny_scene(21).gaussians_at(0.5)
    assert torch.allclose(ply.means, g.means) and torch.allclose(ply.rgb, g.rgb, atol=1e-6)
    assert torch.allclose(ply.scales, g.scales, rtol=1e-5) and torch.allclose(ply.opacities, g.opacities)
    loaded = WorldScene.load(scene_dir)
    assert torch.equal(loaded.gaussians_at(0.5).means, tiny_scene(21).gaussians_at(0.5).means)
    a = read_rgba(scene_dir / "reference" / "000.png")
    assert a[..., 3].max() == 255 and a[..., 3].min() == 0  # solid object on an empty background


def test_same_seed_gives_byte_identical_files(tmp_path, scene_dir):
    again = write_scene(tiny_scene(21), tmp_path / "again", show_progress=False)
    assert tree_digest(again) == tree_digest(scene_dir)
    other = tree_digest(write_scene(tiny_scene(22), tmp_path / "other", show_progress=False))
    mine = tree_digest(scene_dir)
    for key in ("scene.json", "reference/000.png", "gaussians/000.ply"):
        assert other[key] != mine[key]


def _centroid_x(rgba):
    ys, xs = np.nonzero(rgba[..., 3] > 127)
    return xs.mean()


def test_camera_conventions(tmp_path):
    scene = tiny_scene(3, objects="sphere", motions="translate")
    spec = scene.to_dict()
    spec["objects"][0]["motions"][0]["displacement"] = [0.8, 0.0, 0.0]  # moves along +X
    spec["objects"][0]["position"] = [0.0, 0.0, 0.0]
    out = write_scene(WorldScene.from_dict(spec), tmp_path / "s", show_progress=False, gaussians=False, video=False)
    cams = json.loads((out / "cameras.json").read_text())["cameras"]
    ref = cams[0]
    assert ref["name"] == "ref" and ref["elevation"] == 0 and ref["azimuth"] == 0
    assert np.allclose(np.array(ref["c2w"])[:3, 3], [0, 0, 2.5], atol=1e-6)  # ref camera on +Z
    first, last = (read_rgba(out / "reference" / f"{f:03d}.png") for f in (0, 2))
    assert _centroid_x(first) < 14 and _centroid_x(last) > 18  # +X is the image's right in the ref view
    back = [read_rgba(out / "views" / "el+00_az180" / f"{f:03d}.png") for f in (0, 2)]
    assert _centroid_x(back[0]) > 18 and _centroid_x(back[1]) < 14  # mirrored from behind
    side = [read_rgba(out / "views" / "el+00_az090" / f"{f:03d}.png") for f in (0, 2)]
    assert abs(_centroid_x(side[0]) - _centroid_x(side[1])) < 2  # moving along the side camera's axis
    assert side[1][..., 3].astype(bool).sum() > side[0][..., 3].astype(bool).sum()  # ... towards it


def test_rgba_composites_back_to_the_render(scene_dir):
    from motion4d.render import render

    scene = WorldScene.load(scene_dir)
    cams = scene.cameras()[0]
    with torch.no_grad():
        rgb = render(scene.gaussians_at(0.5), cams, torch.tensor(scene.background)).rgb[0]
    gt = composite(read_rgba(scene_dir / "reference" / "001.png"), scene.background)
    assert float((rgb - gt).abs().max()) < 3 / 255


def test_cli_make_sample_preview(tmp_path, capsys):
    small = ["--frames", "2", "--size", "24", "--points", "150", "--elevations", "0", "--azimuth-step", "180"]
    assert main(["world", "make", "--seed", "4", "--out", str(tmp_path / "one"), "--object", "robot",
                 "--motion", "wave", *small]) == 0
    out = capsys.readouterr().out
    assert "robot waving its arm" in out and str(tmp_path / "one") in out
    assert sorted(p.name for p in (tmp_path / "one" / "views").iterdir()) == ["el+00_az000", "el+00_az180"]
    suite = tmp_path / "suite"
    assert main(["world", "sample", "2", "--out", str(suite), "--seed-start", "7", "--sheet", "--no-ply",
                 *small]) == 0
    index = json.loads((suite / "suite.json").read_text())
    assert [e["seed"] for e in index["scenes"]] == [7, 8]
    assert not (suite / "seed00007" / "gaussians").exists()
    stamp = (suite / "seed00007" / "scene.json").stat().st_mtime_ns
    capsys.readouterr()
    assert main(["world", "sample", "2", "--out", str(suite), "--seed-start", "7", "--no-ply", *small]) == 0
    assert "kept" in capsys.readouterr().out  # resumes: complete scenes are not rendered again
    assert (suite / "seed00007" / "scene.json").stat().st_mtime_ns == stamp
    assert main(["world", "preview", str(suite), "--out", str(tmp_path / "sheet.png"), "--frames", "2",
                 "--tile", "32"]) == 0
    sheet = Image.open(tmp_path / "sheet.png")
    assert sheet.size[0] == 2 * (2 * 32 + 6) + 6  # two tiles of two frames side by side
    assert Image.open(suite / "sheet.png").size[0] == 2 * (4 * 96 + 6) + 6  # --sheet uses the defaults


def test_cli_errors(tmp_path, capsys):
    assert main(["world", "make", "--seed", "1", "--out", str(tmp_path / "x"), "--object", "sphere",
                 "--motion", "walk"]) == 2
    assert "walk" in capsys.readouterr().err
    assert main(["world", "sample", "--out", str(tmp_path / "y")]) == 2
    assert main(["world", "preview", str(tmp_path), "--out", str(tmp_path / "s.png")]) == 2


def test_benchmark_suite_writes_from_the_cli(tmp_path):
    from motion4d.world.suite import write_suite, make_suite

    specs = make_suite("benchmark")[:2]
    out = write_suite(specs, tmp_path / "bench", suite_name="benchmark", views=False, gaussians=False, video=False,
                      **{**TINY, "num_frames": 2, "num_points": 150})
    index = json.loads((out / "suite.json").read_text())
    assert index["suite"] == "benchmark" and [e["name"] for e in index["scenes"]] == [s.name for s in specs]
    assert index["scenes"][0]["objects"] == list(specs[0].objects)
    assert "large_motion" in index["scenes"][0]
    with pytest.raises(ValueError, match="unknown suite"):
        make_suite("nope")
