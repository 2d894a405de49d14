"""``motion4d zoo train | eval | ship``: train a tiny model on the shapes world, measure one on held-out seeds,
copy a trained one into the package."""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register"]


def _overrides(items: list[str]) -> dict:
    out = {}
    for item in items:
        if "=" not in item:
            raise ValueError(f"expected key=value, got {item!r}")
        k, v = item.split("=", 1)
        out[k.strip()] = v.strip()
    return out


def _train(args: argparse.Namespace) -> int:
    from motion4d.zoo import task_module, train

    task = task_module(args.name)
    result = train(task, args.out, _overrides(args.overrides), resume=args.resume, device=args.device,
                   threads=args.threads)
    print(json.dumps(result))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from motion4d.zoo import evaluate_model

    res = evaluate_model(args.name, args.weights, split=args.split, device=args.device, threads=args.threads,
                         overrides=_overrides(args.overrides), cache_dir=args.cache)
    if args.json:
        from motion4d.utils.io import write_json

        write_json(args.json, res)
    for k, v in res.items():
        print(f"{k:24s} {v:.4g}" if isinstance(v, float) else f"{k:24s} {v}")
    return 0


def _ship(args: argparse.Namespace) -> int:
    from motion4d.zoo import ship

    print(f"shipped {args.name} to {ship(args.name, args.source)}")
    return 0


def register(sub) -> None:
    p = sub.add_parser("zoo", help="train or evaluate the tiny models (motion4d-tiny)")
    zsub = p.add_subparsers(dest="zoo_command", metavar="ZOO_COMMAND")
    t = zsub.add_parser("train", help="train one tiny model into a run folder (resumable)")
    t.add_argument("name", help="tiny-vae, tiny-clip, tiny-t2v, ...")
    t.add_argument("--out", required=True, help="run folder (checkpoint/, model/, log.jsonl, cache/)")
    t.add_argument("--resume", action="store_true", help="continue the run in --out from its checkpoint")
    t.add_argument("--device", default="auto", help="auto | cpu | cuda[:N]")
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    t.add_argument("overrides", nargs="*", help="recipe overrides key=value (steps=, batch=, lr=, ...)")
    t.set_defaults(func=_train)
    e = zsub.add_parser("eval", help="measure a tiny model on held-out test seeds")
    e.add_argument("name")
    e.add_argument("--weights", "--model", dest="weights", default=None,
                   help="model folder, e.g. a run's model/ (default: the shipped one)")
    e.add_argument("--split", default="test", choices=("dev", "test"))
    e.add_argument("--device", default="auto")
    e.add_argument("--threads", type=int, default=1)
    e.add_argument("--json", default=None, help="also write the figures to this JSON file")
    e.add_argument("--cache", default=None, help="folder for the rendered test data (default: render each time)")
    e.add_argument("overrides", nargs="*", help="evaluation settings key=value (eval_scenes=, eval_prompts=, eval_steps=, ...)")
    e.set_defaults(func=_eval)
    s = zsub.add_parser("ship", help="copy a trained model folder into the package's built-in folder")
    s.add_argument("name")
    s.add_argument("--from", dest="source", required=True, help="the run's model/ folder")
    s.set_defaults(func=_ship)
    p.set_defaults(func=lambda a: (p.print_help(sys.stderr), 2)[1])
