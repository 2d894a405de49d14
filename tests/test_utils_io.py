"""Atomic output helpers."""
import os
import stat

import pytest

from motion4d.utils.io import atomic_dir, atomic_path, write_json


def test_atomic_outputs_get_normal_permissions(tmp_path):
    mask = os.umask(0o022)
    try:
        f = write_json(tmp_path / "a.json", {"x": 1})
        with atomic_dir(tmp_path / "d") as d:
            (d / "x.txt").write_text("x")
    finally:
        os.umask(mask)
    assert stat.S_IMODE(f.stat().st_mode) == 0o644
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o755
    assert not list(tmp_path.glob(".*partial*"))


def test_atomic_path_leaves_nothing_on_error(tmp_path):
    target = tmp_path / "out.txt"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert not target.exists() and list(tmp_path.iterdir()) == []
