"""Scoring generated clips against the facts of their prompts (tiny-t2v's quality table).

Clips are ``[N, F, H, W, 3]`` float in [0, 1] over a white background. Per clip:

- foreground mask: pixels whose largest channel difference from white exceeds ``FG_THRESHOLD``;
- *present*: the mask covers between ``MIN_AREA`` and ``MAX_AREA`` of the image in at least half of the frames
  (noise everywhere is not an object);
- *colour*: the majority, over all foreground pixels, of the nearest main colour of the palette;
- *kind*: tiny-clip's zero-shot choice among the nouns for ``"a <true colour> <noun>"`` on the middle frame;
- *direction* (only "moving to the left/right" prompts): the sign of the mask centroid's x shift from the first to
  the last frame (at least ``MIN_SHIFT`` pixels, else wrong).

tiny-svd's keep/move figure is :func:`judge_image_to_video`.
:func:`centroid_velocity` is the LoRA-transfer benchmark's motion measure: the least-squares slope of the mask
centroid over the frames that show an object, in pixels per frame (x right, y down).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["FG_THRESHOLD", "MIN_AREA", "MAX_AREA", "MIN_SHIFT", "KEEP_IOU", "MOVE_PX", "MOVE_IOU", "foreground",
           "border_background", "clip_colour", "object_masks", "centroid_velocity", "judge_clips",
           "judge_image_to_video"]

FG_THRESHOLD, MIN_AREA, MAX_AREA, MIN_SHIFT = 0.15, 0.004, 0.5, 0.5
KEEP_IOU, MOVE_PX, MOVE_IOU = 0.6, 1.0, 0.8


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


def _centroid(mask: torch.Tensor) -> torch.Tensor:
    """``[F, 2]`` (y, x) mask centroids of ``[F, H, W]`` masks (NaN for an empty mask)."""
    yy, xx = torch.meshgrid(torch.arange(mask.shape[-2]), torch.arange(mask.shape[-1]), indexing="ij")
    m = mask.float()
    area = m.sum((-1, -2))
    return torch.stack([(m * yy).sum((-1, -2)), (m * xx).sum((-1, -2))], -1) / area[:, None]


@torch.no_grad()
def judge_image_to_video(clips: torch.Tensor, inputs: torch.Tensor) -> dict:
    """tiny-svd's figure for clips ``[N, F, H, W, 3]`` made from ``inputs`` ``[N, H, W, 3]`` (float [0, 1], white
    background). Per clip:

    - *keeps* the object: it is present in every frame (mask area in ``[MIN_AREA, MAX_AREA]``), its majority colour
      (:func:`clip_colour` over all frames) is the input's (:func:`clip_colour` of the input), and frame 0's mask has
      IoU >= ``KEEP_IOU`` with the input's mask;
    - *moves* it: some frame's mask centroid is at least ``MOVE_PX`` pixels from frame 0's, or some frame's mask has
      IoU <= ``MOVE_IOU`` with frame 0's (shape change: pulse, wobble, spin of a non-round object);
    - ``keep_and_move``: both (the issue's figure).

    Returns the fractions (``keep``, ``move``, ``keep_and_move``, ``colour_acc``, ``present_all``) and means
    (``iou0``, ``max_shift_px``) over clips, and ``clips``."""
    from motion4d.metrics.image import mask_iou

    clips, inputs = clips.float().cpu(), inputs.float().cpu()
    masks, m_in = foreground(clips), foreground(inputs)
    area = masks.float().mean((-1, -2))
    present = ((area >= MIN_AREA) & (area <= MAX_AREA)).all(1)
    colour = torch.tensor([clip_colour(c, m) == clip_colour(x[None], mx[None]) for c, m, x, mx
                           in zip(clips, masks, inputs, m_in)])
    iou0 = mask_iou(masks[:, 0].float(), m_in.float()).float().view(-1)
    keep = present & colour & (iou0 >= KEEP_IOU)
    shift, shape_iou = [], []
    for m in masks:
        c = _centroid(m)
        d = (c - c[:1]).norm(dim=-1)
        shift.append(float(torch.nan_to_num(d, nan=0.0).max()))
        shape_iou.append(float(mask_iou(m.float(), m[:1].expand_as(m).float()).float().view(-1).min()))
    shift_t, shape_t = torch.tensor(shift), torch.tensor(shape_iou)
    move = (shift_t >= MOVE_PX) | (shape_t <= MOVE_IOU)
    f = lambda b: float(b.float().mean())  # noqa: E731
    return {"clips": len(clips), "keep_and_move": f(keep & move), "keep": f(keep), "move": f(move),
            "colour_acc": f(colour), "present_all": f(present), "iou0": float(iou0.mean()),
            "max_shift_px": float(shift_t.mean())}
