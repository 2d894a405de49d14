"""The engine behind :func:`motion4d.lift.lift`: runs the stages (:mod:`motion4d.lift.stages`) in order and
owns checkpoints, previews and exact resume.

* **static** (:class:`~motion4d.lift.stages.StaticStage`): canonical Gaussians from frame 0.
* **dynamic** (:class:`~motion4d.lift.stages.DynamicStage`): the deformation field over every frame.

Each stage counts its own steps from 0; its schedules and the guidance's timestep annealing read that
count. Checkpoints are named by the global step (``checkpoints/step-NNNNNN/``, :mod:`motion4d.utils.training_state`).

Determinism: every step draws all its randomness from seeds derived from ``(seed, global step)``: a
generator handed to the stage, torch's global RNG, and the guidance's own generator (``guidance.generator``,
a separate stream; a hybrid guidance has one stream per member, :mod:`motion4d.lift.hybrid`). The stage generator keeps the stream of motion4d 0.1 (``seed * 1000003 + global step``)
so that the figures measured with it (docs/benchmarks.md) still describe the code; with hash-derived seeds the
quick demo measured 27.97 / 28.95 dB for seeds 0 / 1 against 29.61 / 29.98 dB with this stream, i.e. its
figures move by 1-2 dB from one random stream to another. With the guidance's trainable state (VSD's LoRA and its optimizer) saved in
the checkpoint, a run resumed from a checkpoint continues bit for bit as an uninterrupted run would.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from motion4d.camera import Cameras
from motion4d.config import config_to_dict
from motion4d.deform import NonFiniteError
from motion4d.deform.field import DeformationField, deform
from motion4d.gaussians.model import Gaussians, GaussianModel
from motion4d.lift.config import LiftConfig
from motion4d.lift.hybrid import make_distiller
from motion4d.lift.init import initial_model
from motion4d.lift.inputs import LiftInput
from motion4d.lift.stages import DynamicStage, LiftContext, Stage, StaticStage
from motion4d.render import render
from motion4d.utils.io import atomic_path
from motion4d.utils.progress import progress
from motion4d.utils.training_state import STATE_FILE, Checkpoints, load_train_state, save_train_state

__all__ = ["LiftTrainer", "TrainState", "step_seed"]

STAGES = ("static", "dynamic")


def step_seed(seed: int, global_step: int, stream: str = "") -> int:
    """A 63-bit seed for global step ``global_step``; ``stream`` (e.g. ``"guidance"``) separates independent
    generators. The default stream is ``seed * 1000003 + global_step`` (motion4d 0.1's)."""
    if not stream:
        return (seed * 1_000_003 + global_step) % (2 ** 63)
    digest = hashlib.sha256(f"{seed}/{global_step}/{stream}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass
class TrainState:
    """Where training stands: ``stage`` in {static, dynamic, done} and the step inside it."""

    stage: str = "static"
    step: int = 0
    history: list[dict[str, float]] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=lambda: {"static": 0.0, "dynamic": 0.0})


class LiftTrainer:
    """Runs the static and dynamic stages on a :class:`~motion4d.lift.inputs.LiftInput`.

    Args:
        data: frames, masks and cameras (view 0 = reference).
        cfg: resolved :class:`~motion4d.lift.config.LiftConfig`.
        out_dir: run folder (checkpoints/ and previews/ are written inside).
        static: canonical Gaussians to start from (``--static model.ply``); skips the static stage.
        guidance: a ``motion4d.guidance`` object or None; a text-conditioned one needs ``cfg.prompt``
            (checked here, before any training).
        log: callable for one-line messages.
    """

    def __init__(self, data: LiftInput, cfg: LiftConfig, out_dir: str | Path, static: Gaussians | None = None,
                 guidance: Any = None, log: Callable[[str], None] = print) -> None:
        from motion4d.utils.device import resolve_device

        self.data, self.cfg, self.out = data, cfg, Path(out_dir)
        self.device = resolve_device(cfg.device)
        self.guidance = guidance
        self.log = log
        bg = torch.tensor(cfg.camera.background, dtype=torch.float32, device=self.device)
        if bg.shape != (3,):
            raise ValueError(f"camera.background must be 3 numbers, got {cfg.camera.background}")
        targets = data.composite(bg.cpu()).to(self.device)  # [V,F,H,W,3]
        cameras = data.cameras.to(self.device)
        times = torch.tensor([0.0] if data.num_frames == 1 else
                             [f / (data.num_frames - 1) for f in range(data.num_frames)])
        ref_radius = float(cameras.centers[0].norm())
        distiller = None
        if guidance is not None:
            ref_el = float(cameras.elevation[0]) if cameras.elevation is not None else cfg.camera.elevation
            distiller = make_distiller(guidance, cfg, targets[0], ref_radius, ref_el, bg)
        self.ctx = LiftContext(cfg, targets, data.alpha.to(self.device), cameras, times, bg, ref_radius,
                               distiller, log)
        self.static_given = static is not None
        self.static_iters = 0 if static is not None else cfg.static.iters
        self.checkpoints = Checkpoints(self.out / "checkpoints", keep=2)
        model = (GaussianModel.from_gaussians(static, sh_degree=max(static.sh_degree, cfg.static.sh_degree))
                 if static is not None
                 else initial_model(data, cfg, ref_radius)).to(self.device)
        self.state = TrainState(stage="static" if self.static_iters > 0 else "dynamic")
        self.stage: Stage = self._make_stage(self.state.stage, model)

    # -------------------------------------------------------------------------------- stages
    def _make_stage(self, name: str, model: GaussianModel) -> Stage:
        if name == "static":
            return StaticStage(self.ctx, model, self.static_iters)
        return DynamicStage(self.ctx, model, self.cfg.dynamic.iters)

    @property
    def model(self) -> GaussianModel:
        return self.stage.model

    @property
    def field(self) -> DeformationField | None:
        return getattr(self.stage, "field", None)

    @property
    def opt(self) -> torch.optim.Optimizer | None:
        return self.stage.opt

    @property
    def total_steps(self) -> int:
        return self.static_iters + self.cfg.dynamic.iters

    @property
    def global_step(self) -> int:
        s = self.state
        if s.stage == "static":
            return s.step
        if s.stage == "dynamic":
            return self.static_iters + s.step
        return self.total_steps

    def _seed_step(self) -> torch.Generator:
        """Seed torch's global RNG and the guidance's generator for this step; return the stage's generator."""
        seed = step_seed(self.cfg.seed, self.global_step)
        torch.manual_seed(seed)
        if hasattr(self.guidance, "generators"):            # a hybrid: one stream per guidance
            streams = self.guidance.generators()
        else:
            streams = {"guidance": getattr(self.guidance, "generator", None)}
        for stream, gen in streams.items():
            if isinstance(gen, torch.Generator):
                gen.manual_seed(step_seed(self.cfg.seed, self.global_step, stream))
        return torch.Generator().manual_seed(seed)

    # ---------------------------------------------------------------------------------- loop
    def train(self, resume: bool = False) -> None:
        """Run (or continue) both stages, checkpointing every ``output.checkpoint_every`` global steps."""
        if resume:
            self.load_latest()
        if self.guidance is None:
            self.log("no guidance: reference views only" + (" (+ calibrated views)" if self.data.num_views > 1 else ""))
        every = self.cfg.output.checkpoint_every
        bar = progress(total=self.total_steps, initial=self.global_step, desc="lift")
        try:
            self._advance_stage()
            while self.state.stage != "done":
                name = self.state.stage
                start = time.perf_counter()
                losses = self.stage.step(self.state.step, self._seed_step()).logged()
                self._check_finite(name, self.state.step, losses)
                self.state.seconds[name] += time.perf_counter() - start
                self.state.step += 1
                if self.state.step % 10 == 0 or self.state.step == 1:
                    self.state.history.append({"stage": name, "step": self.state.step,
                                               **{k: round(float(v), 6) for k, v in losses.items()}})
                bar.update(1)
                bar.set_postfix({k: f"{float(v):.4g}" for k, v in losses.items()}, refresh=False)
                self._advance_stage()
                g = self.global_step
                if self.cfg.output.preview_every and g % self.cfg.output.preview_every == 0:
                    self.write_preview()
                if every and g % every == 0 and self.state.stage != "done":
                    self.save()
        finally:
            bar.close()
        self.save()

    def _check_finite(self, stage: str, step: int, losses: dict[str, torch.Tensor]) -> None:
        """Stop with :class:`~motion4d.deform.NonFiniteError` when a loss or a parameter is NaN/inf.

        The message names the stage, the step, the settings that usually cause it and the checkpoint to resume
        from; nothing is saved after a diverged step, so that checkpoint is the last good state.
        """
        bad = [k for k, v in losses.items() if not bool(torch.isfinite(torch.as_tensor(v)).all())]
        params = [("gaussians", p) for p in self.model.parameters()]
        if self.field is not None:
            params += [("deformation field", p) for p in self.field.parameters()]
        bad += sorted({f"{what} parameters" for what, p in params if not bool(torch.isfinite(p).all())})
        if not bad:
            return
        keys = ("static.lr_means / static.lr_scales / static.lr_opacity, a --static PLY with huge or NaN values"
                if stage == "static" else
                "dynamic.lr_grid / dynamic.lr_mlp / dynamic.gaussian_lr_scale / dynamic.lambda_rigidity")
        ckpt = self.checkpoints.latest()
        where = (f"resume from {ckpt.path} with --resume after changing them" if ckpt is not None
                 else "no checkpoint was written yet: start again after changing them")
        raise NonFiniteError(f"training diverged in the {stage} stage at step {step}: non-finite {', '.join(bad)}. "
                             f"Likely too large a learning rate or loss weight ({keys}); {where}")

    def _advance_stage(self) -> None:
        s = self.state
        if s.stage == "static" and s.step >= self.static_iters:
            model = self.stage.finish()
            s.stage, s.step = "dynamic", 0
            self.stage = self._make_stage("dynamic", model)
        if s.stage == "dynamic" and s.step >= self.cfg.dynamic.iters:
            self.stage.finish()
            s.stage, s.step = "done", 0

    # ---------------------------------------------------------------------------- checkpoints
    def save(self) -> Path:
        """Checkpoint the current state (an atomic folder ``checkpoints/step-NNNNNN``)."""
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        tensors.update(self.stage.state_tensors())
        if self.guidance is not None and hasattr(self.guidance, "trainable_state_dict"):
            tensors.update({f"guidance.{k}": v for k, v in self.guidance.trainable_state_dict().items()})
        meta = {"stage": self.state.stage, "step": self.state.step, "global_step": self.global_step,
                "history": self.state.history, "seconds": self.state.seconds, "num_gaussians": len(self.model),
                "sh_degree": self.model.sh_degree, "static_given": self.static_given,
                "config": config_to_dict(self.cfg), **self.stage.state_meta()}

        def write(folder: Path) -> None:
            save_train_state(folder / STATE_FILE, step=self.global_step, optimizers={"main": self.opt},
                             tensors=tensors, meta=meta)

        return self.checkpoints.save(self.global_step, write).path

    def load_latest(self) -> bool:
        """Restore the newest readable checkpoint of this run folder; False when there is none.

        A checkpoint that cannot be read (a damaged file) is reported in one line and the one before it is used.
        """
        found = self.checkpoints.list()
        if not found:
            self.log(f"--resume: no checkpoint in {self.checkpoints.root}; starting from scratch")
            return False
        for ckpt in reversed(found):
            try:
                loaded = load_train_state(ckpt.state_file, restore_global_rng=False)
                break
            except (OSError, ValueError) as e:
                self.log(f"--resume: {ckpt.path} cannot be read ({type(e).__name__}: {e}); trying the one before")
        else:
            raise ValueError(f"--resume: none of the {len(found)} checkpoints in {self.checkpoints.root} can be read; "
                             f"start again without --resume")
        meta, tensors = loaded.meta, loaded.tensors
        _check_same_config(meta.get("config", {}), config_to_dict(self.cfg))
        m = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        model = GaussianModel(m["means"], m["log_scales"], m["quats"], m["opacity_logits"], m["sh_dc"], m["sh_rest"],
                              sh_degree=int(meta["sh_degree"])).to(self.device)
        self.state = TrainState(meta["stage"], int(meta["step"]), list(meta["history"]), dict(meta["seconds"]))
        self.stage = self._make_stage("static" if self.state.stage == "static" else "dynamic", model)
        self.stage.load_state(tensors, meta)
        loaded.restore_optimizer("main", self.opt)
        own = {k[len("guidance."):]: v for k, v in tensors.items() if k.startswith("guidance.")}
        if self.guidance is not None and hasattr(self.guidance, "load_trainable_state_dict"):
            self.guidance.load_trainable_state_dict(own)
        elif own:
            raise ValueError(f"checkpoint {ckpt.path} holds guidance state but this run has no guidance")
        self.checkpoints.resume_from(ckpt)
        self.log(f"resumed from {ckpt.path} (stage {self.state.stage}, step {self.state.step})")
        return True

    # ------------------------------------------------------------------------------ previews
    @torch.no_grad()
    def write_preview(self) -> Path:
        """PNG grid: rows = first, middle and last frame; columns = target, reference view, a side view."""
        import numpy as np
        from PIL import Image

        ctx = self.ctx
        frames = sorted({0, ctx.num_frames // 2, ctx.num_frames - 1})
        canonical = self.model.gaussians().detach()
        side = Cameras.orbit(0.0, 90.0, ctx.ref_radius, self.cfg.camera.fovy, ctx.cameras.width,
                             ctx.cameras.height).to(self.device)
        cams = Cameras.cat([ctx.cameras[0], side])
        rows = []
        for f in frames:
            g = deform(canonical, self.field, float(ctx.times[f])) if self.field is not None else canonical
            out = render(g, cams, ctx.bg).rgb
            rows.append(torch.cat([ctx.targets[0, f], out[0], out[1]], dim=1))
        img = (torch.cat(rows, 0).clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
        path = self.out / "previews" / f"step_{self.global_step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(img).save(tmp, format="PNG")
        return path

    def canonical(self) -> Gaussians:
        return self.model.gaussians().detach()


def _check_same_config(saved: dict, current: dict) -> None:
    ignore = {"output", "device"}
    diffs = []

    def walk(a, b, p):
        if isinstance(a, dict) and isinstance(b, dict):
            for k in sorted(set(a) | set(b)):
                if not p and k in ignore:
                    continue
                walk(a.get(k), b.get(k), f"{p}{k}.")
        elif a != b:
            diffs.append(f"{p[:-1]} (checkpoint {a!r}, now {b!r})")

    walk(saved, current, "")
    if diffs:
        raise ValueError("--resume with a different config than the checkpoint's: " + "; ".join(diffs[:5])
                         + ". Use the same preset and overrides, or a new --out folder")
