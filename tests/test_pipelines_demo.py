"""``motion4d demo``: the shipped reference clip is the render it claims to be, and the demo command runs
text-to-4d with it (on a tiny random model here; ``make demo`` runs it on the embedded tiny-t2v)."""
from __future__ import annotations

import json

import numpy as np
from motion4d.pipelines import demo
from motion4d.utils.media import read_video


def test_shipped_reference_clip_is_the_world_render_it_names():
    frames, caption = demo.render_reference_clip()
    shipped = read_video(demo.reference_clip_path(), as_uint8=True).frames
    assert shipped.shape == frames.shape == (demo.REFERENCE_FRAMES, 64, 64, 3)
    err = np.abs(shipped.astype(np.float32) - frames.astype(np.float32)).mean() / 255
    assert err < 0.02, f"the shipped clip differs from scene {demo.REFERENCE_SEED}'s render by {err:.3f}"
    assert demo.reference_clip_path().with_suffix(".txt").read_text().strip() == caption
    # the object moves: its mask centroid travels at least 4 px to the right (the caption says so)
    mask = (255 - frames.astype(int)).max(-1) > 40
    xs = [np.nonzero(m)[1].mean() for m in mask]
    assert caption.endswith("moving to the right") and xs[-1] - xs[0] > 4


def test_demo_prompt_and_reference_differ_in_object_but_share_the_motion():
    _, caption = demo.render_reference_clip()
    prompt_words, ref_words = demo.DEMO_PROMPT.split(), caption.split()
    assert prompt_words[1] != ref_words[1] and prompt_words[2] != ref_words[2]      # colour and kind
    assert demo.DEMO_PROMPT.split(" moving ")[1] == caption.split(" moving ")[1]


def test_demo_command_runs_text_to_4d_with_the_shipped_clip(tmp_path, monkeypatch):
    from _video_tiny import build_tiny_model
    from test_pipelines_text_to_4d import TOY

    from motion4d.cli import main

    model = build_tiny_model(tmp_path / "model")
    index = json.loads((model / "model_index.json").read_text())
    index["motion4d"] = {"background": [1.0, 1.0, 1.0]}         # as tiny-t2v declares its white background
    (model / "model_index.json").write_text(json.dumps(index))
    monkeypatch.chdir(tmp_path)              # --out relative to the working directory, as `make demo` passes it
    out = tmp_path / "outputs" / "demo"
    assert main(["demo", "--quick", "--threads", "1", "--out", "outputs/demo", f"clip.model={model}", *TOY]) == 0
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["route"] == "text-to-4d" and all(s["status"] == "done" for s in manifest["stages"])
    assert demo.DEMO_PROMPT in (out / "report.html").read_text()
    assert (out / "motion" / "temporal.safetensors").is_file()
    # rembg matting without the [matting] extra: one line with the install command (exit 2), not "a bug"
    args = ["demo", "--quick", "--threads", "1", "--out", str(tmp_path / "rembg"), f"clip.model={model}", *TOY,
            "lift.matting=rembg"]
    try:
        import rembg  # noqa: F401
    except ImportError:
        assert main(args) == 2
    # --seed belongs to the video-to-4d demo: one clear error, exit 2, nothing written
    assert main(["demo", "--seed", "3", "--out", str(tmp_path / "other")]) == 2
    assert not (tmp_path / "other").exists()


def test_demo_prompt_is_a_grammar_caption_so_it_has_a_ground_truth_scene():
    from motion4d.world import parse_caption

    desc = parse_caption(demo.DEMO_PROMPT)
    assert desc["objects"][0]["motion"] and "right" in str(desc["objects"][0]["direction"])
