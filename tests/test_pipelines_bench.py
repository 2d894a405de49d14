"""benchmarks/text_to_4d.py: held-out cases with a counter-motion reference, data-driven routes, wins, --quick."""
from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_text_to_4d", ROOT / "benchmarks" / "text_to_4d.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module                 # dataclasses look their module up while it loads
    spec.loader.exec_module(module)
    return module


def test_cases_are_test_split_prompts_with_a_reference_that_moves_otherwise(bench, tmp_path):
    from motion4d.metrics import motion_distance
    from motion4d.evaluation.request import read_clip
    from motion4d.world import parse_caption
    from motion4d.zoo.data import SPLITS

    cases = bench.make_cases(3, tmp_path, frames=4, size=32)
    for case in cases:
        assert SPLITS["test"][0] <= case["seed"] < SPLITS["test"][1]
        want, ref = parse_caption(case["prompt"])["objects"][0], parse_caption(case["reference_caption"])["objects"][0]
        assert (want["motion"], want["direction"]) != (ref["motion"], ref["direction"])
        assert (want["noun"], want["colors"]) == (ref["noun"], ref["colors"])
        own = read_clip(Path(case["scene"]) / "reference.mp4", 4, (32, 32))
        other = read_clip(case["reference"], 4, (32, 32))
        assert motion_distance(own, other)["velocity_err"] > 1.0          # the two clips move differently
    assert [parse_caption(c["prompt"])["objects"][0]["motion"] for c in cases] == [["translate"], ["jump"],
                                                                                 ["bounce"]]
    assert bench.counter_caption("a red ball bouncing", 1) == "a red ball moving to the left"
    assert bench.counter_caption("a red ball jumping to the left", 0) == "a red ball jumping to the right"


def test_routes_are_data_and_a_route_needing_a_missing_key_is_left_out(bench):
    said = []
    routes = {"full": bench.Route(), "matting": bench.Route(needs="lift.matting"),
              "future": bench.Route(overrides=("lift.future_thing=true",), needs="lift.future_thing")}
    assert list(bench.available_routes(routes, log=said.append)) == ["full", "matting"]
    assert len(said) == 1 and "'lift.future_thing'" in said[0]
    assert bench.has_key("lift.novel_view") and not bench.has_key("lift.novel_view.x")


def test_wins_count_each_comparison_over_the_cases_both_routes_ran(bench):
    def row(case, route, err, psnr):
        return {"case": case, "route": route, "motion_err_ref": err, "novel_psnr": psnr, "novel_iou": 0.5}

    rows = [row("a", "full", 1.0, 20.0), row("a", "no-motion", 2.0, 21.0), row("a", "no-novel-view", 1.0, 19.0),
            row("b", "full", 3.0, 20.0), row("b", "no-motion", 2.0, 20.0), row("c", "full", 1.0, 20.0)]
    s = bench.compare(rows)
    assert s["full_vs_no-motion_motion_err_ref"] == {"metric": "motion_err_ref", "better": "lower", "wins": 1,
                                                     "ties": 0, "cases": 2}
    assert s["full_vs_no-novel-view_novel_psnr"]["wins"] == 1 and s["full_vs_no-novel-view_novel_iou"]["ties"] == 1
    assert "video-sds_vs_full_motion_err_ref" not in s


def test_quick_smoke_run_writes_the_table_and_json(bench, tmp_path, capsys):
    out = tmp_path / "bench.json"
    assert bench.main(["--quick", "--cases", "1", "--routes", "full,no-motion", "--out", str(tmp_path / "b"),
                       "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert data["quick"] and data["routes"] == ["full", "no-motion"] and len(data["rows"]) == 2
    for r in data["rows"]:
        assert {"clip_score", "mv_area_ratio", "gt_psnr"} <= set(r["scores"])
        assert all(math.isfinite(r[k]) for k in ("motion_err_ref", "motion_err_prompt", "novel_psnr", "novel_iou"))
        assert r["stage_seconds"]["lift"] is not None and r["novel_view_guidance"] == "zero123"
    full, base = data["rows"]
    assert full["scores"]["motion_err_reference"] == pytest.approx(full["motion_err_ref"], rel=1e-6)
    win = data["summary"]["full_vs_no-motion_motion_err_ref"]
    assert win["cases"] == 1 and win["wins"] == int(full["motion_err_ref"] < base["motion_err_ref"])
    printed = capsys.readouterr().out
    assert "full beats no-motion on motion_err_ref" in printed and "motion/generate/lift" in printed
