"""``motion4d demo --route video-to-4d``: a shapes-world scene lifted to 4D from some views, scored on the others.

Steps: make a scene (:mod:`motion4d.world`), write its folder (reference video + ground-truth
views), lift it with the ``multiview`` preset while holding out every view at odd multiples of
45 degrees azimuth, export everything, and evaluate the result on the held-out views
(:func:`motion4d.evaluation.evaluate`) into ``metrics.json``.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from motion4d.utils.io import write_json

__all__ = ["run_demo", "DemoSummary", "holdout_views", "HOLDOUT_AZIMUTHS", "QUICK_OVERRIDES"]

#: Held-out azimuths (degrees): the diagonal views, never seen in training.
HOLDOUT_AZIMUTHS = (45, 135, 225, 315)
DEMO_SEED = 110  # a box travelling across the view (the benchmark's "box-translate")

#: The multiview preset trimmed to run in under 3 minutes on 2 CPU cores.
QUICK_OVERRIDES = ("static.iters=100", "static.num_points=2000", "dynamic.iters=80", "output.turntable_views=16",
                   "output.mesh_resolution=40", "output.preview_every=0", "output.checkpoint_every=40",
                   "input.num_frames=8")


#: What a demo folder holds (removed when ``--overwrite`` replaces a demo made with other settings).
DEMO_ENTRIES = ("scene", "lift", "metrics.json", "canonical.ply", "animation.glb", "turntable.mp4", "reference.mp4")


@dataclass
class DemoSummary:
    out: Path
    scene: Path
    result: Path
    metrics: dict
    seconds: float


def holdout_views(names: list[str]) -> list[str]:
    """Names of the views whose azimuth is one of :data:`HOLDOUT_AZIMUTHS`."""
    return [n for n in names if n != "ref" and any(n.endswith(f"_az{a:03d}") for a in HOLDOUT_AZIMUTHS)]


def run_demo(out: str | Path = "outputs/demo", quick: bool = False, seed: int = DEMO_SEED,
             overrides: tuple[str, ...] = (), overwrite: bool = False,
             log: Callable[[str], None] = print) -> DemoSummary:
    """Run the demo into ``out`` (``scene/`` = ground truth, ``lift/`` = the lift result folder,
    ``metrics.json``, plus copies of the headline files at the top level).

    ``out`` is a run folder (:func:`motion4d.utils.run_dir.prepare_run_dir`): a demo with the same seed,
    ``quick`` and overrides continues there; one with other settings is refused unless ``overwrite``,
    which first removes the earlier demo's scene, lift and copies (never reused for another seed)."""
    import shutil

    from motion4d.camera import Cameras
    from motion4d.lift.api import lift
    from motion4d.lift.config import load_lift_config
    from motion4d.evaluation.evaluate import evaluate
    from motion4d.utils.io import atomic_path
    from motion4d.world import make_scene, write_scene

    from motion4d.utils.run_dir import fingerprint, prepare_run_dir

    start = time.perf_counter()
    out = Path(out)
    prepare_run_dir(out, "demo", fingerprint(seed=int(seed), quick=bool(quick), overrides=list(overrides)),
                    overwrite=overwrite, stale=DEMO_ENTRIES, legacy=("metrics.json", "scene"))
    (out / "metrics.json").unlink(missing_ok=True)
    scene_dir = out / "scene"
    num_frames = 8 if quick else 16
    scene = make_scene(seed, objects="box", motions="translate", num_frames=num_frames, size=64)
    if not (scene_dir / "scene.json").is_file():
        log(f"writing the shapes-world scene to {scene_dir}")
        write_scene(scene, scene_dir, show_progress=False)
    names = Cameras.from_json(scene_dir / "cameras.json").names or []
    held = holdout_views(names)
    background = json.loads((scene_dir / "scene.json").read_text()).get("background", [1.0, 1.0, 1.0])
    cfg = load_lift_config("multiview", overrides=list(QUICK_OVERRIDES if quick else ()) + list(overrides)
                           + [f"input.holdout=[{','.join(held)}]", f"camera.background={list(background)}"])
    log(f"lifting {scene_dir} with the multiview preset; held-out views: {', '.join(held)}")
    result_dir = out / "lift"
    result = lift(scene_dir, result_dir, cfg, resume=(result_dir / "checkpoints").is_dir(), log=log)
    log("evaluating on the held-out views")
    metrics = evaluate(result, scene_dir, views=held, background=list(cfg.camera.background))
    static_metrics = evaluate(result.static(), scene_dir, views=held, background=list(cfg.camera.background))
    for name in ("canonical.ply", "animation.glb"):
        if (result_dir / name).is_file():
            with atomic_path(out / name) as tmp:
                shutil.copyfile(result_dir / name, tmp)
    for name in ("turntable.mp4", "reference.mp4"):
        if (result_dir / "videos" / name).is_file():
            with atomic_path(out / name) as tmp:
                shutil.copyfile(result_dir / "videos" / name, tmp)
    seconds = time.perf_counter() - start
    summary = {
        "psnr": metrics["psnr"], "ssim": metrics["ssim"], "mask_iou": metrics["mask_iou"],
        "heldout_views": held, "static_only": {k: static_metrics[k] for k in ("psnr", "ssim", "mask_iou")},
        "per_view": metrics.get("per_view"), "scene": str(scene_dir), "result": str(result_dir),
        "quick": quick, "seconds": round(seconds, 1), "caption": getattr(scene, "caption", None),
    }
    write_json(out / "metrics.json", summary)
    return DemoSummary(out, scene_dir, result_dir, summary, seconds)
