"""The object's alpha for a generated clip, before it is lifted to 4D.

Three sources, chosen explicitly (``method``), never by guessing a background colour:

* ``background``: the generator's *known* background colour (motion4d-tiny models are trained on the
  shapes world's plain background, so it is known exactly). A diffusion model renders that colour only
  approximately (tiny-t2v's white comes out near (0.93, 0.95, 0.93)), so each frame's key colour is the median of
  its border pixels when that lies within ``BACKGROUND_TOLERANCE`` of the known colour, else the known colour
  itself (:func:`frame_backgrounds`). A soft key on the RGB distance to that colour, then the colour un-mixed
  from the background (``fg = (I - (1 - a) bg) / a``).
* ``rembg``: the `rembg <https://github.com/danielgatis/rembg>`_ package (U^2-Net), as DreamGaussian4D's
  preprocessing does; an optional extra (``pip install "motion4d[matting]"``) whose weights must be local.
* a hook ``module:function`` taking ``uint8 [H, W, 3]`` and returning alpha ``[H, W]`` in [0, 1]; hooks
  import code, so they need ``allow_code=True`` (the CLI passes it for command-line arguments only).
"""
from __future__ import annotations

import importlib
from typing import Callable, Sequence

import numpy as np

__all__ = ["matte", "known_background_alpha", "frame_backgrounds", "MATTING_METHODS", "BACKGROUND_TOLERANCE"]

MATTING_METHODS = ("background", "rembg")
#: Largest RGB distance (0-1 scale) between a frame's border median and the known background for the border to
#: be taken as that frame's background.
BACKGROUND_TOLERANCE = 0.25


def frame_backgrounds(frames: np.ndarray, background: Sequence[float],
                      tolerance: float = BACKGROUND_TOLERANCE) -> np.ndarray:
    """Per-frame key colours ``float32 [F, 3]`` of frames ``[F, H, W, 3]`` (uint8 or float in [0, 1]): the median of
    each frame's one-pixel border where it is within ``tolerance`` of ``background``, else ``background``."""
    x = _as_float(frames)
    known = np.asarray(background, dtype=np.float32).reshape(3)
    border = np.concatenate([x[:, 0], x[:, -1], x[:, 1:-1, 0], x[:, 1:-1, -1]], axis=1)      # [F, P, 3]
    median = np.median(border, axis=1).astype(np.float32)
    close = np.linalg.norm(median - known, axis=-1) <= tolerance
    return np.where(close[:, None], median, known[None]).astype(np.float32)


def known_background_alpha(frames: np.ndarray, background: Sequence[float], low: float = 0.04,
                           window: int = 5) -> np.ndarray:
    """Alpha ``float32 [F, H, W]`` of frames ``[F, H, W, 3]`` (uint8 or float in [0, 1]) over a known colour
    (``[3]``, or ``[F, 3]``: one per frame).

    A pixel is a blend ``I = a fg + (1 - a) bg``, so its RGB distance to the background is ``a`` times the
    foreground's. The foreground's distance is taken from the most distinct pixel within ``window`` pixels
    (edges sit next to solid object pixels), so ``a = d / max_window(d)``; distances below ``low`` (0-1
    scale) are background (compression noise).
    """
    from scipy.ndimage import maximum_filter

    x = _as_float(frames)
    bg = np.asarray(background, dtype=np.float32)
    bg = bg.reshape(-1, 1, 1, 3) if bg.ndim == 2 else bg.reshape(1, 1, 1, 3)
    if low < 0 or window < 1:
        raise ValueError(f"matting needs low >= 0 and window >= 1, got low={low}, window={window}")
    d = np.linalg.norm(x - bg, axis=-1)
    d_fg = maximum_filter(d, size=(1, window, window), mode="nearest")
    alpha = np.where(d > low, d / np.maximum(d_fg, 1e-6), 0.0)
    return np.clip(alpha, 0.0, 1.0).astype(np.float32)


def matte(frames: np.ndarray, method: str, *, background: Sequence[float] | None = None,
          allow_code: bool = False) -> np.ndarray:
    """RGBA frames ``float32 [F, H, W, 4]`` in [0, 1] from RGB frames ``[F, H, W, 3]``.

    Args:
        frames: uint8 or float in [0, 1].
        method: ``background``, ``rembg`` or a hook ``module:function``.
        background: the known background colour (RGB in [0, 1]); required by ``background``.
        allow_code: permit a ``module:function`` hook (it imports and runs code).
    Raises:
        ValueError: an unknown method, a hook without ``allow_code``, a missing background colour, an empty
            object in every frame, or a hook returning the wrong shape.
        ImportError: ``rembg`` is not installed (the message names the extra to install).
    """
    x = _as_float(frames)
    if method == "background":
        if background is None:
            raise ValueError("matting method 'background' needs the generator's background colour")
        bg = frame_backgrounds(x, background)[:, None, None, :]                # [F, 1, 1, 3]
        alpha = known_background_alpha(x, bg[:, 0, 0])
    elif method == "rembg":
        alpha, bg = _rembg_alpha(x), None
    elif ":" in method:
        if not allow_code:
            raise ValueError(f"matting hook {method!r} imports code; it is accepted from the command line or with "
                             f"allow_code=True, not from a config file")
        alpha, bg = _hook_alpha(x, _load_hook(method)), None
    else:
        raise ValueError(f"matting method {method!r} is not one of {', '.join(MATTING_METHODS)} or a hook "
                         f"'module:function'")
    if not (alpha > 0.5).any():
        raise ValueError(f"matting ({method}) found no object in any of the {len(x)} frames")
    rgb = x
    if bg is not None:                      # un-mix the known background from the soft edges
        a = alpha[..., None]
        rgb = np.where(a > 1e-3, (x - (1.0 - a) * bg) / np.maximum(a, 1e-3), x).clip(0.0, 1.0)
    return np.concatenate([rgb, alpha[..., None]], axis=-1).astype(np.float32)


def _as_float(frames: np.ndarray) -> np.ndarray:
    x = np.asarray(frames)
    if x.ndim != 4 or x.shape[-1] != 3:
        raise ValueError(f"frames must be [F, H, W, 3], got shape {x.shape}")
    return x.astype(np.float32) / 255.0 if x.dtype == np.uint8 else x.astype(np.float32)


def _rembg_alpha(x: np.ndarray) -> np.ndarray:
    try:
        from rembg import new_session, remove
    except ImportError:
        raise ImportError('matting method "rembg" needs the rembg package: pip install "motion4d[matting]"') from None
    session = new_session("u2net")
    out = [np.asarray(remove((f * 255).round().astype(np.uint8), session=session))[..., 3] for f in x]
    return np.stack(out).astype(np.float32) / 255.0


def _load_hook(spec: str) -> Callable[[np.ndarray], np.ndarray]:
    module_name, _, func_name = spec.partition(":")
    try:
        fn = getattr(importlib.import_module(module_name), func_name, None)
    except ImportError as e:
        raise ValueError(f"matting hook {spec!r}: cannot import {module_name!r}: {e}") from None
    if not callable(fn):
        raise ValueError(f"matting hook {spec!r}: {module_name!r} has no callable {func_name!r}")
    return fn


def _hook_alpha(x: np.ndarray, fn: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    out = []
    for f in x:
        a = np.asarray(fn((f * 255).round().astype(np.uint8)), dtype=np.float32)
        if a.shape != f.shape[:2]:
            raise ValueError(f"matting hook returned shape {a.shape}; expected {f.shape[:2]}")
        out.append(a.clip(0.0, 1.0))
    return np.stack(out)
