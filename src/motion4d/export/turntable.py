"""Videos rendered from a 4D scene: a turntable, and reference frames beside renders."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from motion4d.camera import Cameras, turntable
from motion4d.utils.media import check_video_path, to_uint8, write_video
from motion4d.scene4d import frame_times
from motion4d.utils.progress import progress

__all__ = ["render_turntable", "render_comparison", "render_frame"]


def _background_rgb(background) -> torch.Tensor:
    bg = torch.as_tensor(background, dtype=torch.float32)
    if bg.ndim == 0:
        bg = bg.expand(3)
    if bg.shape != (3,) or not torch.isfinite(bg).all():
        raise ValueError(f"background must be a float or an RGB triple in [0, 1], got {background!r}")
    return bg


def render_frame(scene, t: float, cameras: Cameras, background=1.0) -> np.ndarray:
    """Render ``scene`` at time ``t`` into every camera: ``float [C, H, W, 3]`` in [0, 1]."""
    from motion4d.render import render

    g = scene.gaussians_at(float(t))
    g = g.detach()
    bg = _background_rgb(background).to(g.means.device)
    out = render(g, cameras.to(g.means.device), bg)
    return out.rgb.clamp(0, 1).cpu().numpy()


def render_turntable(scene, path: str | os.PathLike, t: float | None = None, num_views: int = 48,
                     elevation: float = 15.0, radius: float = 2.5, fovy: float = 49.1, size: int = 256,
                     background=1.0, fps: float = 24.0) -> Path:
    """Render one orbit around the scene and write it as a video.

    Args:
        scene: any :class:`~motion4d.scene4d.Scene4D`.
        path: ``.mp4`` or ``.gif``.
        t: normalised time to freeze; ``None`` lets time advance with the turn (view ``i`` of
            ``n`` shows ``t = i / (n - 1)``, so the clip plays once during the orbit).
        num_views: frames in the video (views evenly spaced over 360 deg, starting at azimuth 0,
            the front camera on +Z).
        elevation: degrees above the horizon; radius: camera distance (world units);
            fovy: vertical field of view (degrees); size: square image side in pixels.
        background: float or RGB in [0, 1] (default white).
        fps: frames per second of the video.
    Returns:
        ``Path(path)``.
    """
    check_video_path(path)
    if isinstance(num_views, bool) or int(num_views) != num_views or num_views < 1:
        raise ValueError(f"num_views must be a positive integer, got {num_views!r}")
    if t is not None and not 0.0 <= float(t) <= 1.0:
        raise ValueError(f"t must be a normalised time in [0, 1] (or None), got {t!r}")
    cams = turntable(int(num_views), elevation=elevation, radius=radius, fovy=fovy, width=int(size))
    times = frame_times(int(num_views)) if t is None else [float(t)] * int(num_views)
    frames = []
    with torch.no_grad():
        if t is not None:  # one scene evaluation, all views in batches
            for start in progress(range(0, len(cams), 8), desc="turntable"):
                frames.extend(render_frame(scene, t, cams[start:start + 8], background))
        else:
            for i in progress(range(len(cams)), desc="turntable"):
                frames.append(render_frame(scene, times[i], cams[i], background)[0])
    return write_video(np.stack(frames), path, fps=fps)


def render_comparison(scene, reference_frames, cameras: Cameras, path: str | os.PathLike, fps: float = 12.0,
                      background=1.0) -> Path:
    """Write a video with each reference frame (left) beside the scene's render (right).

    Args:
        scene: any :class:`~motion4d.scene4d.Scene4D`.
        reference_frames: ``[F, H, W, 3]`` (uint8 or float in [0, 1]), or ``[F, H, W, 4]`` RGBA,
            composited over ``background``. Frame ``f`` is compared with the render at
            ``t = f / (F - 1)``.
        cameras: one camera (used for every frame) or ``F`` cameras (one per frame). Renders are
            made at the reference frames' size (intrinsics rescaled if the cameras differ).
        path: ``.mp4`` or ``.gif``; fps: frames per second.
        background: float or RGB in [0, 1] behind the renders (and under RGBA references).
    Returns:
        ``Path(path)``; the video is ``2 W`` pixels wide.
    """
    check_video_path(path)
    ref = _reference_rgb(reference_frames, background)
    n, h, w = ref.shape[:3]
    if not isinstance(cameras, Cameras):
        raise ValueError(f"cameras must be motion4d.camera.Cameras, got {type(cameras).__name__}")
    if len(cameras) not in (1, n):
        raise ValueError(f"cameras must hold 1 camera or one per reference frame ({n}), got {len(cameras)}")
    if (cameras.width, cameras.height) != (w, h):
        cameras = cameras.resized(w, h)
    frames = []
    with torch.no_grad():
        for f, t in enumerate(progress(frame_times(n), desc="comparison")):
            cam = cameras[0] if len(cameras) == 1 else cameras[f]
            rendered = render_frame(scene, t, cam, background)[0]
            frames.append(np.concatenate([ref[f], to_uint8(rendered[None])[0]], axis=1))
    return write_video(np.stack(frames), path, fps=fps)


def _reference_rgb(frames, background) -> np.ndarray:
    arr = frames.detach().cpu().numpy() if hasattr(frames, "detach") else np.asarray(frames)
    if arr.ndim != 4 or arr.shape[-1] not in (3, 4) or arr.shape[0] == 0:
        raise ValueError(f"reference_frames must be [F, H, W, 3] or [F, H, W, 4] with F >= 1, "
                         f"got shape {tuple(arr.shape)}")
    arr = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if arr.shape[-1] == 4:
        bg = _background_rgb(background).numpy()
        arr = arr[..., :3] * arr[..., 3:] + bg * (1.0 - arr[..., 3:])
    return to_uint8(arr)
