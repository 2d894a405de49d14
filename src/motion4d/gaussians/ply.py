"""PLY I/O in the standard 3D Gaussian Splatting layout (what splat viewers open).

One ``vertex`` element, binary little-endian, float32 properties in this order::

    x y z  nx ny nz  f_dc_0 f_dc_1 f_dc_2  f_rest_0 ... f_rest_{3(K-1)-1}  opacity
    scale_0 scale_1 scale_2  rot_0 rot_1 rot_2 rot_3

* ``f_dc_c`` is the DC SH coefficient of colour channel c (colour = 0.5 + SH);
* ``f_rest_j`` holds the higher SH bases **channel-major**: ``j = c * (K - 1) + (k - 1)`` for
  basis k >= 1 and channel c (3DGS stores ``features_rest.transpose(1, 2).flatten(1)``);
* ``opacity`` is the logit, ``scale_*`` are log-scales, ``rot_*`` is the quaternion w, x, y, z;
* ``nx ny nz`` are zeros (unused; kept because viewers expect them).

K - 1 = 0, 3, 8 or 15 (SH degree 0..3) is read from the number of ``f_rest_*`` properties.
"""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from motion4d.gaussians.model import Gaussians, GaussianModel

__all__ = ["save_ply", "load_ply", "ply_property_names", "MAX_VERTICES", "MAX_LOG_SCALE"]

_PLY_TYPES = {"float": "f4", "float32": "f4", "double": "f8", "float64": "f8", "uchar": "u1", "uint8": "u1",
              "char": "i1", "int8": "i1", "short": "i2", "int16": "i2", "ushort": "u2", "uint16": "u2",
              "int": "i4", "int32": "i4", "uint": "u4", "uint32": "u4"}
_REST_TO_DEGREE = {0: 0, 9: 1, 24: 2, 45: 3}


def ply_property_names(sh_degree: int) -> list[str]:
    """Vertex property names of a 3DGS PLY with SH ``sh_degree`` (0..3), in file order."""
    k = (sh_degree + 1) ** 2
    return (["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
            + [f"f_rest_{j}" for j in range(3 * (k - 1))]
            + ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"])


def _raw_arrays(obj: GaussianModel | Gaussians) -> dict[str, np.ndarray]:
    with torch.no_grad():
        if isinstance(obj, GaussianModel):
            sh = torch.cat([obj.sh_dc, obj.sh_rest], dim=1)
            raw = {"means": obj.means, "log_scales": obj.log_scales, "quats": obj.quats,
                   "opacity_logits": obj.opacity_logits, "sh": sh}
        elif isinstance(obj, Gaussians):
            op = obj.opacities.clamp(1e-7, 1 - 1e-7)
            raw = {"means": obj.means, "log_scales": torch.log(obj.scales.clamp_min(1e-30)), "quats": obj.quats,
                   "opacity_logits": torch.log(op) - torch.log1p(-op), "sh": obj.sh}
        else:
            raise TypeError(f"save_ply needs a GaussianModel or Gaussians, got {type(obj).__name__}")
        return {k: v.detach().cpu().float().numpy() for k, v in raw.items()}


def save_ply(gaussians: GaussianModel | Gaussians, path: str | os.PathLike) -> Path:
    """Write ``gaussians`` as a 3DGS PLY (atomically) and return the path."""
    from motion4d.utils.io import atomic_path

    raw = _raw_arrays(gaussians)
    n, k = raw["sh"].shape[:2]
    degree = int(round(k ** 0.5)) - 1
    names = ply_property_names(degree)
    data = np.zeros(n, dtype=[(name, "<f4") for name in names])
    for i, axis in enumerate("xyz"):
        data[axis] = raw["means"][:, i]
    for c in range(3):
        data[f"f_dc_{c}"] = raw["sh"][:, 0, c]
        for b in range(1, k):
            data[f"f_rest_{c * (k - 1) + b - 1}"] = raw["sh"][:, b, c]
    data["opacity"] = raw["opacity_logits"]
    for i in range(3):
        data[f"scale_{i}"] = raw["log_scales"][:, i]
    for i in range(4):
        data[f"rot_{i}"] = raw["quats"][:, i]
    header = ["ply", "format binary_little_endian 1.0", "comment written by motion4d (3DGS layout)",
              f"element vertex {n}"] + [f"property float {name}" for name in names] + ["end_header"]
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(("\n".join(header) + "\n").encode("ascii"))
            f.write(data.tobytes())
    return Path(path)


#: Largest vertex count accepted from a header (a guard against absurd counts; 3DGS scenes hold < 20M).
MAX_VERTICES = 200_000_000
#: Largest log-scale accepted: exp(88.7) overflows float32, so such a Gaussian renders as inf/NaN.
MAX_LOG_SCALE = 80.0
_MAX_HEADER_LINES = 10_000


def _read_header(f, path: str) -> tuple[int, list[tuple[str, str]]]:
    first = f.readline(64).strip()
    if first != b"ply":
        raise ValueError(f"{path!r} is not a PLY file (first line {first[:20]!r})")
    fmt, count, props, element = None, None, [], None
    for _ in range(_MAX_HEADER_LINES):
        line = f.readline(4096)
        if not line:
            raise ValueError(f"{path!r}: PLY header has no end_header")
        parts = line.decode("ascii", errors="replace").split()
        if not parts or parts[0] in ("comment", "obj_info"):
            continue
        if parts[0] == "end_header":
            break
        if parts[0] in ("format", "element", "property") and len(parts) < {"format": 2, "element": 3,
                                                                           "property": 3}[parts[0]]:
            raise ValueError(f"{path!r}: malformed PLY header line {line.strip()[:60]!r}")
        if parts[0] == "format":
            fmt = parts[1]
        elif parts[0] == "element":
            element = parts[1]
            try:
                n = int(parts[2])
            except ValueError:
                raise ValueError(f"{path!r}: element {element!r} has a count of {parts[2][:20]!r}, "
                                 f"not an integer") from None
            if element == "vertex":
                count = n
            elif count is None and n > 0:  # elements after the vertices are ignored
                raise ValueError(f"{path!r}: element {element!r} comes before 'vertex'; not a 3DGS PLY")
        elif parts[0] == "property" and element == "vertex":
            if parts[1] == "list":
                raise ValueError(f"{path!r}: list property {parts[-1]!r} in 'vertex'; not a 3DGS PLY")
            if parts[1] not in _PLY_TYPES:
                raise ValueError(f"{path!r}: unknown PLY property type {parts[1]!r}")
            props.append((parts[2], _PLY_TYPES[parts[1]]))
    else:
        raise ValueError(f"{path!r}: PLY header is longer than {_MAX_HEADER_LINES} lines")
    if fmt != "binary_little_endian":
        raise ValueError(f"{path!r}: PLY format {fmt!r} is not supported; 3DGS PLYs are binary_little_endian")
    if count is None:
        raise ValueError(f"{path!r}: PLY has no 'vertex' element")
    if not 0 < count <= MAX_VERTICES:
        raise ValueError(f"{path!r}: PLY header says {count} vertices; a Gaussian PLY needs between 1 and "
                         f"{MAX_VERTICES:,}")
    names = [n for n, _ in props]
    if len(set(names)) != len(names):
        raise ValueError(f"{path!r}: PLY vertex properties repeat a name: "
                         f"{sorted({n for n in names if names.count(n) > 1})[:5]}")
    return count, props


def _check_values(data: np.ndarray, names: list[str], path: str) -> None:
    """Refuse non-finite values and log-scales that overflow (they render as blank or NaN images)."""
    for name in names:
        col = np.asarray(data[name], dtype=np.float64)
        bad = int(np.count_nonzero(~np.isfinite(col)))
        if bad:
            raise ValueError(f"{path!r}: {bad} of {len(col)} Gaussians have a non-finite {name!r} (NaN or inf)")
        if name.startswith("scale_") and col.max() > MAX_LOG_SCALE:
            raise ValueError(f"{path!r}: {name!r} (a log-scale) reaches {col.max():.3g}; values above "
                             f"{MAX_LOG_SCALE:g} overflow (a 3DGS PLY stores log(scale))")


def load_ply(path: str | os.PathLike, device: str | torch.device = "cpu") -> GaussianModel:
    """Read a 3DGS PLY into a :class:`GaussianModel` (SH degree from the ``f_rest_*`` count).

    Raises ``ValueError`` naming what is missing when the file is not in the 3DGS layout (for
    example a plain point cloud or mesh PLY), when the header's vertex count is not in
    ``1..MAX_VERTICES`` or exceeds the data, and when a value is NaN/inf or a log-scale exceeds
    :data:`MAX_LOG_SCALE` (such Gaussians render as blank or NaN images and crash training).
    """
    path = str(path)
    if not os.path.exists(path):
        raise FileNotFoundError(f"PLY file {path!r} does not exist")
    if os.path.isdir(path):
        raise IsADirectoryError(f"PLY path {path!r} is a folder, not a file")
    with open(path, "rb") as f:
        count, props = _read_header(f, path)
        dtype = np.dtype([(name, "<" + t) for name, t in props])
        size = os.fstat(f.fileno()).st_size - f.tell()
        if count * dtype.itemsize > size:
            raise ValueError(f"{path!r}: truncated PLY ({size} bytes of vertex data, expected "
                             f"{count * dtype.itemsize} for {count} vertices)")
        buf = f.read(count * dtype.itemsize)
    if len(buf) < count * dtype.itemsize:
        raise ValueError(f"{path!r}: truncated PLY ({len(buf)} bytes of vertex data, expected "
                         f"{count * dtype.itemsize})")
    data = np.frombuffer(buf, dtype=dtype, count=count)
    names = set(dtype.names)
    n_rest = sum(1 for name in names if name.startswith("f_rest_"))
    if n_rest not in _REST_TO_DEGREE:
        raise ValueError(f"{path!r}: {n_rest} f_rest_* properties; a 3DGS PLY has 0, 9, 24 or 45")
    degree = _REST_TO_DEGREE[n_rest]
    missing = [name for name in ply_property_names(degree) if name not in names and name not in ("nx", "ny", "nz")]
    if missing:
        raise ValueError(f"{path!r} is not a 3DGS Gaussian PLY: missing vertex properties "
                         f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''}")
    _check_values(data, [n for n in ply_property_names(degree) if n not in ("nx", "ny", "nz")], path)

    def cols(*keys):
        return torch.from_numpy(np.stack([np.asarray(data[k], dtype=np.float32) for k in keys], axis=-1))

    k = (degree + 1) ** 2
    sh = torch.zeros(count, k, 3)
    sh[:, 0] = cols("f_dc_0", "f_dc_1", "f_dc_2")
    if k > 1:
        rest = cols(*[f"f_rest_{j}" for j in range(3 * (k - 1))]).reshape(count, 3, k - 1)
        sh[:, 1:] = rest.transpose(1, 2)
    model = GaussianModel(cols("x", "y", "z"), cols("scale_0", "scale_1", "scale_2"),
                          cols("rot_0", "rot_1", "rot_2", "rot_3"), cols("opacity")[:, 0], sh[:, :1], sh[:, 1:],
                          sh_degree=degree)
    return model.to(device)
