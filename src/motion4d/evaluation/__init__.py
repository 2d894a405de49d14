"""Scoring a 4D result against a scene, above :mod:`motion4d.lift` and :mod:`motion4d.world`.

* :func:`evaluate` renders any ``Scene4D`` at a world scene's ground-truth cameras and times and scores
  every view and frame with the pure functions of :mod:`motion4d.metrics`.
* :func:`render_views`, :func:`run_cameras`, :func:`render_camera_file`: the calibrated rendering that
  ``motion4d render`` and ``eval`` share (a run's own cameras, any camera JSON to RGBA PNGs).
* :func:`load_scene4d` opens a world scene folder or a video-to-4D result folder.
* :func:`score_request`: does a result match its request (CLIP text-image score and zero-shot colour / kind of
  turntable views, multi-view consistency, motion agreement with a reference clip, and novel views against the
  scene a grammar prompt describes); :mod:`~motion4d.evaluation.clip_score`, :mod:`~motion4d.evaluation.consistency`.
* :func:`run_demo` (``motion4d demo --route video-to-4d``): a shapes-world scene lifted from some views, scored on the others.
"""
from motion4d.evaluation.demo import HOLDOUT_AZIMUTHS, QUICK_OVERRIDES, DemoSummary, holdout_views, run_demo
from motion4d.evaluation.evaluate import PSNR_CAP, evaluate, load_scene4d
from motion4d.evaluation.request import motion_agreement, prompt_scene_scores, score_request
from motion4d.evaluation.views import render_camera_file, render_views, run_cameras

__all__ = ["evaluate", "load_scene4d", "PSNR_CAP", "run_demo", "DemoSummary", "holdout_views", "HOLDOUT_AZIMUTHS",
           "QUICK_OVERRIDES", "render_views", "run_cameras", "render_camera_file",
           "score_request", "prompt_scene_scores", "motion_agreement"]
