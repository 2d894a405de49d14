"""Resumable training state, one format for every trainer (the 4D lift, motion LoRA training).

Layout of a run's checkpoints (one naming scheme)::

    RUN/checkpoints/step-000100/state.safetensors    optimizer + RNG states, the trainer's tensors, JSON metadata
    RUN/checkpoints/step-000100/checkpoint.json      {"format", "step", "run", "written"}: written last
    RUN/checkpoints/step-000100/*.safetensors        anything else the trainer writes (e.g. LoRA adapters)

* Each checkpoint folder is written whole into a temporary sibling and renamed into place
  (:func:`motion4d.utils.io.atomic_dir`), so a crash never leaves a half checkpoint under its name.
* Pruning keeps the newest ``keep`` checkpoints *of the current run* (the ``run`` id in
  ``checkpoint.json``; a resumed run adopts the id of the checkpoint it resumed from), so a second run
  writing into the same folder never deletes the first run's checkpoints, nor they its own.
* No pickles: ``state.safetensors`` holds tensors only (``opt.<name>.<param index>.<key>`` for
  optimizer state, ``rng.torch``, ``rng.cuda``, ``rng.<generator name>``, plus the trainer's own keys)
  and one JSON metadata entry (``motion4d``: step, optimizer param groups, the trainer's metadata).
"""
from __future__ import annotations

import json
import re
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from motion4d.utils.io import atomic_dir, atomic_path, write_json

__all__ = ["CHECKPOINT_FORMAT", "STATE_FILE", "checkpoint_name", "optimizer_state", "restore_optimizer",
           "rng_state", "restore_rng", "save_train_state", "load_train_state", "LoadedState", "Checkpoint",
           "Checkpoints"]

CHECKPOINT_FORMAT = "motion4d.checkpoint/1"
STATE_FILE = "state.safetensors"
_MANIFEST = "checkpoint.json"
_NAME = re.compile(r"^step-(\d{6,})$")


def checkpoint_name(step: int) -> str:
    """The folder name of the checkpoint at ``step``: ``step-000100``."""
    if int(step) < 0:
        raise ValueError(f"checkpoint step must be >= 0, got {step}")
    return f"step-{int(step):06d}"


# --------------------------------------------------------------------------------------- optimizers
def optimizer_state(opt: torch.optim.Optimizer, prefix: str) -> tuple[dict[str, torch.Tensor], dict]:
    """``(tensors, meta)`` of an optimizer: ``prefix.<param index>.<key>`` tensors (CPU, contiguous) and
    JSON-able ``{"param_groups": [...], "scalars": [keys saved as 0-d]}``."""
    sd = opt.state_dict()
    tensors: dict[str, torch.Tensor] = {}
    scalars = []
    for idx, state in sd["state"].items():
        for key, value in state.items():
            t = torch.as_tensor(value)
            name = f"{prefix}.{idx}.{key}"
            if t.ndim == 0:
                scalars.append(name)
                t = t.reshape(1)
            tensors[name] = t.detach().cpu().contiguous()
    groups = [{k: (list(v) if isinstance(v, tuple) else v) for k, v in g.items()} for g in sd["param_groups"]]
    return tensors, {"param_groups": groups, "scalars": scalars}


def restore_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor], meta: dict, prefix: str) -> None:
    """Inverse of :func:`optimizer_state`; ``opt`` must hold parameters of the same shapes, in the same order."""
    scalars = set(meta.get("scalars", ()))
    state: dict[int, dict[str, torch.Tensor]] = {}
    for name, t in tensors.items():
        if not name.startswith(prefix + "."):
            continue
        idx, key = name[len(prefix) + 1:].split(".", 1)
        state.setdefault(int(idx), {})[key] = t.reshape(()) if name in scalars else t
    groups = [{k: (tuple(v) if k == "betas" else v) for k, v in g.items()} for g in meta["param_groups"]]
    opt.load_state_dict({"state": state, "param_groups": groups})


# ------------------------------------------------------------------------------------------- RNGs
def rng_state(generators: dict[str, torch.Generator] | None = None) -> dict[str, torch.Tensor]:
    """torch's global CPU (and CUDA) RNG state and each named generator's: ``rng.<name>`` tensors."""
    out = {"rng.torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        out["rng.cuda"] = torch.cuda.get_rng_state()
    for name, gen in (generators or {}).items():
        if name in ("torch", "cuda"):
            raise ValueError(f"generator name {name!r} is reserved for torch's global RNG")
        out[f"rng.{name}"] = gen.get_state()
    return out


def restore_rng(tensors: dict[str, torch.Tensor], generators: dict[str, torch.Generator] | None = None) -> None:
    """Inverse of :func:`rng_state` (a generator missing from ``tensors`` is an error)."""
    if "rng.torch" in tensors:
        torch.set_rng_state(tensors["rng.torch"])
    if "rng.cuda" in tensors and torch.cuda.is_available():
        torch.cuda.set_rng_state(tensors["rng.cuda"])
    for name, gen in (generators or {}).items():
        if f"rng.{name}" not in tensors:
            raise ValueError(f"training state has no RNG state for generator {name!r}")
        gen.set_state(tensors[f"rng.{name}"])


# ------------------------------------------------------------------------------------ state files
@dataclass
class LoadedState:
    """What :func:`load_train_state` returns: the step, the trainer's own tensors and metadata, and what it
    needs to restore optimizers built after reading the file (:meth:`restore_optimizer`)."""

    step: int
    tensors: dict[str, torch.Tensor] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    file: str = ""
    optimizer_meta: dict[str, dict] = field(default_factory=dict, repr=False)
    raw: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def restore_optimizer(self, name: str, opt: torch.optim.Optimizer) -> None:
        """Load the saved state of optimizer ``name`` into ``opt`` (same parameter shapes and order)."""
        if name not in self.optimizer_meta:
            raise ValueError(f"training state {self.file!r} has no optimizer {name!r} (it has: "
                             f"{', '.join(self.optimizer_meta) or 'none'})")
        restore_optimizer(opt, self.raw, self.optimizer_meta[name], f"opt.{name}")


def save_train_state(file: str | Path, *, step: int, optimizers: dict[str, torch.optim.Optimizer] | None = None,
                     generators: dict[str, torch.Generator] | None = None,
                     tensors: dict[str, torch.Tensor] | None = None, meta: dict[str, Any] | None = None) -> Path:
    """Atomically write optimizers (``opt.<name>.*``), RNG states (``rng.*``), the trainer's ``tensors``
    (keys must not start with ``opt.`` or ``rng.``) and JSON ``meta`` to one safetensors file."""
    from safetensors.torch import save_file

    own = dict(tensors or {})
    bad = [k for k in own if k.startswith(("opt.", "rng."))]
    if bad:
        raise ValueError(f"tensor names {bad[:3]} use the reserved prefixes 'opt.' / 'rng.'")
    out = {k: v.detach().cpu().contiguous() for k, v in own.items()}
    out.update(rng_state(generators))
    opt_meta = {}
    for name, opt in (optimizers or {}).items():
        t, m = optimizer_state(opt, f"opt.{name}")
        out.update(t)
        opt_meta[name] = m
    header = {"step": int(step), "optimizers": opt_meta, "meta": meta or {}}
    with atomic_path(file) as tmp:
        save_file(out, str(tmp), metadata={"motion4d": json.dumps(header)})
    return Path(file)


def load_train_state(file: str | Path, *, optimizers: dict[str, torch.optim.Optimizer] | None = None,
                     generators: dict[str, torch.Generator] | None = None, restore_global_rng: bool = True
                     ) -> LoadedState:
    """Read a :func:`save_train_state` file; restore ``optimizers`` and RNGs (``generators`` by name, torch's
    global RNG unless ``restore_global_rng`` is false) in place; return the rest."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            raw = (f.metadata() or {}).get("motion4d")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as e:                       # a damaged or truncated file
        raise ValueError(f"{str(file)!r} is not a readable training state ({e})") from None
    if raw is None:
        raise ValueError(f"{str(file)!r} is not a motion4d training state (no 'motion4d' metadata); it may come "
                         f"from an older version: start the run again without --resume")
    try:
        header = json.loads(raw)
        int(header["step"])
    except (ValueError, TypeError, KeyError) as e:
        raise ValueError(f"{str(file)!r} has a damaged 'motion4d' header ({e})") from None
    state = LoadedState(int(header["step"]), {k: v for k, v in tensors.items() if not k.startswith(("opt.", "rng."))},
                        header.get("meta", {}), str(file), header.get("optimizers", {}), tensors)
    for name, opt in (optimizers or {}).items():
        state.restore_optimizer(name, opt)
    rngs = {k: v for k, v in tensors.items() if k.startswith("rng.")}
    if not restore_global_rng:
        rngs = {k: v for k, v in rngs.items() if k not in ("rng.torch", "rng.cuda")}
    restore_rng(rngs, generators)
    return state


# ------------------------------------------------------------------------------------ checkpoints
@dataclass(frozen=True)
class Checkpoint:
    """One complete checkpoint folder."""

    step: int
    path: Path
    run: str
    written: int

    @property
    def state_file(self) -> Path:
        return self.path / STATE_FILE


class Checkpoints:
    """The ``checkpoints/`` folder of a run: save (atomic folder + pruning), list, latest.

    Args:
        root: the checkpoints folder (``RUN/checkpoints``).
        keep: how many of this run's newest checkpoints to keep (>= 1; 0 keeps all).
        run: this run's id (default: a fresh random id; :meth:`resume_from` adopts a checkpoint's).
    """

    def __init__(self, root: str | Path, keep: int = 2, run: str | None = None) -> None:
        if keep < 0:
            raise ValueError(f"keep must be >= 0 (0 keeps every checkpoint), got {keep}")
        self.root = Path(root)
        self.keep = int(keep)
        self.run = run or uuid.uuid4().hex

    def list(self) -> list[Checkpoint]:
        """Every complete checkpoint in the folder (any run), oldest written first."""
        if not self.root.is_dir():
            return []
        found = []
        for p in self.root.iterdir():
            m = _NAME.match(p.name)
            manifest = p / _MANIFEST
            if not (m and manifest.is_file() and (p / STATE_FILE).is_file()):
                continue
            try:
                info = json.loads(manifest.read_text())
            except (OSError, json.JSONDecodeError):
                continue
            found.append(Checkpoint(int(m[1]), p, str(info.get("run", "")), int(info.get("written", 0))))
        return sorted(found, key=lambda c: (c.written, c.step))

    def latest(self) -> Checkpoint | None:
        """The checkpoint written last (what ``--resume`` continues), or None."""
        found = self.list()
        return found[-1] if found else None

    def resume_from(self, ckpt: Checkpoint) -> None:
        """Continue ``ckpt``'s run: later saves and pruning count with its checkpoints."""
        self.run = ckpt.run

    def save(self, step: int, write: Callable[[Path], None]) -> Checkpoint:
        """Write ``root/step-NNNNNN/``: ``write(folder)`` fills a temporary folder (it must write
        ``state.safetensors``, e.g. with :func:`save_train_state`), then the manifest is added and the folder
        renamed into place. Older checkpoints of this run beyond ``keep`` are removed."""
        import shutil

        path = self.root / checkpoint_name(step)
        written = time.time_ns()
        with atomic_dir(path) as tmp:
            write(tmp)
            if not (tmp / STATE_FILE).is_file():
                raise ValueError(f"a checkpoint writer must write {STATE_FILE} into the folder it is given")
            write_json(tmp / _MANIFEST, {"format": CHECKPOINT_FORMAT, "step": int(step), "run": self.run,
                                         "written": written})
        if self.keep:
            mine = [c for c in self.list() if c.run == self.run]
            for old in mine[: max(0, len(mine) - self.keep)]:
                shutil.rmtree(old.path, ignore_errors=True)
        return Checkpoint(int(step), path, self.run, written)
