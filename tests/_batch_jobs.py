"""Toy batch jobs for the batch tests and benchmark: generate-video on the tiny text-to-video model of
tests/_video_tiny.py (32x32, 4 frames, 2 steps), plus one job that fails at run time (width 30 is not a
multiple of the model's factor 4; it passes the up-front checks, which load no model)."""
from __future__ import annotations

import hashlib
from pathlib import Path

import yaml


def write_jobs(folder: Path, model: Path, *, bad: bool = True, prompts=("a red ball", "a blue cube"),
               seeds=(0, 1), steps: int = 2) -> Path:
    data = {"defaults": {"generate-video": {"model": str(model), "frames": 4, "width": 32, "height": 32,
                                            "steps": steps, "device": "cpu"}},
            "jobs": [{"sweep": {"route": "generate-video", "name": "g", "prompts": list(prompts),
                                "seeds": list(seeds)}}]}
    if bad:
        data["jobs"].append({"route": "generate-video", "name": "bad", "prompt": "x", "width": 30})
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "jobs.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def frames_digest(job_folder: Path) -> str:
    """Hash of a generate-video job's frames (file names and bytes)."""
    h = hashlib.sha256()
    for f in sorted((job_folder / "frames").iterdir()):
        h.update(f.name.encode())
        h.update(f.read_bytes())
    return h.hexdigest()
