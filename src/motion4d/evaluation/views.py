"""Render a 4D result at calibrated cameras: the one code path shared by ``motion4d eval`` and ``motion4d render``.

* :func:`render_views` draws ``result.gaussians_at(t)`` at cameras ``[V]`` and times ``[F]`` on a
  background and returns ``rgb [V, F, H, W, 3]`` (composited, in [0, 1]) and ``alpha [V, F, H, W]``.
* :func:`run_cameras` is the camera list a lift run was trained with: the run folder's
  ``cameras.json`` (training and held-out views of a calibrated run), else the reference camera stored
  in ``result.json`` (``reference_camera``), else None.
* :func:`render_camera_file` writes every camera of a camera JSON at every frame time as RGBA PNGs,
  ``out_dir/<camera>/000.png ...`` (straight, not premultiplied, colour; alpha = coverage).

Because ``render`` and ``eval`` go through :func:`render_views`, a ``render`` image of a camera and
``eval``'s image of the same camera are the same pixels (the test suite checks it).
"""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np
import torch

from motion4d.camera import Cameras

__all__ = ["render_views", "run_cameras", "render_camera_file", "to_uint8"]


def render_views(result, cameras: Cameras, times: Sequence[float], background: Sequence[float],
                 device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(rgb [V, F, H, W, 3], alpha [V, F, H, W])`` of ``result`` (a ``Scene4D``) at ``cameras`` and the
    normalised ``times``, composited on ``background`` (RGB in [0, 1]); float32 on the CPU."""
    from motion4d.render import render

    dev = torch.device(device)
    cams = cameras.to(dev)
    bg = torch.tensor([float(v) for v in background], device=dev)
    rgbs, alphas = [], []
    with torch.no_grad():
        for t in times:
            g = result.gaussians_at(float(t)).detach().to(dev)
            out = render(g, cams, bg)
            rgbs.append(out.rgb.float().clamp(0, 1).cpu())
            alphas.append(out.alpha.float().clamp(0, 1).cpu()[..., 0])
    return torch.stack(rgbs, 1), torch.stack(alphas, 1)


def to_uint8(image: torch.Tensor) -> np.ndarray:
    """``[..., C]`` float image in [0, 1] -> ``uint8`` (round to nearest), the rounding PNG writers use."""
    return (image.clamp(0, 1).cpu().numpy() * 255).round().astype(np.uint8)


def run_cameras(result) -> Cameras | None:
    """The cameras a lift run was trained with (see the module docstring); names are kept."""
    meta = getattr(result, "metadata", None) or {}
    root = getattr(result, "path", None)
    name = meta.get("cameras")
    if root is not None and name:
        from motion4d.utils.run_dir import safe_child

        return Cameras.from_json(safe_child(Path(root), name, "result.json 'cameras'"))
    ref = meta.get("reference_camera")
    if ref:
        return Cameras.from_dict(ref, source="result.json 'reference_camera'")
    return None


def render_camera_file(result, cameras_json: str | Path, out_dir: str | Path, device: str | torch.device = "cpu") -> list[Path]:
    """Render every camera of ``cameras_json`` at every frame time ``t = f / (F - 1)`` of ``result`` to
    ``out_dir/<camera>/NNN.png`` (RGBA, straight colour; transparent where nothing is drawn).

    Returns the written paths, camera by camera, frame by frame.
    """
    from PIL import Image

    from motion4d.utils.io import atomic_path

    cams = Cameras.from_json(cameras_json)
    names = cams.names or [f"view_{i:03d}" for i in range(len(cams))]
    times = result.times()
    out = Path(out_dir)
    paths = []
    for v, name in enumerate(names):
        # one camera at a time keeps memory at one image batch of F frames
        rgb, alpha = render_views(result, cams[v], times, [0.0, 0.0, 0.0], device)
        straight = rgb[0] / alpha[0, ..., None].clamp_min(1e-6)  # un-premultiply the black composite
        rgba = torch.cat([straight.clamp(0, 1), alpha[0, ..., None]], -1)
        folder = out / name
        folder.mkdir(parents=True, exist_ok=True)
        for f in range(len(times)):
            path = folder / f"{f:03d}.png"
            with atomic_path(path) as tmp:
                Image.fromarray(to_uint8(rgba[f]), "RGBA").save(tmp, format="PNG")
            paths.append(path)
    cams.to_json(out / "cameras.json")  # the cameras next to their images (a world-style multi-view folder)
    return paths
