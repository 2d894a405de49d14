"""Run-folder manifest: stage records, resume rules and refusals (motion4d.pipelines.manifest)."""
from __future__ import annotations

import json

import pytest

from motion4d.pipelines.manifest import MANIFEST_NAME, RunFolderError, RunManifest

STAGES = ["generate", "lift", "export"]


def _job(root, calls, fail_at=None, config=None, settings=None):
    m = RunManifest.open(root, "text-to-4d", config or {"prompt": "a red ball", "seed": 0}, STAGES)

    def make(name):
        def fn():
            calls.append(name)
            if name == fail_at:
                raise RuntimeError(f"boom in {name}")
            out = root / name / "out.txt"
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(name)
            return {"file": out, "score": len(name)}
        return fn

    for name in STAGES:
        m.run(name, make(name), settings=(settings or {}).get(name), log=lambda s: None)
    return m


def test_resume_skips_finished_stages_and_continues_after_failure(tmp_path):
    calls: list[str] = []
    with pytest.raises(RuntimeError, match="boom in lift"):
        _job(tmp_path / "run", calls, fail_at="lift")
    data = json.loads((tmp_path / "run" / MANIFEST_NAME).read_text())
    assert [s["status"] for s in data["stages"]] == ["done", "failed", "pending"]
    assert "boom in lift" in data["stages"][1]["error"]
    calls.clear()
    m = _job(tmp_path / "run", calls)
    assert calls == ["lift", "export"]                     # generate kept
    assert m.finished is not None
    assert m.outputs("generate")["file"] == tmp_path / "run" / "generate" / "out.txt"
    assert m.outputs("lift")["score"] == 4
    calls.clear()
    _job(tmp_path / "run", calls)
    assert calls == []                                     # everything done: nothing runs


def test_missing_output_or_changed_stage_settings_reruns_that_stage_and_later_ones(tmp_path):
    calls: list[str] = []
    _job(tmp_path / "run", calls)
    (tmp_path / "run" / "lift" / "out.txt").unlink()
    calls.clear()
    _job(tmp_path / "run", calls)
    assert calls == ["lift", "export"]
    calls.clear()
    _job(tmp_path / "run", calls, settings={"generate": {"steps": 5}})
    assert calls == STAGES                                 # chained fingerprints invalidate later stages


def test_refuses_foreign_folder_other_config_and_file(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(RunFolderError, match="not empty"):
        RunManifest.open(tmp_path / "mine", "text-to-4d", {}, STAGES)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"
    _job(tmp_path / "run", [])
    with pytest.raises(RunFolderError, match="changed: prompt"):
        RunManifest.open(tmp_path / "run", "text-to-4d", {"prompt": "a blue cube", "seed": 0}, STAGES)
    with pytest.raises(RunFolderError, match="'video-to-4d'"):
        RunManifest.open(tmp_path / "run", "video-to-4d", {"prompt": "a red ball", "seed": 0}, STAGES)
    (tmp_path / "file").write_text("x")
    with pytest.raises(RunFolderError, match="is a file"):
        RunManifest.open(tmp_path / "file", "text-to-4d", {}, STAGES)
    with pytest.raises(RunFolderError, match="current folder"):
        RunManifest.open(".", "text-to-4d", {}, STAGES)
    m = RunManifest.open(tmp_path / "run", "text-to-4d", {"prompt": "a blue cube"}, STAGES, overwrite=True)
    assert all(r.status == "pending" for r in m.stages.values())


def test_corrupt_manifest_and_outputs_outside_folder_are_clear_errors(tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    (run / MANIFEST_NAME).write_text("{not json")
    with pytest.raises(RunFolderError, match="not valid JSON"):
        RunManifest.open(run, "text-to-4d", {}, STAGES)
    m = RunManifest.open(run, "text-to-4d", {}, STAGES, overwrite=True)
    with pytest.raises(ValueError, match="outside the run folder"):
        m.run("generate", lambda: {"video": tmp_path / "elsewhere.mp4"}, log=lambda s: None)
