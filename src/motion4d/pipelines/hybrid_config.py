"""Typed config of the hybrid route (4D-fy): presets in ``presets/hybrid_to_4d/*.yaml``, ``key=value`` overrides.

The schedule is 4D-fy's, on three guidance *roles*: ``multiview`` (3D-aware: MVDream), ``image`` (image quality:
Stable Diffusion 2.1 base with VSD) and ``video`` (motion: the customized text-to-video model). ``stages`` are
:class:`motion4d.guidance.HybridConfig` stages over those names (``steps``, ``probabilities``, ``dynamic``,
``overrides``); ``guidance.<role>`` holds the role's other guidance fields (CFG scale, timestep range, size) and
``weights.<role>`` its loss weight.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from motion4d.config import ConfigError, check_choice
from motion4d.pipelines.config import CustomizeConfig

__all__ = ["ROLES", "VideoModelConfig", "HybridModelsConfig", "HybridLiftConfig", "HybridTo4DConfig",
           "load_hybrid_to_4d_config"]

#: the guidance roles of the hybrid schedule
ROLES = ("multiview", "image", "video")


@dataclass
class VideoModelConfig:
    """The customized text-to-video model: backbone, the clips its LoRAs train on and its video SDS scores."""

    model: str = "auto"
    """A registry key (``zeroscope``, ``modelscope``, ``tiny-t2v``), hub id or folder; ``auto``: ZeroScope when
    present locally, else the embedded ``tiny-t2v``."""
    frames: int = 16
    """Frames of a clip (LoRA training, video SDS renders) and of the 4D result."""
    width: int = 256
    height: int = 256
    fps: float = 8.0
    motion_scale: float = 1.0
    appearance_scale: float = 1.0

    def __post_init__(self):
        for key in ("width", "height"):
            if getattr(self, key) < 8:
                raise ConfigError(f"video.{key} must be >= 8, got {getattr(self, key)}")
        if self.frames < 2:
            raise ConfigError(f"video.frames must be >= 2, got {self.frames}")
        if self.fps <= 0:
            raise ConfigError(f"video.fps must be > 0, got {self.fps}")


@dataclass
class HybridModelsConfig:
    """The 3D-aware and image models (the video one is ``video.model``)."""

    multiview: str = "auto"
    """``mvdream`` (or a folder in its layout); ``auto``: MVDream when present locally, else the video model one
    frame at a time (a stand-in that is not 3D-aware, said in one line)."""
    image: str = "auto"
    """``sd21-base`` (or another SD folder); ``auto``: SD 2.1 base when present locally, else the video model one
    frame at a time (plain SDS)."""
    image_loss: str = "vsd"
    """``vsd`` (4D-fy, ProlificDreamer) or ``sd`` (plain SDS) with the image model."""

    def __post_init__(self):
        check_choice("models.image_loss", self.image_loss, ("vsd", "sd"))


@dataclass
class HybridLiftConfig:
    """The 4D representation (canonical Gaussians + HexPlane field) and its renders: a lift preset plus overrides.
    The route sets the iterations (from ``stages``), the hybrid guidance and zero photometric weights."""

    preset: str = "default"
    overrides: list[str] = field(default_factory=list)


def _default_stages() -> list[dict]:
    return [{"name": "static-multiview", "steps": 500, "probabilities": {"multiview": 1.0},
             "overrides": {"multiview": {"t_min": [0, 0.98, 0.02, 400], "t_max": [0, 0.98, 0.5, 400]}}},
            {"name": "static-hybrid", "steps": 500, "probabilities": {"multiview": 0.5, "image": 0.5}},
            {"name": "dynamic-hybrid", "steps": 1000, "dynamic": True,
             "probabilities": {"multiview": 0.5, "image": 0.25, "video": 0.25}}]


@dataclass
class HybridTo4DConfig:
    """Everything ``motion4d text-to-4d --route hybrid`` needs; see :class:`motion4d.pipelines.HybridTo4DPipeline`."""

    prompt: str = ""
    motion: list[str] = field(default_factory=list)
    """Reference videos (a temporal LoRA is trained on them), or a ``train-motion`` run / ``temporal.safetensors``:
    the video role becomes the customized model."""
    appearance: list[str] = field(default_factory=list)
    """Reference images (a spatial LoRA is trained), or a run / ``spatial.safetensors``."""
    seed: int = 0
    device: str = "auto"
    video: VideoModelConfig = field(default_factory=VideoModelConfig)
    customize: CustomizeConfig = field(default_factory=CustomizeConfig)
    models: HybridModelsConfig = field(default_factory=HybridModelsConfig)
    guidance: dict = field(default_factory=dict)
    """Per role, other ``motion4d.guidance.GuidanceConfig`` fields (``guidance_scale``, ``timesteps``, ``t_min``,
    ``t_max``, ``height``, ``width``, ...). The stand-ins (the video model one frame at a time) take ``video``'s."""
    weights: dict = field(default_factory=lambda: {"video": 0.1})
    """Per role, the loss weight (4D-fy: ``video`` 0.1); times the lift stage's ``lambda_sds``."""
    stages: list[dict] = field(default_factory=_default_stages)
    lift: HybridLiftConfig = field(default_factory=HybridLiftConfig)

    def __post_init__(self):
        from motion4d.guidance.hybrid import HybridConfig

        check_choice("device", self.device.split(":")[0], ("auto", "cpu", "cuda", "mps"))
        if not 0 <= self.seed < 2 ** 31:
            raise ConfigError(f"seed must be in [0, 2**31), got {self.seed}")
        for key in ("guidance", "weights"):
            unknown = sorted(set(getattr(self, key)) - set(ROLES))
            if unknown:
                raise ConfigError(f"{key}: unknown guidance role(s) {', '.join(unknown)}; roles: {', '.join(ROLES)}")
        for role, fields_ in self.guidance.items():
            fixed = {"type", "model"} & set(fields_ or {})
            if fixed:
                raise ConfigError(f"guidance.{role} cannot set {', '.join(sorted(fixed))}: the models come from "
                                  f"models.* and video.model")
        types = {"multiview": "mvdream", "image": "vsd", "video": "video"}
        try:       # names, probabilities, clip guidance only in dynamic stages, overrides: checked now
            HybridConfig(guidances={r: {"type": types[r], **(self.guidance.get(r) or {})} for r in ROLES},
                         stages=list(self.stages), weights=dict(self.weights))
        except ConfigError as e:
            raise ConfigError(f"hybrid schedule: {e}") from None
        kinds = [bool(s.get("dynamic", False)) for s in self.stages]
        if kinds != sorted(kinds) or not any(kinds):
            raise ConfigError("stages: the static stages (dynamic: false) come first, then at least one dynamic "
                              f"stage; got dynamic = {kinds}")


def load_hybrid_to_4d_config(prompt: str | None = None, *, preset: str | None = "default", file: str | None = None,
                             overrides: list[str] | tuple[str, ...] = (), **fields) -> HybridTo4DConfig:
    """Defaults < preset (``presets/hybrid_to_4d/``) < YAML ``file`` < ``fields`` < ``key=value`` overrides."""
    from motion4d.config import load_config

    data = {k: v for k, v in fields.items() if v is not None}
    if prompt is not None:
        data["prompt"] = prompt
    return load_config(HybridTo4DConfig, preset=("hybrid_to_4d", preset) if preset else None, file=file, data=data,
                       overrides=list(overrides))
