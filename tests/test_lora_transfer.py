"""benchmarks/lora_transfer.py and motion4d.zoo.lora_eval: the motion metric on constructed clips, the transfer
prompts, the reversal-symmetry argument on a tiny UNet, and --quick end to end on a tiny random model."""
from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from _video_tiny import load_tiny, moving_square_clip, single_thread, tiny_model_dir

ROOT = Path(__file__).resolve().parents[1]
_one_thread = pytest.fixture(autouse=True, scope="module")(single_thread)


def _square(dx: int, dy: int = 0, colour=(0.85, 0.12, 0.12)) -> torch.Tensor:
    return moving_square_clip(8, 64, 8, dx, dy, background=(1.0, 1.0, 1.0), colour=colour, start=(20, 24))


def test_centroid_velocity_of_a_square_at_known_speed():
    from motion4d.zoo.judge import centroid_velocity

    assert centroid_velocity(_square(3)) == pytest.approx((3.0, 0.0), abs=1e-9)
    assert centroid_velocity(_square(-2, 1)) == pytest.approx((-2.0, 1.0), abs=1e-9)
    still = _square(0)
    assert centroid_velocity(still) == pytest.approx((0.0, 0.0), abs=1e-9)
    empty = torch.ones(8, 64, 64, 3)
    assert centroid_velocity(empty) is None
    part = _square(3).clone()
    part[2:] = 1.0                                        # the object is only in frames 0 and 1
    assert centroid_velocity(part) == pytest.approx((3.0, 0.0), abs=1e-9)
    with pytest.raises(ValueError, match=r"\[F, H, W, 3\]"):
        centroid_velocity(torch.ones(8, 64, 64))


def test_border_background_measures_a_square_on_an_off_white_background():
    """A weak model's background is grey-blue, not white (tiny-t2v at step 200): against white the whole frame is
    'foreground' (no object found); against the frame's border colour the square's exact velocity comes back."""
    from motion4d.zoo.judge import border_background, centroid_velocity, object_masks

    clip = moving_square_clip(8, 64, 8, 2, 0, background=(0.62, 0.67, 0.63), colour=(0.96, 0.55, 0.08),
                              start=(20, 24))
    assert centroid_velocity(clip) is None
    assert centroid_velocity(clip, background="border") == pytest.approx((2.0, 0.0), abs=1e-9)
    assert border_background(clip).shape == (8, 1, 1, 3)
    assert int(object_masks(clip, "border")[0].sum()) == 64
    assert torch.equal(object_masks(_square(2), "border"), object_masks(_square(2), "white"))   # white: the same
    with pytest.raises(ValueError, match="'white' or 'border'"):
        object_masks(clip, "black")


def test_score_motion_against_a_reference_moving_right():
    from motion4d.zoo.lora_eval import score_motion, summarize_motion

    clips = torch.stack([_square(2), _square(-2), _square(0), torch.ones(8, 64, 64, 3)])
    rows = score_motion(clips, (2.0, 0.0), ref_colour="red", prompt_colour="blue")
    assert [r["velocity_err"] for r in rows] == pytest.approx([0.0, 4.0, 2.0, 2.0], abs=1e-9)
    assert [r["direction"] for r in rows] == [True, False, False, False]
    assert [r["vx_along"] for r in rows] == pytest.approx([2.0, -2.0, 0.0, 0.0], abs=1e-9)
    assert [r["present"] for r in rows] == [True, True, True, False]
    assert [r["colour_leak"] for r in rows] == [True, True, True, False]       # red squares: the reference's
    s = summarize_motion(rows)
    assert (s["velocity_err"], s["direction"], s["n"]) == (pytest.approx(2.0), 0.25, 4)
    left = score_motion(clips[:2], (-2.0, 0.0), "red", "red")               # a reference moving left
    assert [r["direction"] for r in left] == [False, True] and left[1]["prompt_colour"]


def test_transfer_prompts_are_grammar_captions_with_another_colour_and_object():
    from motion4d.world import parse_caption
    from motion4d.zoo.lora_eval import transfer_prompt

    facts = {"caption": "a purple and red ring moving to the right", "color": "purple", "kind": "torus",
             "noun": "ring"}
    for i in range(12):
        got = parse_caption(transfer_prompt(facts, i))["objects"][0]
        assert got["colors"][0] not in ("purple", "red") and got["kind"] != "torus"
        assert (got["motion"], got["direction"]) == (["translate"], ["right"])
    still = parse_caption(transfer_prompt(facts, 0, verb="still"))["objects"][0]
    assert still["motion"] == [] and still["verb"] == "standing still"
    same = parse_caption(transfer_prompt(facts, 3, kind="same"))["objects"][0]
    assert same["noun"] == "ring" and same["colors"][0] not in ("purple", "red")
    with pytest.raises(ValueError, match="verb must be"):
        transfer_prompt(facts, 0, verb="fast")


def test_attention_only_lora_keeps_time_reversal_symmetry_and_convs_break_it(tmp_path_factory):
    """The argument of docs/notes/lora.md on a tiny random UNet3D, whose temporal convolutions start as identities
    (diffusers zero-initialises conv4): base and attention LoRA commute with time reversal exactly, a conv LoRA
    does not."""
    from motion4d.video.lora import DualPathLoRA
    from motion4d.zoo.frame_probe import frame_index_probe, reversal_asymmetry

    bb = load_tiny(tiny_model_dir(tmp_path_factory))
    kw = dict(samples=2, num_frames=4, size=16, timesteps=(900, 300))
    assert max(reversal_asymmetry(bb, **kw).values()) < 1e-5
    lora = DualPathLoRA(bb.unet)
    torch.manual_seed(0)
    lora.add("attn", "temporal", rank=2, init="random")
    assert max(reversal_asymmetry(bb, **kw).values()) < 1e-5
    lora.add("conv", "temporal", rank=2, init="random", convs=True)
    with lora.disabled("attn"):
        assert min(reversal_asymmetry(bb, **kw).values()) > 1e-3
    with lora.disabled():
        probe = frame_index_probe(bb, samples=4, num_frames=4, size=16)
    assert probe[0]["layer"] == "transformer_in" and all(r["r2"] < 0.05 for r in probe)   # no order information


@pytest.fixture(scope="module")
def bench():
    spec = importlib.util.spec_from_file_location("bench_lora_transfer", ROOT / "benchmarks" / "lora_transfer.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_quick_run_on_a_tiny_random_model(bench, tmp_path_factory, tmp_path, capsys):
    from motion4d.world import parse_caption
    from motion4d.zoo.judge import centroid_velocity

    out = tmp_path / "lora.json"
    model = tiny_model_dir(tmp_path_factory)
    assert bench.main(["--quick", "--model", str(model), "--size", "32", "--frames", "4", "--json", str(out),
                       "--cache", str(tmp_path / "cache"), "--save-samples", str(tmp_path / "clips")]) == 0
    res = json.loads(out.read_text())
    m = res["motion"]
    ref = m["references"][0]
    prompt = parse_caption(ref["prompts"]["same"])["objects"][0]
    caption = parse_caption(ref["caption"])["objects"][0]
    assert prompt["colors"][0] not in caption["colors"] and prompt["kind"] != caption["kind"]
    assert prompt["direction"] == caption["direction"] and abs(ref["velocity"][0]) >= 0.75
    assert (ref["velocity"][0] > 0) == (caption["direction"] == ["right"])
    rows = {(s["variant"], s["noise_prior"]): s for s in m["summary"]}
    assert set(rows) == {(v, p) for v in ("base", "default", "convs") for p in (0.0, 0.5)}
    for (variant, p), s in rows.items():                      # the summary is the mean of the per-sample rows
        per = m["per_sample"][f"{variant}|{p}|same"]
        assert len(per) == 2 and s["velocity_err"] == pytest.approx(np.mean([r["velocity_err"] for r in per]))
        if variant != "base":
            base = rows[("base", p)]["velocity_err"]
            assert s["err_drop"] == pytest.approx(1 - s["velocity_err"] / base)
    assert m["reversal_asymmetry"]["default"]["999"] < 1e-5 < m["reversal_asymmetry"]["convs"]["999"]
    assert [t["variant"] for t in m["training"]] == ["default", "convs"]
    app = res["appearance"]["references"][0]
    assert parse_caption(app["prompt"])["objects"][0]["colors"][0] != app["colour"]
    with np.load(tmp_path / "clips" / "motion.npz") as z:
        assert z["default|0.0|same|0"].shape == (2, 4, 32, 32, 3) and z["reference|0"].shape == (1, 4, 32, 32, 3)
        assert len(z.files) == 1 + 3 * 2
    table = capsys.readouterr().out
    assert "motion LoRA transfer" in table and "appearance LoRA" in table
    # the reference clip the benchmark measured really moves at the velocity it reports
    from motion4d.zoo.lora_eval import motion_references

    again = motion_references(1, size=32, frames=4, cache_dir=tmp_path / "cache")[0]
    assert centroid_velocity(torch.from_numpy(again.clip)) == pytest.approx(ref["velocity"], abs=0.05)
