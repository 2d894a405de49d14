"""text-to-4d end to end at toy sizes on tiny random models: stages, manifest, resume, report, bad input."""
from __future__ import annotations

import json

import pytest

from _video_tiny import build_tiny_model, moving_square_clip
from motion4d.utils.media import write_video
from motion4d.pipelines import RunFolderError, TextTo4DPipeline, load_text_to_4d_config

TOY = ["clip.frames=4", "clip.width=32", "clip.height=32", "clip.steps=2", "customize.steps=2",
       "customize.overrides=[lora.rank=2, checkpoint_every=1]", "lift.preset=demo", "lift.novel_view=none",
       "lift.overrides=[static.iters=3, static.num_points=300, dynamic.iters=2, input.size=32, "
       "output.mesh_resolution=12, output.turntable_views=3, output.video_size=32, output.preview_every=0, "
       "output.checkpoint_every=1]"]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2-4d")
    model = build_tiny_model(root / "model")
    index = json.loads((model / "model_index.json").read_text())
    index["motion4d"] = {"background": [0.1, 0.1, 0.3]}       # the generator's known background
    (model / "model_index.json").write_text(json.dumps(index))
    ref = write_video((moving_square_clip(8, 32) * 255).byte().numpy(), root / "ref.mp4", fps=8)
    return model, ref


def _cfg(model, ref, *extra):
    return load_text_to_4d_config("a red ball jumping", preset="quick", motion=[str(ref)],
                                  overrides=TOY + [f"clip.model={model}", *extra])


def test_text_to_4d_end_to_end_then_resume_skips_everything(tiny, tmp_path):
    model, ref = tiny
    logs: list[str] = []
    res = TextTo4DPipeline(_cfg(model, ref), log=logs.append)(tmp_path / "run")
    stages = json.loads((tmp_path / "run" / "manifest.json").read_text())["stages"]
    assert [s["status"] for s in stages] == ["done"] * 8
    assert stages[0]["outputs"]["trained"] is True and stages[1]["outputs"]["lora"] is None
    assert (tmp_path / "run" / "motion" / "temporal.safetensors").is_file()
    assert res.outputs["report"].is_file() and res.outputs["animation"].is_file()
    scores = json.loads((tmp_path / "run" / "scores.json").read_text())["scores"]
    assert set(scores) >= {"ref_psnr", "motion_err_clip", "motion_err_reference"}
    assert all(v == v for v in scores.values())                       # no NaN
    html = res.outputs["report"].read_text()
    assert "a red ball jumping" in html and "model-viewer" in html and "inputs/reference_motion.mp4" in html
    assert any("done in" in line for line in logs)
    from motion4d.evaluation import load_scene4d                          # motion4d eval takes the run folder
    scene = load_scene4d(tmp_path / "run")
    assert scene.num_frames == 4 and len(scene.gaussians_at(0.5)) > 0
    again: list[str] = []
    TextTo4DPipeline(_cfg(model, ref), log=again.append)(tmp_path / "run")
    assert sum("done earlier, kept" in line for line in again) == 8


def test_crash_in_a_stage_keeps_finished_stages(tiny, tmp_path, monkeypatch):
    model, ref = tiny
    from motion4d.pipelines import stages

    def boom(*a, **k):
        raise RuntimeError("lift crashed")

    monkeypatch.setattr(stages, "lift_stage", boom)
    with pytest.raises(RuntimeError, match="lift crashed"):
        TextTo4DPipeline(_cfg(model, ref), log=lambda s: None)(tmp_path / "run")
    monkeypatch.undo()
    logs: list[str] = []
    TextTo4DPipeline(_cfg(model, ref), log=logs.append)(tmp_path / "run")
    kept = [line.split(":")[0] for line in logs if "done earlier, kept" in line]
    assert kept == ["stage motion", "stage appearance", "stage generate", "stage matting"]
    with pytest.raises(RunFolderError, match="changed: seed"):
        TextTo4DPipeline(_cfg(model, ref, "seed=5"), log=lambda s: None)(tmp_path / "run")


def test_bad_inputs_fail_before_any_model_loads(tiny, tmp_path):
    model, ref = tiny
    with pytest.raises(ValueError, match="prompt is empty"):
        TextTo4DPipeline(load_text_to_4d_config("  ", preset="quick"))
    with pytest.raises(ValueError, match="at most 500"):
        TextTo4DPipeline(load_text_to_4d_config("a" * 501, preset="quick"))
    notes = tmp_path / "notes.txt"
    notes.write_text("hi")
    with pytest.raises(ValueError, match="not one of the videos formats"):
        TextTo4DPipeline(load_text_to_4d_config("a ball", preset="quick", motion=[str(notes)]))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="holds no images"):
        TextTo4DPipeline(load_text_to_4d_config("a ball", preset="quick", appearance=[str(tmp_path / "empty")]))
    with pytest.raises(FileNotFoundError, match="does not exist"):
        TextTo4DPipeline(load_text_to_4d_config("a ball", preset="quick", motion=[str(tmp_path / "nope.mp4")]))
    with pytest.raises(ValueError, match="code hook"):
        TextTo4DPipeline(load_text_to_4d_config("a ball", preset="quick", overrides=["lift.matting=os:getcwd"]))
