"""Step schedules for guidance numbers, and diffusion-timestep samplers.

Any number in a guidance config may be a :class:`Schedule` over optimisation steps. Accepted forms
(all parsed by :meth:`Schedule.parse`)::

    7.5                                  constant
    [start, end, start_step, end_step]   linear ramp; constant before start_step and after end_step
    [[step, value], [step, value], ...]  piecewise linear through the points; constant outside them

Timestep samplers (:class:`TimestepSampler`) return integer diffusion timesteps in
``[0, num_train_timesteps)``; their bounds are fractions of ``num_train_timesteps`` (and may
themselves be schedules):

* ``anneal``  DreamGaussian4D's deterministic linear annealing: ``t = round((1 - step/anneal_steps) * T)``
  clipped to ``[t_min*T, t_max*T]``, shared by the whole batch;
* ``uniform`` ``t ~ U[t_min*T, t_max*T]`` per call (one ``t`` for the batch, or one per sample);
* ``range``   same as ``uniform`` but ``t_min``/``t_max`` are step schedules (threestudio's annealed
  range, e.g. ``t_max: [0.98, 0.5, 0, 5000]``).
"""
from __future__ import annotations

import bisect
import math
from dataclasses import dataclass
from typing import Any, Sequence, Union

import torch

__all__ = ["Schedule", "ScheduleLike", "TimestepSampler", "TIMESTEP_MODES"]

ScheduleLike = Union[float, int, Sequence[Any], "Schedule"]
TIMESTEP_MODES = ("anneal", "uniform", "range")


class Schedule:
    """A number that may change with the optimisation step (piecewise linear).

    ``Schedule.parse(value)(step)`` returns a float. ``points`` holds ``(step, value)`` pairs with
    strictly increasing steps; a constant has one point.
    """

    __slots__ = ("points", "_steps")

    def __init__(self, points: Sequence[tuple[float, float]]):
        pts = [(float(s), float(v)) for s, v in points]
        if not pts:
            raise ValueError("a schedule needs at least one (step, value) point")
        if any(b[0] <= a[0] for a, b in zip(pts, pts[1:])):
            raise ValueError(f"schedule steps must increase strictly, got {[p[0] for p in pts]}")
        if not all(math.isfinite(v) and math.isfinite(s) for s, v in pts):
            raise ValueError(f"schedule values must be finite, got {pts}")
        self.points = pts
        self._steps = [p[0] for p in pts]

    @classmethod
    def constant(cls, value: float) -> "Schedule":
        return cls([(0.0, value)])

    @classmethod
    def parse(cls, value: ScheduleLike, key: str = "value") -> "Schedule":
        """Build from a number, ``[start, end, start_step, end_step]`` or ``[[step, value], ...]``.

        Raises ``ValueError`` naming ``key`` and the accepted forms when ``value`` is none of them.
        """
        if isinstance(value, Schedule):
            return value
        if isinstance(value, bool):
            raise ValueError(f"{key}={value!r} is not a number or schedule")
        if isinstance(value, (int, float)):
            return cls.constant(float(value))
        forms = "a number, [start, end, start_step, end_step] or [[step, value], ...]"
        if isinstance(value, (list, tuple)) and value:
            try:
                if all(isinstance(v, (list, tuple)) for v in value):
                    if not all(len(v) == 2 for v in value):
                        raise ValueError("every point must be [step, value]")
                    return cls([(float(s), float(v)) for s, v in value])
                if len(value) == 4 and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
                    start, end, s0, s1 = (float(v) for v in value)
                    if s1 <= s0:
                        raise ValueError(f"end_step {s1:g} must be after start_step {s0:g}")
                    return cls([(s0, start), (s1, end)])
            except (TypeError, ValueError) as e:
                raise ValueError(f"{key}={value!r} is not a valid schedule ({e}); use {forms}") from None
        raise ValueError(f"{key}={value!r} is not a valid schedule; use {forms}")

    def __call__(self, step: int | float = 0) -> float:
        pts = self.points
        if step <= pts[0][0]:
            return pts[0][1]
        if step >= pts[-1][0]:
            return pts[-1][1]
        i = bisect.bisect_right(self._steps, step)
        (s0, v0), (s1, v1) = pts[i - 1], pts[i]
        return v0 + (v1 - v0) * (step - s0) / (s1 - s0)

    @property
    def is_constant(self) -> bool:
        return len({v for _, v in self.points}) == 1

    def __repr__(self) -> str:
        if len(self.points) == 1:
            return f"Schedule({self.points[0][1]:g})"
        return f"Schedule({[list(p) for p in self.points]})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Schedule) and other.points == self.points


@dataclass
class TimestepSampler:
    """Draws diffusion timesteps for score distillation.

    Attributes:
        mode: ``anneal`` | ``uniform`` | ``range`` (see the module docstring).
        t_min, t_max: bounds as fractions of ``num_train_timesteps`` (schedules allowed).
        num_train_timesteps: the scheduler's ``T`` (1000 for every supported model).
        anneal_steps: optimisation steps over which ``anneal`` goes from ``T`` to 0 (DG4D: iters).
        per_sample: draw one ``t`` per batch element (``uniform``/``range``) instead of one shared ``t``.
    """

    mode: str = "uniform"
    t_min: ScheduleLike = 0.02
    t_max: ScheduleLike = 0.98
    num_train_timesteps: int = 1000
    anneal_steps: int = 500
    per_sample: bool = False

    def __post_init__(self) -> None:
        if self.mode not in TIMESTEP_MODES:
            raise ValueError(f"timestep mode {self.mode!r} is not one of {', '.join(TIMESTEP_MODES)}")
        self._min = Schedule.parse(self.t_min, "t_min")
        self._max = Schedule.parse(self.t_max, "t_max")
        if self.anneal_steps <= 0:
            raise ValueError(f"anneal_steps must be positive, got {self.anneal_steps}")

    def bounds(self, step: int) -> tuple[int, int]:
        """Integer ``(lo, hi)`` timestep bounds (inclusive) at ``step``."""
        T = self.num_train_timesteps
        lo, hi = self._min(step), self._max(step)
        if not (0.0 <= lo <= hi <= 1.0):
            raise ValueError(f"timestep range must satisfy 0 <= t_min <= t_max <= 1, got t_min={lo:g}, "
                             f"t_max={hi:g} at step {step}")
        return int(round(lo * T)), min(int(round(hi * T)), T - 1)

    def __call__(self, step: int, batch: int = 1, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
        """Timesteps ``[batch]`` (int64) for optimisation ``step``."""
        lo, hi = self.bounds(step)
        if self.mode == "anneal":
            t = round((1.0 - min(step, self.anneal_steps) / self.anneal_steps) * self.num_train_timesteps)
            t = min(max(t, lo), hi)
            return torch.full((batch,), t, dtype=torch.long, device=device)
        n = batch if self.per_sample else 1
        t = torch.randint(lo, hi + 1, (n,), generator=generator, dtype=torch.long)
        return t.expand(batch).clone().to(device)
