"""Training data for the tiny family, rendered from the shapes world, with disjoint seed ranges per split.

Every item is a deterministic function of ``(split, index, params)``: scene seed ``SPLITS[split][0] + index``
(a scene made by :func:`motion4d.world.make_scene`), and the frames/cameras drawn from a generator seeded with
that scene seed. Rendered sets are cached as ``.npz`` files (uint8 straight-alpha RGBA, so any plain
background can be composited later) named by a hash of their parameters; a cache is written atomically.

Splits: ``train`` seeds [0, 1e6), ``dev`` [1e6, 1.1e6), ``test`` [2e6, 2.1e6). Tune on dev, report on test.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["SPLITS", "WHITE", "StillSpec", "ClipSpec", "PairSpec", "split_seed", "render_stills", "render_clips",
           "render_pairs", "to_rgb", "object_facts"]

SPLITS: dict[str, tuple[int, int]] = {"train": (0, 1_000_000), "dev": (1_000_000, 1_100_000),
                                      "test": (2_000_000, 2_100_000)}
WHITE = (1.0, 1.0, 1.0)


def split_seed(split: str, index: int) -> int:
    """Scene seed of item ``index`` of ``split``; raises on an unknown split or an index outside its range."""
    if split not in SPLITS:
        raise ValueError(f"split {split!r} is not one of {', '.join(SPLITS)}")
    lo, hi = SPLITS[split]
    if not 0 <= index < hi - lo:
        raise ValueError(f"index {index} is outside split {split!r} (0..{hi - lo - 1})")
    return lo + int(index)


@dataclass(frozen=True)
class StillSpec:
    """Still images: ``per_scene`` images per scene at random times; ``views="ref"`` uses the front camera only,
    ``"orbit"`` the front camera for the first image and random ground-truth orbit cameras for the others.
    ``num_objects=None`` lets the seed draw 1-3 objects; ``motions`` forces a motion kind (or None)."""

    size: int = 64
    per_scene: int = 2
    views: str = "orbit"
    num_objects: int | None = None
    motions: str | None = None
    num_points: int = 1500


@dataclass(frozen=True)
class ClipSpec:
    """Front-view clips of ``frames`` frames spanning the whole motion (times ``f / (frames - 1)``)."""

    size: int = 64
    frames: int = 8
    num_objects: int | None = 1
    motions: str | None = None
    num_points: int = 1500


@dataclass(frozen=True)
class PairSpec:
    """View pairs for novel-view models: per scene, the reference front view (camera ``ref`` of
    :func:`motion4d.world.dataset.scene_cameras`: elevation 0, azimuth 0) and ``targets`` views of the same scene at
    the same random time, from orbit cameras at the scene's radius and field of view.

    ``views=None``: each target draws its elevation from ``elevations`` and its azimuth from the multiples of
    ``azimuth_step`` in [0, 360) (15 degrees: 90, 180 and 270 among them), uniformly. ``views=((el, az), ...)``
    fixes the targets (evaluation); ``targets`` is then ``len(views)``. Degrees, motion4d's orbit convention."""

    size: int = 64
    targets: int = 4
    elevations: tuple = (-15.0, 0.0, 15.0, 30.0)
    azimuth_step: float = 15.0
    views: tuple | None = None
    num_objects: int | None = 1
    motions: str | None = None
    num_points: int = 1500

    def __post_init__(self) -> None:
        if self.views is not None:
            object.__setattr__(self, "views", tuple((float(e), float(a)) for e, a in self.views))
            object.__setattr__(self, "targets", len(self.views))
        if self.targets < 1 or (self.views is None and (not self.elevations or self.azimuth_step <= 0
                                                           or 360 % self.azimuth_step)):
            raise ValueError(f"PairSpec needs targets >= 1, elevations and an azimuth_step dividing 360; got "
                             f"targets={self.targets}, elevations={self.elevations}, azimuth_step={self.azimuth_step}")


def _scene(seed: int, spec, frames: int):
    from motion4d.world import make_scene

    return make_scene(seed, num_objects=spec.num_objects, motions=spec.motions, num_frames=frames, size=spec.size,
                      num_points=spec.num_points, background=WHITE)


def _cache_file(cache_dir, kind: str, split: str, start: int, n: int, spec) -> Path | None:
    if cache_dir is None:
        return None
    key = json.dumps({"kind": kind, "split": split, "start": start, "n": n, **asdict(spec), "v": 1}, sort_keys=True)
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    return Path(cache_dir) / f"{kind}-{split}-{start}-{n}-{digest}.npz"


def _load_or_render(file: Path | None, render, show_progress: bool):
    if file is not None and file.is_file():
        with np.load(file, allow_pickle=False) as z:
            return z["rgba"], json.loads(str(z["meta"]))
    rgba, meta = render(show_progress)
    if file is not None:
        from motion4d.utils.io import atomic_path

        file.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(file, suffix=".npz") as tmp:
            np.savez(tmp, rgba=rgba, meta=np.array(json.dumps(meta)))
    return rgba, meta


def object_facts(scene) -> dict:
    """Caption and the first object's facts: ``{"caption", "noun", "kind", "color", "pattern", "motion",
    "direction", "num_objects"}`` (``color`` is the object's main colour, the first it is captioned with)."""
    desc = scene.spec["description"]
    o = desc["objects"][0]
    return {"caption": scene.caption, "noun": o["noun"], "kind": o["kind"], "color": o["colors"][0],
            "pattern": o["pattern"], "motion": o["motion"][0] if o["motion"] else None,
            "direction": o["direction"][0] if o["direction"] else None, "num_objects": desc["num_objects"]}


def render_stills(split: str, n_scenes: int, spec: StillSpec = StillSpec(), *, start: int = 0,
                  cache_dir: str | Path | None = None, show_progress: bool = True) -> tuple[np.ndarray, list[dict]]:
    """Still images of scenes ``start .. start + n_scenes - 1`` of ``split``.

    Returns ``(rgba, meta)``: uint8 ``[n_scenes * per_scene, size, size, 4]`` straight alpha, and per image
    :func:`object_facts` plus ``"seed"``, ``"time"`` and ``"camera"`` (its name).
    """
    from motion4d.utils.progress import progress
    from motion4d.world.dataset import render_rgba, scene_cameras

    def render(show):
        images, meta = [], []
        for i in progress(range(start, start + n_scenes), desc=f"render {split} stills", unit="scene",
                          disable=None if show else True):
            seed = split_seed(split, i)
            scene = _scene(seed, spec, frames=16)
            cams = scene_cameras(scene, include_ref=True)
            rng = np.random.default_rng([seed, 7])
            for k in range(spec.per_scene):
                c = 0 if (k == 0 or spec.views == "ref") else int(rng.integers(1, len(cams)))
                t = float(rng.random())
                cam = cams[c]
                images.append(render_rgba(scene.gaussians_at(t), cam, scene.background)[0])
                meta.append({**object_facts(scene), "seed": seed, "time": t, "camera": cams.names[c]})
        return np.stack(images), meta

    return _load_or_render(_cache_file(cache_dir, "stills", split, start, n_scenes, spec), render, show_progress)


def render_clips(split: str, n_scenes: int, spec: ClipSpec = ClipSpec(), *, start: int = 0,
                 cache_dir: str | Path | None = None, show_progress: bool = True) -> tuple[np.ndarray, list[dict]]:
    """Front-view clips: uint8 RGBA ``[n_scenes, frames, size, size, 4]`` and per clip :func:`object_facts`
    plus ``"seed"``."""
    from motion4d.utils.progress import progress
    from motion4d.world.dataset import render_rgba, scene_cameras

    def render(show):
        clips, meta = [], []
        for i in progress(range(start, start + n_scenes), desc=f"render {split} clips", unit="clip",
                          disable=None if show else True):
            seed = split_seed(split, i)
            scene = _scene(seed, spec, frames=spec.frames)
            cam = scene_cameras(scene, include_ref=True)[0]
            ts = [f / max(1, spec.frames - 1) for f in range(spec.frames)]
            clips.append(np.stack([render_rgba(scene.gaussians_at(t), cam, scene.background)[0] for t in ts]))
            meta.append({**object_facts(scene), "seed": seed})
        return np.stack(clips), meta

    return _load_or_render(_cache_file(cache_dir, "clips", split, start, n_scenes, spec), render, show_progress)


def render_pairs(split: str, n_scenes: int, spec: PairSpec = PairSpec(), *, start: int = 0,
                 cache_dir: str | Path | None = None, show_progress: bool = True) -> tuple[np.ndarray, list[dict]]:
    """Reference + target views of scenes ``start .. start + n_scenes - 1`` of ``split`` (see :class:`PairSpec`).

    Returns ``(rgba, meta)``: uint8 straight alpha ``[n_scenes, 1 + targets, size, size, 4]`` (index 0 the reference
    view), and per scene :func:`object_facts` plus ``"seed"``, ``"time"``, ``"radius"`` and ``"views"``: the
    ``[elevation, azimuth]`` of the reference then of every target (degrees).
    """
    from motion4d.camera import Cameras
    from motion4d.utils.progress import progress
    from motion4d.world.dataset import render_rgba, scene_cameras

    def render(show):
        images, meta = [], []
        n_az = int(round(360 / spec.azimuth_step))
        for i in progress(range(start, start + n_scenes), desc=f"render {split} view pairs", unit="scene",
                          disable=None if show else True):
            seed = split_seed(split, i)
            scene = _scene(seed, spec, frames=16)
            ref = scene_cameras(scene, include_ref=True)[0]
            rng = np.random.default_rng([seed, 11])
            t = float(rng.random())
            views = spec.views or tuple((float(spec.elevations[int(rng.integers(len(spec.elevations)))]),
                                         float(int(rng.integers(n_az)) * spec.azimuth_step))
                                        for _ in range(spec.targets))
            cam = scene.spec["camera"]
            cams = Cameras.cat([ref, Cameras.orbit([e for e, _ in views], [a for _, a in views], cam["radius"],
                                                   cam["fovy"], spec.size)])
            images.append(render_rgba(scene.gaussians_at(t), cams, scene.background))
            meta.append({**object_facts(scene), "seed": seed, "time": t, "radius": float(cam["radius"]),
                         "views": [[float(ref.elevation[0]), float(ref.azimuth[0])]] + [list(v) for v in views]})
        return np.stack(images), meta

    return _load_or_render(_cache_file(cache_dir, "pairs", split, start, n_scenes, spec), render, show_progress)


def to_rgb(rgba: np.ndarray | torch.Tensor, background=WHITE) -> torch.Tensor:
    """Float RGB ``[..., 3, H, W]`` in [0, 1] (channels first) of uint8 straight-alpha RGBA ``[..., H, W, 4]``
    composited over ``background`` (RGB in [0, 1], or a tensor broadcastable to ``[..., 1, 1, 3]``)."""
    from motion4d.world.dataset import composite

    rgb = composite(torch.as_tensor(np.asarray(rgba)), background)
    return rgb.movedim(-1, -3).contiguous()
