"""Score-distillation guidance behind one small interface, and 4D-fy's hybrid schedule.

Usage::

    from motion4d.guidance import Condition, GuidanceConfig, build_guidance

    guidance = build_guidance(GuidanceConfig(type="stable-zero123"))     # weights load on first call
    losses = guidance(renders, Condition(image=ref, elevation=el, azimuth=az, radius=r), step)
    (lambda_sds * sum(losses.values())).backward()

Types (rows of :data:`GUIDANCES`): ``zero123``, ``stable-zero123`` (image + camera), ``sd`` / ``vsd``
(prompt), ``mvdream`` (prompt + 4 cameras), ``video`` (prompt, a clip). ``guidance.needs`` names the
condition fields a guidance reads; ``guidance.render_spec`` what to render. Losses come back
unweighted: the caller applies its ``lambda``. Models: ``motion4d models``.

Diffusers-dependent modules (``zero123``, ``stable_diffusion``, ``mvdream``, ``mv_unet``,
``video_sds``) are imported on first use.
"""
from __future__ import annotations

import importlib

from motion4d.guidance.base import (CFG_FORMS, Guidance, SDSStep, cfg_combine, clean_grad, predicted_eps, sds_loss,
                                    sds_weight)
from motion4d.guidance.condition import Condition, RenderSpec, to_bchw
from motion4d.guidance.config import (GuidanceConfig, MVDreamOptions, PromptOptions, VideoOptions, VSDOptions,
                                      Zero123Options, build_guidance)
from motion4d.guidance.hybrid import HybridConfig, HybridPlan, HybridScheduler, HybridSDS
from motion4d.guidance.registry import GUIDANCES, GuidanceType, guidance_class
from motion4d.guidance.schedules import Constant, Linear, Ramp, Schedule, Stepped, TimestepSampler
from motion4d.guidance.text import TextGuidance

_LAZY = {
    "Zero123Guidance": "motion4d.guidance.zero123", "StableZero123Guidance": "motion4d.guidance.zero123",
    "zero123_camera": "motion4d.guidance.zero123", "detect_zero123_variant": "motion4d.guidance.zero123",
    "StableDiffusionGuidance": "motion4d.guidance.stable_diffusion", "VSDGuidance": "motion4d.guidance.vsd",
    "MVDreamGuidance": "motion4d.guidance.mvdream", "mvdream_camera": "motion4d.guidance.mvdream",
    "MultiViewUNetModel": "motion4d.guidance.mv_unet",
    "VideoSDSGuidance": "motion4d.guidance.video_sds", "apply_lora_safetensors": "motion4d.guidance.video_sds",
}

__all__ = ["CFG_FORMS", "Condition", "Guidance", "SDSStep", "TextGuidance", "RenderSpec", "cfg_combine",
           "clean_grad", "predicted_eps", "sds_loss", "sds_weight", "to_bchw", "GUIDANCES", "GuidanceType",
           "guidance_class", "GuidanceConfig", "MVDreamOptions", "PromptOptions", "VideoOptions", "VSDOptions",
           "Zero123Options", "build_guidance", "HybridConfig", "HybridPlan", "HybridScheduler", "HybridSDS",
           "Schedule", "Constant", "Ramp", "Linear", "Stepped", "TimestepSampler", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'motion4d.guidance' has no attribute {name!r}")
