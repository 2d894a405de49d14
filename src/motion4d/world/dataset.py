"""Render a world scene to its dataset folder (layout in the README's world section).

::

    SCENE/
      scene.json      complete description (WorldScene.load rebuilds the scene from it)
      cameras.json    "ref" (elevation 0, azimuth 0) + "el{E:+03d}_az{A:03d}" views, camera JSON format
      reference/      000.png ...  RGBA, front camera "ref"
      reference.mp4   RGB preview on the scene background (upscaled to >= 256 px, nearest neighbour)
      views/<name>/   000.png ...  RGBA ground truth for every camera and frame
      gaussians/      000.ply ...  ground-truth Gaussians per frame (3DGS PLY layout)
      caption.txt

PNG colours are straight (not premultiplied) alpha: composite with ``rgb * a + background * (1 - a)``
to get the rendered image back (up to 8-bit rounding).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motion4d.camera import Cameras
from motion4d.utils.io import write_json
from motion4d.utils.media import write_mp4, write_png

__all__ = ["view_name", "scene_cameras", "render_rgba", "write_scene", "read_rgba", "composite", "SCENE_ENTRIES"]

#: The entries a scene folder owns; :func:`write_scene` replaces these and keeps anything else.
SCENE_ENTRIES = ("scene.json", "cameras.json", "caption.txt", "reference", "views", "gaussians", "reference.mp4")


def view_name(elevation: float, azimuth: float) -> str:
    """Camera name for an orbit view, e.g. ``el+00_az090`` or ``el+30_az045``."""
    return f"el{int(round(elevation)):+03d}_az{int(round(azimuth)) % 360:03d}"


def scene_cameras(scene, size: int | None = None, include_ref: bool = True) -> Cameras:
    """``ref`` then every (elevation, azimuth) view of ``scene.spec['camera']`` (elevation-major)."""
    cam = scene.spec["camera"]
    size = scene.size if size is None else int(size)
    items, names = [], []
    if include_ref:
        items.append(Cameras.orbit(0.0, 0.0, cam["radius"], cam["fovy"], size))
        names.append("ref")
    for el in cam["elevations"]:
        for az in cam["azimuths"]:
            items.append(Cameras.orbit(el, az, cam["radius"], cam["fovy"], size))
            names.append(view_name(el, az))
    if len(set(names)) != len(names):
        raise ValueError(f"camera names collide: {names}; use distinct integer-degree elevations/azimuths")
    cams = Cameras.cat(items)
    cams.names = names
    return cams


def render_rgba(gaussians, cameras: Cameras, background) -> np.ndarray:
    """Render to straight-alpha RGBA uint8 ``[C,H,W,4]``."""
    from motion4d.render import render

    bg = torch.as_tensor(background, dtype=torch.float32)
    with torch.no_grad():
        out = render(gaussians.to(cameras.device), cameras, bg.to(cameras.device))
    rgb, alpha = out.rgb.float().cpu(), out.alpha.float().cpu()
    premult = rgb - (1 - alpha) * bg
    straight = torch.where(alpha > 1e-4, premult / alpha.clamp_min(1e-4), bg.expand_as(rgb))
    rgba = torch.cat([straight.clamp(0, 1), alpha.clamp(0, 1)], dim=-1)
    return (rgba * 255 + 0.5).floor().to(torch.uint8).numpy()


def composite(rgba: np.ndarray | torch.Tensor, background) -> torch.Tensor:
    """Float RGB ``[..., H, W, 3]`` in [0, 1] of straight-alpha RGBA (uint8 or float) over ``background``."""
    x = torch.as_tensor(rgba)
    x = x.float() / 255.0 if x.dtype == torch.uint8 else x.float()
    a = x[..., 3:4]
    return x[..., :3] * a + torch.as_tensor(background, dtype=torch.float32) * (1 - a)


def read_rgba(path: str | Path) -> np.ndarray:
    """An RGBA PNG as uint8 ``[H,W,4]`` (RGB images get alpha 255)."""
    from PIL import Image

    with Image.open(path) as im:
        return np.array(im.convert("RGBA"))


def _save_mp4(frames: np.ndarray, path: Path, fps: float) -> None:
    """reference.mp4: nearest-neighbour upscaled to >= 256 px, bit-exact (same seed, same bytes)."""
    k = max(1, 256 // max(frames.shape[1:3]))
    write_mp4(frames.repeat(k, axis=1).repeat(k, axis=2), path, fps, quality=8, bitexact=True)


def write_scene(scene, out_dir: str | Path, *, views: bool = True, gaussians: bool = True, video: bool = True,
                device: str = "auto", show_progress: bool = True) -> Path:
    """Render ``scene`` (a :class:`~motion4d.world.WorldScene`) into ``out_dir`` atomically.

    Args:
        views: write the ground-truth novel views (``views/``); the reference video is always written.
        gaussians: write the per-frame ground-truth PLYs (``gaussians/``).
        video: write ``reference.mp4``.
        device: where to render (``"auto"``: CUDA when present).
    Returns:
        The scene folder. The scene's own entries (:data:`SCENE_ENTRIES`) are replaced only once the new
        ones are complete (``scene.json`` last); other files in the folder are never touched.
    """
    from motion4d.utils.run_dir import replace_entries
    from motion4d.utils.device import resolve_device
    from motion4d.utils.progress import progress
    from motion4d.gaussians.ply import save_ply

    dev = resolve_device(device)
    cams = scene_cameras(scene, include_ref=True)
    if not views:
        cams = cams[0]
        cams.names = ["ref"]
    names = cams.names
    cams = cams.to(dev)
    out_dir = Path(out_dir)
    with replace_entries(out_dir, SCENE_ENTRIES, last="scene.json") as tmp:
        write_json(tmp / "scene.json", scene.to_dict())
        cams.to("cpu").to_json(tmp / "cameras.json")
        (tmp / "caption.txt").write_text(scene.caption + "\n")
        for name in names:
            (tmp / ("reference" if name == "ref" else f"views/{name}")).mkdir(parents=True, exist_ok=True)
        if gaussians:
            (tmp / "gaussians").mkdir()
        ref_frames = []
        bar = progress(list(enumerate(scene.frame_times())), desc=f"scene {scene.seed}", unit="frame",
                       disable=None if show_progress else True)
        for f, t in bar:
            g = scene.gaussians_at(t)
            rgba = render_rgba(g, cams, scene.background)
            for c, name in enumerate(names):
                write_png(rgba[c], tmp / ("reference" if name == "ref" else f"views/{name}") / f"{f:03d}.png")
            ref_frames.append(rgba[0])
            if gaussians:
                save_ply(g, tmp / "gaussians" / f"{f:03d}.ply")
        if video:
            rgb = composite(np.stack(ref_frames), scene.background).numpy()
            _save_mp4((rgb * 255 + 0.5).astype(np.uint8), tmp / "reference.mp4", scene.fps)
    return out_dir
