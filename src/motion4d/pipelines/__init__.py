"""Pipelines: the routes of motion4d as objects with one ``__call__``, each writing one run folder.

``TextTo4DPipeline`` (the paper: text + reference motion/appearance -> customized clip -> 4D),
``HybridTo4DPipeline`` (4D-fy: text (+ motion LoRA) -> 4D by hybrid score distillation, no clip) and
``ImageTo4DPipeline`` (DreamGaussian4D: image -> Stable Video Diffusion clip -> 4D). Each route
chains stage functions (:mod:`motion4d.pipelines.stages`) through a :class:`RunManifest`, so a run is
resumable stage by stage, and ends with ``report.html``.
"""
from motion4d.pipelines.config import (ClipConfig, CustomizeConfig, DriveConfig, ImageTo4DConfig, LiftStageConfig,
                                       TextTo4DConfig, load_image_to_4d_config, load_text_to_4d_config)
from motion4d.pipelines.hybrid import HybridTo4DPipeline
from motion4d.pipelines.hybrid_config import HybridTo4DConfig, load_hybrid_to_4d_config
from motion4d.pipelines.image_to_4d import ImageTo4DPipeline
from motion4d.pipelines.manifest import RunFolderError, RunManifest, StageRecord
from motion4d.pipelines.report import Report, write_report
from motion4d.pipelines.text_to_4d import TextTo4DPipeline, TextTo4DResult

__all__ = ["ImageTo4DPipeline", "ImageTo4DConfig", "DriveConfig", "load_image_to_4d_config", "TextTo4DPipeline",
           "TextTo4DResult", "TextTo4DConfig", "ClipConfig", "CustomizeConfig", "LiftStageConfig",
           "load_text_to_4d_config", "HybridTo4DPipeline", "HybridTo4DConfig", "load_hybrid_to_4d_config",
           "RunManifest", "RunFolderError", "StageRecord", "Report", "write_report"]
