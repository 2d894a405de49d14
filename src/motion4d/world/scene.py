"""World scenes: a seeded generator (:func:`make_scene`) and :class:`WorldScene`, a ``Scene4D``.

A scene is fully described by one JSON-ready dict (``scene.json``): the objects with their parts,
colours and motion programs, the seed, the caption and structured description, the clip length and
the cameras. :class:`WorldScene` rebuilds the Gaussians from that dict alone, so
``WorldScene.load(folder)`` gives exactly the scene that was written.

Gaussians: points sampled uniformly (in area) on each part's surface with a per-object seed
(``points_seed``); isotropic scales of ``0.75 x`` the mean point spacing; opacity ``opacity``;
degree-0 SH colours. Every point stays within ``bound`` (0.9) of the origin at every frame time, so the
default cameras (radius 2.5, fovy 49.1) always see the whole scene.
"""
from __future__ import annotations

import copy
import json
import math
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from dataclasses import replace as dataclass_replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from motion4d.gaussians.model import Gaussians
from motion4d.scene4d import frame_times
from motion4d.world import primitives
from motion4d.world.captions import caption_from_description, describe
from motion4d.world.motions import (MOTION_KINDS, STAGE, ObjectState, apply_motion, compatible_motions,
                                    rotation_matrix, sample_motion)
from motion4d.world.objects import OBJECT_KINDS, PRIMITIVE_KINDS, build_object, part_colors
from motion4d.world.options import BOUND, DEFAULT_AZIMUTHS, DEFAULT_ELEVATIONS, SceneOptions

__all__ = ["SCENE_VERSION", "WorldScene", "make_scene", "FrozenScene", "SceneOptions", "DEFAULT_ELEVATIONS",
           "DEFAULT_AZIMUTHS"]

SCENE_VERSION = 1
_SPACING_TO_SCALE = 0.75
_MIN_PART_POINTS = 16
_SYMMETRIC = {"sphere": (0, 1, 2), "cylinder": (1,), "cone": (1,), "capsule": (1,), "torus": (2,), "box": ()}
# layout per object count: (x positions, object scale range, room for the centre to travel)
_LAYOUT = {1: ([0.0], (0.95, 1.15), 0.4), 2: ([-0.42, 0.42], (0.55, 0.65), 0.22),
           3: ([-0.56, 0.0, 0.56], (0.4, 0.46), 0.14)}


@dataclass
class _Canonical:
    points: np.ndarray  # [N,3] object frame
    colors: np.ndarray  # [N,3]
    part: np.ndarray  # [N] part index
    gaussian_scale: float  # object-frame units


def _build_canonical(obj: dict) -> _Canonical:
    rng = np.random.default_rng(int(obj["points_seed"]))
    parts = obj["parts"]
    areas = np.array([primitives.area(p["primitive"], p["params"]) for p in parts])
    total = int(obj["num_points"])
    if total < len(parts):
        raise ValueError(f"object {obj['kind']!r} needs num_points >= {len(parts)} (one per part), got {total}")
    floor = max(1, min(_MIN_PART_POINTS, total // (2 * len(parts))))  # small parts stay visible
    spare = total - floor * len(parts)
    share = spare * areas / areas.sum()
    counts = floor + np.floor(share).astype(np.int64)
    remainder = total - counts.sum()
    counts[np.argsort(-(share - np.floor(share)), kind="stable")[:remainder]] += 1
    pts, cols, ids = [], [], []
    for i, (part, n) in enumerate(zip(parts, counts)):
        local = primitives.sample(part["primitive"], part["params"], int(n), rng)
        cols.append(part_colors(part, local, primitives.extent(part["primitive"], part["params"])))
        rv = np.asarray(part["rotation"], dtype=np.float64)
        angle = float(np.linalg.norm(rv))
        R = rotation_matrix(rv / angle, angle) if angle > 0 else np.eye(3)
        pts.append(local @ R.T + np.asarray(part["offset"], dtype=np.float64))
        ids.append(np.full(int(n), i, dtype=np.int64))
    spacing = math.sqrt(areas.sum() / total)
    return _Canonical(np.concatenate(pts), np.concatenate(cols), np.concatenate(ids), _SPACING_TO_SCALE * spacing)


def _rotmat_to_quat(R: np.ndarray) -> np.ndarray:
    """Quaternions ``[N,4]`` (wxyz, unit, w >= 0) from rotation matrices ``[N,3,3]`` (Shepperd's method)."""
    m = R
    tr = m[:, 0, 0] + m[:, 1, 1] + m[:, 2, 2]
    cand = np.stack([tr, m[:, 0, 0], m[:, 1, 1], m[:, 2, 2]], 1)
    k = cand.argmax(1)
    q = np.empty((len(m), 4))
    for i in range(4):
        sel = k == i
        r = m[sel]
        if i == 0:
            s = np.sqrt(1 + tr[sel]) * 2
            q[sel] = np.stack([s / 4, (r[:, 2, 1] - r[:, 1, 2]) / s, (r[:, 0, 2] - r[:, 2, 0]) / s,
                               (r[:, 1, 0] - r[:, 0, 1]) / s], 1)
        else:
            a, b, c = i - 1, i % 3, (i + 1) % 3
            s = np.sqrt(np.maximum(1 + r[:, a, a] - r[:, b, b] - r[:, c, c], 1e-12)) * 2
            v = np.empty((len(r), 4))
            v[:, 0] = (r[:, c, b] - r[:, b, c]) / s
            v[:, 1 + a] = s / 4
            v[:, 1 + b] = (r[:, b, a] + r[:, a, b]) / s
            v[:, 1 + c] = (r[:, c, a] + r[:, a, c]) / s
            q[sel] = v
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    return q * np.where(q[:, :1] < 0, -1.0, 1.0)


class WorldScene:
    """A shapes-world scene (implements :class:`motion4d.scene4d.Scene4D`).

    Build with :func:`make_scene`, or from ``scene.json`` with :meth:`load` / :meth:`from_dict`.
    ``gaussians_at(t)`` returns the ground-truth Gaussians at normalised time ``t`` in [0, 1].
    """

    def __init__(self, spec: dict):
        _validate(spec)
        self.spec = copy.deepcopy(spec)
        self._canon = [_build_canonical(o) for o in self.spec["objects"]]

    # -- construction / IO --------------------------------------------------------------------
    @classmethod
    def from_dict(cls, spec: dict) -> "WorldScene":
        return cls(spec)

    @classmethod
    def load(cls, path: str | Path) -> "WorldScene":
        """Rebuild the scene from a scene folder (or its ``scene.json``)."""
        path = Path(path)
        file = path / "scene.json" if path.is_dir() else path
        if not file.is_file():
            raise FileNotFoundError(f"{str(path)!r} is not a world scene: {str(file)!r} does not exist")
        try:
            spec = json.loads(file.read_text())
        except json.JSONDecodeError as e:
            raise ValueError(f"{str(file)!r} is not valid JSON: {e}") from None
        return cls(spec)

    def to_dict(self) -> dict:
        """The complete JSON-ready description (what ``scene.json`` holds)."""
        return copy.deepcopy(self.spec)

    # -- properties ---------------------------------------------------------------------------
    @property
    def num_frames(self) -> int:
        return int(self.spec["num_frames"])

    @property
    def seed(self) -> int:
        return int(self.spec["seed"])

    @property
    def caption(self) -> str:
        return str(self.spec["caption"])

    @property
    def size(self) -> int:
        return int(self.spec["size"])

    @property
    def fps(self) -> float:
        return float(self.spec["fps"])

    @property
    def background(self) -> tuple[float, float, float]:
        return tuple(float(v) for v in self.spec["background"])

    @property
    def objects(self) -> list[dict]:
        return self.spec["objects"]

    @property
    def num_gaussians(self) -> int:
        return sum(len(c.points) for c in self._canon)

    def frame_times(self) -> list[float]:
        return frame_times(self.num_frames)

    def labels(self) -> tuple[np.ndarray, np.ndarray]:
        """Per-Gaussian ``(object index [N], part name [N])`` in ``gaussians_at`` order."""
        obj = np.concatenate([np.full(len(c.points), i) for i, c in enumerate(self._canon)])
        names = np.concatenate([np.asarray([o["parts"][j]["name"] for j in c.part])
                                for o, c in zip(self.objects, self._canon)])
        return obj, names

    def cameras(self, size: int | None = None, include_ref: bool = True):
        """The dataset cameras: ``ref`` (elevation 0, azimuth 0) then every ``el{E:+03d}_az{A:03d}`` view."""
        from motion4d.world.dataset import scene_cameras

        return scene_cameras(self, size=size, include_ref=include_ref)

    # -- Scene4D --------------------------------------------------------------------------------
    def points_at(self, t: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(means [N,3], rotations [N,3,3], scales [N])`` at time ``t`` in float64 numpy."""
        t = float(t)
        if not (0.0 <= t <= 1.0) or math.isnan(t):
            raise ValueError(f"time t={t} is outside [0, 1]")
        scene_scale = float(self.spec["scene_scale"])
        means, rots, scales = [], [], []
        for obj, canon in zip(self.objects, self._canon):
            n = len(canon.points)
            state = ObjectState(canon.points.copy(), np.broadcast_to(np.eye(3), (n, 3, 3)).copy(), np.ones(n),
                                canon.part, [p["name"] for p in obj["parts"]],
                                [p["joint"] for p in obj["parts"]], [p["role"] for p in obj["parts"]],
                                np.zeros(3))
            for prog in sorted(obj["motions"], key=lambda m: STAGE[m["kind"]]):
                apply_motion(state, prog, t, obj["yaw"])
            R = rotation_matrix([0.0, 1.0, 0.0], math.radians(obj["yaw"] + state.yaw))
            s = float(obj["scale"])
            p = (s * state.points) @ R.T + np.asarray(obj["position"], dtype=np.float64) + state.offset
            means.append(p * scene_scale)
            rots.append(R @ state.rots)
            scales.append(canon.gaussian_scale * s * scene_scale * state.scale)
        return np.concatenate(means), np.concatenate(rots), np.concatenate(scales)

    def gaussians_at(self, t: float) -> Gaussians:
        """Ground-truth Gaussians (float32, CPU) at normalised time ``t`` in [0, 1]."""
        means, rots, scales = self.points_at(t)
        colors = np.concatenate([c.colors for c in self._canon])
        n = len(means)
        return Gaussians.from_rgb(torch.from_numpy(means).float(), torch.from_numpy(colors).float(),
                                  torch.from_numpy(np.repeat(scales[:, None], 3, axis=1)).float(),
                                  torch.full((n,), float(self.spec["opacity"])),
                                  quats=torch.from_numpy(_rotmat_to_quat(rots)).float())

    def max_radius(self, num_times: int = 33) -> float:
        """Largest distance of any Gaussian centre from the origin over ``num_times`` evenly spaced times."""
        return max(float(np.linalg.norm(self.points_at(t)[0], axis=1).max())
                   for t in np.linspace(0.0, 1.0, num_times))

    def __repr__(self) -> str:
        return (f"WorldScene(seed={self.seed}, caption={self.caption!r}, frames={self.num_frames}, "
                f"gaussians={self.num_gaussians})")


class FrozenScene:
    """A ``Scene4D`` that shows ``scene`` at time ``t`` for every frame (a no-motion baseline)."""

    def __init__(self, scene, t: float = 0.0):
        self.scene, self.t = scene, float(t)

    @property
    def num_frames(self) -> int:
        return self.scene.num_frames

    def gaussians_at(self, t: float) -> Gaussians:
        return self.scene.gaussians_at(self.t)


_REQUIRED = ("version", "seed", "caption", "description", "objects", "num_frames", "fps", "size", "background",
             "camera", "scene_scale", "opacity")


def _validate(spec: dict) -> None:
    if not isinstance(spec, dict):
        raise ValueError(f"a world scene spec must be a dict, got {type(spec).__name__}")
    missing = [k for k in _REQUIRED if k not in spec]
    if missing:
        raise ValueError(f"scene spec lacks {', '.join(missing)}")
    if spec["version"] != SCENE_VERSION:
        raise ValueError(f"scene version {spec['version']!r} is not supported (this motion4d reads {SCENE_VERSION})")
    if not isinstance(spec["num_frames"], int) or spec["num_frames"] < 1:
        raise ValueError(f"num_frames must be an integer >= 1, got {spec['num_frames']!r}")
    if not spec["objects"]:
        raise ValueError("scene spec has no objects")
    for i, obj in enumerate(spec["objects"]):
        if obj.get("kind") not in OBJECT_KINDS:
            raise ValueError(f"object {i}: kind {obj.get('kind')!r} is not one of {', '.join(OBJECT_KINDS)}")
        for m in obj.get("motions", []):
            if m.get("kind") not in MOTION_KINDS:
                raise ValueError(f"object {i}: motion kind {m.get('kind')!r} is not one of {', '.join(MOTION_KINDS)}")


def _motions_of(kind: str) -> tuple[str, ...]:
    """Motion kinds an object kind supports (its parts do not depend on the seed's draws)."""
    return compatible_motions(build_object(kind, np.random.default_rng(0)))


def _as_list(value, k: int, what: str, choices: Sequence[str]) -> list:
    if value is None:
        return [None] * k
    items = [value] if isinstance(value, str) else list(value)
    for v in items:
        if v is not None and v not in choices:
            raise ValueError(f"{what} {v!r} is not one of {', '.join(choices)}")
    if len(items) == 1:
        return items * k
    if len(items) != k:
        raise ValueError(f"got {len(items)} {what}s for {k} objects; give one or {k}")
    return items


def make_scene(seed: int, *, num_objects: int | None = None, objects: str | Sequence[str] | None = None,
               motions: str | Sequence[str] | None = None, options: SceneOptions | None = None,
               **overrides: Any) -> WorldScene:
    """Generate a scene from ``seed``: 1-3 objects, each with one motion, on a plain background.

    Args:
        seed: any non-negative integer; the same arguments give the identical scene.
        num_objects: 1, 2 or 3 (default: one per forced kind when ``objects``/``motions`` are given,
            else drawn from the seed, mostly 1).
        objects: force the object kind(s) (one for all, or one per object), see ``OBJECT_KINDS``.
        motions: force the motion kind(s), see ``MOTION_KINDS``. Kinds that need limbs (wave, walk)
            restrict the objects drawn to figures that have them.
        options: clip length, image size, points, background, cameras (:class:`SceneOptions`);
            ``overrides`` replace single fields of it, e.g. ``num_frames=8, size=32``.
    """
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    unknown = sorted(set(overrides) - {f.name for f in dataclass_fields(SceneOptions)})
    if unknown:
        raise ValueError(f"unknown scene option(s) {', '.join(unknown)}; allowed: "
                         f"{', '.join(f.name for f in dataclass_fields(SceneOptions))}")
    o = dataclass_replace(options or SceneOptions(), **overrides)
    num_frames, size, fps, num_points, opacity = o.num_frames, o.size, o.fps, o.num_points, o.opacity
    elevations, azimuths, radius, fovy, bg = o.elevations, o.azimuths, o.radius, o.fovy, list(o.background)
    rng = np.random.default_rng(int(seed))
    if num_objects is None:  # forcing kinds without a count gives one object per kind given
        forced = [1 if isinstance(x, str) else len(x) for x in (objects, motions) if x is not None]
        num_objects = max(forced) if forced else int(rng.choice([1, 1, 1, 2, 2, 3]))
    if num_objects not in _LAYOUT:
        raise ValueError(f"num_objects must be 1, 2 or 3, got {num_objects}")
    kinds = _as_list(objects, num_objects, "object kind", OBJECT_KINDS)
    moves = _as_list(motions, num_objects, "motion kind", MOTION_KINDS)
    xs, (s_lo, s_hi), room = _LAYOUT[num_objects]
    order = rng.permutation(num_objects)  # which slot each object takes
    specs = []
    for i in range(num_objects):
        kind, move = kinds[i], moves[i]
        if kind is None:
            pool = [k for k in OBJECT_KINDS if move is None or move in _motions_of(k)]
            kind = str(rng.choice(pool))
        obj_rng = np.random.default_rng([int(seed), i])
        obj = build_object(kind, obj_rng)
        if move is None:
            move = str(rng.choice(compatible_motions(obj)))
        program = sample_motion(move, obj, obj_rng, room)
        if move == "spin" and kind in PRIMITIVE_KINDS:
            # make the spin visible: a pattern whose bands are not symmetric about the spin axis
            axis = int(np.argmax(np.abs(program["axis"])))
            if axis in _SYMMETRIC[kind] or obj["pattern"] == "solid":
                pattern_axis = next(a for a in (0, 1, 2) if a != axis)
                pattern = obj["pattern"] if obj["pattern"] != "solid" else "two-tone"
                obj = build_object(kind, np.random.default_rng([int(seed), i]), pattern=pattern,
                                   pattern_axis=pattern_axis)
                program = sample_motion(move, obj, np.random.default_rng([int(seed), i, 1]), room)
                program["axis"] = [1.0 if a == axis else 0.0 for a in range(3)]
        x = xs[int(order[i])]
        scale = s_lo + (s_hi - s_lo) * float(obj_rng.random())
        yaw = float(obj_rng.uniform(-35, 35))
        position = [x, 0.0, 0.0]
        if move == "walk":
            yaw = (90.0 if obj_rng.random() < 0.5 else -90.0) + float(obj_rng.uniform(-10, 10))  # walk across
        if move in ("bounce", "jump"):
            position[1] = -0.5 * program["height"]
        if move == "orbit" and num_objects == 1:
            ph = math.radians(program["phase"])
            position = [program["radius"] * math.sin(ph), 0.0, program["radius"] * math.cos(ph)]
        obj.update(position=[round(v, 6) for v in position], yaw=round(yaw, 4), scale=round(scale, 4),
                   motions=[program])
        specs.append(obj)
    weights = np.array([o["scale"] ** 2 for o in specs])
    counts = np.floor(num_points * weights / weights.sum()).astype(int)
    counts[0] += num_points - counts.sum()
    for obj, n in zip(specs, counts):
        obj["num_points"] = int(n)
        obj["points_seed"] = int(rng.integers(0, 2**31 - 1))
    description = describe(specs)
    spec = {"version": SCENE_VERSION, "seed": int(seed), "caption": caption_from_description(description),
            "description": description, "objects": specs, "num_frames": int(num_frames), "fps": float(fps),
            "size": int(size), "background": bg,
            "camera": {"radius": float(radius), "fovy": float(fovy), "elevations": [float(e) for e in elevations],
                       "azimuths": [float(a) for a in azimuths]},
            "scene_scale": 1.0, "opacity": float(opacity), "bound": BOUND}
    scene = WorldScene(spec)
    reach = scene.max_radius()
    if reach > BOUND - 0.05:  # leave room for the Gaussians' own extent
        spec["scene_scale"] = round((BOUND - 0.05) / reach, 6)
        scene = WorldScene(spec)
    return scene
