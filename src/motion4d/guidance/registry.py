"""The guidance table: ``type`` -> the class that implements it and that type's config defaults.

Adding a guidance model is one module (a :class:`~motion4d.guidance.base.Guidance` subclass that
implements ``_load``, ``encode_condition`` and ``predict_noise``) plus one row here, e.g.::

    "if": GuidanceType("motion4d.guidance.deepfloyd:DeepFloydGuidance", model="deepfloyd-if",
                       guidance_scale=20.0, size=(64, 64)),

(and, for a hub model, a row of :data:`motion4d.hub.MODELS` for ``model``). ``GuidanceConfig(type=...)``
accepts every key of :data:`GUIDANCES`; :func:`motion4d.guidance.build_guidance` instantiates the row's
class. Classes are named as ``"module:Class"`` strings so that importing the table imports no model code.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass

__all__ = ["GuidanceType", "GUIDANCES", "guidance_class"]


@dataclass(frozen=True)
class GuidanceType:
    """One row of :data:`GUIDANCES`.

    Attributes:
        cls: the implementing class, or ``"package.module:ClassName"`` (imported on first build).
        model: default ``model`` (a :data:`motion4d.hub.MODELS` key, hub id or local folder).
        guidance_scale: default CFG scale.
        cfg_form: default CFG form, ``standard`` or ``plus`` (see :func:`~motion4d.guidance.base.cfg_combine`).
        timesteps: default timestep sampler, ``anneal`` | ``uniform`` | ``range``.
        size: default model input ``(height, width)`` in pixels.
    """

    cls: str | type
    model: str
    guidance_scale: float
    cfg_form: str = "standard"
    timesteps: str = "uniform"
    size: tuple[int, int] = (256, 256)

    def load_class(self) -> type:
        if not isinstance(self.cls, str):
            return self.cls
        module, _, name = self.cls.partition(":")
        return getattr(importlib.import_module(module), name)


_P = "motion4d.guidance."

# Defaults from DreamGaussian4D (zero123 family) and 4D-fy / threestudio (sd, vsd, mvdream, video).
GUIDANCES: dict[str, GuidanceType] = {
    "zero123": GuidanceType(_P + "zero123:Zero123Guidance", "zero123-xl", 5.0, "standard", "anneal", (256, 256)),
    "stable-zero123": GuidanceType(_P + "zero123:StableZero123Guidance", "stable-zero123", 5.0, "standard", "anneal",
                                   (256, 256)),
    "sd": GuidanceType(_P + "stable_diffusion:StableDiffusionGuidance", "sd21-base", 100.0, "plus", "uniform",
                       (512, 512)),
    "vsd": GuidanceType(_P + "vsd:VSDGuidance", "sd21-base", 7.5, "standard", "uniform", (512, 512)),
    "mvdream": GuidanceType(_P + "mvdream:MVDreamGuidance", "mvdream", 50.0, "standard", "uniform", (256, 256)),
    "video": GuidanceType(_P + "video_sds:VideoSDSGuidance", "zeroscope", 100.0, "plus", "uniform", (320, 576)),
}


def guidance_class(type_: str) -> type:
    """The class implementing guidance ``type_`` (a key of :data:`GUIDANCES`)."""
    if type_ not in GUIDANCES:
        raise ValueError(f"guidance type {type_!r} is not one of {', '.join(GUIDANCES)}")
    return GUIDANCES[type_].load_class()
