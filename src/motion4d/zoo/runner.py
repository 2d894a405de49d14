"""One training loop for every tiny model: atomic checkpoints, exact resume, progress, CPU or CUDA.

A *task* (``motion4d.zoo.vae``, ``.clip``, ``.t2v``) provides::

    defaults: dict                        # the recipe: every key may be overridden with key=value
    build(cfg, device) -> torch.nn.Module # the trainable modules (seeded by the runner)
    prepare(cfg, model, cache_dir, device) -> data   # rendered/cached training data (any object)
    loss(cfg, model, data, generator, device) -> (loss tensor, {name: float})
    export(cfg, model, data, folder)      # the model in its diffusers/transformers folder layout
    evaluate(folder, cfg, split, device) -> {metric: float}

Run folder ``OUT``::

    OUT/config.json          the resolved recipe
    OUT/checkpoint/          model.safetensors + state.safetensors (optimizer, RNGs, step); replaced atomically
    OUT/model/               the latest export (the shippable folder)
    OUT/log.jsonl            one line per ``log_every`` steps: step, loss terms, lr, seconds
    OUT/cache/               rendered data

Exact resume: all randomness of a step comes from one CPU ``torch.Generator`` (saved with the optimizer
state), the learning rate is a pure function of the step, so ``steps=N`` in one go equals ``steps=k`` then
``--resume steps=N`` bit for bit on the same device and thread count.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path

import torch

__all__ = ["train", "lr_at", "RunExistsError", "load_checkpoint_weights", "COMMON_DEFAULTS"]

COMMON_DEFAULTS = {"steps": 1000, "batch": 16, "lr": 1e-3, "warmup": 100, "min_lr_frac": 0.05, "weight_decay": 0.0,
                   "seed": 0, "ckpt_every": 100, "log_every": 10, "grad_clip": 1.0, "precision": "fp32"}


class RunExistsError(FileExistsError, ValueError):
    """The run folder already holds a checkpoint and ``resume`` was not asked for."""


def lr_at(step: int, cfg: dict) -> float:
    """Linear warmup over ``warmup`` steps, then cosine from ``lr`` down to ``lr * min_lr_frac`` at ``steps``."""
    base, warm, total = float(cfg["lr"]), int(cfg["warmup"]), max(1, int(cfg["steps"]))
    if step < warm:
        return base * (step + 1) / warm
    p = min(1.0, (step - warm) / max(1, total - warm))
    lo = float(cfg["min_lr_frac"])
    return base * (lo + (1 - lo) * 0.5 * (1 + math.cos(math.pi * p)))


def _save_checkpoint(out: Path, model, opt, gen, step: int, cfg: dict) -> None:
    from safetensors.torch import save_file

    from motion4d.utils.io import atomic_dir
    from motion4d.utils.training_state import save_train_state

    with atomic_dir(out / "checkpoint") as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()},
                  str(tmp / "model.safetensors"), metadata={"step": str(step), "config": json.dumps(cfg)})
        save_train_state(tmp / "state.safetensors", step=step, optimizers={"main": opt}, generators={"data": gen})


def _truncate_log(file: Path, step: int) -> None:
    """Drop log lines written after the checkpoint a run resumes from (they will be written again)."""
    if file.is_file():
        from motion4d.utils.io import atomic_path

        keep = [ln for ln in file.read_text().splitlines() if ln.strip() and json.loads(ln)["step"] <= step]
        with atomic_path(file) as tmp:
            tmp.write_text("".join(ln + "\n" for ln in keep))


def load_checkpoint_weights(model, file: str | Path) -> None:
    """Load a run's ``checkpoint/model.safetensors`` into ``model`` (strict); names the file on failure."""
    from safetensors.torch import load_file

    file = Path(file)
    if not file.is_file():
        raise FileNotFoundError(f"checkpoint weights {str(file)!r} are missing")
    try:
        state = load_file(str(file))
    except Exception as exc:  # noqa: BLE001 - safetensors raises several types for a damaged file
        raise ValueError(f"checkpoint weights {str(file)!r} cannot be read ({exc})") from exc
    model.load_state_dict(state)


def train(task, out: str | Path, overrides: dict | None = None, *, resume: bool = False, device: str = "auto",
          threads: int | None = 1, show_progress: bool = True, export: bool = True) -> dict:
    """Train ``task`` into run folder ``out`` (see module docstring); returns ``{"step", "loss", "seconds"}``.

    ``resume=True`` continues from ``out/checkpoint`` (its recipe, with ``overrides`` applied on top: raising
    ``steps`` continues a finished run). Without ``resume`` an existing checkpoint is an error, not overwritten.
    """
    from motion4d.utils.device import resolve_device
    from motion4d.utils.progress import progress
    from motion4d.utils.training_state import load_train_state

    if threads:
        torch.set_num_threads(int(threads))
    dev = resolve_device(device)
    out = Path(out)
    ckpt = out / "checkpoint"
    cfg = {**COMMON_DEFAULTS, **task.defaults}
    if resume:
        if not (ckpt / "state.safetensors").is_file():
            raise FileNotFoundError(f"cannot resume: {str(ckpt / 'state.safetensors')!r} does not exist")
        cfg.update(json.loads((out / "config.json").read_text()))
    elif ckpt.exists():
        raise RunExistsError(f"{str(out)!r} already holds a training run; pass --resume to continue it "
                              f"or choose another --out")
    for key, value in (overrides or {}).items():
        if key not in cfg:
            raise ValueError(f"unknown recipe key {key!r} for {task.KEY}; known: {', '.join(sorted(cfg))}")
        cfg[key] = type(cfg[key])(value) if cfg[key] is not None and not isinstance(cfg[key], bool) else value
    out.mkdir(parents=True, exist_ok=True)
    from motion4d.utils.io import write_json

    write_json(out / "config.json", cfg)
    torch.manual_seed(int(cfg["seed"]))
    model = task.build(cfg, dev).to(dev)
    data = task.prepare(cfg, model, out / "cache", dev, show_progress)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=float(cfg["lr"]), weight_decay=float(cfg["weight_decay"]))
    gen = torch.Generator().manual_seed(int(cfg["seed"]) + 1)
    start = 0
    if resume:
        load_checkpoint_weights(model, ckpt / "model.safetensors")
        start = load_train_state(ckpt / "state.safetensors", optimizers={"main": opt}, generators={"data": gen}).step
        _truncate_log(out / "log.jsonl", start)
    steps = int(cfg["steps"])
    use_bf16 = cfg["precision"] == "bf16"
    t0, recent, last = time.time(), [], {}
    bar = progress(range(start, steps), desc=f"train {task.KEY}", total=steps, initial=start,
                   disable=None if show_progress else True)
    model.train()
    for step in bar:
        for group in opt.param_groups:
            group["lr"] = lr_at(step, cfg)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=use_bf16):
            loss, terms = task.loss(cfg, model, data, gen, dev)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        if float(cfg["grad_clip"]) > 0:
            torch.nn.utils.clip_grad_norm_(params, float(cfg["grad_clip"]))
        opt.step()
        recent.append(float(loss.detach()))
        done = step + 1
        if done % int(cfg["log_every"]) == 0 or done == steps:
            last = {"step": done, "loss": sum(recent) / len(recent), **terms, "lr": lr_at(step, cfg),
                    "seconds": round(time.time() - t0, 1)}
            recent = []
            with open(out / "log.jsonl", "a") as f:
                f.write(json.dumps(last) + "\n")
            bar.set_postfix(loss=f"{last['loss']:.4f}")
        if done % int(cfg["ckpt_every"]) == 0 or done == steps:
            _save_checkpoint(out, model, opt, gen, done, cfg)
            if export:
                model.eval()
                task.export({**cfg, "trained_steps": done}, model, data, out / "model")
                model.train()
    model.eval()
    return {"step": steps, "loss": last.get("loss"), "seconds": round(time.time() - t0, 1)}
