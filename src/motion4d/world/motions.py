"""Motion programs: JSON-ready dicts that move an object's points as a function of time t in [0, 1].

Kinds (``MOTION_KINDS``) and their parameters (angles in degrees, lengths in world units):

========== ======================================================================================
translate  ``displacement [3]``: slides linearly from ``-d/2`` to ``+d/2`` around its position.
bounce     ``height``, ``bounces``: ``y = height * |sin(pi * bounces * t)|`` (lands ``bounces`` times).
jump       ``height``, ``takeoff``, ``duration``, ``direction [3]``, ``distance``, ``squash``: crouches
           (squash and stretch), leaps along a parabola while travelling ``distance``, lands, recovers.
spin       ``axis [3]``, ``turns``: rotates about its centre by ``360 * turns * t`` (negative = clockwise).
orbit      ``radius``, ``turns``, ``phase``: circles its position on a horizontal circle, facing along.
pulse      ``amplitude``, ``cycles``: uniform scale ``1 + amplitude * sin(2 pi cycles t)`` about its centre.
wobble     ``axis [3]``, ``angle``, ``cycles``: non-rigid bend; each point rotates about the object's
           base by ``angle * sin(2 pi cycles t) * h`` with ``h`` its normalised height (0 base, 1 top).
wave       ``part``, ``axis [3]``, ``raise``, ``amplitude``, ``cycles``: one part (an arm, a tail)
           rotates about its joint by ``raise + amplitude * sin(2 pi cycles t)``; the rest stays still.
walk       ``swing``, ``steps``, ``travel``, ``phases {part: +1|-1}``: legs (and arms) swing about
           their joints (object X axis) by ``phase * swing * sin(2 pi steps t)``; the object walks
           ``travel`` along its facing direction, centred on its position.
========== ======================================================================================

Application order per object: part articulation (wave, walk), shape (wobble, pulse, jump squash),
spin, then placement (``scale``, ``yaw``, ``position``) plus world offsets (translate, bounce, jump,
orbit, walk travel). ``ObjectState`` carries the points and their accumulated rotations and scale factors,
so Gaussians rotate and scale with the surface they sit on.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = ["MOTION_KINDS", "ARTICULATED", "LARGE_MOTIONS", "ObjectState", "compatible_motions", "sample_motion",
           "apply_motion", "STAGE", "rotation_matrix"]

MOTION_KINDS = ("translate", "bounce", "jump", "spin", "orbit", "pulse", "wobble", "wave", "walk")
ARTICULATED = ("wave", "walk")
LARGE_MOTIONS = ("translate", "jump", "orbit", "walk")  # the object's centre travels far across the view
STAGE = {"wave": 0, "walk": 0, "wobble": 1, "pulse": 1, "jump": 1, "spin": 2, "translate": 3, "bounce": 3,
         "orbit": 3}


def rotation_matrix(axis, angle_rad) -> np.ndarray:
    """Rotation matrices ``[..., 3, 3]`` about unit ``axis [3]`` by ``angle_rad`` (scalar or ``[...]``)."""
    a = np.asarray(axis, dtype=np.float64)
    a = a / np.linalg.norm(a)
    ang = np.asarray(angle_rad, dtype=np.float64)
    c, s = np.cos(ang)[..., None, None], np.sin(ang)[..., None, None]
    k = np.array([[0, -a[2], a[1]], [a[2], 0, -a[0]], [-a[1], a[0], 0]])
    return c * np.eye(3) + s * k + (1 - c) * np.outer(a, a)


@dataclass
class ObjectState:
    """An object's Gaussians mid-way through motion application.

    ``points [N,3]`` in the object frame (before placement), ``rots [N,3,3]`` accumulated rotations,
    ``scale [N]`` accumulated scale factors, ``offset [3]`` world translation, ``yaw`` extra degrees.
    ``part [N]`` indexes the object's parts; ``names``/``joints`` describe them.
    """

    points: np.ndarray
    rots: np.ndarray
    scale: np.ndarray
    part: np.ndarray
    names: list[str]
    joints: list
    roles: list[str]
    offset: np.ndarray
    yaw: float = 0.0

    def rotate(self, mask: np.ndarray | slice, R: np.ndarray, pivot) -> None:
        """Rotate the selected points about ``pivot`` by ``R [3,3]`` or per-point ``R [n,3,3]``."""
        pivot = np.asarray(pivot, dtype=np.float64)
        rel = self.points[mask] - pivot
        if R.ndim == 2:
            self.points[mask] = rel @ R.T + pivot
            self.rots[mask] = R @ self.rots[mask]
        else:
            self.points[mask] = np.einsum("nij,nj->ni", R, rel) + pivot
            self.rots[mask] = R @ self.rots[mask]

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        return self.points.min(0), self.points.max(0)


def compatible_motions(obj: dict) -> tuple[str, ...]:
    """Motion kinds an object supports (wave needs an arm or a tail, walk needs legs)."""
    roles = {p["role"] for p in obj["parts"]}
    out = [k for k in MOTION_KINDS if k not in ARTICULATED]
    if roles & {"arm", "tail"}:
        out.append("wave")
    if "leg" in roles:
        out.append("walk")
    return tuple(out)


def _u(rng, lo, hi):
    return round(float(lo + (hi - lo) * rng.random()), 4)


def sample_motion(kind: str, obj: dict, rng: np.random.Generator, room: float) -> dict:
    """A seeded program of ``kind`` for ``obj``; ``room`` is how far (world units) its centre may travel."""
    if kind not in MOTION_KINDS:
        raise ValueError(f"motion kind {kind!r} is not one of {', '.join(MOTION_KINDS)}")
    allowed = compatible_motions(obj)
    if kind not in allowed:
        raise ValueError(f"motion {kind!r} does not fit a {obj['kind']} (it needs "
                         f"{'an arm or a tail' if kind == 'wave' else 'legs'}); choose one of {', '.join(allowed)}")
    room = max(float(room), 0.1)
    sign = 1.0 if rng.random() < 0.5 else -1.0
    if kind == "translate":
        length = _u(rng, 1.2, 1.8) * room
        ang = rng.uniform(-0.35, 0.35)  # mostly sideways (visible from the front), a little in depth/height
        d = [sign * length * math.cos(ang), length * 0.25 * math.sin(2 * ang), length * math.sin(ang)]
        return {"kind": kind, "displacement": [round(v, 4) for v in d]}
    if kind == "bounce":
        return {"kind": kind, "height": _u(rng, 0.6, 1.2) * room, "bounces": _u(rng, 1.5, 3.5)}
    if kind == "jump":
        return {"kind": kind, "height": _u(rng, 0.6, 1.0) * room, "takeoff": _u(rng, 0.2, 0.3),
                "duration": _u(rng, 0.35, 0.5), "direction": [sign, 0.0, 0.0], "distance": _u(rng, 0.5, 1.0) * room,
                "squash": _u(rng, 0.15, 0.3)}
    if kind == "spin":
        axis = [[0.0, 1.0, 0.0], [0.0, 1.0, 0.0], [1.0, 0.0, 0.0], [0.0, 0.0, 1.0]][int(rng.integers(0, 4))]
        return {"kind": kind, "axis": axis, "turns": round(sign * _u(rng, 0.5, 1.5), 4)}
    if kind == "orbit":
        return {"kind": kind, "radius": _u(rng, 0.5, 0.8) * room, "turns": round(sign * _u(rng, 0.5, 1.0), 4),
                "phase": _u(rng, -60, 60)}
    if kind == "pulse":
        return {"kind": kind, "amplitude": _u(rng, 0.2, 0.35), "cycles": _u(rng, 1.0, 2.5)}
    if kind == "wobble":
        axis = [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]][int(rng.random() < 0.3)]
        return {"kind": kind, "axis": axis, "angle": _u(rng, 20, 35), "cycles": _u(rng, 1.0, 2.5)}
    if kind == "wave":
        names = [p["name"] for p in obj["parts"] if p["role"] in ("arm", "tail")]
        part = names[int(rng.integers(0, len(names)))]
        role = next(p["role"] for p in obj["parts"] if p["name"] == part)
        if role == "tail":  # wag side to side about the vertical axis
            return {"kind": kind, "part": part, "axis": [0.0, 1.0, 0.0], "raise": 0.0,
                    "amplitude": _u(rng, 35, 55), "cycles": _u(rng, 2.0, 4.0)}
        side = 1.0 if part.startswith("left") else -1.0  # left limbs sit on +X
        lift = 130.0 if obj["kind"] == "robot" else 20.0  # hanging robot arms go up first
        return {"kind": kind, "part": part, "axis": [0.0, 0.0, side], "raise": _u(rng, lift - 10, lift + 10),
                "amplitude": _u(rng, 25, 40), "cycles": _u(rng, 1.5, 3.0)}
    # walk
    phases = {}
    for p in obj["parts"]:
        if p["role"] == "leg":
            left = "left" in p["name"]
            front = not p["name"].startswith("back")
            phases[p["name"]] = 1.0 if left == front else -1.0
        elif p["role"] == "arm" and obj["kind"] == "robot":
            phases[p["name"]] = -1.0 if "left" in p["name"] else 1.0  # arms swing against the legs
    return {"kind": kind, "swing": _u(rng, 25, 35), "steps": _u(rng, 1.5, 2.5), "travel": _u(rng, 0.8, 1.4) * room,
            "phases": phases}


def _smoothstep(x):
    x = np.clip(x, 0.0, 1.0)
    return x * x * (3 - 2 * x)


def _bump(t, center, width):
    """Smooth 0..1..0 bump of half-width ``width`` centred at ``center``."""
    x = np.clip(1 - abs(t - center) / width, 0.0, 1.0)
    return float(x * x * (3 - 2 * x))


def apply_motion(state: ObjectState, program: dict, t: float, yaw_deg: float) -> None:
    """Apply one motion program at time ``t`` to ``state`` in place (``yaw_deg``: the object's base yaw)."""
    kind = program["kind"]
    tau = 2 * math.pi
    if kind in ("wave", "walk"):
        targets = {program["part"]: 1.0} if kind == "wave" else program["phases"]
        for name, phase in targets.items():
            if name not in state.names:
                raise ValueError(f"{kind} motion names part {name!r}, which this object lacks ({state.names})")
            i = state.names.index(name)
            if kind == "wave":
                ang = program["raise"] + program["amplitude"] * math.sin(tau * program["cycles"] * t)
                axis = program["axis"]
            else:
                ang = phase * program["swing"] * math.sin(tau * program["steps"] * t)
                axis = [1.0, 0.0, 0.0]
            state.rotate(state.part == i, rotation_matrix(axis, math.radians(ang)), state.joints[i])
        if kind == "walk":
            yaw = math.radians(yaw_deg)
            state.offset += (t - 0.5) * program["travel"] * np.array([math.sin(yaw), 0.0, math.cos(yaw)])
        return
    lo, hi = state.bounds()
    center = (lo + hi) / 2
    if kind == "wobble":
        h = (state.points[:, 1] - lo[1]) / max(hi[1] - lo[1], 1e-9)
        ang = math.radians(program["angle"]) * math.sin(tau * program["cycles"] * t) * h
        state.rotate(slice(None), rotation_matrix(program["axis"], ang), [center[0], lo[1], center[2]])
    elif kind == "pulse":
        f = 1.0 + program["amplitude"] * math.sin(tau * program["cycles"] * t)
        state.points[:] = (state.points - center) * f + center
        state.scale *= f
    elif kind == "jump":
        t0, d = program["takeoff"], program["duration"]
        t1 = t0 + d
        squash = program["squash"] * (_bump(t, t0 - 0.06, 0.12) + _bump(t, t1 + 0.05, 0.1))
        stretch = program["squash"] * 0.6 * _bump(t, t0 + 0.08, 0.08)
        sy = (1 - squash) * (1 + stretch)
        sxz = 1 / math.sqrt(sy)  # keep the volume
        base = np.array([center[0], lo[1], center[2]])
        state.points[:] = (state.points - base) * np.array([sxz, sy, sxz]) + base
        state.scale *= (sy * sxz * sxz) ** (1 / 3)
        u = (t - t0) / d
        height = 4 * program["height"] * u * (1 - u) if 0 < u < 1 else 0.0
        travel = (float(_smoothstep(u)) - 0.5) * program["distance"]
        state.offset += np.array([0.0, height, 0.0]) + travel * np.asarray(program["direction"], dtype=np.float64)
    elif kind == "spin":
        R = rotation_matrix(program["axis"], math.radians(360.0 * program["turns"] * t))
        state.rotate(slice(None), R, center)
    elif kind == "translate":
        state.offset += (t - 0.5) * np.asarray(program["displacement"], dtype=np.float64)
    elif kind == "bounce":
        state.offset[1] += program["height"] * abs(math.sin(math.pi * program["bounces"] * t))
    elif kind == "orbit":
        theta = 360.0 * program["turns"] * t
        ang = math.radians(program["phase"] + theta)
        ang0 = math.radians(program["phase"])
        r = program["radius"]
        # circle around the point `radius` behind the start, so the object starts at its position
        state.offset += r * np.array([math.sin(ang) - math.sin(ang0), 0.0, math.cos(ang) - math.cos(ang0)])
        state.yaw += theta
    else:
        raise ValueError(f"motion kind {kind!r} is not one of {', '.join(MOTION_KINDS)}")
