"""How each route of a batch job is checked, hashed and run, and the per-worker model cache.

Every route runs through the library's own entry points (no logic is duplicated here):

| route | entry point | done when | resumes from |
|---|---|---|---|
| ``text-to-4d`` | :class:`~motion4d.pipelines.TextTo4DPipeline` | ``manifest.json`` all stages | its manifest |
| ``image-to-4d`` | :class:`~motion4d.pipelines.ImageTo4DPipeline` | same | its manifest |
| ``video-to-4d`` | :func:`motion4d.lift.lift` | ``result.json`` | ``checkpoints/`` |
| ``train-motion`` | :func:`motion4d.video.train.train_motion` | LoRA files | ``checkpoints/`` |
| ``generate-video`` | :func:`motion4d.video.generate.generate_video` | ``video.mp4`` | (reruns; seconds) |

The batch itself records a finished job in ``OUT/records/<name>.json`` (see :mod:`motion4d.batch.runner`).
"""
from __future__ import annotations

import contextlib
import inspect
import json
from pathlib import Path
from typing import Any, Callable

from motion4d.batch.jobs import Job

__all__ = ["ModelCache", "check_job", "job_hash", "run_job", "GENERATE_KEYS", "RESUMABLE"]

Log = Callable[[str], None]

#: Keys of a ``generate-video`` job: the arguments of ``generate_video`` (``frames`` is ``num_frames``).
GENERATE_KEYS = ("prompt", "model", "motion", "appearance", "motion_scale", "appearance_scale", "noise_prior",
                 "noise_prior_video", "seed", "frames", "width", "height", "steps", "guidance", "negative_prompt",
                 "fps", "device", "precision", "allow_base_mismatch", "scheduler")
_LIFT_KEYS = ("input", "static", "views")
#: Routes that continue a cut-off run from their own checkpoints; the others start their folder afresh.
RESUMABLE = ("text-to-4d", "image-to-4d", "video-to-4d", "train-motion")


class ModelCache:
    """Video backbones kept loaded between the jobs of one worker (a Ray actor or this process).

    ``loads`` counts the backbones actually loaded from disk. A cached backbone is handed out again only while
    it is clean (no LoRA adapter left on it, in eval mode); otherwise it is dropped and a fresh one loads.
    """

    def __init__(self) -> None:
        self.loads = 0
        self._backbones: dict[tuple, Any] = {}

    def backbone(self, model: str, *, kind: str | None = None, **kwargs) -> Any:
        """The backbone ``model`` loaded with ``kwargs`` (``device``, ``precision``), from the cache if clean."""
        from motion4d.video import backbones

        key = (str(model), kind, tuple(sorted((k, str(v)) for k, v in kwargs.items())))
        bb = self._backbones.get(key)
        if bb is not None and _clean(bb):
            return bb
        bb = self._loader(model, kind=kind, **kwargs)
        self.loads += 1
        self._backbones[key] = bb
        return bb

    def evict_dirty(self) -> None:
        """Drop cached backbones that a job left with adapters or in training mode."""
        self._backbones = {k: v for k, v in self._backbones.items() if _clean(v)}

    @contextlib.contextmanager
    def patched(self):
        """Within the block, ``motion4d.video.backbones.load_backbone`` goes through this cache (so the
        pipelines, which load their own models, reuse the worker's)."""
        from motion4d.video import backbones

        self._loader = original = backbones.load_backbone
        backbones.load_backbone = self.backbone
        try:
            yield self
        finally:
            backbones.load_backbone = original
            self.evict_dirty()

    def _loader(self, model, **kwargs):  # replaced while patched (the original loader)
        from motion4d.video.backbones import load_backbone

        return load_backbone(model, **kwargs)


def _clean(bb: Any) -> bool:
    from motion4d.video.lora import get_lora

    denoiser = getattr(bb, "denoiser", None)
    if denoiser is None or denoiser.training:
        return False
    return not get_lora(denoiser, bb.lora_targets).names()


# ------------------------------------------------------------------------------------- configs
def _config(job: Job) -> Any:
    """The route's resolved config (validates keys and values; loads no model, writes nothing)."""
    from motion4d.config import load_config

    f = dict(job.fields)
    if job.route == "text-to-4d":
        from motion4d.pipelines import load_text_to_4d_config

        return load_text_to_4d_config(preset=job.preset or "default", file=job.config, overrides=job.overrides, **f)
    if job.route == "image-to-4d":
        from motion4d.pipelines import load_image_to_4d_config

        return load_image_to_4d_config(preset=job.preset or "default", file=job.config, overrides=job.overrides, **f)
    if job.route == "video-to-4d":
        from motion4d.lift.config import load_lift_config

        extra = sorted(set(f) - set(_LIFT_KEYS))
        if extra:
            raise ValueError(f"unknown key(s) {', '.join(extra)}; allowed: {', '.join(_LIFT_KEYS)}, preset, config, "
                             f"overrides (lift settings go in overrides, e.g. dynamic.iters=200)")
        if not f.get("input"):
            raise ValueError("'input' (a video, frames folder or shapes-world scene) is required")
        for key in _LIFT_KEYS:
            if f.get(key) is not None and not Path(f[key]).expanduser().exists():
                raise FileNotFoundError(f"{key} {f[key]!r} does not exist")
        return load_lift_config(job.preset or "default", file=job.config, overrides=job.overrides)
    if job.route == "train-motion":
        from motion4d.video.config import TrainMotionConfig

        if "output_dir" in f:
            raise ValueError("'output_dir' is set by the batch (OUT/jobs/<name>); remove it")
        presets = job.preset if isinstance(job.preset, list) else [job.preset] if job.preset else []
        return load_config(TrainMotionConfig, preset=[("motion", p) for p in presets], file=job.config, data=f,
                           overrides=list(job.overrides))
    extra = sorted(set(f) - set(GENERATE_KEYS))
    if extra:
        raise ValueError(f"unknown key(s) {', '.join(extra)}; allowed: {', '.join(GENERATE_KEYS)}")
    if job.preset or job.config or job.overrides:
        raise ValueError("generate-video takes its settings as keys (prompt, frames, ...), not preset/config/overrides")
    if not str(f.get("prompt") or "").strip():
        raise ValueError("'prompt' is required")
    sig = inspect.signature(_generate_fn())
    for key, value in f.items():
        default = sig.parameters["num_frames" if key == "frames" else key].default
        if value is not None and default not in (None, inspect.Parameter.empty) and not isinstance(value, type(default)) and not (
                isinstance(default, float) and isinstance(value, int)):
            raise ValueError(f"{key}={value!r} must be {type(default).__name__}")
    return {"seed": 0, **f}


def _generate_fn():
    from motion4d.video.generate import generate_video

    return generate_video


def check_job(job: Job) -> None:
    """Validate a job without running it: config keys and values, input files, allowed keys."""
    cfg = _config(job)
    if job.route == "text-to-4d":
        from motion4d.pipelines import TextTo4DPipeline

        TextTo4DPipeline(cfg, log=lambda _: None)
    elif job.route == "image-to-4d":
        from motion4d.pipelines import ImageTo4DPipeline

        ImageTo4DPipeline(cfg, log=lambda _: None)


def job_hash(job: Job) -> str:
    """A hash of the job's resolved configuration: the same hash means the same work (used for resume)."""
    from motion4d.config import config_to_dict
    from motion4d.pipelines.manifest import fingerprint

    cfg = _config(job)
    resolved = cfg if isinstance(cfg, dict) else config_to_dict(cfg)
    inputs = {k: job.fields.get(k) for k in _LIFT_KEYS} if job.route == "video-to-4d" else {}
    return fingerprint(job.route, resolved, inputs)


# ------------------------------------------------------------------------------------- running
def run_job(job: Job, out: Path, cache: ModelCache, *, resume: bool, log: Log = print) -> dict[str, Any]:
    """Run one job into its folder ``out``; returns ``{"outputs": {name: path}, "scores": {name: value}}``.

    ``resume``: the folder holds an unfinished run of this same job (continue it); otherwise it is empty.
    """
    cfg = _config(job)
    if job.route in ("text-to-4d", "image-to-4d"):
        from motion4d.pipelines import ImageTo4DPipeline, TextTo4DPipeline

        pipe = (TextTo4DPipeline if job.route == "text-to-4d" else ImageTo4DPipeline)(cfg, log=log)
        trains = job.route == "text-to-4d" and ("videos" in pipe.motion or "images" in pipe.appearance)
        with (contextlib.nullcontext() if trains else cache.patched()):  # LoRA training needs its own backbone
            res = pipe(out)
        return {"outputs": _strs(res.outputs), "scores": _numbers(res.scores)}
    if job.route == "video-to-4d":
        from motion4d.lift import lift

        has_ckpt = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
        f = job.fields
        lift(f["input"], out, cfg, static=f.get("static"), views=f.get("views"), resume=resume and has_ckpt, log=log)
        info = json.loads((out / "result.json").read_text())
        files = {k: str(out / v) for k, v in info.get("files", {}).items() if isinstance(v, str)}
        return {"outputs": files, "scores": _numbers(info.get("losses", {}))}
    if job.route == "train-motion":
        from motion4d.video.train import latest_checkpoint, train_motion

        cfg.output_dir = str(out)
        res = train_motion(cfg, resume=resume and latest_checkpoint(out) is not None, show_progress=False)
        outputs = {k: str(v) for k, v in (("temporal", res.temporal), ("spatial", res.spatial), ("log", res.log)) if v}
        return {"outputs": outputs, "scores": _numbers(res.losses[-1] if res.losses else {})}
    f = {("num_frames" if k == "frames" else k): v for k, v in cfg.items()}
    backbone = cache.backbone(f.get("model") or "zeroscope", device=f.get("device") or "auto",
                              precision=f.get("precision") or "auto")
    res = _generate_fn()(out_dir=out, backbone=backbone, show_progress=False, **f)
    return {"outputs": _strs(res.paths), "scores": {}}


def _strs(d: dict[str, Any]) -> dict[str, str]:
    return {k: str(v) for k, v in d.items() if isinstance(v, (str, Path))}


def _numbers(d: dict[str, Any]) -> dict[str, float]:
    return {k: float(v) for k, v in d.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
