"""Harder scene variants for the benchmark splits: boxes with a colour per face, spins of a set angle.

:func:`apply_variants` edits a made scene's spec (``scene.json`` keeps the result, so a written scene
reloads identically):

* ``faces=True``: every box body gets the ``faces`` pattern, a different palette colour on each of its
  six faces (local ``-X, +X, -Y, +Y, -Z, +Z`` in that order), so any rotation shows;
* ``spin=(x, y, z, degrees)``: every spin program turns about that axis by that angle over the clip.

The scene is rescaled (``scene_scale``) as :func:`~motion4d.world.make_scene` does when the edit moves
it beyond the world's bound.
"""
from __future__ import annotations

import copy

from motion4d.world.objects import FACE_COLORS, PALETTE
from motion4d.world.options import BOUND

__all__ = ["apply_variants"]


def apply_variants(scene, *, faces: bool = False, spin: tuple[float, float, float, float] | None = None):
    """A new :class:`~motion4d.world.WorldScene` with the edits above (``scene`` is unchanged)."""
    from motion4d.world.captions import caption_from_description, describe
    from motion4d.world.scene import WorldScene

    if not faces and spin is None:
        return scene
    spec = copy.deepcopy(scene.to_dict())
    for obj in spec["objects"]:
        if faces and obj["kind"] == "box":
            body = obj["parts"][0]
            names = list(FACE_COLORS)
            body.update(pattern="faces", pattern_axis=0, stripes=1, color_names=names,
                        colors=[list(PALETTE[c]) for c in names])
            obj["pattern"], obj["color_names"] = "faces", names[:2]
        if spin is not None:
            if len(spin) != 4 or not any(float(v) for v in spin[:3]):
                raise ValueError(f"spin must be (x, y, z, degrees) with a non-zero axis, got {spin!r}")
            for m in obj["motions"]:
                if m["kind"] == "spin":
                    m["axis"] = [float(v) for v in spin[:3]]
                    m["turns"] = round(float(spin[3]) / 360.0, 6)
    description = describe(spec["objects"])
    spec["description"], spec["caption"] = description, caption_from_description(description)
    spec["scene_scale"] = 1.0
    out = WorldScene(spec)
    reach = out.max_radius()
    if reach > BOUND - 0.05:
        spec["scene_scale"] = round((BOUND - 0.05) / reach, 6)
        out = WorldScene(spec)
    return out
