"""motion4d: text to 4D scenes with customized motion and appearance.

The package is split into small sub-packages (see the README's design section):
``config``, ``camera``, ``gaussians``, ``render``, ``deform``, ``guidance``, ``video``,
``lift``, ``export``, ``world``, ``metrics`` and ``cli``. Importing ``motion4d`` is cheap:
heavy or optional dependencies (diffusers, gsplat, numba kernels) load on first use.
"""

__version__ = "0.1.0"

__all__ = ["__version__"]
