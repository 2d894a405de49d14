"""A scene that a caption describes: :func:`scene_from_caption` ("a red ball bouncing" -> a :class:`WorldScene`).

The caption is read with :func:`~motion4d.world.grammar.parse_caption`; :func:`~motion4d.world.make_scene` draws
a scene with the caption's object and motion kinds from ``seed``, and the facts the caption states are then set
exactly: the colours and pattern, cube or box, the side a translate or jump goes to, spinning (vertical axis) or
tumbling (horizontal axis); a ``standing still`` object has no motion. Everything the caption does not state
(sizes, speeds, distances, placement, stripe counts, the turning sense) is what ``seed`` draws, so the scene is one
of many the caption describes. The result's caption equals the normalised input (checked; a mismatch is a bug and
raises).

Captions the world cannot build raise ``ValueError`` naming the reason: a figure (snowman, robot, dog) with two
colours or stripes, a dog waving an arm, a ball wagging a tail, walking without legs, two motions for one object.
"""
from __future__ import annotations

import copy
import math

import numpy as np

from motion4d.world.captions import caption_from_description, describe
from motion4d.world.grammar import parse_caption
from motion4d.world.objects import PALETTE, PRIMITIVE_KINDS
from motion4d.world.options import BOUND, SceneOptions

__all__ = ["scene_from_caption"]

_MAIN_ROLES = ("body", "head")        # the parts of a figure painted in its main colour


def _check(entry: dict, text: str) -> None:
    if len(entry["motion"]) > 1:
        raise ValueError(f"{text!r}: a {entry['noun']} is given {len(entry['motion'])} motions "
                         f"({entry['verb']}); the shapes world gives each object one")
    if entry["kind"] not in PRIMITIVE_KINDS and entry["pattern"] != "solid":
        raise ValueError(f"{text!r}: a {entry['noun']} has one main colour in the shapes world; two-tone and "
                         f"striped patterns are for the simple shapes (ball, cube, box, cylinder, cone, ring, capsule)")
    if entry["verb"] == "waving its arm" and entry["kind"] not in ("snowman", "robot"):
        raise ValueError(f"{text!r}: a {entry['noun']} has no arm to wave (snowmen and robots do)")
    if entry["verb"] == "wagging its tail" and entry["kind"] != "dog":
        raise ValueError(f"{text!r}: a {entry['noun']} has no tail to wag (dogs do)")
    if entry["verb"] == "walking" and entry["kind"] not in ("robot", "dog"):
        raise ValueError(f"{text!r}: a {entry['noun']} has no legs to walk on (robots and dogs do)")


def _paint(obj: dict, entry: dict) -> None:
    names = list(entry["colors"])
    if obj["kind"] in PRIMITIVE_KINDS:
        body = obj["parts"][0]
        body.update(pattern=entry["pattern"], color_names=names, colors=[list(PALETTE[c]) for c in names])
        if entry["pattern"] == "stripes" and int(body.get("stripes", 1)) < 3:
            body["stripes"] = 4
        obj["pattern"] = entry["pattern"]
    else:
        old = obj["color_names"][0]
        for part in obj["parts"]:
            if part["role"] in _MAIN_ROLES and part["color_names"][0] == old:
                part.update(color_names=[names[0]], colors=[list(PALETTE[names[0]])])
    obj["color_names"] = names


def _shape(obj: dict, noun: str) -> None:
    """A cube has equal sides, a box does not (the noun is drawn from the sides' equality)."""
    if obj["kind"] != "box":
        return
    params = obj["parts"][0]["params"]
    if noun == "cube":
        s = round((params["sx"] + params["sy"] + params["sz"]) / 3, 6)
        params.update(sx=s, sy=s, sz=s)
    elif params["sx"] == params["sy"] == params["sz"]:
        params.update(sx=0.8, sy=0.6, sz=0.5)
    obj["noun"] = noun


def _steer(obj: dict, program: dict, entry: dict) -> None:
    """Set the facts of the motion the caption states (direction, spin axis)."""
    kind = program["kind"]
    d = entry["direction"][0] if entry["direction"] else None
    if kind == "translate":
        dx, dy, dz = program["displacement"]
        length = math.sqrt(dx * dx + dz * dz) or 0.5
        if d in ("left", "right"):
            program["displacement"] = [round((1 if d == "right" else -1) * max(abs(dx), abs(dz) + 1e-3), 4), dy,
                                       dz]
        else:                                  # +Z points at the front (reference) camera
            program["displacement"] = [round(0.2 * dx, 4), dy, round((1 if d == "towards the camera" else -1)
                                                                      * length, 4)]
    elif kind == "jump":
        program["direction"] = [1.0 if d == "right" else -1.0, 0.0, 0.0]
    elif kind == "spin":
        axis = [abs(v) for v in program["axis"]]
        vertical = axis[1] >= max(axis[0], axis[2])
        want = entry["verb"] == "spinning"
        if vertical != want:
            program["axis"] = [0.0, 1.0, 0.0] if want else [1.0, 0.0, 0.0]
            if obj["kind"] in PRIMITIVE_KINDS:            # keep the bands off the new axis, so the turn shows
                new = int(np.argmax(np.abs(program["axis"])))
                body = obj["parts"][0]
                if int(body["pattern_axis"]) == new:
                    body["pattern_axis"] = next(a for a in (0, 1, 2) if a != new)


def scene_from_caption(caption: str, seed: int = 0, *, options: SceneOptions | None = None, **overrides):
    """A :class:`~motion4d.world.WorldScene` whose caption is ``caption`` (see the module docstring).

    ``options`` / ``overrides`` are :func:`~motion4d.world.make_scene`'s (clip length, size, cameras ...).
    Raises :class:`~motion4d.world.grammar.CaptionParseError` for text outside the grammar and ``ValueError``
    for a caption the world cannot build.
    """
    from motion4d.world.scene import WorldScene, make_scene

    description = parse_caption(caption)
    entries = description["objects"]
    for entry in entries:
        _check(entry, caption)
    kinds = [e["kind"] for e in entries]
    moves = [e["motion"][0] if e["motion"] else "pulse" for e in entries]   # still objects: pulse, then removed
    base = make_scene(seed, objects=kinds, motions=moves, options=options, **overrides)
    spec = copy.deepcopy(base.to_dict())
    for obj, entry in zip(spec["objects"], entries):
        _shape(obj, entry["noun"])
        _paint(obj, entry)
        if not entry["motion"]:
            obj["motions"] = []
        else:
            _steer(obj, obj["motions"][0], entry)
    spec["description"] = describe(spec["objects"])
    spec["caption"] = caption_from_description(spec["description"])
    spec["scene_scale"] = 1.0
    scene = WorldScene(spec)
    reach = scene.max_radius()
    if reach > BOUND - 0.05:
        spec["scene_scale"] = round((BOUND - 0.05) / reach, 6)
        scene = WorldScene(spec)
    wanted = caption_from_description(description)
    if scene.caption != wanted:
        raise RuntimeError(f"built a scene captioned {scene.caption!r} for {wanted!r} (a bug in scene_from_caption)")
    return scene
