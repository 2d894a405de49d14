"""Shipped weights: integrity check with errors that name the file, and evaluation of a model folder."""
from __future__ import annotations

import json
from pathlib import Path

__all__ = ["ShippedWeightsError", "check_shipped", "evaluate_model", "ship"]


class ShippedWeightsError(FileNotFoundError):
    """A tiny model's built-in folder is missing a file, or a file in it is damaged."""


def check_shipped(key: str, folder: str | Path | None = None) -> Path:
    """Check that ``folder`` (default: the built-in folder of ``key``) holds a readable model: every JSON
    parses and every ``*.safetensors`` header reads. Returns the folder; raises :class:`ShippedWeightsError`
    naming the missing or damaged file."""
    from motion4d.zoo.registry import shipped_folder, task_module

    task = task_module(key)
    folder = Path(folder) if folder is not None else shipped_folder(key)
    for rel in task.FILES:
        f = folder / rel
        if not f.is_file():
            raise ShippedWeightsError(f"{key}: file {str(f)!r} is missing; retrain with 'motion4d zoo train {key} "
                                      f"--out DIR' and copy DIR/model there (see the README's zoo section)")
        try:
            if f.suffix == ".json":
                json.loads(f.read_text())
            elif f.suffix == ".safetensors":
                from safetensors import safe_open

                with safe_open(str(f), framework="pt") as sf:
                    for k in sf.keys():
                        sf.get_slice(k)
        except Exception as exc:  # noqa: BLE001 - any parse failure means a damaged file
            raise ShippedWeightsError(f"{key}: file {str(f)!r} is damaged ({type(exc).__name__}: {exc})") from exc
    return folder


def evaluate_model(key: str, weights: str | Path | None = None, *, split: str = "test", device: str = "auto",
                   threads: int | None = 1, cache_dir: str | Path | None = None, overrides: dict | None = None) -> dict:
    """Quality figures of ``key`` (its recipe's ``evaluate``) for the folder ``weights`` (default: shipped), with
    the recipe's evaluation settings (``eval_*``) optionally overridden."""
    import torch

    from motion4d.utils.device import resolve_device
    from motion4d.zoo.registry import task_module

    if threads:
        torch.set_num_threads(int(threads))
    task = task_module(key)
    folder = check_shipped(key, weights)
    cfg_file = folder / "zoo_recipe.json"
    cfg = {**task.defaults, **(json.loads(cfg_file.read_text()) if cfg_file.is_file() else {})}
    for k, v in (overrides or {}).items():
        if k not in cfg:
            raise ValueError(f"unknown setting {k!r} for {key}; known: {', '.join(sorted(cfg))}")
        cfg[k] = type(cfg[k])(v) if cfg[k] is not None else v
    with torch.no_grad():
        return {"model": key, "split": split, **task.evaluate(folder, cfg, split, resolve_device(device),
                                                               cache_dir=cache_dir)}


def ship(key: str, source: str | Path) -> Path:
    """Copy a trained model folder (a run's ``model/``) into the built-in folder of ``key``, after checking it
    with :func:`check_shipped`; the built-in folder is replaced atomically. Returns the built-in folder."""
    import shutil

    from motion4d.utils.io import atomic_dir
    from motion4d.zoo.registry import shipped_folder

    src = check_shipped(key, source)
    dest = shipped_folder(key)
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_dir(dest) as tmp:
        shutil.copytree(src, tmp, dirs_exist_ok=True)
    return dest
