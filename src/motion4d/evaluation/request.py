"""Does a 4D result match what was asked for? The scores of text-to-4d's ``evaluate`` stage and of
``motion4d eval RUN`` on a pipeline run folder.

:func:`score_request` takes a ``Scene4D`` with a reference camera (a lift result), the prompt, and optionally the
reference motion clip, and returns ``{"scores": {name: number}, "skipped": {name: reason}, "details": {...}}``:

========================= ==================================================================================
``clip_score``            mean cosine similarity (in [-1, 1]) between the prompt and the turntable views: 8
                          azimuths around the reference camera (every 45 degrees, same elevation, distance,
                          field of view and size) at times 0, 0.5 and 1, on white
                          (:mod:`motion4d.evaluation.clip_score`; ``auto``: ViT-B/32 when its weights are
                          local, else the shipped ``tiny-clip``; ``details["clip"]["model"]`` says which)
``clip_colour_acc``       grammar prompts of one object: share of those views whose zero-shot colour is the
``clip_kind_acc``         prompt's main colour / whose zero-shot kind is the prompt's (chance 0.1 and about 0.11)
``mv_area_ratio``         multi-view consistency of the same views
``mv_colour_dist``        (:func:`motion4d.evaluation.consistency.multiview_consistency`)
``motion_err_reference``  with a reference clip: ``velocity_err`` of :func:`motion4d.metrics.motion_distance`
                          (pixels per frame; lower agrees better) between the result seen from the reference
                          camera at its frame times (on the lift's background) and the clip, resampled to that
                          many frames and that size;
                          ``motion_shift_err_reference`` is its ``shift_err``
``gt_psnr`` ``gt_ssim``   grammar prompts: the result against the scene the prompt describes
``gt_mask_iou``           (:func:`motion4d.world.scene_from_caption`, seed 0, the run's frame count, image size
                          and camera distance), rendered at that scene's ground-truth views except the
                          reference one (16 - 1 views: elevations 0 and 30, every 45 degrees), by
                          :func:`motion4d.evaluation.evaluate`
========================= ==================================================================================

The prompt's scene is *one* scene the prompt describes: sizes, speeds and placement are drawn from seed 0, so
``gt_*`` rewards the right object, colours and kind of motion, not a particular trajectory. A prompt outside the
grammar gets no ``gt_*`` scores and one line in ``skipped`` saying why.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from motion4d.evaluation.consistency import (TURNTABLE_AZIMUTHS, TURNTABLE_TIMES, multiview_consistency, orbit_of,
                                             turntable_views)

__all__ = ["score_request", "read_clip", "reference_camera", "prompt_scene_scores", "run_request", "motion_agreement"]

WHITE = (1.0, 1.0, 1.0)


def read_clip(path: str | Path, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """``float32 [num_frames, H, W, 3]`` of a video, frames picked evenly and resized (bilinear) to ``size``."""
    from PIL import Image

    from motion4d.utils.media import read_video

    frames = read_video(path, as_uint8=True).frames
    idx = np.linspace(0, len(frames) - 1, num_frames).round().astype(int)
    h, w = size
    return np.stack([np.asarray(Image.fromarray(frames[i][..., :3]).resize((w, h), Image.BILINEAR))
                     for i in idx]).astype(np.float32) / 255.0


def reference_camera(result):
    """The first camera a lift result was trained with (:func:`motion4d.evaluation.views.run_cameras`)."""
    from motion4d.evaluation.views import run_cameras

    cams = run_cameras(result)
    if cams is None or not len(cams):
        raise ValueError("this 4D result records no reference camera (result.json 'reference_camera'); the request "
                         "scores need a lift result")
    return cams[0]


def motion_agreement(result, clip: np.ndarray, background: Sequence[float] = WHITE, device: str = "cpu") -> dict:
    """:func:`motion4d.metrics.motion_distance` of ``result`` seen from its reference camera at its frame times
    against ``clip`` ``[F', H', W', 3]`` (resampled to the result's frames and the camera's size when they
    differ); the renders are on ``background``."""
    from motion4d.evaluation.views import render_views
    from motion4d.metrics import motion_distance

    cam = reference_camera(result)
    rgb, _ = render_views(result, cam, result.times(), background, device)
    renders = rgb[0].numpy()
    clip = np.asarray(clip, dtype=np.float32)
    if clip.shape[:3] != renders.shape[:3]:
        from PIL import Image

        idx = np.linspace(0, len(clip) - 1, len(renders)).round().astype(int)
        h, w = renders.shape[1:3]
        clip = np.stack([np.asarray(Image.fromarray((clip[i][..., :3] * 255).round().astype(np.uint8)).resize(
            (w, h), Image.BILINEAR)) for i in idx]).astype(np.float32) / 255.0
    return motion_distance(renders, clip[..., :3])


def prompt_scene_scores(result, prompt: str, scene_dir: str | Path, *, device: str = "auto") -> tuple[dict, dict]:
    """``(scores, details)`` of ``result`` against the scene ``prompt`` describes, written to ``scene_dir`` (kept
    when it already holds that scene). Raises ``ValueError`` (a :class:`~motion4d.world.CaptionParseError` for
    text outside the grammar) when the prompt describes no scene the world can build."""
    from motion4d.evaluation.evaluate import evaluate
    from motion4d.world import scene_from_caption, write_scene
    from motion4d.world.dataset import view_name

    cam = reference_camera(result)
    o = orbit_of(cam)
    scene = scene_from_caption(prompt, seed=0, num_frames=int(result.num_frames), size=int(cam.height),
                               radius=o["radius"], fovy=o["fovy"], background=WHITE)
    scene_dir = Path(scene_dir)
    try:
        same = json.loads((scene_dir / "scene.json").read_text()) == scene.to_dict()
    except (OSError, ValueError):
        same = False
    if not same:
        write_scene(scene, scene_dir, gaussians=False, video=False, device=device, show_progress=False)
    names = json.loads((scene_dir / "cameras.json").read_text())["cameras"]
    seen = {"ref", view_name(round(o["elevation"]), 0.0)}
    views = [c["name"] for c in names if c["name"] not in seen]
    report = evaluate(result, scene_dir, views=views, background=WHITE, device=device, optional=False)
    scores = {"gt_psnr": report["psnr"], "gt_ssim": report["ssim"], "gt_mask_iou": report["mask_iou"]}
    return scores, {"caption": scene.caption, "scene": str(scene_dir), "seed": 0, "views": views,
                    "flicker": report["flicker"]}


def score_request(result, prompt: str | None, *, reference_clip: np.ndarray | None = None,
                  scene_dir: str | Path | None = None, clip_model: Any = "auto", device: str = "auto",
                  azimuths: Sequence[float] = TURNTABLE_AZIMUTHS, times: Sequence[float] = TURNTABLE_TIMES,
                  log: Callable[[str], None] = lambda s: None) -> dict:
    """The scores of the module docstring. ``scene_dir``: where the prompt's scene is written (no ``gt_*`` when
    None); ``clip_model``: ``auto`` (a real CLIP when local, else ``tiny-clip``), a CLIP key / hub id / folder or
    a :class:`~motion4d.evaluation.clip_score.TextImageModel`. A named CLIP model that is not local raises
    :class:`~motion4d.hub.ModelNotFoundError` (with the download command); with ``auto`` nothing is missing."""
    from motion4d.hub import ModelNotFoundError
    from motion4d.utils.device import resolve_device
    from motion4d.world import CaptionParseError, parse_caption

    dev = str(resolve_device(device))
    scores: dict[str, float] = {}
    skipped: dict[str, str] = {}
    details: dict[str, Any] = {}
    cam = reference_camera(result)
    rgb, alpha = turntable_views(result, cam, times, azimuths, WHITE, dev)      # [A, T, H, W, 3]
    mv = multiview_consistency(rgb, alpha)
    scores.update({k: v for k, v in mv.items() if v is not None})
    if mv["mv_colour_dist"] is None:
        skipped["mv_colour_dist"] = "no turntable view shows any foreground"
    details["turntable"] = {"azimuths": [float(a) for a in azimuths], "times": [float(t) for t in times],
                            "elevation": orbit_of(cam)["elevation"], "background": list(WHITE)}
    try:
        parsed = parse_caption(prompt) if prompt else None
        why_not = None if prompt else "no prompt"
    except CaptionParseError as e:
        parsed, why_not = None, f"the prompt is not a sentence of the shapes world's caption grammar ({_first(e)})"
    if prompt:
        images = rgb.reshape(-1, *rgb.shape[-3:])
        from motion4d.evaluation.clip_score import clip_text_score, resolve_clip, zero_shot
        from motion4d.zoo.clip import MAIN_COLORS

        asked = isinstance(clip_model, str) and clip_model != "auto"      # a model named by the caller must load
        clip_model = resolve_clip(clip_model) if isinstance(clip_model, str) else clip_model
        name = clip_model if isinstance(clip_model, str) else type(clip_model).__name__
        try:
            cs = clip_text_score(images, prompt, clip_model, dev)
            scores["clip_score"] = cs["mean"]
            details["clip"] = {"model": name, "images": len(images), "min": cs["min"]}
            obj = parsed["objects"][0] if parsed and parsed["num_objects"] == 1 else None
            if obj is not None and obj["colors"][0] in MAIN_COLORS:
                z = zero_shot(images, obj["colors"][0], obj["noun"], clip_model, dev)
                scores["clip_colour_acc"], scores["clip_kind_acc"] = z["colour_acc"], z["kind_acc"]
            else:
                skipped["clip_zero_shot"] = why_not or "needs a prompt of one object in a main colour"
        except ModelNotFoundError as e:
            if asked:
                raise
            skipped["clip_score"] = f"CLIP model {name!r} is not available locally: {str(e).splitlines()[0]}"
    else:
        skipped["clip_score"] = "no prompt"
    if reference_clip is not None:
        meta = getattr(result, "metadata", None) or {}
        md = motion_agreement(result, reference_clip, meta.get("background", WHITE), dev)   # the lift's background
        scores["motion_err_reference"], scores["motion_shift_err_reference"] = md["velocity_err"], md["shift_err"]
        details["motion_reference"] = md
    if parsed is None:
        skipped["gt"] = why_not or "no prompt"
    elif scene_dir is None:
        skipped["gt"] = "no folder was given for the prompt's scene"
    else:
        try:
            gt, info = prompt_scene_scores(result, prompt, scene_dir, device=dev)
            scores.update(gt)
            details["prompt_scene"] = info
        except ValueError as e:                  # grammatical, but the world cannot build it
            skipped["gt"] = f"the shapes world cannot build the prompt's scene: {_first(e)}"
    log("request scores: " + ", ".join(f"{k} {v:.3g}" for k, v in scores.items()))
    return {"scores": scores, "skipped": skipped, "details": details}


def _first(e: Exception) -> str:
    text = str(e).splitlines()[0]
    return text.split("; captions read like")[0]


def run_request(run: str | Path) -> tuple[str | None, Path | None]:
    """``(prompt, reference motion video)`` of a pipeline run folder, from its ``manifest.json`` config: the
    video when exactly one reference motion video was given and still exists (or its copy in ``inputs/``)."""
    run = Path(run)
    try:
        config = json.loads((run / "manifest.json").read_text()).get("config", {})
    except (OSError, ValueError) as e:
        raise ValueError(f"{str(run)!r} is not a pipeline run folder (manifest.json: {e})") from None
    prompt = config.get("prompt") or None
    motion = [Path(m) for m in config.get("motion") or []]
    video = None
    if len(motion) == 1 and motion[0].suffix.lower() != ".safetensors" and not motion[0].is_dir():
        copies = sorted((run / "inputs").glob("reference_motion.*")) if (run / "inputs").is_dir() else []
        video = motion[0] if motion[0].is_file() else (copies[0] if copies else None)
    return prompt, video
