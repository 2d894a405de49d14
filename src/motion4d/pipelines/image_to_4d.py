"""``ImageTo4DPipeline``: one image -> driving video (Stable Video Diffusion) -> 4D Gaussians (DreamGaussian4D).

Stages (recorded in ``RUN/manifest.json``, resumable)::

    preprocess  the object's alpha, recentred with an empty border, composited on white -> RUN/input/
    drive       the driving clip from the image (SVD)                                  -> RUN/clip/
    matting     alpha of every frame from the known background                         -> RUN/clip/rgba/
    lift        static (Zero123 SDS from frame 0, or ``static`` PLY) + dynamic stage   -> RUN/lift/
    export      PLY sequence, videos, OBJ sequence, animated GLB (in RUN/lift/)
    evaluate    RUN/scores.json
    report      RUN/report.html
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any, Callable

import numpy as np

from motion4d.config import config_to_dict, config_to_yaml
from motion4d.pipelines.config import ImageTo4DConfig
from motion4d.pipelines.manifest import RunManifest
from motion4d.pipelines.text_to_4d import IMAGE_SUFFIXES, TextTo4DResult
from motion4d.utils.io import atomic_path

__all__ = ["ImageTo4DPipeline", "preprocess_image"]

STAGES = ["preprocess", "drive", "matting", "lift", "export", "evaluate", "report"]


class ImageTo4DPipeline:
    """Image -> 4D. Inputs are checked when the pipeline is built; calling it again on the same folder with the
    same config continues the run.

    Example::

        cfg = load_image_to_4d_config("robot.png")
        result = ImageTo4DPipeline(cfg)("runs/robot")
    """

    route = "image-to-4d"

    def __init__(self, cfg: ImageTo4DConfig, *, allow_code: bool = False, log: Callable[[str], None] = print) -> None:
        self.cfg, self.log, self.allow_code = cfg, log, allow_code
        image = Path(cfg.image).expanduser()
        if not cfg.image:
            raise ValueError("no input image given")
        if not image.is_file():
            raise FileNotFoundError(f"input image {cfg.image!r} does not exist")
        if image.suffix.lower() not in IMAGE_SUFFIXES:
            raise ValueError(f"input image {cfg.image!r} is not one of {' '.join(IMAGE_SUFFIXES)}")
        if cfg.static is not None and not Path(cfg.static).expanduser().is_file():
            raise FileNotFoundError(f"static model {cfg.static!r} does not exist")
        for method in (cfg.matting, cfg.lift.matting):
            if ":" in method and not allow_code:
                raise ValueError(f"matting {method!r} is a code hook; hooks run only when given on the command line")
        self.image = image

    def __call__(self, out: str | Path, *, overwrite: bool = False) -> TextTo4DResult:
        from motion4d.pipelines import stages

        log, out = self.log, Path(out)
        model = _resolve_drive_model(self.cfg.drive.model, log)
        if self.cfg.drive.model == "auto" and model.startswith("tiny-"):       # the fallback runs at its own size
            size = _trained_size(model)
            self.cfg = replace(self.cfg, drive=replace(self.cfg.drive, width=size, height=size))
        cfg = self.cfg
        manifest = RunManifest.open(out, self.route, config_to_dict(cfg), STAGES, overwrite=overwrite)
        with atomic_path(out / "config.yaml") as tmp:
            tmp.write_text(config_to_yaml(cfg))
        pre = manifest.run("preprocess", lambda: self._preprocess(out / "input"), log=log)
        clip = manifest.run("drive", lambda: self._drive(model, pre["image"], out / "clip"), settings=model, log=log)
        rgba = manifest.run("matting", lambda: _matte_known(clip["frames"], cfg.background, out / "clip" / "rgba",
                                                            log), log=log)
        static = Path(cfg.static).expanduser() if cfg.static else None
        manifest.run("lift", lambda: stages.lift_stage(rgba["frames"], cfg.lift, cfg.seed, cfg.device, out / "lift",
                                                       log, static=static), log=log)
        exported = manifest.run("export", lambda: stages.export_stage(out / "lift", rgba["frames"], log), log=log)
        scores = manifest.run("evaluate", lambda: stages.evaluate_stage(out, rgba["frames"], [], log), log=log)
        shown = {"input image": pre["image"], "driving clip": clip["video"]}
        report = manifest.run("report", lambda: stages.report_stage(out, manifest, None, shown, exported, log),
                              log=log)
        outputs = {"report": report["report"], "clip": clip["video"],
                   **{k: v for k, v in exported.items() if isinstance(v, Path)}}
        log(f"image-to-4d done: {out}\n" + "\n".join(f"  {k:<16}{v}" for k, v in outputs.items()))
        return TextTo4DResult(out, manifest, {k: v for k, v in scores.items() if k != "scores"}, outputs)

    # ------------------------------------------------------------------------------------ stages
    def _preprocess(self, out: Path) -> dict[str, Any]:
        from motion4d.utils.media import write_png

        cfg = self.cfg
        rgba = preprocess_image(self.image, cfg.matting, (cfg.drive.height, cfg.drive.width), cfg.border_ratio,
                                allow_code=self.allow_code)
        rgb = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:]) * np.asarray(cfg.background, np.float32)
        return {"image": write_png(rgb, out / "input.png"), "rgba": write_png(rgba, out / "input_rgba.png")}

    def _drive(self, model: str, image: Path, out: Path) -> dict[str, Any]:
        from motion4d.utils.media import read_image
        from motion4d.video.image_to_video import image_to_video
        from motion4d.video.outputs import write_clip

        s = self.cfg.drive
        self.log(f"drive: {model}, {s.frames or 'default'} frames at {s.width}x{s.height}, {s.steps} steps, "
                 f"seed {self.cfg.seed}")
        frames = image_to_video(read_image(image)[..., :3], s, model=model, seed=self.cfg.seed,
                                device=self.cfg.device)
        paths = write_clip(frames, out, fps=float(s.fps), settings={"model": model, "seed": self.cfg.seed,
                                                                     **config_to_dict(self.cfg.drive)})
        return {"video": Path(paths["mp4"]), "frames": Path(paths["frames"])}


def preprocess_image(path: str | Path, matting: str, size: tuple[int, int], border_ratio: float = 0.2, *,
                     allow_code: bool = False) -> np.ndarray:
    """RGBA ``float32 [H, W, 4]`` of the object in an image, recentred and scaled (DreamGaussian4D's
    preprocessing: the object's bounding box fills ``1 - 2 * border_ratio`` of the longer side).

    ``matting``: ``auto`` (the file's alpha channel when it has a non-trivial one, else ``rembg``), ``alpha``,
    ``rembg`` or a hook ``module:function`` (``allow_code`` required).
    """
    from PIL import Image

    from motion4d.pipelines.matting import matte
    from motion4d.utils.media import read_image

    img = read_image(path).astype(np.float32) / 255.0
    has_alpha = img.shape[-1] == 4
    arr = img if has_alpha else np.concatenate([img, np.ones_like(img[..., :1])], -1)
    if matting == "auto":
        matting = "alpha" if has_alpha and (arr[..., 3] < 0.99).any() else "rembg"
    if matting == "alpha":
        if not has_alpha:
            raise ValueError(f"{str(path)!r} has no alpha channel; use matting=rembg or a matting hook")
        rgba = arr
    else:
        rgba = matte(arr[None, ..., :3], matting, allow_code=allow_code)[0]
    mask = rgba[..., 3] > 0.5
    if not mask.any():
        raise ValueError(f"no object found in {str(path)!r} (its alpha is empty)")
    ys, xs = np.nonzero(mask)
    crop = rgba[ys.min():ys.max() + 1, xs.min():xs.max() + 1]
    h, w = size
    target = (1 - 2 * border_ratio) * min(h, w)
    scale = target / max(crop.shape[:2])
    ch, cw = max(1, round(crop.shape[0] * scale)), max(1, round(crop.shape[1] * scale))
    premul = np.concatenate([crop[..., :3] * crop[..., 3:], crop[..., 3:]], -1)   # resize premultiplied colour
    resized = np.asarray(Image.fromarray((premul * 255).round().astype(np.uint8), "RGBA").resize(
        (cw, ch), Image.LANCZOS), dtype=np.float32) / 255.0
    out = np.zeros((h, w, 4), np.float32)
    y0, x0 = (h - ch) // 2, (w - cw) // 2
    out[y0:y0 + ch, x0:x0 + cw] = resized
    a = out[..., 3:]
    out[..., :3] = np.where(a > 1e-3, out[..., :3] / np.maximum(a, 1e-3), 0.0).clip(0, 1)
    return out


def _resolve_drive_model(model: str, log: Callable[[str], None]) -> str:
    """``auto`` -> SVD when present locally, else the embedded tiny-svd (said in one line; the pipeline then runs it
    at its training size, :func:`_trained_size`); other values are checked (clear error with the download command)."""
    from motion4d.hub import ModelNotFoundError, is_present, resolve_pretrained

    if model != "auto":
        resolve_pretrained(model, purpose="image-to-video")
        return model
    for key in ("svd", "tiny-svd"):
        if is_present(key):
            if key.startswith("tiny-"):
                size = _trained_size(key)
                log(f"image-to-video: Stable Video Diffusion is not present locally; using the embedded {key} "
                    f"at its {size}x{size} training size")
            return key
    raise ModelNotFoundError("no image-to-video model is available: download Stable Video Diffusion (`motion4d "
                             "models` prints the command) or pass drive.model=<folder in diffusers layout>")


def _trained_size(model: str) -> int:
    """Image side a diffusers video pipeline folder was trained at: ``unet.sample_size`` x 2^(VAE levels - 1)."""
    import json

    from motion4d.hub import resolve_pretrained

    root = resolve_pretrained(model)
    unet = json.loads((root / "unet" / "config.json").read_text())
    vae = json.loads((root / "vae" / "config.json").read_text())
    return int(unet["sample_size"]) * 2 ** (len(vae["block_out_channels"]) - 1)


def _matte_known(frames_dir: Path, background: list[float], out: Path, log: Callable[[str], None]) -> dict[str, Any]:
    from motion4d.pipelines.stages import write_matted

    log(f"matting: the driving clip's known background {background}")
    return write_matted(frames_dir, "background", background, out, allow_code=False)
