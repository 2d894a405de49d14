"""``HybridTo4DPipeline``: text (+ reference motion / appearance) -> 4D Gaussians by 4D-fy's hybrid score distillation,
in one run folder. No clip is generated: the 4D scene is optimised directly, each step supervised by one of a
3D-aware model (MVDream), an image model (SD 2.1 base, VSD) or the customized text-to-video model, as the schedule
draws (:mod:`motion4d.lift.hybrid`).

Stages (recorded in ``RUN/manifest.json``, resumable; see :mod:`motion4d.pipelines.manifest`)::

    motion      temporal LoRA of the video model: trained on the reference videos, or taken from a run / file
    appearance  spatial LoRA: trained on the reference images, or taken from a run / file
    lift        static stages (canonical Gaussians) then dynamic stages (HexPlane field)  -> RUN/lift/
    export      PLY sequence, turntable video, OBJ sequence, animated GLB (in RUN/lift/)
    evaluate    RUN/scores.json
    report      RUN/report.html

Run folder::

    manifest.json  config.yaml  motion/  appearance/  lift/  scores.json  report.html
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Callable

from motion4d.pipelines.common import IMAGE_SUFFIXES, VIDEO_SUFFIXES, check_prompt, classify_inputs, customize, \
    open_run, run_summary
from motion4d.pipelines.hybrid_config import HybridTo4DConfig
from motion4d.pipelines.text_to_4d import TextTo4DResult

__all__ = ["HybridTo4DPipeline", "hybrid_lift_stage", "hybrid_scores"]

STAGES = ["motion", "appearance", "lift", "export", "evaluate", "report"]
Log = Callable[[str], None]


class HybridTo4DPipeline:
    """Text -> 4D through the hybrid schedule (4D-fy), with the video role customized by a motion LoRA.

    Inputs are checked when the pipeline is built, models before anything is written; calling it again on the
    same folder with the same config continues the run (a lift cut off half-way resumes from its checkpoint).

    Example::

        cfg = load_hybrid_to_4d_config("a red ball jumping", preset="quick", motion=["jump.mp4"])
        result = HybridTo4DPipeline(cfg)("runs/ball-hybrid")
    """

    route = "hybrid"

    def __init__(self, cfg: HybridTo4DConfig, *, log: Log = print) -> None:
        self.cfg, self.log = cfg, log
        check_prompt(cfg.prompt)
        self.motion = classify_inputs(cfg.motion, "motion", VIDEO_SUFFIXES, "temporal")
        self.appearance = classify_inputs(cfg.appearance, "appearance", IMAGE_SUFFIXES, "spatial")

    def __call__(self, out: str | Path, *, overwrite: bool = False) -> TextTo4DResult:
        from motion4d.pipelines import stages
        from motion4d.pipelines.hybrid_models import resolve_hybrid_models

        cfg, log, out = self.cfg, self.log, Path(out)
        models = resolve_hybrid_models(cfg, log)                       # before anything is written
        manifest = open_run(out, self.route, cfg, STAGES, overwrite)
        motion, appearance = customize(manifest, cfg, models["video"], self.motion, self.appearance, out, log,
                                       video=cfg.video)
        manifest.run("lift", lambda: hybrid_lift_stage(cfg, models, motion.get("lora"), appearance.get("lora"),
                                                       out / "lift", log), settings=models, log=log)
        exported = manifest.run("export", lambda: stages.export_stage(out / "lift", None, log), log=log)
        videos = self.motion.get("videos", [])
        scores = manifest.run("evaluate", lambda: hybrid_scores(out, cfg.prompt, videos, log), log=log)
        shown = {"reference motion": videos[0]} if len(videos) == 1 else {}
        report = manifest.run("report", lambda: stages.report_stage(out, manifest, cfg.prompt, shown, exported, log),
                              log=log)
        outputs = {"report": report["report"], **{k: v for k, v in exported.items() if isinstance(v, Path)}}
        summary = {k: v for k, v in scores.items() if k not in ("scores", "prompt_scene")}
        log(run_summary(self.route, summary, outputs, manifest))
        return TextTo4DResult(out, manifest, summary, outputs)


def hybrid_lift_stage(cfg: HybridTo4DConfig, models: dict[str, str | None], motion: Any, appearance: Any, out: Path,
                      log: Log) -> dict[str, Any]:
    """The 4D optimisation: a ``guidance.kind: hybrid`` lift of a text-only input (no reference frames, photometric
    weights 0, no densification: it needs reference renders) whose iterations are the schedule's steps."""
    from motion4d.lift import lift
    from motion4d.lift.config import load_lift_config
    from motion4d.lift.inputs import text_only_input
    from motion4d.pipelines.hybrid_models import hybrid_guidance, lift_iters

    static_iters, dynamic_iters = lift_iters(cfg.stages)
    defaults = ["dynamic.frames_per_step=2", "dynamic.sds_views_per_frame=1"]      # lift.overrides may change them
    fixed = [f"static.iters={static_iters}", f"dynamic.iters={dynamic_iters}", "guidance.kind=hybrid",
             "static.lambda_rgb=0", "static.lambda_mask=0", "dynamic.lambda_rgb=0", "dynamic.lambda_mask=0",
             "static.ref_warmup=false", "dynamic.ref_warmup=false", "static.densify_until=0",
             "dynamic.views_per_frame=1", "input.num_frames=0", "output.export=false", f"seed={cfg.seed}",
             f"device={cfg.device}"]
    data = {"prompt": cfg.prompt, "guidance": {"options": hybrid_guidance(cfg, models, motion, appearance)}}
    lcfg = load_lift_config(cfg.lift.preset, overrides=defaults + list(cfg.lift.overrides) + fixed, data=data)
    roles = ", ".join(f"{r}: {m or str(models['video']) + ' (1 frame)'}" for r, m in models.items())
    log(f"lift: {static_iters} static + {dynamic_iters} dynamic steps, one guidance per step ({roles})")
    resume = (out / "checkpoints").is_dir() and any((out / "checkpoints").iterdir())
    lift(text_only_input(cfg.video.frames, lcfg.input.size, lcfg.camera), out, lcfg, resume=resume,
         overwrite=not resume, log=log)
    return {"result": out / "result.json"}


def hybrid_scores(run: Path, prompt: str, reference_videos: list[Path], log: Log) -> dict[str, Any]:
    """Scores of a text-only 4D result; writes ``run/scores.json`` (``{"scores", "skipped", "details"}``).

    The request scores of :func:`motion4d.evaluation.request.score_request` (CLIP text-image score and zero-shot
    colour / kind of turntable views, multi-view consistency, ``motion_err_reference`` against the reference motion
    video when there is exactly one, ``gt_*`` against the scene a grammar prompt describes, in
    ``run/prompt_scene/``), plus two of the front (reference) camera that say whether anything was made:

    * ``front_coverage``: mean fraction of the front view the object covers (alpha > 0.5); 0 = an empty scene;
    * ``motion_energy``: mean absolute difference between consecutive front frames (0 = no motion).
    """
    import numpy as np

    from motion4d.evaluation.request import read_clip, reference_camera, score_request
    from motion4d.evaluation.views import render_views
    from motion4d.lift.result import load_result
    from motion4d.metrics.motion import difference_energy
    from motion4d.utils.io import write_json

    result = load_result(run / "lift")
    background = (getattr(result, "metadata", None) or {}).get("background", [1.0, 1.0, 1.0])
    cam = reference_camera(result)
    rgb, alpha = render_views(result, cam, result.times(), background, "cpu")
    rgb, alpha = rgb[0].numpy(), alpha[0].numpy()
    reference = read_clip(reference_videos[0], len(rgb), rgb.shape[1:3]) if len(reference_videos) == 1 else None
    request = score_request(result, prompt, reference_clip=reference, scene_dir=run / "prompt_scene")
    scores = {"front_coverage": float((alpha > 0.5).mean()), "motion_energy": float(np.mean(difference_energy(rgb))),
              **request["scores"]}
    skipped = {"ref_psnr": "text-only route: there is no generated clip to compare with", **request["skipped"]}
    if reference is None:
        skipped["motion_err_reference"] = "needs exactly one reference motion video"
    write_json(run / "scores.json", {"scores": scores, "skipped": skipped, "details": request["details"]})
    log("scores: " + ", ".join(f"{k} {v:.3g}" for k, v in scores.items()))
    scene = {"prompt_scene": run / "prompt_scene"} if "prompt_scene" in request["details"] else {}
    return {"scores": run / "scores.json", **scene, **scores}
