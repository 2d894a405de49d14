"""Text-to-4D benchmark: does the full route beat its ablations on held-out grammar prompts?

Each case is a shapes-world scene from the benchmark's held-out seeds: its caption is the prompt (e.g. "a red
ball bouncing"), and its reference motion clip is the reference camera's video of *another* scene whose motion
kind differs from the prompt's (so following the reference is measurable). Per case and variant:

* ``full``            --motion ref.mp4, novel-view guidance ``auto``
* ``no-motion``       no reference motion (the base model's own motion)
* ``no-novel-view``   ``lift.novel_view=none`` (the generated view only)

Scores: ``motion_err_reference`` (velocity error of the 4D result seen from the reference camera against the
reference clip, px/frame; lower is better), ``ref_psnr``, novel-view PSNR / mask IoU of the result against the
prompt's scene (``motion4d.evaluation.evaluate``), and seconds per stage. The issue's acceptance: ``full`` beats
``no-motion`` on motion agreement and ``no-novel-view`` on novel views, each on at least 9 of 12 prompts.

    PYTHONPATH=src python benchmarks/text_to_4d.py [--cases 12] [--variants full,no-motion,no-novel-view]
        [--preset quick] [--model tiny-t2v] [--out outputs/bench_t2_4d] [--json PATH] [key=value ...]

It needs a text-to-video model (``--model``; ``auto`` = ZeroScope if present, else the embedded ``tiny-t2v``).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

#: held-out seeds (disjoint from the zoo's training seeds, which start at 0; see motion4d.zoo)
FIRST_SEED = 900_000
VARIANTS = {"full": [], "no-motion": None, "no-novel-view": ["lift.novel_view=none"]}
#: motion kinds the prompt and its reference clip are drawn from (single rigid objects, large enough to measure)
MOTIONS = ("translate", "bounce", "jump", "orbit")


def make_cases(n: int, root: Path) -> list[dict]:
    """``n`` cases: the prompt's scene (ground truth) and a reference clip of another motion kind."""
    from motion4d.world import make_scene, write_scene

    cases = []
    for i in range(n):
        motion = MOTIONS[i % len(MOTIONS)]
        ref_motion = MOTIONS[(i + 1) % len(MOTIONS)]
        scene = make_scene(FIRST_SEED + 2 * i, num_objects=1, motions=motion, num_frames=8, size=64)
        ref = make_scene(FIRST_SEED + 2 * i + 1, num_objects=1, motions=ref_motion, num_frames=8, size=64)
        scene_dir = write_scene(scene, root / f"case{i:02d}" / "scene", gaussians=False, show_progress=False)
        ref_dir = write_scene(ref, root / f"case{i:02d}" / "reference", views=False, gaussians=False,
                              show_progress=False)
        cases.append({"name": f"case{i:02d}", "prompt": scene.caption, "scene": scene_dir,
                      "reference": ref_dir / "reference.mp4", "motion": motion, "reference_motion": ref_motion})
    return cases


def run_case(case: dict, variant: str, args, out: Path) -> dict:
    from motion4d.evaluation import evaluate, load_scene4d
    from motion4d.pipelines import TextTo4DPipeline, load_text_to_4d_config

    extra = VARIANTS[variant]
    motion = [] if extra is None else [str(case["reference"])]
    overrides = [f"clip.model={args.model}", *args.overrides, *(extra or [])]
    cfg = load_text_to_4d_config(case["prompt"], preset=args.preset, motion=motion or None, overrides=overrides)
    start = time.perf_counter()
    res = TextTo4DPipeline(cfg, log=lambda s: None)(out)
    seconds = time.perf_counter() - start
    novel = evaluate(load_scene4d(out), case["scene"])
    scores = json.loads((out / "scores.json").read_text())["scores"]
    if "motion_err_reference" not in scores:        # no reference given: score the result against it anyway
        from motion4d.metrics import motion_distance
        from motion4d.pipelines.stages import reference_renders

        renders = reference_renders(out)
        scores["motion_err_reference"] = motion_distance(
            renders, _clip(case["reference"], len(renders), renders.shape[1:3]))["velocity_err"]
    return {"case": case["name"], "variant": variant, "prompt": case["prompt"], **scores,
            "novel_psnr": novel["psnr"], "novel_iou": novel["mask_iou"], "seconds": round(seconds, 1),
            "stage_seconds": res.manifest.timings()}


def _clip(path, n, size):
    from motion4d.pipelines.stages import read_clip

    return read_clip(path, n, size)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=12)
    p.add_argument("--variants", default=",".join(VARIANTS))
    p.add_argument("--preset", default="quick")
    p.add_argument("--model", default="auto")
    p.add_argument("--out", default="outputs/bench_text_to_4d")
    p.add_argument("--json", default=None)
    p.add_argument("overrides", nargs="*", metavar="key=value")
    args = p.parse_args(argv)
    variants = args.variants.split(",")
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown or args.cases < 1:
        p.error(f"--variants must be among {', '.join(VARIANTS)} (got {unknown}) and --cases >= 1")
    out = Path(args.out)
    rows = []
    for case in make_cases(args.cases, out / "cases"):
        for v in variants:
            rows.append(run_case(case, v, args, out / "runs" / case["name"] / v))
            r = rows[-1]
            print(f"{r['case']} {v:<14} motion_err {r['motion_err_reference']:.3f}  novel {r['novel_psnr']:.2f} dB"
                  f"  {r['seconds']:.0f}s  {r['prompt']!r}", flush=True)
    summary = _compare(rows)
    for line in summary["lines"]:
        print(line)
    if args.json:
        Path(args.json).write_text(json.dumps({"rows": rows, "summary": summary}, indent=2, default=str))
    return 0


def _compare(rows: list[dict]) -> dict:
    by = {(r["case"], r["variant"]): r for r in rows}
    cases = sorted({r["case"] for r in rows})
    out: dict = {"lines": []}
    for other, key, better in (("no-motion", "motion_err_reference", "lower"), ("no-novel-view", "novel_psnr",
                                                                               "higher")):
        pairs = [(by[(c, "full")][key], by[(c, other)][key]) for c in cases
                 if (c, "full") in by and (c, other) in by]
        if not pairs:
            continue
        wins = sum((a < b) if better == "lower" else (a > b) for a, b in pairs)
        out[f"full_vs_{other}"] = {"metric": key, "wins": wins, "cases": len(pairs)}
        out["lines"].append(f"full beats {other} on {key} ({better} is better): {wins}/{len(pairs)}")
    return out


if __name__ == "__main__":
    sys.exit(main())
