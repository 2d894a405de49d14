"""What each tab of the app runs: checked inputs -> a :class:`~motion4d.app.jobs.Job` writing one run folder.

Nothing here imports gradio: the functions take plain values (file paths of uploads, numbers, strings) and
raise :class:`~motion4d.app.limits.UploadError` or ``ValueError`` with a message for the page. Settings
from the page go through an allow-list of config keys (:data:`ADVANCED_KEYS`); a web user cannot name a
model folder, a matting hook or a device. Server-side settings (``AppSettings.overrides``) come first.
"""
from __future__ import annotations

import datetime as _dt
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from motion4d.app.jobs import Job
from motion4d.app.limits import LORA_SUFFIXES, UploadError, UploadLimits, admit, check_file, check_images, check_video

__all__ = ["AppSettings", "ADVANCED_KEYS", "ROUTES", "PRESETS", "new_session", "new_run_dir", "text_job",
           "image_job", "video_job", "models_in_use"]

ROUTES = ("text-to-4d", "image-to-4d", "video-to-4d")
PRESETS = ("quick", "default")

#: Config keys a page may set, per route (numbers only); ``lift.<key>`` goes into the lift's overrides.
ADVANCED_KEYS = {
    "text-to-4d": ("seed", "clip.frames", "clip.width", "clip.height", "clip.steps", "clip.guidance",
                   "customize.steps", "lift.dynamic.iters", "lift.static.iters"),
    "image-to-4d": ("seed", "drive.frames", "drive.width", "drive.height", "drive.steps", "lift.dynamic.iters",
                    "lift.static.iters"),
    "video-to-4d": ("seed", "lift.dynamic.iters", "lift.static.iters", "lift.input.num_frames"),
}


@dataclass
class AppSettings:
    """Server-side settings of ``motion4d app`` (never set from the page).

    Attributes:
        runs_root: where session folders go (``runs_root/<session token>/<run>``).
        limits: upload bounds.
        overrides: per route, ``key=value`` overrides applied before the page's (tests: toy sizes, a tiny model).
        lift_overrides: per route, lift ``key=value`` overrides (``lift.overrides`` of the pipelines).
    """

    runs_root: Path
    limits: UploadLimits = field(default_factory=UploadLimits)
    overrides: dict[str, list[str]] = field(default_factory=dict)
    lift_overrides: dict[str, list[str]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.runs_root = Path(self.runs_root).expanduser().resolve()
        for route in list(self.overrides) + list(self.lift_overrides):
            if route not in ROUTES:
                raise ValueError(f"unknown route {route!r} in app overrides; routes: {', '.join(ROUTES)}")


def new_session(settings: AppSettings) -> str:
    """A fresh session token (128 random bits, URL-safe): the name of that browser session's folder."""
    return secrets.token_urlsafe(16)


def new_run_dir(settings: AppSettings, session: str, route: str) -> Path:
    """``runs_root/<session>/<time>-<route>-<random>``, created; refuses a token that is not one of ours."""
    if not session or not session.replace("-", "").replace("_", "").isalnum() or len(session) < 20:
        raise ValueError("this page's session is not valid; reload the page")
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    run = settings.runs_root / session / f"{stamp}-{route}-{secrets.token_hex(3)}"
    run.mkdir(parents=True)
    return run


def _advanced(route: str, values: dict[str, Any]) -> tuple[list[str], list[str]]:
    """``(overrides, lift_overrides)`` from the page's advanced settings (empty values are skipped)."""
    allowed = ADVANCED_KEYS[route]
    out, lift_out = [], []
    for key, value in values.items():
        if value is None or value == "":
            continue
        if key not in allowed:
            raise ValueError(f"setting {key!r} cannot be changed from the page; allowed: {', '.join(allowed)}")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"setting {key} must be a number, got {value!r}")
        if value < 0:
            raise ValueError(f"setting {key} must be >= 0, got {value}")
        value = int(value) if float(value).is_integer() else float(value)
        (lift_out if key.startswith("lift.") else out).append(f"{key.removeprefix('lift.')}={value}")
    return out, lift_out


def _overrides(settings: AppSettings, route: str, advanced: dict[str, Any]) -> list[str]:
    page, page_lift = _advanced(route, advanced)
    lift = settings.lift_overrides.get(route, []) + page_lift
    if route == "video-to-4d":
        return settings.overrides.get(route, []) + lift + page
    return settings.overrides.get(route, []) + page + ([f"lift.overrides=[{', '.join(lift)}]"] if lift else [])


def _preset(preset: str) -> str:
    if preset not in PRESETS:
        raise ValueError(f"preset {preset!r} is not one of {', '.join(PRESETS)}")
    return preset


def text_job(settings: AppSettings, session: str, prompt: str, motion: list, appearance: list, preset: str,
             advanced: dict[str, Any]) -> Job:
    """A text-to-4D job. ``motion``: uploaded videos or one ``.safetensors`` LoRA; ``appearance``: images."""
    from motion4d.pipelines import TextTo4DPipeline, load_text_to_4d_config

    limits = settings.limits
    motion, appearance = list(motion or []), list(appearance or [])
    loras = [m for m in motion if str(m).lower().endswith(LORA_SUFFIXES)]
    if loras and len(motion) > 1:
        raise UploadError("motion: send either videos to learn the motion from, or one saved motion LoRA "
                          "(.safetensors), not both")
    if len(motion) > limits.max_videos:
        raise UploadError(f"motion: {len(motion)} videos sent; at most {limits.max_videos} are allowed")
    for m in motion:
        check_file(m, "motion", LORA_SUFFIXES, limits) if m in loras else check_video(m, "motion", limits)
    images = check_images(appearance, "appearance", limits)
    overrides = _overrides(settings, "text-to-4d", advanced)
    cfg = load_text_to_4d_config(prompt or "", preset=_preset(preset), overrides=overrides)
    TextTo4DPipeline(cfg)                                            # prompt and config errors now, not later
    run = new_run_dir(settings, session, "text-to-4d")
    staged = [str(admit(m, run / "inputs", "temporal" if m in loras else f"motion_{i}")) for i, m in
              enumerate(motion)]
    shots = [str(admit(p, run / "inputs" / "appearance", f"image_{i}")) for i, p in enumerate(images)]
    cfg = load_text_to_4d_config(prompt, preset=preset, motion=staged or None, appearance=shots or None,
                                 overrides=overrides)

    def fn(log: Callable[[str], None]):
        return TextTo4DPipeline(cfg, log=log)(run / "run")

    return Job(fn, run / "run", "text-to-4d")


def image_job(settings: AppSettings, session: str, image: str | None, preset: str, advanced: dict[str, Any]) -> Job:
    """An image-to-4D job (DreamGaussian4D's route) on one uploaded image."""
    from motion4d.pipelines import ImageTo4DPipeline, load_image_to_4d_config

    if not image:
        raise UploadError("image: upload an image of the object first")
    [img] = check_images([image], "image", settings.limits)
    overrides = _overrides(settings, "image-to-4d", advanced)
    load_image_to_4d_config(None, preset=_preset(preset), overrides=overrides)
    run = new_run_dir(settings, session, "image-to-4d")
    staged = admit(img, run / "inputs", "image")
    cfg = load_image_to_4d_config(str(staged), preset=preset, overrides=overrides)
    pipe = ImageTo4DPipeline(cfg)

    def fn(log: Callable[[str], None]):
        pipe.log = log
        return pipe(run / "run")

    return Job(fn, run / "run", "image-to-4d")


def video_job(settings: AppSettings, session: str, video: str | None, preset: str, advanced: dict[str, Any]) -> Job:
    """A video-to-4D job: the lift of an uploaded clip, then its exports, in ``run/lift``."""
    from motion4d.lift.config import load_lift_config

    if not video:
        raise UploadError("video: upload a video of the object first")
    check_video(video, "video", settings.limits)
    lift_preset = {"quick": "demo", "default": "default"}[_preset(preset)]
    overrides = ["output.export=false"] + _overrides(settings, "video-to-4d", advanced)
    cfg = load_lift_config(lift_preset, overrides=overrides)
    run = new_run_dir(settings, session, "video-to-4d")
    staged = admit(video, run / "inputs", "video")

    def fn(log: Callable[[str], None]):
        return _video_to_4d(staged, run / "run", cfg, log)

    return Job(fn, run / "run", "video-to-4d")


def _video_to_4d(video: Path, out: Path, cfg, log: Callable[[str], None]):
    from motion4d.config import config_to_dict
    from motion4d.lift import lift
    from motion4d.pipelines import RunManifest
    from motion4d.pipelines.stages import export_stage

    manifest = RunManifest.open(out, "video-to-4d", config_to_dict(cfg), ["lift", "export"])
    manifest.run("lift", lambda: (lift(video, out / "lift", cfg, log=log), {"result": out / "lift" / "result.json"})[1],
                 log=log)
    return manifest.run("export", lambda: export_stage(out / "lift", video, log), log=log)


def models_in_use(settings: AppSettings) -> dict[str, str]:
    """Which model each route will use, with the reason when it falls back to an embedded tiny one."""
    from motion4d.pipelines.stages import novel_view_guidance, resolve_video_model

    def pick(route: str, key: str) -> str | None:
        for o in settings.overrides.get(route, []):
            if o.startswith(f"{key}="):
                return o.split("=", 1)[1]
        return None

    out: dict[str, str] = {}
    notes: list[str] = []
    for label, route, key, resolve in (("text-to-video", "text-to-4d", "clip.model", resolve_video_model),
                                       ("image-to-video", "image-to-4d", "drive.model", _drive_model)):
        chosen = pick(route, key)
        try:
            out[label] = chosen if chosen else resolve("auto", log=notes.append)
        except (OSError, ValueError) as e:
            out[label] = f"not available ({e})"
    kind, options = novel_view_guidance("auto", log=notes.append)
    out["novel views"] = options.get("model", kind)
    if notes:
        out["notes"] = " ".join(notes)
    return out


def _drive_model(model: str, log: Callable[[str], None]) -> str:
    from motion4d.pipelines.image_to_4d import _resolve_drive_model

    return _resolve_drive_model(model, log)
