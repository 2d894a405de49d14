"""Turn a user's clip (or a multi-camera capture) into training frames, masks and cameras.

Accepted inputs:

* a video file (``.mp4 .gif .webm .mov .mkv .avi``) or a folder of frames (``.png .jpg .jpeg .webp``,
  sorted by name): one uncalibrated view. The object is segmented (RGBA alpha, plain-background
  keying, or a user hook), recentred and rescaled as DreamGaussian4D does, and seen by a front
  orbit camera (elevation ``camera.elevation``, azimuth 0, radius ``camera.radius``);
* a multi-view folder: ``cameras.json`` (camera JSON, :mod:`motion4d.camera`) plus one folder of
  frames per camera name (``<root>/<name>/000.png``); the camera named ``ref`` (else the first) is
  the reference view. Cameras are calibrated, so nothing is recentred;
* a shapes-world scene folder (``scene.json``): ``reference/`` is the reference view (camera ``ref``)
  and ``views/<name>/`` the other calibrated views.

Plain-background keying (``segmentation: plain``): the background colour is the median of a
2-pixel border of each frame; a pixel is foreground when its RGB distance to it exceeds
``bg_threshold``; the mask is cleaned with a binary opening (radius 1), hole filling, and only
components larger than 1/8 of the largest are kept. A hook ``module:function`` receives one
``uint8 [H, W, 3]`` frame and returns an alpha ``[H, W]`` (float in [0, 1] or uint8) or an RGBA frame.
"""
from __future__ import annotations

import importlib
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from motion4d.camera import Cameras
from motion4d.lift.config import CameraConfig, InputConfig
from motion4d.utils.media import IMAGE_EXTENSIONS, VIDEO_EXTENSIONS, read_video

__all__ = ["LiftInput", "load_input", "text_only_input", "read_frames", "segment_plain", "recenter",
           "resample_indices", "describe", "VIDEO_EXTENSIONS", "IMAGE_EXTENSIONS"]



@dataclass
class LiftInput:
    """Training data. V views (view 0 is the reference), F frames, H x W pixels.

    Attributes:
        rgb: ``[V, F, H, W, 3]`` straight (not premultiplied) colour in [0, 1].
        alpha: ``[V, F, H, W, 1]`` object mask in [0, 1].
        cameras: ``V`` cameras (``cameras[0]`` is the reference view).
        calibrated: cameras came from a cameras JSON (else a synthetic front camera).
        source: where the data came from; ``holdout``: calibrated views left out of training.
        all_cameras: every camera of the source's ``cameras.json`` (training, held-out and skipped
            views, with names) for a calibrated input, else None; the run folder records it.
    """

    rgb: torch.Tensor
    alpha: torch.Tensor
    cameras: Cameras
    calibrated: bool
    source: str
    holdout: list[str] = field(default_factory=list)
    all_cameras: Cameras | None = None

    @property
    def num_views(self) -> int:
        return self.rgb.shape[0]

    @property
    def num_frames(self) -> int:
        return self.rgb.shape[1]

    def composite(self, background: torch.Tensor) -> torch.Tensor:
        """``[V, F, H, W, 3]`` frames over ``background [3]``."""
        bg = torch.as_tensor(background, dtype=self.rgb.dtype)
        return self.rgb * self.alpha + bg * (1 - self.alpha)


# ------------------------------------------------------------------------------------------------
def read_frames(path: str | Path) -> np.ndarray:
    """Frames ``uint8 [F, H, W, C]`` (C = 4 when the source has alpha, else 3) of a video file, an image or a
    folder of images, through :func:`motion4d.utils.media.read_video`."""
    return read_video(path, as_uint8=True).frames


def resample_indices(num_available: int, num_frames: int) -> list[int]:
    """Indices of ``num_frames`` evenly spaced frames (nearest) out of ``num_available``; 0 keeps all."""
    if num_frames == 0 or num_frames == num_available:
        return list(range(num_available))
    return [int(round(i)) for i in np.linspace(0, num_available - 1, num_frames)]


# -- segmentation ---------------------------------------------------------------------------------
def segment_plain(frame: np.ndarray, threshold: float = 0.15) -> np.ndarray:
    """Object mask ``float32 [H, W]`` in {0, 1} of an RGB ``uint8 [H, W, 3]`` frame on a plain background."""
    from scipy import ndimage

    rgb = frame[..., :3].astype(np.float32) / 255.0
    b = max(1, min(2, min(rgb.shape[:2]) // 8))
    border = np.concatenate([rgb[:b].reshape(-1, 3), rgb[-b:].reshape(-1, 3),
                             rgb[:, :b].reshape(-1, 3), rgb[:, -b:].reshape(-1, 3)])
    bg = np.median(border, axis=0)
    mask = np.linalg.norm(rgb - bg, axis=-1) > threshold
    mask = ndimage.binary_opening(mask, structure=np.ones((3, 3), bool))
    mask = ndimage.binary_fill_holes(mask)
    labels, n = ndimage.label(mask)
    if n > 1:
        sizes = ndimage.sum(mask, labels, index=np.arange(1, n + 1))
        keep = np.flatnonzero(sizes >= sizes.max() / 8) + 1
        mask = np.isin(labels, keep)
    return mask.astype(np.float32)


def _load_hook(spec: str) -> Callable[[np.ndarray], np.ndarray]:
    module_name, _, func_name = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as e:
        raise ValueError(f"input.segmentation={spec!r}: cannot import module {module_name!r}: {e}") from None
    func = getattr(module, func_name, None)
    if not callable(func):
        raise ValueError(f"input.segmentation={spec!r}: {module_name!r} has no callable {func_name!r}")
    return func


def _alpha_of(frames: np.ndarray, cfg: InputConfig, source: str) -> np.ndarray:
    """``float32 [F, H, W]`` masks for ``uint8 [F, H, W, C]`` frames following ``cfg.segmentation``."""
    mode = cfg.segmentation
    has_alpha = frames.shape[-1] == 4 and frames[..., 3].min() < 255
    if mode == "auto":
        mode = "alpha" if has_alpha else "plain"
    if mode == "alpha":
        if frames.shape[-1] != 4:
            raise ValueError(f"input.segmentation=alpha but {source!r} has no alpha channel; "
                             f"use 'plain', 'none' or a hook 'module:function'")
        return frames[..., 3].astype(np.float32) / 255.0
    if mode == "none":
        return np.ones(frames.shape[:3], np.float32)
    if mode == "plain":
        return np.stack([segment_plain(f[..., :3], cfg.bg_threshold) for f in frames])
    hook = _load_hook(mode)
    out = []
    for f in frames:
        a = np.asarray(hook(f[..., :3].copy()))
        if a.ndim == 3 and a.shape[-1] == 4:
            a = a[..., 3]
        if a.shape != f.shape[:2]:
            raise ValueError(f"segmentation hook {mode!r} returned shape {a.shape}; expected {f.shape[:2]} "
                             f"(an alpha [H, W] or an RGBA [H, W, 4] frame)")
        a = a.astype(np.float32) / 255.0 if a.dtype == np.uint8 else a.astype(np.float32)
        out.append(np.clip(a, 0, 1))
    return np.stack(out)


# -- recentring -------------------------------------------------------------------------------------
def recenter(rgb: torch.Tensor, alpha: torch.Tensor, size: int, border_ratio: float,
             box: tuple[int, int, int, int] | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Centre and rescale a clip ``rgb [F,H,W,3]``, ``alpha [F,H,W,1]`` into ``size x size``.

    One transform for the whole clip (from the union of the frames' object boxes), so the object's
    motion inside the frame is preserved; the box's longer side becomes ``(1 - 2 border_ratio) size``.
    ``box = (y0, y1, x0, x1)`` overrides the object box (the whole frame: a plain square resize).
    """
    if box is None:
        fg = (alpha[..., 0] > 0.5).any(0)
        if not bool(fg.any()):
            raise ValueError("the object mask is empty in every frame; check the input or input.segmentation "
                             "(try a lower input.bg_threshold or a hook module:function)")
        ys, xs = torch.nonzero(fg, as_tuple=True)
        box = (ys.min().item(), ys.max().item() + 1, xs.min().item(), xs.max().item() + 1)
    y0, y1, x0, x1 = box
    side = max(y1 - y0, x1 - x0) / (1 - 2 * border_ratio)
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    # sample the square window [cx - side/2, cx + side/2]^2 with an affine grid (pixel centres)
    H, W = alpha.shape[1:3]
    lin = (torch.arange(size, dtype=torch.float32) + 0.5) / size - 0.5
    gx = (cx + lin * side) / W * 2 - 1
    gy = (cy + lin * side) / H * 2 - 1
    grid = torch.stack(torch.meshgrid(gy, gx, indexing="ij")[::-1], -1)[None].expand(rgb.shape[0], -1, -1, -1)
    premul = torch.cat([rgb * alpha, alpha], -1).permute(0, 3, 1, 2)
    if side > size:  # shrink: low-pass first to avoid aliasing
        scale = size / side
        small = (max(1, round(H * scale)), max(1, round(W * scale)))
        premul = torch.nn.functional.interpolate(premul, size=small, mode="area")
    out = torch.nn.functional.grid_sample(premul, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    out = out.permute(0, 2, 3, 1)
    a = out[..., 3:].clamp(0, 1)
    c = torch.where(a > 1e-4, out[..., :3] / a.clamp_min(1e-4), torch.zeros_like(out[..., :3])).clamp(0, 1)
    return c, a


# -- top level ------------------------------------------------------------------------------------
def _frames_to_tensors(frames: np.ndarray, cfg: InputConfig, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    alpha = torch.from_numpy(_alpha_of(frames, cfg, source))[..., None]
    rgb = torch.from_numpy(frames[..., :3].astype(np.float32) / 255.0)
    return rgb, alpha


def _check_frame_count(frames: np.ndarray, source: str) -> None:
    if frames.shape[0] < 2:
        raise ValueError(f"{source!r} has {frames.shape[0]} frame; video-to-4D needs a clip of at least 2 frames "
                         f"(for a single image, make a clip first, e.g. with motion4d generate-video)")


def _multiview_layout(root: Path) -> tuple[Path, Callable[[str], Path]] | None:
    """(cameras.json, name -> frames folder) for a world scene or a multi-view folder, else None."""
    from motion4d.utils.run_dir import safe_child

    # camera names come from cameras.json: Cameras.from_json allows only plain names, and safe_child
    # checks again that the folder stays inside the capture (no "../x", no absolute paths, no symlink escape)
    if (root / "scene.json").is_file() and (root / "cameras.json").is_file():
        return root / "cameras.json", lambda n: root / "reference" if n == "ref" and not (root / "views" / n).is_dir() \
            else safe_child(root / "views", n, "camera name")
    if (root / "cameras.json").is_file():
        return root / "cameras.json", lambda n: safe_child(root, n, "camera name")
    return None


def _load_cameras(path: Path) -> Cameras:
    try:
        return Cameras.from_json(path)
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"wrong cameras JSON: {e}") from None


def load_input(path: str | Path, cfg: InputConfig | None = None, camera: CameraConfig | None = None,
               views: str | Path | None = None) -> LiftInput:
    """Load a clip (and optional calibrated views) for :func:`motion4d.lift.lift`.

    Args:
        path: video file, frames folder, multi-view folder or shapes-world scene folder.
        cfg: :class:`InputConfig` (frame count, size, segmentation, recentring, view selection).
        camera: :class:`CameraConfig` (reference camera of an uncalibrated clip).
        views: extra calibrated views (a multi-view folder or a world scene); then ``path``'s frames
            are the camera named ``ref`` of that folder's ``cameras.json``.
    """
    cfg = cfg or InputConfig()
    camera = camera or CameraConfig()
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"input {str(path)!r} does not exist")
    layout = _multiview_layout(path) if path.is_dir() else None
    views_layout = None
    if views is not None:
        views = Path(views)
        if not views.is_dir():
            raise FileNotFoundError(f"--views {str(views)!r} is not a folder with cameras.json")
        views_layout = _multiview_layout(views)
        if views_layout is None:
            raise ValueError(f"--views {str(views)!r} has no cameras.json (expected a multi-view folder or a "
                             f"shapes-world scene)")
    if layout is None and views_layout is None:
        return _load_single_view(path, cfg, camera)
    cams_json, folder_of = views_layout if views_layout is not None else layout
    cams = _load_cameras(cams_json)
    names = list(cams.names or [])
    ref_name = "ref" if "ref" in names else names[0]
    holdout = [h for h in cfg.holdout]
    for name in holdout + list(cfg.views or []):
        if name not in names:
            raise ValueError(f"view {name!r} is not in {str(cams_json)!r}; cameras: {', '.join(names)}")
    if ref_name in holdout:
        raise ValueError(f"the reference view {ref_name!r} cannot be held out")
    same_as_ref = [n for i, n in enumerate(names) if n != ref_name and bool(
        torch.allclose(cams.viewmats[i], cams.viewmats[names.index(ref_name)], atol=1e-5)
        and torch.allclose(cams.Ks[i], cams.Ks[names.index(ref_name)], atol=1e-3))]
    # a camera identical to the reference (the world's el+00_az000) would only repeat the reference view
    chosen = [n for n in names if n != ref_name and n not in holdout and n not in same_as_ref
              and (cfg.views is None or n in cfg.views)]
    ref_frames_dir = path if layout is None else folder_of(ref_name)
    sources = [(ref_name, ref_frames_dir)] + [(n, folder_of(n)) for n in chosen]
    rgbs, alphas, counts = [], [], {}
    for name, src in sources:
        frames = read_frames(src)
        _check_frame_count(frames, str(src))
        counts[name] = frames.shape[0]
        rgb, alpha = _frames_to_tensors(frames, cfg, str(src))
        if (rgb.shape[1], rgb.shape[2]) != (cams.height, cams.width):
            raise ValueError(f"frames of view {name!r} are {rgb.shape[2]}x{rgb.shape[1]} but {str(cams_json)!r} "
                             f"says {cams.width}x{cams.height}")
        rgbs.append(rgb)
        alphas.append(alpha)
    if len(set(counts.values())) != 1:
        raise ValueError("views have different frame counts: " + ", ".join(f"{k}={v}" for k, v in counts.items()))
    _warn_if_stretched(next(iter(counts.values())), cfg, str(path))
    idx = resample_indices(next(iter(counts.values())), cfg.num_frames)
    index = [names.index(n) for n, _ in sources]
    return LiftInput(torch.stack(rgbs)[:, idx], torch.stack(alphas)[:, idx], cams[index], calibrated=True,
                     source=str(path), holdout=holdout, all_cameras=cams)


def _warn_if_stretched(available: int, cfg: InputConfig, source: str) -> None:
    if 0 < available < cfg.num_frames:
        warnings.warn(f"{source!r} has {available} frames; input.num_frames={cfg.num_frames} repeats some of them "
                      f"(set input.num_frames=0 to keep the clip as it is)", stacklevel=3)


def _load_single_view(path: Path, cfg: InputConfig, camera: CameraConfig) -> LiftInput:
    frames = read_frames(path)
    _check_frame_count(frames, str(path))
    _warn_if_stretched(frames.shape[0], cfg, str(path))
    idx = resample_indices(frames.shape[0], cfg.num_frames)
    rgb, alpha = _frames_to_tensors(frames[idx], cfg, str(path))
    if cfg.recenter:
        rgb, alpha = recenter(rgb, alpha, cfg.size, cfg.border_ratio)
    elif rgb.shape[1:3] != (cfg.size, cfg.size):
        rgb, alpha = recenter(rgb, alpha, cfg.size, 0.0, box=(0, rgb.shape[1], 0, rgb.shape[2]))
    cams = Cameras.orbit(camera.elevation, 0.0, camera.radius, camera.fovy, cfg.size)
    cams.names = ["ref"]
    return LiftInput(rgb[None], alpha[None], cams, calibrated=False, source=str(path))


def text_only_input(num_frames: int, size: int, camera: CameraConfig | None = None) -> LiftInput:
    """An input with nothing to fit, for text-only 4D (the hybrid route): ``num_frames`` times seen by the front
    camera of a single-view clip (``camera``'s elevation, radius and field of view, ``size`` pixels square), every
    frame empty (alpha 0). Train it with the photometric weights at 0 (``*.lambda_rgb`` / ``*.lambda_mask``): the
    guidance alone shapes the scene; the camera is the 4D result's reference camera (exports, scores)."""
    camera = camera or CameraConfig()
    if num_frames < 2:
        raise ValueError(f"a text-only 4D input needs >= 2 frames, got {num_frames}")
    cams = Cameras.orbit(camera.elevation, 0.0, camera.radius, camera.fovy, size)
    return LiftInput(torch.zeros(1, num_frames, size, size, 3), torch.zeros(1, num_frames, size, size, 1), cams,
                     calibrated=False, source=f"text only ({num_frames} frames)")


def describe(data: LiftInput) -> str:
    """One line describing the loaded input."""
    kind = "calibrated" if data.calibrated else "single-view (recentred)"
    return (f"{data.source}: {data.num_views} view(s) {kind}, {data.num_frames} frames, "
            f"{data.cameras.width}x{data.cameras.height}" + (f", held out: {', '.join(data.holdout)}"
                                                             if data.holdout else ""))

