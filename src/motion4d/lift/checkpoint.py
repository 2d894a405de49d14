"""Checkpoints: one safetensors file per save, written atomically, with JSON metadata.

A checkpoint holds the trainable tensors (``model.*``, ``field.*``), the Adam states
(``optim.<name>.<param index>.<key>``), and metadata (stage, step, config, optimiser hyper-
parameters). No pickles: everything is tensors plus JSON, so a checkpoint is safe to load.
"""
from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import torch

from motion4d.utils.io import atomic_path

__all__ = ["save_checkpoint", "load_checkpoint", "latest_checkpoint", "optimizer_tensors", "restore_optimizer"]

_NAME = re.compile(r"^step_(\d{6,})\.safetensors$")


def optimizer_tensors(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], list[dict]]:
    """Flatten an optimiser's state into tensors (``prefix.<index>.<key>``) and JSON param groups."""
    sd = opt.state_dict()
    tensors = {}
    for idx, state in sd["state"].items():
        for key, val in state.items():
            t = val if isinstance(val, torch.Tensor) else torch.tensor(val)
            tensors[f"{prefix}.{idx}.{key}"] = t.detach().cpu().contiguous()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, groups


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], groups: list[dict],
                      prefix: str) -> None:
    """Inverse of :func:`optimizer_tensors` (the optimiser must hold parameters of the same shapes)."""
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        idx, key = name[len(prefix) + 1:].split(".", 1)
        state.setdefault(int(idx), {})[key] = t
    fixed = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in groups]
    opt.load_state_dict({"state": state, "param_groups": fixed})


def save_checkpoint(directory: str | Path, step: int, tensors: dict[str, torch.Tensor], meta: dict[str, Any],
                    keep: int = 2) -> Path:
    """Write ``directory/step_XXXXXX.safetensors`` atomically; keep only the newest ``keep`` files."""
    from safetensors.torch import save_file

    directory = Path(directory)
    path = directory / f"step_{step:06d}.safetensors"
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp),
                  metadata={"motion4d": json.dumps(meta)})
    for old in sorted(p for p in directory.iterdir() if _NAME.match(p.name))[:-keep]:
        old.unlink(missing_ok=True)
    return path


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """``(tensors, metadata)`` of a checkpoint written by :func:`save_checkpoint`."""
    from safetensors import safe_open

    tensors = {}
    with safe_open(str(path), framework="pt") as f:
        meta = json.loads((f.metadata() or {}).get("motion4d", "{}"))
        for key in f.keys():
            tensors[key] = f.get_tensor(key)
    return tensors, meta


def latest_checkpoint(directory: str | Path) -> Path | None:
    """The newest complete checkpoint in ``directory`` (partial files are never matched)."""
    directory = Path(directory)
    if not directory.is_dir():
        return None
    found = sorted((p for p in directory.iterdir() if _NAME.match(p.name)), key=lambda p: int(_NAME.match(p.name)[1]))
    return found[-1] if found else None
