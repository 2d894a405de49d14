"""The lift's stages: each owns its optimiser and its own step counter (schedules restart at its step 0).

* :class:`StaticStage`: canonical Gaussians from frame 0 (+ densification).
* :class:`DynamicStage`: the deformation field over every frame.

The engine that runs them, seeds every step and checkpoints them is :class:`motion4d.lift.trainer.LiftTrainer`.
"""
from motion4d.lift.stages.base import LiftContext, Stage, StepLosses
from motion4d.lift.stages.dynamic import DynamicStage, isometry_loss, neighbours
from motion4d.lift.stages.static import StaticStage

__all__ = ["LiftContext", "Stage", "StepLosses", "StaticStage", "DynamicStage", "isometry_loss", "neighbours"]
