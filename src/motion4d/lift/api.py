"""``lift()``: video (or multi-view capture) -> 4D Gaussians, with exports. See :mod:`motion4d.lift.result`
for the output folder layout."""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any, Callable

import torch

from motion4d.config import config_to_dict, config_to_yaml
from motion4d.lift.config import LiftConfig, load_lift_config
from motion4d.lift.inputs import LiftInput, describe, load_input
from motion4d.lift.result import LiftResult, save_field
from motion4d.utils.io import atomic_path, write_json
from motion4d.utils.run_dir import check_out_dir, fingerprint, path_fingerprint, prepare_run_dir

__all__ = ["lift", "build_lift_guidance", "export_result"]


def build_lift_guidance(cfg: LiftConfig):
    """The guidance model named by ``cfg.guidance`` (None for ``kind: none``; a
    :class:`~motion4d.lift.hybrid.HybridLiftGuidance` for ``kind: hybrid``)."""
    if cfg.guidance.kind == "none":
        return None
    if cfg.guidance.kind == "hybrid":
        from motion4d.lift.hybrid import HybridLiftGuidance

        return HybridLiftGuidance(cfg.guidance.options)
    from motion4d.config import load_config
    from motion4d.guidance import GuidanceConfig, build_guidance

    gcfg = load_config(GuidanceConfig, data={"type": cfg.guidance.kind, **cfg.guidance.options})
    return build_guidance(gcfg)


def lift(input: str | Path | LiftInput, out: str | Path, cfg: LiftConfig | None = None, *,
         static: str | Path | None = None, views: str | Path | None = None, resume: bool = False,
         guidance: Any = None, overwrite: bool = False, log: Callable[[str], None] = print) -> LiftResult:
    """Lift a clip to a 4D Gaussian scene and write the result folder ``out``.

    Args:
        input: video file, frames folder, multi-view folder, shapes-world scene, or a loaded
            :class:`~motion4d.lift.inputs.LiftInput`.
        out: run folder; ``result.json`` is written last (its presence marks a finished run).
        cfg: resolved config (default: the ``default`` preset).
        static: a 3DGS PLY (e.g. from LGM or DreamGaussian) used as the canonical model; skips the
            static stage.
        views: extra calibrated views (multi-view folder or shapes-world scene).
        resume: continue from the newest checkpoint in ``out/checkpoints``.
        guidance: a guidance object; default built from ``cfg.guidance`` (None = reference views only).
        overwrite: allow a non-empty ``out`` that is not a run of this input (see
            :func:`motion4d.utils.run_dir.prepare_run_dir`); ``resume`` needs the same input.
    Returns:
        The :class:`~motion4d.lift.result.LiftResult` (also loadable later with ``load_result(out)``).
    """
    from motion4d.lift.distill import check_guidance
    from motion4d.lift.trainer import LiftTrainer

    cfg = cfg or load_lift_config("default")
    out = Path(out)
    check_out_dir(out)
    data = input if isinstance(input, LiftInput) else load_input(input, cfg.input, cfg.camera, views=views)
    log(f"input: {describe(data)}")
    static_g = None
    if static is not None:
        from motion4d.gaussians.ply import load_ply

        static_g = load_ply(static).gaussians().detach()
        log(f"static model: {static} ({len(static_g)} Gaussians); skipping the static stage")
    if guidance is None:
        guidance = build_lift_guidance(cfg)
        if guidance is not None:
            check_guidance(guidance, cfg)  # a missing prompt fails before any weights load
        if guidance is not None and hasattr(guidance, "load"):
            try:
                guidance.load()  # fail before training, not at the first distillation step
            except FileNotFoundError as e:
                raise FileNotFoundError(f"{e}\n(or train without score distillation: guidance.kind=none)") from None
    # the input is valid: only now may the run folder change (a failed start never removes a finished result)
    run = prepare_run_dir(out, "video-to-4d", _input_fingerprint(input, data, static, views), resume=resume,
                          overwrite=overwrite, stale=_STALE, legacy=("result.json", "config.yaml", "checkpoints"))
    if not resume:
        run.clear(_STALE)  # a fresh run never meets an older run's checkpoints (their higher steps would win)
    (out / "result.json").unlink(missing_ok=True)  # the folder is unfinished until the new result.json lands
    with atomic_path(out / "config.yaml") as tmp:
        tmp.write_text(config_to_yaml(cfg))
    trainer = LiftTrainer(data, cfg, out, static=static_g, guidance=guidance, log=log)
    trainer.train(resume=resume)
    result = LiftResult(trainer.canonical().to("cpu"), trainer.field.cpu() if trainer.field is not None else None,
                        data.num_frames, out)
    files = _write_core(result, out, trainer)
    if cfg.output.export:
        files.update(export_result(result, out, cfg, data, log=log))
    info = {
        "format": "motion4d.lift/1",
        "source": data.source,
        "num_frames": data.num_frames,
        "num_views": data.num_views,
        "calibrated": data.calibrated,
        "holdout": data.holdout,
        "num_gaussians": len(result.canonical),
        "guidance": cfg.guidance.kind,
        "static_model": str(static) if static is not None else None,
        "canonical": "canonical.ply",
        "deformation": "deformation.safetensors" if result.field is not None else None,
        "config": "config.yaml",
        "reference_camera": data.cameras[0].to_dict(),
        "background": list(cfg.camera.background),
        "seconds": trainer.state.seconds,
        "seconds_per_iter": {k: (v / n if n else None) for (k, v), n in
                             zip(trainer.state.seconds.items(), (trainer.static_iters, cfg.dynamic.iters))},
        "losses": trainer.state.history[-1] if trainer.state.history else {},
        "files": {k: [str(p.relative_to(out)) for p in v] if isinstance(v, list) else str(Path(v).relative_to(out))
                  for k, v in files.items()},
        "resolved_config": config_to_dict(cfg),
    }
    if data.calibrated:
        # a calibrated run draws what it was trained on: its cameras (training and held-out) travel with it
        cams = data.all_cameras if data.all_cameras is not None else data.cameras
        cams.to_json(out / "cameras.json")
        info["cameras"] = "cameras.json"
        info["training_views"] = list(data.cameras.names or [])
    write_json(out / "result.json", info)
    result.metadata = info
    return result


_STALE = ("checkpoints", "previews", "result.json")


def _input_fingerprint(input: Any, data: LiftInput, static: Any, views: Any) -> str:
    """Hash of what a run was made from (input content, --static and --views files), for ``--resume``."""
    import hashlib

    if isinstance(input, LiftInput):
        src = hashlib.sha256(data.rgb.numpy().tobytes() + data.alpha.numpy().tobytes()).hexdigest()[:16]
    else:
        src = path_fingerprint(input)
    return fingerprint(input=src, static=static and path_fingerprint(static), views=views and path_fingerprint(views))


def _write_core(result: LiftResult, out: Path, trainer) -> dict[str, Any]:
    from motion4d.gaussians.ply import save_ply

    save_ply(result.canonical, out / "canonical.ply")  # atomic
    files: dict[str, Any] = {"canonical": out / "canonical.ply", "config": out / "config.yaml"}
    if result.field is not None:
        save_field(result.field, out / "deformation.safetensors", result.num_frames)
        files["deformation"] = out / "deformation.safetensors"
    return files


def export_result(result: LiftResult, out: str | Path, cfg: LiftConfig, data: LiftInput | None = None,
                  log: Callable[[str], None] = print) -> dict[str, Any]:
    """PLY sequence, reference comparison and turntable videos, OBJ sequence and animated GLB."""
    from motion4d import export

    out = Path(out)
    ocfg = cfg.output
    bg = list(cfg.camera.background)
    files: dict[str, Any] = {}
    t0 = time.perf_counter()
    scene = result
    if ocfg.prune_floaters:
        scene, dropped = export.prune_floaters(result)
        if dropped:
            log(f"exports: {dropped} faint far-off Gaussian(s) dropped (output.prune_floaters=false keeps them)")
    files["ply"] = export.export_ply_sequence(scene, out / "ply")
    if data is not None:
        files["reference_video"] = export.render_comparison(scene, data.composite(torch.tensor(bg))[0],
                                                            data.cameras[0], out / "videos" / "reference.mp4",
                                                            fps=ocfg.fps, background=bg)
    radius = float(data.cameras.centers[0].norm()) if data is not None else cfg.camera.radius
    files["turntable_video"] = export.render_turntable(scene, out / "videos" / "turntable.mp4", t=None,
                                                       num_views=ocfg.turntable_views, elevation=15.0, radius=radius,
                                                       fovy=cfg.camera.fovy, size=ocfg.video_size, background=bg,
                                                       fps=ocfg.fps * 2)
    if ocfg.meshes:
        files["mesh"] = export.export_obj_sequence(scene, out / "mesh", resolution=ocfg.mesh_resolution)
        files["animation"] = export.export_animated_glb(scene, out / "animation.glb", resolution=ocfg.mesh_resolution,
                                                        fps=ocfg.fps)
    log(f"exports written in {time.perf_counter() - t0:.1f}s")
    return files

