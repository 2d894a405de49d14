"""``TextTo4DPipeline``: prompt (+ reference motion, + reference appearance) -> 4D Gaussians, in one run folder.

Stages (each resumable, recorded in ``RUN/manifest.json``; see :mod:`motion4d.pipelines.manifest`)::

    motion      temporal LoRA: trained on the reference videos (MotionDirector), or taken from a run / file
    appearance  spatial LoRA: trained on the reference images, or taken from a run / file
    generate    the customized clip (noise prior from the reference video when there is exactly one)
    matting     the object's alpha in every frame          -> RUN/clip/rgba/000.png ...
    lift        static + dynamic 4D Gaussians (video-to-4D) -> RUN/lift/; with ``lift.video_sds`` the dynamic
                stage is also supervised by the customized text-to-video model (video SDS)
    export      PLY sequence, reference and turntable videos, OBJ sequence, animated GLB (in RUN/lift/)
    evaluate    scores                                      -> RUN/scores.json
    report      RUN/report.html

Run folder::

    manifest.json  config.yaml  motion/  appearance/  clip/{video.mp4, frames/, rgba/}  lift/  scores.json
    prompt_scene/ (grammar prompts: the scene the prompt describes)  report.html
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from motion4d.pipelines.common import IMAGE_SUFFIXES, VIDEO_SUFFIXES, check_prompt, classify_inputs, customize, \
    open_run, run_summary
from motion4d.pipelines.config import TextTo4DConfig
from motion4d.pipelines.manifest import RunManifest

__all__ = ["TextTo4DPipeline", "TextTo4DResult", "VIDEO_SUFFIXES", "IMAGE_SUFFIXES", "video_sds_guidance"]

STAGES = ["motion", "appearance", "generate", "matting", "lift", "export", "evaluate", "report"]


@dataclass
class TextTo4DResult:
    """A finished run: its folder, the manifest, the scores and the main output paths."""

    run_dir: Path
    manifest: RunManifest
    scores: dict[str, Any]
    outputs: dict[str, Path]


class TextTo4DPipeline:
    """The paper's system: text (+ motion, + appearance) -> customized clip -> 4D.

    Every input is checked when the pipeline is built, before any model loads. Calling it again on the same
    folder with the same config continues the run (finished stages are kept; a stage cut off half-way
    continues from its own checkpoints).

    Example::

        cfg = load_text_to_4d_config("a red ball jumping", motion=["jump.mp4"])
        result = TextTo4DPipeline(cfg)("runs/ball")
        result.outputs["report"]        # runs/ball/report.html
    """

    route = "text-to-4d"

    def __init__(self, cfg: TextTo4DConfig, *, allow_code: bool = False, log: Callable[[str], None] = print) -> None:
        self.cfg, self.log, self.allow_code = cfg, log, allow_code
        if ":" in cfg.lift.matting and not allow_code:
            raise ValueError(f"lift.matting={cfg.lift.matting!r} is a code hook; hooks run only when given on the "
                             f"command line (or allow_code=True from Python), not from a config file")
        check_prompt(cfg.prompt)
        self.motion = classify_inputs(cfg.motion, "motion", VIDEO_SUFFIXES, "temporal")
        self.appearance = classify_inputs(cfg.appearance, "appearance", IMAGE_SUFFIXES, "spatial")
        if cfg.lift.video_sds and not self.motion:
            raise ValueError("lift.video_sds=true supervises the 4D motion with the customized text-to-video model, "
                             "which needs a motion: pass --motion (reference videos, a train-motion run folder or "
                             "a temporal.safetensors file), or drop lift.video_sds")

    # ---------------------------------------------------------------------------------------- run
    def __call__(self, out: str | Path, *, overwrite: bool = False) -> TextTo4DResult:
        from motion4d.pipelines import stages

        out = Path(out)
        cfg = self.cfg
        model = stages.resolve_video_model(cfg.clip.model, log=self.log)   # before anything is written
        manifest = open_run(out, self.route, cfg, STAGES, overwrite)
        log = self.log
        motion, appearance = customize(manifest, cfg, model, self.motion, self.appearance, out, log)
        prior_video = self.motion.get("videos", [None])[0] if len(self.motion.get("videos", [])) == 1 else None
        clip = manifest.run("generate", lambda: stages.generate_stage(cfg, model, motion.get("lora"),
                                                                      appearance.get("lora"), prior_video, out / "clip",
                                                                      log), settings=model, log=log)
        rgba = manifest.run("matting", lambda: stages.matting_stage(clip["frames"], model, cfg.lift.matting,
                                                                    out / "clip" / "rgba", self.allow_code, log), log=log)
        video_sds = video_sds_guidance(cfg, model, motion.get("lora"), appearance.get("lora")) \
            if cfg.lift.video_sds else None
        manifest.run("lift", lambda: stages.lift_stage(rgba["frames"], cfg.lift, cfg.seed, cfg.device, out / "lift",
                                                       log, prompt=cfg.prompt, video_sds=video_sds), log=log)
        exported = manifest.run("export", lambda: stages.export_stage(out / "lift", rgba["frames"], log), log=log)
        videos = self.motion.get("videos", [])
        scores = manifest.run("evaluate", lambda: stages.evaluate_stage(out, rgba["frames"], videos, log,
                                                                        prompt=cfg.prompt), log=log)
        shown = {"reference motion": videos[0]} if len(videos) == 1 else {}
        shown["generated clip"] = clip["video"]
        report = manifest.run("report", lambda: stages.report_stage(out, manifest, cfg.prompt, shown, exported, log),
                              log=log)
        outputs = {"report": report["report"], "clip": clip["video"], **{k: v for k, v in exported.items()
                                                                         if isinstance(v, Path)}}
        summary = (json.loads((out / "scores.json").read_text())["scores"] if (out / "scores.json").exists()
                   else {k: v for k, v in scores.items() if k != "scores"})
        log(run_summary(self.route, summary, outputs, manifest))
        return TextTo4DResult(out, manifest, summary, outputs)


def video_sds_guidance(cfg: TextTo4DConfig, model: str, motion: Any, appearance: Any) -> dict[str, Any]:
    """Guidance fields of the customized text-to-video model for the lift's video SDS: ``model`` with the motion
    LoRA (and the appearance LoRA, when there is one) at ``clip``'s scales, size and frame count, plus
    ``lift.video_sds_options``."""
    c = cfg.clip
    video = {"num_frames": c.frames, "lora_path": str(motion), "lora_scale": c.motion_scale}
    if appearance is not None:
        video.update(appearance_path=str(appearance), appearance_scale=c.appearance_scale)
    extra = dict(cfg.lift.video_sds_options)
    video.update(extra.pop("video", None) or {})
    return {"type": "video", "model": model, "height": c.height, "width": c.width, "seed": cfg.seed, **extra,
            "video": video}
