"""motion4d-tiny quality table on held-out test seeds (the issue-12 targets), as a table and optionally JSON.

    python benchmarks/zoo.py                                   # every shipped tiny model
    python benchmarks/zoo.py --models tiny-vae tiny-clip --json out.json
    python benchmarks/zoo.py --weights tiny-vae=/work/zoo_runs/vae/model --split dev

Figures come from each recipe's ``evaluate`` (motion4d.zoo.<recipe>.evaluate): tiny-vae PSNR over white,
tiny-clip zero-shot colour/kind accuracy, tiny-t2v present/colour/kind/direction of generated clips,
tiny-zero123 PSNR / mask IoU of views sampled at azimuth 90/180/270 from a front view, tiny-svd the share of
clips made from unseen first frames that keep the object and move it (and the ground truth's share). Timings
are wall-clock on whatever machine runs it (it may be shared).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from motion4d.zoo import ZOO, evaluate_model, shipped_folder  # noqa: E402

# (metric, minimum) per model: the targets
TARGETS = {"tiny-vae": [("psnr_db", 30.0)],
           "tiny-clip": [("colour_acc", 0.90), ("kind_acc", 0.85)],
           "tiny-t2v": [("colour_acc", 0.80), ("kind_acc", 0.50), ("present", 0.90), ("direction_acc", 0.75)],
           "tiny-zero123": [("psnr_db", 20.0), ("mask_iou", 0.75)],
           "tiny-svd": [("keep_and_move", 0.80)]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="*", default=None, help="keys (default: every shipped model)")
    ap.add_argument("--weights", nargs="*", default=[], help="KEY=FOLDER to measure another folder")
    ap.add_argument("--split", default="test", choices=("dev", "test"))
    ap.add_argument("--device", default="auto")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--cache", default=None, help="folder to cache the rendered evaluation data in")
    ap.add_argument("--json", default=None, help="write the rows to this JSON file")
    args = ap.parse_args(argv)
    weights = dict(w.split("=", 1) for w in args.weights)
    keys = args.models or [k for k in ZOO if k in weights or (shipped_folder(k) / "zoo_recipe.json").is_file()]
    rows = []
    for key in keys:
        t0 = time.perf_counter()
        res = evaluate_model(key, weights.get(key), split=args.split, device=args.device, threads=args.threads,
                             cache_dir=args.cache)
        res["seconds"] = round(time.perf_counter() - t0, 1)
        res["targets"] = {m: {"min": lo, "value": res.get(m), "met": res.get(m) is not None and res[m] >= lo}
                          for m, lo in TARGETS.get(key, [])}
        rows.append(res)
    print(f"{'model':12s} {'metric':16s} {'value':>8s} {'target':>8s}  met")
    for r in rows:
        for m, t in r["targets"].items():
            print(f"{r['model']:12s} {m:16s} {t['value']:8.3f} {t['min']:8.3f}  {'yes' if t['met'] else 'NO'}")
    if args.json:
        from motion4d.utils.io import write_json

        write_json(args.json, rows)
        print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
