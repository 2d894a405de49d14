"""Resumable training state without pickles: optimizer states and RNG states in one safetensors file.

Tensors: ``opt.<name>.<param index>.<key>`` (AdamW ``exp_avg``, ``exp_avg_sq``, ``step``), ``rng.torch``,
``rng.cuda``, ``rng.data`` (the data/noise generator). Metadata: ``step`` and, per optimizer, its ``param_groups``
(JSON, without the parameter objects) and the shapes of 0-d tensors.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from motion4d.utils.io import atomic_path

__all__ = ["save_train_state", "load_train_state"]


def save_train_state(file: str | Path, *, step: int, optimizers: dict, generator: torch.Generator,
                     extra: dict | None = None) -> Path:
    from safetensors.torch import save_file

    tensors: dict[str, torch.Tensor] = {"rng.torch": torch.get_rng_state(), "rng.data": generator.get_state()}
    if torch.cuda.is_available():
        tensors["rng.cuda"] = torch.cuda.get_rng_state()
    meta = {"step": str(step), "extra": json.dumps(extra or {})}
    for name, opt in optimizers.items():
        sd = opt.state_dict()
        scalars = []
        for idx, state in sd["state"].items():
            for key, value in state.items():
                t = torch.as_tensor(value)
                k = f"opt.{name}.{idx}.{key}"
                if t.ndim == 0:
                    scalars.append(k)
                    t = t.reshape(1)
                tensors[k] = t.detach().cpu().contiguous()
        meta[f"opt.{name}.param_groups"] = json.dumps(sd["param_groups"])
        meta[f"opt.{name}.scalars"] = json.dumps(scalars)
    with atomic_path(file) as tmp:
        save_file(tensors, str(tmp), metadata=meta)
    return Path(file)


def load_train_state(file: str | Path, *, optimizers: dict, generator: torch.Generator) -> dict:
    """Restore optimizers and RNGs in place; returns ``{"step": int, "extra": dict}``."""
    from safetensors import safe_open

    with safe_open(str(file), framework="pt") as f:
        meta = f.metadata() or {}
        tensors = {k: f.get_tensor(k) for k in f.keys()}
    torch.set_rng_state(tensors["rng.torch"])
    generator.set_state(tensors["rng.data"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    for name, opt in optimizers.items():
        groups_key = f"opt.{name}.param_groups"
        if groups_key not in meta:
            raise ValueError(f"training state {str(file)!r} has no optimizer {name!r} (it was saved by a run with "
                             f"other LoRA paths)")
        scalars = set(json.loads(meta[f"opt.{name}.scalars"]))
        state: dict[int, dict] = {}
        prefix = f"opt.{name}."
        for k, t in tensors.items():
            if not k.startswith(prefix) or k == groups_key:
                continue
            idx, key = k[len(prefix):].split(".", 1)
            state.setdefault(int(idx), {})[key] = t.reshape(()) if k in scalars else t
        opt.load_state_dict({"state": state, "param_groups": json.loads(meta[groups_key])})
    return {"step": int(meta["step"]), "extra": json.loads(meta.get("extra") or "{}")}
