"""What the text routes share: checking the prompt and the ``--motion`` / ``--appearance`` arguments, opening the
run folder, the customization stages (``motion``, ``appearance``) and the closing summary."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from motion4d.pipelines.config import MAX_PROMPT_CHARS
from motion4d.pipelines.manifest import RunManifest

__all__ = ["VIDEO_SUFFIXES", "IMAGE_SUFFIXES", "check_prompt", "classify_inputs", "open_run", "customize",
           "run_summary"]

VIDEO_SUFFIXES = (".mp4", ".webm", ".mov", ".avi", ".mkv", ".gif")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")

Log = Callable[[str], None]


def check_prompt(prompt: str) -> None:
    """``ValueError`` for an empty prompt or one longer than :data:`MAX_PROMPT_CHARS`."""
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the prompt is empty; describe the object and its motion, e.g. \"a red ball jumping\"")
    if len(prompt) > MAX_PROMPT_CHARS:
        raise ValueError(f"the prompt has {len(prompt)} characters; at most {MAX_PROMPT_CHARS} are allowed "
                         f"(text encoders read about 77 tokens)")


def classify_inputs(items: list[str], what: str, media_suffixes: tuple[str, ...], lora_kind: str
                    ) -> dict[str, list[Path]]:
    """Sort ``--motion`` / ``--appearance`` arguments into media files to train on and a ready LoRA.

    Returns ``{"videos"|"images": [...], "lora": [file]}`` (keys only where present). Folders of media count as
    their media files; a folder holding ``<kind>.safetensors`` is a ``train-motion`` run.
    """
    key = "videos" if lora_kind == "temporal" else "images"
    media: list[Path] = []
    loras: list[Path] = []
    for raw in items:
        p = Path(raw).expanduser()
        if not p.exists():
            raise FileNotFoundError(f"--{what} {raw!r} does not exist")
        if p.is_dir() and (p / f"{lora_kind}.safetensors").is_file():
            loras.append(p / f"{lora_kind}.safetensors")
        elif p.is_dir():
            found = sorted(f for f in p.iterdir() if f.suffix.lower() in media_suffixes)
            if not found:
                raise ValueError(f"--{what} folder {raw!r} holds no {key} ({' '.join(media_suffixes)}) and no "
                                 f"{lora_kind}.safetensors")
            media += found
        elif p.suffix == ".safetensors":
            loras.append(p)
        elif p.suffix.lower() in media_suffixes:
            media.append(p)
        else:
            raise ValueError(f"--{what} {raw!r} is not one of the {key} formats ({' '.join(media_suffixes)}), a "
                             f"{lora_kind}.safetensors file or a train-motion run folder")
    if loras and media:
        raise ValueError(f"--{what} mixes a trained LoRA with {key} to train on; pass one or the other")
    if len(loras) > 1:
        raise ValueError(f"--{what} names {len(loras)} LoRA files; pass one")
    out: dict[str, list[Path]] = {}
    if media:
        out[key] = media
    if loras:
        out["lora"] = loras
    return out


def open_run(out: Path, route: str, cfg: Any, stages: list[str], overwrite: bool) -> RunManifest:
    """Open (or continue) the run folder ``out`` of ``route`` for ``cfg`` and write its ``config.yaml``."""
    from motion4d.config import config_to_dict, config_to_yaml
    from motion4d.utils.io import atomic_path

    manifest = RunManifest.open(out, route, config_to_dict(cfg), stages, overwrite=overwrite)
    with atomic_path(out / "config.yaml") as tmp:
        tmp.write_text(config_to_yaml(cfg))
    return manifest


def customize(manifest: RunManifest, cfg: Any, model: str, motion: dict, appearance: dict, out: Path, log: Log,
              video: Any = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Stages ``motion`` and ``appearance``: the temporal / spatial LoRAs of the customized video ``model``, trained
    on the reference media (:func:`motion4d.pipelines.stages.lora_stage`) or taken as given. ``video``: the clip
    settings the LoRAs train at (default ``cfg.clip``). Returns both stages' outputs (``lora``: file or None)."""
    from motion4d.pipelines import stages

    m = manifest.run("motion", lambda: stages.lora_stage(motion, "temporal", model, cfg, out / "motion", log,
                                                         video=video), settings=[model, motion], log=log)
    a = manifest.run("appearance", lambda: stages.lora_stage(appearance, "spatial", model, cfg, out / "appearance",
                                                             log, video=video), settings=[model, appearance], log=log)
    return m, a


def run_summary(route: str, scores: dict[str, Any], outputs: dict[str, Path], manifest: RunManifest) -> str:
    """The closing lines: total time, numeric scores and the main output paths."""
    total = sum(v for v in manifest.timings().values() if v)
    shown = ", ".join(f"{k} {v:.3g}" for k, v in scores.items() if isinstance(v, (int, float)))
    lines = [f"{route} done in {total:.0f}s: {shown or 'no scores'}"]
    lines += [f"  {name:<16}{path}" for name, path in outputs.items()]
    return "\n".join(lines)
