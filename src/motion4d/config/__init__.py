"""Typed configs: dataclasses + YAML presets + ``key=value`` overrides.

The convention follows DreamGaussian4D and threestudio: a YAML file (``--config FILE``) or a
shipped preset sets values, then ``dotted.key=value`` arguments override them. The schema is a
dataclass, so every key and type is checked: an unknown key or a value of the wrong type raises
:class:`ConfigError` naming the key and what is allowed.

Example::

    from motion4d.config import load_config
    cfg = load_config(LiftConfig, preset=("lift", "demo"), overrides=["dynamic.iters=200"])
"""
from motion4d.config.core import (
    MAX_SEED,
    ConfigError,
    check_choice,
    check_range,
    config_to_dict,
    config_to_yaml,
    list_presets,
    load_config,
    preset_path,
)

__all__ = ["ConfigError", "MAX_SEED", "check_choice", "check_range", "config_to_dict", "config_to_yaml", "list_presets",
           "load_config", "preset_path"]
