"""The rendering options of a shapes-world scene, in one place: :func:`~motion4d.world.make_scene`'s keyword
arguments and the ``motion4d world`` command-line flags are both generated from :class:`SceneOptions`."""
from __future__ import annotations

import argparse
from dataclasses import asdict, dataclass, field, fields
from typing import Any

__all__ = ["SceneOptions", "DEFAULT_ELEVATIONS", "DEFAULT_AZIMUTHS", "BOUND"]

DEFAULT_ELEVATIONS = (0.0, 30.0)
DEFAULT_AZIMUTHS = tuple(float(a) for a in range(0, 360, 45))
BOUND = 0.9  # every point of a scene stays within this distance of the origin


def _opt(default: Any, flag: str | None, help: str, **kw) -> Any:
    factory = {"default_factory": (lambda: default)} if isinstance(default, (list, tuple)) else {"default": default}
    return field(**factory, metadata={"flag": flag, "help": help, **kw})


@dataclass
class SceneOptions:
    """How a scene is sampled and rendered (everything but the seed and the forced object/motion kinds).

    ``metadata["flag"]`` is the CLI flag (None: not on the command line; the azimuths come from
    ``--azimuth-step``)."""

    num_frames: int = _opt(16, "--frames", "frames per clip")
    size: int = _opt(64, "--size", "image size in pixels, square")
    fps: float = _opt(8.0, "--fps", "frame rate of reference.mp4")
    num_points: int = _opt(3000, "--points", "Gaussians in the whole scene (split between objects by size)")
    background: tuple = _opt((1.0, 1.0, 1.0), "--background", "RGB in [0, 1] behind the objects", nargs=3,
                             metavar="V")
    opacity: float = _opt(0.95, "--opacity", "opacity of the objects' Gaussians")
    elevations: tuple = _opt(DEFAULT_ELEVATIONS, "--elevations", "elevations of the ground-truth views (degrees)",
                             nargs="+", metavar="DEG")
    azimuths: tuple = _opt(DEFAULT_AZIMUTHS, None, "azimuths of the ground-truth views (degrees)")
    radius: float = _opt(2.5, "--radius", "distance of the ground-truth cameras (world units)")
    fovy: float = _opt(49.1, "--fovy", "vertical field of view of the cameras (degrees)")

    def __post_init__(self) -> None:
        if self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.size < 8:
            raise ValueError(f"size must be >= 8 pixels, got {self.size}")
        if self.num_points < 50:
            raise ValueError(f"num_points must be >= 50, got {self.num_points}")
        if not self.elevations or not self.azimuths or any(not -89.0 <= float(e) <= 89.0 for e in self.elevations):
            raise ValueError(f"elevations must be a non-empty list of degrees in [-89, 89] and azimuths non-empty, "
                             f"got {list(self.elevations)} and {list(self.azimuths)}")
        if self.radius <= BOUND + 0.1 or not 1.0 <= self.fovy <= 170.0:
            raise ValueError(f"camera radius must be > {BOUND + 0.1} (the scene fills a ball of radius {BOUND}) and "
                             f"fovy in [1, 170] degrees, got radius={self.radius}, fovy={self.fovy}")
        bg = [float(v) for v in self.background]
        if len(bg) != 3 or not all(0.0 <= v <= 1.0 for v in bg):
            raise ValueError(f"background must be 3 numbers in [0, 1], got {list(self.background)}")
        self.background = tuple(bg)

    def kwargs(self) -> dict[str, Any]:
        """The options as :func:`~motion4d.world.make_scene` keyword arguments."""
        return asdict(self)

    # -- command line ---------------------------------------------------------------------------
    @classmethod
    def add_arguments(cls, parser: argparse.ArgumentParser) -> None:
        """One flag per option that has one (defaults and help from the fields), plus ``--azimuth-step``."""
        for f in fields(cls):
            flag = f.metadata.get("flag")
            if flag is None:
                continue
            default = f.default_factory() if callable(f.default_factory) else f.default
            extra = {k: f.metadata[k] for k in ("nargs", "metavar") if k in f.metadata}
            kind = float if isinstance(default, (tuple, list)) else type(default)
            shown = " ".join(f"{v:g}" for v in default) if isinstance(default, (tuple, list)) else f"{default:g}"
            parser.add_argument(flag, dest=f"scene_{f.name}", type=kind, default=default,
                                help=f"{f.metadata['help']} (default {shown})", **extra)
        parser.add_argument("--azimuth-step", dest="scene_azimuth_step", type=float, default=45.0, metavar="DEG",
                            help="azimuth spacing of the ground-truth views (default 45)")

    @classmethod
    def from_args(cls, args: argparse.Namespace) -> "SceneOptions":
        """The options parsed by a parser set up with :meth:`add_arguments`."""
        step = args.scene_azimuth_step
        if step <= 0 or 360 % step:
            raise ValueError(f"--azimuth-step {step:g} must divide 360")
        values = {f.name: getattr(args, f"scene_{f.name}") for f in fields(cls) if f.metadata.get("flag")}
        values["azimuths"] = tuple(i * step for i in range(int(360 // step)))
        return cls(**{k: tuple(v) if isinstance(v, list) else v for k, v in values.items()})
