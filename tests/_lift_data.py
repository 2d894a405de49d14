"""Small synthetic 4D scenes for the lift tests (independent of motion4d.world).

A cluster of coloured Gaussians translates to the right over the clip; it is rendered as RGBA
frames for a few orbit cameras and written as a multi-view folder (cameras.json + one folder of
PNGs per camera), the layout ``motion4d.lift.load_input`` reads.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motion4d.camera import Cameras
from motion4d.gaussians import Gaussians

SIZE = 32


def moving_blob(num_frames: int = 4, n: int = 40, shift: float = 0.3, seed: int = 0):
    """``(gaussians_at(t), num_frames)``: ``n`` Gaussians in a 0.3-radius ball moving by ``shift`` along +x."""
    g = torch.Generator().manual_seed(seed)
    means = (torch.rand(n, 3, generator=g) - 0.5) * 0.6
    rgb = torch.stack([0.2 + 0.6 * (means[:, 0] + 0.3) / 0.6, 0.3 + 0.4 * torch.rand(n, generator=g),
                       0.8 - 0.6 * (means[:, 1] + 0.3) / 0.6], -1).clamp(0, 1)
    base = Gaussians.from_rgb(means, rgb, torch.full((n, 3), 0.09), torch.full((n,), 0.9))

    def at(t: float) -> Gaussians:
        return base.replace(means=base.means + torch.tensor([shift * (t - 0.5), 0.0, 0.0]))

    return at, num_frames


def render_rgba(at, num_frames: int, cameras: Cameras) -> np.ndarray:
    """``uint8 [C, F, H, W, 4]`` renders on a transparent background."""
    from motion4d.render import render

    frames = []
    for f in range(num_frames):
        out = render(at(f / (num_frames - 1)), cameras, 0.0)
        a = out.alpha.clamp(1e-6, 1)
        rgba = torch.cat([(out.rgb / a).clamp(0, 1), out.alpha], -1)
        frames.append((rgba.numpy() * 255).round().astype(np.uint8))
    return np.stack(frames, 1)


def write_multiview(root: Path, num_frames: int = 4, size: int = SIZE, azimuths=(0, 90, 180, 270, 45),
                    seed: int = 0) -> tuple[Path, Cameras]:
    """Write ``root/cameras.json`` + ``root/<name>/000.png ...``; camera 0 is named ``ref``."""
    import imageio.v3 as iio

    at, F = moving_blob(num_frames, seed=seed)
    cams = Cameras.orbit(0.0, list(azimuths), 2.5, 49.1, size)
    cams.names = ["ref"] + [f"el+00_az{int(a):03d}" for a in azimuths[1:]]
    rgba = render_rgba(at, F, cams)
    root.mkdir(parents=True, exist_ok=True)
    cams.to_json(root / "cameras.json")
    for c, name in enumerate(cams.names):
        (root / name).mkdir(exist_ok=True)
        for f in range(F):
            iio.imwrite(root / name / f"{f:03d}.png", rgba[c, f])
    return root, cams


#: ``motion4d video-to-4d`` options for a lift with full exports in seconds (multiview preset, 3 frames)
TINY_LIFT = ["static.iters=12", "dynamic.iters=6", "static.num_points=150", "static.views_per_step=2",
             "dynamic.frames_per_step=2", "dynamic.views_per_frame=2", "output.checkpoint_every=6",
             "dynamic.deform.resolution=[6,6,6,3]", "dynamic.deform.channels=4", "dynamic.deform.width=16",
             "output.video_size=32", "output.turntable_views=4", "output.fps=4", "input.holdout=[el+00_az045]"]


def tiny_lift_run(root: Path, *extra: str) -> Path:
    """Write a 3-frame multi-view scene under ``root`` and lift it with ``motion4d video-to-4d`` into
    ``root/run`` (:data:`TINY_LIFT` plus ``extra`` options); returns the run folder."""
    from motion4d.cli import main

    scene, _ = write_multiview(root / "scene", num_frames=3)
    out = root / "run"
    assert main(["video-to-4d", str(scene), "--out", str(out), "--preset", "multiview", *TINY_LIFT, *extra]) == 0
    return out
