"""Import released MotionDirector LoRA checkpoints into motion4d's safetensors format (research notes §5).

MotionDirector saves each path as ``checkpoint-N/{spatial,temporal}/lora/N_unet.pt``: a pickled Python list
``[up_0, down_0, up_1, down_1, ...]`` with no keys (``up`` [out, r], ``down`` [r, in]). The i-th pair belongs to the
i-th targeted Linear layer in the UNet's module-traversal order, which is exactly
:func:`motion4d.video.lora.target_module_names` (``transformer_in``, ``down_blocks``, ``up_blocks``, then
``mid_block``; 170 temporal and 96 spatial layers for ZeroScope/ModelScope). The list is read with
``torch.load(weights_only=True)`` (no code execution), its length and every shape are checked against the base
UNet, and a mismatch is refused. LoRA scale is 1 (alpha = rank).

Layers may have different ranks: MotionDirector's ``LoraInjectedLinear`` lowers the rank of a layer whose
``min(in, out)`` is below the requested rank, so a rank-48 training holds ranks 48 and 32. The converted file keeps
each layer's rank (``rank_pattern``, with alpha = that rank: scale 1 everywhere).

Multi-video trainings without ``single_spatial_lora`` save one spatial LoRA per training video in one file: per
layer, N consecutive (up, down) pairs, video 0 first (pair ``j * N + k`` is video k's LoRA of layer j). Such a file
is reported and skipped unless ``spatial_index=K`` picks video K's LoRA; the temporal path converts either way.

``cached_latents/cached_K.pt`` (the clip MotionDirector cached, used for its noise prior) is converted too when it
is found next to the checkpoint: ``OUT/reference.safetensors`` with ``latents`` [C, F, h, w], usable as
``--noise-prior-video``, and, when MotionDirector stored it, ``inversion_noise`` [C, F, h, w] with metadata
``inversion_steps`` (MotionDirector always inverts with 50 DDIM steps; ``generate-video`` uses the stored noise
when its step count matches ``--steps``).
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

from motion4d.utils.io import atomic_path
from motion4d.video.checkpoint import LoRACheckpoint, rank_layout, save_lora
from motion4d.video.lora import PATH_TARGETS, target_module_names

__all__ = ["find_motiondirector_files", "read_motiondirector_list", "motiondirector_to_state_dict",
           "convert_motiondirector", "base_unet_skeleton", "spatial_video_count", "select_video",
           "ConvertResult", "MOTIONDIRECTOR_INVERSION_STEPS"]

MOTIONDIRECTOR_INVERSION_STEPS = 50  # MotionDirector_train.py caches a 50-step DDIM inversion


class ConvertResult(dict):
    """``{name: written path}`` (``spatial``, ``temporal``, ``reference``) plus ``notes`` (one line each, for the
    user: e.g. a multi-video spatial file that was skipped) and ``spatial_videos`` (per-video spatial LoRAs in the
    spatial file: 1 for an ordinary file, 0 when there is none)."""

    def __init__(self):
        super().__init__()
        self.notes: list[str] = []
        self.spatial_videos = 0


def _lora_file(folder: Path) -> Path | None:
    files = sorted(f for f in folder.iterdir() if f.is_file() and "unet" in f.name and f.suffix == ".pt")
    return files[0] if files else None


def find_motiondirector_files(path: str | Path) -> dict[str, Path]:
    """``{"spatial"|"temporal": file}`` under a checkpoint-N folder, a ``spatial``/``temporal`` folder, a ``lora``
    folder or a single ``N_unet.pt`` file. ``FileNotFoundError``/``ValueError`` say what was expected."""
    p = Path(path).expanduser()
    if not p.exists():
        raise FileNotFoundError(f"MotionDirector checkpoint {str(p)!r} does not exist")
    found: dict[str, Path] = {}
    if p.is_file():
        kind = next((k for k in PATH_TARGETS if k in p.parts), None)
        found[kind or "auto"] = p
        return found
    for kind in PATH_TARGETS:
        for folder in (p / kind / "lora", p / "lora" if p.name == kind else None, p if p.parent.name == kind else None):
            if folder is not None and folder.is_dir():
                f = _lora_file(folder)
                if f is not None:
                    found[kind] = f
                    break
    if not found:
        ckpts = sorted(x.name for x in p.glob("checkpoint-*"))
        hint = f"; this folder has {', '.join(ckpts)}: pass one of them" if ckpts else ""
        raise ValueError(f"no MotionDirector LoRA file (<step>_unet.pt under spatial/lora or temporal/lora) found "
                         f"in {str(p)!r}{hint}")
    return found


def read_motiondirector_list(file: str | Path) -> list[torch.Tensor]:
    """Load the pickled ``[up, down, up, down, ...]`` list safely (``weights_only=True``)."""
    import warnings

    try:
        with warnings.catch_warnings():  # torch warns about pickle protocols; the error below says what matters
            warnings.simplefilter("ignore")
            data = torch.load(str(file), map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - unpickling errors come in many types
        raise ValueError(f"cannot read {str(file)!r} as a MotionDirector LoRA list: {_load_reason(e)}. motion4d "
                         f"reads these files only as plain tensors (torch.load with weights_only=True), so a file "
                         f"cannot run code; a file that needs more than that is not a MotionDirector LoRA list and "
                         f"is refused") from None
    if not isinstance(data, (list, tuple)) or not all(isinstance(t, torch.Tensor) for t in data):
        raise ValueError(f"{str(file)!r} does not hold a list of tensors (got {type(data).__name__}); it is not a "
                         f"MotionDirector LoRA file")
    for i, t in enumerate(data):
        if not t.is_floating_point() or not bool(torch.isfinite(t).all()):
            raise ValueError(f"{str(file)!r}: tensor {i} is not finite floating-point data ({t.dtype}, NaN or inf "
                             f"values); the LoRA file is corrupt")
    return [t.detach() for t in data]


def _load_reason(e: Exception) -> str:
    """The reason in a ``torch.load`` error, without torch's advice to retry with ``weights_only=False``
    (which would let the file run code)."""
    text = str(e)
    if "WeightsUnpickler error:" in text:
        text = text.split("WeightsUnpickler error:", 1)[1]
        text = text.split("Check the documentation of torch.load", 1)[0]
        return "unsupported content (" + " ".join(text.split())[:200] + ")"
    lines = [ln.strip() for ln in text.splitlines() if ln.strip() and "weights_only" not in ln]
    return (lines[0] if lines else type(e).__name__)[:200]


def base_unet_skeleton(base_model: str | None = "zeroscope"):
    """The base UNet3D built from its config on the meta device (no weights are loaded or needed).

    Uses ``<model>/unet/config.json`` when the model is available locally; for ZeroScope/ModelScope (identical
    architectures) it falls back to diffusers' default UNet3DConditionModel config, which is theirs."""
    from accelerate import init_empty_weights
    from diffusers import UNet3DConditionModel

    from motion4d.hub import ModelNotFoundError, model_info, resolve_pretrained

    config = None
    try:
        folder = resolve_pretrained(base_model or "zeroscope", purpose="MotionDirector import")
        cfg_file = folder / "unet" / "config.json"
        if not cfg_file.is_file():
            raise ValueError(f"{str(folder)!r} has no unet/config.json")
        config = json.loads(cfg_file.read_text())
    except ModelNotFoundError:
        info = model_info(base_model or "zeroscope")
        if info is None or info.key not in ("zeroscope", "modelscope"):
            raise
    with init_empty_weights():
        return UNet3DConditionModel.from_config(config) if config else UNet3DConditionModel()


def motiondirector_to_state_dict(tensors: list[torch.Tensor], unet, path: str | None = None,
                                 source: str = "") -> tuple[str, int, dict[str, torch.Tensor]]:
    """Map a MotionDirector list onto peft keys of ``unet``'s ``path`` layers; ``path=None`` infers it from the
    count. Returns (path, most common rank, state dict); layers may differ in rank (see
    :func:`motion4d.video.checkpoint.rank_layout`). ``ValueError`` on any count or shape mismatch."""
    where = source or "MotionDirector LoRA"
    if len(tensors) % 2:
        raise ValueError(f"{where}: {len(tensors)} tensors, expected (up, down) pairs (an even count)")
    candidates = [path] if path else list(PATH_TARGETS)
    layers = {k: target_module_names(unet, k) for k in candidates}
    matches = [k for k in candidates if len(layers[k]) * 2 == len(tensors)]
    if not matches:
        expected = ", ".join(f"{2 * len(layers[k])} for {k}" for k in candidates)
        hint = ""
        if path == "spatial" and spatial_video_count(tensors, unet) > 1:
            hint = (f" It is a multi-video spatial file with {spatial_video_count(tensors, unet)} interleaved "
                    f"per-video LoRAs: pick one with spatial_index (--spatial-index K).")
        raise ValueError(f"{where} holds {len(tensors)} tensors but the base model needs {expected} "
                         f"(2 per adapted layer); it was made for another base model or path.{hint}")
    kind = matches[0]
    modules = dict(unet.named_modules())
    state = {}
    for i, name in enumerate(layers[kind]):
        up, down = tensors[2 * i], tensors[2 * i + 1]
        base = modules[name]
        base = getattr(base, "base_layer", base)
        r = down.shape[0] if down.ndim == 2 else -1
        if up.ndim != 2 or down.ndim != 2 or up.shape != (base.out_features, r) or down.shape != (r, base.in_features):
            raise ValueError(f"{where}: pair {i} ({name}) has up {tuple(up.shape)}, down {tuple(down.shape)}, but the "
                             f"base layer is {base.in_features} -> {base.out_features} (expected up "
                             f"[{base.out_features}, r], down [r, {base.in_features}])")
        state[f"{name}.lora_A.weight"] = down.float().contiguous()
        state[f"{name}.lora_B.weight"] = up.float().contiguous()
    return kind, rank_layout(state)[0], state


def spatial_video_count(tensors: list[torch.Tensor], unet) -> int:
    """Per-video spatial LoRAs in a MotionDirector list: ``len(tensors) / (2 * spatial layers)`` when that is a
    whole number (1: an ordinary file), else 0."""
    n = len(target_module_names(unet, "spatial"))
    return len(tensors) // (2 * n) if n and tensors and len(tensors) % (2 * n) == 0 else 0


def select_video(tensors: list[torch.Tensor], num_videos: int, index: int) -> list[torch.Tensor]:
    """Video ``index``'s (up, down) pairs of a multi-video spatial list (pair ``j * num_videos + index`` of layer
    j: MotionDirector nests one wrapper per video inside the previous one and saves them outermost first)."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < num_videos:
        raise ValueError(f"--spatial-index {index!r} is out of range: the spatial file holds {num_videos} per-video "
                         f"LoRA(s), so the index must be 0..{num_videos - 1}")
    out = []
    for pair in range(index, len(tensors) // 2, num_videos):
        out += [tensors[2 * pair], tensors[2 * pair + 1]]
    return out


def _convert_cached_latents(ckpt_file: Path, out: Path) -> Path | None:
    """Find MotionDirector's ``cached_latents`` for this checkpoint and convert its first clip (or return None)."""
    from safetensors.torch import save_file

    for parent in list(ckpt_file.parents)[:6]:
        folder = parent / "cached_latents"
        if folder.is_dir():
            files = sorted(folder.glob("cached_*.pt"))
            if not files:
                return None
            try:
                batch = torch.load(str(files[0]), map_location="cpu", weights_only=True)
            except Exception:  # noqa: BLE001 - an unreadable cache is not fatal for the LoRA import
                return None
            if not isinstance(batch, dict) or not isinstance(batch.get("latents"), torch.Tensor):
                return None
            latents = batch["latents"]
            latents = latents[0] if latents.ndim == 5 else latents
            tensors = {"latents": latents.float().contiguous()}
            inv = batch.get("inversion_noise")
            meta = {"source": str(files[0]), "kind": "video"}
            if isinstance(inv, torch.Tensor):
                tensors["inversion_noise"] = (inv[0] if inv.ndim == 5 else inv).float().contiguous()
                meta["inversion_steps"] = str(MOTIONDIRECTOR_INVERSION_STEPS)
            prompt = batch.get("text_prompt")
            caption = prompt[0] if isinstance(prompt, (list, tuple)) and prompt else str(prompt or "")
            target = out / "reference.safetensors"
            with atomic_path(target) as tmp:
                save_file(tensors, str(tmp), metadata={**meta, "caption": caption})
            return target
    return None


def convert_motiondirector(path: str | Path, out_dir: str | Path, *, base_model: str = "zeroscope",
                           unet=None, spatial_index: int | None = None) -> ConvertResult:
    """Convert the MotionDirector LoRA file(s) under ``path`` into ``out_dir/{spatial,temporal}.safetensors``
    (and ``reference.safetensors`` from ``cached_latents`` when present). ``unet`` may pass the base UNet
    (else it is built from ``base_model``'s config). ``spatial_index`` picks one per-video LoRA of a multi-video
    spatial file (see module docstring); every file is checked before anything is written. Returns a
    :class:`ConvertResult` (``{name: written path}`` with ``notes``)."""
    files = find_motiondirector_files(path)
    lists = {kind: read_motiondirector_list(file) for kind, file in files.items()}  # refuse bad files first
    if unet is None:
        unet = base_unet_skeleton(base_model)
    from motion4d.video.backbones.unet3d import canonical_model_id, unet_fingerprint

    result = ConvertResult()
    plans = []
    for kind, file in files.items():
        tensors, extra = lists[kind], {}
        n_temporal = 2 * len(target_module_names(unet, "temporal"))
        videos = spatial_video_count(tensors, unet) if kind == "spatial" or (
            kind == "auto" and len(tensors) != n_temporal) else 0
        if videos:
            kind = "spatial"
            result.spatial_videos = videos
            if videos > 1 and spatial_index is None:
                result.notes.append(f"{file} holds {videos} per-video spatial LoRAs (MotionDirector multi-video "
                                    f"training); not converted: pass --spatial-index K (0..{videos - 1}) to convert "
                                    f"video K's appearance LoRA")
                continue
            if spatial_index is not None:
                tensors = select_video(tensors, videos, spatial_index)
                extra = {"spatial_index": spatial_index, "spatial_videos": videos}
                if videos > 1:
                    result.notes.append(f"{file} holds {videos} per-video spatial LoRAs; converted video "
                                        f"{spatial_index}'s")
        plans.append((kind, file, tensors, extra))
    if spatial_index is not None and not result.spatial_videos:
        raise ValueError(f"--spatial-index {spatial_index} was given but {str(path)!r} has no spatial LoRA file")
    converted = []
    for kind, file, tensors, extra in plans:
        real_kind, rank, state = motiondirector_to_state_dict(tensors, unet, None if kind == "auto" else kind,
                                                              source=str(file))
        if real_kind in (k for k, *_ in converted):
            raise ValueError(f"two {real_kind} LoRA files found under {str(path)!r}")
        converted.append((real_kind, file, state, extra))
    if not converted:
        raise ValueError(" ".join(result.notes) or f"nothing to convert under {str(path)!r}")
    base_id = canonical_model_id(base_model)
    out = Path(out_dir)
    for kind, file, state, extra in converted:
        rank, rank_pattern, alpha_pattern = rank_layout(state)
        ckpt = LoRACheckpoint(tensors=state, path=kind, rank=rank, alpha=float(rank), base_model=base_id,
                              base_model_fingerprint=unet_fingerprint(unet), base_model_probe=None,
                              adapter_name=kind, source=f"MotionDirector {file}", extra=extra,
                              rank_pattern=rank_pattern, alpha_pattern=alpha_pattern)
        result[kind] = save_lora(ckpt, out / f"{kind}.safetensors")
        if rank_pattern:
            ranks = sorted({rank, *rank_pattern.values()})
            result.notes.append(f"{kind}: layers of ranks {', '.join(map(str, ranks))} (MotionDirector lowers the "
                                f"rank of narrow layers); each layer keeps its own")
    ref = _convert_cached_latents(next(iter(files.values())), out)
    if ref is not None:
        result["reference"] = ref
    return result
