"""The stage functions the pipelines chain. Each takes explicit inputs, writes inside its own folder of the
run and returns its outputs (paths and numbers) for the manifest; none knows about the others."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

import numpy as np

__all__ = ["resolve_video_model", "known_background", "novel_view_guidance", "lora_stage", "generate_stage",
           "matting_stage", "write_matted", "lift_stage", "export_stage", "reference_renders", "read_clip",
           "evaluate_stage", "report_stage"]

Log = Callable[[str], None]


# ------------------------------------------------------------------------------------------ models
def resolve_video_model(model: str, log: Log = print) -> str:
    """``auto`` -> ``zeroscope`` when present locally, else the embedded ``tiny-t2v``; other values unchanged.

    Raises :class:`motion4d.hub.ModelNotFoundError` (with the download command) when neither is available.
    """
    from motion4d.hub import ModelNotFoundError, is_present, resolve_pretrained

    if model != "auto":
        resolve_pretrained(model, purpose="text-to-video")          # fail now, with the download command
        return model
    for key in ("zeroscope", "tiny-t2v"):
        if is_present(key):
            if key.startswith("tiny-"):
                log(f"text-to-video: ZeroScope is not present locally; using the embedded {key} (a small model "
                    f"trained on the shapes world). `motion4d models` says how to download the real one.")
            return key
    raise ModelNotFoundError("no text-to-video model is available: download ZeroScope (`motion4d models` prints the "
                             "command) or pass clip.model=<folder in diffusers layout>")


def known_background(model: str) -> list[float] | None:
    """The generator's background colour, when its folder declares one (``model_index.json`` key
    ``motion4d.background``: motion4d-tiny models are trained on a plain background), else None."""
    from motion4d.hub import resolve_pretrained

    index = resolve_pretrained(model) / "model_index.json"
    try:
        bg = json.loads(index.read_text()).get("motion4d", {}).get("background")
    except (OSError, ValueError, AttributeError):
        return None
    return [float(v) for v in bg] if isinstance(bg, list) and len(bg) == 3 else None


def novel_view_guidance(choice: str, log: Log = print) -> tuple[str, dict[str, Any]]:
    """``(guidance.kind, guidance.options)`` of the lift for ``lift.novel_view``."""
    from motion4d.hub import is_present

    if choice == "none":
        return "none", {}
    if choice != "auto":
        if Path(choice).expanduser().is_dir():
            return "zero123", {"model": choice}
        return choice, {}
    if is_present("stable-zero123"):
        return "stable-zero123", {}
    if is_present("tiny-zero123"):
        log("novel views: Stable Zero123 is not present locally; using the embedded tiny-zero123")
        return "zero123", {"model": "tiny-zero123", "height": 64, "width": 64}   # its training size
    log("novel views: no Zero123 model is present locally, so the lift sees the generated view only "
        "(lift.novel_view=none); `motion4d models` says how to download stable-zero123")
    return "none", {}


# -------------------------------------------------------------------------------------- video stages
def lora_stage(inputs: dict[str, list[Path]], kind: str, model: str, cfg, out: Path, log: Log,
               video: Any = None) -> dict[str, Any]:
    """Train a ``kind`` (temporal | spatial) LoRA on the reference media, or pass a given LoRA file through.

    ``video``: the clip settings to train at (``frames``, ``width``, ``height``, ``fps``; default ``cfg.clip``)."""
    if "lora" in inputs:
        return {"lora": str(inputs["lora"][0]), "trained": False}
    media = inputs.get("videos" if kind == "temporal" else "images", [])
    if not media:
        return {"lora": None, "trained": False}
    from motion4d.video.config import load_train_config
    from motion4d.video.train import train_motion

    c = cfg.customize
    preset = c.motion_preset if kind == "temporal" else c.appearance_preset
    if preset == "auto":
        preset = {("temporal", True): "single_video", ("temporal", False): "multi_videos",
                  ("spatial", True): "single_image", ("spatial", False): "multi_images"}[(kind, len(media) == 1)]
    v = video if video is not None else cfg.clip
    overrides = [f"model={model}", f"output_dir={out}", f"data.paths={json.dumps([str(p) for p in media])}",
                 f"data.num_frames={v.frames}", f"data.width={v.width}",
                 f"data.height={v.height}", f"data.fps={v.fps}", f"seed={cfg.seed}",
                 f"device={cfg.device}", "validation.every=-1"]
    if not any(Path(p).with_suffix(".txt").exists() or (Path(p).parent / "caption.txt").exists() for p in media):
        overrides.append(f"data.caption={json.dumps(cfg.prompt)}")
    if c.steps is not None:
        overrides.append(f"steps={c.steps}")
    tcfg = load_train_config(presets=[preset], overrides=overrides + list(c.overrides))
    log(f"{'motion' if kind == 'temporal' else 'appearance'}: training a {kind} LoRA on {len(media)} file(s) "
        f"({preset}, {tcfg.steps} steps)")
    resume = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
    result = train_motion(tcfg, resume=resume)
    path = result.temporal if kind == "temporal" else result.spatial
    if path is None:
        raise RuntimeError(f"train-motion wrote no {kind} LoRA into {out}")
    return {"lora": Path(path), "trained": True}


def generate_stage(cfg, model: str, motion: Any, appearance: Any, prior_video: Path | None, out: Path,
                   log: Log) -> dict[str, Any]:
    """The customized clip: ``video`` (mp4), ``frames`` (PNG folder), ``seed``, ``noise_prior``."""
    from motion4d.video import generate_video

    c = cfg.clip
    prior = c.noise_prior if c.noise_prior is not None else (0.5 if prior_video is not None else 0.0)
    if prior > 0 and prior_video is None:
        raise ValueError("clip.noise_prior > 0 needs exactly one reference motion video")
    log(f"generate: {model}, {c.frames} frames at {c.width}x{c.height}, noise prior {prior:g}"
        + (f" from {prior_video.name}" if prior > 0 else ""))
    res = generate_video(cfg.prompt, out, model=model, motion=_path(motion), appearance=_path(appearance),
                         motion_scale=c.motion_scale, appearance_scale=c.appearance_scale, noise_prior=prior,
                         noise_prior_video=prior_video if prior > 0 else None, seed=cfg.seed, num_frames=c.frames,
                         width=c.width, height=c.height, steps=c.steps, guidance=c.guidance,
                         negative_prompt=c.negative_prompt, fps=c.fps, device=cfg.device)
    return {"video": Path(res.paths["mp4"]), "frames": Path(res.paths["frames"]), "seed": res.seed,
            "noise_prior": prior}


def matting_stage(frames_dir: Path, model: str, method: str, out: Path, allow_code: bool,
                  log: Log) -> dict[str, Any]:
    """RGBA frames of a generated clip (``out/000.png`` ...); ``auto`` keys the generator's known background
    when its folder declares one, else uses ``rembg``."""
    background = known_background(model)
    if method == "auto":
        method = "background" if background is not None else "rembg"
    log(f"matting: {method}" + (f" (known background {background})" if method == "background" else ""))
    return write_matted(frames_dir, method, background, out, allow_code=allow_code)


def write_matted(frames_dir: Path, method: str, background: Any, out: Path, *, allow_code: bool) -> dict[str, Any]:
    """Matte the frames of ``frames_dir`` (:func:`motion4d.pipelines.matting.matte`) into RGBA PNGs in ``out``."""
    from motion4d.pipelines.matting import matte
    from motion4d.utils.media import read_video, write_png_frames

    frames = read_video(frames_dir).frames[..., :3]
    rgba = matte(frames, method, background=background, allow_code=allow_code)
    write_png_frames(rgba, out)
    return {"frames": out, "method": method, "foreground_fraction": round(float((rgba[..., 3] > 0.5).mean()), 4)}


# --------------------------------------------------------------------------------------- 4D stages
def lift_stage(frames_dir: Path, stage_cfg, seed: int, device: str, out: Path, log: Log,
               static: Path | None = None, prompt: str | None = None,
               video_sds: dict[str, Any] | None = None) -> dict[str, Any]:
    """Video-to-4D of the RGBA clip into ``out`` (no exports yet: they are the next stage).

    ``stage_cfg`` is a :class:`~motion4d.pipelines.config.LiftStageConfig`; ``static`` a 3DGS PLY used as the
    canonical model (the static stage is skipped); ``prompt`` reaches text-conditioned guidance. ``video_sds``
    (the customized video model's guidance fields) adds video SDS to the dynamic stage on
    ``stage_cfg.video_sds_probability`` of its steps (:func:`motion4d.lift.hybrid.dynamic_mix`).
    """
    from motion4d.lift import lift
    from motion4d.lift.config import load_lift_config

    kind, options = novel_view_guidance(stage_cfg.novel_view, log)
    if kind != "none":
        options = {**options, **stage_cfg.novel_view_options}
    if video_sds is not None:
        from motion4d.lift.hybrid import dynamic_mix

        p, w = stage_cfg.video_sds_probability, stage_cfg.video_sds_weight
        log(f"lift: video SDS by the customized {video_sds.get('model')} on {p:.0%} of the dynamic steps "
            f"(weight {w:g}), {kind if kind != 'none' else 'no guidance'} on the others")
        kind, options = "hybrid", dynamic_mix(kind, options, "video", video_sds, p, w, seed)
    overrides = [f"guidance.kind={kind}", "output.export=false", f"seed={seed}", f"device={device}",
                 "input.segmentation=alpha", "input.num_frames=0"] + list(stage_cfg.overrides)
    data: dict[str, Any] = {"prompt": prompt} if prompt else {}
    if options:
        data["guidance"] = {"options": options}
    lcfg = load_lift_config(stage_cfg.preset, overrides=overrides, data=data or None)
    resume = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
    # the pipeline owns out/: a lift cut off before its first checkpoint starts again there
    lift(frames_dir, out, lcfg, static=static, resume=resume, overwrite=not resume, log=log)
    return {"result": out / "result.json", "guidance": kind}


def export_stage(lift_dir: Path, frames_dir: Path | None, log: Log) -> dict[str, Any]:
    """Exports of the lift result (PLY sequence, videos, OBJ sequence, animated GLB) inside ``lift_dir``;
    ``frames_dir`` (the lifted clip) adds the comparison video, None (text-only 4D) leaves it out."""
    from motion4d.lift.api import export_result
    from motion4d.lift.config import load_lift_config
    from motion4d.lift.inputs import load_input
    from motion4d.lift.result import load_result

    cfg = load_lift_config(None, file=lift_dir / "config.yaml")
    data = load_input(frames_dir, cfg.input, cfg.camera) if frames_dir is not None else None
    files = export_result(load_result(lift_dir), lift_dir, cfg, data, log=log)
    out: dict[str, Any] = {"canonical": lift_dir / "canonical.ply"}
    for key, value in files.items():
        out[key] = Path(value) if not isinstance(value, list) else [Path(v) for v in value]
    return out


def reference_renders(run: Path, frames_dir: Path | None = None) -> np.ndarray:
    """The 4D result of ``run`` (``run/lift``) rendered from the reference camera at every frame time,
    ``float32 [F, H, W, 3]`` on the lift's background (the camera and size of the matted clip)."""
    import torch

    from motion4d.lift.config import load_lift_config
    from motion4d.lift.inputs import load_input
    from motion4d.lift.result import load_result
    from motion4d.render import render

    lift_dir = run / "lift"
    lcfg = load_lift_config(None, file=lift_dir / "config.yaml")
    data = load_input(frames_dir or run / "clip" / "rgba", lcfg.input, lcfg.camera)
    result = load_result(lift_dir)
    bg = torch.tensor(lcfg.camera.background, dtype=torch.float32)
    with torch.no_grad():
        renders = torch.stack([render(result.gaussians_at(t), data.cameras[0], background=bg).rgb[0]
                               for t in result.times()]).clamp(0, 1)
    return renders.numpy()


def evaluate_stage(run: Path, frames_dir: Path, reference_videos: list[Path], log: Log, prompt: str | None = None,
                   clip_model: str = "auto") -> dict[str, Any]:
    """Scores of the result against the request; writes ``run/scores.json`` (``{"scores", "skipped", "details"}``).

    * ``ref_psnr``: the 4D result seen from the reference camera against the matted clip (dB);
    * ``motion_err_clip``: velocity error (px/frame, :func:`motion4d.metrics.motion_distance`) of that render
      against the generated clip;
    * the request scores of :func:`motion4d.evaluation.request.score_request`: CLIP text-image score and zero-shot
      colour / kind of turntable views against ``prompt``, multi-view consistency, ``motion_err_reference``
      against the reference motion video (when there is exactly one), and ``gt_*`` against the scene a grammar
      prompt describes (written to ``run/prompt_scene/``).
    """
    import torch

    from motion4d.evaluation.request import score_request
    from motion4d.lift.config import load_lift_config
    from motion4d.lift.inputs import load_input
    from motion4d.lift.result import load_result
    from motion4d.metrics import motion_distance, psnr
    from motion4d.utils.io import write_json

    lcfg = load_lift_config(None, file=run / "lift" / "config.yaml")
    target = load_input(frames_dir, lcfg.input, lcfg.camera).composite(
        torch.tensor(lcfg.camera.background, dtype=torch.float32))[0].numpy()        # [F, H, W, 3]
    renders = reference_renders(run, frames_dir)
    scores: dict[str, Any] = {"ref_psnr": float(psnr(torch.from_numpy(renders), torch.from_numpy(target)).mean()),
                              "motion_err_clip": motion_distance(renders, target)["velocity_err"]}
    reference = None
    if len(reference_videos) == 1:
        reference = read_clip(reference_videos[0], len(renders), renders.shape[1:3])
    request = score_request(load_result(run / "lift"), prompt, reference_clip=reference,
                            scene_dir=run / "prompt_scene", clip_model=clip_model, device=lcfg.device)
    scores.update(request["scores"])
    skipped = dict(request["skipped"])
    if reference is None:
        skipped["motion_err_reference"] = "needs exactly one reference motion video"
    write_json(run / "scores.json", {"scores": scores, "skipped": skipped, "details": request["details"]})
    log("scores: " + ", ".join(f"{k} {v:.3g}" for k, v in scores.items()))
    for key, reason in skipped.items():
        log(f"  no {key}: {reason}")
    scene = {"prompt_scene": run / "prompt_scene"} if "prompt_scene" in request["details"] else {}
    return {"scores": run / "scores.json", **scene, **scores}


def report_stage(run: Path, manifest, prompt: str | None, inputs: dict[str, Path], exported: dict,
                 log: Log) -> dict:
    """``run/report.html`` from the manifest and the stage outputs.

    ``inputs``: label -> media shown first (the reference motion, the input image, the generated clip); files
    outside the run folder are copied into ``run/inputs/`` so the page keeps working when the folder moves.
    """
    import shutil

    from motion4d.pipelines.report import Report, write_report

    media: dict[str, Path] = {}
    for label, path in inputs.items():
        path = Path(path)
        if not path.resolve().is_relative_to(run.resolve()):
            copy = run / "inputs" / f"{label.replace(' ', '_')}{path.suffix.lower()}"
            if not copy.exists():
                copy.parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(path, copy)
            path = copy
        media[label] = path.resolve()            # paths may be relative to the working directory, not to run
    for key, label in (("reference_video", "generated clip | 4D render"), ("turntable_video", "turntable")):
        if isinstance(exported.get(key), Path):
            media[label] = exported[key].resolve()
    scores = json.loads((run / "scores.json").read_text())
    path = write_report(run, Report(title=manifest.route, prompt=prompt, media=media,
                                    glb=exported["animation"].resolve() if isinstance(exported.get("animation"), Path)
                                    else None, scores={**scores["scores"], **{k: f"skipped: {v}" for k, v in
                                                                              scores["skipped"].items()}},
                                    timings=manifest.timings(), config=manifest.config))
    log(f"report: {path}")
    return {"report": path}


def _path(value: Any) -> Path | None:
    return None if value is None else Path(value)


def read_clip(path: Path, num_frames: int, size: tuple[int, int]) -> np.ndarray:
    """``float32 [num_frames, H, W, 3]`` of a video, frames picked evenly and resized to ``size``
    (:func:`motion4d.evaluation.request.read_clip`)."""
    from motion4d.evaluation.request import read_clip as _read

    return _read(path, num_frames, size)
