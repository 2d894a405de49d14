"""``motion4d models``: every pretrained model motion4d can use, and whether it is present locally."""
from __future__ import annotations

import argparse
import json
import sys

__all__ = ["register", "model_rows"]


def model_rows() -> list[dict]:
    """One dict per row of :data:`motion4d.hub.MODELS`: key, hub_id, task, size, license, used_by, present,
    path, download."""
    from motion4d.hub import MODELS, ModelNotFoundError, resolve_pretrained

    rows = []
    for info in sorted(MODELS.values(), key=lambda m: (m.task, m.key)):
        try:
            path = str(resolve_pretrained(info.key))
        except ModelNotFoundError:
            path = None
        rows.append({"key": info.key, "hub_id": info.hub_id, "task": info.task,
                     "size": f"{info.size_gb:g} GB" if info.size_gb else "unknown",
                     "license": info.license, "used_by": info.used_by, "present": path is not None,
                     "path": path, "download": "built in" if info.builtin else info.download_command})
    return rows


def _run(args: argparse.Namespace) -> int:
    rows = model_rows()
    if args.json:
        from motion4d.utils.io import write_json

        if args.json == "-":
            print(json.dumps(rows, indent=2))
        else:
            path = write_json(args.json, rows)
            print(f"wrote {len(rows)} models to {path}")
        return 0
    from rich.console import Console
    from rich.table import Table

    table = Table(title="Models motion4d can use (nothing is downloaded at run time)", show_lines=False)
    for col in ("key", "hub id", "task", "size", "licence", "used by", "present", "download"):
        table.add_column(col, overflow="fold", no_wrap=col in ("key", "hub id", "present"))
    for r in rows:
        present = "[green]yes[/green]" if r["present"] else "[red]no[/red]"
        table.add_row(r["key"], r["hub_id"], r["task"], r["size"], r["license"], r["used_by"], present,
                      r["download"])
    console = Console(file=sys.stdout, width=max(160, Console().width))
    console.print(table)
    missing = sum(not r["present"] for r in rows)
    console.print(f"{len(rows)} models, {len(rows) - missing} present locally, {missing} missing. "
                  f"A model argument may also be a local folder in diffusers layout.")
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("models", help="list the pretrained models motion4d can use and whether they are present",
                              description="List every pretrained model motion4d can use: hub id, task, size, "
                                          "licence, the stage that uses it, whether it is present locally (Hugging "
                                          "Face cache) and the command that downloads it.")
    p.add_argument("--json", metavar="PATH", nargs="?", const="-", default=None,
                   help="write the list as JSON to PATH (or stdout with no PATH) instead of a table")
    p.set_defaults(func=_run)
