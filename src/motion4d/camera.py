"""Pinhole cameras: orbit and look-at constructors, batches, and the camera JSON format.

Conventions (used by every part of motion4d, and by gsplat):

* **World**: right-handed, **+Y is up**. An object's front faces **+Z**.
* **Orbit angles** (degrees): ``azimuth=0`` puts the camera on the +Z axis looking at the origin;
  ``azimuth=90`` puts it on +X (counter-clockwise seen from above). ``elevation>0`` is above the
  horizon, looking down. (DreamGaussian/threestudio use the opposite elevation sign; convert with
  ``elevation = -their_elevation``.)
* **Camera space**: OpenCV, x right, y down, z forward (into the scene). ``viewmats`` are
  world-to-camera ``[C, 4, 4]``; ``c2w`` is its inverse. OpenGL users flip the y and z axes:
  ``c2w_opencv = c2w_opengl @ diag(1, -1, -1, 1)``.
* **Intrinsics** ``Ks [C, 3, 3]`` in pixels; pixel centres sit at +0.5 (pixel (0, 0) covers
  [0, 1) x [0, 1)). ``fovy`` is the full vertical field of view in degrees.

Camera JSON (``Cameras.to_json`` / ``Cameras.from_json``)::

    {"convention": "opencv", "width": 64, "height": 64,
     "cameras": [{"name": "view_000", "fx": .., "fy": .., "cx": .., "cy": ..,
                  "c2w": [[4 floats] x 4], "elevation": 0.0, "azimuth": 0.0, "radius": 2.5}]}

``elevation``, ``azimuth`` and ``radius`` are optional metadata (present for orbit cameras).
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import torch

from motion4d.utils.run_dir import check_name

__all__ = ["Cameras", "orbit_camera", "look_at", "orbit_cameras", "turntable", "fov_to_focal", "check_rotation"]

_OPENCV_FROM_OPENGL = torch.diag(torch.tensor([1.0, -1.0, -1.0, 1.0]))


def fov_to_focal(fov_deg: float, size: int) -> float:
    """Focal length in pixels for a full field of view ``fov_deg`` (in (0, 180)) spanning ``size`` pixels."""
    _check_fov(fov_deg)
    return 0.5 * size / math.tan(math.radians(fov_deg) / 2)


def _number(value, what: str) -> float:
    """``value`` as a finite float (bools and strings refused); ``ValueError`` names ``what``."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number, got {value!r}")
    return float(value)


def _check_fov(fov_deg) -> float:
    fov = _number(fov_deg, "fovy (degrees)") if not isinstance(fov_deg, torch.Tensor) else float(fov_deg)
    if not 0.0 < fov < 180.0:
        raise ValueError(f"fovy must be in (0, 180) degrees, got {fov_deg!r}")
    return fov


def check_rotation(c2w: torch.Tensor, what: str = "c2w", tol: float = 1e-3) -> None:
    """Raise ``ValueError`` unless ``c2w [4, 4]`` is finite, has bottom row ``0 0 0 1`` and an orthonormal,
    right-handed rotation (``R^T R = I`` and ``det R = +1`` within ``tol``)."""
    c2w = torch.as_tensor(c2w, dtype=torch.float64)
    if c2w.shape != (4, 4) or not bool(torch.isfinite(c2w).all()):
        raise ValueError(f"{what} must be a finite 4x4 (or 3x4) matrix")
    if not torch.allclose(c2w[3], torch.tensor([0.0, 0.0, 0.0, 1.0], dtype=torch.float64), atol=tol):
        raise ValueError(f"{what}: bottom row must be [0, 0, 0, 1], got {c2w[3].tolist()}")
    R = c2w[:3, :3]
    err = float((R.T @ R - torch.eye(3, dtype=torch.float64)).abs().max())
    if err > tol:
        raise ValueError(f"{what}: the rotation part is not orthonormal (|R^T R - I| = {err:.3g}; a camera-to-world "
                         f"matrix holds a rotation and a translation, no scale or shear)")
    if float(torch.linalg.det(R)) < 0:
        raise ValueError(f"{what}: the rotation is a reflection (determinant -1); use a right-handed frame")


def look_at(eye: torch.Tensor, target: torch.Tensor | None = None, up: torch.Tensor | None = None) -> torch.Tensor:
    """Camera-to-world matrices (OpenCV axes) for cameras at ``eye [..., 3]`` looking at ``target``.

    ``up`` defaults to +Y. Returns ``[..., 4, 4]``. A camera looking straight along ``up`` uses +Z
    (or -Z) as a fallback up vector instead of producing NaNs.
    """
    eye = torch.as_tensor(eye, dtype=torch.float32)
    target = torch.zeros_like(eye) if target is None else torch.as_tensor(target, dtype=eye.dtype).expand_as(eye)
    up = torch.tensor([0.0, 1.0, 0.0], dtype=eye.dtype) if up is None else torch.as_tensor(up, dtype=eye.dtype)
    up = up.expand_as(eye)
    forward = torch.nn.functional.normalize(target - eye, dim=-1)
    right = torch.cross(forward, up, dim=-1)
    degenerate = right.norm(dim=-1, keepdim=True) < 1e-6
    alt_up = torch.tensor([0.0, 0.0, -1.0], dtype=eye.dtype).expand_as(eye) * torch.sign(forward[..., 1:2] + 1e-12)
    right = torch.where(degenerate, torch.cross(forward, alt_up, dim=-1), right)
    right = torch.nn.functional.normalize(right, dim=-1)
    down = torch.cross(forward, right, dim=-1)  # OpenCV y axis points down
    c2w = torch.zeros(*eye.shape[:-1], 4, 4, dtype=eye.dtype)
    c2w[..., :3, 0] = right
    c2w[..., :3, 1] = down
    c2w[..., :3, 2] = forward
    c2w[..., :3, 3] = eye
    c2w[..., 3, 3] = 1.0
    return c2w


def _orbit_eye(elevation: torch.Tensor, azimuth: torch.Tensor, radius: torch.Tensor) -> torch.Tensor:
    el, az = torch.deg2rad(elevation), torch.deg2rad(azimuth)
    return torch.stack([radius * torch.cos(el) * torch.sin(az), radius * torch.sin(el),
                        radius * torch.cos(el) * torch.cos(az)], dim=-1)


@dataclass
class Cameras:
    """A batch of ``C`` pinhole cameras sharing one image size.

    Attributes:
        viewmats: world-to-camera transforms (OpenCV axes), ``[C, 4, 4]``.
        Ks: intrinsics in pixels, ``[C, 3, 3]``.
        width, height: image size in pixels.
        elevation, azimuth, radius: orbit metadata ``[C]`` (degrees, degrees, world units) or ``None``.
        names: optional per-camera names.
    """

    viewmats: torch.Tensor
    Ks: torch.Tensor
    width: int
    height: int
    elevation: torch.Tensor | None = None
    azimuth: torch.Tensor | None = None
    radius: torch.Tensor | None = None
    names: list[str] | None = field(default=None)

    def __post_init__(self) -> None:
        if self.viewmats.ndim == 2:
            self.viewmats = self.viewmats[None]
        if self.Ks.ndim == 2:
            self.Ks = self.Ks[None]
        if self.viewmats.shape[-2:] != (4, 4) or self.Ks.shape[-2:] != (3, 3) or len(self.viewmats) != len(self.Ks):
            raise ValueError(f"Cameras needs viewmats [C,4,4] and Ks [C,3,3] with the same C, got "
                             f"{tuple(self.viewmats.shape)} and {tuple(self.Ks.shape)}")
        if int(self.width) <= 0 or int(self.height) <= 0:
            raise ValueError(f"camera image size must be positive, got {self.width}x{self.height}")
        self.width, self.height = int(self.width), int(self.height)
        if self.viewmats.device.type != "cpu" or self.Ks.device.type != "cpu":
            pass  # values are checked where cameras are built (on the CPU); no device sync here
        elif not bool(torch.isfinite(self.viewmats).all()) or not bool(torch.isfinite(self.Ks).all()):
            raise ValueError("camera viewmats and intrinsics must be finite (no NaN or inf)")
        elif len(self.Ks) and not bool((self.Ks[:, 0, 0] > 0).all() and (self.Ks[:, 1, 1] > 0).all()):
            raise ValueError(f"camera focal lengths must be > 0 pixels, got fx={self.Ks[:, 0, 0].tolist()[:4]} "
                             f"fy={self.Ks[:, 1, 1].tolist()[:4]}")
        if self.names is not None and len(self.names) != len(self.viewmats):
            raise ValueError(f"{len(self.names)} camera names for {len(self.viewmats)} cameras")

    # -- constructors ------------------------------------------------------------------------
    @classmethod
    def from_c2w(cls, c2w: torch.Tensor, Ks: torch.Tensor, width: int, height: int, **meta) -> "Cameras":
        """Build from camera-to-world matrices ``[C, 4, 4]`` (OpenCV axes)."""
        c2w = torch.as_tensor(c2w, dtype=torch.float32)
        return cls(torch.linalg.inv(c2w), torch.as_tensor(Ks, dtype=torch.float32), width, height, **meta)

    @classmethod
    def orbit(cls, elevation: float | Sequence[float], azimuth: float | Sequence[float], radius: float | Sequence[float] = 2.5,
              fovy: float = 49.1, width: int = 256, height: int | None = None,
              target: Sequence[float] = (0.0, 0.0, 0.0)) -> "Cameras":
        """Orbit cameras looking at ``target``. Scalars broadcast against sequences (degrees)."""
        height = width if height is None else height
        f = fov_to_focal(fovy, height)
        el, az, r = torch.broadcast_tensors(torch.as_tensor(elevation, dtype=torch.float32).reshape(-1),
                                            torch.as_tensor(azimuth, dtype=torch.float32).reshape(-1),
                                            torch.as_tensor(radius, dtype=torch.float32).reshape(-1))
        for name, v in (("elevation", el), ("azimuth", az), ("radius", r)):
            if not bool(torch.isfinite(v).all()):
                raise ValueError(f"orbit camera {name} must be finite, got {v.tolist()[:4]}")
        if not bool((r > 0).all()):
            raise ValueError(f"orbit camera radius must be > 0 (world units), got {r.tolist()[:4]}")
        tgt = torch.as_tensor(target, dtype=torch.float32)
        c2w = look_at(_orbit_eye(el, az, r) + tgt, tgt.expand(len(el), 3))
        K = torch.tensor([[f, 0.0, width / 2], [0.0, f, height / 2], [0.0, 0.0, 1.0]]).expand(len(el), 3, 3).clone()
        return cls.from_c2w(c2w, K, width, height, elevation=el.clone(), azimuth=az.clone(), radius=r.clone())

    # -- views ------------------------------------------------------------------------------
    @property
    def c2w(self) -> torch.Tensor:
        """Camera-to-world transforms ``[C, 4, 4]`` (OpenCV axes)."""
        return torch.linalg.inv(self.viewmats)

    @property
    def centers(self) -> torch.Tensor:
        """Camera centres in world space, ``[C, 3]``."""
        return self.c2w[:, :3, 3]

    @property
    def device(self) -> torch.device:
        return self.viewmats.device

    def __len__(self) -> int:
        return len(self.viewmats)

    def __getitem__(self, idx) -> "Cameras":
        if isinstance(idx, int):
            idx = slice(idx, idx + 1) if idx != -1 else slice(-1, None)
        pick = lambda t: None if t is None else t[idx]  # noqa: E731
        names = None
        if self.names is not None:
            names = [self.names[i] for i in range(len(self))][idx] if isinstance(idx, slice) else \
                [self.names[int(i)] for i in torch.as_tensor(idx).reshape(-1)]
        return Cameras(self.viewmats[idx], self.Ks[idx], self.width, self.height, pick(self.elevation),
                       pick(self.azimuth), pick(self.radius), names)

    def to(self, device: torch.device | str) -> "Cameras":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return Cameras(self.viewmats.to(device), self.Ks.to(device), self.width, self.height,
                       move(self.elevation), move(self.azimuth), move(self.radius), self.names)

    def resized(self, width: int, height: int | None = None) -> "Cameras":
        """Same poses, intrinsics scaled to a new image size."""
        height = width if height is None else height
        K = self.Ks.clone()
        K[:, 0] *= width / self.width
        K[:, 1] *= height / self.height
        return Cameras(self.viewmats, K, width, height, self.elevation, self.azimuth, self.radius, self.names)

    @staticmethod
    def cat(items: Sequence["Cameras"]) -> "Cameras":
        """Concatenate batches with the same image size."""
        sizes = {(c.width, c.height) for c in items}
        if len(sizes) != 1:
            raise ValueError(f"cannot concatenate cameras of different sizes: {sorted(sizes)}")
        meta = {}
        for key in ("elevation", "azimuth", "radius"):
            vals = [getattr(c, key) for c in items]
            meta[key] = None if any(v is None for v in vals) else torch.cat(vals)
        names = None if any(c.names is None for c in items) else [n for c in items for n in c.names]
        return Cameras(torch.cat([c.viewmats for c in items]), torch.cat([c.Ks for c in items]),
                       items[0].width, items[0].height, names=names, **meta)

    # -- JSON -------------------------------------------------------------------------------
    def to_dict(self) -> dict:
        c2w = self.c2w.detach().cpu().double()
        Ks = self.Ks.detach().cpu().double()
        cams = []
        for i in range(len(self)):
            entry = {"name": self.names[i] if self.names else f"view_{i:03d}",
                     "fx": float(Ks[i, 0, 0]), "fy": float(Ks[i, 1, 1]),
                     "cx": float(Ks[i, 0, 2]), "cy": float(Ks[i, 1, 2]),
                     "c2w": [[float(v) for v in row] for row in c2w[i]]}
            for key in ("elevation", "azimuth", "radius"):
                val = getattr(self, key)
                if val is not None:
                    entry[key] = float(val[i])
            cams.append(entry)
        return {"convention": "opencv", "width": self.width, "height": self.height, "cameras": cams}

    def to_json(self, path: str | Path) -> Path:
        from motion4d.utils.io import write_json

        return write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: dict, source: str = "camera data") -> "Cameras":
        """Parse the camera JSON format; errors name the bad field."""
        if not isinstance(data, dict) or "cameras" not in data:
            raise ValueError(f"{source}: expected an object with 'width', 'height' and a 'cameras' list")
        conv = data.get("convention", "opencv")
        if conv not in ("opencv", "opengl"):
            raise ValueError(f"{source}: convention={conv!r} is not one of 'opencv', 'opengl'")
        for key in ("width", "height"):
            if not isinstance(data.get(key), int) or isinstance(data[key], bool) or not 0 < data[key] <= 16384:
                raise ValueError(f"{source}: {key!r} must be a positive integer (1..16384 pixels), got {data.get(key)!r}")
        cams = data["cameras"]
        if not isinstance(cams, list) or not cams:
            raise ValueError(f"{source}: 'cameras' must be a non-empty list")
        c2ws, Ks, names, meta = [], [], [], {k: [] for k in ("elevation", "azimuth", "radius")}
        for i, cam in enumerate(cams):
            if not isinstance(cam, dict):
                raise ValueError(f"{source}: camera {i} must be an object with fx, fy, cx, cy and c2w")
            missing = [k for k in ("fx", "fy", "cx", "cy", "c2w") if k not in cam]
            if missing:
                raise ValueError(f"{source}: camera {i} lacks {', '.join(missing)}")
            fx, fy, cx, cy = (_number(cam[k], f"{source}: camera {i} {k!r}") for k in ("fx", "fy", "cx", "cy"))
            if fx <= 0 or fy <= 0:
                raise ValueError(f"{source}: camera {i} focal lengths must be > 0 pixels, got fx={fx:g} fy={fy:g}")
            rows = cam["c2w"]
            if not isinstance(rows, list) or len(rows) not in (3, 4) or any(
                    not isinstance(r, list) or len(r) != 4 for r in rows):
                raise ValueError(f"{source}: camera {i} 'c2w' must be a finite 4x4 (or 3x4) matrix")
            c2w = torch.tensor([[_number(v, f"{source}: camera {i} 'c2w' entry") for v in r] for r in rows],
                               dtype=torch.float64)
            if c2w.shape == (3, 4):
                c2w = torch.cat([c2w, torch.tensor([[0.0, 0.0, 0.0, 1.0]], dtype=torch.float64)])
            check_rotation(c2w, f"{source}: camera {i} 'c2w'")
            if conv == "opengl":
                c2w = c2w @ _OPENCV_FROM_OPENGL.double()
            c2ws.append(c2w)
            Ks.append(torch.tensor([[fx, 0.0, cx], [0.0, fy, cy], [0.0, 0.0, 1.0]], dtype=torch.float64))
            names.append(check_name(cam.get("name", f"view_{i:03d}"), f"{source}: camera {i} name"))
            for key in meta:
                v = cam.get(key)
                meta[key].append(None if v is None else _number(v, f"{source}: camera {i} {key!r}"))
            if meta["radius"][-1] is not None and meta["radius"][-1] <= 0:
                raise ValueError(f"{source}: camera {i} 'radius' must be > 0, got {meta['radius'][-1]:g}")
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"{source}: camera names must be unique; repeated: {', '.join(dupes[:5])}")
        meta_t = {k: (torch.tensor(v, dtype=torch.float32) if all(x is not None for x in v) else None)
                  for k, v in meta.items()}
        viewmats = torch.linalg.inv(torch.stack(c2ws)).float()
        return cls(viewmats, torch.stack(Ks).float(), data["width"], data["height"], names=names, **meta_t)

    @classmethod
    def from_json(cls, path: str | Path) -> "Cameras":
        path = Path(path)
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise FileNotFoundError(f"cameras JSON {str(path)!r} does not exist") from None
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ValueError(f"cameras JSON {str(path)!r} is not valid JSON: {e}") from None
        return cls.from_dict(data, source=str(path))


def orbit_camera(elevation: float, azimuth: float, radius: float = 2.5, fovy: float = 49.1,
                 width: int = 256, height: int | None = None) -> Cameras:
    """One orbit camera (a batch of size 1). See the module docstring for angle conventions."""
    return Cameras.orbit(elevation, azimuth, radius, fovy, width, height)


def orbit_cameras(elevations: Sequence[float], azimuths: Sequence[float], radius: float = 2.5, fovy: float = 49.1,
                  width: int = 256, height: int | None = None) -> Cameras:
    """Every (elevation, azimuth) pair, elevation-major: ``len(elevations) * len(azimuths)`` cameras."""
    el = torch.as_tensor(elevations, dtype=torch.float32)
    az = torch.as_tensor(azimuths, dtype=torch.float32)
    grid_el, grid_az = torch.meshgrid(el, az, indexing="ij")
    return Cameras.orbit(grid_el.reshape(-1), grid_az.reshape(-1), radius, fovy, width, height)


def turntable(n: int, elevation: float = 0.0, radius: float = 2.5, fovy: float = 49.1, width: int = 256,
              height: int | None = None, start_azimuth: float = 0.0) -> Cameras:
    """``n`` cameras evenly spaced in azimuth over a full turn, for turntable videos."""
    if n < 1:
        raise ValueError(f"turntable needs n >= 1 cameras, got {n}")
    az = start_azimuth + torch.arange(n, dtype=torch.float32) * (360.0 / n)
    return Cameras.orbit(elevation, az, radius, fovy, width, height)
