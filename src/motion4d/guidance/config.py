"""Typed guidance config and :func:`build_guidance`.

One :class:`GuidanceConfig` describes one guidance; ``type`` picks the model family and ``None``
fields take that family's defaults (:data:`TYPE_DEFAULTS`, from DreamGaussian4D and 4D-fy). Every
number marked *schedule* accepts the forms of :class:`motion4d.guidance.schedules.Schedule`
(``weight``, ``guidance_scale``, ``t_min``, ``t_max``, ``grad_clip``, ``vsd.lora_guidance_scale``,
``mvdream.recon_std_rescale``, ``video.motion_amp_scale``).

Example (YAML)::

    type: mvdream
    guidance_scale: 50
    timesteps: range
    t_max: [0.98, 0.5, 0, 8000]     # anneal the upper bound over 8000 steps
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from motion4d.config import ConfigError, check_choice
from motion4d.guidance.base import CFG_FORMS, WEIGHTINGS
from motion4d.guidance.schedules import TIMESTEP_MODES, Schedule

__all__ = ["GuidanceConfig", "VSDOptions", "MVDreamOptions", "VideoOptions", "PromptOptions",
           "GUIDANCE_TYPES", "TYPE_DEFAULTS", "build_guidance"]

GUIDANCE_TYPES = ("zero123", "stable-zero123", "sd", "vsd", "mvdream", "video")

# per type: model, guidance_scale, cfg_form, timesteps, image_size (H, W)
TYPE_DEFAULTS: dict[str, dict[str, Any]] = {
    "zero123": dict(model="zero123-xl", guidance_scale=5.0, cfg_form="standard", timesteps="anneal", size=(256, 256)),
    "stable-zero123": dict(model="stable-zero123", guidance_scale=5.0, cfg_form="standard", timesteps="anneal",
                           size=(256, 256)),
    "sd": dict(model="sd21-base", guidance_scale=100.0, cfg_form="plus", timesteps="uniform", size=(512, 512)),
    "vsd": dict(model="sd21-base", guidance_scale=7.5, cfg_form="standard", timesteps="uniform", size=(512, 512)),
    "mvdream": dict(model="mvdream", guidance_scale=50.0, cfg_form="standard", timesteps="uniform", size=(256, 256)),
    "video": dict(model="zeroscope", guidance_scale=100.0, cfg_form="plus", timesteps="uniform", size=(320, 576)),
}


@dataclass
class PromptOptions:
    """Text side (sd, vsd, mvdream, video). ``view_dependent`` appends ", front view" / ", side view" /
    ", back view" / ", overhead view" by camera (sd and vsd only), as threestudio does."""

    negative_prompt: str = ""
    view_dependent: bool = True
    front_threshold: float = 45.0
    back_threshold: float = 45.0
    overhead_threshold: float = 60.0


@dataclass
class VSDOptions:
    """Variational score distillation (ProlificDreamer / 4D-fy): a LoRA plus a camera embedding
    (``TimestepEmbedding(16, time_embed_dim)`` on the flattened c2w) models the particles. The LoRA sits
    on the pretrained UNet (switched off for its predictions) unless ``lora_model`` names a separate
    checkpoint (4D-fy: ``sd21``, the 768-px v-prediction SD 2.1)."""

    lora_rank: int = 16
    lora_alpha: float = 16.0
    lora_lr: float = 1e-4
    lora_guidance_scale: Any = 1.0
    camera_condition: bool = True
    camera_drop: float = 0.1
    train_in_step: bool = True
    lora_model: str | None = None

    def __post_init__(self) -> None:
        if self.lora_rank < 1:
            raise ConfigError(f"vsd.lora_rank must be >= 1, got {self.lora_rank}")
        if not 0.0 <= self.camera_drop <= 1.0:
            raise ConfigError(f"vsd.camera_drop must be in [0, 1], got {self.camera_drop}")


@dataclass
class MVDreamOptions:
    """MVDream: ``views`` cameras per sample; ``recon_loss`` uses the x0-reconstruction loss with the
    CFG std rescale of MVDream-threestudio (4D-fy); otherwise the plain SDS form."""

    views: int = 4
    recon_loss: bool = True
    recon_std_rescale: Any = 0.5

    def __post_init__(self) -> None:
        if self.views < 1:
            raise ConfigError(f"mvdream.views must be >= 1, got {self.views}")


@dataclass
class VideoOptions:
    """Text-to-video SDS (ZeroScope / ModelScope UNet3D).

    ``low_ram_vae`` > 0 backpropagates through the VAE encoder for only that many random frames.
    ``motion_amp_scale`` k replaces each frame's score g by mean(g) + k (g - mean(g)) (1 = off).
    ``lora_path``: a motion4d temporal (motion) LoRA safetensors checkpoint applied to the UNet.
    """

    num_frames: int = 16
    low_ram_vae: int = 0
    motion_amp_scale: Any = 1.0
    lora_path: str | None = None
    lora_scale: float = 1.0

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ConfigError(f"video.num_frames must be >= 1, got {self.num_frames}")


@dataclass
class GuidanceConfig:
    """One score-distillation guidance.

    Attributes:
        type: zero123 | stable-zero123 | sd | vsd | mvdream | video.
        model: registry key (``motion4d models``), hub id or local diffusers folder; None = type default.
        weight: loss weight lambda (schedule).
        guidance_scale: CFG scale (schedule); None = type default.
        cfg_form: ``standard`` (uncond + s(cond - uncond)) or ``plus`` (cond + s(cond - uncond)).
        timesteps: anneal | uniform | range (see :mod:`motion4d.guidance.schedules`); None = type default.
        t_min, t_max: timestep bounds as fractions of T (schedules).
        anneal_steps: steps over which ``anneal`` goes from T to 0 (set it to the stage's iterations).
        per_sample_t: one timestep per render instead of one shared by the batch.
        weighting: ``sds`` (w = 1 - alpha_bar) or ``uniform``.
        grad_clip: element-wise clamp of the SDS gradient (schedule); None = off.
        height, width: model input size (renders are resized); None = type default.
        precision: auto | fp32 | fp16 | bf16 (auto = fp16 on CUDA, fp32 on CPU).
        device: auto | cpu | cuda[:N].
        seed: seed of the guidance's noise / timestep generator.
    """

    type: str = "stable-zero123"
    model: str | None = None
    weight: Any = 1.0
    guidance_scale: Any = None
    cfg_form: str | None = None
    timesteps: str | None = None
    t_min: Any = 0.02
    t_max: Any = 0.98
    anneal_steps: int = 500
    per_sample_t: bool = False
    weighting: str = "sds"
    grad_clip: Any = None
    height: int | None = None
    width: int | None = None
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    prompt: PromptOptions = field(default_factory=PromptOptions)
    vsd: VSDOptions = field(default_factory=VSDOptions)
    mvdream: MVDreamOptions = field(default_factory=MVDreamOptions)
    video: VideoOptions = field(default_factory=VideoOptions)

    def __post_init__(self) -> None:
        check_choice("type", self.type, GUIDANCE_TYPES)
        for key, section in (("prompt", PromptOptions), ("vsd", VSDOptions), ("mvdream", MVDreamOptions),
                             ("video", VideoOptions)):
            value = getattr(self, key)
            if isinstance(value, dict):
                try:
                    setattr(self, key, section(**value))
                except TypeError as e:
                    raise ConfigError(f"{key}: {e}; valid keys: "
                                      f"{', '.join(f.name for f in fields(section))}") from None
        defaults = TYPE_DEFAULTS[self.type]
        if self.model is None:
            self.model = defaults["model"]
        if self.guidance_scale is None:
            self.guidance_scale = defaults["guidance_scale"]
        if self.cfg_form is None:
            self.cfg_form = defaults["cfg_form"]
        if self.timesteps is None:
            self.timesteps = defaults["timesteps"]
        if self.height is None:
            self.height = defaults["size"][0]
        if self.width is None:
            self.width = defaults["size"][1]
        check_choice("cfg_form", self.cfg_form, CFG_FORMS)
        check_choice("timesteps", self.timesteps, TIMESTEP_MODES)
        check_choice("weighting", self.weighting, WEIGHTINGS)
        check_choice("precision", self.precision, ("auto", "fp32", "fp16", "bf16"))
        for key in ("weight", "guidance_scale", "t_min", "t_max", "grad_clip"):
            val = getattr(self, key)
            if val is not None:
                try:
                    Schedule.parse(val, key)
                except ValueError as e:
                    raise ConfigError(str(e)) from None
        for key in ("vsd.lora_guidance_scale", "mvdream.recon_std_rescale", "video.motion_amp_scale"):
            section, name = key.split(".")
            try:
                Schedule.parse(getattr(getattr(self, section), name), key)
            except ValueError as e:
                raise ConfigError(str(e)) from None
        if self.anneal_steps < 1:
            raise ConfigError(f"anneal_steps must be >= 1, got {self.anneal_steps}")
        if self.height < 8 or self.width < 8:
            raise ConfigError(f"height/width must be >= 8, got {self.height}x{self.width}")

    def with_(self, **changes: Any) -> "GuidanceConfig":
        """A copy with some fields changed (re-validated); sections may be given as partial dicts."""
        from motion4d.config import config_to_dict, load_config

        data = config_to_dict(self)
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return load_config(GuidanceConfig, data=data)


def build_guidance(cfg: GuidanceConfig | dict, **overrides: Any):
    """Instantiate the guidance described by ``cfg`` (weights load lazily on first use or ``.load()``).

    ``cfg`` may be a :class:`GuidanceConfig` or a plain dict of its fields (nested sections as dicts).
    """
    if isinstance(cfg, dict):
        from motion4d.config import load_config

        cfg = load_config(GuidanceConfig, data=cfg)
    if overrides:
        cfg = cfg.with_(**overrides)
    if cfg.type in ("zero123", "stable-zero123"):
        from motion4d.guidance.zero123 import Zero123Guidance

        return Zero123Guidance(cfg)
    if cfg.type in ("sd", "vsd"):
        from motion4d.guidance.stable_diffusion import StableDiffusionGuidance

        return StableDiffusionGuidance(cfg)
    if cfg.type == "mvdream":
        from motion4d.guidance.mvdream import MVDreamGuidance

        return MVDreamGuidance(cfg)
    from motion4d.guidance.video_sds import VideoSDSGuidance

    return VideoSDSGuidance(cfg)
