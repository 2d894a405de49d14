"""Captions from a small grammar, and the structured description they are generated from.

Grammar::

    caption  := phrase | phrase " and " phrase | phrase ", " phrase " and " phrase
    phrase   := "a " appearance " " noun " " verb
    appearance := colour | colour " and " colour            (two-tone)
                | colour " striped"                         (stripes; "with <colour2> stripes" follows the noun)
    verb     := "moving to the left" | "bouncing" | "spinning" | "waving its arm" | "walking" | ...

The description (``describe``) holds, per object, the same facts as fields (noun, kind, colours,
pattern, motion kind, verb phrase, direction), so a caption can be checked against the scene.
"""
from __future__ import annotations

__all__ = ["motion_phrase", "object_phrase", "describe", "caption_from_description"]


def _direction(vec) -> str | None:
    x, _, z = vec
    if abs(x) >= abs(z):
        return "right" if x > 0 else "left"  # +X is on the right of the front (reference) view
    return "towards the camera" if z > 0 else "away"


def motion_phrase(program: dict, obj: dict) -> tuple[str, str | None]:
    """``(verb phrase, direction or None)`` for one motion program of ``obj``."""
    kind = program["kind"]
    if kind == "translate":
        d = _direction(program["displacement"])
        return ("moving " + ("to the " + d if d in ("left", "right") else d)), d
    if kind == "bounce":
        return "bouncing", None
    if kind == "jump":
        d = _direction(program["direction"])
        return f"jumping to the {d}", d
    if kind == "spin":
        axis = [abs(v) for v in program["axis"]]
        word = "spinning" if axis[1] >= max(axis[0], axis[2]) else "tumbling"
        d = "clockwise" if program["turns"] < 0 else "counterclockwise"  # seen from the axis tip
        return word, d
    if kind == "orbit":
        return "circling around", "clockwise" if program["turns"] < 0 else "counterclockwise"
    if kind == "pulse":
        return "pulsing", None
    if kind == "wobble":
        return "wobbling", None
    if kind == "wave":
        role = next(p["role"] for p in obj["parts"] if p["name"] == program["part"])
        return ("wagging its tail", None) if role == "tail" else ("waving its arm", None)
    if kind == "walk":
        return "walking", None
    raise ValueError(f"no caption for motion kind {kind!r}")


def object_phrase(entry: dict) -> str:
    """Caption phrase of one described object, e.g. ``"a red and blue cube bouncing"``."""
    c = entry["colors"]
    if entry["pattern"] == "two-tone":
        text = f"{c[0]} and {c[1]} {entry['noun']}"
    elif entry["pattern"] == "stripes":
        text = f"{c[0]} {entry['noun']} with {c[1]} stripes"
    else:
        text = f"{c[0]} {entry['noun']}"
    article = "an" if text[0] in "aeiou" else "a"
    return f"{article} {text} {entry['verb']}"


def describe(objects: list[dict]) -> dict:
    """Structured description of a scene's objects (see module docstring)."""
    entries = []
    for obj in objects:
        motions = obj.get("motions", [])
        verbs, dirs = [], []
        for prog in motions:
            verb, d = motion_phrase(prog, obj)
            verbs.append(verb)
            dirs.append(d)
        entries.append({"noun": obj["noun"], "kind": obj["kind"], "colors": list(obj["color_names"]),
                        "pattern": obj["pattern"], "motion": [m["kind"] for m in motions],
                        "verb": " and ".join(verbs) if verbs else "standing still",
                        "direction": [d for d in dirs if d is not None]})
    return {"num_objects": len(entries), "objects": entries}


def caption_from_description(description: dict) -> str:
    """The caption sentence for a description."""
    phrases = [object_phrase(e) for e in description["objects"]]
    if len(phrases) <= 2:
        return " and ".join(phrases)
    return ", ".join(phrases[:-1]) + " and " + phrases[-1]
