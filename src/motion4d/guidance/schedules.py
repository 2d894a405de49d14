"""Typed step schedules for guidance numbers, and diffusion-timestep samplers.

A number in a guidance config that may change with the optimisation step is a :class:`Schedule`
object: ``schedule(step) -> float``. Four kinds, each a frozen dataclass:

============================================  ====================================================
``Constant(value)``                           the same value at every step
``Ramp(start_step, start, end, end_step)``    ``start`` until ``start_step``, linear to ``end`` at
                                              ``end_step``, ``end`` after it
``Linear(points)``                            piecewise linear through ``(step, value)`` points,
                                              constant outside them
``Stepped(points)``                           the value of the last point whose step is <= step
                                              (a staircase), the first value before it
============================================  ====================================================

:meth:`Schedule.parse` builds one from a YAML / ``key=value`` value:

* ``7.5`` -> ``Constant(7.5)``
* ``[start_step, start, end, end_step]`` -> ``Ramp``: **threestudio's list order**
  (``threestudio.utils.misc.C``: ``start_step, start_value, end_value, end_step = value``).
  ``[start, end, end_step]`` means ``start_step = 0``, as in threestudio. The steps must be integers
  (YAML ``0``, not ``0.0``): a float there is read as a mistake (the older motion4d order
  ``[start, end, start_step, end_step]``) and rejected with the key named.
* ``[[step, value], [step, value], ...]`` -> ``Linear``
* a mapping with ``kind`` (``constant`` | ``ramp`` | ``linear`` | ``stepped``) and that kind's fields,
  e.g. ``{kind: stepped, points: [[0, 0.98], [5000, 0.5]]}`` (what :func:`motion4d.config.config_to_dict`
  writes for a schedule, so configs round-trip).

Timestep samplers (:class:`TimestepSampler`) return integer diffusion timesteps in
``[0, num_train_timesteps)``; their bounds are fractions of ``num_train_timesteps`` (and may
themselves be schedules):

* ``anneal``  DreamGaussian4D's deterministic linear annealing: ``t = round((1 - step/anneal_steps) * T)``
  clipped to ``[t_min*T, t_max*T]``, shared by the whole batch;
* ``uniform`` ``t ~ U[t_min*T, t_max*T]`` per call (one ``t`` for the batch, or one per sample);
* ``range``   same as ``uniform`` but ``t_min``/``t_max`` are step schedules (threestudio's annealed
  range, e.g. ``t_max: [0, 0.98, 0.5, 5000]``).
"""
from __future__ import annotations

import abc
import bisect
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Sequence, Union

import torch

__all__ = ["Schedule", "Constant", "Ramp", "Linear", "Stepped", "ScheduleLike",
           "TimestepSampler", "TIMESTEP_MODES"]

TIMESTEP_MODES = ("anneal", "uniform", "range")
_FORMS = ("a number, [start_step, start, end, end_step] (threestudio's order; integer steps), "
          "[start, end, end_step], [[step, value], ...] or {kind: constant|ramp|linear|stepped, ...}")


def _number(value: Any, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise ValueError(f"{what} must be a number, got {value!r}")
    if not math.isfinite(float(value)):
        raise ValueError(f"{what} must be finite, got {value!r}")
    return float(value)


def _step(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{what} must be an integer step, got {value!r}")
    return int(value)


def _points(points: Any) -> tuple[tuple[int, float], ...]:
    if not isinstance(points, (list, tuple)) or not points:
        raise ValueError(f"points must be a non-empty list of [step, value], got {points!r}")
    out = []
    for p in points:
        if not isinstance(p, (list, tuple)) or len(p) != 2:
            raise ValueError(f"every point must be [step, value], got {p!r}")
        s, v = p
        if isinstance(s, float) and s.is_integer():
            s = int(s)
        out.append((_step(s, "a point's step"), _number(v, "a point's value")))
    if any(b[0] <= a[0] for a, b in zip(out, out[1:])):
        raise ValueError(f"point steps must increase strictly, got {[p[0] for p in out]}")
    return tuple(out)


class Schedule(abc.ABC):
    """A number that may change with the optimisation step: ``schedule(step) -> float``.

    Subclasses are frozen dataclasses (so configs holding them compare, copy and serialise); each has
    a ``kind`` field naming it in the mapping form.
    """

    kinds: ClassVar[dict[str, type["Schedule"]]] = {}

    @abc.abstractmethod
    def __call__(self, step: int | float = 0) -> float:  # pragma: no cover - abstract
        ...

    @property
    def is_constant(self) -> bool:
        return False

    @classmethod
    def parse(cls, value: "ScheduleLike", key: str = "value") -> "Schedule":
        """A :class:`Schedule` from any accepted form (module docstring); a Schedule is returned as is.

        Raises ``ValueError`` naming ``key``, the bad value and the accepted forms.
        """
        if isinstance(value, Schedule):
            return value
        try:
            return _parse(value)
        except (TypeError, ValueError) as e:
            raise ValueError(f"{key}={value!r} is not a valid schedule ({e}); use {_FORMS}") from None


def _parse(value: Any) -> Schedule:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return Constant(value)
    if isinstance(value, dict):
        data = dict(value)
        kind = data.pop("kind", None)
        if kind not in Schedule.kinds:
            raise ValueError(f"kind {kind!r} is not one of {', '.join(Schedule.kinds)}")
        return Schedule.kinds[kind](**data)
    if isinstance(value, (list, tuple)) and value:
        if all(isinstance(v, (list, tuple)) for v in value):
            return Linear(value)
        if len(value) == 4:
            return Ramp(*value)
        if len(value) == 3:
            return Ramp(0, *value)
        raise ValueError(f"a ramp list has 3 or 4 numbers, got {len(value)}")
    raise ValueError("not a number, list or mapping")


def _register(cls):
    Schedule.kinds[cls.__dataclass_fields__["kind"].default] = cls
    return cls


@_register
@dataclass(frozen=True)
class Constant(Schedule):
    """The same ``value`` at every step."""

    value: float
    kind: str = field(default="constant", init=False, repr=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "value", _number(self.value, "value"))

    def __call__(self, step: int | float = 0) -> float:
        return self.value

    @property
    def is_constant(self) -> bool:
        return True


@_register
@dataclass(frozen=True)
class Ramp(Schedule):
    """``start`` until ``start_step``, linear to ``end`` at ``end_step``, then ``end``.

    The argument order is threestudio's list order ``[start_step, start_value, end_value, end_step]``.
    """

    start_step: int
    start: float
    end: float
    end_step: int
    kind: str = field(default="ramp", init=False, repr=False)

    def __post_init__(self) -> None:
        s0, s1 = _step(self.start_step, "start_step"), _step(self.end_step, "end_step")
        if s1 <= s0:
            raise ValueError(f"end_step {s1} must be after start_step {s0}")
        object.__setattr__(self, "start_step", s0)
        object.__setattr__(self, "end_step", s1)
        object.__setattr__(self, "start", _number(self.start, "start"))
        object.__setattr__(self, "end", _number(self.end, "end"))

    def __call__(self, step: int | float = 0) -> float:
        f = min(1.0, max(0.0, (step - self.start_step) / (self.end_step - self.start_step)))
        return self.start + (self.end - self.start) * f

    @property
    def is_constant(self) -> bool:
        return self.start == self.end


@dataclass(frozen=True)
class _Points(Schedule):
    points: tuple[tuple[int, float], ...]

    def __post_init__(self) -> None:
        object.__setattr__(self, "points", _points(self.points))

    @property
    def is_constant(self) -> bool:
        return len({v for _, v in self.points}) == 1


@_register
@dataclass(frozen=True)
class Linear(_Points):
    """Piecewise linear through ``points`` (``(step, value)``, steps strictly increasing); constant outside."""

    kind: str = field(default="linear", init=False, repr=False)

    def __call__(self, step: int | float = 0) -> float:
        pts = self.points
        if step <= pts[0][0]:
            return pts[0][1]
        if step >= pts[-1][0]:
            return pts[-1][1]
        i = bisect.bisect_right([p[0] for p in pts], step)
        (s0, v0), (s1, v1) = pts[i - 1], pts[i]
        return v0 + (v1 - v0) * (step - s0) / (s1 - s0)


@_register
@dataclass(frozen=True)
class Stepped(_Points):
    """A staircase: the value of the last point whose step is <= ``step`` (the first value before it)."""

    kind: str = field(default="stepped", init=False, repr=False)

    def __call__(self, step: int | float = 0) -> float:
        i = bisect.bisect_right([p[0] for p in self.points], step)
        return self.points[max(i - 1, 0)][1]


ScheduleLike = Union[float, int, Sequence[Any], dict, Schedule]


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
