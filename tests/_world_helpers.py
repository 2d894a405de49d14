"""Shared helpers for the world and metrics tests: tiny scenes that render in well under a second."""
from __future__ import annotations

import hashlib
from pathlib import Path

from motion4d.world import make_scene

TINY = dict(num_frames=3, size=32, num_points=400, elevations=[0.0], azimuths=[0.0, 90.0, 180.0])


def tiny_scene(seed: int, **kwargs):
    return make_scene(seed, **{**TINY, **kwargs})


def tree_digest(root: Path) -> dict[str, str]:
    """``{relative path: sha256}`` of every file under ``root``."""
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}
