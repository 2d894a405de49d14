"""The app's parts without a browser: upload bounds, server-made names, the settings allow-list, jobs
(one at a time, cancel at the next step), the zip and the session gallery."""
from __future__ import annotations

import json
import threading
import time
import zipfile

import numpy as np
import pytest

from motion4d.app.jobs import GPU_LOCK, Job, stage_table
from motion4d.app.limits import UploadError, UploadLimits, admit, check_file, check_images, check_video
from motion4d.app.outputs import session_runs, zip_run
from motion4d.app.routes import AppSettings, _advanced, new_run_dir, new_session
from motion4d.utils.media import write_png, write_video
from motion4d.utils.progress import progress, watch


def _video(path, frames=4, size=32):
    return write_video(np.zeros((frames, size, size, 3), np.uint8), path, fps=8)


def test_limits_refuse_bad_values():
    with pytest.raises(ValueError, match="max_file_mb must be > 0"):
        UploadLimits(max_file_mb=0)


def test_file_checks_name_the_problem(tmp_path):
    lim = UploadLimits(max_file_mb=0.001)
    big = tmp_path / "big.mp4"
    big.write_bytes(b"\0" * 5000)
    with pytest.raises(UploadError, match=r"motion: 'big.mp4' is 0.0 MiB; the limit is 0.001 MiB"):
        check_file(big, "motion", (".mp4",), lim)
    with pytest.raises(UploadError, match="not an accepted file type; accepted: .mp4"):
        check_file(tmp_path / "x.exe", "motion", (".mp4",), lim)
    (tmp_path / "empty.mp4").write_bytes(b"")
    with pytest.raises(UploadError, match="is empty"):
        check_file(tmp_path / "empty.mp4", "motion", (".mp4",), UploadLimits())


def test_video_checks_frames_length_and_resolution(tmp_path):
    ok = _video(tmp_path / "ok.mp4")
    assert check_video(ok, "motion", UploadLimits())["frames"] == 4
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video" * 20)
    with pytest.raises(UploadError, match="has no video frames"):
        check_video(junk, "motion", UploadLimits())
    with pytest.raises(UploadError, match="has 4 frames .* the limit is 3 frames"):
        check_video(ok, "motion", UploadLimits(max_video_frames=3))
    with pytest.raises(UploadError, match="is 32x32; the longer side may be at most 16"):
        check_video(ok, "motion", UploadLimits(max_video_side=16))


def test_image_count_and_type(tmp_path):
    imgs = [write_png(np.zeros((8, 8, 3), np.float32), tmp_path / f"{i}.png") for i in range(3)]
    assert len(check_images(imgs, "appearance", UploadLimits())) == 3
    with pytest.raises(UploadError, match="3 images sent; at most 2"):
        check_images(imgs, "appearance", UploadLimits(max_images=2))
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"GIF89a nope")
    with pytest.raises(UploadError, match="not a readable image"):
        check_images([fake], "appearance", UploadLimits())


def test_upload_names_never_become_paths(tmp_path):
    evil = tmp_path / "up" / "..%2F..%2Fevil name.MP4"
    evil.parent.mkdir()
    evil.write_bytes(b"x")
    dest = admit(evil, tmp_path / "run" / "inputs", "motion_0")
    assert dest == tmp_path / "run" / "inputs" / "motion_0.mp4" and dest.read_bytes() == b"x"
    with pytest.raises(ValueError, match="stem"):
        admit(evil, tmp_path, "../x")


def test_page_settings_go_through_an_allow_list():
    assert _advanced("text-to-4d", {"clip.frames": 4.0, "lift.dynamic.iters": 7, "seed": None}) == \
        (["clip.frames=4"], ["dynamic.iters=7"])
    with pytest.raises(ValueError, match="'clip.model' cannot be changed from the page"):
        _advanced("text-to-4d", {"clip.model": 1})
    with pytest.raises(ValueError, match="must be a number"):
        _advanced("text-to-4d", {"clip.frames": "lift.matting=os:system"})


def test_session_folders_are_random_and_checked(tmp_path):
    s = AppSettings(tmp_path)
    a, b = new_session(s), new_session(s)
    assert a != b and len(a) >= 20
    run = new_run_dir(s, a, "text-to-4d")
    assert run.parent == tmp_path / a and run.is_dir()
    for bad in ("", "../x", "short"):
        with pytest.raises(ValueError, match="session is not valid"):
            new_run_dir(s, bad, "text-to-4d")


def _loop(n: int, dt: float = 0.01):
    def fn(log):
        for _ in progress(range(n), desc="steps", disable=True):
            time.sleep(dt)
        log("finished")
        return n
    return fn


def test_job_reports_steps_and_cancels_at_the_next_step(tmp_path):
    job = Job(_loop(10_000), tmp_path / "a", "test").start()
    deadline = time.time() + 10
    while (job.step is None or job.step[1] < 3) and time.time() < deadline:
        time.sleep(0.01)
    assert job.step[0] == "steps" and job.step[2] == 10_000
    assert job.cancel(wait_s=10) and job.cancelled and not job.running
    assert job.step[1] < 10_000 and "finished" not in job.lines
    assert not GPU_LOCK.locked()


def test_jobs_run_one_at_a_time(tmp_path):
    first = Job(_loop(50, 0.02), tmp_path / "a", "test").start()
    time.sleep(0.1)
    second = Job(_loop(1), tmp_path / "b", "test").start()
    time.sleep(0.1)
    assert second.waiting and first.running
    while second.running:
        time.sleep(0.02)
    assert first.result == 50 and second.result == 1 and second.started >= first.ended


def test_job_error_is_kept_for_the_page(tmp_path):
    def boom(log):
        raise ValueError("bad clip")
    job = Job(boom, tmp_path, "test").start()
    job._thread.join(5)
    assert job.error == "ValueError: bad clip" and not job.cancelled


def test_watch_is_per_thread():
    seen: list[int] = []
    other: list[int] = []
    with watch(lambda d, n, t: seen.append(n)):
        t = threading.Thread(target=lambda: other.extend(progress(range(3), disable=True)))
        t.start()
        t.join()
        list(progress(range(3), disable=True))
    assert seen == [0, 1, 2, 3] and other == [0, 1, 2]


def test_zip_skips_checkpoints_and_gallery_lists_the_session(tmp_path):
    session = tmp_path / "tok"
    run = session / "20260101-000000-text-to-4d-abc" / "run"
    (run / "lift" / "checkpoints").mkdir(parents=True)
    (run / "lift" / "checkpoints" / "s.pt").write_bytes(b"x")
    (run / "lift" / "animation.glb").write_bytes(b"glb")
    (run / "manifest.json").write_text(json.dumps({"route": "text-to-4d", "finished": None, "config": {
        "prompt": "a ball"}, "stages": [{"name": "generate", "status": "done", "seconds": 1.0},
                                        {"name": "lift", "status": "failed"}]}))
    names = zipfile.ZipFile(zip_run(run, tmp_path / "r.zip")).namelist()
    assert sorted(names) == ["run/lift/animation.glb", "run/manifest.json"]
    assert session_runs(session) == [{"name": run.parent.name, "route": "text-to-4d", "status": "lift: failed",
                                      "prompt": "a ball"}]
    assert stage_table(run) == [("generate", "done", 1.0), ("lift", "failed", None)]


def test_cli_registers_app_and_view():
    from motion4d.cli import build_parser

    parser = build_parser()
    args = parser.parse_args(["app"])
    assert args.host == "127.0.0.1" and args.port is None and not args.share
    args = parser.parse_args(["view", "RUN", "--export-html", "x.html"])
    assert args.export_html == "x.html" and args.host == "127.0.0.1"
