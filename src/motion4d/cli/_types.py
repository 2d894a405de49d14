"""argparse value types shared by the commands: each refuses a bad value with one line naming the range."""
from __future__ import annotations

import argparse
import math

from motion4d.config import MAX_SEED

__all__ = ["seed", "finite_float"]


def seed(text: str) -> int:
    """A random seed: an integer in ``0..MAX_SEED`` (what numpy, torch and Python's random all accept)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be an integer, got {text!r}") from None
    if not 0 <= value <= MAX_SEED:
        raise argparse.ArgumentTypeError(f"seed must be in 0..{MAX_SEED}, got {value}")
    return value


def finite_float(text: str) -> float:
    """A finite number (``nan`` and ``inf`` refused)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value
