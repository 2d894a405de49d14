"""What a guidance is conditioned on (:class:`Condition`), what it wants rendered (:class:`RenderSpec`),
and the image layout it reads (:func:`to_bchw`)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

__all__ = ["Condition", "RenderSpec", "to_bchw"]


@dataclass
class Condition:
    """What a guidance is conditioned on. Fill only what the guidance ``needs``.

    Cameras use motion4d's convention (degrees; ``elevation > 0`` above the horizon, ``azimuth = 0`` on
    the +Z axis, growing towards +X; radius in world units). Each guidance converts explicitly to its
    model's own convention.

    Attributes:
        prompt: text prompt (SD, VSD, MVDream, video).
        negative_prompt: text for the unconditional branch ("" = empty prompt).
        image: reference image(s) for Zero123, ``[H, W, 3|4]``, ``[3|4, H, W]`` or batched with a
            leading dimension of 1 or B (one reference per render, e.g. the video frame at that time),
            float in [0, 1]. RGBA is composited on white.
        elevation, azimuth, radius: cameras of the B renders (scalars or ``[B]``).
        ref_elevation, ref_azimuth, ref_radius: camera of the reference image (default: elevation 0,
            azimuth 0, the renders' radius).
        cameras: :class:`motion4d.camera.Cameras` of the renders; MVDream reads their poses. When given,
            missing ``elevation``/``azimuth``/``radius`` are taken from their orbit metadata.
    """

    prompt: str | None = None
    negative_prompt: str = ""
    image: torch.Tensor | None = None
    elevation: Any = None
    azimuth: Any = None
    radius: Any = None
    ref_elevation: float = 0.0
    ref_azimuth: float = 0.0
    ref_radius: float | None = None
    cameras: Any = None

    @classmethod
    def relative(cls, image: torch.Tensor, d_elevation: Any, d_azimuth: Any, d_radius: Any = 0.0,
                 ref_elevation: float = 0.0, **kw) -> "Condition":
        """A reference image plus camera *deltas* (target minus reference, motion4d convention)."""
        d_el, d_az, d_r = (torch.as_tensor(v, dtype=torch.float32).reshape(-1) for v in
                           (d_elevation, d_azimuth, d_radius))
        return cls(image=image, elevation=ref_elevation + d_el, azimuth=d_az, radius=1.0 + d_r,
                   ref_elevation=ref_elevation, ref_azimuth=0.0, ref_radius=1.0, **kw)

    def camera_params(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(elevation, azimuth, radius)`` of the renders as float32 ``[batch]`` tensors."""
        vals = []
        for key in ("elevation", "azimuth", "radius"):
            v = getattr(self, key)
            if v is None and self.cameras is not None:
                v = getattr(self.cameras, key)
            if v is None:
                raise ValueError(f"condition lacks the render cameras' {key}: pass Condition({key}=...) or "
                                 f"cameras=Cameras.orbit(...)")
            t = torch.as_tensor(v, dtype=torch.float32).detach().cpu().reshape(-1)
            if len(t) == 1:
                t = t.expand(batch)
            if len(t) != batch:
                raise ValueError(f"condition {key} has {len(t)} values for a batch of {batch} renders")
            vals.append(t.clone())
        return vals[0], vals[1], vals[2]

    def relative_camera(self, batch: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Deltas ``(d_elevation, d_azimuth, d_radius)`` from the reference camera to each render."""
        el, az, r = self.camera_params(batch)
        ref_r = r if self.ref_radius is None else torch.full_like(r, float(self.ref_radius))
        d_az = torch.remainder(az - float(self.ref_azimuth) + 180.0, 360.0) - 180.0
        return el - float(self.ref_elevation), d_az, r - ref_r


@dataclass(frozen=True)
class RenderSpec:
    """What the 4D loop should render for one guidance step.

    ``views`` renders of ``height x width`` (MVDream: 4 views with a shared time); ``frames`` > 1 means
    a clip: the same camera at ``frames`` times (video guidance). Guidances resize internally, so
    these are recommendations (the model's native input size).
    """

    views: int = 1
    height: int = 256
    width: int = 256
    frames: int = 1

    @property
    def is_clip(self) -> bool:
        return self.frames > 1


def to_bchw(images: torch.Tensor, name: str = "images") -> torch.Tensor:
    """``[B, H, W, 3]`` or ``[B, 3, H, W]`` (or unbatched) images in [0, 1] as ``[B, 3, H, W]``.

    Four-channel (RGBA) inputs are composited on white. A shape that reads both ways (e.g. ``[B, 3, 4, 3]``)
    is taken as channels-last, motion4d's render layout. Raises ``ValueError`` for other layouts.
    """
    if not isinstance(images, torch.Tensor):
        raise ValueError(f"{name} must be a torch.Tensor, got {type(images).__name__}")
    x = images
    if x.ndim == 3:
        x = x[None]
    if x.ndim != 4:
        raise ValueError(f"{name} must be [B,H,W,3] or [B,3,H,W], got shape {tuple(images.shape)}")
    if x.shape[-1] in (3, 4):                   # channels-last wins when both readings are possible
        x = x.permute(0, 3, 1, 2)
    elif x.shape[1] not in (3, 4):
        raise ValueError(f"{name} must be [B,H,W,3] or [B,3,H,W], got shape {tuple(images.shape)}")
    if x.shape[1] == 4:
        x = x[:, :3] * x[:, 3:] + (1.0 - x[:, 3:])
    return x
