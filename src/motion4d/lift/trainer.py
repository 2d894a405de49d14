"""The two-stage optimisation behind :func:`motion4d.lift.lift`.

* **static**: canonical Gaussians fitted to frame 0 (reference view, every calibrated view, novel-view
  score distillation when a guidance is configured), with densification and pruning.
* **dynamic**: a :class:`~motion4d.deform.DeformationField` fitted to every frame (a random subset of
  frames per step, reference + calibrated views, per-frame novel-view distillation, plane TV and
  temporal-smoothness regularisers), optionally fine-tuning the canonical Gaussians jointly.

Determinism: every step draws its randomness from a generator seeded with ``(seed, global step)``
and reseeds torch's global RNG the same way (for the guidance's noise), so a run resumed from a
checkpoint continues exactly as an uninterrupted run would.
"""
from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F

from motion4d.camera import Cameras
from motion4d.config import config_to_dict
from motion4d.deform.field import DeformationField, apply_deltas, deform
from motion4d.gaussians.model import Gaussians, GaussianModel
from motion4d.lift.checkpoint import (latest_checkpoint, load_checkpoint, optimizer_tensors, restore_optimizer,
                                      save_checkpoint)
from motion4d.lift.config import LiftConfig
from motion4d.lift.inputs import LiftInput
from motion4d.render import render
from motion4d.utils.io import atomic_path
from motion4d.utils.progress import progress

__all__ = ["LiftTrainer", "TrainState"]

_GAUSS_LRS = (("means", "lr_means"), ("log_scales", "lr_scales"), ("quats", "lr_quats"),
              ("opacity_logits", "lr_opacity"), ("sh_dc", "lr_sh"), ("sh_rest", "lr_sh"))


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
        guidance: a ``motion4d.guidance`` object (``guidance(images, condition, step) -> losses``) or None.
        log: callable for one-line messages.
    """

    def __init__(self, data: LiftInput, cfg: LiftConfig, out_dir: str | Path, static: Gaussians | None = None,
                 guidance: Any = None, log: Callable[[str], None] = print) -> None:
        from motion4d.utils.device import resolve_device

        self.data, self.cfg, self.out = data, cfg, Path(out_dir)
        self.device = resolve_device(cfg.device)
        self.guidance = guidance
        self.log = log
        self.bg = torch.tensor(cfg.camera.background, dtype=torch.float32, device=self.device)
        if self.bg.shape != (3,):
            raise ValueError(f"camera.background must be 3 numbers, got {cfg.camera.background}")
        self.targets = data.composite(self.bg.cpu()).to(self.device)  # [V,F,H,W,3]
        self.masks = data.alpha.to(self.device)
        self.cameras = data.cameras.to(self.device)
        self.times = torch.tensor([0.0] if data.num_frames == 1 else
                                  [f / (data.num_frames - 1) for f in range(data.num_frames)])
        self.ref_radius = float(self.cameras.centers[0].norm())
        self.static_given = static is not None
        self.static_iters = 0 if static is not None else cfg.static.iters
        self.state = TrainState(stage="static" if self.static_iters > 0 else "dynamic")
        self.model = self._init_model(static)
        self.field: DeformationField | None = None
        self.knn: torch.Tensor | None = None
        self.opt: torch.optim.Optimizer | None = None
        self.densify = self._densify_strategy()
        self.densify_state: dict | None = self.densify.init_state(self.model) if self.densify else None
        if self.state.stage == "static":
            self._build_static_optimizer()
        else:
            self._start_dynamic()

    # ------------------------------------------------------------------------------------ init
    def _init_model(self, static: Gaussians | None) -> GaussianModel:
        cfg = self.cfg.static
        if static is not None:
            return GaussianModel.from_gaussians(static).to(self.device)
        gen = torch.Generator().manual_seed(self.cfg.seed)
        if cfg.init == "visual_hull":
            model = self._visual_hull(gen)
        else:
            model = GaussianModel.random_in_sphere(cfg.num_points, cfg.init_radius, opacity=cfg.init_opacity,
                                                   generator=gen)
        return model.to(self.device)

    def _visual_hull(self, gen: torch.Generator) -> GaussianModel:
        """Grid points inside every calibrated view's frame-0 mask, coloured from the views."""
        cams = self.data.cameras
        if cams is None or self.data.num_views < 2 or not self.data.calibrated:
            raise ValueError("static.init=visual_hull needs >= 2 calibrated views (--views or a multi-view input); "
                             "use static.init=ball for a single clip")
        half = self.ref_radius * (cams.height / 2) / float(cams.Ks[0, 1, 1])  # visible half-height at the origin
        res = 64
        lin = (torch.arange(res, dtype=torch.float32) + 0.5) / res * 2 - 1
        pts = torch.stack(torch.meshgrid(lin, lin, lin, indexing="ij"), -1).reshape(-1, 3) * half
        keep = torch.ones(len(pts), dtype=torch.bool)
        colour = torch.zeros(len(pts), 3)
        count = torch.zeros(len(pts), 1)
        for v in range(self.data.num_views):
            cam = cams[v]
            pc = pts @ cam.viewmats[0, :3, :3].T + cam.viewmats[0, :3, 3]
            uv = pc[:, :2] / pc[:, 2:].clamp_min(1e-6) * cam.Ks[0, [0, 1], [0, 1]] + cam.Ks[0, [0, 1], [2, 2]]
            u, w = uv[:, 0].floor().long(), uv[:, 1].floor().long()
            inside = (pc[:, 2] > 0) & (u >= 0) & (u < cams.width) & (w >= 0) & (w < cams.height)
            uc, wc = u.clamp(0, cams.width - 1), w.clamp(0, cams.height - 1)
            m = self.data.alpha[v, 0, wc, uc, 0] > 0.5
            keep &= ~inside | m
            colour += torch.where((inside & m)[:, None], self.data.rgb[v, 0, wc, uc], torch.zeros(1, 3))
            count += (inside & m)[:, None].float()
        pts, colour = pts[keep], (colour[keep] / count[keep].clamp_min(1))
        if len(pts) == 0:
            raise ValueError("visual hull is empty: the frame-0 masks of the calibrated views do not overlap")
        n = self.cfg.static.num_points
        if len(pts) > n:
            idx = torch.randperm(len(pts), generator=gen)[:n]
            pts, colour = pts[idx], colour[idx]
        jitter = (torch.rand(pts.shape, generator=gen) - 0.5) * (2 * half / res)
        return GaussianModel.from_points(pts + jitter, colour, opacity=self.cfg.static.init_opacity)

    def _densify_strategy(self):
        """3DGS densification for the static stage (``motion4d.gaussians.DensifyStrategy``), or None."""
        cfg = self.cfg.static
        if self.static_iters == 0 or cfg.densify_from >= min(cfg.densify_until, self.static_iters):
            return None
        from motion4d.gaussians import DensifyStrategy

        extent = float((self.model.means.detach() - self.model.means.detach().mean(0)).norm(dim=-1).max())
        return DensifyStrategy(grad_threshold=cfg.densify_grad_threshold, min_opacity=cfg.prune_opacity,
                               scene_extent=max(extent, 1e-3), refine_start=cfg.densify_from,
                               refine_stop=cfg.densify_until, refine_every=cfg.densify_interval,
                               reset_every=10 ** 9, max_gaussians=cfg.max_gaussians)

    # ------------------------------------------------------------------------------ optimisers
    def _gaussian_groups(self, scale: float) -> list[dict]:
        cfg = self.cfg.static
        return [{"params": [getattr(self.model, name)], "lr": getattr(cfg, key) * scale, "name": name}
                for name, key in _GAUSS_LRS]

    def _build_static_optimizer(self) -> None:
        self.opt = torch.optim.Adam(self._gaussian_groups(1.0), lr=0.0, eps=1e-15)

    def _start_dynamic(self) -> None:
        dcfg = self.cfg.dynamic
        self.field = DeformationField.for_points(self.model.means.detach(), dcfg.deform).to(self.device)
        self.knn = _knn(self.model.means.detach(), dcfg.rigidity_k) if dcfg.lambda_rigidity > 0 else None
        groups = [{"params": self.field.grid_parameters(), "lr": dcfg.lr_grid, "name": "grid"},
                  {"params": self.field.mlp_parameters(), "lr": dcfg.lr_mlp, "name": "mlp"}]
        if dcfg.optimize_gaussians:
            groups += self._gaussian_groups(dcfg.gaussian_lr_scale)
        else:
            self.model.requires_grad_(False)
        self.opt = torch.optim.Adam(groups, lr=0.0, eps=1e-15)

    def _means_lr(self, step: int) -> float:
        cfg = self.cfg.static
        ratio = min(1.0, step / max(1, self.static_iters))
        return math.exp(math.log(cfg.lr_means) * (1 - ratio) + math.log(max(cfg.lr_means_final, 1e-12)) * ratio)

    # ------------------------------------------------------------------------------------ loop
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

    def _rng(self) -> torch.Generator:
        seed = (self.cfg.seed * 1_000_003 + self.global_step) % (2 ** 63)
        torch.manual_seed(seed)
        return torch.Generator().manual_seed(seed)

    def train(self, resume: bool = False) -> None:
        """Run (or continue) both stages, checkpointing every ``output.checkpoint_every`` steps."""
        if resume:
            self.load_latest()
        if self.guidance is None:
            self.log("no guidance: reference views only" + (" (+ calibrated views)" if self.data.num_views > 1 else ""))
        every = self.cfg.output.checkpoint_every
        bar = progress(total=self.total_steps, initial=self.global_step, desc="lift")
        try:
            while self.state.stage != "done":
                stage = self.state.stage
                start = time.perf_counter()
                losses = self._static_step() if stage == "static" else self._dynamic_step()
                self.state.seconds[stage] += time.perf_counter() - start
                self.state.step += 1
                if self.state.step % 10 == 0 or self.state.step == 1:
                    self.state.history.append({"stage": stage, "step": self.state.step,
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

    def _advance_stage(self) -> None:
        s = self.state
        if s.stage == "static" and s.step >= self.static_iters:
            self._finish_static()
            s.stage, s.step = "dynamic", 0
            self._start_dynamic()
        if s.stage == "dynamic" and s.step >= self.cfg.dynamic.iters:
            s.stage, s.step = "done", 0

    def _finish_static(self) -> None:
        """Final prune of nearly transparent Gaussians (as DreamGaussian does after training)."""
        if self.cfg.static.prune_opacity <= 0:
            return
        keep = self.model.opacities.detach() > self.cfg.static.prune_opacity
        if bool(keep.all()) or int(keep.sum()) < 1:
            return
        m = self.model
        self.model = GaussianModel(m.means[keep], m.log_scales[keep], m.quats[keep], m.opacity_logits[keep],
                                   m.sh_dc[keep], m.sh_rest[keep], sh_degree=m.sh_degree).to(self.device)

    # ----------------------------------------------------------------------------- losses
    def _ref_weight(self, warmup: bool, step: int, iters: int) -> float:
        return min(1.0, (step + 1) / max(1, iters)) if warmup and self.guidance is not None else 1.0

    def _photo_losses(self, g: Gaussians, views: torch.Tensor, frame: int, lam_rgb: float, lam_mask: float,
                      weight: float) -> dict[str, torch.Tensor]:
        out = render(g, self.cameras[views.tolist()], self.bg)
        tgt = self.targets[views, frame]
        mask = self.masks[views, frame]
        rgb = F.mse_loss(out.rgb, tgt)
        alpha = F.mse_loss(out.alpha, mask)
        return {"rgb": rgb, "mask": alpha, "_total": weight * (lam_rgb * rgb + lam_mask * alpha), "_out": out}

    def _sample_views(self, gen: torch.Generator, count: int) -> torch.Tensor:
        """The reference view plus ``count - 1`` distinct random calibrated views."""
        others = torch.randperm(self.data.num_views - 1, generator=gen)[: max(0, count - 1)] + 1
        return torch.cat([torch.zeros(1, dtype=torch.long), others])

    def _sds(self, g: Gaussians, frame: int, count: int, gen: torch.Generator, step: int) -> dict[str, torch.Tensor]:
        from motion4d.guidance import Condition

        cfg = self.cfg.camera
        el = cfg.min_elevation + (cfg.max_elevation - cfg.min_elevation) * torch.rand(count, generator=gen)
        az = torch.rand(count, generator=gen) * 360.0 - 180.0
        size = self.cfg.guidance.render_size
        cams = Cameras.orbit(el, az, self.ref_radius, cfg.fovy, size).to(self.device)
        images = render(g, cams, self.bg).rgb
        ref_el = float(self.cameras.elevation[0]) if self.cameras.elevation is not None else cfg.elevation
        cond = Condition(image=self.targets[0, frame], elevation=el, azimuth=az,
                         radius=torch.full((count,), self.ref_radius), ref_elevation=ref_el, ref_azimuth=0.0,
                         ref_radius=self.ref_radius, cameras=cams)
        losses = self.guidance(images, cond, step)
        return {f"sds_{k}" if not k.startswith("sds") else k: v for k, v in losses.items()}

    def _static_step(self) -> dict[str, torch.Tensor]:
        cfg = self.cfg.static
        step = self.state.step
        gen = self._rng()
        for group in self.opt.param_groups:
            if group["name"] == "means":
                group["lr"] = self._means_lr(step)
        g = self.model.gaussians()
        views = self._sample_views(gen, cfg.views_per_step)
        w = self._ref_weight(cfg.ref_warmup, step, self.static_iters)
        losses = self._photo_losses(g, views, 0, cfg.lambda_rgb, cfg.lambda_mask, w)
        total = losses.pop("_total")
        out = losses.pop("_out")
        if self.guidance is not None and cfg.lambda_sds > 0:
            sds = self._sds(g, 0, 1, gen, step)
            total = total + cfg.lambda_sds * sum(sds.values())
            losses.update(sds)
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        if self.densify is not None:
            self.densify.step_post_backward(self.model, self.opt, self.densify_state, step, out)
            if self.densify_state.get("last_action"):
                self.log(f"densify {self.densify_state['last_action']}")
        self.opt.step()
        losses = {k: v.detach() for k, v in losses.items()}
        losses["loss"] = total.detach()
        losses["n"] = torch.tensor(float(len(self.model)))
        return losses

    def _dynamic_step(self) -> dict[str, torch.Tensor]:
        cfg = self.cfg.dynamic
        step = self.state.step
        gen = self._rng()
        F_ = self.data.num_frames
        frames = torch.randperm(F_, generator=gen)[: min(cfg.frames_per_step, F_)].sort().values
        canonical = self.model.gaussians()
        n = len(canonical)
        # one batched field evaluation for every sampled frame (DreamGaussian4D's prepare_render)
        times = self.times[frames].to(self.device).repeat_interleave(n)
        deltas_all = self.field(canonical.means.repeat(len(frames), 1), times)
        w = self._ref_weight(cfg.ref_warmup, step, cfg.iters)
        sums: dict[str, torch.Tensor] = {}
        total = 0.0
        for i, f in enumerate(frames.tolist()):
            sl = slice(i * n, (i + 1) * n)
            g = apply_deltas(canonical, deltas_all[sl])
            views = self._sample_views(gen, cfg.views_per_frame)
            losses = self._photo_losses(g, views, f, cfg.lambda_rgb, cfg.lambda_mask, w)
            losses.pop("_out")
            if self.knn is not None:
                losses["rigidity"] = _isometry(canonical.means, g.means, self.knn)
                losses["_total"] = losses["_total"] + cfg.lambda_rigidity * losses["rigidity"]
            total = total + losses.pop("_total") / len(frames)
            if self.guidance is not None and cfg.lambda_sds > 0 and cfg.sds_views_per_frame > 0:
                sds = self._sds(g, f, cfg.sds_views_per_frame, gen, self.static_iters + step)
                total = total + cfg.lambda_sds * sum(sds.values()) / len(frames)
                losses.update(sds)
            for k, v in losses.items():
                sums[k] = sums.get(k, 0.0) + v.detach() / len(frames)
        reg = self.field.regularizers()
        total = total + cfg.lambda_plane_tv * reg["plane_tv"] + cfg.lambda_time_smoothness * reg["time_smoothness"] \
            + cfg.lambda_time_l1 * reg["time_l1"]
        self.opt.zero_grad(set_to_none=True)
        total.backward()
        self.opt.step()
        sums.update({k: v.detach() for k, v in reg.items()})
        sums["loss"] = total.detach()
        return sums

    # ------------------------------------------------------------------------ checkpoints
    def _checkpoint_dir(self) -> Path:
        return self.out / "checkpoints"

    def save(self) -> Path:
        """Checkpoint the current state (atomic)."""
        tensors = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        if self.field is not None:
            tensors.update({f"field.{k}": v for k, v in self.field.state_dict().items()})
            if self.knn is not None:
                tensors["knn"] = self.knn
        if self.densify_state is not None and self.state.stage == "static":
            tensors.update({f"densify.{k}": v for k, v in self.densify_state.items() if torch.is_tensor(v)})
        opt_t, groups = optimizer_tensors(self.opt, "optim")
        tensors.update(opt_t)
        groups = [{k: v for k, v in g.items() if k != "params"} | {"params": g["params"]} for g in groups]
        meta = {"stage": self.state.stage, "step": self.state.step, "global_step": self.global_step,
                "history": self.state.history, "seconds": self.state.seconds, "optimizer": groups,
                "num_gaussians": len(self.model), "sh_degree": self.model.sh_degree,
                "static_given": self.static_given, "config": config_to_dict(self.cfg),
                "densify_counts": {k: v for k, v in (self.densify_state or {}).items()
                                   if isinstance(v, int) and not isinstance(v, bool)}}
        return save_checkpoint(self._checkpoint_dir(), self.global_step, tensors, meta)

    def load_latest(self) -> bool:
        """Restore the newest checkpoint of this run folder; False when there is none."""
        path = latest_checkpoint(self._checkpoint_dir())
        if path is None:
            self.log(f"--resume: no checkpoint in {self._checkpoint_dir()}; starting from scratch")
            return False
        tensors, meta = load_checkpoint(path)
        _check_same_config(meta.get("config", {}), config_to_dict(self.cfg))
        model_t = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
        self.model = GaussianModel(model_t["means"], model_t["log_scales"], model_t["quats"],
                                   model_t["opacity_logits"], model_t["sh_dc"], model_t["sh_rest"],
                                   sh_degree=int(meta["sh_degree"])).to(self.device)
        self.state = TrainState(meta["stage"], int(meta["step"]), list(meta["history"]), dict(meta["seconds"]))
        if self.state.stage == "static":
            self.field = None
            self._build_static_optimizer()
            if self.densify is not None:
                self.densify_state = self.densify.init_state(self.model)
                self.densify_state.update({k[len("densify."):]: v.to(self.device) for k, v in tensors.items()
                                           if k.startswith("densify.")})
                self.densify_state.update(meta.get("densify_counts", {}))
        else:
            self._start_dynamic()
            field_t = {k[len("field."):]: v for k, v in tensors.items() if k.startswith("field.")}
            self.field.load_state_dict(field_t)
            if "knn" in tensors:
                self.knn = tensors["knn"].to(self.device)
        restore_optimizer(self.opt, tensors, meta["optimizer"], "optim")
        self.log(f"resumed from {path} (stage {self.state.stage}, step {self.state.step})")
        return True

    # ---------------------------------------------------------------------------- previews
    @torch.no_grad()
    def write_preview(self) -> Path:
        """PNG grid: rows = reference view and a side view; columns = first, middle and last frame."""
        import numpy as np
        from PIL import Image

        F_ = self.data.num_frames
        frames = sorted({0, F_ // 2, F_ - 1})
        canonical = self.model.gaussians().detach()
        side = Cameras.orbit(0.0, 90.0, self.ref_radius, self.cfg.camera.fovy, self.cameras.width,
                             self.cameras.height).to(self.device)
        cams = Cameras.cat([self.cameras[0], side])
        rows = []
        for f in frames:
            g = deform(canonical, self.field, float(self.times[f])) if self.field is not None else canonical
            out = render(g, cams, self.bg).rgb
            rows.append(torch.cat([self.targets[0, f], out[0], out[1]], dim=1))
        img = (torch.cat(rows, 0).clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)
        path = self.out / "previews" / f"step_{self.global_step:06d}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            Image.fromarray(img).save(tmp, format="PNG")
        return path

    # ------------------------------------------------------------------------------ results
    def canonical(self) -> Gaussians:
        return self.model.gaussians().detach()


@torch.no_grad()
def _knn(points: torch.Tensor, k: int, chunk: int = 2048) -> torch.Tensor:
    """Indices ``[N, k]`` of each point's ``k`` nearest other points."""
    n = points.shape[0]
    k = max(1, min(k, n - 1))
    out = []
    for start in range(0, n, chunk):
        d = torch.cdist(points[start:start + chunk], points)
        d[torch.arange(d.shape[0]), torch.arange(start, start + d.shape[0])] = float("inf")
        out.append(d.topk(k, largest=False).indices)
    return torch.cat(out)


def _isometry(canonical: torch.Tensor, deformed: torch.Tensor, knn: torch.Tensor) -> torch.Tensor:
    """Mean squared change of neighbour distances between canonical and deformed positions ``[N,3]``."""
    d0 = (canonical[:, None] - canonical[knn]).norm(dim=-1)
    dt = (deformed[:, None] - deformed[knn]).norm(dim=-1)
    return (dt - d0).square().mean()


def _check_same_config(saved: dict, current: dict, prefix: str = "") -> None:
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

    walk(saved, current, prefix)
    if diffs:
        raise ValueError("--resume with a different config than the checkpoint's: " + "; ".join(diffs[:5])
                         + ". Use the same preset and overrides, or a new --out folder")
