"""``motion4d batch`` in this process: one model load for all jobs, retries, failures recorded, resume
(finished jobs skipped, a changed job rerun, a run killed half-way finishing with the same outputs)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from _batch_jobs import frames_digest, write_jobs
from motion4d.batch import BatchWorker, load_jobs, plan
from motion4d.cli import main

GOOD = ["g-p0-s0", "g-p0-s1", "g-p1-s0", "g-p1-s1"]


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    from _video_tiny import tiny_model_dir

    return tiny_model_dir(tmp_path_factory)


@pytest.fixture(scope="module")
def reference(tmp_path_factory, model):
    """One uninterrupted CLI run of 4 good jobs + 1 failing job, with one retry."""
    root = tmp_path_factory.mktemp("batch_ref")
    jobs = write_jobs(root, model)
    code = main(["batch", str(jobs), "--out", str(root / "out"), "--max-retries", "1"])
    return root, jobs, code


def test_run_writes_results_and_records_failure(reference):
    root, _, code = reference
    out = root / "out"
    assert code == 3  # some job failed
    summary = json.loads((out / "summary.json").read_text())
    by = {j["name"]: j for j in summary["jobs"]}
    assert [j["name"] for j in summary["jobs"]] == [*GOOD, "bad"]
    assert summary["counts"] == {"done": 4, "skipped": 0, "failed": 1}
    assert by["bad"]["status"] == "failed" and by["bad"]["attempts"] == 2 and "multiple of 4" in by["bad"]["error"]
    for name in GOOD:
        assert by[name]["status"] == "done" and by[name]["attempts"] == 1 and by[name]["seconds"] > 0
        assert Path(by[name]["outputs"]["mp4"]).is_file()
    # one worker, one model load for every job (the failing one included)
    assert {j["loads"] for j in summary["jobs"]} == {1} and len({j["worker"] for j in summary["jobs"]}) == 1
    rows = (out / "summary.csv").read_text().splitlines()
    assert rows[0].startswith("name,route,status,seconds") and len(rows) == 6 and rows[-1].startswith("bad,")
    page = (out / "index.html").read_text()
    assert page.count('class="card"') == 5 and "jobs/g-p0-s0/video.mp4" in page and "multiple of 4" in page
    assert "http://" not in page and "https://" not in page
    # different seeds and prompts give different clips; each job has its own folder
    assert len({frames_digest(out / "jobs" / n) for n in GOOD}) == 4


def test_second_run_skips_finished_jobs(reference, capsys):
    root, jobs, _ = reference
    out = root / "out"
    before = {n: (out / "jobs" / n / "video.mp4").stat().st_mtime_ns for n in GOOD}
    assert main(["batch", str(jobs), "--out", str(out)]) == 3  # the failing job is tried again
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 0, "skipped": 4, "failed": 1}
    assert before == {n: (out / "jobs" / n / "video.mp4").stat().st_mtime_ns for n in GOOD}
    assert "4/5 done (4 skipped), 0 running, 1 failed" in capsys.readouterr().err


def test_changed_job_reruns_alone(reference, model, tmp_path):
    root, _, _ = reference
    changed = load_jobs(write_jobs(tmp_path, model, seeds=(0, 5)))
    todo, skipped = plan(changed, root / "out")
    assert sorted(j.name for j in todo) == ["bad", "g-p0-s5", "g-p1-s5"]
    assert sorted(r.name for r in skipped) == ["g-p0-s0", "g-p1-s0"] and {r.status for r in skipped} == {"skipped"}
    changed[0].fields["steps"] = 3  # same name, new config: not done any more
    assert changed[0].name == "g-p0-s0" and "g-p0-s0" in [j.name for j in plan(changed, root / "out")[0]]


def test_model_cache_reuses_clean_backbone_only(model, tmp_path):
    from motion4d.video.lora import get_lora

    worker = BatchWorker()
    bb = worker.cache.backbone(str(model), device="cpu")
    assert worker.cache.backbone(str(model), device="cpu") is bb and worker.loads() == 1
    get_lora(bb.denoiser, bb.lora_targets).add("left-over", "temporal", rank=2)
    assert worker.cache.backbone(str(model), device="cpu") is not bb and worker.loads() == 2


def test_killed_run_finishes_with_same_outputs(reference, model, tmp_path):
    root, _, _ = reference
    jobs = write_jobs(tmp_path, model, bad=False)
    out = tmp_path / "out"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"),
                                                        os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "motion4d", "batch", str(jobs), "--out", str(out)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    first = out / "records" / f"{GOOD[0]}.json"
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        if first.is_file() and json.loads(first.read_text())["status"] == "done":
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    states = {n: json.loads(p.read_text())["status"] if (p := out / "records" / f"{n}.json").is_file() else None
              for n in GOOD}
    assert states[GOOD[0]] == "done" and list(states.values()).count("done") < 4, states
    assert main(["batch", str(jobs), "--out", str(out)]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"]["done"] + summary["counts"]["skipped"] == 4
    assert summary["counts"]["skipped"] == list(states.values()).count("done")
    for name in GOOD:
        assert frames_digest(out / "jobs" / name) == frames_digest(root / "out" / "jobs" / name), name


def test_video_to_4d_job_resumes_from_its_checkpoints(tmp_path):
    """A lift job cut off after a checkpoint (record 'running', no result.json) continues from it on re-run."""
    from _lift_data import write_multiview

    from motion4d.batch import parse_jobs

    scene, _ = write_multiview(tmp_path / "scene")
    tiny = ["static.num_points=120", "static.views_per_step=2", "dynamic.frames_per_step=2",
            "dynamic.views_per_frame=2", "output.preview_every=0", "input.holdout=[el+00_az045]",
            "dynamic.deform.resolution=[6,6,6,3]", "dynamic.deform.channels=4", "dynamic.deform.width=16",
            "static.iters=4", "dynamic.iters=4", "output.checkpoint_every=4", "output.export=false"]
    job = parse_jobs({"jobs": [{"route": "video-to-4d", "name": "blob", "preset": "multiview",
                                "input": str(scene), "overrides": tiny}]})[0]
    out = tmp_path / "out"
    res = BatchWorker().run(job, str(out))
    folder = out / "jobs" / "blob"
    assert res["status"] == "done", res["error"]
    assert (folder / "canonical.ply").is_file() and res["outputs"]["canonical"] == str(folder / "canonical.ply")
    assert sorted(p.name for p in folder.parent.iterdir()) == ["blob"]  # the batch's own files live elsewhere
    record = json.loads((out / "records" / "blob.json").read_text())
    (out / "records" / "blob.json").write_text(json.dumps({**record, "status": "running"}))
    (folder / "result.json").unlink()
    again = BatchWorker().run(job, str(out))
    assert again["status"] == "done" and (folder / "result.json").is_file()
    assert "resumed from" in (out / "logs" / "blob.log").read_text()
