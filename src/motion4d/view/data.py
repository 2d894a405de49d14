"""What the 4D viewer shows, as numpy arrays: splats per frame, the canonical splats, cameras, reference frames.

Works on a lift result folder (``result.json``) or a text-to-4d / image-to-4d run folder (its ``lift/``). No
viser here, so the data can be tested on its own.

Conventions: world +Y up (:mod:`motion4d.camera`); camera poses are OpenCV camera-to-world ``[4, 4]``, which is
also viser's frustum convention. Splat arrays follow ``viser.SceneApi.add_gaussian_splats``: ``centers
[N, 3]``, ``covariances [N, 3, 3]`` (world units squared), ``rgbs [N, 3]`` and ``opacities [N, 1]`` in [0, 1].
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

__all__ = ["Splats", "ViewCamera", "ViewData", "load_view_data", "splats_of"]


@dataclass
class Splats:
    """One frame's Gaussians in viser's layout (float32 arrays)."""

    centers: np.ndarray
    covariances: np.ndarray
    rgbs: np.ndarray
    opacities: np.ndarray

    def __len__(self) -> int:
        return len(self.centers)


@dataclass
class ViewCamera:
    """A camera to draw as a frustum: OpenCV ``c2w [4, 4]``, vertical fov in radians, aspect w/h."""

    name: str
    c2w: np.ndarray
    fov: float
    aspect: float


@dataclass
class ViewData:
    """Everything the viewer draws. ``frames[i]`` is the scene at ``times[i]``; ``reference[i]`` (uint8
    ``[H, W, 3]``) the input frame at that time, or an empty list when the input is not on disk."""

    times: list[float]
    frames: list[Splats]
    canonical: Splats
    reference_camera: ViewCamera
    training_cameras: list[ViewCamera]
    reference: list[np.ndarray] = field(default_factory=list)
    fps: float = 8.0
    source: str = ""


def splats_of(g, keep: np.ndarray | None = None) -> Splats:
    """:class:`Splats` of a :class:`~motion4d.gaussians.Gaussians` (optionally only rows ``keep``)."""
    from motion4d.gaussians import covariance_3d

    if keep is not None:
        g = g.select(torch.as_tensor(keep))
    cov = covariance_3d(g.quats, g.scales)
    return Splats(g.means.float().numpy().astype(np.float32), cov.float().numpy().astype(np.float32),
                  g.rgb.clamp(0, 1).float().numpy().astype(np.float32),
                  g.opacities.clamp(0, 1).float().numpy().astype(np.float32)[:, None])


def _lift_dir(path: Path) -> Path:
    if (path / "result.json").is_file():
        return path
    if (path / "manifest.json").is_file():
        if (path / "lift" / "result.json").is_file():
            return path / "lift"
        raise FileNotFoundError(f"{str(path)!r} is a pipeline run whose lift stage has not finished (no "
                                f"lift/result.json); re-run its command to continue it")
    raise FileNotFoundError(f"{str(path)!r} is not a 4D result: expected a lift result folder (result.json) or a "
                            f"text-to-4d / image-to-4d run folder (manifest.json)")


def _camera(entry: dict, width: int, height: int, name: str) -> ViewCamera:
    c2w = np.asarray(entry["c2w"], np.float64)
    return ViewCamera(name, c2w, float(2 * np.arctan(0.5 * height / float(entry["fy"]))), width / height)


def _training_cameras(info: dict, ref: ViewCamera) -> list[ViewCamera]:
    """Calibrated views from the input's ``cameras.json``; else, with guidance, the ring of novel views."""
    from motion4d.camera import Cameras

    src = Path(str(info.get("source", "")))
    if src.is_dir() and (src / "cameras.json").is_file():
        try:
            cams = Cameras.from_json(src / "cameras.json")
            d = cams.to_dict()
            return [_camera(c, d["width"], d["height"], c["name"]) for c in d["cameras"]]
        except (OSError, ValueError):
            pass
    if info.get("guidance", "none") == "none":
        return []
    cam = (info.get("resolved_config") or {}).get("camera", {})
    radius, fovy = float(cam.get("radius", 2.5)), float(cam.get("fovy", 49.1))
    out = []
    for el in (float(cam.get("min_elevation", -30.0)), float(cam.get("max_elevation", 30.0))):
        cams = Cameras.orbit([el] * 8, [45.0 * k for k in range(8)], radius, fovy, 64)
        d = cams.to_dict()
        out += [_camera(c, 64, 64, f"novel_el{el:+.0f}_az{45 * k:03d}") for k, c in enumerate(d["cameras"])]
    return out


def _reference_frames(info: dict, num_frames: int, background: list[float]) -> list[np.ndarray]:
    from motion4d.utils.media import read_video

    src = Path(str(info.get("source", "")))
    if src.is_dir() and (src / "cameras.json").is_file():     # a multi-view folder: the reference camera's frames
        try:
            names = [c.get("name") for c in json.loads((src / "cameras.json").read_text())["cameras"]]
        except (OSError, ValueError, KeyError, TypeError, AttributeError):
            return []
        name = "ref" if "ref" in names else (names[0] if names else None)
        src = src / str(name) if isinstance(name, str) and name and "/" not in name and ".." not in name else src
    if not src.exists():
        return []
    try:
        frames = read_video(src).frames
    except (OSError, ValueError):
        return []
    if frames.shape[-1] == 4:
        a = frames[..., 3:]
        frames = frames[..., :3] * a + (1 - a) * np.asarray(background, np.float32)
    idx = np.round(np.linspace(0, len(frames) - 1, num_frames)).astype(int)
    return [(np.clip(frames[i], 0, 1) * 255).astype(np.uint8) for i in idx]


def load_view_data(path: str | Path, *, max_gaussians: int = 50000) -> ViewData:
    """Load a 4D result for the viewer; at most ``max_gaussians`` per frame (the most opaque ones)."""
    from motion4d.lift.result import load_result

    root = _lift_dir(Path(path))
    result = load_result(root)
    info = result.metadata or json.loads((root / "result.json").read_text())
    if max_gaussians < 1:
        raise ValueError(f"max_gaussians must be >= 1, got {max_gaussians}")
    opac = result.canonical.opacities.numpy()
    keep = None if len(opac) <= max_gaussians else np.sort(np.argsort(-opac)[:max_gaussians])
    times = result.times()
    frames = [splats_of(result.gaussians_at(t), keep) for t in times]
    ref_json = info.get("reference_camera") or {}
    if ref_json.get("cameras"):
        ref = _camera(ref_json["cameras"][0], ref_json["width"], ref_json["height"], "reference")
    else:
        from motion4d.camera import Cameras

        d = Cameras.orbit(0.0, 0.0, 2.5, 49.1, 64).to_dict()
        ref = _camera(d["cameras"][0], 64, 64, "reference")
    fps = float((info.get("resolved_config") or {}).get("output", {}).get("fps", 8.0) or 8.0)
    return ViewData(times, frames, splats_of(result.canonical, keep), ref, _training_cameras(info, ref),
                    _reference_frames(info, len(times), info.get("background", [1.0, 1.0, 1.0])), fps,
                    str(root))
