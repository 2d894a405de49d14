"""LoRA transfer on a shapes-world text-to-video model (issue 12: motion LoRA from pure noise, appearance LoRA).

    python benchmarks/lora_transfer.py                                 # tiny-t2v, 4 references x 8 seeds
    python benchmarks/lora_transfer.py --model FOLDER --references 2 --seeds 4 --json out.json
    python benchmarks/lora_transfer.py --quick --model TINY_FOLDER --size 32 --frames 4   # checks the script

**Motion** (pieces in motion4d.zoo.lora_eval): dev-split clips of one object moving left/right are the references;
per reference and *variant* a temporal LoRA is trained on it alone (``train-motion --preset single_video`` at the
model's size; variants: ``default`` = MotionDirector's targets, ``convs`` = ``lora.temporal_convs=true``; ``--set
KEY=VALUE`` applies to every motion LoRA, e.g. ``--set steps=300 --set lr=1e-3``). K seeds of a transfer prompt
(another colour and object; ``--verbs same`` keeps the reference's verb, ``still`` says "standing still") are
sampled from the base and from each LoRA at every ``--noise-priors`` value, and judged by the foreground-mask
centroid velocity (px/frame): ``velocity_err`` to the reference, ``direction`` (moves the reference's way by >= 0.5
px), ``vx_along`` (horizontal speed the reference's way); object masks are taken against each frame's border colour
(``--background border``, default: a weak model's background is off-white) or white. Target (issue 12, noise prior 0): velocity_err falls
>= 30% vs the base and direction >= 75%. ``colour_leak``: samples that took the reference's colour instead.
Diagnostics: ``frame_probe`` (is frame index linearly decodable at the temporal-attention inputs of the base, for
pure noise?) and ``reversal_asymmetry`` (the part of the denoiser's output that is not time-reversal-equivariant,
base and each LoRA; see motion4d.zoo.frame_probe).

**Appearance**: per reference, 4 images of one solid-colour dev object train a spatial LoRA (``--preset
multi_images``, ``--appearance-set``); K seeds of the object's caption with another colour are sampled without and
with it; ``ref_colour`` = the fraction whose main colour is the reference's. Target: >= 80%.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

VARIANTS = {"default": [], "convs": ["lora.temporal_convs=true"]}
QUICK = ["steps=2", "lora.rank=2"]          # appended to every LoRA's overrides with --quick


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def run_motion(bb, args, tmp: Path) -> dict:
    from motion4d.utils.media import read_video, write_gif
    from motion4d.utils.progress import progress
    from motion4d.video.lora import get_lora
    from motion4d.zoo import lora_eval as le
    from motion4d.zoo.frame_probe import frame_index_probe, reversal_asymmetry
    from motion4d.zoo.judge import centroid_velocity

    refs = le.motion_references(args.references, size=args.size, frames=args.frames, start=args.start,
                                cache_dir=args.cache)
    seeds = [1000 + k for k in range(args.seeds)]
    rows: dict[tuple, list[dict]] = {}
    samples: dict[str, torch.Tensor] = {}
    refs_out, asym, train = [], {v: [] for v in ["base"] + args.variants}, []
    extra = args.set + (QUICK if args.quick else [])
    sample_kw = dict(frames=args.frames, size=args.size, steps=args.steps, guidance=args.guidance)
    probe_samples = 2 if args.quick else args.probe_samples
    asym_kw = dict(samples=probe_samples, num_frames=args.frames, size=args.size,
                   timesteps=(999,) if args.quick else (999, 500, 100))

    def sample_all(variant: str, i: int, prompts: dict, ref_v, ref_lat, colour: str) -> None:
        for p in args.noise_priors:
            for verb, prompt in prompts.items():
                frames = le.sample_clips(bb, prompt, seeds, noise_prior=p, reference=ref_lat, **sample_kw)
                prompt_colour = prompt.split()[1]
                got = le.score_motion(frames, ref_v, colour, prompt_colour, background=args.background)
                rows.setdefault((variant, p, verb), []).extend({**r, "reference": i} for r in got)
                samples[f"{variant}|{p}|{verb}|{i}"] = frames

    for i, ref in enumerate(progress(refs, desc="motion references", unit="ref")):
        gif = write_gif(ref.clip, tmp / f"reference-{i}.gif", fps=8)
        seen = torch.from_numpy(read_video(gif).frames[..., :3]).float()       # what train-motion reads
        ref_v = centroid_velocity(seen, args.background)
        samples[f"reference|{i}"] = seen[None]
        ref_lat = bb.encode_frames(seen, sample=False)
        prompts = {verb: le.transfer_prompt(ref.facts, i, verb=verb) for verb in args.verbs}
        refs_out.append({"caption": ref.facts["caption"], "seed": ref.facts["seed"], "colour": ref.facts["color"],
                         "velocity": [round(v, 3) for v in ref_v], "prompts": prompts})
        _log(f"reference {i}: {ref.facts['caption']!r} (seed {ref.facts['seed']}), velocity "
             f"({ref_v[0]:+.2f}, {ref_v[1]:+.2f}) px/frame; prompts {list(prompts.values())}")
        sample_all("base", i, prompts, ref_v, ref_lat, ref.facts["color"])
        asym["base"].append(reversal_asymmetry(bb, prompt=prompts[args.verbs[0]], **asym_kw))
        for variant in args.variants:
            t0 = time.time()
            res = le.train_adapter(bb, [gif], ref.facts["caption"], tmp / f"run-{i}-{variant}",
                                   presets=["single_video"], size=args.size, frames=args.frames,
                                   overrides=VARIANTS[variant] + extra, show_progress=not args.quick)
            lora = get_lora(bb.denoiser, bb.lora_targets)
            train.append({"reference": i, "variant": variant, "seconds": round(time.time() - t0, 1),
                          "loss_temporal_first10": _mean([e.get("loss_temporal") for e in res.losses[:10]]),
                          "loss_temporal_last10": _mean([e.get("loss_temporal") for e in res.losses[-10:]])})
            with lora.disabled("spatial") if "spatial" in lora.adapters else _null():
                sample_all(variant, i, prompts, ref_v, ref_lat, ref.facts["color"])
                asym[variant].append(reversal_asymmetry(bb, prompt=prompts[args.verbs[0]], **asym_kw))
            for name in list(lora.adapters):
                lora.remove(name)
    _save_samples(args.save_samples, "motion", samples)
    probe = frame_index_probe(bb, prompt=refs_out[0]["prompts"][args.verbs[0]], samples=probe_samples,
                              num_frames=args.frames, size=args.size)
    return {"references": refs_out, "seeds": seeds, "training": train, "frame_probe": probe,
            "reversal_asymmetry": {v: {t: _mean([a[t] for a in lst]) for t in lst[0]} for v, lst in asym.items()},
            "summary": _summary(rows, args), "per_sample": {f"{v}|{p}|{verb}": r for (v, p, verb), r in rows.items()}}


def _summary(rows: dict, args) -> list[dict]:
    from motion4d.zoo.lora_eval import summarize_motion

    out = []
    for (variant, p, verb), got in rows.items():
        s = {"variant": variant, "noise_prior": p, "verb": verb, **summarize_motion(got)}
        if variant != "base":
            base = summarize_motion(rows[("base", p, verb)])["velocity_err"]
            s["err_drop"] = 1.0 - s["velocity_err"] / base if base > 0 else 0.0
            s["closer"] = sum(a["velocity_err"] < b["velocity_err"] for a, b in zip(got, rows[("base", p, verb)]))
            s["meets_target"] = bool(s["err_drop"] >= 0.30 and s["direction"] >= 0.75)
        out.append(s)
    return out


def run_appearance(bb, args, tmp: Path) -> dict:
    from motion4d.utils.media import write_png
    from motion4d.utils.progress import progress
    from motion4d.video.lora import get_lora
    from motion4d.zoo import lora_eval as le

    seeds = [2000 + k for k in range(args.seeds)]
    refs = le.appearance_references(args.appearance_refs, size=args.size, start=args.start, cache_dir=args.cache)
    out, base_hits, lora_hits, lora_prompt = [], [], [], []
    samples: dict[str, torch.Tensor] = {}
    extra = args.appearance_set + (QUICK if args.quick else [])
    for i, (images, facts) in enumerate(progress(refs, desc="appearance references", unit="ref")):
        folder = tmp / f"appearance-{i}"
        for k, img in enumerate(images):
            write_png(img, folder / f"{k:03d}.png")
        (folder / "caption.txt").write_text(facts["caption"])
        prompt = le.transfer_prompt(facts, i, verb="same", kind="same")
        kw = dict(frames=args.frames, size=args.size, steps=args.steps, guidance=args.guidance)
        frames = le.sample_clips(bb, prompt, seeds, **kw)
        base = le.score_colour(frames, facts["color"], prompt.split()[1], background=args.background)
        samples[f"base|{i}"], samples[f"images|{i}"] = frames, torch.from_numpy(images)[:, None]
        t0 = time.time()
        le.train_adapter(bb, [folder], facts["caption"], tmp / f"run-appearance-{i}", presets=["multi_images"],
                         size=args.size, frames=args.frames, overrides=extra, show_progress=not args.quick)
        seconds = round(time.time() - t0, 1)
        lora = get_lora(bb.denoiser, bb.lora_targets)
        frames = le.sample_clips(bb, prompt, seeds, **kw)
        got = le.score_colour(frames, facts["color"], prompt.split()[1], background=args.background)
        samples[f"lora|{i}"] = frames
        for name in list(lora.adapters):
            lora.remove(name)
        out.append({"caption": facts["caption"], "seed": facts["seed"], "colour": facts["color"], "prompt": prompt,
                    "base": base, "lora": got, "train_seconds": seconds})
        base_hits.append(base["ref_colour"])
        lora_hits.append(got["ref_colour"])
        lora_prompt.append(got["prompt_colour"])
    _save_samples(args.save_samples, "appearance", samples)
    rate = _mean(lora_hits)
    return {"references": out, "seeds": seeds, "base_ref_colour": _mean(base_hits), "lora_ref_colour": rate,
            "lora_prompt_colour": _mean(lora_prompt), "meets_target": bool(rate >= 0.8)}


def _save_samples(folder, name: str, clips: dict) -> None:
    """``FOLDER/<name>.npz``: every sampled clip as uint8 [K, F, H, W, 3] under ``variant|prior|verb|reference``
    (motion) or ``base|i`` / ``lora|i`` / ``images|i`` (appearance), to look at or score again."""
    if not folder:
        return
    import numpy as np

    from motion4d.utils.io import atomic_path

    Path(folder).mkdir(parents=True, exist_ok=True)
    with atomic_path(Path(folder) / f"{name}.npz", suffix=".npz") as tmp:
        np.savez_compressed(tmp, **{k: (v.clamp(0, 1) * 255).round().to(torch.uint8).numpy() for k, v in clips.items()})


def _mean(values) -> float | None:
    values = [v for v in values if v is not None]
    return round(float(sum(values) / len(values)), 4) if values else None


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


def print_tables(result: dict) -> None:
    m = result.get("motion")
    if m:
        print(f"\nmotion LoRA transfer ({result['model']}; {len(m['references'])} references x "
              f"{len(m['seeds'])} seeds; velocities in px/frame)")
        print(f"{'variant':10s}{'prior':>6s}{'verb':>6s}{'vel_err':>9s}{'drop':>7s}{'closer':>8s}{'dir':>6s}"
              f"{'vx_along':>9s}{'speed':>7s}{'present':>8s}{'leak':>6s}{'target':>8s}")
        for s in m["summary"]:
            drop = f"{100 * s['err_drop']:+.0f}%" if "err_drop" in s else ""
            closer = f"{s['closer']}/{s['n']}" if "closer" in s else ""
            ok = ("met" if s["meets_target"] else "no") if "meets_target" in s else ""
            print(f"{s['variant']:10s}{s['noise_prior']:6.2f}{s['verb']:>6s}{s['velocity_err']:9.3f}{drop:>7s}"
                  f"{closer:>8s}{s['direction']:6.2f}{s['vx_along']:+9.3f}{s['speed']:7.3f}{s['present']:8.2f}"
                  f"{s['colour_leak']:6.2f}{ok:>8s}")
        print("reversal asymmetry of the denoiser output (0: cannot prefer a direction), by timestep: " +
              "; ".join(f"{v} {a}" for v, a in m["reversal_asymmetry"].items()))
        print("frame-index probe (base, pure noise; held-out R^2 at each temporal-attention input): " +
              ", ".join(f"{r['layer']} {r['r2']:.3f}" for r in m["frame_probe"]))
    a = result.get("appearance")
    if a:
        print(f"\nappearance LoRA ({len(a['references'])} references x {len(a['seeds'])} seeds): samples in the "
              f"reference's colour {a['base_ref_colour']:.2f} (base) -> {a['lora_ref_colour']:.2f} (LoRA), "
              f"prompt's colour with LoRA {a['lora_prompt_colour']:.2f}; target 0.80: "
              f"{'met' if a['meets_target'] else 'not met'}")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="tiny-t2v", help="registry key or folder (default tiny-t2v)")
    ap.add_argument("--references", type=int, default=4, help="motion references (default 4; quick 1)")
    ap.add_argument("--appearance-refs", type=int, default=2, help="appearance references (default 2; quick 1; 0 skips)")
    ap.add_argument("--seeds", type=int, default=8, help="samples per prompt and model (default 8; quick 2)")
    ap.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=list(VARIANTS))
    ap.add_argument("--verbs", nargs="+", default=["same"], choices=["same", "still"])
    ap.add_argument("--noise-priors", type=float, nargs="+", default=[0.0, 0.5])
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="motion LoRA override")
    ap.add_argument("--appearance-set", action="append", default=[], metavar="KEY=VALUE")
    ap.add_argument("--size", type=int, default=64)
    ap.add_argument("--frames", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20, help="sampling steps (default 20; quick 2)")
    ap.add_argument("--guidance", type=float, default=4.0)
    ap.add_argument("--probe-samples", type=int, default=8)
    ap.add_argument("--background", default="border", choices=["border", "white"],
                    help="object masks against each frame's border colour (default; robust to an off-white model "
                         "background) or against white (motion4d.zoo.judge)")
    ap.add_argument("--save-samples", default=None, metavar="DIR", help="write every sampled clip to DIR/*.npz")
    ap.add_argument("--start", type=int, default=0, help="first dev-split scene searched for references")
    ap.add_argument("--cache", default=None, help="folder to cache rendered references in")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--quick", action="store_true", help="1 reference, 2 seeds, 2 LoRA steps: checks the script")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    if args.quick:
        args.references, args.seeds, args.steps = 1, 2, 2
        args.appearance_refs = min(args.appearance_refs, 1)
    for name in ("references", "seeds", "steps", "size", "frames", "threads"):
        if getattr(args, name) < 1:
            ap.error(f"--{name} must be >= 1, got {getattr(args, name)}")
    if args.appearance_refs < 0 or not all(0.0 <= p <= 1.0 for p in args.noise_priors):
        ap.error(f"--appearance-refs must be >= 0 and --noise-priors in [0, 1], got {args.appearance_refs}, "
                 f"{args.noise_priors}")
    if args.probe_samples < 2:
        ap.error(f"--probe-samples must be >= 2, got {args.probe_samples}")
    torch.set_num_threads(args.threads)
    from motion4d.video.backbones import load_backbone

    t0 = time.time()
    bb = load_backbone(args.model, device=args.device)
    bb.check_size(args.size, args.size)
    result = {"model": bb.model_id, "settings": {k: v for k, v in vars(args).items() if k != "json"}}
    with tempfile.TemporaryDirectory() as tmp:
        result["motion"] = run_motion(bb, args, Path(tmp))
        if args.appearance_refs:
            result["appearance"] = run_appearance(bb, args, Path(tmp))
    result["seconds"] = round(time.time() - t0, 1)
    print_tables(result)
    print(f"{result['seconds']} s")
    if args.json:
        from motion4d.utils.io import write_json

        write_json(args.json, result)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
