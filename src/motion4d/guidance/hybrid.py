"""Hybrid score distillation (4D-fy): one guidance per step, drawn with per-stage probabilities.

4D-fy alternates MVDream (3D-aware), Stable Diffusion VSD (image quality) and ZeroScope (motion):
each step uses exactly **one** diffusion model, never a sum. The scheduler here is that sampling
policy, kept out of the camera sampler. For each step it says

* which guidance to call (``plan.guidance``),
* whether the 4D loop renders one time (``plan.render == "time"``, with ``plan.times`` of length 1)
  or a clip of frames from one camera (``"clip"``, ``plan.times`` of length F, 4D-fy's jittered
  ``linspace(t0, t0 + (F-1)/F, F)``, ``t0 ~ U(0, 1/F)``),
* whether the deformation field is frozen for this step (``plan.freeze_deformation``: static stages,
  and image-model steps of dynamic stages by default, as in 4D-fy).

A stage may give a probability to the reserved name ``none``: that share of its steps calls no guidance
(``plan.guidance == "none"``, ``plan.render == "none"``), e.g. a dynamic stage that adds video SDS to a fraction
of its steps and has no other guidance.

Draws are a pure function of ``(seed, step)``, so a resumed run replays the same sequence.
Schedules inside each guidance are evaluated with the step *within the stage* (4D-fy restarts them
per stage); a stage may override guidance fields (``overrides: {mvdream: {t_max: 0.5}}``).

Preset: ``load_config(HybridConfig, preset=("guidance", "hybrid-4dfy"))``.
"""
from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import torch

from motion4d.config import ConfigError
from motion4d.guidance.schedules import Schedule

__all__ = ["HybridConfig", "HybridStage", "HybridPlan", "HybridScheduler", "HybridSDS", "NO_GUIDANCE"]

#: the reserved guidance name of a step without guidance
NO_GUIDANCE = "none"


@dataclass(frozen=True)
class HybridStage:
    """One stage: ``steps`` optimisation steps drawing guidances with ``probabilities``."""

    name: str
    steps: int
    probabilities: dict[str, float]
    dynamic: bool = False
    freeze_deformation_on_image_steps: bool = True
    overrides: dict[str, dict[str, Any]] = field(default_factory=dict)


@dataclass(frozen=True)
class HybridPlan:
    """What to do at one step (see the module docstring)."""

    step: int
    stage: str
    stage_index: int
    stage_step: int
    guidance: str
    render: str
    times: tuple[float, ...]
    freeze_deformation: bool


@dataclass
class HybridConfig:
    """Hybrid SDS: named guidance configs (fields of :class:`GuidanceConfig`) and stages.

    ``weights`` maps a guidance name to the weight of its loss (4D-fy's ``lambda_sds_*``; a
    :class:`~motion4d.guidance.schedules.Schedule`, evaluated at the stage-local step; default 1).
    ``clip_guidances`` lists the guidances that need a clip (default: those of type ``video``);
    ``frames`` is the clip length (4D-fy: 16).
    """

    seed: int = 0
    frames: int = 16
    guidances: dict[str, Any] = field(default_factory=dict)
    stages: list[dict] = field(default_factory=list)
    weights: dict[str, Any] = field(default_factory=dict)
    clip_guidances: list[str] | None = None

    def __post_init__(self) -> None:
        from motion4d.config import load_config
        from motion4d.guidance.config import GuidanceConfig

        if not self.guidances:
            raise ConfigError("hybrid config needs at least one entry under 'guidances'")
        if not self.stages:
            raise ConfigError("hybrid config needs at least one stage under 'stages'")
        if NO_GUIDANCE in self.guidances:
            raise ConfigError(f"guidances: {NO_GUIDANCE!r} is reserved (a step without guidance); rename it")
        if self.frames < 1:
            raise ConfigError(f"frames must be >= 1, got {self.frames}")
        self.guidance_configs: dict[str, GuidanceConfig] = {}
        for name, g in self.guidances.items():
            if not isinstance(g, dict):
                raise ConfigError(f"guidances.{name} must be a mapping of GuidanceConfig fields, got {g!r}")
            try:
                self.guidance_configs[name] = load_config(GuidanceConfig, data=g)
            except ConfigError as e:
                raise ConfigError(f"guidances.{name}: {e}") from None
        if self.clip_guidances is None:
            self.clip_guidances = [n for n, c in self.guidance_configs.items() if c.type == "video"]
        self.loss_weights: dict[str, Schedule] = {}
        for name in self.guidance_configs:
            try:
                self.loss_weights[name] = Schedule.parse(self.weights.get(name, 1.0), f"weights.{name}")
            except ValueError as e:
                raise ConfigError(str(e)) from None
        unknown = set(self.weights) - set(self.guidance_configs)
        if unknown:
            raise ConfigError(f"weights: unknown guidance(s) {', '.join(sorted(unknown))}; defined: "
                              f"{', '.join(self.guidance_configs)}")
        self.parsed_stages = [self._stage(i, s) for i, s in enumerate(self.stages)]

    def _stage(self, i: int, s: dict) -> HybridStage:
        from motion4d.config import load_config
        from motion4d.guidance.config import GuidanceConfig

        allowed = {"name", "steps", "probabilities", "dynamic", "freeze_deformation_on_image_steps", "overrides"}
        if not isinstance(s, dict):
            raise ConfigError(f"stages[{i}] must be a mapping, got {s!r}")
        unknown = set(s) - allowed
        if unknown:
            raise ConfigError(f"stages[{i}]: unknown key(s) {', '.join(sorted(unknown))}; valid keys: "
                              f"{', '.join(sorted(allowed))}")
        name = str(s.get("name", f"stage{i + 1}"))
        steps = s.get("steps")
        if not isinstance(steps, int) or steps < 1:
            raise ConfigError(f"stages[{i}] ({name}): steps must be a positive integer, got {steps!r}")
        probs = s.get("probabilities")
        if not isinstance(probs, dict) or not probs:
            raise ConfigError(f"stages[{i}] ({name}): probabilities must map guidance names to probabilities")
        for g, p in probs.items():
            if g not in self.guidance_configs and g != NO_GUIDANCE:
                raise ConfigError(f"stages[{i}] ({name}): unknown guidance {g!r}; defined: "
                                  f"{', '.join(self.guidance_configs)} (or {NO_GUIDANCE!r}: no guidance)")
            if not isinstance(p, (int, float)) or p < 0:
                raise ConfigError(f"stages[{i}] ({name}): probability of {g!r} must be >= 0, got {p!r}")
        total = sum(probs.values())
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"stages[{i}] ({name}): probabilities must sum to 1, got {total:g}")
        dynamic = bool(s.get("dynamic", False))
        if not dynamic and any(probs.get(g, 0) > 0 for g in self.clip_guidances or []):
            raise ConfigError(f"stages[{i}] ({name}): a static stage cannot use clip guidance "
                              f"{[g for g in self.clip_guidances if probs.get(g, 0) > 0]}")
        overrides = s.get("overrides") or {}
        for g, over in overrides.items():
            if g not in self.guidance_configs:
                raise ConfigError(f"stages[{i}] ({name}): overrides for unknown guidance {g!r}")
            if not isinstance(over, dict):
                raise ConfigError(f"stages[{i}] ({name}): overrides.{g} must be a mapping of guidance fields, "
                                  f"got {over!r}")
            try:                                    # the stage's guidance config must be valid now, not later
                load_config(GuidanceConfig, data={**self.guidances[g], **dict(over)})
            except ConfigError as e:
                raise ConfigError(f"stages[{i}] ({name}): overrides.{g}: {e}") from None
        return HybridStage(name, steps, {k: float(v) for k, v in probs.items()}, dynamic,
                           bool(s.get("freeze_deformation_on_image_steps", True)), dict(overrides))

    @property
    def total_steps(self) -> int:
        return sum(s.steps for s in self.parsed_stages)


class HybridScheduler:
    """Per-step guidance choice, render mode and freezing for a :class:`HybridConfig` (seeded)."""

    def __init__(self, cfg: HybridConfig):
        self.cfg = cfg
        self.stages = cfg.parsed_stages

    def stage_at(self, step: int) -> tuple[int, int]:
        """``(stage_index, step_within_stage)`` for a global step (steps past the end stay in the last stage)."""
        if step < 0:
            raise ValueError(f"step must be >= 0, got {step}")
        start = 0
        for i, s in enumerate(self.stages):
            if step < start + s.steps or i == len(self.stages) - 1:
                return i, step - start
            start += s.steps
        raise AssertionError  # pragma: no cover

    def plan(self, step: int) -> HybridPlan:
        """The plan for global ``step``; a pure function of ``(cfg.seed, step)``."""
        index, local = self.stage_at(step)
        return self.plan_at(index, local, step)

    def plan_at(self, stage_index: int, stage_step: int, key: int) -> HybridPlan:
        """The plan for step ``stage_step`` of stage ``stage_index``, drawn from ``(cfg.seed, key)`` (``key``: any
        integer unique to the step, e.g. the global step; a caller that runs the stages on its own step counters,
        like the lift, passes its own). Pure: the same arguments give the same plan."""
        stage = self.stages[stage_index]
        rng = random.Random(self.cfg.seed * 1_000_003 + key)
        names = list(stage.probabilities)
        guidance = rng.choices(names, weights=[stage.probabilities[n] for n in names])[0]
        clip = guidance in (self.cfg.clip_guidances or [])
        if clip:
            F = self.cfg.frames
            t0 = rng.uniform(0.0, 1.0 / F)
            times = tuple(t0 + i / F for i in range(F))
        else:
            times = (rng.random() if stage.dynamic else 0.0,)
        freeze = (not stage.dynamic) or (not clip and stage.freeze_deformation_on_image_steps)
        render = "none" if guidance == NO_GUIDANCE else "clip" if clip else "time"
        return HybridPlan(key, stage.name, stage_index, stage_step, guidance, render, times, freeze)


class HybridSDS:
    """Hybrid SDS runner: :class:`HybridScheduler` plus the guidances, built lazily on first use.

    Example::

        hybrid = HybridSDS(load_config(HybridConfig, preset=("guidance", "hybrid-4dfy")))
        plan = hybrid.plan(step)                      # what to render
        images = ...render plan.times (one view, 4 views for MVDream, or a clip)...
        losses = hybrid.losses(images, condition, plan)
    """

    def __init__(self, cfg: HybridConfig):
        self.cfg = cfg
        self.scheduler = HybridScheduler(cfg)
        self._guidances: dict[str, Any] = {}
        self._stage_of: dict[str, int] = {}

    def plan(self, step: int) -> HybridPlan:
        return self.scheduler.plan(step)

    def guidance(self, name: str):
        """The built guidance called ``name`` (weights load on its first call)."""
        if name not in self._guidances:
            from motion4d.guidance.config import build_guidance

            if name not in self.cfg.guidance_configs:
                raise KeyError(f"no guidance {name!r}; defined: {', '.join(self.cfg.guidance_configs)}")
            self._guidances[name] = build_guidance(self.cfg.guidance_configs[name])
        return self._guidances[name]

    def render_spec(self, plan: HybridPlan):
        """What ``plan`` needs rendered (None for a step without guidance)."""
        return None if plan.guidance == NO_GUIDANCE else self.guidance(plan.guidance).render_spec

    def guidances(self) -> dict[str, Any]:
        """Every guidance of the config, built (weights still load on first use)."""
        return {name: self.guidance(name) for name in self.cfg.guidance_configs}

    def losses(self, images: torch.Tensor, condition: Any, plan: HybridPlan) -> dict[str, torch.Tensor]:
        """Losses of ``plan.guidance`` on ``images`` times ``weights[plan.guidance]``; the guidance's schedules
        and the weight are evaluated at ``plan.stage_step``. A step without guidance has no losses."""
        if plan.guidance == NO_GUIDANCE:
            return {}
        g = self.guidance(plan.guidance)
        if self._stage_of.get(plan.guidance) != plan.stage_index:
            base = self.cfg.guidances[plan.guidance]
            over = self.cfg.parsed_stages[plan.stage_index].overrides.get(plan.guidance, {})
            fields = {k: v for k, v in {**base, **over}.items() if k not in ("type", "model", "precision", "device")}
            g.reconfigure(**fields)
            self._stage_of[plan.guidance] = plan.stage_index
        weight = self.cfg.loss_weights[plan.guidance](plan.stage_step)
        return {k: weight * v for k, v in g.losses(images, condition, plan.stage_step).items()}
