"""Video-to-4D (DreamGaussian4D's second stage): a clip -> canonical Gaussians + a HexPlane
deformation field, with PLY / video / mesh / animated-GLB exports.

Python::

    from motion4d.lift import lift, load_lift_config, load_result
    cfg = load_lift_config("demo", overrides=["dynamic.iters=200"])
    result = lift("clip.mp4", "outputs/run", cfg)           # a Scene4D
    g = result.gaussians_at(0.5)                             # Gaussians halfway through the clip
    result = load_result("outputs/run")                      # later, from the folder
"""
from motion4d.lift.api import export_result, lift
from motion4d.lift.config import LiftConfig, load_lift_config
from motion4d.lift.inputs import LiftInput, load_input
from motion4d.lift.result import LiftResult, load_result

__all__ = ["lift", "export_result", "LiftConfig", "load_lift_config", "LiftInput", "load_input", "LiftResult",
           "load_result"]
