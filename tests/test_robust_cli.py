"""Issue #16 at the command line: one error handler, the output-folder rule, and one regression test per
defect fixed here (numbers are the issue's)."""
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from motion4d.cli import main
from motion4d.gaussians import Gaussians, save_ply
from motion4d.utils.run_dir import MARKER, RunDirError

ENV = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[1] / "src")}


def _cli(*args: str, cwd=None) -> subprocess.CompletedProcess:
    code = "import sys; from motion4d.cli import main; sys.exit(main())"
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=ENV, cwd=cwd,
                          timeout=120)


def _result(root: Path, means=None, canonical="canonical.ply") -> Path:
    """A minimal lift result folder (canonical Gaussians, no deformation field)."""
    root.mkdir(parents=True, exist_ok=True)
    g = torch.Generator().manual_seed(0)
    means = (torch.rand(30, 3, generator=g) - 0.5) * 0.6 if means is None else means
    save_ply(Gaussians.from_rgb(means, torch.rand(len(means), 3, generator=g), torch.full((len(means), 3), 0.08),
                                torch.full((len(means),), 0.9)), root / "canonical.ply")
    (root / "result.json").write_text(json.dumps({"num_frames": 2, "canonical": canonical, "deformation": None}))
    return root


# -- the error handler -------------------------------------------------------------------------------
def test_expected_error_is_one_line_exit_2(tmp_path):
    res = _cli("render", str(tmp_path / "missing"), "--out", str(tmp_path / "x.png"))
    assert res.returncode == 2
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("motion4d render: error:") and "result.json" in lines[0]
    assert "Traceback" not in res.stderr


def test_unexpected_error_prints_traceback_and_where_to_report(tmp_path, monkeypatch, capsys):
    import motion4d.lift

    def boom(*a, **k):
        raise RuntimeError("kaboom")

    monkeypatch.setattr(motion4d.lift, "load_result", boom)
    assert main(["render", str(tmp_path), "--out", str(tmp_path / "x.png")]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "kaboom" in err and "bug in motion4d" in err and "report it" in err


def test_interrupt_says_how_to_resume(tmp_path, monkeypatch, capsys):
    import motion4d.lift

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(motion4d.lift, "lift", interrupted)
    assert main(["video-to-4d", str(tmp_path), "--out", str(tmp_path / "run")]) == 130
    assert "interrupted; resume with 'motion4d video-to-4d" in capsys.readouterr().err


def test_out_of_range_seed_is_an_argument_error(capsys):
    with pytest.raises(SystemExit) as e:
        main(["world", "make", "--seed", "99999999999999999999", "--out", "x"])
    assert e.value.code == 2 and "seed must be in 0..4294967295" in capsys.readouterr().err


# -- defect 1: world make / generate-video never delete unrelated files -----------------------------------
def test_world_make_keeps_unrelated_files_and_refuses_cwd(tmp_path, monkeypatch, capsys):
    proj = tmp_path / "myproject"
    (proj / "src").mkdir(parents=True)
    (proj / "src" / "main.py").write_text("print('hi')")
    (proj / "notes.txt").write_text("notes")
    small = ["--frames", "2", "--size", "16", "--points", "50", "--no-views", "--device", "cpu"]
    assert main(["world", "make", "--seed", "3", "--out", str(proj), *small]) == 2
    assert "not empty and was not made by motion4d" in capsys.readouterr().err
    assert main(["world", "make", "--seed", "3", "--out", str(proj), "--overwrite", *small]) == 0
    assert (proj / "src" / "main.py").read_text() == "print('hi')" and (proj / "notes.txt").read_text() == "notes"
    assert (proj / "scene.json").is_file() and (proj / MARKER).is_file()
    # its own folder: a second make replaces the scene and still keeps the user's files
    assert main(["world", "make", "--seed", "4", "--out", str(proj), *small]) == 0
    assert json.loads((proj / "scene.json").read_text())["seed"] == 4 and (proj / "notes.txt").is_file()
    monkeypatch.chdir(proj)
    before = sorted(p.name for p in proj.iterdir())
    assert main(["world", "make", "--seed", "3", "--out", ".", "--overwrite", *small]) == 2
    assert "current folder" in capsys.readouterr().err and sorted(p.name for p in proj.iterdir()) == before


def test_out_that_is_a_file_or_unwritable(tmp_path, capsys, monkeypatch):
    f = tmp_path / "file.txt"
    f.write_text("x")
    assert main(["world", "make", "--seed", "1", "--out", str(f)]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err and f.read_text() == "x"
    real_mkdir = Path.mkdir

    def read_only(self, *a, **k):  # a read-only disk (tests run as root, where chmod does not stop writes)
        if str(self).startswith(str(tmp_path / "ro")):
            raise OSError(30, "Read-only file system", str(self))
        return real_mkdir(self, *a, **k)

    monkeypatch.setattr(Path, "mkdir", read_only)
    assert main(["world", "make", "--seed", "1", "--out", str(tmp_path / "ro" / "x"), "--frames", "2",
                 "--size", "16", "--points", "50", "--no-views"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("motion4d world make: error: [Errno 30] Read-only file system") and "Traceback" not in err


def test_generate_video_refuses_a_foreign_folder(tmp_path, capsys):
    (tmp_path / "d" / "frames").mkdir(parents=True)
    (tmp_path / "d" / "frames" / "mine.png").write_bytes(b"keep")
    assert main(["generate-video", "a cat", "--model", str(tmp_path / "no-model"), "--out", str(tmp_path / "d")]) == 2
    assert "not empty and was not made by motion4d" in capsys.readouterr().err
    assert (tmp_path / "d" / "frames" / "mine.png").read_bytes() == b"keep"


# -- defect 3: a failed start never removes a finished run's result -----------------------------------
def test_failed_lift_keeps_the_finished_result(tmp_path, capsys):
    run = _result(tmp_path / "run")
    before = (run / "result.json").read_text()
    assert main(["video-to-4d", str(tmp_path / "typo.mp4"), "--out", str(run)]) == 2
    assert "does not exist" in capsys.readouterr().err
    assert (run / "result.json").read_text() == before


# -- defect 4: stale state is never reused silently ------------------------------------------------
class _Stop(Exception):
    pass


def _frames(folder: Path, colour) -> Path:
    import imageio.v3 as iio

    folder.mkdir(parents=True)
    for i in range(2):
        img = np.full((16, 16, 3), 255, np.uint8)
        img[4:12, 4 + i:12 + i] = colour
        iio.imwrite(folder / f"{i:03d}.png", img)
    return folder


def test_lift_resume_checks_the_input(tmp_path, monkeypatch):
    import motion4d.lift.trainer
    from motion4d.lift import lift, load_lift_config

    def stop(*a, **k):
        raise _Stop

    monkeypatch.setattr(motion4d.lift.trainer, "LiftTrainer", stop)
    a, b = _frames(tmp_path / "a", (255, 0, 0)), _frames(tmp_path / "b", (0, 0, 255))
    cfg = load_lift_config("default", overrides=["input.size=16", "input.num_frames=0", "guidance.kind=none"])
    out = tmp_path / "run"
    with pytest.raises(_Stop):
        lift(a, out, cfg, log=lambda s: None)
    (out / "checkpoints").mkdir()
    (out / "checkpoints" / "step-000100.safetensors").write_bytes(b"old")
    with pytest.raises(RunDirError, match="other input or settings.*resume with the same input"):
        lift(b, out, cfg, resume=True, log=lambda s: None)
    with pytest.raises(_Stop):  # the same input resumes; its checkpoints are kept
        lift(a, out, cfg, resume=True, log=lambda s: None)
    assert (out / "checkpoints" / "step-000100.safetensors").is_file()
    with pytest.raises(RunDirError, match="--overwrite"):
        lift(b, out, cfg, log=lambda s: None)
    with pytest.raises(_Stop):  # a fresh run never meets the older run's checkpoints (defect 4, third item)
        lift(b, out, cfg, overwrite=True, log=lambda s: None)
    assert not (out / "checkpoints").exists()


def test_demo_with_another_seed_does_not_reuse_the_old_scene(tmp_path, monkeypatch):
    import motion4d.world
    from motion4d.evaluation.demo import run_demo

    def stop(*a, **k):
        raise _Stop

    monkeypatch.setattr(motion4d.world, "make_scene", stop)
    out = tmp_path / "demo"
    with pytest.raises(_Stop):
        run_demo(out, quick=True, log=lambda s: None)
    (out / "scene").mkdir()
    (out / "scene" / "scene.json").write_text("{}")  # the old demo's scene
    with pytest.raises(RunDirError, match="earlier 'motion4d demo' run with other input or settings"):
        run_demo(out, quick=True, seed=5, log=lambda s: None)
    with pytest.raises(_Stop):
        run_demo(out, quick=True, seed=5, overwrite=True, log=lambda s: None)
    assert not (out / "scene").exists()


# -- defect 7, 8, 11 at render / eval -------------------------------------------------------------------
def test_render_writes_the_format_of_the_suffix(tmp_path):
    from PIL import Image

    run = _result(tmp_path / "run")
    for name, fmt in (("v.jpg", "JPEG"), ("v.png", "PNG"), ("v.webp", "WEBP")):
        assert main(["render", str(run), "--size", "16", "--out", str(tmp_path / name)]) == 0
        assert Image.open(tmp_path / name).format == fmt
    assert main(["render", str(run), "--size", "16", "--out", str(tmp_path / "v.gif")]) == 2


@pytest.mark.parametrize("args, match", [
    (["--azimuth", "nan"], "--azimuth must be a finite"),
    (["--radius", "0"], "--radius must be a finite distance > 0"),
    (["--radius", "inf"], "--radius must be a finite distance > 0"),
    (["--size", "100000"], "--size must be 8..8192"),
])
def test_render_refuses_bad_camera_values(tmp_path, capsys, args, match):
    run = _result(tmp_path / "run")
    assert main(["render", str(run), "--size", "16", "--out", str(tmp_path / "v.png"), *args]) == 2
    assert match in capsys.readouterr().err and not (tmp_path / "v.png").exists()


def test_render_out_dir_and_eval_json_dir_are_one_line(tmp_path, capsys):
    run = _result(tmp_path / "run")
    assert main(["render", str(run), "--size", "16", "--out", str(tmp_path)]) == 2
    assert "is a folder; give a file name" in capsys.readouterr().err
    assert main(["eval", str(run), "--gt", str(run), "--json", str(tmp_path)]) == 2
    assert "--json" in capsys.readouterr().err


def test_render_warns_on_an_empty_image(tmp_path, capsys):
    run = _result(tmp_path / "run", means=torch.tensor([[0.0, 0.0, 9.0]]).repeat(5, 1))  # behind the camera
    assert main(["render", str(run), "--size", "16", "--out", str(tmp_path / "v.png")]) == 0
    assert "warning: the image is empty" in capsys.readouterr().err


def test_render_refuses_nan_or_huge_ply(tmp_path, capsys):
    run = _result(tmp_path / "run", means=torch.tensor([[0.0, 0.0, float("nan")]]).repeat(5, 1))
    assert main(["render", str(run), "--size", "16", "--out", str(tmp_path / "v.png")]) == 2
    assert "non-finite 'z'" in capsys.readouterr().err


def test_result_json_canonical_cannot_escape(tmp_path, capsys):
    _result(tmp_path / "other")
    run = _result(tmp_path / "run", canonical="../other/canonical.ply")
    assert main(["render", str(run), "--size", "16", "--out", str(tmp_path / "v.png")]) == 2
    assert "points outside" in capsys.readouterr().err


def test_eval_gt_without_num_frames(tmp_path, capsys):
    run = _result(tmp_path / "run")
    (tmp_path / "gt").mkdir()
    (tmp_path / "gt" / "scene.json").write_text(json.dumps({"seed": 1}))
    assert main(["eval", str(run), "--gt", str(tmp_path / "gt"), "--json", str(tmp_path / "s.json")]) == 2
    assert "'num_frames' must be an integer" in capsys.readouterr().err


def test_convert_motiondirector_never_advises_weights_only_false(tmp_path, capsys):
    f = tmp_path / "100_unet.pt"
    f.write_bytes(np.random.default_rng(0).bytes(500))
    assert main(["convert-motiondirector", str(f), str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err
    assert "cannot read" in err and "weights_only=True" in err
    assert "set to `False`" not in err and "weights_only=False" not in err and "trusted source" not in err
