"""A lift result: canonical Gaussians + a deformation field, as a :class:`~motion4d.scene4d.Scene4D`.

Folder layout (written by :func:`motion4d.lift.lift`; ``result.json`` is written last, so a folder
without it is an unfinished run)::

    result.json              what the folder holds (paths, config summary, timings, losses)
    cameras.json             a calibrated run's cameras (training and held-out views; ``motion4d render``)
    config.yaml              the resolved config (load_lift_config(preset=None, file=...) reads it)
    canonical.ply            canonical Gaussians (3DGS PLY layout)
    deformation.safetensors  deformation field weights + architecture (metadata "motion4d")
    ply/000.ply ...          Gaussians per frame
    videos/reference.mp4     reference frames | renders side by side
    videos/turntable.mp4     the object turning while time advances
    mesh/000.obj ...         marching-cubes meshes with vertex colours (Blender Stop-motion-OBJ)
    animation.glb            one mesh topology animated by morph targets (follows the field)
    checkpoints/             training checkpoints (``--resume``)
    previews/                preview renders during training
"""
from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path

import torch

from motion4d.deform.field import DeformConfig, DeformationField, deform
from motion4d.gaussians.model import Gaussians
from motion4d.scene4d import frame_times
from motion4d.utils.io import atomic_path

__all__ = ["LiftResult", "load_result", "save_field", "load_field"]


class LiftResult:
    """Canonical Gaussians deformed by a field (``field=None``: the canonical model held still).

    Implements :class:`~motion4d.scene4d.Scene4D` plus :meth:`deform_points`, which moves arbitrary
    points (mesh vertices) with the continuous field, used by the animated GLB export.
    """

    def __init__(self, canonical: Gaussians, field: DeformationField | None, num_frames: int,
                 path: Path | None = None, metadata: dict | None = None) -> None:
        self.canonical = canonical.detach()
        self.field = field.eval() if field is not None else None
        self._num_frames = int(num_frames)
        self.path = path
        self.metadata = metadata or {}

    @property
    def num_frames(self) -> int:
        return self._num_frames

    def times(self) -> list[float]:
        return frame_times(self._num_frames)

    @torch.no_grad()
    def gaussians_at(self, t: float) -> Gaussians:
        """Gaussians at normalised time ``t`` in [0, 1] (fractional times interpolate)."""
        if self.field is None:
            return self.canonical
        return deform(self.canonical, self.field, float(t))

    @torch.no_grad()
    def deform_points(self, points: torch.Tensor, t: float) -> torch.Tensor:
        """Positions ``[P, 3]`` at time ``t`` of canonical-space points ``points [P, 3]``."""
        points = torch.as_tensor(points, dtype=torch.float32)
        if self.field is None:
            return points.clone()
        return self.field.displace(points.to(self.canonical.means.device), float(t)).to(points.device)

    def static(self) -> "LiftResult":
        """The same canonical model without motion (the static-only baseline)."""
        return LiftResult(self.canonical, None, self._num_frames, self.path, self.metadata)

    def __repr__(self) -> str:
        return (f"LiftResult({len(self.canonical)} Gaussians, {self._num_frames} frames, "
                f"field={'yes' if self.field is not None else 'no'})")


def save_field(field: DeformationField, path: str | Path, num_frames: int) -> Path:
    """Write a field's weights and architecture to ``path`` (safetensors, atomic)."""
    from safetensors.torch import save_file

    meta = {"config": asdict(field.config), "num_frames": int(num_frames), "format": "motion4d.deformation/1"}
    with atomic_path(path) as tmp:
        save_file({k: v.detach().cpu().contiguous() for k, v in field.state_dict().items()}, str(tmp),
                  metadata={"motion4d": json.dumps(meta)})
    return Path(path)


def load_field(path: str | Path) -> tuple[DeformationField, int]:
    """``(field, num_frames)`` from a file written by :func:`save_field`."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        raw = (f.metadata() or {}).get("motion4d")
        if raw is None:
            raise ValueError(f"{str(path)!r} is not a motion4d deformation file (no 'motion4d' metadata)")
        meta = json.loads(raw)
        state = {k: f.get_tensor(k) for k in f.keys()}
    field = DeformationField(DeformConfig(**meta["config"]), state["aabb"])
    field.load_state_dict(state)
    return field, int(meta["num_frames"])


def load_result(path: str | Path, device: str | torch.device = "cpu") -> LiftResult:
    """Load a lift result folder (must hold ``result.json``) as a :class:`LiftResult`."""
    from motion4d.gaussians.ply import load_ply

    root = Path(path)
    info_path = root / "result.json"
    if not info_path.is_file():
        hint = " (the run did not finish; rerun it with --resume)" if (root / "checkpoints").is_dir() else ""
        raise FileNotFoundError(f"{str(root)!r} is not a finished lift result: result.json is missing{hint}")
    from motion4d.utils.run_dir import safe_child

    try:
        info = json.loads(info_path.read_text())
    except (ValueError, UnicodeDecodeError) as e:
        raise ValueError(f"{str(info_path)!r} is not valid JSON: {e}") from None
    if not isinstance(info, dict) or not isinstance(info.get("num_frames"), int) or info["num_frames"] < 1:
        raise ValueError(f"{str(info_path)!r}: 'num_frames' must be an integer >= 1")
    # file names come from the folder's own result.json: they must stay inside the folder
    canonical_path = safe_child(root, info.get("canonical", "canonical.ply"), f"{str(info_path)!r}: 'canonical'")
    canonical = load_ply(canonical_path, device=device).gaussians().detach()
    field = None
    if info.get("deformation"):
        field, _ = load_field(safe_child(root, info["deformation"], f"{str(info_path)!r}: 'deformation'"))
        field = field.to(device)
    return LiftResult(canonical, field, int(info["num_frames"]), root, info)
