"""make_scene's options and the world CLI flags come from one dataclass (motion4d.world.SceneOptions)."""
import json
from dataclasses import fields

import pytest

from motion4d.world import SceneOptions, make_scene


def test_cli_flags_are_generated_from_scene_options(tmp_path, capsys):
    from motion4d.cli import build_parser, main

    with pytest.raises(SystemExit):
        build_parser().parse_args(["world", "make", "--help"])
    help_text = capsys.readouterr().out
    for f in fields(SceneOptions):
        if f.metadata["flag"]:
            assert f.metadata["flag"] in help_text, f.name
    assert main(["world", "make", "--seed", "3", "--out", str(tmp_path / "s"), "--frames", "3", "--size", "16",
                 "--points", "60", "--azimuth-step", "90", "--radius", "3", "--background", "0", "0.5", "1",
                 "--no-views", "--no-ply"]) == 0
    written = json.loads((tmp_path / "s" / "scene.json").read_text())
    direct = make_scene(3, num_frames=3, size=16, num_points=60, azimuths=(0.0, 90.0, 180.0, 270.0), radius=3.0,
                        background=(0.0, 0.5, 1.0))
    assert written == json.loads(json.dumps(direct.spec))


def test_scene_options_validate_and_name_unknown_keys():
    with pytest.raises(ValueError, match="unknown scene option.*num_frame; allowed: num_frames"):
        make_scene(1, num_frame=3)
    with pytest.raises(ValueError, match="background must be 3 numbers"):
        SceneOptions(background=(2.0, 0.0, 0.0))
    opts = SceneOptions(num_frames=2, size=16, num_points=60)
    assert make_scene(5, options=opts).spec == make_scene(5, num_frames=2, size=16, num_points=60).spec
