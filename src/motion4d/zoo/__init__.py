"""motion4d-tiny: small models trained by motion4d's own code on the shapes world, shipped in the package.

>>> from motion4d.zoo import ZOO, shipped_folder            # the family table and built-in folders
>>> from motion4d.zoo import task_module, train             # doctest: +SKIP
>>> train(task_module("tiny-vae"), "runs/vae", {"steps": 100})   # doctest: +SKIP
"""
from motion4d.zoo.registry import ZOO, NotTrainedError, ZooModel, assets_dir, shipped_folder, task_module, zoo_model
from motion4d.zoo.runner import COMMON_DEFAULTS, lr_at, train
from motion4d.zoo.shipped import ShippedWeightsError, check_shipped, evaluate_model, ship

__all__ = ["ZOO", "ZooModel", "NotTrainedError", "zoo_model", "task_module", "assets_dir", "shipped_folder",
           "train", "lr_at", "COMMON_DEFAULTS", "ShippedWeightsError", "check_shipped", "evaluate_model", "ship"]
