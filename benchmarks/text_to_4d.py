"""Text-to-4D benchmark: does the full route beat its ablations on held-out grammar prompts?

Cases (``--cases``, default 12): one-object scenes of the shapes world's *test split* (seeds ``2_000_000 + i``,
:data:`motion4d.zoo.data.SPLITS`; never tuned on), motions cycling translate, jump, bounce. The prompt is the
scene's caption (e.g. "a red ball moving to the left"); the scene is the ground truth. The reference motion clip
shows the same object doing something the prompt does not ask for, so following it is measurable against what
the base model does for the prompt: the opposite side for translate and jump, a sideways move for bounce. It is a
scene built from that counter-caption (:func:`motion4d.world.scene_from_caption`, another seed), seen from the
reference camera.

Routes (:data:`ROUTES`, one line each; a route whose ``needs`` config key does not exist is left out, said once):

* ``full``           --motion ref.mp4, novel-view guidance as configured (``auto``)
* ``no-motion``      no reference motion (the base model's own motion)
* ``no-novel-view``  ``lift.novel_view=none`` (the generated view only)
* ``video-sds``      the customized video model as SDS in the dynamic stage (``lift.video_sds``, when present)

Per case and route: the run's request scores (``scores.json``: CLIP score, zero-shot colour / kind, multi-view
consistency), motion agreement (``motion_err_ref``: velocity error against the reference clip, px/frame, lower
is better; ``motion_err_prompt``: the same against the prompt scene's own motion), novel views against the
prompt's scene (PSNR / SSIM / mask IoU over its 15 views other than the reference one) and seconds per stage.
Wins: ``full`` beats ``no-motion`` on ``motion_err_ref`` and ``no-novel-view`` on novel PSNR (the issue asks for
9 of 12 each).

    PYTHONPATH=src python benchmarks/text_to_4d.py [--cases 12] [--routes full,no-motion,no-novel-view]
        [--model tiny-t2v | FOLDER] [--preset quick] [--out outputs/bench_text_to_4d] [--json PATH] [key=value ...]
    PYTHONPATH=src python benchmarks/text_to_4d.py --quick --json quick.json     # smoke run: random tiny models

``--model`` is any TextToVideoSD folder (or registry key); the default is the embedded ``tiny-t2v``. ``--quick``
builds random tiny models (:mod:`motion4d.guidance.tiny`: a text-to-video model with a white background and a
Zero123 for novel views), 2 cases and toy sizes: it checks the code path, its figures mean nothing.
Every run folder resumes: running the same command again continues where it stopped.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path

CASE_MOTIONS = ("translate", "jump", "bounce")
WHITE = (1.0, 1.0, 1.0)


@dataclass(frozen=True)
class Route:
    """A route or ablation: with the reference motion or not, extra ``key=value`` overrides of the text-to-4d
    config, extra lift overrides, and a config key it needs (left out when the config has no such key)."""

    motion: bool = True
    overrides: tuple[str, ...] = ()
    lift: tuple[str, ...] = ()
    needs: str | None = None


ROUTES: dict[str, Route] = {
    "full": Route(),
    "no-motion": Route(motion=False),
    "no-novel-view": Route(overrides=("lift.novel_view=none",)),
    "video-sds": Route(overrides=("lift.video_sds=true",), needs="lift.video_sds"),
}

#: toy sizes of --quick (as the pipeline tests use)
QUICK = {"top": ["clip.frames=4", "clip.width=32", "clip.height=32", "clip.steps=2", "customize.steps=2",
                 "lift.preset=demo"],
         "customize": ["lora.rank=2", "checkpoint_every=1"],
         "lift": ["static.iters=3", "static.num_points=300", "dynamic.iters=2", "input.size=32",
                  "output.mesh_resolution=12", "output.turntable_views=3", "output.video_size=32",
                  "output.preview_every=0", "output.checkpoint_every=1", "guidance.render_size=16"]}


def has_key(dotted: str) -> bool:
    """Whether the text-to-4d config has the (dotted) key."""
    from motion4d.pipelines.config import TextTo4DConfig

    node = TextTo4DConfig()
    for part in dotted.split("."):
        if not hasattr(node, part):
            return False
        node = getattr(node, part)
    return True


def available_routes(routes: dict[str, Route] | None = None, log=print) -> dict[str, Route]:
    """The routes whose ``needs`` key exists in the text-to-4d config (each other one said in one line)."""
    routes = ROUTES if routes is None else routes
    out = {k: r for k, r in routes.items() if r.needs is None or has_key(r.needs)}
    for k, r in routes.items():
        if k not in out:
            log(f"route {k!r} left out: the text-to-4d config has no {r.needs!r} key (yet)")
    return out


def counter_caption(caption: str, i: int) -> str:
    """The caption with a motion the prompt does not ask for (module docstring)."""
    from motion4d.world import caption_from_description, parse_caption

    d = parse_caption(caption)
    o = dict(d["objects"][0])
    flip = {"left": "right", "right": "left"}
    if o["motion"] in (["translate"], ["jump"]) and o["direction"] and o["direction"][0] in flip:
        o["verb"] = o["verb"].replace(o["direction"][0], flip[o["direction"][0]])
    else:
        o["verb"] = "moving to the " + ("left" if i % 2 else "right")
    return caption_from_description({"num_objects": 1, "objects": [o]})


def make_cases(n: int, root: Path, frames: int, size: int) -> list[dict]:
    """``n`` cases: the prompt's scene (ground truth) and a reference clip of a counter-motion."""
    from motion4d.world import make_scene, scene_from_caption, write_scene
    from motion4d.zoo.data import split_seed

    cases = []
    for i in range(n):
        seed = split_seed("test", i)
        scene = make_scene(seed, num_objects=1, motions=CASE_MOTIONS[i % len(CASE_MOTIONS)], num_frames=frames,
                           size=size, background=WHITE)
        counter = counter_caption(scene.caption, i)
        ref = scene_from_caption(counter, seed=seed + 50_000, num_frames=frames, size=size, background=WHITE)
        case_dir = root / f"case{i:02d}"
        scene_dir = write_scene(scene, case_dir / "scene", gaussians=False, show_progress=False)
        ref_dir = write_scene(ref, case_dir / "reference", views=False, gaussians=False, show_progress=False)
        cases.append({"name": f"case{i:02d}", "seed": seed, "prompt": scene.caption, "reference_caption": counter,
                      "scene": scene_dir, "reference": ref_dir / "reference.mp4"})
    return cases


def _quick_models(root: Path) -> tuple[str, str]:
    """(text-to-video folder, zero123 folder) of random tiny models, built once into ``root``."""
    import shutil

    from motion4d.guidance.tiny import build_tiny_t2v, tiny_checkpoint

    t2v, z123 = root / "tiny-t2v-random", root / "zero123-random"
    if not (t2v / "model_index.json").is_file():
        build_tiny_t2v(t2v, text_dim=4, vae_blocks=2, name_or_path="motion4d-bench/random-tiny-t2v")
        index = json.loads((t2v / "model_index.json").read_text())
        index["motion4d"] = {"background": list(WHITE)}
        (t2v / "model_index.json").write_text(json.dumps(index))
    if not (z123 / "model_index.json").is_file():
        shutil.copytree(tiny_checkpoint("zero123"), z123)
    return str(t2v), str(z123)


def run_case(case: dict, name: str, route: Route, args, out: Path) -> dict:
    from motion4d.evaluation import evaluate, load_scene4d, motion_agreement
    from motion4d.evaluation.request import read_clip, reference_camera
    from motion4d.pipelines import TextTo4DPipeline, load_text_to_4d_config

    top, lift = list(args.base_top), list(args.base_lift)
    overrides = [f"clip.model={args.model}", *top, *route.overrides, *args.overrides]
    if lift or route.lift:
        overrides.append(f"lift.overrides=[{', '.join(_item(x) for x in lift + list(route.lift))}]")
    if args.customize:
        overrides.append(f"customize.overrides=[{', '.join(args.customize)}]")
    motion = [str(case["reference"])] if route.motion else None
    cfg = load_text_to_4d_config(case["prompt"], preset=args.preset, motion=motion, overrides=overrides)
    start = time.perf_counter()
    res = TextTo4DPipeline(cfg, log=lambda s: None)(out)
    seconds = time.perf_counter() - start
    result = load_scene4d(out)
    cam = reference_camera(result)
    size = (cam.height, cam.width)
    ref = motion_agreement(result, read_clip(case["reference"], result.num_frames, size))
    own = motion_agreement(result, read_clip(Path(case["scene"]) / "reference.mp4", result.num_frames, size))
    names = [v["name"] for v in json.loads((Path(case["scene"]) / "cameras.json").read_text())["cameras"]]
    novel = evaluate(result, case["scene"], views=[v for v in names if v not in ("ref", "el+00_az000")],
                     background=WHITE, optional=False)
    data = json.loads((out / "scores.json").read_text())
    return {"case": case["name"], "route": name, "prompt": case["prompt"], "run": str(out),
            "novel_view_guidance": res.manifest.stages["lift"].outputs.get("guidance"),
            "motion_err_ref": ref["velocity_err"], "motion_err_prompt": own["velocity_err"],
            "novel_psnr": novel["psnr"], "novel_ssim": novel["ssim"], "novel_iou": novel["mask_iou"],
            "scores": data["scores"], "skipped": data["skipped"], "seconds": round(seconds, 1),
            "stage_seconds": res.manifest.timings()}


def _item(text: str) -> str:
    """A ``key=value`` as an item of a YAML flow list (quoted when the value is itself a mapping or a list)."""
    return json.dumps(text) if any(c in text for c in "{}[],") else text


#: (route, baseline, metric, which is better): "route beats baseline on metric" is counted over the cases
COMPARISONS = (("full", "no-motion", "motion_err_ref", "lower"), ("full", "no-novel-view", "novel_psnr", "higher"),
               ("full", "no-novel-view", "novel_iou", "higher"), ("video-sds", "full", "motion_err_ref", "lower"),
               ("video-sds", "full", "novel_psnr", "higher"))


def compare(rows: list[dict]) -> dict:
    """Wins of each route of :data:`COMPARISONS` over its baseline, over the cases both ran (ties are no win)."""
    by = {(r["case"], r["route"]): r for r in rows}
    cases = sorted({r["case"] for r in rows})
    out: dict = {"lines": []}
    for route, base, key, better in COMPARISONS:
        pairs = [(by[(c, route)][key], by[(c, base)][key]) for c in cases if (c, route) in by and (c, base) in by]
        if not pairs:
            continue
        wins = sum((a < b) if better == "lower" else (a > b) for a, b in pairs)
        ties = sum(a == b for a, b in pairs)
        out[f"{route}_vs_{base}_{key}"] = {"metric": key, "better": better, "wins": wins, "ties": ties,
                                           "cases": len(pairs)}
        out["lines"].append(f"{route} beats {base} on {key} ({better} is better): {wins}/{len(pairs)}"
                            + (f" ({ties} ties)" if ties else ""))
    return out


def _fmt(v, spec=".3f") -> str:
    return "-" if v is None else format(v, spec)


def table(rows: list[dict]) -> list[str]:
    head = (f"{'case':<7}{'route':<15}{'clip':>6}{'col':>6}{'kind':>6}{'mot_ref':>9}{'mot_prm':>9}{'PSNR':>7}"
            f"{'IoU':>6}{'mvArea':>7}{'mvCol':>7}{'sec':>6}  motion/generate/lift")
    lines = [head]
    for r in rows:
        s, t = r["scores"], r["stage_seconds"]
        stages = "/".join(_fmt(t.get(k), ".0f") for k in ("motion", "generate", "lift"))
        lines.append(f"{r['case']:<7}{r['route']:<15}{_fmt(s.get('clip_score'), '6.3f')}"
                     f"{_fmt(s.get('clip_colour_acc'), '6.2f')}{_fmt(s.get('clip_kind_acc'), '6.2f')}"
                     f"{r['motion_err_ref']:9.3f}{r['motion_err_prompt']:9.3f}{r['novel_psnr']:7.2f}"
                     f"{r['novel_iou']:6.3f}{_fmt(s.get('mv_area_ratio'), '7.3f')}"
                     f"{_fmt(s.get('mv_colour_dist'), '7.3f')}"
                     f"{r['seconds']:6.0f}  {stages}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--cases", type=int, default=None, help="prompts (default 12; 2 with --quick)")
    p.add_argument("--routes", default=None, help=f"comma list among {', '.join(ROUTES)} (default: all available)")
    p.add_argument("--preset", default="quick")
    p.add_argument("--model", default="tiny-t2v", help="text-to-video model: registry key or TextToVideoSD folder")
    p.add_argument("--quick", action="store_true", help="smoke run on random tiny models at toy sizes")
    p.add_argument("--out", default="outputs/bench_text_to_4d")
    p.add_argument("--json", default=None)
    p.add_argument("overrides", nargs="*", metavar="key=value", help="more text-to-4d overrides, for every route")
    args = p.parse_args(argv)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()          # one "Loading weights" bar per model load buries the table
    except ImportError:
        pass
    cases_n = args.cases if args.cases is not None else (2 if args.quick else 12)
    available = available_routes()
    names = args.routes.split(",") if args.routes else list(available)
    unknown = [n for n in names if n not in available]
    if unknown or cases_n < 1:
        p.error(f"--routes must be among {', '.join(available)} (got {unknown}) and --cases >= 1")
    out = Path(args.out)
    args.base_top, args.base_lift, args.customize = [], [], []
    frames, size = 8, 64
    if args.quick:
        args.model, z123 = _quick_models(out / "quick-models")
        args.base_top = QUICK["top"] + [f"lift.novel_view={z123}", "lift.novel_view_options={height: 8, width: 8}"]
        args.base_lift = list(QUICK["lift"])
        args.customize = QUICK["customize"]
        frames, size = 4, 32
    cases = make_cases(cases_n, out / "cases", frames, size)
    for c in cases:
        print(f"{c['name']}  {c['prompt']!r}  reference: {c['reference_caption']!r}", flush=True)
    rows = []
    for case in cases:
        for name in names:
            rows.append(run_case(case, name, available[name], args, out / "runs" / case["name"] / name))
            r = rows[-1]
            print(f"{r['case']} {name:<14} motion_err_ref {r['motion_err_ref']:.3f}  novel {r['novel_psnr']:.2f} dB  "
                  f"clip {_fmt(r['scores'].get('clip_score'))}  {r['seconds']:.0f}s", flush=True)
    summary = compare(rows)
    print("\n".join(table(rows)))
    print("\n".join(summary["lines"]))
    if args.json:
        from motion4d.utils.io import write_json

        write_json(args.json, {"model": args.model, "quick": args.quick, "preset": args.preset, "routes": names,
                               "cases": [{k: str(v) for k, v in c.items()} for c in cases], "rows": rows,
                               "summary": {k: v for k, v in summary.items() if k != "lines"},
                               "lines": summary["lines"]})
    return 0


if __name__ == "__main__":
    sys.exit(main())
