"""Minimal PLY writer/reader for Gaussians in the standard 3DGS layout (binary little-endian).

Fields per vertex: ``x y z nx ny nz f_dc_0..2 f_rest_0.. opacity scale_0..2 rot_0..3`` with the
3DGS storage conventions: opacity as a logit, scales as logs, ``rot`` as a wxyz quaternion, and
``f_rest`` channel-major (all red coefficients, then green, then blue). Used for the shapes world's
ground-truth Gaussians; prefers ``motion4d.gaussians.ply`` when that module exists.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from motion4d.gaussians.model import Gaussians

__all__ = ["save_ply", "load_ply"]


def save_ply(gaussians: Gaussians, path: str | Path) -> Path:
    """Write ``gaussians`` to ``path`` atomically in the 3DGS PLY layout."""
    try:
        from motion4d.gaussians.ply import save_ply as shared_save  # the renderer's writer, when present
    except ImportError:
        shared_save = None
    if shared_save is not None:
        return Path(shared_save(gaussians, path) or path)
    from motion4d.utils.io import atomic_path

    g = gaussians.detach().to("cpu")
    n, k = len(g), g.sh.shape[1]
    names = ["x", "y", "z", "nx", "ny", "nz", "f_dc_0", "f_dc_1", "f_dc_2"]
    names += [f"f_rest_{i}" for i in range(3 * (k - 1))]
    names += ["opacity", "scale_0", "scale_1", "scale_2", "rot_0", "rot_1", "rot_2", "rot_3"]
    op = g.opacities.clamp(1e-6, 1 - 1e-6)
    cols = [g.means, torch.zeros(n, 3), g.sh[:, 0], g.sh[:, 1:].transpose(1, 2).reshape(n, -1),
            torch.log(op / (1 - op))[:, None], torch.log(g.scales.clamp_min(1e-12)), g.quats]
    data = torch.cat([c.float().reshape(n, -1) for c in cols], dim=1).numpy().astype("<f4")
    header = "ply\nformat binary_little_endian 1.0\n" + f"element vertex {n}\n" + \
        "".join(f"property float {name}\n" for name in names) + "end_header\n"
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:
            f.write(header.encode("ascii"))
            f.write(np.ascontiguousarray(data).tobytes())
    return Path(path)


def load_ply(path: str | Path) -> Gaussians:
    """Read a 3DGS-layout binary PLY written by :func:`save_ply` (or by 3DGS itself)."""
    try:
        from motion4d.gaussians.ply import load_ply as shared_load
    except ImportError:
        shared_load = None
    if shared_load is not None:
        return shared_load(path)
    raw = Path(path).read_bytes()
    end = raw.find(b"end_header\n")
    if not raw.startswith(b"ply") or end < 0:
        raise ValueError(f"{str(path)!r} is not a PLY file")
    header = raw[:end].decode("ascii").splitlines()
    if "format binary_little_endian 1.0" not in header:
        raise ValueError(f"{str(path)!r}: only binary little-endian PLY is supported")
    n = next(int(line.split()[2]) for line in header if line.startswith("element vertex"))
    names = [line.split()[2] for line in header if line.startswith("property float")]
    data = np.frombuffer(raw[end + len("end_header\n"):], dtype="<f4", count=n * len(names)).reshape(n, len(names))
    col = {name: i for i, name in enumerate(names)}
    pick = lambda keys: torch.from_numpy(data[:, [col[k] for k in keys]].copy())  # noqa: E731
    rest = sorted((k for k in names if k.startswith("f_rest_")), key=lambda k: int(k.split("_")[-1]))
    dc = pick(["f_dc_0", "f_dc_1", "f_dc_2"])[:, None, :]
    sh = dc if not rest else torch.cat([dc, pick(rest).reshape(n, 3, -1).transpose(1, 2)], dim=1)
    return Gaussians(pick(["x", "y", "z"]), pick(["rot_0", "rot_1", "rot_2", "rot_3"]),
                     torch.exp(pick(["scale_0", "scale_1", "scale_2"])),
                     torch.sigmoid(pick(["opacity"])[:, 0]), sh)
