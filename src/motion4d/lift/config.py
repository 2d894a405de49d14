"""Typed configuration of the video-to-4D lift (presets in ``presets/lift/*.yaml``).

Loss weights follow DreamGaussian4D (reference RGB 10000 x MSE, mask 1000 x MSE) and
4DGaussians' regulariser weights; see ``docs/benchmarks.md`` and ``research/dg4d.md`` §2.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from motion4d.config import MAX_SEED, ConfigError, check_choice, check_range, load_config
from motion4d.deform.field import DeformConfig

__all__ = ["InputConfig", "CameraConfig", "StaticConfig", "DynamicConfig", "GuidanceConfig", "OutputConfig",
           "LiftConfig", "load_lift_config", "check_hybrid_options", "ALLOW_CODE_ENV"]


@dataclass
class InputConfig:
    """How a clip becomes training frames."""

    num_frames: int = 14
    """Resample the clip to this many frames (nearest frame, evenly spaced); 0 keeps every frame."""
    size: int = 256
    """Square training resolution of a single-view clip (calibrated views keep their own size)."""
    recenter: bool = True
    """Single-view clips: centre the object's bounding box (union over all frames, so motion is kept)
    and scale it to ``1 - 2 * border_ratio`` of the image, as DreamGaussian4D does."""
    border_ratio: float = 0.2
    """Empty border around the recentred object, as a fraction of the image side."""
    segmentation: str = "auto"
    """``auto`` (alpha if the frames have one, else ``plain``), ``alpha``, ``plain`` (plain-background
    keying), ``none`` (whole frame is the object) or a hook ``module:function``."""
    bg_threshold: float = 0.15
    """``plain`` keying: a pixel is foreground when its RGB distance to the border colour exceeds this."""
    views: list[str] | None = None
    """Calibrated views to train on (names in cameras.json); ``None`` = all that are not held out."""
    holdout: list[str] = field(default_factory=list)
    """Calibrated views never used for training (kept for evaluation)."""

    def __post_init__(self) -> None:
        if self.num_frames < 0 or self.num_frames == 1:
            raise ValueError(f"input.num_frames must be 0 (keep all) or >= 2, got {self.num_frames}")
        if self.size < 8:
            raise ValueError(f"input.size must be >= 8 pixels, got {self.size}")
        if not 0.0 <= self.border_ratio < 0.5:
            raise ValueError(f"input.border_ratio must be in [0, 0.5), got {self.border_ratio}")
        if ":" not in self.segmentation:
            check_choice("input.segmentation", self.segmentation, ("auto", "alpha", "plain", "none"))


@dataclass
class CameraConfig:
    """Reference and novel-view cameras (orbit convention of :mod:`motion4d.camera`)."""

    radius: float = 2.5
    """Orbit radius of the reference camera of a single-view clip (world units)."""
    fovy: float = 49.1
    """Vertical field of view in degrees (zero123's training setting)."""
    elevation: float = 0.0
    """Elevation of the reference camera of a single-view clip (degrees, > 0 above)."""
    min_elevation: float = -30.0
    max_elevation: float = 30.0
    """Range of novel-view elevations for score distillation (degrees)."""
    background: list[float] = field(default_factory=lambda: [1.0, 1.0, 1.0])
    """Background colour for training renders and composited frames (DreamGaussian4D: white)."""

    def __post_init__(self) -> None:
        check_range("camera.radius", self.radius, 0, None, low_open=True)
        check_range("camera.fovy", self.fovy, 0, 180, low_open=True, high_open=True)
        for key in ("elevation", "min_elevation", "max_elevation"):
            check_range(f"camera.{key}", getattr(self, key), -90, 90)
        if self.min_elevation > self.max_elevation:
            raise ConfigError(f"camera.min_elevation={self.min_elevation} is above camera.max_elevation="
                              f"{self.max_elevation}")
        if len(self.background) != 3:
            raise ConfigError(f"camera.background must be 3 values (RGB in [0, 1]), got {self.background}")
        for i, v in enumerate(self.background):
            check_range(f"camera.background[{i}]", v, 0, 1)


@dataclass
class StaticConfig:
    """Stage 1: canonical Gaussians from the first frame."""

    iters: int = 500
    num_points: int = 5000
    """Initial Gaussians (ignored with ``--static``)."""
    init: str = "ball"
    """``ball`` (uniform in a ball of ``init_radius``, DreamGaussian) or ``visual_hull`` (grid points inside
    every calibrated view's frame-0 mask, coloured from the views; needs >= 2 calibrated views)."""
    init_radius: float = 0.5
    init_opacity: float = 0.1
    views_per_step: int = 4
    """Calibrated views rendered per step (the reference view is always one of them)."""
    lr_means: float = 1.6e-3
    lr_means_final: float = 1.6e-5
    lr_sh: float = 0.01
    sh_degree: int = 0
    """Spherical-harmonics degree of the colour (0..3). Above 0 the colour depends on the view direction
    (3DGS); this needs several calibrated views (a single clip cannot tell view dependence from shape).
    The PLY exports keep every coefficient."""
    lr_sh_rest: float = 0.0005
    """Learning rate of the SH coefficients above degree 0 (3DGS: 1/20 of the base colour's)."""
    lr_opacity: float = 0.05
    lr_scales: float = 0.005
    lr_quats: float = 0.005
    lambda_rgb: float = 10000.0
    lambda_mask: float = 1000.0
    lambda_sds: float = 1.0
    ref_warmup: bool = False
    """Ramp the reference-view weights linearly from 0 (DreamGaussian's step_ratio), useful with SDS."""
    densify_from: int = 100
    densify_until: int = 400
    densify_interval: int = 100
    densify_grad_threshold: float = 0.0002
    prune_opacity: float = 0.01
    max_gaussians: int = 50000

    def __post_init__(self) -> None:
        check_choice("static.init", self.init, ("ball", "visual_hull"))
        if self.iters < 0 or self.num_points < 1 or self.views_per_step < 1:
            raise ValueError("static.iters must be >= 0, static.num_points and static.views_per_step >= 1")
        check_range("static.sh_degree", self.sh_degree, 0, 3)
        _check_nonnegative("static", self, ("lr_means", "lr_means_final", "lr_sh", "lr_sh_rest", "lr_opacity",
                                            "lr_scales",
                                            "lr_quats", "lambda_rgb", "lambda_mask", "lambda_sds",
                                            "densify_grad_threshold"))
        check_range("static.init_radius", self.init_radius, 0, None, low_open=True)
        check_range("static.init_opacity", self.init_opacity, 0, 1, low_open=True, high_open=True)
        check_range("static.prune_opacity", self.prune_opacity, 0, 1, high_open=True)
        check_range("static.max_gaussians", self.max_gaussians, 1, None)


@dataclass
class DynamicConfig:
    """Stage 2: the deformation field over every frame."""

    iters: int = 500
    frames_per_step: int = 14
    """Frames rendered per step (sampled without replacement; DreamGaussian4D renders all 14)."""
    views_per_frame: int = 1
    """Calibrated views per sampled frame (the reference view is always included)."""
    sds_views_per_frame: int = 4
    """Novel views per frame for score distillation (DreamGaussian4D's n_views); 0 disables."""
    lr_grid: float = 6.4e-3
    lr_mlp: float = 6.4e-4
    lr_final_ratio: float = 1.0
    """The field's learning rates decay exponentially to this fraction of ``lr_grid`` / ``lr_mlp`` by the
    last step (4DGaussians: 0.1); 1 keeps them constant."""
    time_curriculum: float = 0.0
    """Coarse-to-fine in time: over the first ``time_curriculum * iters`` steps the sampled frames are
    drawn from a window that grows linearly from the first two frames to the whole clip, so the field
    follows a large motion (a rotation) from the canonical frame outwards; 0 samples every frame from
    the start."""
    optimize_gaussians: bool = True
    """Fine-tune the canonical Gaussians jointly (DreamGaussian4D's optimize_gaussians)."""
    gaussian_lr_scale: float = 0.1
    """Multiplier on the static stage's Gaussian learning rates while fine-tuning."""
    lambda_rgb: float = 10000.0
    lambda_mask: float = 1000.0
    lambda_sds: float = 1.0
    ref_warmup: bool = False
    lambda_plane_tv: float = 1e-4
    lambda_time_smoothness: float = 1e-2
    lambda_time_l1: float = 1e-4
    lambda_rigidity: float = 0.0
    """Isometry loss (Dynamic 3D Gaussians): keep the distances between each Gaussian and its
    ``rigidity_k`` nearest canonical neighbours at every time (mean squared change, world units^2).
    Allows any rigid motion; discourages the field from 'painting' one view by stretching the model."""
    rigidity_k: int = 8
    deform: DeformConfig = field(default_factory=DeformConfig)

    def __post_init__(self) -> None:
        if self.iters < 0 or self.frames_per_step < 1 or self.views_per_frame < 1 or self.sds_views_per_frame < 0:
            raise ValueError("dynamic.iters must be >= 0, frames_per_step and views_per_frame >= 1, "
                             "sds_views_per_frame >= 0")
        _check_nonnegative("dynamic", self, ("lr_grid", "lr_mlp", "lambda_rgb", "lambda_mask", "lambda_sds",
                                             "lambda_plane_tv", "lambda_time_smoothness", "lambda_time_l1",
                                             "lambda_rigidity"))
        check_range("dynamic.gaussian_lr_scale", self.gaussian_lr_scale, 0, 100)
        check_range("dynamic.lr_final_ratio", self.lr_final_ratio, 0, 1, low_open=True)
        check_range("dynamic.time_curriculum", self.time_curriculum, 0, 1)
        check_range("dynamic.rigidity_k", self.rigidity_k, 1, None)


@dataclass
class GuidanceConfig:
    """Score distillation in the lift. ``kind``: ``none`` (reference and calibrated views only), a guidance type
    (``motion4d.guidance.GUIDANCES``: ``stable-zero123``, ``zero123``, ``sd``, ``vsd``, ``mvdream``, ``video``),
    or ``hybrid``: several guidances, one drawn per step (4D-fy; :mod:`motion4d.lift.hybrid`)."""

    kind: str = "none"
    options: dict[str, Any] = field(default_factory=dict)
    """A guidance type: passed to ``motion4d.guidance.build_guidance`` with ``kind``. ``hybrid``: a
    ``motion4d.guidance.HybridConfig`` (``guidances``, ``stages``, ``weights``, ``seed``) whose static stages
    (``dynamic: false``) split the lift's static stage and whose dynamic stages split its dynamic stage."""
    render_size: int = 128
    """Resolution of the novel-view renders handed to the guidance."""

    def __post_init__(self) -> None:
        from motion4d.guidance.registry import GUIDANCES

        check_range("guidance.render_size", self.render_size, 8, 4096)
        check_choice("guidance.kind", self.kind, ("none", "hybrid", *GUIDANCES))
        if self.kind == "hybrid":
            check_hybrid_options(self.options)


def check_hybrid_options(options: dict[str, Any]):
    """The ``HybridConfig`` of ``guidance.kind=hybrid``, checked for the lift: static stages before dynamic ones,
    guidance names without dots. ``ConfigError`` naming ``guidance.options`` otherwise."""
    from motion4d.guidance.hybrid import HybridConfig

    try:
        hcfg = load_config(HybridConfig, data=dict(options))
    except ConfigError as e:
        raise ConfigError(f"guidance.options (hybrid): {e}") from None
    kinds = [s.dynamic for s in hcfg.parsed_stages]
    if kinds != sorted(kinds):
        raise ConfigError("guidance.options (hybrid): every static stage (dynamic: false) must come before the "
                          f"dynamic ones, got {[s.name for s in hcfg.parsed_stages]} with dynamic {kinds}")
    dotted = [n for n in hcfg.guidance_configs if "." in n]
    if dotted:
        raise ConfigError(f"guidance.options (hybrid): guidance names cannot contain '.', got {dotted}")
    return hcfg


@dataclass
class OutputConfig:
    """What the run writes and how often."""

    preview_every: int = 100
    """Write a preview PNG (reference + a novel view, a few frames) every N steps; 0 disables."""
    checkpoint_every: int = 100
    """Checkpoint every N steps (atomic; ``--resume`` continues from the latest); 0 disables."""
    export: bool = True
    """Write the PLY sequence, videos, meshes and animated GLB at the end."""
    meshes: bool = True
    """Per-frame OBJ sequence and animated GLB (marching cubes)."""
    mesh_resolution: int = 64
    prune_floaters: bool = True
    """Drop faint far-off Gaussians (:func:`motion4d.export.prune_floaters`) from the PLY sequence, videos
    and meshes; ``canonical.ply`` and the field keep every Gaussian."""
    video_size: int = 256
    turntable_views: int = 60
    fps: int = 8

    def __post_init__(self) -> None:
        check_range("output.preview_every", self.preview_every, 0, None)
        check_range("output.checkpoint_every", self.checkpoint_every, 0, None)
        check_range("output.mesh_resolution", self.mesh_resolution, 8, 1024)
        check_range("output.video_size", self.video_size, 8, 4096)
        check_range("output.turntable_views", self.turntable_views, 1, 3600)
        check_range("output.fps", self.fps, 1, 240)


@dataclass
class LiftConfig:
    """Everything a video-to-4D run needs (``motion4d video-to-4d --preset P key=value``)."""

    seed: int = 0
    device: str = "auto"
    prompt: str | None = None
    """Text prompt for text-conditioned guidance (``sd``, ``vsd``, ``mvdream``, ``video``); required by them,
    ignored by the image-conditioned ones (``zero123``, ``stable-zero123``)."""
    negative_prompt: str = ""
    """Text for the guidance's unconditional branch ("" = the guidance's own default)."""
    input: InputConfig = field(default_factory=InputConfig)
    camera: CameraConfig = field(default_factory=CameraConfig)
    static: StaticConfig = field(default_factory=StaticConfig)
    dynamic: DynamicConfig = field(default_factory=DynamicConfig)
    guidance: GuidanceConfig = field(default_factory=GuidanceConfig)
    output: OutputConfig = field(default_factory=OutputConfig)

    def __post_init__(self) -> None:
        check_range("seed", self.seed, 0, MAX_SEED)


def _check_nonnegative(section: str, cfg: Any, keys: tuple[str, ...]) -> None:
    for key in keys:
        check_range(f"{section}.{key}", getattr(cfg, key), 0, None)


#: Environment variable that allows code hooks (``input.segmentation: module:function``) from config files.
ALLOW_CODE_ENV = "MOTION4D_ALLOW_CODE"


def load_lift_config(preset: str | None = "default", file: str | Path | None = None,
                     overrides: list[str] | tuple[str, ...] = (), data: dict | None = None, *,
                     allow_code: bool = False) -> LiftConfig:
    """Resolve a :class:`LiftConfig` from a shipped preset, a YAML file, a dict and ``key=value`` overrides.

    A code hook (``input.segmentation: module:function`` imports and runs that module) is accepted from
    ``overrides`` (the command line); from ``file`` or ``data`` (a YAML file, a web form) it needs
    ``allow_code=True`` (``--allow-code``) or the environment variable ``MOTION4D_ALLOW_CODE=1``, so that
    a config file received from someone else cannot run code.
    """
    import os

    cfg = load_config(LiftConfig, preset=("lift", preset) if preset else None, file=file,
                      overrides=list(overrides), data=data)
    hook = cfg.input.segmentation
    from_cli = any(o.partition("=")[0].strip() == "input.segmentation" for o in overrides)
    if ":" in hook and not from_cli and not allow_code and os.environ.get(ALLOW_CODE_ENV) != "1":
        raise ConfigError(f"input.segmentation={hook!r} from a config file would import and run code; pass "
                          f"--allow-code (or set {ALLOW_CODE_ENV}=1) if you trust this file, or give it on the "
                          f"command line as input.segmentation={hook}")
    return cfg
