"""Scheduler-based sampler and inversion vs motion4d's former hand-written DDIM (figures in notes/video.md).

Usage: ``python benchmarks/video_scheduler_equivalence.py`` (CPU, tiny UNet3D, about a minute).
"""
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from _video_tiny import build_tiny_model, load_tiny  # noqa: E402
from test_video_sampling import Model, old_invert, old_sample  # noqa: E402

from motion4d.video.inversion import ddim_invert  # noqa: E402
from motion4d.video.sampling import denoise, initial_noise  # noqa: E402


def _timed(fn):
    t0 = time.time()
    out = fn()
    return out, time.time() - t0


def main() -> None:
    torch.set_num_threads(1)
    bb = load_tiny(build_tiny_model(Path(tempfile.mkdtemp()) / "m"))
    cond, uncond = bb.encode_prompt(["lower", "newer"]), bb.encode_prompt(["", ""])
    z = initial_noise((2, 4, 8, 16, 16), 3)
    for kind, spacing in (("epsilon", "leading"), ("v_prediction", "trailing")):
        cfg = {**bb.scheduler_config, "prediction_type": kind, "timestep_spacing": spacing, "steps_offset": 1}
        m = Model(bb.predict, cfg)
        for steps in (10, 30):
            with torch.no_grad():
                want, t_old = _timed(lambda: old_sample(m, z, cond, uncond, 12.0, steps))
                got, t_new = _timed(lambda: denoise(m, z, cond, uncond, steps=steps, guidance=12.0,
                                                    show_progress=False))
                inv_old = old_invert(m, want, cond, steps)
                inv_new = ddim_invert(m, want, cond, steps=steps, show_progress=False)
            print(f"{kind:13s} {spacing:8s} steps={steps:2d} sample max|new-old|={float((got - want).abs().max()):.2e}"
                  f" (|x|max {float(want.abs().max()):.2f}) invert max|new-old|="
                  f"{float((inv_new - inv_old).abs().max()):.2e} time old {t_old:.2f}s new {t_new:.2f}s")


if __name__ == "__main__":
    main()
