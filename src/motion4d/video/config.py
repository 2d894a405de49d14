"""Typed configs for ``motion4d train-motion`` (presets in ``presets/motion/*.yaml``).

Defaults are MotionDirector's (research notes §3): rank 32, dropout 0.1, lr 5e-4, AdamW, 16 frames at 8 fps,
384x384, spatial masking 0.2, loss weights 1 and 1, validation with 30 DDIM steps at guidance 12.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from motion4d.config import ConfigError, check_choice

__all__ = ["DataConfig", "AdapterConfig", "ValidationConfig", "TrainMotionConfig", "load_train_config"]


@dataclass
class DataConfig:
    """Training media. ``paths``: videos, images or folders of them; ``caption``: used where no ``<stem>.txt``."""

    paths: list[str] = field(default_factory=list)
    caption: str | None = None
    num_frames: int = 16          # MotionDirector: n_sample_frames 16
    fps: float = 8.0              # clips are sampled at this frame rate (stride round(native_fps / fps))
    width: int = 384
    height: int = 384
    clips_per_video: int = 4      # random clips cached per video (MotionDirector caches a single one)
    hflip_images: float = 0.5     # MotionDirector random_hflip_img for image data

    def __post_init__(self):
        for key in ("num_frames", "width", "height", "clips_per_video"):
            if getattr(self, key) < 1:
                raise ConfigError(f"data.{key} must be >= 1, got {getattr(self, key)}")
        if self.fps <= 0:
            raise ConfigError(f"data.fps must be > 0, got {self.fps}")
        if not 0.0 <= self.hflip_images <= 1.0:
            raise ConfigError(f"data.hflip_images must be in [0, 1], got {self.hflip_images}")


@dataclass
class AdapterConfig:
    """Which LoRA paths to train and their shape. ``alpha=None`` means alpha = rank (scale 1, MotionDirector).

    ``temporal_convs``: the temporal (motion) LoRA also adapts the temporal convolutions (``temp_convs``, Conv3d
    kernel (3, 1, 1)), the only UNet3D layers that see frame order (diffusers' temporal attention has no positional
    embeddings). Off by default (MotionDirector adapts temporal attention and feed-forward only); the saved LoRA
    is then format version 2. Measured in ``docs/notes/lora.md``."""

    spatial: bool = True
    temporal: bool = True
    rank: int = 32
    alpha: float | None = None
    dropout: float = 0.1
    temporal_convs: bool = False

    def __post_init__(self):
        if not (self.spatial or self.temporal):
            raise ConfigError("lora.spatial and lora.temporal are both false: nothing to train")
        if self.temporal_convs and not self.temporal:
            raise ConfigError("lora.temporal_convs is true but lora.temporal is false: the temporal convolutions "
                              "belong to the temporal LoRA (set lora.temporal=true or lora.temporal_convs=false)")
        if self.rank < 1:
            raise ConfigError(f"lora.rank must be >= 1, got {self.rank}")
        if not 0.0 <= self.dropout < 1.0:
            raise ConfigError(f"lora.dropout must be in [0, 1), got {self.dropout}")


@dataclass
class ValidationConfig:
    """Validation videos written to ``samples/`` every ``every`` steps (0: only at the end; -1: never)."""

    every: int = 50
    prompts: list[str] = field(default_factory=list)   # empty: the first training caption
    num_frames: int | None = None                      # None: data.num_frames
    width: int | None = None
    height: int | None = None
    steps: int = 30
    guidance: float = 12.0
    scheduler: str = "ddim"       # sampling scheduler (motion4d.video.schedulers.SCHEDULERS)
    noise_prior: float = 0.0      # MotionDirector single-video configs validate with 0.5
    spatial_scale: float = 0.0    # scale of the spatial (appearance) LoRA in validation videos
    seed: int = 0

    def __post_init__(self):
        if not 0.0 <= self.noise_prior <= 1.0:
            raise ConfigError(f"validation.noise_prior must be in [0, 1], got {self.noise_prior}")
        if self.steps < 1:
            raise ConfigError(f"validation.steps must be >= 1, got {self.steps}")
        from motion4d.video.schedulers import SCHEDULERS

        if self.scheduler not in SCHEDULERS:
            raise ConfigError(f"validation.scheduler {self.scheduler!r} is not one of: {', '.join(SCHEDULERS)}")


@dataclass
class TrainMotionConfig:
    """Everything ``motion4d train-motion`` needs."""

    model: str = "zeroscope"            # registry key, hub id or local folder (diffusers layout)
    output_dir: str = "outputs/motion"
    data: DataConfig = field(default_factory=DataConfig)
    lora: AdapterConfig = field(default_factory=AdapterConfig)
    validation: ValidationConfig = field(default_factory=ValidationConfig)
    steps: int = 300
    lr: float = 5e-4
    weight_decay: float = 1e-2          # MotionDirector: 1e-2 single video, 1e-4 multi-video / images
    spatial_mask_prob: float = 0.2     # probability of training a step without the spatial LoRA
    lambda_org: float = 1.0            # weight of the plain MSE in the temporal loss
    lambda_ad: float = 1.0             # weight of the appearance-debiased loss
    max_grad_norm: float = 0.0         # 0: no clipping
    gradient_checkpointing: bool = True
    mixed_precision: str = "auto"      # auto (fp16 on CUDA), no, fp16, bf16
    device: str = "auto"
    seed: int = 0
    checkpoint_every: int = 50
    keep_checkpoints: int = 3
    log_every: int = 10

    def __post_init__(self):
        check_choice("mixed_precision", self.mixed_precision, ("auto", "no", "fp16", "bf16"))
        if self.steps < 1:
            raise ConfigError(f"steps must be >= 1, got {self.steps}")
        if not 0.0 <= self.spatial_mask_prob <= 1.0:
            raise ConfigError(f"spatial_mask_prob must be in [0, 1], got {self.spatial_mask_prob}")
        if self.lr <= 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if self.checkpoint_every < 1 or self.keep_checkpoints < 1:
            raise ConfigError("checkpoint_every and keep_checkpoints must be >= 1")


def load_train_config(config: str | None = None, presets: list[str] | tuple[str, ...] = (),
                      overrides: list[str] | tuple[str, ...] = ()) -> TrainMotionConfig:
    """Defaults < presets (in order, from ``presets/motion/``) < the YAML ``config`` file < ``key=value``
    overrides. Unknown keys and bad values raise :class:`motion4d.config.ConfigError` naming them."""
    from motion4d.config import load_config

    return load_config(TrainMotionConfig, preset=[("motion", p) for p in presets], file=config,
                       overrides=list(overrides))
