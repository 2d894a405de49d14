"""``motion4d batch --ray`` on a local Ray cluster bound to 127.0.0.1, with 2 fake GPUs: one actor per GPU,
models loaded once per actor, a failing job retried then recorded, a second run skipping finished jobs.

Ray is an optional extra (``motion4d[batch]``, part of ``motion4d[dev]``); without it this module is skipped.
"""
import json
import os

import pytest

# read when Ray is imported: without RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0, Ray on Linux resolves 127.0.0.1 to the
# interface address (192.0.2.2 here) even with _node_ip_address="127.0.0.1" (test_ray_batch checks the result)
os.environ.update({"RAY_USAGE_STATS_ENABLED": "0", "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled"})
ray = pytest.importorskip("ray", reason='Ray is the optional extra motion4d[batch]; pip install "motion4d[batch]"')

from _batch_jobs import frames_digest, write_jobs  # noqa: E402
from motion4d.batch import Progress, load_jobs, plan  # noqa: E402
from motion4d.batch.ray_runner import run_ray, slots  # noqa: E402
from motion4d.cli import main  # noqa: E402

LOOPBACK = ("127.0.0.1", "::ffff:127.0.0.1", "::1")


@pytest.fixture(scope="module")
def cluster():
    ctx = ray.init(address="local", _node_ip_address="127.0.0.1", include_dashboard=False, num_cpus=2, num_gpus=2,
                   object_store_memory=80 * 2 ** 20, log_to_driver=False)
    yield ctx
    ray.shutdown()


def _ray_listen_addresses() -> set[str]:
    """Local addresses of every socket held by this Ray session's processes (GCS, raylet, workers)."""
    import psutil

    me = psutil.Process()
    pids = {p.pid for p in me.children(recursive=True)}
    return {c.laddr.ip for c in psutil.net_connections("inet") if c.pid in pids and c.laddr}


def test_slots():
    assert slots({"CPU": 2, "GPU": 2}, None) == (2, {"num_gpus": 1.0, "num_cpus": 1.0})
    assert slots({"CPU": 4, "GPU": 2}, 0.5)[0] == 4
    assert slots({"CPU": 3}, None) == (3, {"num_gpus": 0, "num_cpus": 1.0})
    with pytest.raises(ValueError, match="has 0 GPU"):
        slots({"CPU": 3}, 1)


def test_ray_batch(cluster, tmp_path_factory):
    from _video_tiny import tiny_model_dir

    assert cluster.address_info["node_ip_address"] == "127.0.0.1"
    assert cluster.address_info["gcs_address"].startswith("127.0.0.1:")
    root = tmp_path_factory.mktemp("batch_ray")
    jobs = load_jobs(write_jobs(root, tiny_model_dir(tmp_path_factory)))
    out = root / "out"
    results, info = run_ray(jobs, out, address="local", gpus_per_job=1, max_retries=1, progress=Progress(len(jobs)))
    assert info["workers"] == 2 and info["resources_per_worker"]["num_gpus"] == 1
    assert info["node_ips"] == ["127.0.0.1"]
    addresses = _ray_listen_addresses()
    assert addresses and addresses <= set(LOOPBACK), addresses
    by = {r.name: r for r in results}
    assert by["bad"].status == "failed" and by["bad"].attempts == 2 and "multiple of 4" in by["bad"].error
    good = [r for r in results if r.name != "bad"]
    assert all(r.status == "done" and r.attempts == 1 for r in good)
    # models load once per actor: every result reports its actor's count, never above 1
    assert set(info["loads"].values()) <= {0, 1} and sum(info["loads"].values()) == len({r.worker for r in results})
    assert {r.loads for r in results} == {1} and len(info["loads"]) == 2
    assert len({frames_digest(out / "jobs" / r.name) for r in good}) == 4
    # a second run through the CLI (attaching to this session) skips every finished job; only the failed one
    # would run again, so it is left out of the file here (its retry is shown above; starting an actor costs ~20 s)
    assert sorted(j.name for j in plan(jobs, out)[0]) == ["bad"]
    before = {r.name: (out / "jobs" / r.name / "video.mp4").stat().st_mtime_ns for r in good}
    jobs_file = str(write_jobs(root, tiny_model_dir(tmp_path_factory), bad=False))
    assert main(["batch", jobs_file, "--out", str(out), "--ray", "auto"]) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["counts"] == {"done": 0, "skipped": 4, "failed": 0} and summary["info"]["runner"] == "ray"
    assert before == {r.name: (out / "jobs" / r.name / "video.mp4").stat().st_mtime_ns for r in good}
