"""The shapes world: procedural 4D scenes with exact ground truth.

Seeded scenes of 1-3 coloured objects (primitives and multi-part figures) made of 3D Gaussians, each
with a motion program (translate, bounce, jump, spin, orbit, pulse, wobble, wave, walk), a caption
from a small grammar (read back by :func:`parse_caption`; :func:`scene_from_caption` builds a scene a caption
describes), and a dataset writer that renders a reference video and ground-truth novel
views for every frame. Used as test data, benchmark data and training data for tiny models.

>>> from motion4d.world import make_scene, write_scene
>>> scene = make_scene(7)                       # doctest: +SKIP
>>> write_scene(scene, "scenes/seed7")           # doctest: +SKIP
"""
from motion4d.world.captions import caption_from_description, describe
from motion4d.world.from_caption import scene_from_caption
from motion4d.world.grammar import CaptionParseError, parse_caption
from motion4d.world.dataset import composite, read_rgba, scene_cameras, view_name, write_scene
from motion4d.world.motions import LARGE_MOTIONS, MOTION_KINDS, compatible_motions
from motion4d.world.objects import OBJECT_KINDS, PALETTE
from motion4d.world.options import SceneOptions
from motion4d.world.scene import FrozenScene, WorldScene, make_scene
from motion4d.world.suite import BENCHMARK_SUITE, DEV_SPLIT, TEST_SPLIT, SceneSpec, make_suite, write_suite
from motion4d.world.variants import apply_variants

__all__ = ["WorldScene", "FrozenScene", "make_scene", "SceneOptions", "write_scene", "scene_cameras", "view_name", "read_rgba",
           "composite", "describe", "caption_from_description", "MOTION_KINDS", "OBJECT_KINDS", "LARGE_MOTIONS",
           "PALETTE", "compatible_motions", "BENCHMARK_SUITE", "DEV_SPLIT", "TEST_SPLIT", "apply_variants", "SceneSpec", "make_suite", "write_suite",
           "parse_caption", "CaptionParseError", "scene_from_caption"]
