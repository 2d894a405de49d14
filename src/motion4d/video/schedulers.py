"""Noise schedulers for sampling, inversion and training, all diffusers classes built from the backbone's
scheduler config (``scheduler/scheduler_config.json``).

Sampling schedulers by name (:data:`SCHEDULERS`): ``ddim`` (deterministic, η = 0; the default and the one the
noise prior inverts), ``dpm-solver++`` (2nd-order multistep, good at 15-25 steps), ``unipc``, ``euler``, and for
flow-matching backbones ``flow-match-euler``. A diffusion (ε / v) config builds the first four; a flow-matching
config (``_class_name`` ``FlowMatch*``, e.g. Wan2.1) builds only ``flow-match-euler``.

Training noise (:func:`noisy_and_target`), for timestep ``t`` and noise ε:

| prediction type | noisy ``z_t``                       | target                   |
|-----------------|-------------------------------------|--------------------------|
| ``epsilon``     | ``scheduler.add_noise(z0, ε, t)``   | ε                        |
| ``v_prediction``| ``scheduler.add_noise(z0, ε, t)``   | ``get_velocity(z0, ε, t)``|
| ``sample``      | ``scheduler.add_noise(z0, ε, t)``   | z0                       |
| ``flow``        | ``(1 − σ) z0 + σ ε``, σ = t / T     | ε − z0                   |

(T = ``num_train_timesteps``; σ = t / T is diffusers' FlowMatchEulerDiscreteScheduler convention, shift included.)
"""
from __future__ import annotations

import torch

__all__ = ["SCHEDULERS", "make_scheduler", "make_inverse_scheduler", "prediction_type", "is_flow_matching",
           "noisy_and_target"]

# name -> (diffusers class, config overrides, family)
SCHEDULERS: dict[str, tuple[str, dict, str]] = {
    "ddim": ("DDIMScheduler", {}, "diffusion"),
    "dpm-solver++": ("DPMSolverMultistepScheduler", {"algorithm_type": "dpmsolver++", "solver_order": 2}, "diffusion"),
    "unipc": ("UniPCMultistepScheduler", {}, "diffusion"),
    "euler": ("EulerDiscreteScheduler", {}, "diffusion"),
    "flow-match-euler": ("FlowMatchEulerDiscreteScheduler", {}, "flow"),
}


def is_flow_matching(config: dict) -> bool:
    """True for a flow-matching scheduler config (``_class_name`` starting with ``FlowMatch``)."""
    return str(config.get("_class_name", "")).startswith("FlowMatch")


def prediction_type(config: dict) -> str:
    """What the model predicts: ``epsilon``, ``v_prediction``, ``sample`` or ``flow`` (flow matching)."""
    if is_flow_matching(config):
        return "flow"
    kind = config.get("prediction_type", "epsilon")
    if kind not in ("epsilon", "v_prediction", "sample"):
        raise ValueError(f"unsupported prediction_type {kind!r} in the scheduler config "
                         f"(allowed: epsilon, v_prediction, sample, or a FlowMatch* scheduler)")
    return kind


def make_scheduler(config: dict, name: str = "ddim"):
    """A diffusers scheduler ``name`` (see :data:`SCHEDULERS`) on the noise schedule of ``config``.

    x0 clipping and thresholding are always off (``clip_sample=False``, ``thresholding=False``): they are for
    pixel-space models, latents are not bounded to [-1, 1] (the text-to-video models ship ``clip_sample: false``,
    and motion4d's sampler never clipped).
    ``ValueError`` names the allowed schedulers for an unknown name or a family mismatch.
    """
    import diffusers

    if name not in SCHEDULERS:
        raise ValueError(f"unknown scheduler {name!r}; choose one of: {', '.join(SCHEDULERS)}")
    cls_name, overrides, family = SCHEDULERS[name]
    want = "flow" if is_flow_matching(config) else "diffusion"
    if family != want:
        allowed = [n for n, (_, _, f) in SCHEDULERS.items() if f == want]
        raise ValueError(f"scheduler {name!r} does not fit this model's {want} schedule; choose one of: "
                         f"{', '.join(allowed)}")
    extra = {"clip_sample": False, "thresholding": False} if want == "diffusion" else {}
    return _build(getattr(diffusers, cls_name), config, {**extra, **overrides})


def make_inverse_scheduler(config: dict):
    """diffusers' ``DDIMInverseScheduler`` on ``config``'s schedule: the exact inverse of ``make_scheduler("ddim")``
    (same timesteps, same ``set_alpha_to_one``)."""
    from diffusers import DDIMInverseScheduler

    if is_flow_matching(config):
        raise ValueError("DDIM inversion needs a diffusion (epsilon/v) schedule; this model uses flow matching")
    return _build(DDIMInverseScheduler, config, {"clip_sample": False})


def _build(cls, config: dict, overrides: dict):
    """``cls`` from the keys of ``config`` (and ``overrides``) its constructor takes: a DDIM config carries keys
    other schedulers do not know, and diffusers warns about each."""
    import inspect

    accepted = set(inspect.signature(cls.__init__).parameters)
    return cls.from_config({k: v for k, v in {**config, **overrides}.items() if k in accepted})


def noisy_and_target(scheduler, z0: torch.Tensor, eps: torch.Tensor, t: int | torch.Tensor,
                     kind: str | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """``(z_t, target)`` for clean latents ``z0`` and noise ``eps`` (same shape, any layout, batch first) at
    training timestep(s) ``t`` (int, or one per batch item). See the module table."""
    if kind is None:
        kind = "flow" if type(scheduler).__name__.startswith("FlowMatch") else prediction_type(dict(scheduler.config))
    t = torch.as_tensor(t, device=z0.device).reshape(-1)
    if t.numel() == 1 and z0.shape[0] > 1:
        t = t.expand(z0.shape[0])
    if kind == "flow":  # flow-matching timesteps may be fractional
        sigma = (t.float() / scheduler.config.num_train_timesteps).reshape(-1, *[1] * (z0.ndim - 1))
        return (1 - sigma) * z0 + sigma * eps, eps - z0
    t = t.long()
    zt = scheduler.add_noise(z0, eps, t)
    if kind == "epsilon":
        return zt, eps
    if kind == "v_prediction":
        return zt, scheduler.get_velocity(z0, eps, t)
    return zt, z0
