"""Scene suites: the fixed benchmark suite and random samples, written as folders of scene folders.

A suite folder holds one scene folder per spec (named after the spec) and ``suite.json``::

    {"suite": "benchmark", "scenes": [{"name", "seed", "objects", "motions", "large_motion",
                                       "caption", "path"}, ...]}

Writing resumes: a scene folder whose ``scene.json`` already equals the spec's scene is kept.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from motion4d.utils.io import write_json
from motion4d.world.motions import LARGE_MOTIONS

__all__ = ["SceneSpec", "BENCHMARK_SUITE", "DEV_SPLIT", "TEST_SPLIT", "SUITES", "random_suite", "make_suite", "write_suite"]


@dataclass(frozen=True)
class SceneSpec:
    """A reproducible scene: seed plus forced object and motion kinds (``None``: drawn from the seed), and
    optional variants (:func:`motion4d.world.variants.apply_variants`): ``faces`` colours each face of a
    box differently, ``spin = (x, y, z, degrees)`` sets every spin's axis and angle."""

    name: str
    seed: int
    objects: tuple[str, ...] | None = None
    motions: tuple[str, ...] | None = None
    faces: bool = False
    spin: tuple[float, float, float, float] | None = None

    @property
    def large_motion(self) -> bool:
        """True when an object's centre travels far across the view (translate, jump, orbit, walk)."""
        return any(m in LARGE_MOTIONS for m in (self.motions or ()))

    def make(self, **kwargs):
        """The :class:`~motion4d.world.WorldScene` (``kwargs`` go to :func:`~motion4d.world.make_scene`)."""
        from motion4d.world.scene import make_scene
        from motion4d.world.variants import apply_variants

        scene = make_scene(self.seed, objects=list(self.objects) if self.objects else None,
                           motions=list(self.motions) if self.motions else None, **kwargs)
        return apply_variants(scene, faces=self.faces, spin=self.spin)


def _one(name, seed, obj, motion):
    return SceneSpec(name, seed, (obj,), (motion,))


# Fixed forever (benchmarks compare against it): every object kind and every motion kind at least once.
BENCHMARK_SUITE: tuple[SceneSpec, ...] = (
    _one("sphere-bounce", 101, "sphere", "bounce"),
    _one("cube-spin", 102, "box", "spin"),
    _one("cylinder-wobble", 103, "cylinder", "wobble"),
    _one("cone-jump", 104, "cone", "jump"),
    _one("torus-orbit", 105, "torus", "orbit"),
    _one("capsule-pulse", 106, "capsule", "pulse"),
    _one("snowman-wave", 107, "snowman", "wave"),
    _one("robot-walk", 108, "robot", "walk"),
    _one("dog-walk", 109, "dog", "walk"),
    _one("box-translate", 110, "box", "translate"),
    SceneSpec("duo", 111, ("sphere", "cone"), ("translate", "spin")),
    SceneSpec("trio", 112, ("box", "torus", "snowman"), ("bounce", "wobble", "wave")),
)


def _split(seed0: int) -> tuple[SceneSpec, ...]:
    """The harder recipes (textured rotations, several independent motions) at seeds ``seed0 + i``."""
    return (
        SceneSpec("facebox-spin90", seed0, ("box",), ("spin",), faces=True, spin=(0.0, 1.0, 0.0, 90.0)),
        SceneSpec("facebox-spin120-ball", seed0 + 1, ("box", "sphere"), ("spin", "translate"), faces=True,
                  spin=(0.0, 1.0, 0.0, 120.0)),
        SceneSpec("facebox-tumble", seed0 + 2, ("box",), ("spin",), faces=True, spin=(1.0, 0.0, 0.0, 90.0)),
        SceneSpec("torus-orbit", seed0 + 3, ("torus",), ("orbit",)),
        SceneSpec("spin-and-jump", seed0 + 4, ("box", "cone"), ("spin", "jump"), faces=True),
        SceneSpec("trio-mixed", seed0 + 5, None, ("spin", "translate", "bounce"), faces=True),
    )


# Dev split: for tuning. Test split: the same recipes at other seeds, for reporting only (never tune on it).
DEV_SPLIT: tuple[SceneSpec, ...] = _split(201)
TEST_SPLIT: tuple[SceneSpec, ...] = _split(301)
SUITES = {"benchmark": BENCHMARK_SUITE, "dev": DEV_SPLIT, "test": TEST_SPLIT}


def random_suite(n: int, seed_start: int = 0) -> list[SceneSpec]:
    """``n`` scenes with consecutive seeds, everything drawn from each seed."""
    if n < 1:
        raise ValueError(f"a suite needs at least 1 scene, got n={n}")
    return [SceneSpec(f"seed{s:05d}", s) for s in range(seed_start, seed_start + n)]


def make_suite(name: str) -> list[SceneSpec]:
    """A named suite's specs (``benchmark``, ``dev``, ``test``)."""
    if name not in SUITES:
        raise ValueError(f"unknown suite {name!r}; available: {', '.join(SUITES)}")
    return list(SUITES[name])


def _complete(path: Path, scene, views: bool = True, gaussians: bool = True, video: bool = True,
              **_) -> bool:
    """True when ``path`` already holds ``scene`` written with the same options (so it can be kept)."""
    from motion4d.world.dataset import scene_cameras

    try:
        if json.loads((path / "scene.json").read_text()) != scene.to_dict():
            return False
        names = [c["name"] for c in json.loads((path / "cameras.json").read_text())["cameras"]]
    except (OSError, ValueError, KeyError):
        return False
    expected = scene_cameras(scene).names if views else ["ref"]
    last = f"{scene.num_frames - 1:03d}"
    return (names == expected and (path / "reference" / f"{last}.png").is_file()
            and (path / "gaussians").is_dir() == gaussians and (path / "reference.mp4").is_file() == video)


def write_suite(specs: Sequence[SceneSpec], out_dir: str | Path, *, suite_name: str = "custom",
                overwrite: bool = False, on_scene=None, **kwargs) -> Path:
    """Make and render every spec into ``out_dir/<spec.name>``; write ``out_dir/suite.json``.

    ``kwargs`` go to :func:`~motion4d.world.make_scene` (``num_frames``, ``size``, ...) except
    ``views``, ``gaussians``, ``video``, ``device``, which go to :func:`~motion4d.world.write_scene`.
    ``on_scene(spec, path, skipped)`` is called after each scene.
    """
    from motion4d.world.dataset import write_scene

    write_keys = {k: kwargs.pop(k) for k in ("views", "gaussians", "video", "device", "show_progress")
                  if k in kwargs}
    names = [s.name for s in specs]
    if len(set(names)) != len(names):
        raise ValueError(f"scene names in a suite must be unique, got {names}")
    out_dir = Path(out_dir)
    entries = []
    for spec in specs:
        scene = spec.make(**kwargs)
        path = out_dir / spec.name
        skipped = not overwrite and _complete(path, scene, **write_keys)
        if not skipped:
            write_scene(scene, path, **write_keys)
        if on_scene is not None:
            on_scene(spec, path, skipped)
        entries.append({"name": spec.name, "seed": spec.seed, "objects": [o["kind"] for o in scene.objects],
                        "motions": [m["kind"] for o in scene.objects for m in o["motions"]],
                        "large_motion": any(m["kind"] in LARGE_MOTIONS for o in scene.objects for m in o["motions"]),
                        "caption": scene.caption, "path": spec.name})
    write_json(out_dir / "suite.json", {"suite": suite_name, "scenes": entries})
    return out_dir
