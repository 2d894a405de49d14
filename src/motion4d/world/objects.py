"""Objects of the shapes world: single primitives and multi-part figures, as JSON-ready specs.

An object spec is a plain dict (stored verbatim in ``scene.json``)::

    {"kind": "snowman", "noun": "snowman", "color_names": ["blue"], "pattern": "solid",
     "position": [x, y, z], "yaw": deg, "scale": s, "num_points": N, "points_seed": int,
     "parts": [part, ...], "motions": [program, ...]}

and each part::

    {"name": "right_arm", "role": "arm", "primitive": "cylinder", "params": {...},
     "offset": [x, y, z], "rotation": [rx, ry, rz],     # rotation vector (radians), local -> object frame
     "joint": [x, y, z] or null,                        # pivot for articulation, object frame
     "colors": [[r, g, b], ...], "color_names": [...],
     "pattern": "solid" | "two-tone" | "stripes", "pattern_axis": 0 | 1 | 2, "stripes": k}

Object frame: +Y up, the object's front faces +Z, its centre near the origin, about one unit tall
before ``scale``. ``left``/``right`` are the object's own (its right arm is on -X).
Patterns are evaluated in the part's local frame along ``pattern_axis``: ``two-tone`` splits the part
in half, ``stripes`` alternates ``k`` bands of ``colors[0]`` and ``colors[1]``; ``faces`` (boxes, set by
:mod:`motion4d.world.variants`) gives each of the six faces its own colour, ``colors[2 * axis + (side > 0)]``.
"""
from __future__ import annotations

import math

import numpy as np

__all__ = ["PALETTE", "OBJECT_KINDS", "PRIMITIVE_KINDS", "FIGURE_KINDS", "PATTERNS", "FACE_COLORS", "build_object",
           "part_colors", "roles"]

# Colour names the captions use -> linear RGB in [0, 1]. No white: the default background is white.
PALETTE: dict[str, tuple[float, float, float]] = {
    "red": (0.85, 0.12, 0.12), "orange": (0.96, 0.55, 0.08), "yellow": (0.95, 0.82, 0.10),
    "green": (0.15, 0.65, 0.22), "blue": (0.13, 0.32, 0.85), "purple": (0.52, 0.22, 0.72),
    "pink": (0.96, 0.45, 0.70), "brown": (0.50, 0.30, 0.14), "gray": (0.50, 0.50, 0.52),
    "black": (0.08, 0.08, 0.08), "cyan": (0.10, 0.72, 0.80),
}
PRIMITIVE_KINDS = ("sphere", "box", "cylinder", "cone", "torus", "capsule")
FIGURE_KINDS = ("snowman", "robot", "dog")
OBJECT_KINDS = PRIMITIVE_KINDS + FIGURE_KINDS
PATTERNS = ("solid", "two-tone", "stripes")  # drawn from the seed; ``faces`` is only set by variants
#: Colours of the six faces of a ``faces`` box (local -X, +X, -Y, +Y, -Z, +Z).
FACE_COLORS = ("red", "green", "blue", "yellow", "purple", "cyan")
_MAIN_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "cyan", "brown", "gray")


def _part(name, role, primitive, params, offset=(0, 0, 0), rotation=(0, 0, 0), joint=None, color="gray"):
    return {"name": name, "role": role, "primitive": primitive,
            "params": {k: round(float(v), 6) for k, v in params.items()},
            "offset": [round(float(v), 6) for v in offset], "rotation": [round(float(v), 6) for v in rotation],
            "joint": None if joint is None else [round(float(v), 6) for v in joint],
            "colors": [list(PALETTE[color])], "color_names": [color], "pattern": "solid", "pattern_axis": 1,
            "stripes": 1}


def _u(rng, lo, hi):
    return float(lo + (hi - lo) * rng.random())


def _primitive_parts(kind: str, rng: np.random.Generator) -> tuple[list[dict], str]:
    if kind == "sphere":
        return [_part("body", "body", "sphere", {"radius": 0.5})], "ball"
    if kind == "box":
        if rng.random() < 0.5:
            s = _u(rng, 0.7, 0.8)
            return [_part("body", "body", "box", {"sx": s, "sy": s, "sz": s})], "cube"
        return [_part("body", "body", "box", {"sx": _u(rng, 0.5, 0.9), "sy": _u(rng, 0.5, 0.9),
                                               "sz": _u(rng, 0.4, 0.7)})], "box"
    if kind == "cylinder":
        return [_part("body", "body", "cylinder", {"radius": _u(rng, 0.25, 0.35), "height": _u(rng, 0.7, 1.0)})], \
            "cylinder"
    if kind == "cone":
        return [_part("body", "body", "cone", {"radius": _u(rng, 0.3, 0.4), "height": _u(rng, 0.8, 1.0)})], "cone"
    if kind == "torus":
        return [_part("body", "body", "torus", {"major": 0.36, "minor": _u(rng, 0.1, 0.14)})], "ring"
    return [_part("body", "body", "capsule", {"radius": _u(rng, 0.2, 0.26), "height": _u(rng, 0.4, 0.55)})], \
        "capsule"


def _snowman(rng, main: str) -> list[dict]:
    r0, r1, r2 = 0.28, 0.2, 0.14
    y0, y1, y2 = -0.28, 0.1, 0.4
    parts = [_part("base", "body", "sphere", {"radius": r0}, (0, y0, 0), color=main),
             _part("middle", "body", "sphere", {"radius": r1}, (0, y1, 0), color=main),
             _part("head", "head", "sphere", {"radius": r2}, (0, y2, 0), color=main),
             _part("nose", "nose", "cone", {"radius": 0.035, "height": 0.14}, (0, y2, r2 + 0.05),
                   (math.pi / 2, 0, 0), color="orange"),
             _part("left_eye", "eye", "sphere", {"radius": 0.025}, (0.05, y2 + 0.05, r2 - 0.02), color="black"),
             _part("right_eye", "eye", "sphere", {"radius": 0.025}, (-0.05, y2 + 0.05, r2 - 0.02), color="black")]
    length, lift = 0.3, math.radians(_u(rng, 15, 35))
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder = np.array([sign * r1 * 0.9, y1 + 0.05, 0.0])
        direction = np.array([sign * math.cos(lift), math.sin(lift), 0.0])
        angle = -sign * (math.pi / 2 - lift)  # rotate local +Y onto the arm direction about Z
        parts.append(_part(f"{side}_arm", "arm", "cylinder", {"radius": 0.022, "height": length},
                           shoulder + direction * length / 2, (0, 0, angle), joint=shoulder, color="brown"))
    return parts


def _robot(rng, main: str, limb: str) -> list[dict]:
    parts = [_part("torso", "body", "box", {"sx": 0.4, "sy": 0.42, "sz": 0.24}, (0, 0.05, 0), color=main),
             _part("head", "head", "box", {"sx": 0.24, "sy": 0.22, "sz": 0.22}, (0, 0.4, 0), color=main),
             _part("left_eye", "eye", "sphere", {"radius": 0.03}, (0.06, 0.42, 0.11), color="cyan"),
             _part("right_eye", "eye", "sphere", {"radius": 0.03}, (-0.06, 0.42, 0.11), color="cyan")]
    for side, sign in (("left", 1.0), ("right", -1.0)):
        shoulder = (sign * 0.27, 0.22, 0.0)
        parts.append(_part(f"{side}_arm", "arm", "cylinder", {"radius": 0.06, "height": 0.36},
                           (sign * 0.27, 0.22 - 0.18, 0), joint=shoulder, color=limb))
        hip = (sign * 0.11, -0.16, 0.0)
        parts.append(_part(f"{side}_leg", "leg", "cylinder", {"radius": 0.07, "height": 0.34},
                           (sign * 0.11, -0.16 - 0.17, 0), joint=hip, color=limb))
    return parts


def _dog(rng, main: str, limb: str) -> list[dict]:
    parts = [_part("body", "body", "capsule", {"radius": 0.15, "height": 0.38}, (0, 0.02, 0),
                   (math.pi / 2, 0, 0), color=main),
             _part("head", "head", "sphere", {"radius": 0.13}, (0, 0.2, 0.33), color=main),
             _part("snout", "nose", "sphere", {"radius": 0.05}, (0, 0.17, 0.46), color="black")]
    for name, x, z in (("front_left", 1, 1), ("front_right", -1, 1), ("back_left", 1, -1), ("back_right", -1, -1)):
        hip = (0.09 * x, -0.05, 0.2 * z)
        parts.append(_part(f"{name}_leg", "leg", "cylinder", {"radius": 0.045, "height": 0.3},
                           (0.09 * x, -0.2, 0.2 * z), joint=hip, color=limb))
    tail_angle = math.radians(_u(rng, 30, 50))  # up and back from the rump
    root = np.array([0.0, 0.08, -0.32])
    direction = np.array([0.0, math.sin(tail_angle), -math.cos(tail_angle)])
    # local +Y -> direction: rotate about X by -(90 deg - tail_angle)
    parts.append(_part("tail", "tail", "cylinder", {"radius": 0.03, "height": 0.22}, root + direction * 0.11,
                       (-(math.pi / 2 - tail_angle), 0, 0), joint=root, color=limb))
    return parts


def roles(obj: dict) -> set[str]:
    """Part roles an object has (``body``, ``head``, ``arm``, ``leg``, ``tail``, ...)."""
    return {p["role"] for p in obj["parts"]}


def build_object(kind: str, rng: np.random.Generator, *, pattern: str | None = None,
                 pattern_axis: int | None = None) -> dict:
    """A fresh object spec of ``kind`` with seeded sizes and colours (no placement, no motion yet).

    ``pattern`` forces the colour pattern of single primitives (figures use per-part solid colours).
    """
    if kind not in OBJECT_KINDS:
        raise ValueError(f"object kind {kind!r} is not one of {', '.join(OBJECT_KINDS)}")
    if pattern is not None and pattern not in PATTERNS:
        raise ValueError(f"pattern={pattern!r} is not one of {', '.join(PATTERNS)}")
    main = str(rng.choice(_MAIN_COLORS))
    second = str(rng.choice([c for c in _MAIN_COLORS + ("black",) if c != main]))
    if kind in PRIMITIVE_KINDS:
        parts, noun = _primitive_parts(kind, rng)
        chosen = pattern if pattern is not None else str(rng.choice(PATTERNS, p=[0.5, 0.25, 0.25]))
        axis = int(rng.integers(0, 2)) if pattern_axis is None else int(pattern_axis)
        stripes = int(rng.integers(3, 6))
        body = parts[0]
        body.update(pattern=chosen, pattern_axis=axis, stripes=stripes if chosen == "stripes" else 1)
        names = [main] if chosen == "solid" else [main, second]
        body["color_names"], body["colors"] = names, [list(PALETTE[c]) for c in names]
        color_names = names
    else:
        noun = kind
        chosen = "solid"
        limb = second if kind != "snowman" else "brown"
        parts = {"snowman": lambda: _snowman(rng, main), "robot": lambda: _robot(rng, main, limb),
                 "dog": lambda: _dog(rng, main, limb)}[kind]()
        color_names = [main]
    return {"kind": kind, "noun": noun, "color_names": color_names, "pattern": chosen, "parts": parts}


def part_colors(part: dict, local_points: np.ndarray, half_extent: np.ndarray) -> np.ndarray:
    """Per-point colours ``[n, 3]`` of a part from its pattern (points in the part's local frame)."""
    colors = np.asarray(part["colors"], dtype=np.float64)
    n = len(local_points)
    if part["pattern"] == "solid" or len(colors) == 1:
        return np.repeat(colors[:1], n, axis=0)
    if part["pattern"] == "faces":  # the face a surface point lies on: its largest relative coordinate
        rel = local_points / np.maximum(np.asarray(half_extent, dtype=np.float64), 1e-9)
        axis = np.argmax(np.abs(rel), axis=1)
        side = rel[np.arange(n), axis] > 0
        return colors[(2 * axis + side) % len(colors)]
    axis = int(part["pattern_axis"])
    u = np.clip((local_points[:, axis] + half_extent[axis]) / (2 * half_extent[axis]), 0.0, 1.0 - 1e-9)
    bands = 2 if part["pattern"] == "two-tone" else int(part["stripes"])
    idx = np.floor(u * bands).astype(np.int64) % 2
    return colors[idx]
