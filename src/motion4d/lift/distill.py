"""Novel-view score distillation inside the lift: render what the guidance asks for, condition it, call it.

The guidance says what it needs (``guidance.needs``: ``prompt``, ``image``, ``camera``, ``cameras``) and what
to render (``guidance.render_spec``):

* ``views = V`` (MVDream: 4): each sample is a group of V cameras sharing an elevation and one time, at
  azimuths ``az, az + 360/V, ...``;
* ``frames > 1`` (video SDS): a clip of ``frames`` renders from one camera at evenly spaced times over
  the whole clip (dynamic stage only; the static stage has no time to render).

Renders are ``guidance.render_size`` pixels high and keep the spec's aspect ratio. The condition carries
the lift's ``prompt`` / ``negative_prompt`` and the reference frame at the rendered time.
"""
from __future__ import annotations

import math
from typing import Any, Callable

import torch

from motion4d.camera import Cameras
from motion4d.lift.config import LiftConfig

__all__ = ["Distiller", "check_guidance"]


def check_guidance(guidance: Any, cfg: LiftConfig) -> None:
    """Fail before training when the guidance cannot be driven by this config (e.g. no prompt)."""
    needs = set(getattr(guidance, "needs", ()) or ())
    kind = getattr(guidance, "kind", type(guidance).__name__)
    if "prompt" in needs and not cfg.prompt:
        raise ValueError(f"{kind} guidance is text-conditioned and needs a prompt: pass --prompt 'a ...' "
                         f"(prompt=... in the config), or use an image-conditioned guidance "
                         f"(guidance.kind=stable-zero123 or zero123)")


class Distiller:
    """Calls ``guidance(images, condition, step)`` with renders that follow its render spec.

    Args:
        guidance: a ``motion4d.guidance`` object.
        cfg: the lift config (camera ranges, render size, prompt).
        targets: reference frames ``[F, H, W, 3]`` (view 0), the image condition at each time.
        ref_radius, ref_elevation: the reference camera (world units, degrees).
        bg: background colour ``[3]`` on the training device.
    """

    def __init__(self, guidance: Any, cfg: LiftConfig, targets: torch.Tensor, ref_radius: float,
                 ref_elevation: float, bg: torch.Tensor) -> None:
        check_guidance(guidance, cfg)
        self.guidance, self.cfg = guidance, cfg
        self.targets, self.ref_radius, self.ref_elevation, self.bg = targets, ref_radius, ref_elevation, bg
        spec = getattr(guidance, "render_spec", None)
        self.views = max(1, int(getattr(spec, "views", 1)))
        self.frames = max(1, int(getattr(spec, "frames", 1)))
        aspect = (spec.width / spec.height) if spec is not None and spec.height else 1.0
        self.height = int(cfg.guidance.render_size)
        self.width = max(8, int(round(self.height * aspect)))

    @property
    def is_clip(self) -> bool:
        return self.frames > 1

    def sample_cameras(self, groups: int, gen: torch.Generator) -> Cameras:
        """``groups * views`` orbit cameras: per group a random elevation and azimuth, views spread evenly."""
        c = self.cfg.camera
        el = c.min_elevation + (c.max_elevation - c.min_elevation) * torch.rand(groups, generator=gen)
        az = torch.rand(groups, generator=gen) * 360.0 - 180.0
        offsets = torch.arange(self.views, dtype=torch.float32) * (360.0 / self.views)
        el = el.repeat_interleave(self.views)
        az = torch.remainder(az.repeat_interleave(self.views) + offsets.repeat(groups) + 180.0, 360.0) - 180.0
        return Cameras.orbit(el, az, self.ref_radius, c.fovy, self.width, self.height).to(self.bg.device)

    def _call(self, images: torch.Tensor, cams: Cameras, image: torch.Tensor | None, step: int
              ) -> dict[str, torch.Tensor]:
        from motion4d.guidance import Condition

        cond = Condition(prompt=self.cfg.prompt, negative_prompt=self.cfg.negative_prompt or "", image=image,
                         elevation=cams.elevation.cpu(), azimuth=cams.azimuth.cpu(),
                         radius=torch.full((len(cams),), self.ref_radius), ref_elevation=self.ref_elevation,
                         ref_azimuth=0.0, ref_radius=self.ref_radius, cameras=cams)
        losses = self.guidance(images, cond, step)
        return {k if k.startswith("sds") else f"sds_{k}": v for k, v in losses.items()}

    def views_loss(self, render_fn: Callable[[Cameras], torch.Tensor], frame: int, count: int,
                   gen: torch.Generator, step: int) -> dict[str, torch.Tensor]:
        """Losses on ``count`` novel views (rounded up to whole groups of the spec's views) of one time.

        ``render_fn(cameras) -> [C, H, W, 3]`` renders the scene at that time; ``frame`` picks the
        reference image; ``step`` is the stage's step (the guidance's schedules read it)."""
        cams = self.sample_cameras(math.ceil(count / self.views), gen)
        return self._call(render_fn(cams), cams, self.targets[frame], step)

    def clip_loss(self, render_at: Callable[[float, Cameras], torch.Tensor], gen: torch.Generator, step: int
                  ) -> dict[str, torch.Tensor]:
        """Losses on one clip of ``frames`` renders from one random camera, times evenly over [0, 1].

        ``render_at(t, cameras) -> [1, H, W, 3]`` renders the scene at normalised time ``t``."""
        cams = self.sample_cameras(1, gen)
        cam = cams[0] if self.views > 1 else cams
        times = [i / (self.frames - 1) for i in range(self.frames)]
        clip = torch.cat([render_at(t, cam) for t in times], 0)  # [frames, H, W, 3]
        n = self.targets.shape[0]
        refs = self.targets[[round(t * (n - 1)) for t in times]]
        return self._call(clip, cam, refs, step)
