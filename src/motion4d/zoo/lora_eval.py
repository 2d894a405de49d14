"""Do motion4d's LoRAs transfer on a shapes-world text-to-video model? (``benchmarks/lora_transfer.py``)

**Motion.** A reference is a dev-split shapes-world clip of one object moving to the left or right (front view over
white). A temporal LoRA is trained on it alone with ``train-motion``'s ``single_video`` preset (MotionDirector's
dual path; the spatial LoRA it also trains is off when sampling), once per *variant* (``lora.*`` overrides, e.g.
``temporal_convs``). Samples for a *transfer prompt* (another colour and another object, the reference's verb, or
"standing still" with ``verb="still"``) are drawn for K seeds from the base model and from each LoRA, at each
noise prior (0 = pure noise; p > 0 mixes in the reference's DDIM inversion made by the model being sampled, as
``generate-video`` does). Motion is the foreground-mask centroid velocity in pixels per frame
(:func:`motion4d.zoo.judge.centroid_velocity`); per sample:

* ``velocity_err``: distance between the sample's and the reference's velocities (a sample without an object
  counts as still);
* ``direction``: the sample moves horizontally the reference's way, by at least ``MIN_SHIFT`` px over the clip;
* ``colour``: its main colour (:func:`motion4d.zoo.judge.clip_colour`), to see whether the motion LoRA also
  carries the reference's appearance (``colour_leak``) or keeps the prompt's (``prompt_colour``).

**Appearance.** A reference is 4 images of one dev-split object (front view + 3 orbit views, random times); a
spatial LoRA is trained on them with the ``multi_images`` preset; samples for the object's caption with *another
colour* are judged by their main colour: ``lora_colour`` is the fraction that take the reference's colour.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

__all__ = ["MotionReference", "motion_references", "appearance_references", "transfer_prompt", "train_adapter",
           "sample_clips", "score_motion", "summarize_motion", "score_colour", "PRIMITIVE_NOUNS",
           "SUMMARY_KEYS"]

#: nouns of the primitive objects (one per kind), the transfer prompts' objects
PRIMITIVE_NOUNS = {"sphere": "ball", "box": "cube", "cylinder": "cylinder", "cone": "cone", "torus": "ring",
                   "capsule": "capsule"}


@dataclass
class MotionReference:
    """A reference clip ``clip`` [F, H, W, 3] float in [0, 1] over white, its caption facts
    (:func:`motion4d.zoo.data.object_facts` + ``seed``) and its centroid ``velocity`` (px/frame)."""

    clip: np.ndarray
    facts: dict
    velocity: tuple[float, float]


def motion_references(n: int, *, size: int = 64, frames: int = 8, split: str = "dev", start: int = 0,
                      min_speed: float = 0.75, cache_dir=None, show_progress: bool = False) -> list[MotionReference]:
    """``n`` one-object clips of ``split`` moving to the left or right at >= ``min_speed`` px/frame (measured), in
    scene order from ``start``, alternating right and left while both are available."""
    from motion4d.zoo.data import ClipSpec, render_clips, to_rgb
    from motion4d.zoo.judge import centroid_velocity

    if n < 1:
        raise ValueError(f"the number of motion references must be >= 1, got {n}")
    found: dict[str, list[MotionReference]] = {"right": [], "left": []}
    pos = start
    while min(len(v) for v in found.values()) < n and pos < start + 64 * n:
        rgba, metas = render_clips(split, 8, ClipSpec(size=size, frames=frames, motions="translate"), start=pos,
                                   cache_dir=cache_dir, show_progress=show_progress)
        pos += 8
        for clip, meta in zip(to_rgb(rgba).movedim(-3, -1), metas):
            if meta["direction"] not in found or meta["kind"] not in PRIMITIVE_NOUNS:
                continue
            v = centroid_velocity(clip)
            if v is not None and abs(v[0]) >= min_speed and (v[0] > 0) == (meta["direction"] == "right"):
                found[meta["direction"]].append(MotionReference(clip.numpy(), meta, v))
    pairs = [r for pair in zip(found["right"], found["left"]) for r in pair]
    rest = found["right"][len(pairs) // 2:] + found["left"][len(pairs) // 2:]
    refs = (pairs + rest)[:n]
    if len(refs) < n:
        raise ValueError(f"found only {len(refs)} {split} clips moving left/right at >= {min_speed} px/frame in "
                         f"scenes {start}..{pos - 1}; lower min_speed or ask for fewer references")
    return refs


def appearance_references(n: int, *, size: int = 64, images: int = 4, split: str = "dev", start: int = 0,
                          cache_dir=None, show_progress: bool = False) -> list[tuple[np.ndarray, dict]]:
    """``n`` one-object solid-colour primitives of ``split``: ``(images [images, H, W, 3] float over white,
    facts)``; the front view first, then orbit views at random times."""
    from motion4d.zoo.data import StillSpec, render_stills, to_rgb

    out, pos = [], start
    while len(out) < n and pos < start + 32 * n:
        rgba, metas = render_stills(split, 8, StillSpec(size=size, per_scene=images, views="orbit", num_objects=1),
                                    start=pos, cache_dir=cache_dir, show_progress=show_progress)
        pos += 8
        rgb = to_rgb(rgba).movedim(-3, -1).numpy()
        for k in range(0, len(metas), images):
            meta = metas[k]
            if meta["pattern"] == "solid" and meta["kind"] in PRIMITIVE_NOUNS and len(out) < n:
                out.append((rgb[k:k + images], meta))
    if len(out) < n:
        raise ValueError(f"found only {len(out)} solid-colour one-object {split} scenes in {start}..{pos - 1}")
    return out


def transfer_prompt(facts: dict, index: int, *, verb: str = "same", kind: str = "other") -> str:
    """A grammar caption for the reference ``facts`` with another colour (the ``index``-th of
    :data:`motion4d.zoo.clip.MAIN_COLORS` that the reference's caption does not name), another object
    (``kind="other"``: the ``index``-th other primitive) or the same noun (``kind="same"``), and the reference's verb
    (``verb="same"``) or ``"standing still"`` (``verb="still"``). Checked with :func:`motion4d.world.parse_caption`."""
    from motion4d.world import parse_caption
    from motion4d.world.grammar import VERBS
    from motion4d.zoo.clip import MAIN_COLORS

    if verb not in ("same", "still") or kind not in ("same", "other"):
        raise ValueError(f"verb must be 'same' or 'still' and kind 'same' or 'other', got {verb!r}, {kind!r}")
    parsed = parse_caption(facts["caption"])["objects"][0]
    colours = [c for c in MAIN_COLORS if c not in parsed["colors"]]
    colour = colours[index % len(colours)]
    if kind == "same":
        noun = facts["noun"]
    else:
        nouns = [v for k, v in PRIMITIVE_NOUNS.items() if k != facts["kind"]]
        noun = nouns[index % len(nouns)]
    words = parsed["verb"] if verb == "same" else next(v for v, (m, _) in VERBS.items() if m is None)
    text = f"{colour} {noun} {words}"
    prompt = ("an " if text[0] in "aeiou" else "a ") + text
    got = parse_caption(prompt)["objects"][0]
    if got["colors"][0] in parsed["colors"] or (kind == "other" and got["kind"] == facts["kind"]):
        raise AssertionError(f"transfer prompt {prompt!r} does not differ from {facts['caption']!r}")
    return prompt


def train_adapter(backbone, media: list[Path], caption: str, out: Path, *, presets: list[str], size: int,
                  frames: int, overrides: list[str] = (), seed: int = 0, show_progress: bool = False):
    """``train_motion`` on ``media`` (a reference video, or a folder of images) with ``presets`` (``single_video``,
    ``multi_images``) at ``size`` x ``size`` x ``frames``, no validation videos, no gradient checkpointing; then
    ``overrides`` (``key=value`` strings as on the command line, e.g. ``lora.temporal_convs=true``). Returns the
    TrainResult (the adapters stay in ``backbone.denoiser`` as ``spatial``/``temporal``)."""
    from motion4d.config import load_config
    from motion4d.video.config import TrainMotionConfig
    from motion4d.video.train import train_motion

    data = {"output_dir": str(out), "seed": seed, "gradient_checkpointing": False, "validation": {"every": -1},
            "data": {"paths": [str(m) for m in media], "caption": caption, "num_frames": frames, "width": size,
                     "height": size, "clips_per_video": 1}}
    cfg = load_config(TrainMotionConfig, preset=[("motion", p) for p in presets], data=data,
                      overrides=list(overrides))
    return train_motion(cfg, backbone=backbone, show_progress=show_progress)


@torch.no_grad()
def sample_clips(backbone, prompt: str, seeds: list[int], *, frames: int, size: int, steps: int, guidance: float,
                 noise_prior: float = 0.0, reference: torch.Tensor | None = None) -> torch.Tensor:
    """One clip per seed for ``prompt`` from the backbone as it is (adapters included): frames
    [K, F, H, W, 3]. ``noise_prior`` p > 0 needs ``reference`` latents [1, C, F, h, w], DDIM-inverted (empty
    prompt, ``steps`` steps) by the current model."""
    from motion4d.video.inversion import ddim_invert, mix_noise_prior
    from motion4d.video.sampling import initial_noise, sample_video

    shape = backbone.latent_shape(1, frames, size, size)
    noise = torch.cat([initial_noise(shape, s) for s in seeds])
    if noise_prior > 0:
        if reference is None:
            raise ValueError("noise_prior > 0 needs the reference latents")
        inv = ddim_invert(backbone, reference.to(backbone.device, backbone.dtype), backbone.encode_prompt(""),
                          steps=steps, show_progress=False)
        noise = mix_noise_prior(inv.float().cpu(), noise, noise_prior)
    out = sample_video(backbone, [prompt] * len(seeds), num_frames=frames, width=size, height=size, steps=steps,
                       guidance=guidance, latents=noise, show_progress=False)
    return out.frames


def score_motion(frames: torch.Tensor, ref_velocity, ref_colour: str, prompt_colour: str, *,
                 background: str = "white") -> list[dict]:
    """One row per clip of ``frames`` [K, F, H, W, 3] against a reference moving at ``ref_velocity`` (px/frame)
    with main colour ``ref_colour``: ``velocity`` (px/frame; (0, 0) without an object), ``present``,
    ``velocity_err``, ``vx_along`` (horizontal velocity in the reference's direction: > 0 the right way),
    ``direction``, ``colour``, ``colour_leak`` (= the reference's colour), ``prompt_colour`` (= the prompt's).
    ``background``: the object masks' background (``white``, or ``border``: each frame's border colour, for models
    whose background is off-white; :func:`motion4d.zoo.judge.object_masks`)."""
    from motion4d.zoo.judge import MIN_SHIFT, centroid_velocity, clip_colour, object_masks

    rv = np.asarray(ref_velocity, dtype=float)
    rows = []
    for clip in frames:
        v = centroid_velocity(clip, background)
        vel = np.zeros(2) if v is None else np.asarray(v)
        along = float(vel[0] * np.sign(rv[0]))
        colour = clip_colour(clip, object_masks(clip, background))
        rows.append({"velocity": [round(float(x), 3) for x in vel], "present": v is not None,
                     "velocity_err": float(np.linalg.norm(vel - rv)), "vx_along": along,
                     "direction": bool(along * (clip.shape[0] - 1) >= MIN_SHIFT), "colour": colour,
                     "colour_leak": colour == ref_colour, "prompt_colour": colour == prompt_colour})
    return rows


SUMMARY_KEYS = ("velocity_err", "vx_along", "direction", "present", "colour_leak", "prompt_colour")


def summarize_motion(rows: list[dict]) -> dict:
    """Means over :func:`score_motion` rows (any references) of :data:`SUMMARY_KEYS`, plus ``speed`` and ``n``."""
    out = {k: float(np.mean([float(r[k]) for r in rows])) for k in SUMMARY_KEYS}
    return {**out, "speed": float(np.mean([np.hypot(*r["velocity"]) for r in rows])), "n": len(rows)}


def score_colour(frames: torch.Tensor, ref_colour: str, prompt_colour: str, *, background: str = "white") -> dict:
    """Fractions of clips ``frames`` [K, F, H, W, 3] whose main colour (over their object masks against
    ``background``, as in :func:`score_motion`) is the reference's / the prompt's."""
    from motion4d.zoo.judge import clip_colour, object_masks

    colours = [clip_colour(c, object_masks(c, background)) for c in frames]
    return {"ref_colour": float(np.mean([c == ref_colour for c in colours])),
            "prompt_colour": float(np.mean([c == prompt_colour for c in colours])), "colours": colours}
