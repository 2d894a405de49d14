"""Metrics for 4D results: image quality, masks, temporal flicker, geometry and motion, as pure functions of
tensors (scoring a result against a scene folder is :mod:`motion4d.evaluation`).

* :func:`psnr`, :func:`ssim`, :func:`mask_iou` take images ``[..., H, W, C]`` in [0, 1] (masks
  ``[..., H, W]``) and return one value per image ``[...]``.
* :func:`flicker` (temporal), :func:`chamfer` (point sets) return scalars.
* :func:`motion_distance` (with :func:`global_shifts`, :func:`phase_shift`) compares how two clips move,
  whatever they look like (e.g. a motion LoRA's samples against its reference clip).
* CLIP similarity and LPIPS (:mod:`motion4d.metrics.optional`) run only when their weights are local.
"""
from motion4d.metrics.geometry import chamfer, nearest_distances
from motion4d.metrics.image import mask_iou, mse, psnr, ssim
from motion4d.metrics.motion import difference_energy, global_shifts, motion_distance, phase_shift
from motion4d.metrics.temporal import flicker

__all__ = ["psnr", "ssim", "mask_iou", "mse", "flicker", "chamfer", "nearest_distances",
           "motion_distance", "global_shifts", "phase_shift", "difference_energy"]
