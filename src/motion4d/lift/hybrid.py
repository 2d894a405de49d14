"""``guidance.kind: hybrid`` in the lift: 4D-fy's one-guidance-per-step draw (:class:`motion4d.guidance.HybridSDS`)
over the lift's two stages.

**Stages.** The hybrid config's stages with ``dynamic: false`` split the lift's static stage, in order; those with
``dynamic: true`` split its dynamic stage. Each lift stage runs its own ``iters`` (``static.iters``,
``dynamic.iters``); the last hybrid stage of a kind takes whatever steps remain, so a config of one static and one
dynamic stage fits any iteration count. A lift stage with no hybrid stage of its kind runs without guidance.

**Draws.** Step ``k`` of the static stage draws with key ``2k``, step ``k`` of the dynamic stage with key ``2k + 1``
(:meth:`motion4d.guidance.HybridScheduler.plan_at`): a pure function of (hybrid seed, lift stage, step), so a
resumed run replays them. ``none`` draws a step without guidance.

**What a step does.** Only the drawn guidance is called, on what its render spec asks for
(:class:`motion4d.lift.distill.Distiller`): novel views (groups of views for MVDream) at the step's frames, or one
clip from one camera for a video guidance, at the Distiller's evenly spaced times over the whole clip (the plan's
jittered ``times`` and its random single time are not used: the dynamic stage samples its own frames). Its loss is ``weights[name]`` (:meth:`HybridSDS.losses`) times the
stage's ``lambda_sds``. When the plan freezes the deformation (an image guidance on a dynamic stage with
``freeze_deformation_on_image_steps``, 4D-fy's default), that guidance's renders see detached deformation offsets,
so it shapes the canonical Gaussians only; the reference views still train the field.

**Exact resume.** Every member's generator is reseeded each step from ``(seed, global step, "guidance/<name>")``
(:meth:`HybridLiftGuidance.generators`) and every member's trainable state (VSD's LoRA and optimizer) is saved in
the checkpoint under its name.
"""
from __future__ import annotations

from typing import Any

import torch

from motion4d.guidance.hybrid import NO_GUIDANCE, HybridConfig, HybridPlan, HybridSDS
from motion4d.lift.config import LiftConfig, check_hybrid_options
from motion4d.lift.distill import Distiller, check_guidance

__all__ = ["HybridLiftGuidance", "HybridDistiller", "make_distiller", "dynamic_mix"]


class HybridLiftGuidance:
    """The lift's guidance for ``guidance.kind: hybrid``: a :class:`HybridSDS` mapped onto the lift stages.

    ``members`` are the built guidances (weights load on :meth:`load` or first use); ``needs`` is the union of
    theirs (a text-conditioned member needs the lift's prompt).
    """

    kind = "hybrid"

    def __init__(self, cfg: HybridConfig | dict[str, Any]) -> None:
        from motion4d.config import config_to_dict

        self.cfg = check_hybrid_options(cfg if isinstance(cfg, dict) else config_to_dict(cfg))
        self.hybrid = HybridSDS(self.cfg)
        self.members: dict[str, Any] = self.hybrid.guidances()
        stages = self.cfg.parsed_stages
        self._stages = {kind: [i for i, s in enumerate(stages) if s.dynamic == (kind == "dynamic")]
                        for kind in ("static", "dynamic")}

    @property
    def needs(self) -> frozenset[str]:
        return frozenset().union(*(getattr(g, "needs", ()) for g in self.members.values()))

    def load(self) -> "HybridLiftGuidance":
        """Load every member's weights now (a missing model fails before training)."""
        for g in self.members.values():
            if hasattr(g, "load"):
                g.load()
        return self

    def generators(self) -> dict[str, torch.Generator]:
        """``{"guidance/<name>": generator}``: the random streams the trainer reseeds every step."""
        return {f"guidance/{name}": g.generator for name, g in self.members.items()
                if isinstance(getattr(g, "generator", None), torch.Generator)}

    def plan(self, stage: str, step: int) -> HybridPlan | None:
        """The draw of step ``step`` of lift stage ``stage`` (``static`` | ``dynamic``); None when no hybrid stage
        is of that kind."""
        indices = self._stages[stage]
        start = 0
        for j, i in enumerate(indices):
            steps = self.cfg.parsed_stages[i].steps
            if step < start + steps or j == len(indices) - 1:
                return self.hybrid.scheduler.plan_at(i, step - start, 2 * step + (stage == "dynamic"))
            start += steps
        return None

    def losses(self, images: torch.Tensor, condition: Any, plan: HybridPlan) -> dict[str, torch.Tensor]:
        return self.hybrid.losses(images, condition, plan)

    # -- checkpoints ------------------------------------------------------------------------------
    def trainable_state_dict(self) -> dict[str, torch.Tensor]:
        out = {}
        for name, g in self.members.items():
            if hasattr(g, "trainable_state_dict"):
                out.update({f"{name}.{k}": v for k, v in g.trainable_state_dict().items()})
        return out

    def load_trainable_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        left = dict(state)
        for name, g in self.members.items():
            own = {k[len(name) + 1:]: left.pop(k) for k in list(left) if k.startswith(f"{name}.")}
            if hasattr(g, "load_trainable_state_dict"):
                g.load_trainable_state_dict(own)
            elif own:
                raise ValueError(f"checkpoint holds state for hybrid guidance {name!r}, which has none")
        if left:
            raise ValueError(f"checkpoint holds guidance state for {sorted({k.split('.')[0] for k in left})}, not "
                             f"guidances of this hybrid config ({', '.join(self.members)})")


class _Planned:
    """One hybrid draw seen as a plain guidance by :class:`Distiller` (its member's needs and render spec; a call
    returns :meth:`HybridSDS.losses` for the plan, weight included)."""

    def __init__(self, guidance: HybridLiftGuidance, plan: HybridPlan) -> None:
        member = guidance.members[plan.guidance]
        self.kind = f"{getattr(member, 'kind', plan.guidance)} ({plan.guidance})"
        self.needs = getattr(member, "needs", frozenset())
        self.render_spec = getattr(member, "render_spec", None)
        self._guidance, self._plan = guidance, plan

    def __call__(self, images: torch.Tensor, condition: Any, step: int = 0) -> dict[str, torch.Tensor]:
        return self._guidance.losses(images, condition, self._plan)


class HybridDistiller:
    """The lift's distiller for a :class:`HybridLiftGuidance`: :meth:`at` gives each step the :class:`Distiller` of
    the guidance drawn for it. Arguments as :class:`Distiller`."""

    def __init__(self, guidance: HybridLiftGuidance, cfg: LiftConfig, targets: torch.Tensor, ref_radius: float,
                 ref_elevation: float, bg: torch.Tensor) -> None:
        check_guidance(guidance, cfg)
        self.guidance, self.cfg = guidance, cfg
        self._args = (targets, ref_radius, ref_elevation, bg)
        self.draws: list[tuple[str, int, str]] = []
        """``(lift stage, step, guidance name)`` of every draw so far, in order (diagnostics and tests)."""

    is_clip = False

    def at(self, stage: str, step: int) -> tuple[Distiller | None, bool]:
        """``(distiller, freeze_deformation)`` for step ``step`` of ``stage``; ``(None, False)`` for no guidance."""
        plan = self.guidance.plan(stage, step)
        if plan is None:
            return None, False
        self.draws.append((stage, step, plan.guidance))
        if plan.guidance == NO_GUIDANCE:
            return None, False
        return Distiller(_Planned(self.guidance, plan), self.cfg, *self._args), plan.freeze_deformation


def make_distiller(guidance: Any, cfg: LiftConfig, targets: torch.Tensor, ref_radius: float, ref_elevation: float,
                   bg: torch.Tensor) -> Distiller | HybridDistiller:
    """The distiller the lift's stages call: a :class:`HybridDistiller` for a hybrid guidance, else a
    :class:`Distiller`."""
    cls = HybridDistiller if isinstance(guidance, HybridLiftGuidance) else Distiller
    return cls(guidance, cfg, targets, ref_radius, ref_elevation, bg)


def dynamic_mix(kind: str, options: dict[str, Any], name: str, extra: dict[str, Any], probability: float,
                weight: float = 1.0, seed: int = 0) -> dict[str, Any]:
    """``guidance.options`` of a ``hybrid`` lift that keeps guidance ``kind`` (``options``: its fields) as it was
    and adds guidance ``extra`` (``GuidanceConfig`` fields, e.g. the customized video model) to the dynamic stage,
    drawn on ``probability`` of its steps with loss weight ``weight``. The kept guidance is named ``novel_view``,
    alone in the static stage and drawn on the other dynamic steps without freezing the deformation
    (DreamGaussian4D's per-frame novel views supervise the deformed Gaussians); with ``kind == "none"`` those steps
    have no guidance."""
    if not 0.0 < probability <= 1.0:
        raise ValueError(f"probability of {name!r} must be in (0, 1], got {probability}")
    keep = "novel_view" if kind != "none" else "none"
    guidances = {name: dict(extra)}
    stages = []
    if kind != "none":
        guidances["novel_view"] = {"type": kind, **options}
        stages.append({"name": "static", "steps": 1, "probabilities": {"novel_view": 1.0}})
    dyn = {name: probability} if probability >= 1.0 else {keep: 1.0 - probability, name: probability}
    stages.append({"name": "dynamic", "steps": 1, "dynamic": True, "probabilities": dyn,
                   "freeze_deformation_on_image_steps": False})
    frames = int(dict(extra.get("video") or {}).get("num_frames", 16))
    return {"seed": seed, "frames": frames, "guidances": guidances, "weights": {name: weight}, "stages": stages}
