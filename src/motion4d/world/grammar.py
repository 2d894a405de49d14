"""Reading captions back: :func:`parse_caption` turns a sentence of the caption grammar
(:mod:`motion4d.world.captions`) into the structured description it came from.

Accepted text: what :func:`~motion4d.world.caption_from_description` writes, read case-insensitively, with any
whitespace, a final full stop, and either article (``a``/``an``). The result has the layout of
:func:`~motion4d.world.describe`'s output, with the fields a caption carries::

    {"num_objects": n, "objects": [{"noun", "kind", "colors", "pattern", "motion": [kind, ...], "verb",
                                    "direction": [...]}, ...]}

``direction`` lists what the verbs say (``left``, ``right``, ``towards the camera``, ``away``); the turning
sense of a spin or an orbit is not in a caption, so it is never there. A ``faces`` box (a colour per face) is
captioned with its first colour only, so it reads back as a solid one. For every scene ``s`` of the world,
``caption_from_description(parse_caption(s.caption)) == s.caption`` (tested over many seeds).

Any other text raises :class:`CaptionParseError` (a ``ValueError``) naming the first word that does not fit.
"""
from __future__ import annotations

import re

from motion4d.world.objects import PALETTE

__all__ = ["CaptionParseError", "parse_caption", "NOUN_KINDS", "VERBS", "normalize_caption"]

#: Caption nouns -> object kinds.
NOUN_KINDS = {"ball": "sphere", "cube": "box", "box": "box", "cylinder": "cylinder", "cone": "cone",
              "ring": "torus", "capsule": "capsule", "snowman": "snowman", "robot": "robot", "dog": "dog"}
_DIRECTIONS = ("left", "right", "towards the camera", "away")
#: Verb phrases -> (motion kind or None for "standing still", direction or None).
VERBS: dict[str, tuple[str | None, str | None]] = {
    **{("moving " + ("to the " + d if d in ("left", "right") else d)): ("translate", d) for d in _DIRECTIONS},
    **{f"jumping to the {d}": ("jump", d) for d in ("left", "right")},      # jumps go sideways
    "bouncing": ("bounce", None), "spinning": ("spin", None), "tumbling": ("spin", None),
    "circling around": ("orbit", None), "pulsing": ("pulse", None), "wobbling": ("wobble", None),
    "waving its arm": ("wave", None), "wagging its tail": ("wave", None), "walking": ("walk", None),
    "standing still": (None, None),
}
_VERB_WORDS = sorted(((v.split(), v) for v in VERBS), key=lambda x: -len(x[0]))   # longest match first


class CaptionParseError(ValueError):
    """The text is not a sentence of the shapes world's caption grammar."""


def normalize_caption(text: str) -> str:
    """Lower case, single spaces, no final full stop, ``", "`` before a comma's next word."""
    if not isinstance(text, str):
        raise CaptionParseError(f"a caption must be a string, got {type(text).__name__}")
    t = re.sub(r"\s*,\s*", ", ", text.strip().lower())
    return re.sub(r"\s+", " ", t).rstrip(". ").strip()


class _Reader:
    def __init__(self, words: list[str], text: str):
        self.words, self.i, self.text = words, 0, text

    def peek(self, k: int = 0) -> str | None:
        return self.words[self.i + k] if self.i + k < len(self.words) else None

    def take(self, allowed, what: str) -> str:
        w = self.peek()
        if w is None or w not in allowed:
            raise self.error(f"expected {what}")
        self.i += 1
        return w

    def error(self, what: str) -> CaptionParseError:
        got = f"{self.peek()!r} (word {self.i + 1})" if self.peek() is not None else "the end of the text"
        return CaptionParseError(f"{self.text!r} is not a caption of the shapes world's grammar: {what}, got {got}; "
                                 f"captions read like \"a red ball bouncing\" or \"a blue and yellow cube moving to "
                                 f"the left and a green dog walking\"")


def _phrase(r: _Reader) -> dict:
    r.take(("a", "an"), "'a' or 'an'")
    colors = [r.take(PALETTE, f"a colour ({', '.join(PALETTE)})")]
    pattern = "solid"
    if r.peek() == "and" and r.peek(1) in PALETTE:
        r.i += 1
        colors.append(r.take(PALETTE, "a colour"))
        pattern = "two-tone"
    noun = r.take(NOUN_KINDS, f"a noun ({', '.join(NOUN_KINDS)})")
    if r.peek() == "with":
        r.i += 1
        colors.append(r.take(PALETTE, "the stripes' colour"))
        r.take(("stripes",), "'stripes'")
        if pattern != "solid":
            raise r.error("a two-tone object cannot also have stripes")
        pattern = "stripes"
    verbs, kinds, dirs = [], [], []
    while True:
        for words, verb in _VERB_WORDS:
            if r.words[r.i:r.i + len(words)] == words:
                break
        else:
            raise r.error(f"expected a verb phrase ({', '.join(VERBS)})")
        r.i += len(words)
        kind, d = VERBS[verb]
        verbs.append(verb)
        if kind is not None:
            kinds.append(kind)
        if d is not None:
            dirs.append(d)
        # " and " continues the verbs unless a new object phrase ("and a ...") follows
        if r.peek() == "and" and r.peek(1) not in ("a", "an", None):
            r.i += 1
            continue
        break
    if "standing still" in verbs and len(verbs) > 1:
        raise CaptionParseError(f"{r.text!r}: 'standing still' cannot be combined with another verb")
    return {"noun": noun, "kind": NOUN_KINDS[noun], "colors": colors, "pattern": pattern, "motion": kinds,
            "verb": " and ".join(verbs), "direction": dirs}


def parse_caption(text: str) -> dict:
    """The description of a caption (see the module docstring); raises :class:`CaptionParseError`."""
    norm = normalize_caption(text)
    if not norm:
        raise CaptionParseError("the caption is empty")
    r = _Reader(norm.replace(",", " ,").split(), text)
    objects = [_phrase(r)]
    separators = []
    while r.peek() is not None:
        sep = r.take((",", "and"), "',' or 'and' before the next object, or the end of the caption")
        separators.append(sep)
        if sep == "," and r.peek() == "and":       # tolerate an Oxford comma
            r.i += 1
        objects.append(_phrase(r))
    if len(objects) > 3:
        raise CaptionParseError(f"{text!r} describes {len(objects)} objects; the shapes world holds at most 3")
    return {"num_objects": len(objects), "objects": objects}
