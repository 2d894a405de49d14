"""Typed guidance config and :func:`build_guidance`.

One :class:`GuidanceConfig` describes one guidance; ``type`` picks a row of
:data:`motion4d.guidance.registry.GUIDANCES` and ``None`` fields take that row's defaults (from
DreamGaussian4D and 4D-fy). Every number typed :class:`~motion4d.guidance.schedules.Schedule` may change
with the step (``guidance_scale``, ``t_min``, ``t_max``, ``grad_clip``, ``vsd.lora_guidance_scale``,
``mvdream.recon_std_rescale``, ``video.motion_amp_scale``); YAML and ``key=value`` give it as a number, a
ramp ``[start_step, start, end, end_step]`` (threestudio's order) or the other forms of
:meth:`Schedule.parse`.

A guidance returns **unweighted** losses: the weight of each loss term is set once, where the loss
is used (lift: ``static.lambda_sds`` / ``dynamic.lambda_sds``; hybrid SDS: ``weights.<name>``). The
former ``weight`` key is a config error that says so.

Example (YAML)::

    type: mvdream
    guidance_scale: 50
    timesteps: range
    t_max: [0, 0.98, 0.5, 8000]     # Ramp: 0.98 at step 0 -> 0.5 at step 8000
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from motion4d.config import ConfigError, check_choice
from motion4d.guidance.base import CFG_FORMS, WEIGHTINGS
from motion4d.guidance.registry import GUIDANCES
from motion4d.guidance.schedules import TIMESTEP_MODES, Schedule

__all__ = ["GuidanceConfig", "VSDOptions", "MVDreamOptions", "VideoOptions", "PromptOptions", "Zero123Options",
           "build_guidance", "REMOVED_KEYS"]

# keys that no longer exist, with what replaced them (motion4d.config reports them by name)
REMOVED_KEYS = {"weight": "a guidance returns unweighted losses; set the loss weight where the loss is used: "
                          "lift static.lambda_sds / dynamic.lambda_sds, hybrid SDS weights.<guidance name>"}


def _schedule(owner: Any, name: str, key: str) -> None:
    """Parse ``owner.name`` into a :class:`Schedule` in place (None stays None); ConfigError naming ``key``."""
    value = getattr(owner, name)
    if value is None:
        return
    try:
        setattr(owner, name, Schedule.parse(value, key))
    except ValueError as e:
        raise ConfigError(str(e)) from None


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
class Zero123Options:
    """Reference conditioning of the zero123 family (zero123, stable-zero123).

    ``reference_latent``: ``sample`` draws one sample of the reference's VAE posterior, as DreamGaussian and
    DreamGaussian4D do (default); ``mode`` takes the posterior mode (threestudio). The sample is drawn once per
    reference image from a generator seeded with ``reference_seed`` (None = the guidance ``seed``) and the
    image's content, so it is the same on every run, after a resume, and whatever the order images arrive in.
    ``clip_preprocess``: ``pil`` goes through a uint8 PIL image, bicubic resize and centre crop (transformers'
    ``CLIPImageProcessorPil`` with the checkpoint's ``feature_extractor`` config: what the upstream pipelines
    feed CLIP; default); ``tensor`` resizes the float image bilinearly with antialiasing (motion4d's former path).
    """

    reference_latent: str = "sample"
    reference_seed: int | None = None
    clip_preprocess: str = "pil"

    def __post_init__(self) -> None:
        check_choice("zero123.reference_latent", self.reference_latent, ("sample", "mode"))
        check_choice("zero123.clip_preprocess", self.clip_preprocess, ("pil", "tensor"))
        if self.reference_seed is not None and (isinstance(self.reference_seed, bool)
                                                or not isinstance(self.reference_seed, int)):
            raise ConfigError(f"zero123.reference_seed must be an integer or null, got {self.reference_seed!r}")


@dataclass
class VSDOptions:
    """Variational score distillation (ProlificDreamer / 4D-fy): a LoRA plus a camera embedding
    (``TimestepEmbedding(16, time_embed_dim)`` on the flattened c2w) models the particles. The LoRA sits
    on the pretrained UNet (switched off for its predictions) unless ``lora_model`` names a separate
    checkpoint (4D-fy: ``sd21``, the 768-px v-prediction SD 2.1)."""

    lora_rank: int = 16
    lora_alpha: float = 16.0
    lora_lr: float = 1e-4
    lora_guidance_scale: Schedule = 1.0  # type: ignore[assignment]
    camera_condition: bool = True
    camera_drop: float = 0.1
    train_in_step: bool = True
    lora_model: str | None = None

    def __post_init__(self) -> None:
        if self.lora_rank < 1:
            raise ConfigError(f"vsd.lora_rank must be >= 1, got {self.lora_rank}")
        if not 0.0 <= self.camera_drop <= 1.0:
            raise ConfigError(f"vsd.camera_drop must be in [0, 1], got {self.camera_drop}")
        _schedule(self, "lora_guidance_scale", "vsd.lora_guidance_scale")


@dataclass
class MVDreamOptions:
    """MVDream: ``views`` cameras per sample; ``recon_loss`` uses the x0-reconstruction loss with the
    CFG std rescale of MVDream-threestudio (4D-fy); otherwise the plain SDS form."""

    views: int = 4
    recon_loss: bool = True
    recon_std_rescale: Schedule = 0.5  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.views < 1:
            raise ConfigError(f"mvdream.views must be >= 1, got {self.views}")
        _schedule(self, "recon_std_rescale", "mvdream.recon_std_rescale")


@dataclass
class VideoOptions:
    """Text-to-video SDS (ZeroScope / ModelScope UNet3D).

    ``low_ram_vae`` > 0 backpropagates through the VAE encoder for only that many random frames.
    ``motion_amp_scale`` k replaces each frame's score g by mean(g) + k (g - mean(g)) (1 = off).
    ``lora_path``: the motion (temporal) LoRA, a ``train-motion`` run folder or LoRA file; ``appearance_path``
    the appearance (spatial) one. With them the guidance is the *customized* model: they enter the backbone the
    way ``generate-video`` applies them (:mod:`motion4d.video.adapters`), scaled by ``lora_scale`` /
    ``appearance_scale``. A motion4d LoRA trained on another base model is refused unless
    ``allow_base_mismatch``.
    """

    num_frames: int = 16
    low_ram_vae: int = 0
    motion_amp_scale: Schedule = 1.0  # type: ignore[assignment]
    lora_path: str | None = None
    lora_scale: float = 1.0
    appearance_path: str | None = None
    appearance_scale: float = 1.0
    allow_base_mismatch: bool = False

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ConfigError(f"video.num_frames must be >= 1, got {self.num_frames}")
        _schedule(self, "motion_amp_scale", "video.motion_amp_scale")


@dataclass
class GuidanceConfig:
    """One score-distillation guidance.

    Attributes:
        type: a key of :data:`~motion4d.guidance.registry.GUIDANCES` (zero123 | stable-zero123 | sd | vsd |
            mvdream | video).
        model: :data:`motion4d.hub.MODELS` key (``motion4d models``), hub id or local diffusers folder;
            None = the type's default.
        guidance_scale: CFG scale (schedule); None = the type's default.
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
        zero123: reference conditioning of zero123 / stable-zero123 (:class:`Zero123Options`).
    """

    _removed_keys = REMOVED_KEYS

    type: str = "stable-zero123"
    model: str | None = None
    guidance_scale: Schedule | None = None
    cfg_form: str | None = None
    timesteps: str | None = None
    t_min: Schedule = 0.02  # type: ignore[assignment]
    t_max: Schedule = 0.98  # type: ignore[assignment]
    anneal_steps: int = 500
    per_sample_t: bool = False
    weighting: str = "sds"
    grad_clip: Schedule | None = None
    height: int | None = None
    width: int | None = None
    precision: str = "auto"
    device: str = "auto"
    seed: int = 0
    prompt: PromptOptions = field(default_factory=PromptOptions)
    vsd: VSDOptions = field(default_factory=VSDOptions)
    mvdream: MVDreamOptions = field(default_factory=MVDreamOptions)
    video: VideoOptions = field(default_factory=VideoOptions)
    zero123: Zero123Options = field(default_factory=Zero123Options)

    def __post_init__(self) -> None:
        check_choice("type", self.type, tuple(GUIDANCES))
        for key, section in (("prompt", PromptOptions), ("vsd", VSDOptions), ("mvdream", MVDreamOptions),
                             ("video", VideoOptions), ("zero123", Zero123Options)):
            value = getattr(self, key)
            if isinstance(value, dict):
                try:
                    setattr(self, key, section(**value))
                except TypeError as e:
                    raise ConfigError(f"{key}: {e}; valid keys: "
                                      f"{', '.join(f.name for f in fields(section))}") from None
        row = GUIDANCES[self.type]
        if self.model is None:
            self.model = row.model
        if self.guidance_scale is None:
            self.guidance_scale = row.guidance_scale
        if self.cfg_form is None:
            self.cfg_form = row.cfg_form
        if self.timesteps is None:
            self.timesteps = row.timesteps
        if self.height is None:
            self.height = row.size[0]
        if self.width is None:
            self.width = row.size[1]
        check_choice("cfg_form", self.cfg_form, CFG_FORMS)
        check_choice("timesteps", self.timesteps, TIMESTEP_MODES)
        check_choice("weighting", self.weighting, WEIGHTINGS)
        check_choice("precision", self.precision, ("auto", "fp32", "fp16", "bf16"))
        for key in ("guidance_scale", "t_min", "t_max", "grad_clip"):
            _schedule(self, key, key)
        if self.anneal_steps < 1:
            raise ConfigError(f"anneal_steps must be >= 1, got {self.anneal_steps}")
        if self.height < 8 or self.width < 8:
            raise ConfigError(f"height/width must be >= 8, got {self.height}x{self.width}")

    def with_(self, **changes: Any) -> "GuidanceConfig":
        """A copy with some fields changed (re-validated); sections may be given as partial dicts."""
        from motion4d.config import config_to_dict, load_config

        data = config_to_dict(self)
        for key, value in changes.items():
            if isinstance(value, dict) and isinstance(data.get(key), dict) and key in ("prompt", "vsd", "mvdream",
                                                                                      "video"):
                data[key] = {**data[key], **value}
            else:
                data[key] = value
        return load_config(GuidanceConfig, data=data)


def build_guidance(cfg: GuidanceConfig | dict, **overrides: Any):
    """Instantiate the guidance described by ``cfg`` (weights load lazily on first use or ``.load()``).

    ``cfg`` may be a :class:`GuidanceConfig` or a plain dict of its fields (nested sections as dicts).
    The class comes from the row ``cfg.type`` of :data:`~motion4d.guidance.registry.GUIDANCES`.
    """
    if isinstance(cfg, dict):
        from motion4d.config import load_config

        cfg = load_config(GuidanceConfig, data=cfg)
    if overrides:
        cfg = cfg.with_(**overrides)
    return GUIDANCES[cfg.type].load_class()(cfg)
