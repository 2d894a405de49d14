"""text-to-4d's evaluate stage writes the request scores, and ``motion4d eval RUN`` reports them (toy sizes)."""
from __future__ import annotations

import json
import math

import pytest

from _video_tiny import build_tiny_model, moving_square_clip
from motion4d.cli import main
from motion4d.pipelines import TextTo4DPipeline, load_text_to_4d_config
from motion4d.utils.media import write_video
from test_pipelines_text_to_4d import TOY

PROMPT = "a red ball moving to the left"
REQUEST_KEYS = {"clip_score", "clip_colour_acc", "clip_kind_acc", "mv_area_ratio", "mv_colour_dist",
                "motion_err_reference", "motion_shift_err_reference", "gt_psnr", "gt_ssim", "gt_mask_iou"}


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2-4d-scores")
    model = build_tiny_model(root / "model")
    index = json.loads((model / "model_index.json").read_text())
    index["motion4d"] = {"background": [1.0, 1.0, 1.0]}
    (model / "model_index.json").write_text(json.dumps(index))
    ref = write_video((moving_square_clip(8, 32, background=(1.0, 1.0, 1.0)) * 255).byte().numpy(),
                      root / "ref.mp4", fps=8)
    cfg = load_text_to_4d_config(PROMPT, preset="quick", motion=[str(ref)], overrides=TOY + [f"clip.model={model}"])
    logs: list[str] = []
    res = TextTo4DPipeline(cfg, log=logs.append)(root / "run")
    assert set(res.scores) >= REQUEST_KEYS                     # the result carries the flat scores
    assert any("done in" in line and "clip_score" in line for line in logs)
    return root / "run"


def test_the_evaluate_stage_writes_the_request_scores(run):
    data = json.loads((run / "scores.json").read_text())
    scores = data["scores"]
    assert set(scores) >= REQUEST_KEYS | {"ref_psnr", "motion_err_clip"}
    assert all(math.isfinite(v) for v in scores.values())
    assert -1 <= scores["clip_score"] <= 1 and 0 <= scores["clip_colour_acc"] <= 1
    assert 0 <= scores["mv_area_ratio"] <= 1 and 0 <= scores["gt_mask_iou"] <= 1
    scene = json.loads((run / "prompt_scene" / "scene.json").read_text())
    assert scene["caption"] == PROMPT and scene["num_frames"] == 4 and scene["size"] == 32
    assert len(data["details"]["prompt_scene"]["views"]) == 15 and data["details"]["clip"]["images"] == 24
    assert "gt" not in data["skipped"] and "clip_score" not in data["skipped"]
    assert "gt_psnr" in (run / "report.html").read_text()


def test_motion4d_eval_scores_a_run_folder_against_its_request(run, tmp_path, capsys):
    stage = json.loads((run / "scores.json").read_text())["scores"]
    assert main(["eval", str(run), "--json", str(tmp_path / "eval.json")]) == 0
    report = json.loads((tmp_path / "eval.json").read_text())
    assert report["prompt"] == PROMPT and report["reference_motion"].endswith("ref.mp4")
    for key in REQUEST_KEYS:                                  # the same scores as the stage wrote
        assert report["scores"][key] == pytest.approx(stage[key], rel=1e-4, abs=1e-6), key
    assert "gt_psnr" in capsys.readouterr().out

    manifest = json.loads((run / "manifest.json").read_text())
    manifest["config"]["prompt"] = "a shiny teapot dancing"
    other = tmp_path / "other-run"
    other.mkdir()
    (other / "manifest.json").write_text(json.dumps(manifest))
    (other / "lift").symlink_to(run / "lift")
    assert main(["eval", str(other)]) == 0
    out = capsys.readouterr().out
    gt_lines = [line for line in out.splitlines() if line.startswith("no gt:")]
    assert len(gt_lines) == 1 and "grammar" in gt_lines[0] and "gt_psnr" not in out and "clip_score" in out

    assert main(["eval", str(run / "lift")]) == 2
    assert "--gt is required" in capsys.readouterr().err
