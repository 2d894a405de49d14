"""Turntable views of a 4D result around its reference camera, and how consistent they are with each other.

* :func:`turntable_cameras`: orbit cameras at the reference camera's elevation, distance, field of view and
  image size, at azimuths *relative to the reference camera* (0 = the reference view itself).
* :func:`turntable_views`: ``rgb [A, T, H, W, 3]`` and ``alpha [A, T, H, W]`` of a ``Scene4D`` at those cameras
  and the normalised ``times`` (through :func:`motion4d.evaluation.views.render_views`).
* :func:`multiview_consistency`, with the foreground of a view = pixels of alpha > 0.5:

  - ``mv_area_ratio``: per time, the smallest foreground area over the azimuths divided by the largest, averaged
    over times (in [0, 1]). A flat cut-out that only faces the reference camera gets about 0 edge-on; a solid
    object gets its own ratio (a ball about 1, a thin box less), so compare with the ground truth's value when
    there is one.
  - ``mv_colour_dist``: the Euclidean RGB distance (in [0, sqrt 3]) between the mean foreground colour of each
    other azimuth and that of the reference azimuth, averaged over those views and the times (views without
    foreground are left out; ``None`` when no pair has foreground). 0 when every side shows the reference
    view's colour on average; back sides that were never seen and drift (grey, dark, another colour) raise it.
    Objects that are two-toned by design have a non-zero value too: again, compare with the ground truth.

Neither needs a model; both are measured on the same renders as the CLIP score.
"""
from __future__ import annotations

import math
from typing import Sequence

import torch

from motion4d.camera import Cameras

__all__ = ["TURNTABLE_AZIMUTHS", "TURNTABLE_TIMES", "turntable_cameras", "turntable_views", "multiview_consistency",
           "orbit_of"]

TURNTABLE_AZIMUTHS = tuple(float(a) for a in range(0, 360, 45))
TURNTABLE_TIMES = (0.0, 0.5, 1.0)


def orbit_of(camera: Cameras) -> dict[str, float]:
    """``{"elevation", "azimuth", "radius", "fovy"}`` (degrees, world units) of the first camera of ``camera``,
    from its stored orbit metadata when present, else from its pose and intrinsics (looking at the origin)."""
    centre = camera.centers[0].double()
    radius = float(centre.norm())
    if radius <= 0:
        raise ValueError("the reference camera sits at the origin; turntable views need it on an orbit")
    el = camera.elevation[0] if camera.elevation is not None else math.degrees(math.asin(float(centre[1]) / radius))
    az = camera.azimuth[0] if camera.azimuth is not None else math.degrees(math.atan2(float(centre[0]),
                                                                                      float(centre[2])))
    r = camera.radius[0] if camera.radius is not None else radius
    fovy = math.degrees(2 * math.atan(camera.height / 2 / float(camera.Ks[0, 1, 1])))
    return {"elevation": float(el), "azimuth": float(az), "radius": float(r), "fovy": fovy}


def turntable_cameras(reference: Cameras, azimuths: Sequence[float] = TURNTABLE_AZIMUTHS) -> Cameras:
    """Orbit cameras like ``reference`` (its first camera) at ``azimuths`` degrees from it (see module docstring)."""
    if not len(azimuths):
        raise ValueError("turntable views need at least one azimuth")
    o = orbit_of(reference)
    cams = Cameras.orbit(o["elevation"], [o["azimuth"] + float(a) for a in azimuths], o["radius"], o["fovy"],
                         reference.width, reference.height)
    cams.names = [f"turntable_az{float(a):05.1f}" for a in azimuths]
    return cams


def turntable_views(result, reference: Cameras, times: Sequence[float] = TURNTABLE_TIMES,
                    azimuths: Sequence[float] = TURNTABLE_AZIMUTHS, background: Sequence[float] = (1.0, 1.0, 1.0),
                    device: str | torch.device = "cpu") -> tuple[torch.Tensor, torch.Tensor]:
    """``(rgb [A, T, H, W, 3], alpha [A, T, H, W])`` of ``result`` around ``reference`` (float32, CPU)."""
    from motion4d.evaluation.views import render_views

    return render_views(result, turntable_cameras(reference, azimuths), times, background, device)


def multiview_consistency(rgb: torch.Tensor, alpha: torch.Tensor, threshold: float = 0.5) -> dict:
    """``{"mv_area_ratio", "mv_colour_dist"}`` of turntable renders ``rgb [A, T, H, W, 3]``, ``alpha [A, T, H, W]``
    whose first azimuth is the reference view (definitions in the module docstring)."""
    if rgb.ndim != 5 or alpha.shape != rgb.shape[:4] or rgb.shape[0] < 2:
        raise ValueError(f"multiview_consistency needs rgb [A >= 2, T, H, W, 3] and alpha [A, T, H, W], got "
                         f"{tuple(rgb.shape)} and {tuple(alpha.shape)}")
    fg = alpha > threshold                                                  # [A, T, H, W]
    area = fg.float().mean((-1, -2))                                        # [A, T]
    peak = area.max(0).values
    ratio = torch.where(peak > 0, area.min(0).values / peak.clamp_min(1e-12), torch.zeros_like(peak))
    count = fg.sum((-1, -2))                                                # [A, T]
    mean = (rgb * fg[..., None]).sum((2, 3)) / count[..., None].clamp_min(1)  # [A, T, 3]
    dist = (mean[1:] - mean[:1]).norm(dim=-1)                               # [A - 1, T]
    valid = (count[1:] > 0) & (count[:1] > 0)
    colour = float(dist[valid].mean()) if bool(valid.any()) else None
    return {"mv_area_ratio": float(ratio.mean()), "mv_colour_dist": colour}
