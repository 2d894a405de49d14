"""LoRA checkpoints: safetensors with named keys and metadata, validated against the base model on load.

File layout (one adapter per file)::

    tensors   "<module>.lora_A.weight" [r, in_features], "<module>.lora_B.weight" [out_features, r]   (float32)
              e.g. "down_blocks.0.temp_attentions.0.transformer_blocks.0.attn1.to_q.lora_A.weight";
              version 2 only: Conv3d layers (temporal convolutions) "<module>.lora_A.weight" [r, in, kt, kh, kw],
              "<module>.lora_B.weight" [out, r, 1, 1, 1]
    metadata  format="motion4d-lora", format_version ("1"; "2" for a LoRA that adapts convolutions, which also
              records convs="true"), motion4d_version, path ("spatial" | "temporal"),
              adapter_name, rank, alpha, rank_pattern and alpha_pattern (JSON {module: value} for layers whose
              rank/alpha differ from rank/alpha; "{}" when all agree), dropout, target_modules (regex), num_layers,
              base_model (hub id or folder), base_model_fingerprint (UNet architecture hash),
              base_model_probe (JSON list of a few base weights), source, extra (JSON)

Loading refuses, with a message naming both sides, any checkpoint whose architecture fingerprint, layer names or
shapes differ from the UNet, and any checkpoint made for another base model (different id and different probe
weights) unless ``allow_base_mismatch=True``. Versions 1 and 2 are read; a LoRA without convolutions is still
written as version 1 (byte-compatible with motion4d releases that read only version 1), so only a conv LoRA
(``lora.temporal_convs``) needs a motion4d that reads version 2; an older one refuses it by its version. A missing file is an error: motion4d never falls back to an empty
LoRA (MotionDirector silently runs the base model when its LoRA path is wrong).

Every LoRA enters a model through one path: :func:`load_lora_file` -> :meth:`DualPathLoRA.add` (peft's
``inject_adapter_in_model``) -> :meth:`DualPathLoRA.load_state_dict` (peft's ``set_peft_model_state_dict``) ->
:meth:`DualPathLoRA.set_scale` (peft's ``LoraLayer.set_scale``). motion4d files get every check above; safetensors
from other tools (peft-style keys ``<module>.lora_A.weight``/``lora_B.weight``, optional ``unet.`` or
``base_model.model.`` prefix, ``lora_alpha``/``alpha`` metadata, default alpha = rank) get the layer-name and shape
checks (:func:`read_peft_lora`).
"""
from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import torch

from motion4d import __version__
from motion4d.utils.io import atomic_path
from motion4d.video.backbones.unet3d import unet_fingerprint, weights_probe
from motion4d.video.lora import CONV_TARGETS, PATH_TARGETS, AdapterInfo, get_lora, target_module_names

__all__ = ["FORMAT", "LoRACheckpoint", "save_lora", "save_adapter", "read_lora", "load_lora", "check_base",
           "read_peft_lora", "load_lora_file", "apply_checkpoint", "rank_layout"]

FORMAT = "motion4d-lora"
FORMAT_VERSION = "1"            # written for LoRAs of Linear layers only (unchanged since the first release)
CONV_FORMAT_VERSION = "2"       # written for LoRAs that also adapt convolutions (convs = True)
READ_VERSIONS = (FORMAT_VERSION, CONV_FORMAT_VERSION)


@dataclass
class LoRACheckpoint:
    """A LoRA file's content: ``tensors`` (peft-style keys, adapter name stripped) and its metadata fields."""

    tensors: dict[str, torch.Tensor]
    path: str
    rank: int
    alpha: float
    base_model: str
    base_model_fingerprint: str
    base_model_probe: list[float] | None = None
    target_modules: str = ""
    adapter_name: str = ""
    dropout: float = 0.0
    source: str = ""
    motion4d_version: str = __version__
    extra: dict = field(default_factory=dict)
    file: Path | None = None
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)
    convs: bool = False             # the path's convolutions are adapted too (format version 2)

    def layer_rank(self, module: str) -> int:
        """Rank of layer ``module``: its ``rank_pattern`` entry, else ``rank``."""
        return self.rank_pattern.get(module, self.rank)

    @property
    def layer_names(self) -> list[str]:
        return [k[: -len(".lora_A.weight")] for k in self.tensors if k.endswith(".lora_A.weight")]

    def metadata(self) -> dict[str, str]:
        extra = {"convs": "true"} if self.convs else {}
        return {
            **extra, "format": FORMAT, "format_version": CONV_FORMAT_VERSION if self.convs else FORMAT_VERSION,
            "motion4d_version": self.motion4d_version,
            "path": self.path, "adapter_name": self.adapter_name, "rank": str(self.rank), "alpha": repr(self.alpha),
            "dropout": repr(self.dropout), "target_modules": self.target_modules or PATH_TARGETS[self.path],
            "num_layers": str(len(self.layer_names)), "base_model": self.base_model,
            "base_model_fingerprint": self.base_model_fingerprint,
            "base_model_probe": json.dumps(self.base_model_probe) if self.base_model_probe is not None else "",
            "source": self.source, "extra": json.dumps(self.extra),
            "rank_pattern": json.dumps(self.rank_pattern), "alpha_pattern": json.dumps(self.alpha_pattern),
        }


def rank_layout(tensors: dict[str, torch.Tensor], alpha_equals_rank: bool = True
                ) -> tuple[int, dict[str, int], dict[str, float]]:
    """``(rank, rank_pattern, alpha_pattern)`` of peft-style ``tensors``: ``rank`` is the most common layer rank
    (the larger one on a tie), ``rank_pattern`` lists the layers with another rank, and ``alpha_pattern`` gives
    those layers alpha = their rank when ``alpha_equals_rank`` (scale 1 everywhere, MotionDirector's convention)."""
    from collections import Counter

    ranks = {k[: -len(".lora_A.weight")]: int(v.shape[0]) for k, v in tensors.items() if k.endswith(".lora_A.weight")}
    if not ranks:
        raise ValueError("no '<module>.lora_A.weight' tensors: not a LoRA state dict")
    counts = Counter(ranks.values())
    rank = max(counts, key=lambda r: (counts[r], r))
    pattern = {m: r for m, r in ranks.items() if r != rank}
    return rank, pattern, ({m: float(r) for m, r in pattern.items()} if alpha_equals_rank else {})


def save_lora(ckpt: LoRACheckpoint, file: str | Path) -> Path:
    """Write ``ckpt`` atomically as safetensors (float32, contiguous) and return the path."""
    from safetensors.torch import save_file

    if ckpt.path not in PATH_TARGETS:
        raise ValueError(f"checkpoint path type {ckpt.path!r} is not one of: {', '.join(PATH_TARGETS)}")
    tensors = {k: v.detach().float().contiguous().cpu() for k, v in ckpt.tensors.items()}
    with atomic_path(file) as tmp:
        save_file(tensors, str(tmp), metadata=ckpt.metadata())
    return Path(file)


def save_adapter(unet, name: str, file: str | Path, *, base_model: str, source: str = "motion4d",
                 extra: dict | None = None) -> Path:
    """Save adapter ``name`` of ``unet`` (see :class:`motion4d.video.lora.DualPathLoRA`) with its metadata."""
    lora = get_lora(unet)
    info = lora.adapters.get(name)
    if info is None:
        raise KeyError(f"no LoRA adapter {name!r} on this UNet; adapters: {', '.join(lora.adapters) or '(none)'}")
    ckpt = LoRACheckpoint(tensors=lora.state_dict(name), path=info.path, rank=info.rank, alpha=info.alpha,
                          base_model=base_model, base_model_fingerprint=unet_fingerprint(unet),
                          base_model_probe=weights_probe(unet), target_modules=info.target_modules,
                          adapter_name=name, dropout=info.dropout, source=source, extra=dict(extra or {}),
                          rank_pattern=dict(info.rank_pattern), alpha_pattern=dict(info.alpha_pattern),
                          convs=info.convs)
    return save_lora(ckpt, file)


def read_lora(file: str | Path) -> LoRACheckpoint:
    """Read a motion4d LoRA file; ``FileNotFoundError``/``ValueError`` with a clear message when it is not one."""
    file = Path(file).expanduser()
    if file.is_dir():
        raise ValueError(f"{str(file)!r} is a folder; pass the LoRA file itself (e.g. {file / 'temporal.safetensors'})")
    if not file.is_file():
        raise FileNotFoundError(f"LoRA checkpoint {str(file)!r} does not exist")
    if file.suffix in (".pt", ".pth", ".bin"):
        raise ValueError(f"{str(file)!r} is a pickle, not a motion4d LoRA (safetensors). MotionDirector "
                         f"checkpoints are imported with: motion4d convert-motiondirector {file.parent} OUT")
    meta, tensors = _read_safetensors(file)
    if meta.get("format") != FORMAT:
        raise ValueError(f"{str(file)!r} is not a motion4d LoRA checkpoint (metadata format="
                         f"{meta.get('format')!r}, expected {FORMAT!r})")
    if meta.get("format_version") not in READ_VERSIONS:
        raise ValueError(f"{str(file)!r} has LoRA format version {meta.get('format_version')!r}; this motion4d "
                         f"({__version__}) reads versions {', '.join(READ_VERSIONS)}")
    convs = meta.get("format_version") == CONV_FORMAT_VERSION and meta.get("convs") == "true"
    if meta.get("path") not in PATH_TARGETS:
        raise ValueError(f"{str(file)!r}: path type {meta.get('path')!r} is not one of {', '.join(PATH_TARGETS)}")
    probe = meta.get("base_model_probe") or ""
    try:
        patterns = {k: json.loads(meta.get(k) or "{}") for k in ("rank_pattern", "alpha_pattern")}
    except json.JSONDecodeError as e:
        raise ValueError(f"{str(file)!r}: unreadable rank_pattern/alpha_pattern metadata ({e})") from None
    ckpt = LoRACheckpoint(
        tensors=tensors, path=meta["path"], rank=int(meta["rank"]), alpha=float(meta["alpha"]),
        base_model=meta.get("base_model", ""), base_model_fingerprint=meta.get("base_model_fingerprint", ""),
        base_model_probe=json.loads(probe) if probe else None, target_modules=meta.get("target_modules", ""),
        adapter_name=meta.get("adapter_name", ""), dropout=float(meta.get("dropout", "0.0")),
        source=meta.get("source", ""), motion4d_version=meta.get("motion4d_version", ""),
        extra=json.loads(meta.get("extra") or "{}"), file=file,
        rank_pattern={k: int(v) for k, v in patterns["rank_pattern"].items()},
        alpha_pattern={k: float(v) for k, v in patterns["alpha_pattern"].items()}, convs=convs)
    if convs and ckpt.path not in CONV_TARGETS:
        raise ValueError(f"{str(file)!r}: a {ckpt.path} LoRA cannot adapt convolutions (convs=true); only "
                         f"{', '.join(CONV_TARGETS)} LoRAs can")
    _check_tensors(ckpt)
    return ckpt


def _check_tensors(ckpt: LoRACheckpoint) -> None:
    where = str(ckpt.file) if ckpt.file else "LoRA checkpoint"
    for name in ckpt.layer_names:
        a, b = ckpt.tensors.get(f"{name}.lora_A.weight"), ckpt.tensors.get(f"{name}.lora_B.weight")
        if b is None:
            raise ValueError(f"{where}: layer {name} has lora_A but no lora_B")
        r = ckpt.layer_rank(name)
        ndims = (2, 5) if ckpt.convs else (2,)                  # Linear; Conv3d (version 2 only)
        if a.ndim not in ndims or b.ndim != a.ndim or a.shape[0] != r or b.shape[1] != r:
            raise ValueError(f"{where}: layer {name} has shapes A {tuple(a.shape)}, B {tuple(b.shape)}, which do "
                             f"not match its rank {r}")
    unknown = sorted((set(ckpt.rank_pattern) | set(ckpt.alpha_pattern)) - set(ckpt.layer_names))
    if unknown:
        raise ValueError(f"{where}: rank_pattern/alpha_pattern name {len(unknown)} layer(s) the file has no weights "
                         f"for, e.g. {unknown[0]!r}")
    if 2 * len(ckpt.layer_names) != len(ckpt.tensors):
        raise ValueError(f"{where}: expected only lora_A/lora_B pairs, found {len(ckpt.tensors)} tensors for "
                         f"{len(ckpt.layer_names)} layers")


def check_base(ckpt: LoRACheckpoint, unet, model_id: str, *, allow_base_mismatch: bool = False) -> None:
    """Refuse (``ValueError``) a checkpoint that does not belong to this base UNet: different architecture
    fingerprint, different layers or shapes, or a different base model (unless ``allow_base_mismatch``)."""
    where = str(ckpt.file) if ckpt.file else "LoRA checkpoint"
    fp = unet_fingerprint(unet)
    if ckpt.base_model_fingerprint and ckpt.base_model_fingerprint != fp:
        raise ValueError(f"{where} was trained for a different UNet architecture (base model {ckpt.base_model!r}, "
                         f"fingerprint {ckpt.base_model_fingerprint}) than the loaded model {model_id!r} "
                         f"(fingerprint {fp}); load it with --model {ckpt.base_model}")
    expected = target_module_names(unet, ckpt.path, convs=ckpt.convs)
    if set(ckpt.layer_names) != set(expected):
        missing = sorted(set(expected) - set(ckpt.layer_names))
        extra = sorted(set(ckpt.layer_names) - set(expected))
        detail = (f"{len(missing)} layer(s) of the model are missing from it (e.g. {missing[:1]}), "
                  f"{len(extra)} of its layers are not in the model (e.g. {extra[:1]})")
        raise ValueError(f"{where} does not fit the {ckpt.path} layers of {model_id!r}: it has "
                         f"{len(ckpt.layer_names)} layers, the model {len(expected)}; {detail}")
    modules = dict(unet.named_modules())
    for name in expected:
        layer = modules[name]
        base = getattr(layer, "base_layer", layer)
        a, b = ckpt.tensors[f"{name}.lora_A.weight"], ckpt.tensors[f"{name}.lora_B.weight"]
        if isinstance(base, torch.nn.Linear):
            ok, layer_text = a.ndim == 2 and a.shape[1] == base.in_features and b.shape[0] == base.out_features, \
                f"{base.in_features} -> {base.out_features}"
        else:                                               # Conv3d: A carries the kernel, B is 1x1x1
            k = tuple(base.kernel_size)
            ok = a.ndim == 5 and a.shape[1] == base.in_channels and tuple(a.shape[2:]) == k and \
                b.shape[0] == base.out_channels and tuple(b.shape[2:]) == (1,) * len(k)
            layer_text = f"a Conv3d {base.in_channels} -> {base.out_channels}, kernel {k}"
        if not ok:
            raise ValueError(f"{where}: layer {name} has LoRA shapes A {tuple(a.shape)}, B {tuple(b.shape)} but the "
                             f"model's layer is {layer_text}")
    if ckpt.base_model and ckpt.base_model != model_id and not allow_base_mismatch:
        probe_ok = ckpt.base_model_probe is not None and _probe_matches(ckpt.base_model_probe, weights_probe(unet))
        if not probe_ok:
            raise ValueError(f"{where} was trained on base model {ckpt.base_model!r}, but the loaded model is "
                             f"{model_id!r} (same architecture, different weights). Load it with "
                             f"--model {ckpt.base_model}, or pass --allow-base-mismatch (allow_base_mismatch=True) "
                             f"to apply it anyway")


def _probe_matches(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=2e-2, abs_tol=2e-3) for x, y in zip(a, b))


def load_lora(unet, file: str | Path, *, model_id: str, name: str | None = None, scale: float = 1.0,
              allow_base_mismatch: bool = False) -> AdapterInfo:
    """Validate ``file`` against ``unet`` (see :func:`check_base`), inject it as adapter ``name`` (default: the
    path type, e.g. "temporal") and load its weights. Returns the adapter's :class:`AdapterInfo`.

    Warns when every ``lora_B`` is zero (an untrained adapter has no effect on the output).
    """
    ckpt = read_lora(file)
    check_base(ckpt, unet, model_id, allow_base_mismatch=allow_base_mismatch)
    if all(float(v.abs().max()) == 0.0 for k, v in ckpt.tensors.items() if k.endswith("lora_B.weight")):
        warnings.warn(f"{file}: every lora_B weight is zero, so this adapter does not change the output "
                      f"(an untrained checkpoint?)", stacklevel=2)
    return apply_checkpoint(unet, ckpt, name or ckpt.adapter_name or ckpt.path, scale)


def apply_checkpoint(unet, ckpt: LoRACheckpoint, name: str, scale: float = 1.0) -> AdapterInfo:
    """Inject ``ckpt`` into ``unet`` as adapter ``name`` through peft (the one place a LoRA enters a model):
    :meth:`DualPathLoRA.add` on exactly its layers, :meth:`~DualPathLoRA.load_state_dict`, then ``scale``."""
    lora = get_lora(unet)
    if name in lora.adapters:
        raise ValueError(f"an adapter named {name!r} is already loaded; pass another name")
    every = set(target_module_names(unet, ckpt.path, convs=ckpt.convs))
    modules = None if set(ckpt.layer_names) == every else ckpt.layer_names
    info = lora.add(name, ckpt.path, rank=ckpt.rank, alpha=ckpt.alpha, dropout=0.0, modules=modules,
                    rank_pattern=ckpt.rank_pattern, alpha_pattern=ckpt.alpha_pattern, convs=ckpt.convs)
    lora.load_state_dict(name, ckpt.tensors)
    lora.set_scale(name, scale)
    return info


def read_peft_lora(file: str | Path, unet) -> LoRACheckpoint:
    """A LoRA safetensors file from another tool as a :class:`LoRACheckpoint` for ``unet``: keys cleaned of a
    ``unet.``/``base_model.model.`` prefix; its path ("temporal"/"spatial") is the one whose layers hold every
    adapted module (``ValueError`` otherwise, or for keys that are not LoRA pairs). Mixed ranks become a
    ``rank_pattern``; alpha is the ``lora_alpha``/``alpha`` metadata for every layer (peft's meaning: scale
    alpha / layer rank) or, without it, each layer's own rank (scale 1)."""
    file = Path(file).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"LoRA file {str(file)!r} does not exist")
    meta, raw = _read_safetensors(file)
    tensors = {}
    for k, v in raw.items():
        for prefix in ("unet.", "base_model.model."):
            if k.startswith(prefix):
                k = k[len(prefix):]
        tensors[k] = v
    modules = sorted({k.rsplit(".lora_", 1)[0] for k in tensors if ".lora_A." in k})
    if not modules:
        raise ValueError(f"{str(file)!r} holds no '<module>.lora_A.weight' keys; not a LoRA checkpoint")
    alpha_meta = meta.get("lora_alpha", meta.get("alpha"))
    rank, rank_pattern, alpha_pattern = rank_layout(tensors, alpha_equals_rank=alpha_meta is None)
    fits = [(p, c) for p in PATH_TARGETS for c in ((False, True) if p in CONV_TARGETS else (False,))
            if set(modules) <= set(target_module_names(unet, p, convs=c))]
    path, convs = fits[0] if fits else (None, False)
    if path is None:
        raise ValueError(f"{str(file)!r} adapts layers outside one LoRA path of this model, e.g. {modules[0]!r}; "
                         f"motion4d loads LoRAs on the {' or '.join(PATH_TARGETS)} layers only")
    alpha = float(rank if alpha_meta is None else alpha_meta)
    ckpt = LoRACheckpoint(tensors=tensors, path=path, rank=rank, alpha=alpha,
                          base_model="", base_model_fingerprint="", file=file, rank_pattern=rank_pattern,
                          alpha_pattern=alpha_pattern, source=meta.get("source", "peft-style safetensors"),
                          convs=convs)
    _check_tensors(ckpt)
    return ckpt


def load_lora_file(unet, file: str | Path, *, model_id: str, name: str | None = None, scale: float = 1.0,
                   allow_base_mismatch: bool = False) -> AdapterInfo:
    """Load any LoRA safetensors into ``unet``: a motion4d checkpoint through :func:`load_lora` (all checks), any
    other peft-style file through :func:`read_peft_lora` as adapter ``name`` (default ``"motion"``)."""
    from safetensors import safe_open

    file = Path(file).expanduser()
    if not file.is_file():
        raise FileNotFoundError(f"LoRA file {str(file)!r} does not exist")
    try:
        with safe_open(str(file), framework="pt") as f:
            fmt = (f.metadata() or {}).get("format")
    except Exception as e:  # noqa: BLE001
        raise ValueError(f"{str(file)!r} is not a safetensors file: {e}") from None
    if fmt == FORMAT:
        return load_lora(unet, file, model_id=model_id, name=name, scale=scale,
                         allow_base_mismatch=allow_base_mismatch)
    return apply_checkpoint(unet, read_peft_lora(file, unet), name or "motion", scale)


def _read_safetensors(file: Path) -> tuple[dict, dict]:
    """``(metadata, tensors)`` of a safetensors file; ``ValueError`` naming the file when it is not one."""
    from safetensors import safe_open

    try:
        with safe_open(str(file), framework="pt") as f:
            return f.metadata() or {}, {k: f.get_tensor(k) for k in f.keys()}
    except Exception as e:  # noqa: BLE001 - safetensors raises several error types for non-safetensors input
        raise ValueError(f"{str(file)!r} is not a safetensors file: {e}") from None
