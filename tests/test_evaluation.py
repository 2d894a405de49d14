"""Evaluation against world ground truth: self-score, frozen-motion score, JSON and CLI."""
import json
import math

import pytest

from _world_helpers import tiny_scene
from motion4d.cli import main
from motion4d.evaluation import PSNR_CAP, evaluate, load_scene4d
from motion4d.world import FrozenScene, WorldScene, write_scene


@pytest.fixture(scope="module")
def moving(tmp_path_factory):
    scene = tiny_scene(5, objects="sphere", motions="translate", num_frames=4)
    return write_scene(scene, tmp_path_factory.mktemp("ev") / "scene", show_progress=False, video=False)


def test_self_score_and_frozen_score(moving):
    scene = load_scene4d(moving)
    assert isinstance(scene, WorldScene)
    own = evaluate(scene, moving)
    assert own["psnr"] >= 50 and own["ssim"] > 0.999 and own["mask_iou"] > 0.99
    assert own["chamfer"] == pytest.approx(0.0, abs=1e-6)
    frozen = evaluate(FrozenScene(scene), moving)
    assert frozen["psnr"] < own["psnr"] - 20 and frozen["psnr"] < 30
    assert frozen["mask_iou"] < 0.8 and frozen["ssim"] < own["ssim"] and frozen["chamfer"] > 0.05
    assert frozen["flicker"] > own["flicker"]
    # frame 0 is the frozen pose, so it still scores as ground truth; later frames do not
    assert frozen["per_frame"][0]["psnr"] >= 50 and frozen["per_frame"][-1]["psnr"] < 30
    assert set(frozen["per_view"]) == {"el+00_az000", "el+00_az090", "el+00_az180"}
    json.dumps(own, allow_nan=False)  # no inf/nan in the report


def test_reference_view_scores_and_psnr_stays_finite(moving):
    report = evaluate(load_scene4d(moving), moving, views=["ref"], frames=[0])
    assert report["views"] == ["ref"] and report["frames"] == [0]
    assert 50 <= report["psnr"] <= PSNR_CAP and not math.isinf(report["psnr"])


def test_bad_views_and_frames(moving):
    scene = load_scene4d(moving)
    with pytest.raises(ValueError, match="el\\+99"):
        evaluate(scene, moving, views=["el+99_az000"])
    with pytest.raises(ValueError, match="outside"):
        evaluate(scene, moving, frames=[7])
    with pytest.raises(FileNotFoundError, match="not a 4D result"):
        load_scene4d(moving / "views")


def test_eval_cli(moving, tmp_path, capsys):
    out = tmp_path / "scores.json"
    assert main(["eval", str(moving), "--gt", str(moving), "--json", str(out), "--views", "el+00_az090",
                 "--frames", "0", "3"]) == 0
    report = json.loads(out.read_text())
    assert report["psnr"] >= 50 and report["num_views"] == 1 and report["num_frames"] == 2
    assert [f["frame"] for f in report["per_frame"]] == [0, 3]
    assert set(report["skipped"]) | {k for k, v in report["optional"].items() if v is not None} == {"clip", "lpips"}
    text = capsys.readouterr().out
    assert "PSNR" in text and str(out) in text


def test_load_scene4d_dispatches_lift_results(tmp_path, monkeypatch):
    import sys
    import types

    (tmp_path / "result.json").write_text("{}")
    calls = []
    stub = types.ModuleType("motion4d.lift")
    stub.load_result = lambda path: calls.append(path) or "lift-result"
    monkeypatch.setitem(sys.modules, "motion4d.lift", stub)
    assert load_scene4d(tmp_path) == "lift-result" and calls == [tmp_path]
