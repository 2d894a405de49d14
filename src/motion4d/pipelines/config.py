"""Typed configs of the pipelines (presets in ``presets/text_to_4d/*.yaml``, ``key=value`` overrides)."""
from __future__ import annotations

from dataclasses import dataclass, field

from motion4d.config import ConfigError, check_choice
from motion4d.video.image_to_video import ImageToVideoSettings

__all__ = ["ClipConfig", "CustomizeConfig", "LiftStageConfig", "TextLiftStageConfig", "TextTo4DConfig", "load_text_to_4d_config",
           "DriveConfig", "ImageTo4DConfig", "load_image_to_4d_config", "MAX_PROMPT_CHARS"]

#: CLIP text encoders read 77 tokens; a prompt far longer than that is a mistake, not a description.
MAX_PROMPT_CHARS = 500


@dataclass
class ClipConfig:
    """The generated clip (stage ``generate``)."""

    model: str = "auto"
    """Text-to-video backbone: a registry key (``zeroscope``, ``modelscope``, ``tiny-t2v``), hub id or folder.
    ``auto``: ZeroScope when it is present locally, else the embedded ``tiny-t2v``."""
    frames: int = 16
    width: int = 256
    height: int = 256
    steps: int = 30
    guidance: float = 12.0
    fps: float = 8.0
    negative_prompt: str = ""
    noise_prior: float | None = None
    """Share of the DDIM-inverted reference clip in the starting noise. ``None``: 0.5 with exactly one
    reference video (MotionDirector's single-video advice), else 0."""
    motion_scale: float = 1.0
    appearance_scale: float = 1.0

    def __post_init__(self):
        for key in ("frames", "width", "height", "steps"):
            if getattr(self, key) < 1:
                raise ConfigError(f"clip.{key} must be >= 1, got {getattr(self, key)}")
        if self.fps <= 0 or self.guidance < 0:
            raise ConfigError(f"clip.fps must be > 0 and clip.guidance >= 0, got {self.fps}, {self.guidance}")
        if self.noise_prior is not None and not 0.0 <= self.noise_prior <= 1.0:
            raise ConfigError(f"clip.noise_prior must be in [0, 1] or null, got {self.noise_prior}")


@dataclass
class CustomizeConfig:
    """Training of the missing LoRAs (stages ``motion`` and ``appearance``; presets from ``presets/motion``)."""

    motion_preset: str = "auto"
    """``auto``: ``single_video`` for one reference video, ``multi_videos`` for several."""
    appearance_preset: str = "auto"
    """``auto``: ``single_image`` for one image, ``multi_images`` for several."""
    steps: int | None = None
    """Training steps of each LoRA (``None``: the preset's)."""
    overrides: list[str] = field(default_factory=list)
    """Extra ``key=value`` overrides of the ``train-motion`` config, applied to both LoRAs."""

    def __post_init__(self):
        if self.steps is not None and self.steps < 1:
            raise ConfigError(f"customize.steps must be >= 1 or null, got {self.steps}")


@dataclass
class LiftStageConfig:
    """Video-to-4D of the generated clip (stage ``lift``)."""

    preset: str = "default"
    novel_view: str = "auto"
    """Novel-view guidance: ``auto`` (Stable Zero123 when present, else the embedded ``tiny-zero123`` when
    present, else none, said in one line), ``none``, or a guidance type / model (``zero123``,
    ``stable-zero123``, a folder)."""
    novel_view_options: dict = field(default_factory=dict)
    """Other fields of the novel-view guidance (``motion4d.guidance.GuidanceConfig``: ``guidance_scale``,
    ``height``/``width`` ...)."""
    matting: str = "auto"
    """Alpha of the generated clip: ``auto`` (the generator's known background for motion4d-tiny models,
    else ``rembg``), ``background``, ``rembg`` or a hook ``module:function`` (command line only)."""
    overrides: list[str] = field(default_factory=list)
    """``key=value`` overrides of the lift config (``dynamic.iters=200`` ...)."""

    def __post_init__(self):
        from pathlib import Path

        from motion4d.guidance.registry import GUIDANCES

        types = [t for t in GUIDANCES if t != "video"]
        if self.novel_view not in ("auto", "none", *types) and not Path(self.novel_view).expanduser().is_dir():
            raise ConfigError(f"lift.novel_view={self.novel_view!r} is not auto, none, a guidance type "
                              f"({', '.join(types)}) or a model folder that exists")


@dataclass
class TextLiftStageConfig(LiftStageConfig):
    """The lift of text-to-4d: :class:`LiftStageConfig` plus video SDS by the customized text-to-video model."""

    video_sds: bool = False
    """Also supervise the dynamic stage with the *customized* text-to-video model (``clip.model`` with the run's
    motion LoRA, and its appearance LoRA when there is one) by video SDS on a clip rendered from one random
    camera. Each dynamic step draws one guidance (4D-fy): the video model with ``video_sds_probability``, the
    novel-view guidance otherwise (:mod:`motion4d.lift.hybrid`). Needs a motion reference or LoRA (``--motion``)."""
    video_sds_probability: float = 0.25
    """Share of the dynamic steps supervised by the video model (4D-fy's dynamic stage: 0.25)."""
    video_sds_weight: float = 0.1
    """Weight of the video SDS loss, times ``dynamic.lambda_sds`` (4D-fy's ``lambda_sds_video``: 0.1)."""
    video_sds_options: dict = field(default_factory=dict)
    """Other fields of the video guidance (``motion4d.guidance.GuidanceConfig``), e.g. ``{guidance_scale: 50,
    video: {motion_amp_scale: 2}}``; the model, LoRAs, size and frame count come from the run."""

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 < self.video_sds_probability <= 1.0:
            raise ConfigError(f"lift.video_sds_probability must be in (0, 1], got {self.video_sds_probability}")
        if self.video_sds_weight < 0:
            raise ConfigError(f"lift.video_sds_weight must be >= 0, got {self.video_sds_weight}")
        touched = [o for o in self.overrides if o.partition("=")[0].strip().startswith("guidance.")
                   and o.partition("=")[0].strip() != "guidance.render_size"]
        if self.video_sds and touched:
            raise ConfigError(f"lift.overrides {touched} set the lift's guidance, which lift.video_sds builds (a "
                              f"hybrid of the novel-view and video guidances): give the novel-view guidance's fields "
                              f"as lift.novel_view_options and the video guidance's as lift.video_sds_options")
        if self.video_sds_options:
            from motion4d.config import load_config
            from motion4d.guidance.config import GuidanceConfig

            fixed = {"type", "model"} & set(self.video_sds_options)
            if fixed:
                raise ConfigError(f"lift.video_sds_options cannot set {', '.join(sorted(fixed))}: the video model is "
                                  f"clip.model with the run's LoRAs")
            try:
                load_config(GuidanceConfig, data={"type": "video", **self.video_sds_options})
            except ConfigError as e:
                raise ConfigError(f"lift.video_sds_options: {e}") from None


@dataclass
class TextTo4DConfig:
    """Everything ``motion4d text-to-4d`` needs; see :class:`motion4d.pipelines.TextTo4DPipeline`."""

    prompt: str = ""
    motion: list[str] = field(default_factory=list)
    """Reference videos (a temporal LoRA is trained on them), or a ``train-motion`` run folder or a
    ``temporal.safetensors`` file (used as is)."""
    appearance: list[str] = field(default_factory=list)
    """Reference images or folders of images (a spatial LoRA is trained), or a run folder or
    ``spatial.safetensors`` file."""
    seed: int = 0
    device: str = "auto"
    clip: ClipConfig = field(default_factory=ClipConfig)
    customize: CustomizeConfig = field(default_factory=CustomizeConfig)
    lift: TextLiftStageConfig = field(default_factory=TextLiftStageConfig)

    def __post_init__(self):
        check_choice("device", self.device.split(":")[0], ("auto", "cpu", "cuda", "mps"))
        if not 0 <= self.seed < 2 ** 31:
            raise ConfigError(f"seed must be in [0, 2**31), got {self.seed}")


def load_text_to_4d_config(prompt: str | None = None, *, preset: str | None = "default", file: str | None = None,
                           overrides: list[str] | tuple[str, ...] = (), **fields) -> TextTo4DConfig:
    """Defaults < preset (``presets/text_to_4d/``) < YAML ``file`` < ``fields`` < ``key=value`` overrides."""
    from motion4d.config import load_config

    data = {k: v for k, v in fields.items() if v is not None}
    if prompt is not None:
        data["prompt"] = prompt
    return load_config(TextTo4DConfig, preset=("text_to_4d", preset) if preset else None, file=file, data=data,
                       overrides=list(overrides))


@dataclass
class DriveConfig(ImageToVideoSettings):
    """The driving clip of image-to-4d: :class:`~motion4d.video.image_to_video.ImageToVideoSettings`
    (DreamGaussian4D's SVD defaults) plus the model."""

    model: str = "auto"
    """A registry key (``svd``, ``svd-xt``, ``tiny-svd``), hub id or folder; ``auto``: SVD when present locally,
    else the embedded ``tiny-svd``, run at its 64x64 training size (``width``/``height`` are then replaced)."""

    def __post_init__(self):
        try:
            self.check()
        except ValueError as e:
            raise ConfigError(f"drive: {e}") from None


@dataclass
class ImageTo4DConfig:
    """Everything ``motion4d image-to-4d`` needs; see :class:`motion4d.pipelines.ImageTo4DPipeline`."""

    image: str = ""
    """The input image (PNG/JPEG/WebP; RGBA alpha is the object mask)."""
    static: str | None = None
    """A 3DGS PLY used as the canonical model (skips the static stage), e.g. from LGM."""
    matting: str = "auto"
    """The input's alpha: ``auto`` (its alpha channel, else ``rembg``), ``alpha``, ``rembg`` or a hook."""
    background: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    """What the object is composited on before the video model (DreamGaussian4D: white)."""
    border_ratio: float = 0.2
    """Empty border around the recentred object, as a fraction of the image side (DreamGaussian4D: 0.2)."""
    seed: int = 0
    device: str = "auto"
    drive: DriveConfig = field(default_factory=DriveConfig)
    lift: LiftStageConfig = field(default_factory=LiftStageConfig)

    def __post_init__(self):
        check_choice("device", self.device.split(":")[0], ("auto", "cpu", "cuda", "mps"))
        if len(self.background) != 3 or not all(0.0 <= v <= 1.0 for v in self.background):
            raise ConfigError(f"background must be 3 numbers in [0, 1], got {self.background}")
        if not 0.0 <= self.border_ratio < 0.5:
            raise ConfigError(f"border_ratio must be in [0, 0.5), got {self.border_ratio}")
        if not 0 <= self.seed < 2 ** 31:
            raise ConfigError(f"seed must be in [0, 2**31), got {self.seed}")


def load_image_to_4d_config(image: str | None = None, *, preset: str | None = "default", file: str | None = None,
                            overrides: list[str] | tuple[str, ...] = (), **fields) -> ImageTo4DConfig:
    """Defaults < preset (``presets/image_to_4d/``) < YAML ``file`` < ``fields`` < ``key=value`` overrides."""
    from motion4d.config import load_config

    data = {k: v for k, v in fields.items() if v is not None}
    if image is not None:
        data["image"] = str(image)
    return load_config(ImageTo4DConfig, preset=("image_to_4d", preset) if preset else None, file=file, data=data,
                       overrides=list(overrides))
