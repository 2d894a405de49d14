"""The measured overfit check: a temporal LoRA trained on one shapes-world clip makes the tiny model's samples move
more like that clip (setup: tests/_video_overfit.py; the 16-seed figures and the benchmark behind them:
docs/benchmarks.md).

The base is the tiny v-prediction UNet3D pretrained on shapes-world scenes (tests/data/); samples start from
MotionDirector's single-video noise prior (p = 0.5, the reference inverted by the model being sampled, as
``generate-video --noise-prior`` does). From pure noise the same LoRA does not transfer the motion on this tiny model
(docs/benchmarks.md), so this test does not claim that.
"""
from pathlib import Path

import numpy as np
import pytest

from _video_overfit import evaluate, latent_motion, load_base, make_base_model, reference_latents, train_lora, \
    world_clip
from _video_tiny import load_tiny

BASE = Path(__file__).parent / "data" / "motion_overfit_base_world.safetensors"
SEEDS = [1000 + s for s in range(8)]
MAX_SHIFT = 2.0        # latent px per frame
NOISE_PRIOR = 0.5


@pytest.mark.slow
def test_temporal_lora_moves_samples_like_its_clip(tmp_path):
    from motion4d.metrics.motion import global_shifts
    from motion4d.video.lora import get_lora

    model = make_base_model(tmp_path / "model")
    bb = load_tiny(model)
    load_base(bb, BASE)
    clip, caption = world_clip()
    assert caption == "a cyan box moving to the right"
    gif, ref = reference_latents(bb, clip, tmp_path)
    ref_vx, ref_vy = global_shifts(latent_motion(ref), MAX_SHIFT).mean(0)
    assert ref_vx > 0.5 and abs(ref_vy) < 0.1          # it moves right in latent space too

    before = evaluate(bb, ref, SEEDS, MAX_SHIFT, NOISE_PRIOR)
    res = train_lora(bb, model, gif, tmp_path / "run", steps=150)
    losses = [e["loss_temporal"] for e in res.losses]
    after = evaluate(bb, ref, SEEDS, MAX_SHIFT, NOISE_PRIOR)
    get_lora(bb.unet).remove("temporal")
    removed = evaluate(bb, ref, SEEDS, MAX_SHIFT, NOISE_PRIOR)

    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])
    # measured with 2 threads: velocity_err 0.442 -> 0.327, mean vx 0.241 -> 0.356, 7 of 8 seeds closer
    assert after["velocity_err"] < 0.9 * before["velocity_err"]
    vx_before = np.mean([r["velocity"][0] for r in before["per_seed"]])
    vx_after = np.mean([r["velocity"][0] for r in after["per_seed"]])
    assert vx_after > vx_before + 0.05                   # faster to the right, towards the clip's ref_vx
    closer = sum(a["velocity_err"] < b["velocity_err"] for a, b in zip(after["per_seed"], before["per_seed"]))
    assert closer >= 5
    # removing the adapter gives the base model's samples back
    assert removed["velocity_err"] == pytest.approx(before["velocity_err"], abs=1e-5)
