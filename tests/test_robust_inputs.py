"""Issue #16, validation up front: camera values, config ranges, PLY headers, paths taken from files, code
hooks from config files, short clips. One regression test per defect (numbers are the issue's)."""
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from motion4d.camera import Cameras
from motion4d.config import ConfigError
from motion4d.gaussians import load_ply
from motion4d.lift.config import load_lift_config


def _cams(**edit) -> dict:
    data = Cameras.orbit([0.0, 20.0], [0.0, 90.0], width=16).to_dict()
    data["cameras"][1]["name"] = "side"
    for key, value in edit.items():
        data["cameras"][0][key] = value
    return data


# -- defect 7: camera values ------------------------------------------------------------------------
@pytest.mark.parametrize("edit, match", [
    (dict(fx=float("nan")), "'fx' must be a finite number, got nan"),
    (dict(fx="abc"), "'fx' must be a finite number, got 'abc'"),
    (dict(fy=-5.0), "focal lengths must be > 0"),
    (dict(fx=0), "focal lengths must be > 0"),
    (dict(c2w=[[0.0] * 4] * 3 + [[0, 0, 0, 1]]), "not orthonormal"),
    (dict(c2w=[[2.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "not orthonormal"),
    (dict(c2w=[[-1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]]), "reflection"),
    (dict(c2w=[[1.0, 0, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 1, 1]]), "bottom row"),
    (dict(c2w=[[1, 0, 0], [0, 1, 0]]), "4x4"),
    (dict(radius=0.0), "'radius' must be > 0"),
    (dict(name="side"), "names must be unique; repeated: side"),
    (dict(name="../../x"), "not a safe file name"),
    (dict(name="/etc"), "not a safe file name"),
])
def test_camera_json_values_are_checked(edit, match):
    with pytest.raises(ValueError, match=match):
        Cameras.from_dict(_cams(**edit), source="cameras.json")


@pytest.mark.parametrize("kwargs, match", [
    (dict(fovy=0.0), "fovy must be in"), (dict(fovy=200.0), "fovy must be in"),
    (dict(radius=0.0), "radius must be > 0"), (dict(azimuth=float("nan")), "azimuth must be finite"),
])
def test_orbit_values_are_checked(kwargs, match):
    args = dict(elevation=0.0, azimuth=0.0, radius=2.5, fovy=49.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match=match):
        Cameras.orbit(**args, width=16)


@pytest.mark.parametrize("override, key", [
    ("output.fps=0", "output.fps"), ("output.mesh_resolution=0", "output.mesh_resolution"),
    ("output.video_size=2", "output.video_size"), ("output.turntable_views=0", "output.turntable_views"),
    ("camera.fovy=0", "camera.fovy"), ("camera.fovy=200", "camera.fovy"), ("camera.radius=0", "camera.radius"),
    ("camera.background=[2,0,0]", r"camera.background\[0\]"), ("seed=-1", "seed"),
    ("seed=99999999999999999999", "seed"), ("static.lr_sh=-1", "static.lr_sh"),
    ("dynamic.gaussian_lr_scale=1e8", "dynamic.gaussian_lr_scale"), ("guidance.render_size=0", "guidance.render_size"),
])
def test_config_values_fail_at_load_naming_the_key(override, key):
    with pytest.raises(ConfigError, match=rf"{key}=.* is out of range; allowed"):
        load_lift_config("default", overrides=[override])


def test_bad_yaml_in_an_override_is_a_config_error():
    with pytest.raises(ConfigError, match="override 'input.segmentation=a: b: c'.*not valid YAML"):
        load_lift_config("default", overrides=["input.segmentation=a: b: c"])


# -- defect 8: PLY headers ------------------------------------------------------------------------
def _ply(tmp_path: Path, count: str, n_data: int = 1, values: dict | None = None) -> Path:
    from motion4d.gaussians.ply import ply_property_names

    names = ply_property_names(0)
    data = np.zeros(n_data, dtype=[(n, "<f4") for n in names])
    data["rot_0"] = 1.0
    for k, v in (values or {}).items():
        data[k] = v
    header = "\n".join(["ply", "format binary_little_endian 1.0", f"element vertex {count}"]
                       + [f"property float {n}" for n in names] + ["end_header"]) + "\n"
    path = tmp_path / "g.ply"
    path.write_bytes(header.encode() + data.tobytes())
    return path


@pytest.mark.parametrize("count, match", [
    ("0", "says 0 vertices"), ("-3", "says -3 vertices"), ("10000000000", "says 10000000000 vertices"),
    ("abc", "count of 'abc', not an integer"), ("", "malformed PLY header line"), ("5", "truncated PLY"),
])
def test_ply_vertex_counts(tmp_path, count, match):
    with pytest.raises(ValueError, match=match):
        load_ply(_ply(tmp_path, count))


@pytest.mark.parametrize("values, match", [
    ({"x": float("nan")}, "non-finite 'x'"), ({"scale_0": float("inf")}, "non-finite 'scale_0'"),
    ({"scale_0": 1e30}, "'scale_0' \\(a log-scale\\) reaches 1e\\+30"),
])
def test_ply_values_that_render_blank_or_crash(tmp_path, values, match):
    with pytest.raises(ValueError, match=match):
        load_ply(_ply(tmp_path, "1", values=values))
    assert len(load_ply(_ply(tmp_path, "1", values={"scale_0": -3.0}))) == 1  # an ordinary file still loads


# -- defect 9: paths taken from files ------------------------------------------------------------
def test_camera_names_cannot_leave_the_capture(tmp_path):
    import imageio.v3 as iio

    from motion4d.lift.inputs import load_input

    outside = tmp_path / "outside"
    outside.mkdir()
    for i in range(2):
        iio.imwrite(outside / f"{i:03d}.png", np.zeros((16, 16, 3), np.uint8))
    capture = tmp_path / "capture" / "inner"
    (capture / "ref").mkdir(parents=True)
    for i in range(2):
        iio.imwrite(capture / "ref" / f"{i:03d}.png", np.zeros((16, 16, 3), np.uint8))
    for bad in ("../../outside", str(outside)):
        data = _cams(name="ref")
        data["cameras"][1]["name"] = bad
        (capture / "cameras.json").write_text(json.dumps(data))
        with pytest.raises(ValueError, match="not a safe file name"):
            load_input(capture)


# -- defect 10: config files cannot run code without an opt-in ------------------------------------
def test_code_hook_from_a_config_file_needs_allow_code(tmp_path, monkeypatch, capsys):
    from motion4d.cli import main
    from motion4d.lift.config import ALLOW_CODE_ENV

    monkeypatch.delenv(ALLOW_CODE_ENV, raising=False)
    f = tmp_path / "c.yaml"
    f.write_text("input:\n  segmentation: os:system\n")
    with pytest.raises(ConfigError, match="would import and run code; pass --allow-code"):
        load_lift_config("default", file=f)
    with pytest.raises(ConfigError, match="--allow-code"):
        load_lift_config("default", data={"input": {"segmentation": "os:system"}})  # e.g. from a web form
    assert load_lift_config("default", file=f, allow_code=True).input.segmentation == "os:system"
    assert load_lift_config("default", overrides=["input.segmentation=os:system"]).input.segmentation == "os:system"
    monkeypatch.setenv(ALLOW_CODE_ENV, "1")
    assert load_lift_config("default", file=f).input.segmentation == "os:system"
    monkeypatch.delenv(ALLOW_CODE_ENV)
    assert main(["video-to-4d", str(tmp_path), "--out", str(tmp_path / "run"), "--config", str(f)]) == 2
    assert "--allow-code" in capsys.readouterr().err and not (tmp_path / "run").exists()


# -- defect 11: a short clip is not stretched silently -------------------------------------------------
def test_short_clip_stretch_warns(tmp_path):
    import imageio.v3 as iio

    from motion4d.lift.inputs import load_input

    for i in range(3):
        img = np.full((16, 16, 3), 255, np.uint8)
        img[4:12, 4:12] = (200, 0, 0)
        iio.imwrite(tmp_path / f"{i:03d}.png", img)
    cfg = load_lift_config("default", overrides=["input.num_frames=8", "input.size=16"])
    with pytest.warns(UserWarning, match="has 3 frames; input.num_frames=8 repeats some of them"):
        data = load_input(tmp_path, cfg.input, cfg.camera)
    assert data.num_frames == 8
    cfg = load_lift_config("default", overrides=["input.num_frames=0", "input.size=16"])
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert load_input(tmp_path, cfg.input, cfg.camera).num_frames == 3


def test_finite_float_cli_type():
    import argparse

    from motion4d.cli._types import finite_float, seed

    assert finite_float("1.5") == 1.5 and seed("7") == 7
    for bad in ("nan", "inf", "x"):
        with pytest.raises(argparse.ArgumentTypeError):
            finite_float(bad)
    assert math.isfinite(finite_float("-0"))
    with pytest.raises(argparse.ArgumentTypeError, match="0..4294967295"):
        seed("-1")
    assert torch.tensor(seed("4294967295")).item() == 4294967295
