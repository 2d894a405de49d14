"""Stage 2: a :class:`~motion4d.deform.DeformationField` fitted to every frame.

Per step: a random subset of frames, the reference (+ calibrated) views of each, per-frame novel-view
score distillation (or one rendered clip for video guidance; with ``guidance.kind: hybrid`` whichever guidance
the step drew, :mod:`motion4d.lift.hybrid`), the isometry loss against the canonical
neighbours, and the field's plane-TV / time-smoothness / time-L1 regularisers. The canonical Gaussians
are fine-tuned jointly with ``dynamic.optimize_gaussians``.
"""
from __future__ import annotations

from typing import Any

import torch

from motion4d.deform.field import DeformationField, apply_deltas, deform
from motion4d.gaussians.model import GaussianModel
from motion4d.lift.stages.base import LiftContext, Stage, StepLosses
from motion4d.render import render

__all__ = ["DynamicStage", "isometry_loss", "neighbours"]


def neighbours(points: torch.Tensor, k: int) -> torch.Tensor:
    """Indices ``[N, k]`` of each point's ``k`` nearest other points (:func:`motion4d.utils.knn.knn`)."""
    from motion4d.utils.knn import knn

    return knn(points, k)[1]


def isometry_loss(canonical: torch.Tensor, deformed: torch.Tensor, knn: torch.Tensor) -> torch.Tensor:
    """Mean squared change of neighbour distances between canonical and deformed positions ``[N, 3]``
    (world units^2); zero for any rigid motion."""
    d0 = (canonical[:, None] - canonical[knn]).norm(dim=-1)
    dt = (deformed[:, None] - deformed[knn]).norm(dim=-1)
    return (dt - d0).square().mean()


class DynamicStage(Stage):
    name = "dynamic"

    def __init__(self, ctx: LiftContext, model: GaussianModel, iters: int) -> None:
        super().__init__(ctx, model, iters)
        dcfg = ctx.cfg.dynamic
        self.field = DeformationField.for_points(model.means.detach(), dcfg.deform).to(ctx.device)
        self.knn = neighbours(model.means.detach(), dcfg.rigidity_k) if dcfg.lambda_rigidity > 0 else None
        groups = [{"params": self.field.grid_parameters(), "lr": dcfg.lr_grid, "name": "grid"},
                  {"params": self.field.mlp_parameters(), "lr": dcfg.lr_mlp, "name": "mlp"}]
        if dcfg.optimize_gaussians:
            groups += self.gaussian_groups(dcfg.gaussian_lr_scale)
        else:
            model.requires_grad_(False)
        self.opt = torch.optim.Adam(groups, lr=0.0, eps=1e-15)

    def frame_window(self, step: int) -> int:
        """Number of leading frames sampled at ``step`` (``dynamic.time_curriculum``)."""
        cfg, num = self.ctx.cfg.dynamic, self.ctx.num_frames
        ramp = cfg.time_curriculum * self.iters
        if ramp <= 0 or step >= ramp:
            return num
        return min(num, 2 + int((num - 2) * step / ramp))

    def field_lr_scale(self, step: int) -> float:
        """Factor on the field's learning rates at ``step`` (exponential decay to ``lr_final_ratio``)."""
        ratio = self.ctx.cfg.dynamic.lr_final_ratio
        return 1.0 if ratio >= 1.0 else ratio ** (step / max(1, self.iters - 1))

    def step(self, step: int, gen: torch.Generator) -> StepLosses:
        cfg, ctx = self.ctx.cfg.dynamic, self.ctx
        scale = self.field_lr_scale(step)
        for group in self.opt.param_groups:
            if group.get("name") in ("grid", "mlp"):
                group["lr"] = (cfg.lr_grid if group["name"] == "grid" else cfg.lr_mlp) * scale
        window = self.frame_window(step)
        frames = torch.randperm(window, generator=gen)[: min(cfg.frames_per_step, window)]
        frames = frames.sort().values
        canonical = self.model.gaussians()
        n = len(canonical)
        # one batched field evaluation for every sampled frame (DreamGaussian4D's prepare_render)
        times = ctx.times[frames].to(ctx.device).repeat_interleave(n)
        deltas_all = self.field(canonical.means.repeat(len(frames), 1), times)
        w = self.ref_weight(cfg.ref_warmup, step)
        d, freeze = ctx.distiller_at(self.name, step)
        sds_on = d is not None and cfg.lambda_sds > 0
        result = StepLosses()
        for i, f in enumerate(frames.tolist()):
            g = apply_deltas(canonical, deltas_all[i * n:(i + 1) * n])
            views = self.sample_views(gen, cfg.views_per_frame)
            losses = self.photo_losses(g, views, f, cfg.lambda_rgb, cfg.lambda_mask, w)
            if self.knn is not None:
                losses.terms["rigidity"] = isometry_loss(canonical.means, g.means, self.knn)
                losses.total = losses.total + cfg.lambda_rigidity * losses.terms["rigidity"]
            if sds_on and not d.is_clip and cfg.sds_views_per_frame > 0:
                # a frozen step (hybrid image guidance, 4D-fy): its renders move the Gaussians, not the field
                gs = apply_deltas(canonical, deltas_all[i * n:(i + 1) * n].detach()) if freeze else g
                sds = d.views_loss(lambda cams, gs=gs: render(gs, cams, ctx.bg).rgb, f, cfg.sds_views_per_frame,
                                   gen, step)
                losses.terms.update(sds)
                losses.total = losses.total + cfg.lambda_sds * sum(sds.values())
            result.add(losses, 1.0 / len(frames))
        if sds_on and d.is_clip:
            sds = d.clip_loss(lambda t, cams: render(deform(canonical, self.field, t), cams, ctx.bg).rgb, gen, step)
            result.add(StepLosses(sds, cfg.lambda_sds * sum(sds.values())))
        reg = self.field.regularizers()
        result.total = result.total + cfg.lambda_plane_tv * reg["plane_tv"] \
            + cfg.lambda_time_smoothness * reg["time_smoothness"] + cfg.lambda_time_l1 * reg["time_l1"]
        self.opt.zero_grad(set_to_none=True)
        result.total.backward()
        self.opt.step()
        result.terms.update({k: v.detach() for k, v in reg.items()})
        return result

    # -- checkpoints ------------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        out = {f"field.{k}": v for k, v in self.field.state_dict().items()}
        if self.knn is not None:
            out["knn"] = self.knn
        return out

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        self.field.load_state_dict({k[len("field."):]: v for k, v in tensors.items() if k.startswith("field.")})
        if "knn" in tensors:
            self.knn = tensors["knn"].to(self.ctx.device)
