"""What every lift stage shares: the training data on the device, the typed per-step result, photometric
losses and view sampling.

A stage is an object with its own optimiser and its own step counter ``0 .. iters - 1``; the engine
(:class:`motion4d.lift.trainer.LiftTrainer`) runs the stages one after the other, seeds every step from
``(seed, stage, step)`` and checkpoints them.
"""
from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

import torch
import torch.nn.functional as F

from motion4d.camera import Cameras
from motion4d.gaussians.model import Gaussians, GaussianModel
from motion4d.lift.config import LiftConfig
from motion4d.render import RenderOutput, render

if TYPE_CHECKING:  # pragma: no cover
    from motion4d.lift.distill import Distiller

__all__ = ["LiftContext", "StepLosses", "Stage", "GAUSS_LRS"]

#: (GaussianModel parameter, StaticConfig learning-rate field)
GAUSS_LRS = (("means", "lr_means"), ("log_scales", "lr_scales"), ("quats", "lr_quats"),
             ("opacity_logits", "lr_opacity"), ("sh_dc", "lr_sh"), ("sh_rest", "lr_sh_rest"))


@dataclass
class LiftContext:
    """The training data every stage reads (on the training device).

    Attributes:
        cfg: the resolved config.
        targets: reference/calibrated frames composited on ``bg``, ``[V, F, H, W, 3]`` in [0, 1].
        masks: their alpha, ``[V, F, H, W, 1]``.
        cameras: the V calibrated cameras (view 0 = reference).
        times: normalised frame times ``[F]`` (``f / (F - 1)``; ``[0]`` for a single frame).
        bg: background colour ``[3]``.
        ref_radius: distance of the reference camera from the origin (world units).
        distiller: score distillation (None without guidance): a
            :class:`~motion4d.lift.distill.Distiller`, or a :class:`~motion4d.lift.hybrid.HybridDistiller`
            that picks one guidance per step (read it through :meth:`distiller_at`).
        log: one-line messages.
    """

    cfg: LiftConfig
    targets: torch.Tensor
    masks: torch.Tensor
    cameras: Cameras
    times: torch.Tensor
    bg: torch.Tensor
    ref_radius: float
    distiller: "Distiller | None" = None
    log: Callable[[str], None] = print

    @property
    def device(self) -> torch.device:
        return self.targets.device

    def distiller_at(self, stage: str, step: int) -> tuple["Distiller | None", bool]:
        """``(distiller, freeze_deformation)`` of step ``step`` of lift stage ``stage``: the one distiller, or the
        hybrid's draw for that step; ``(None, False)`` when the step has no score distillation."""
        d = self.distiller
        if d is None or not hasattr(d, "at"):
            return d, False
        return d.at(stage, step)

    @property
    def num_views(self) -> int:
        return self.targets.shape[0]

    @property
    def num_frames(self) -> int:
        return self.targets.shape[1]


@dataclass
class StepLosses:
    """One step's losses: named scalar ``terms`` (already weighted where a weight applies only inside the
    term, e.g. the guidance's own weight), the weighted ``total`` that is back-propagated, and the
    ``render`` whose ``means2d`` gradient drives densification (None when nothing needs it)."""

    terms: dict[str, torch.Tensor] = field(default_factory=dict)
    total: torch.Tensor | float = 0.0
    render: RenderOutput | None = None

    def add(self, other: "StepLosses", scale: float = 1.0) -> None:
        """Accumulate ``other`` (terms averaged with ``scale``, total added times ``scale``)."""
        for k, v in other.terms.items():
            self.terms[k] = self.terms.get(k, 0.0) + v.detach() * scale
        self.total = self.total + other.total * scale

    def logged(self) -> dict[str, torch.Tensor]:
        """Detached terms plus ``loss`` (the total), for the history and the progress bar."""
        out = {k: v.detach() if torch.is_tensor(v) else torch.tensor(float(v)) for k, v in self.terms.items()}
        out["loss"] = self.total.detach() if torch.is_tensor(self.total) else torch.tensor(float(self.total))
        return out


class Stage(abc.ABC):
    """Base class of a lift stage. Subclasses set ``name``, build ``self.opt`` and implement :meth:`step`.

    ``step(k, gen)`` runs one optimisation step at the stage's own step ``k`` (schedules and the
    guidance's annealing read ``k``) with ``gen`` as its only source of randomness.
    """

    name = "stage"

    def __init__(self, ctx: LiftContext, model: GaussianModel, iters: int) -> None:
        self.ctx, self.model, self.iters = ctx, model, int(iters)
        self.opt: torch.optim.Optimizer | None = None

    # -- to implement ---------------------------------------------------------------------------
    @abc.abstractmethod
    def step(self, step: int, gen: torch.Generator) -> StepLosses:  # pragma: no cover - abstract
        ...

    def finish(self) -> GaussianModel:
        """Called once after the last step; returns the canonical model handed to the next stage."""
        return self.model

    def state_tensors(self) -> dict[str, torch.Tensor]:
        """Stage tensors to checkpoint besides the Gaussians and the optimiser (e.g. the field)."""
        return {}

    def state_meta(self) -> dict[str, Any]:
        return {}

    def load_state(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
        """Restore :meth:`state_tensors` / :meth:`state_meta` (the optimiser is restored by the engine)."""

    # -- shared pieces --------------------------------------------------------------------------
    def gaussian_groups(self, scale: float) -> list[dict]:
        cfg = self.ctx.cfg.static
        return [{"params": [getattr(self.model, name)], "lr": getattr(cfg, key) * scale, "name": name}
                for name, key in GAUSS_LRS]

    def ref_weight(self, warmup: bool, step: int) -> float:
        """Reference-view weight: a linear ramp from 0 over the stage with ``warmup`` and a guidance."""
        if warmup and self.ctx.distiller is not None:
            return min(1.0, (step + 1) / max(1, self.iters))
        return 1.0

    def sample_views(self, gen: torch.Generator, count: int) -> torch.Tensor:
        """The reference view plus ``count - 1`` distinct random calibrated views."""
        others = torch.randperm(self.ctx.num_views - 1, generator=gen)[: max(0, count - 1)] + 1
        return torch.cat([torch.zeros(1, dtype=torch.long), others])

    def photo_losses(self, g: Gaussians, views: torch.Tensor, frame: int, lam_rgb: float, lam_mask: float,
                     weight: float) -> StepLosses:
        """MSE of colour and alpha against frame ``frame`` of ``views``; total ``weight (l_rgb rgb + l_mask mask)``.

        With ``lam_rgb == lam_mask == 0`` (no reference supervision: text-only 4D) nothing is rendered: no terms,
        total 0, no render."""
        ctx = self.ctx
        if lam_rgb == 0 and lam_mask == 0:
            return StepLosses()
        out = render(g, ctx.cameras[views.tolist()], ctx.bg)
        rgb = F.mse_loss(out.rgb, ctx.targets[views, frame])
        alpha = F.mse_loss(out.alpha, ctx.masks[views, frame])
        return StepLosses({"rgb": rgb, "mask": alpha}, weight * (lam_rgb * rgb + lam_mask * alpha), out)
