"""Stage 1: canonical Gaussians fitted to frame 0 (reference view, calibrated views, novel-view score
distillation when a guidance is configured), with 3DGS densification and a final opacity prune."""
from __future__ import annotations

import math
from typing import Any

import torch

from motion4d.gaussians.model import GaussianModel
from motion4d.lift.stages.base import LiftContext, Stage, StepLosses

__all__ = ["StaticStage"]


class StaticStage(Stage):
    """Adam on the Gaussians (means learning rate decayed log-linearly over the stage), optional
    densification (``static.densify_*``), SDS on one novel view (group) per step."""

    name = "static"

    def __init__(self, ctx: LiftContext, model: GaussianModel, iters: int) -> None:
        super().__init__(ctx, model, iters)
        self.opt = torch.optim.Adam(self.gaussian_groups(1.0), lr=0.0, eps=1e-15)
        self.densify = self._densify_strategy()
        self.densify_state: dict | None = self.densify.init_state(model) if self.densify else None
        self._clip_warned = False

    def _densify_strategy(self):
        cfg = self.ctx.cfg.static
        if self.iters == 0 or cfg.densify_from >= min(cfg.densify_until, self.iters):
            return None
        from motion4d.gaussians import DensifyStrategy

        means = self.model.means.detach()
        extent = float((means - means.mean(0)).norm(dim=-1).max())
        return DensifyStrategy(grad_threshold=cfg.densify_grad_threshold, min_opacity=cfg.prune_opacity,
                               scene_extent=max(extent, 1e-3), refine_start=cfg.densify_from,
                               refine_stop=cfg.densify_until, refine_every=cfg.densify_interval,
                               reset_every=10 ** 9, max_gaussians=cfg.max_gaussians)

    def means_lr(self, step: int) -> float:
        cfg = self.ctx.cfg.static
        ratio = min(1.0, step / max(1, self.iters))
        return math.exp(math.log(cfg.lr_means) * (1 - ratio) + math.log(max(cfg.lr_means_final, 1e-12)) * ratio)

    def step(self, step: int, gen: torch.Generator) -> StepLosses:
        cfg, ctx = self.ctx.cfg.static, self.ctx
        for group in self.opt.param_groups:
            if group["name"] == "means":
                group["lr"] = self.means_lr(step)
        g = self.model.gaussians()
        views = self.sample_views(gen, cfg.views_per_step)
        losses = self.photo_losses(g, views, 0, cfg.lambda_rgb, cfg.lambda_mask,
                                   self.ref_weight(cfg.ref_warmup, step))
        d, _ = ctx.distiller_at(self.name, step)
        if d is not None and cfg.lambda_sds > 0:
            if d.is_clip:
                if not self._clip_warned:
                    ctx.log(f"static stage: {d.frames}-frame clip guidance needs time; no SDS until the dynamic stage")
                    self._clip_warned = True
            else:
                sds = d.views_loss(lambda cams: _render_rgb(g, cams, ctx.bg), 0, 1, gen, step)
                losses.terms.update(sds)
                losses.total = losses.total + cfg.lambda_sds * sum(sds.values())
        self.opt.zero_grad(set_to_none=True)
        if not (torch.is_tensor(losses.total) and losses.total.requires_grad):
            return losses                       # nothing supervises this step (no reference, no guidance drawn)
        losses.total.backward()
        if self.densify is not None and losses.render is not None:
            self.densify.step_post_backward(self.model, self.opt, self.densify_state, step, losses.render)
            if self.densify_state.get("last_action"):
                ctx.log(f"densify {self.densify_state['last_action']}")
        self.opt.step()
        losses.terms["n"] = torch.tensor(float(len(self.model)))
        return losses

    def finish(self) -> GaussianModel:
        """Final prune of nearly transparent Gaussians (as DreamGaussian does after training)."""
        threshold = self.ctx.cfg.static.prune_opacity
        if threshold <= 0:
            return self.model
        keep = self.model.opacities.detach() > threshold
        if bool(keep.all()) or int(keep.sum()) < 1:
            return self.model
        m = self.model
        self.model = GaussianModel(m.means[keep], m.log_scales[keep], m.quats[keep], m.opacity_logits[keep],
                                   m.sh_dc[keep], m.sh_rest[keep], sh_degree=m.sh_degree).to(self.ctx.device)
        return self.model

    # -- checkpoints ------------------------------------------------------------------------------
    def state_tensors(self) -> dict[str, torch.Tensor]:
        if self.densify_state is None:
            return {}
        return {f"densify.{k}": v for k, v in self.densify_state.items() if torch.is_tensor(v)}

    def state_meta(self) -> dict[str, Any]:
        return {"densify_counts": {k: v for k, v in (self.densify_state or {}).items()
                                   if isinstance(v, int) and not isinstance(v, bool)}}

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        if self.densify is None:
            return
        self.densify_state = self.densify.init_state(self.model)
        self.densify_state.update({k[len("densify."):]: v.to(self.ctx.device) for k, v in tensors.items()
                                   if k.startswith("densify.")})
        self.densify_state.update(meta.get("densify_counts", {}))


def _render_rgb(g, cams, bg) -> torch.Tensor:
    from motion4d.render import render

    return render(g, cams, bg).rgb
