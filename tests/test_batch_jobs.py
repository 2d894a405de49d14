"""The jobs file of ``motion4d batch``: sweeps, defaults, names and up-front validation (no model loads)."""
import pytest

from motion4d.batch import JobsFileError, job_hash, load_jobs, parse_jobs


def _gen(**kw):
    return {"route": "generate-video", "prompt": "a ball", **kw}


def test_sweep_expands_prompts_seeds_loras(tmp_path):
    lora = tmp_path / "jump.safetensors"
    lora.write_bytes(b"x")
    jobs = parse_jobs({"jobs": [{"sweep": {"route": "generate-video", "name": "s", "prompts": ["a", "b"],
                                           "seeds": [3, 4], "loras": [None, "jump.safetensors"], "steps": 5}}]},
                      base=tmp_path, check=False)
    assert len(jobs) == 8
    assert jobs[0].name == "s-p0-s3-l0" and jobs[-1].name == "s-p1-s4-l1"
    assert {(j.fields["prompt"], j.fields["seed"], j.fields.get("motion")) for j in jobs} == {
        (p, s, m) for p in "ab" for s in (3, 4) for m in (None, str(lora.resolve()))}
    assert all(j.fields["steps"] == 5 for j in jobs)


def test_defaults_merge_under_job_keys():
    jobs = parse_jobs({"defaults": {"generate-video": {"steps": 3, "frames": 4}},
                       "jobs": [_gen(steps=7), _gen(name="two")]}, check=True)
    assert [j.fields["steps"] for j in jobs] == [7, 3] and jobs[1].fields["frames"] == 4
    assert jobs[0].name == "generate-video-0"
    assert job_hash(jobs[0]) != job_hash(jobs[1])
    assert job_hash(jobs[1]) == job_hash(parse_jobs({"jobs": [_gen(name="x", steps=3, frames=4)]})[0])


@pytest.mark.parametrize("data, words", [
    ({"jobs": [{"route": "text-to-5d", "prompt": "a"}]}, ["jobs[0]", "text-to-5d", "text-to-4d"]),
    ({"jobs": [_gen(fram=3)]}, ["jobs[0]", "fram", "frames"]),
    ({"jobs": [_gen(steps="ten")]}, ["jobs[0]", "steps='ten'", "int"]),
    ({"jobs": [_gen(name="a"), _gen(name="a")]}, ["jobs[1]", "'a'", "jobs[0]"]),
    ({"jobs": [_gen(name="../x")]}, ["jobs[0]", "../x"]),
    ({"jobs": [{"route": "text-to-4d", "prompt": "a ball", "overrides": ["clip.framez=3"]}]}, ["jobs[0]", "framez"]),
    ({"jobs": [{"route": "text-to-4d", "prompt": "a ball", "clip": {"steps": 0}}]}, ["jobs[0]", "clip.steps"]),
    ({"jobs": [{"route": "video-to-4d", "input": "missing.mp4"}]}, ["jobs[0]", "missing.mp4"]),
    ({"jobs": [{"route": "train-motion", "output_dir": "x"}]}, ["jobs[0]", "output_dir"]),
    ({"jobs": [{"sweep": {"route": "generate-video", "prompts": "a"}}]}, ["jobs[0]", "prompts", "list"]),
    ({"jobs": [{"sweep": {"route": "generate-video", "prompts": ["a"], "prompt": "b"}}]}, ["jobs[0]", "prompt"]),
    ({"job": []}, ["jobs"]),
])
def test_bad_entries_name_the_entry_and_key(data, words):
    with pytest.raises(JobsFileError) as e:
        parse_jobs(data, source="jobs.yaml")
    for w in words:
        assert w in str(e.value), (w, str(e.value))


def test_load_jobs_file_errors(tmp_path):
    with pytest.raises(JobsFileError, match="does not exist"):
        load_jobs(tmp_path / "nope.yaml")
    (tmp_path / "j.yaml").write_text("jobs: [\n")
    with pytest.raises(JobsFileError, match="not valid YAML"):
        load_jobs(tmp_path / "j.yaml")
