"""The output-folder rule (motion4d.utils.run_dir): a command writes only inside its own run folder."""
import json
import os
from pathlib import Path

import pytest

from motion4d.utils.run_dir import (MARKER, RunDirError, check_name, check_out_file, fingerprint, path_fingerprint,
                                    prepare_run_dir, replace_entries, safe_child)


def test_new_folder_is_created_and_marked(tmp_path):
    run = prepare_run_dir(tmp_path / "a" / "b", "world make", fingerprint(seed=1))
    assert run.state == "new" and run.path.is_dir()
    marker = json.loads((run.path / MARKER).read_text())
    assert marker["command"] == "world make" and marker["fingerprint"] == fingerprint(seed=1)


def test_foreign_folder_is_refused_and_kept(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "main.py").write_text("print(1)")
    with pytest.raises(RunDirError, match="not empty and was not made by motion4d.*--overwrite"):
        prepare_run_dir(tmp_path, "world make")
    assert not (tmp_path / MARKER).exists()
    run = prepare_run_dir(tmp_path, "world make", overwrite=True, stale=["checkpoints"])
    assert run.state == "foreign" and (tmp_path / "src" / "main.py").read_text() == "print(1)"


def test_other_command_and_fingerprint(tmp_path):
    prepare_run_dir(tmp_path / "r", "demo", fingerprint(seed=1))
    (tmp_path / "r" / "scene").mkdir()
    with pytest.raises(RunDirError, match="holds a run of 'motion4d demo'"):
        prepare_run_dir(tmp_path / "r", "world make")
    assert prepare_run_dir(tmp_path / "r", "demo", fingerprint(seed=1)).state == "same"
    with pytest.raises(RunDirError, match="earlier 'motion4d demo' run with other input.*--overwrite"):
        prepare_run_dir(tmp_path / "r", "demo", fingerprint(seed=5))
    with pytest.raises(RunDirError, match="other input or settings.*resume with the same input"):
        prepare_run_dir(tmp_path / "r", "demo", fingerprint(seed=5), resume=True)
    run = prepare_run_dir(tmp_path / "r", "demo", fingerprint(seed=5), overwrite=True, stale=["scene"])
    assert run.state == "changed" and not (tmp_path / "r" / "scene").exists()
    assert json.loads((tmp_path / "r" / MARKER).read_text())["fingerprint"] == fingerprint(seed=5)


def test_unmarked_rewrite_commands_and_legacy(tmp_path):
    prepare_run_dir(tmp_path / "g", "generate-video")
    (tmp_path / "g" / "video.mp4").write_bytes(b"x")
    assert prepare_run_dir(tmp_path / "g", "generate-video").state == "same"  # fingerprint None: rewrite freely
    (tmp_path / "old").mkdir()
    (tmp_path / "old" / "scene.json").write_text("{}")  # a folder written before markers existed
    assert prepare_run_dir(tmp_path / "old", "world make", legacy=["scene.json"]).state == "same"
    assert (tmp_path / "old" / MARKER).is_file()


@pytest.mark.parametrize("bad", [".", "/", "~", "..", "/tmp", "/home", "/usr"])
def test_dangerous_folders_are_refused(bad):
    with pytest.raises(RunDirError, match="cannot be an output folder"):
        prepare_run_dir(bad, "world make", overwrite=True)


def test_file_paths_are_refused(tmp_path):
    f = tmp_path / "notes.txt"
    f.write_text("keep")
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        prepare_run_dir(f, "world make", overwrite=True)
    with pytest.raises(RunDirError, match="is a file, not a folder"):
        prepare_run_dir(f / "sub", "world make")
    with pytest.raises(RunDirError, match="is a folder"):
        check_out_file(tmp_path, suffixes=[".png"])
    with pytest.raises(RunDirError, match="unknown suffix '.gif'"):
        check_out_file(tmp_path / "x.gif", suffixes=[".png", ".jpg"])
    assert f.read_text() == "keep"


def test_replace_entries_keeps_other_files(tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    (tmp_path / "views").mkdir()
    (tmp_path / "views" / "old.png").write_bytes(b"old")
    with replace_entries(tmp_path, ["scene.json", "views", "reference"], last="scene.json") as tmp:
        (tmp / "reference").mkdir()
        (tmp / "scene.json").write_text("{}")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt", "reference", "scene.json"]
    with pytest.raises(ValueError, match="outside the owned entries"):
        with replace_entries(tmp_path, ["scene.json"]) as tmp:
            (tmp / "notes.txt").write_text("clobber")
    assert (tmp_path / "notes.txt").read_text() == "mine"
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".partial")]


def test_names_and_children_stay_inside(tmp_path):
    assert check_name("el+00_az045") == "el+00_az045"
    for bad in ("../../x", "/etc", "a/b", "..", "", 5, "a\\b"):
        with pytest.raises(ValueError, match="not a safe file name"):
            check_name(bad)
    assert safe_child(tmp_path, "canonical.ply") == tmp_path / "canonical.ply"
    for bad in ("../x.ply", "/etc/passwd", "a/../../x"):
        with pytest.raises(ValueError, match="outside|absolute"):
            safe_child(tmp_path, bad)
    os.symlink("/etc", tmp_path / "link")
    with pytest.raises(ValueError, match="outside"):
        safe_child(tmp_path, "link/passwd")


def test_path_fingerprint_follows_content(tmp_path):
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "000.png").write_bytes(b"a")
    fp = path_fingerprint(tmp_path / "d")
    (tmp_path / "d" / ".hidden").write_bytes(b"ignored")
    assert path_fingerprint(tmp_path / "d") == fp
    (tmp_path / "d" / "000.png").write_bytes(b"b")
    assert path_fingerprint(tmp_path / "d") != fp
    assert fingerprint(a=1, b=[Path("x")]) == fingerprint(b=[Path("x")], a=1) != fingerprint(a=2, b=[Path("x")])


def test_top_level_data_folder_is_allowed_when_not_a_system_folder():
    from motion4d.utils.run_dir import check_out_dir

    assert check_out_dir("/outputs-motion4d-test") == Path("/outputs-motion4d-test")  # checked, not created
    assert not Path("/outputs-motion4d-test").exists()
