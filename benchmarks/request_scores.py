"""Do the request scores tell a right 4D result from a wrong one? Calibration on ground truth.

For held-out one-object scenes of the shapes world's test split (seeds ``2_000_000 + i``, motions cycling
translate, jump, bounce; 8 frames of 64 px), the prompt is the scene's caption and the "4D result" is:

* ``truth``     the scene itself (what a perfect text-to-4d run would give);
* ``frozen``    the scene held at t = 0 (no motion);
* ``flat``      every Gaussian moved onto the plane z = 0 (a cut-out facing the reference camera);
* ``recolour``  the scene with its colour channels rotated (RGB -> BRG: right shape and motion, wrong colour).

Each is scored by :func:`motion4d.evaluation.score_request` against its prompt, with the scene's own reference
clip (``motion_err_reference``) and, for ``truth``, also against a counter-motion clip (the object moving the
other way / sideways, as in ``benchmarks/text_to_4d.py``): ``motion_err_counter``.

    PYTHONPATH=src python benchmarks/request_scores.py [--cases 12] [--json PATH] [--out DIR]
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

MOTIONS = ("translate", "jump", "bounce")
KEYS = ("clip_score", "clip_colour_acc", "clip_kind_acc", "mv_area_ratio", "mv_colour_dist", "motion_err_reference",
        "gt_psnr", "gt_mask_iou")


class Lifted:
    """A Scene4D plus the reference camera a lift result records."""

    def __init__(self, scene, camera, edit=None):
        self.scene, self.edit, self.path = scene, edit, None
        self.num_frames = scene.num_frames
        self.metadata = {"reference_camera": camera.to_dict()}

    def times(self):
        from motion4d.scene4d import frame_times

        return frame_times(self.num_frames)

    def gaussians_at(self, t):
        g = self.scene.gaussians_at(t)
        return g if self.edit is None else self.edit(g)


def _flat(g):
    from motion4d.gaussians import Gaussians

    means = g.means.clone()
    means[:, 2] = 0.0
    return Gaussians(means, g.quats, g.scales, g.opacities, g.sh)


def _recolour(g):
    from motion4d.gaussians import Gaussians

    return Gaussians(g.means, g.quats, g.scales, g.opacities, g.sh[..., [2, 0, 1]])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=12)
    p.add_argument("--out", default="outputs/bench_request_scores")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
    except ImportError:
        pass
    from motion4d.evaluation import score_request
    from motion4d.evaluation.views import render_views
    from motion4d.world import FrozenScene, caption_from_description, make_scene, parse_caption, scene_from_caption
    from motion4d.zoo.data import split_seed

    out = Path(args.out)
    rows = []
    start = time.perf_counter()
    for i in range(args.cases):
        seed = split_seed("test", i)
        scene = make_scene(seed, num_objects=1, motions=MOTIONS[i % 3], num_frames=8, size=64,
                           background=(1.0, 1.0, 1.0))
        cam = scene.cameras()[0]
        clip = render_views(scene, cam, scene.frame_times(), (1.0, 1.0, 1.0))[0][0].numpy()
        o = dict(parse_caption(scene.caption)["objects"][0])
        flip = {"left": "right", "right": "left"}
        o["verb"] = (o["verb"].replace(o["direction"][0], flip[o["direction"][0]]) if o["direction"]
                     else "moving to the " + ("left" if i % 2 else "right"))
        counter = scene_from_caption(caption_from_description({"num_objects": 1, "objects": [o]}), seed=seed + 50_000,
                                     num_frames=8, size=64, background=(1.0, 1.0, 1.0))
        counter_clip = render_views(counter, cam, counter.frame_times(), (1.0, 1.0, 1.0))[0][0].numpy()
        variants = {"truth": Lifted(scene, cam), "frozen": Lifted(FrozenScene(scene, 0.0), cam),
                    "flat": Lifted(scene, cam, _flat), "recolour": Lifted(scene, cam, _recolour)}
        for name, result in variants.items():
            r = score_request(result, scene.caption, reference_clip=clip,
                              scene_dir=out / f"case{i:02d}" / "prompt_scene")
            row = {"case": i, "seed": seed, "prompt": scene.caption, "variant": name,
                   **{k: r["scores"].get(k) for k in KEYS}}
            if name == "truth":
                from motion4d.evaluation import motion_agreement

                row["motion_err_counter"] = motion_agreement(result, counter_clip)["velocity_err"]
            rows.append(row)
            print(f"case{i:02d} {name:<9}" + " ".join(f"{k} {_f(row[k])}" for k in KEYS), flush=True)
    summary = {}
    for name in ("truth", "frozen", "flat", "recolour"):
        sel = [r for r in rows if r["variant"] == name]
        summary[name] = {k: float(np.mean([r[k] for r in sel if r[k] is not None])) for k in KEYS
                         if any(r[k] is not None for r in sel)}
    truth = [r for r in rows if r["variant"] == "truth"]
    summary["truth"]["motion_err_counter"] = float(np.mean([r["motion_err_counter"] for r in truth]))
    wins = {f"truth_vs_{name}": {k: sum(_better(k, t[k], o[k]) for t, o in zip(truth, [r for r in rows
                                                                                    if r["variant"] == name]))
                                 for k in KEYS} for name in ("frozen", "flat", "recolour")}
    wins["motion_own_vs_counter"] = sum(t["motion_err_reference"] < t["motion_err_counter"] for t in truth)
    print(f"\nmeans over {args.cases} cases ({time.perf_counter() - start:.0f} s)")
    print(f"{'variant':<10}" + "".join(f"{k[:14]:>15}" for k in KEYS))
    for name, vals in summary.items():
        print(f"{name:<10}" + "".join(f"{_f(vals.get(k)):>15}" for k in KEYS))
    print(f"truth: motion_err against its own clip {summary['truth']['motion_err_reference']:.3f}, against the "
          f"counter-motion clip {summary['truth']['motion_err_counter']:.3f} px/frame "
          f"(own lower on {wins['motion_own_vs_counter']}/{len(truth)})")
    for key, vals in wins.items():
        if isinstance(vals, dict):
            print(f"{key}: truth better on " + ", ".join(f"{k} {v}/{len(truth)}" for k, v in vals.items()))
    if args.json:
        from motion4d.utils.io import write_json

        write_json(args.json, {"rows": rows, "means": summary, "wins": wins})
    return 0


def _better(key: str, a, b) -> bool:
    if a is None or b is None:
        return False
    lower = key in ("mv_colour_dist", "motion_err_reference")
    return a < b if lower else a > b


def _f(v) -> str:
    return "-" if v is None else f"{v:.3f}"


if __name__ == "__main__":
    sys.exit(main())
