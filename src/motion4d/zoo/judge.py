"""Scoring generated clips against the facts of their prompts (tiny-t2v's quality table).

Clips are ``[N, F, H, W, 3]`` float in [0, 1] over a white background. Per clip:

- foreground mask: pixels whose largest channel difference from white exceeds ``FG_THRESHOLD``;
- *present*: the mask covers between ``MIN_AREA`` and ``MAX_AREA`` of the image in at least half of the frames
  (noise everywhere is not an object);
- *colour*: the majority, over all foreground pixels, of the nearest main colour of the palette;
- *kind*: tiny-clip's zero-shot choice among the nouns for ``"a <true colour> <noun>"`` on the middle frame;
- *direction* (only "moving to the left/right" prompts): the sign of the mask centroid's x shift from the first to
  the last frame (at least ``MIN_SHIFT`` pixels, else wrong).

:func:`centroid_velocity` is the LoRA-transfer benchmark's motion measure: the least-squares slope of the mask
centroid over the frames that show an object, in pixels per frame (x right, y down).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["FG_THRESHOLD", "MIN_AREA", "MAX_AREA", "MIN_SHIFT", "foreground", "border_background", "clip_colour",
           "object_masks", "centroid_velocity", "judge_clips"]

FG_THRESHOLD, MIN_AREA, MAX_AREA, MIN_SHIFT = 0.15, 0.004, 0.5, 0.5


def foreground(frames: torch.Tensor, background: torch.Tensor | None = None) -> torch.Tensor:
    """Boolean mask ``[..., H, W]`` of frames ``[..., H, W, 3]``: pixels whose largest channel difference from the
    background exceeds ``FG_THRESHOLD``; the background is white, or ``background`` (RGB broadcastable to
    ``[..., 1, 1, 3]``, e.g. :func:`border_background`)."""
    if background is None:
        return (1.0 - frames).amax(-1) > FG_THRESHOLD
    return (frames - background).abs().amax(-1) > FG_THRESHOLD


def border_background(frames: torch.Tensor) -> torch.Tensor:
    """Per-frame background colour ``[..., 1, 1, 3]`` of frames ``[..., H, W, 3]``: the median of the one-pixel
    border (for models whose background is not exactly white; the object must not cover most of the border)."""
    border = torch.cat([frames[..., 0, :, :], frames[..., -1, :, :], frames[..., 1:-1, 0, :], frames[..., 1:-1, -1, :]],
                       dim=-2)
    return border.median(dim=-2).values[..., None, None, :]


def clip_colour(frames: torch.Tensor, mask: torch.Tensor) -> str | None:
    """Majority nearest main colour of the masked pixels of ``frames`` ``[F, H, W, 3]`` (None without any)."""
    from motion4d.world import PALETTE
    from motion4d.zoo.clip import MAIN_COLORS

    px = frames[mask]
    if len(px) == 0:
        return None
    pal = torch.tensor([PALETTE[c] for c in MAIN_COLORS], dtype=px.dtype)
    nearest = torch.cdist(px, pal).argmin(1)
    return MAIN_COLORS[int(torch.bincount(nearest, minlength=len(pal)).argmax())]


def _centroid_x(mask: torch.Tensor) -> float | None:
    if not mask.any():
        return None
    return float(mask.nonzero()[:, 1].float().mean())


def object_masks(frames: torch.Tensor, background: str = "white") -> torch.Tensor:
    """:func:`foreground` masks ``[F, H, W]`` of a clip ``[F, H, W, 3]`` against white (``background="white"``) or
    each frame's :func:`border_background` (``"border"``)."""
    if background not in ("white", "border"):
        raise ValueError(f"background must be 'white' or 'border', got {background!r}")
    return foreground(frames, None if background == "white" else border_background(frames))


def centroid_velocity(frames: torch.Tensor, background: str = "white") -> tuple[float, float] | None:
    """Velocity ``(vx, vy)`` in pixels per frame of the object in ``frames`` ``[F, H, W, 3]`` (float in [0, 1]): the
    least-squares slope, over frame index, of the :func:`object_masks` centroid (against white, or each frame's
    border colour with ``background="border"``) in the frames whose mask covers ``MIN_AREA`` to ``MAX_AREA`` of the
    image (an object, not noise). None when fewer than two frames qualify. An object moving at a constant speed,
    fully in view, gives that speed exactly."""
    frames = torch.as_tensor(frames).float()
    if frames.ndim != 4 or frames.shape[-1] != 3:
        raise ValueError(f"frames must be [F, H, W, 3], got shape {tuple(frames.shape)}")
    masks = object_masks(frames, background)
    area = masks.float().mean((-1, -2))
    t, cx, cy = [], [], []
    for i, m in enumerate(masks):
        if MIN_AREA <= float(area[i]) <= MAX_AREA:
            yx = m.nonzero().float()
            t.append(float(i))
            cy.append(float(yx[:, 0].mean()))
            cx.append(float(yx[:, 1].mean()))
    if len(t) < 2:
        return None
    tt = np.asarray(t) - np.mean(t)
    return (float(tt @ (np.asarray(cx) - np.mean(cx)) / (tt @ tt)),
            float(tt @ (np.asarray(cy) - np.mean(cy)) / (tt @ tt)))


@torch.no_grad()
def judge_clips(frames: torch.Tensor, facts: list[dict], clip: str = "tiny-clip") -> dict:
    """Fractions ``present``, ``colour_acc``, ``kind_acc``, ``direction_acc`` (with counts) for ``frames``
    ``[N, F, H, W, 3]`` and the :func:`motion4d.zoo.data.object_facts` of their prompts."""
    from transformers import CLIPModel, CLIPTokenizer

    from motion4d.hub import resolve_pretrained
    from motion4d.zoo.clip import zero_shot

    folder = resolve_pretrained(clip)
    model, tok = CLIPModel.from_pretrained(str(folder)).eval(), CLIPTokenizer.from_pretrained(str(folder))
    frames = frames.float().cpu()
    masks = foreground(frames)
    area = masks.float().mean((-1, -2))
    present = ((area >= MIN_AREA) & (area <= MAX_AREA)).float().mean(1) >= 0.5
    colours = [clip_colour(f, m) for f, m in zip(frames, masks)]
    mid = frames[:, frames.shape[1] // 2].permute(0, 3, 1, 2)
    kinds = zero_shot(model, tok, mid, facts)["kind"]
    dirs = []
    for m, fact in zip(masks, facts):
        if fact["motion"] == "translate" and fact["direction"] in ("left", "right"):
            a, b = _centroid_x(m[0]), _centroid_x(m[-1])
            shift = 0.0 if a is None or b is None else b - a
            dirs.append(abs(shift) >= MIN_SHIFT and (shift > 0) == (fact["direction"] == "right"))
    ok_c = np.array([c == f["color"] for c, f in zip(colours, facts)])
    ok_k = np.array([k == f["kind"] for k, f in zip(kinds, facts)])
    return {"samples": len(facts), "present": float(present.float().mean()), "colour_acc": float(ok_c.mean()),
            "kind_acc": float(ok_k.mean()), "direction_acc": float(np.mean(dirs)) if dirs else float("nan"),
            "direction_samples": len(dirs)}
