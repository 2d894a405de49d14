"""Config loading: presets, files, overrides and the errors users see."""
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import pytest

from motion4d.config import ConfigError, config_to_yaml, load_config


@dataclass
class Inner:
    iters: int = 10
    lr: float = 1e-3
    mode: Literal["rgb", "rgba"] = "rgb"


@dataclass
class Outer:
    name: str = "run"
    views: list[float] = field(default_factory=lambda: [0.0, 90.0])
    inner: Inner = field(default_factory=Inner)
    out: Path | None = None


def test_overrides_convert_types_and_nest():
    cfg = load_config(Outer, overrides=["inner.iters=20", "inner.lr=1e-2", "views=[10, 20, 30]", "out=/tmp/x"])
    assert cfg.inner.iters == 20 and cfg.inner.lr == pytest.approx(1e-2)
    assert cfg.views == [10.0, 20.0, 30.0] and cfg.out == Path("/tmp/x")
    assert cfg.inner.mode == "rgb"  # untouched defaults survive a partial section override


def test_file_then_overrides_precedence(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("name: fromfile\ninner:\n  iters: 5\n  mode: rgba\n")
    cfg = load_config(Outer, file=f, overrides=["inner.iters=7"])
    assert (cfg.name, cfg.inner.iters, cfg.inner.mode) == ("fromfile", 7, "rgba")


def test_unknown_key_names_valid_keys():
    with pytest.raises(ConfigError, match=r"unknown config key 'inner.itres'.*iters, lr, mode"):
        load_config(Outer, overrides=["inner.itres=3"])


def test_wrong_type_names_key():
    with pytest.raises(ConfigError, match=r"inner.iters must be an integer, got 'many'"):
        load_config(Outer, overrides=["inner.iters=many"])


def test_literal_lists_choices():
    with pytest.raises(ConfigError, match=r"inner.mode='rgbd' is not allowed; choose one of: rgb, rgba"):
        load_config(Outer, overrides=["inner.mode=rgbd"])


def test_malformed_override_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="key=value"):
        load_config(Outer, overrides=["iters"])
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(Outer, file=tmp_path / "nope.yaml")


def test_yaml_round_trip(tmp_path):
    cfg = load_config(Outer, overrides=["inner.iters=3", "name=x"])
    f = tmp_path / "resolved.yaml"
    f.write_text(config_to_yaml(cfg))
    assert load_config(Outer, file=f) == cfg


def test_unknown_preset_lists_available():
    with pytest.raises(ConfigError, match="unknown nothing preset 'x'"):
        load_config(Outer, preset=("nothing", "x"))



def test_several_presets_apply_in_order(tmp_path, monkeypatch):
    import motion4d.config.core as core

    (tmp_path / "grp").mkdir()
    (tmp_path / "grp" / "a.yaml").write_text("name: a\ninner:\n  iters: 1\n  mode: rgba\n")
    (tmp_path / "grp" / "b.yaml").write_text("inner:\n  iters: 2\n")
    monkeypatch.setattr(core, "preset_path", lambda group, name: tmp_path / group / f"{name}.yaml")
    cfg = load_config(Outer, preset=[("grp", "a"), ("grp", "b")], overrides=["name=c"])
    assert (cfg.name, cfg.inner.iters, cfg.inner.mode) == ("c", 2, "rgba")
