"""Surface sampling of the shapes world's primitives, in each primitive's local frame.

Every primitive is centred on its local origin with its main axis along local +Y
(the torus stands up: its ring lies in the XY plane and faces +Z, so the front camera sees the hole).
Sizes are in world units before the object's own scale. Sampling is uniform in surface area and
fully determined by the ``numpy.random.Generator`` passed in.

``sample(primitive, params, n, rng) -> points [n, 3]`` (float64); ``area(primitive, params)``.
"""
from __future__ import annotations

import math
from typing import Callable

import numpy as np

__all__ = ["PRIMITIVES", "sample", "area", "extent", "check_params"]

# name -> required parameters (all positive floats, world units)
PRIMITIVES: dict[str, tuple[str, ...]] = {
    "sphere": ("radius",),
    "box": ("sx", "sy", "sz"),
    "cylinder": ("radius", "height"),
    "cone": ("radius", "height"),
    "torus": ("major", "minor"),
    "capsule": ("radius", "height"),
}


def check_params(primitive: str, params: dict) -> None:
    """Raise ValueError naming the primitive or parameter when ``params`` does not fit ``primitive``."""
    if primitive not in PRIMITIVES:
        raise ValueError(f"primitive={primitive!r} is not one of {', '.join(PRIMITIVES)}")
    for key in PRIMITIVES[primitive]:
        val = params.get(key)
        if not isinstance(val, (int, float)) or not math.isfinite(val) or val <= 0:
            raise ValueError(f"{primitive} parameter {key!r} must be a positive number, got {val!r}")


def area(primitive: str, params: dict) -> float:
    """Surface area of the primitive (world units squared)."""
    check_params(primitive, params)
    p = params
    if primitive == "sphere":
        return 4 * math.pi * p["radius"] ** 2
    if primitive == "box":
        return 2 * (p["sx"] * p["sy"] + p["sy"] * p["sz"] + p["sx"] * p["sz"])
    if primitive == "cylinder":
        return 2 * math.pi * p["radius"] * p["height"] + 2 * math.pi * p["radius"] ** 2
    if primitive == "cone":
        slant = math.hypot(p["radius"], p["height"])
        return math.pi * p["radius"] * slant + math.pi * p["radius"] ** 2
    if primitive == "torus":
        return 4 * math.pi ** 2 * p["major"] * p["minor"]
    return 2 * math.pi * p["radius"] * p["height"] + 4 * math.pi * p["radius"] ** 2  # capsule


def extent(primitive: str, params: dict) -> np.ndarray:
    """Half-extents ``[3]`` of the primitive's axis-aligned bounding box in its local frame."""
    check_params(primitive, params)
    p = params
    if primitive == "sphere":
        return np.full(3, p["radius"])
    if primitive == "box":
        return np.array([p["sx"], p["sy"], p["sz"]]) / 2
    if primitive in ("cylinder", "cone"):
        return np.array([p["radius"], p["height"] / 2, p["radius"]])
    if primitive == "torus":
        r = p["major"] + p["minor"]
        return np.array([r, r, p["minor"]])
    return np.array([p["radius"], p["height"] / 2 + p["radius"], p["radius"]])  # capsule


def _unit(rng: np.random.Generator, n: int) -> np.ndarray:
    v = rng.standard_normal((n, 3))
    return v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)


def _disk(rng: np.random.Generator, n: int, radius: float) -> tuple[np.ndarray, np.ndarray]:
    r = radius * np.sqrt(rng.random(n))
    phi = rng.random(n) * 2 * math.pi
    return r * np.cos(phi), r * np.sin(phi)


def _split(rng: np.random.Generator, n: int, areas: list[float]) -> np.ndarray:
    """Which of several surface pieces each of ``n`` samples lands on (area-weighted)."""
    w = np.asarray(areas, dtype=np.float64)
    return rng.choice(len(w), size=n, p=w / w.sum())


def _sphere(rng, n, p):
    return _unit(rng, n) * p["radius"]


def _box(rng, n, p):
    size = np.array([p["sx"], p["sy"], p["sz"]])
    face_area = [size[1] * size[2], size[0] * size[2], size[0] * size[1]]
    axis = _split(rng, n, face_area)
    pts = (rng.random((n, 3)) - 0.5) * size
    sign = np.where(rng.random(n) < 0.5, -0.5, 0.5)
    pts[np.arange(n), axis] = sign * size[axis]
    return pts


def _cylinder(rng, n, p):
    r, h = p["radius"], p["height"]
    piece = _split(rng, n, [2 * math.pi * r * h, math.pi * r * r, math.pi * r * r])
    phi = rng.random(n) * 2 * math.pi
    y = (rng.random(n) - 0.5) * h
    x, z = r * np.cos(phi), r * np.sin(phi)
    dx, dz = _disk(rng, n, r)
    cap = piece > 0
    x, z = np.where(cap, dx, x), np.where(cap, dz, z)
    y = np.where(piece == 1, h / 2, np.where(piece == 2, -h / 2, y))
    return np.stack([x, y, z], 1)


def _cone(rng, n, p):
    r, h = p["radius"], p["height"]
    piece = _split(rng, n, [math.pi * r * math.hypot(r, h), math.pi * r * r])
    v = np.sqrt(rng.random(n))  # fraction of the way from apex to base (uniform in area)
    phi = rng.random(n) * 2 * math.pi
    x, z, y = r * v * np.cos(phi), r * v * np.sin(phi), h / 2 - v * h
    dx, dz = _disk(rng, n, r)
    base = piece == 1
    return np.stack([np.where(base, dx, x), np.where(base, -h / 2, y), np.where(base, dz, z)], 1)


def _torus(rng, n, p):
    big, small = p["major"], p["minor"]
    out = np.empty((0, 2))
    while len(out) < n:  # rejection sampling of the tube angle: density ~ (R + r cos theta)
        theta = rng.random(2 * n) * 2 * math.pi
        keep = rng.random(2 * n) * (big + small) < big + small * np.cos(theta)
        phi = rng.random(2 * n) * 2 * math.pi
        out = np.concatenate([out, np.stack([theta[keep], phi[keep]], 1)])
    theta, phi = out[:n, 0], out[:n, 1]
    ring = big + small * np.cos(theta)
    return np.stack([ring * np.cos(phi), ring * np.sin(phi), small * np.sin(theta)], 1)


def _capsule(rng, n, p):
    r, h = p["radius"], p["height"]
    piece = _split(rng, n, [2 * math.pi * r * h, 4 * math.pi * r * r])
    phi = rng.random(n) * 2 * math.pi
    side = np.stack([r * np.cos(phi), (rng.random(n) - 0.5) * h, r * np.sin(phi)], 1)
    ball = _unit(rng, n) * r
    ball[:, 1] += np.sign(ball[:, 1]) * h / 2
    return np.where((piece == 0)[:, None], side, ball)


_SAMPLERS: dict[str, Callable] = {"sphere": _sphere, "box": _box, "cylinder": _cylinder, "cone": _cone,
                                  "torus": _torus, "capsule": _capsule}


def sample(primitive: str, params: dict, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` points ``[n, 3]`` uniformly distributed (in area) on the primitive's surface."""
    check_params(primitive, params)
    if n < 1:
        raise ValueError(f"need at least 1 sample point, got n={n}")
    return _SAMPLERS[primitive](rng, int(n), params).astype(np.float64)
