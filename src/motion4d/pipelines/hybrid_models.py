"""Models of the hybrid route and the lift's hybrid guidance built from them.

:func:`resolve_hybrid_models` picks the three roles' models before anything is written: the real ones (MVDream, SD 2.1
base, ZeroScope) when present locally; otherwise the 3D-aware and image roles fall back on the text-to-video model
scoring one frame at a time (a *stand-in*: not 3D-aware, plain SDS), said in one line. With no text-to-video model
at all the route fails with one error naming what to download.

:func:`hybrid_guidance` turns a :class:`~motion4d.pipelines.hybrid_config.HybridTo4DConfig` and those models into the
``guidance.options`` of a ``guidance.kind: hybrid`` lift (:mod:`motion4d.lift.hybrid`).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

__all__ = ["resolve_hybrid_models", "hybrid_guidance", "lift_iters"]

Log = Callable[[str], None]
_REAL = {"multiview": "mvdream", "image": "sd21-base", "video": "zeroscope"}


def resolve_hybrid_models(cfg, log: Log = print) -> dict[str, str | None]:
    """``{"multiview": model | None, "image": model | None, "video": model}``; None: the role's stand-in (the video
    model one frame at a time). Explicit models must exist (``ModelNotFoundError`` with the download command)."""
    from motion4d.hub import MODELS, ModelNotFoundError, download_command, is_present, resolve_pretrained
    from motion4d.pipelines.stages import resolve_video_model

    try:
        video = resolve_video_model(cfg.video.model, log=log)
    except ModelNotFoundError:
        if cfg.video.model != "auto":
            raise
        cmds = "\n".join(f"    {download_command(MODELS[k].hub_id)}" for k in _REAL.values())
        raise ModelNotFoundError(f"the hybrid route has no model to run on: none of MVDream, Stable Diffusion 2.1 base "
                                 f"or a text-to-video model (ZeroScope, or the embedded tiny-t2v) is present locally. "
                                 f"Download 4D-fy's models once with\n{cmds}") from None
    out: dict[str, str | None] = {"video": video}
    missing = []
    for role in ("multiview", "image"):
        choice = getattr(cfg.models, role)
        if choice != "auto":
            resolve_pretrained(choice, purpose=f"the hybrid route's {role} guidance")
            out[role] = choice
        elif is_present(_REAL[role]):
            out[role] = _REAL[role]
        else:
            out[role] = None
            missing.append(role)
    if missing:
        names = {"multiview": "MVDream (3D-aware)", "image": "SD 2.1 base (image)"}
        cmds = "; ".join(download_command(MODELS[_REAL[r]].hub_id) for r in missing)
        log(f"hybrid: {' and '.join(names[r] for r in missing)} not present locally; the {' and '.join(missing)} "
            f"step(s) use the text-to-video model {video} one frame at a time (not 3D-aware). For 4D-fy's models: "
            f"{cmds}")
    return out


def lift_iters(stages: list[dict]) -> tuple[int, int]:
    """``(static, dynamic)`` iterations of the lift: the steps of the static and of the dynamic hybrid stages."""
    static = sum(int(s["steps"]) for s in stages if not s.get("dynamic", False))
    return static, sum(int(s["steps"]) for s in stages if s.get("dynamic", False))


def _merge(base: dict[str, Any], extra: dict[str, Any] | None) -> dict[str, Any]:
    out = dict(base)
    for k, v in (extra or {}).items():
        out[k] = {**out[k], **v} if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def hybrid_guidance(cfg, models: dict[str, str | None], motion: Any = None, appearance: Any = None
                    ) -> dict[str, Any]:
    """The ``HybridConfig`` fields of the route's lift: one guidance per role (real model, or the video model one
    frame at a time), the config's stages, weights and per-role fields; the video role (and the stand-ins) carry
    the motion / appearance LoRAs, i.e. the customized model."""
    v = cfg.video
    loras: dict[str, Any] = {}
    if motion is not None:
        loras.update(lora_path=str(Path(motion)), lora_scale=v.motion_scale)
    if appearance is not None:
        loras.update(appearance_path=str(Path(appearance)), appearance_scale=v.appearance_scale)

    def video_model(frames: int) -> dict[str, Any]:
        g = _merge({"type": "video", "model": models["video"], "height": v.height, "width": v.width},
                   cfg.guidance.get("video"))
        return _merge(g, {"video": {**loras, "num_frames": frames}})

    guidances = {"video": video_model(v.frames)}
    for role, kind in (("multiview", "mvdream"), ("image", cfg.models.image_loss)):
        if models[role] is None:
            guidances[role] = video_model(1)
        else:
            guidances[role] = _merge({"type": kind, "model": models[role]}, cfg.guidance.get(role))
    return {"seed": cfg.seed, "frames": v.frames, "guidances": guidances, "weights": dict(cfg.weights),
            "stages": [dict(s) for s in cfg.stages], "clip_guidances": ["video"]}
