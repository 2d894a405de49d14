"""Score a 4D result against a shapes-world scene's ground truth at its cameras and frame times.

``evaluate(result, gt_scene_dir)`` renders ``result.gaussians_at(t)`` at every ground-truth camera and
frame time ``t = f / (F - 1)`` of the scene, on the scene background, and compares with the ground-truth
RGBA images composited on the same background. The returned dict (also the ``motion4d eval`` JSON)::

    {"psnr": dB, "ssim": .., "mask_iou": .., "flicker": .., "chamfer": .. | null,
     "psnr_cap": 100.0, "num_views": V, "num_frames": F, "views": [...], "frames": [...],
     "per_view": {name: {"psnr", "ssim", "mask_iou", "flicker"}},
     "per_frame": [{"frame", "t", "psnr", "ssim", "mask_iou"}],
     "optional": {"clip": value | null, "lpips": value | null},
     "skipped": {"clip": reason, "lpips": reason}}

Averages are means over images (or over views / frames for the breakdowns). PSNR is capped at
``psnr_cap`` = 100 dB per image before averaging, because identical images give ``inf`` and JSON
cannot hold it; a ground-truth scene scored against itself reaches ~65 dB (8-bit PNG rounding only).
``flicker`` is :func:`motion4d.metrics.flicker` of each view's rendered clip against its ground-truth
clip, averaged over views. ``chamfer`` compares Gaussian centres (opacity >= 0.1) with the ground truth's
per-frame PLYs (at most 2048 evenly strided points of each), averaged over frames (null when the scene
folder has no ``gaussians/``).
"""
from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from motion4d.camera import Cameras
from motion4d.metrics.geometry import chamfer
from motion4d.metrics.image import mask_iou, psnr, psnr_to_json, ssim
from motion4d.metrics.temporal import flicker

__all__ = ["PSNR_CAP", "evaluate", "load_scene4d"]

PSNR_CAP = 100.0
_CHAMFER_POINTS = 2048  # evenly strided subset of each set (exact when smaller)


def load_scene4d(path: str | Path):
    """A ``Scene4D`` from a folder: a world scene (``scene.json``), a lift result (``result.json``) or a
    text-to-4d / image-to-4d run folder (``manifest.json``; its 4D result is ``lift/``)."""
    path = Path(path)
    if (path / "manifest.json").is_file() and not (path / "result.json").is_file():
        if not (path / "lift" / "result.json").is_file():
            raise FileNotFoundError(f"{str(path)!r} is a pipeline run whose lift stage has not finished "
                                    f"(no lift/result.json); re-run its command to continue it")
        path = path / "lift"
    if (path / "scene.json").is_file():
        from motion4d.world.scene import WorldScene

        return WorldScene.load(path)
    if (path / "result.json").is_file():
        from motion4d.lift import load_result  # provided by the video-to-4D package

        return load_result(path)
    raise FileNotFoundError(f"{str(path)!r} is not a 4D result: expected a world scene folder (scene.json), "
                            f"a video-to-4D result folder (result.json) or a text-to-4d run (manifest.json)")


def _gt_images(scene_dir: Path, name: str, frames: Sequence[int]) -> np.ndarray:
    from motion4d.world.dataset import read_rgba

    folder = scene_dir / ("reference" if name == "ref" else f"views/{name}")
    out = []
    for f in frames:
        file = folder / f"{f:03d}.png"
        if not file.is_file():
            raise FileNotFoundError(f"ground-truth image {str(file)!r} is missing")
        out.append(read_rgba(file))
    return np.stack(out)


def _subsample(points: torch.Tensor, n: int) -> torch.Tensor:
    if len(points) <= n:
        return points
    idx = torch.linspace(0, len(points) - 1, n).round().long()
    return points[idx]


def evaluate(result, gt_scene_dir: str | Path, views: Sequence[str] | None = None,
             frames: Sequence[int] | None = None, background: Sequence[float] | None = None,
             device: str = "auto", optional: bool = True, clip_model: str | None = None,
             show_progress: bool = False) -> dict:
    """Score ``result`` (any ``Scene4D``) against the world scene folder ``gt_scene_dir``.

    Args:
        views: camera names from ``cameras.json`` (default: every novel view, i.e. all but ``ref``,
            which duplicates ``el+00_az000``); ``"ref"`` scores the reference video.
        frames: frame indices (default: all).
        background: colour to composite on (default: the scene's).
        optional: also compute CLIP / LPIPS when their weights are local (else listed in ``skipped``).
        clip_model: CLIP registry key, hub id or local folder (default ``openai/clip-vit-base-patch32``);
            the CLIP score compares every rendered image with the scene's caption.
    Returns:
        the dict described in the module docstring.
    """
    from motion4d.utils.device import resolve_device
    from motion4d.utils.progress import progress

    scene_dir = Path(gt_scene_dir)
    spec_file = scene_dir / "scene.json"
    if not spec_file.is_file():
        raise FileNotFoundError(f"{str(scene_dir)!r} is not a world scene folder (no scene.json)")
    try:
        spec = json.loads(spec_file.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{str(spec_file)!r} is not valid JSON: {e}") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("num_frames"), int) or spec["num_frames"] < 1:
        raise ValueError(f"{str(spec_file)!r}: 'num_frames' must be an integer >= 1 (is this a world scene?)")
    cams = Cameras.from_json(scene_dir / "cameras.json")
    names = list(cams.names)
    if views is None:
        views = [n for n in names if n != "ref"] or names
    unknown = [v for v in views if v not in names]
    if unknown:
        raise ValueError(f"unknown view(s) {', '.join(unknown)}; this scene has: {', '.join(names)}")
    num_frames = int(spec["num_frames"])
    frames = list(range(num_frames)) if frames is None else [int(f) for f in frames]
    bad = [f for f in frames if not 0 <= f < num_frames]
    if bad or not frames:
        raise ValueError(f"frames {bad or frames} are outside 0..{num_frames - 1}")
    bg = [float(v) for v in (spec["background"] if background is None else background)]
    dev = resolve_device(device)
    sel = cams[[names.index(v) for v in views]]
    times = [f / (num_frames - 1) if num_frames > 1 else 0.0 for f in frames]

    from motion4d.evaluation.views import render_views

    pred, alpha = render_views(result, sel, times, bg, dev)  # [V, F, H, W, 3], [V, F, H, W]
    chamfers = []
    ply_dir = scene_dir / "gaussians"
    for f, t in progress(list(zip(frames, times)), desc="chamfer", disable=None if show_progress else True):
        if (ply_dir / f"{f:03d}.ply").is_file():
            from motion4d.gaussians.ply import load_ply

            g = result.gaussians_at(t)
            gt_means = load_ply(ply_dir / f"{f:03d}.ply").means.detach()
            keep = g.opacities.detach().cpu() >= 0.1
            pts = g.means.detach().cpu()[keep]
            if len(pts):
                chamfers.append(float(chamfer(_subsample(pts, _CHAMFER_POINTS),
                                              _subsample(gt_means, _CHAMFER_POINTS))))
    from motion4d.world.dataset import composite

    gt_rgba = torch.from_numpy(np.stack([_gt_images(scene_dir, v, frames) for v in views]))  # [V,F,H,W,4]
    if gt_rgba.shape[2:4] != pred.shape[2:4]:
        raise ValueError(f"ground-truth images are {tuple(gt_rgba.shape[2:4])} but the cameras render "
                         f"{tuple(pred.shape[2:4])}")
    gt = composite(gt_rgba, bg)
    gt_alpha = gt_rgba[..., 3].float() / 255.0
    p = psnr(pred, gt).clamp(max=PSNR_CAP)  # [V, F]
    s = ssim(pred, gt)
    iou = mask_iou(alpha, gt_alpha)
    flick = [float(flicker(pred[v], gt[v])) if len(frames) > 1 else 0.0 for v in range(len(views))]
    per_view = {name: {"psnr": psnr_to_json(float(p[v].mean()), PSNR_CAP), "ssim": float(s[v].mean()),
                       "mask_iou": float(iou[v].mean()), "flicker": flick[v]} for v, name in enumerate(views)}
    per_frame = [{"frame": f, "t": t, "psnr": psnr_to_json(float(p[:, i].mean()), PSNR_CAP),
                  "ssim": float(s[:, i].mean()), "mask_iou": float(iou[:, i].mean())}
                 for i, (f, t) in enumerate(zip(frames, times))]
    report = {"psnr": psnr_to_json(float(p.mean()), PSNR_CAP), "ssim": float(s.mean()),
              "mask_iou": float(iou.mean()), "flicker": float(np.mean(flick)),
              "chamfer": float(np.mean(chamfers)) if chamfers else None,
              "psnr_cap": PSNR_CAP, "num_views": len(views), "num_frames": len(frames), "views": list(views),
              "frames": frames, "per_view": per_view, "per_frame": per_frame,
              "optional": {"clip": None, "lpips": None}, "skipped": {}}
    _optional_metrics(report, pred, gt, spec, optional, clip_model)
    return report


def _optional_metrics(report: dict, pred: torch.Tensor, gt: torch.Tensor, spec: dict, enabled: bool,
                      clip_model: str | None) -> None:
    from motion4d.metrics.optional import CLIP_MODEL, available, clip_similarity, lpips_distance

    if not enabled:
        report["skipped"] = {"clip": "optional metrics disabled", "lpips": "optional metrics disabled"}
        return
    clip_model = clip_model or CLIP_MODEL.key
    reasons = available(clip_model)
    flat_pred, flat_gt = pred.reshape(-1, *pred.shape[-3:]), gt.reshape(-1, *gt.shape[-3:])
    for key, reason in reasons.items():
        if reason is not None:
            report["skipped"][key] = reason
            continue
        try:
            if key == "clip":
                report["optional"]["clip"] = float(clip_similarity(flat_pred, spec["caption"], clip_model).mean())
            else:
                report["optional"]["lpips"] = float(lpips_distance(flat_pred, flat_gt).mean())
        except Exception as e:  # noqa: BLE001 - an optional metric never breaks an evaluation
            report["skipped"][key] = f"{type(e).__name__}: {e}"
    for key in ("clip", "lpips"):
        if report["optional"][key] is not None and not math.isfinite(report["optional"][key]):
            report["optional"][key] = None
