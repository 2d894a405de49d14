"""Dual-path LoRA on diffusers' UNet3DConditionModel through peft: named adapters, per-adapter scale, on/off.

MotionDirector's split (research notes §1), as explicit regexes over module names:

- **spatial** (appearance): every spatial ``Transformer2DModel`` (``*.attentions.N``): ``attn1`` (q, k, v, out)
  and the feed-forward (``ff.net.0.proj``, ``ff.net.2``). Cross-attention ``attn2`` is not adapted.
- **temporal** (motion): every ``TransformerTemporalModel`` (``*.temp_attentions.N`` and ``transformer_in``):
  ``attn1``, ``attn2`` (both self-attention over frames) and the feed-forward.

Optional, off by default (a departure from MotionDirector): ``convs=True`` on the temporal path also adapts the
temporal convolutions (``*.temp_convs.N.conv1.2`` and ``conv2..4.3``: ``Conv3d`` with kernel (3, 1, 1), peft's conv
LoRA: ``lora_A`` a Conv3d [r, in, 3, 1, 1], ``lora_B`` a 1x1x1 Conv3d [out, r, 1, 1, 1]). diffusers' temporal
attention has no positional embeddings, so it cannot tell frame order by itself; these convolutions can
(``train-motion lora.temporal_convs=true``; figures in ``docs/notes/lora.md``).

The two paths touch disjoint layers. Each adapter has a name (``"spatial"``, ``"temporal"``, or any name,
e.g. two motions ``"zoom"`` and ``"pan"`` on the temporal path), a rank ``r``, ``alpha`` (scale ``alpha / r``;
``alpha = r`` reproduces MotionDirector's scale 1), dropout, and at inference a user scale and an on/off switch.

Usage::

    lora = DualPathLoRA(unet)
    lora.add("temporal", path="temporal", rank=32)
    lora.set_scale("temporal", 0.8)
    with lora.disabled("temporal"):
        ...  # base model
"""
from __future__ import annotations

import contextlib
import re
import warnings
from dataclasses import dataclass, field
from typing import Iterator

import torch
from torch import nn

__all__ = ["SPATIAL_TARGETS", "TEMPORAL_TARGETS", "TEMPORAL_CONV_TARGETS", "PATH_TARGETS", "CONV_TARGETS",
           "AdapterInfo", "DualPathLoRA", "target_module_names", "get_lora"]

SPATIAL_TARGETS = r".*\.attentions\.\d+\.transformer_blocks\.\d+\.(attn1\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2))"
TEMPORAL_TARGETS = (r"(transformer_in|.*\.temp_attentions\.\d+)\.transformer_blocks\.\d+\."
                    r"(attn[12]\.(to_q|to_k|to_v|to_out\.0)|ff\.net\.(0\.proj|2))")
PATH_TARGETS = {"spatial": SPATIAL_TARGETS, "temporal": TEMPORAL_TARGETS}
#: diffusers' TemporalConvLayer: conv1 = (GroupNorm, SiLU, Conv3d), conv2..conv4 = (GroupNorm, SiLU, Dropout, Conv3d)
TEMPORAL_CONV_TARGETS = r".*\.temp_convs\.\d+\.(conv1\.2|conv[234]\.3)"
#: the paths that have an optional group of convolutions (``convs=True``), and their Conv3d regex
CONV_TARGETS = {"temporal": TEMPORAL_CONV_TARGETS}


def _check_path(path: str) -> None:
    if path not in PATH_TARGETS:
        raise ValueError(f"LoRA path {path!r} is not one of: {', '.join(PATH_TARGETS)}")


def _check_patterns(rank_pattern, alpha_pattern, layers: list[str], path: str):
    """Validate per-layer ``{module: rank}`` / ``{module: alpha}`` maps against the adapted ``layers``."""
    rank_pattern, alpha_pattern = dict(rank_pattern or {}), dict(alpha_pattern or {})
    known = set(layers)
    for what, pat in (("rank_pattern", rank_pattern), ("alpha_pattern", alpha_pattern)):
        outside = sorted(set(pat) - known)
        if outside:
            raise ValueError(f"{what} names {len(outside)} layer(s) that this adapter does not adapt on the {path} "
                             f"path, e.g. {outside[0]!r}")
    for k, r in rank_pattern.items():
        if isinstance(r, bool) or not isinstance(r, int) or r < 1:
            raise ValueError(f"rank_pattern[{k!r}] must be a positive integer, got {r!r}")
    return rank_pattern, {k: float(v) for k, v in alpha_pattern.items()}


def _is(module: nn.Module, kind: type) -> bool:
    return isinstance(module, kind) or isinstance(getattr(module, "base_layer", None), kind)


def target_module_names(unet: nn.Module, path: str, targets: dict[str, str] | None = None, *,
                        convs: bool = False) -> list[str]:
    """Names of the Linear layers a ``path`` adapter targets, in ``unet.named_modules()`` order (MotionDirector's
    traversal order: ``transformer_in``, ``down_blocks``, ``up_blocks``, then ``mid_block``); with ``convs`` also
    the path's Conv3d layers (:data:`CONV_TARGETS`; temporal path only). Works on a UNet with or without injected
    LoRA layers. ``targets`` (path -> regex) defaults to the regexes of the :class:`DualPathLoRA` attached to
    ``unet``, else :data:`PATH_TARGETS` (the UNet3D split)."""
    _check_path(path)
    if convs and path not in CONV_TARGETS:
        raise ValueError(f"convs=True: the {path} path has no convolutions to adapt (only: {', '.join(CONV_TARGETS)})")
    if targets is None:
        attached = unet.__dict__.get("_motion4d_lora")
        targets = attached.targets if attached is not None else PATH_TARGETS
    pattern = re.compile(targets[path])
    conv = re.compile(CONV_TARGETS[path]) if convs else None
    names = []
    for name, module in unet.named_modules():
        if name.endswith(".base_layer"):
            continue
        if (pattern.fullmatch(name) and _is(module, nn.Linear)) or \
                (conv is not None and conv.fullmatch(name) and _is(module, nn.Conv3d)):
            names.append(name)
    return names


@dataclass
class AdapterInfo:
    """One injected adapter. ``scale`` multiplies ``alpha / rank``; ``enabled=False`` skips it entirely."""

    name: str
    path: str
    rank: int
    alpha: float
    dropout: float
    target_modules: str
    scale: float = 1.0
    enabled: bool = True
    trainable: bool = False
    rank_pattern: dict[str, int] = field(default_factory=dict)
    alpha_pattern: dict[str, float] = field(default_factory=dict)
    convs: bool = False     # the path's convolutions are adapted too (CONV_TARGETS)

    def layer_rank(self, module: str) -> int:
        """The rank of layer ``module`` (``rank_pattern`` entry, else ``rank``)."""
        return self.rank_pattern.get(module, self.rank)


def get_lora(unet: nn.Module, targets: dict[str, str] | None = None) -> "DualPathLoRA":
    """The :class:`DualPathLoRA` attached to ``unet`` (created empty on first use, with ``targets``: a backbone's
    ``lora_targets``, default :data:`PATH_TARGETS`)."""
    lora = unet.__dict__.get("_motion4d_lora")
    return lora if lora is not None else DualPathLoRA(unet, targets)


class DualPathLoRA:
    """Manager of named peft LoRA adapters on one UNet3D (attached to it: ``get_lora(unet)`` returns it)."""

    def __init__(self, unet: nn.Module, targets: dict[str, str] | None = None):
        if unet.__dict__.get("_motion4d_lora") is not None:
            raise ValueError("this UNet already has a DualPathLoRA; use motion4d.video.lora.get_lora(unet)")
        self.unet = unet
        self.targets = dict(targets or PATH_TARGETS)
        if set(self.targets) != set(PATH_TARGETS):
            raise ValueError(f"LoRA targets must name the paths {', '.join(PATH_TARGETS)}, got {sorted(self.targets)}")
        self.adapters: dict[str, AdapterInfo] = {}
        unet.__dict__["_motion4d_lora"] = self

    # -- creation --------------------------------------------------------------------------------------
    def add(self, name: str, path: str, *, rank: int = 32, alpha: float | None = None, dropout: float = 0.0,
            init: str = "gaussian", trainable: bool = False, modules: list[str] | None = None,
            rank_pattern: dict[str, int] | None = None, alpha_pattern: dict[str, float] | None = None,
            convs: bool = False) -> AdapterInfo:
        """Inject adapter ``name`` on the ``path`` layers ("spatial" or "temporal").

        ``init="gaussian"``: A ~ N(0, 1/r), B = 0 (MotionDirector's init: the adapter starts as a no-op);
        ``init="random"``: B random too (tests need adapters that change the output).
        ``convs``: also adapt the path's Conv3d layers (temporal path: the temporal convolutions, peft's conv
        LoRA; see the module docstring). ``modules``: adapt exactly these layers (a subset of the ``path`` layers,
        convolutions included when ``convs``; files from other tools).
        ``rank_pattern`` / ``alpha_pattern``: per-layer rank and alpha ``{full module name: value}`` for layers that
        differ from ``rank`` / ``alpha`` (peft's options of the same names; MotionDirector lowers the rank of
        layers narrower than it, so one of its files can hold several ranks).
        """
        from peft import LoraConfig, inject_adapter_in_model

        _check_path(path)
        if not re.fullmatch(r"[A-Za-z0-9_\-]+", name or ""):
            raise ValueError(f"adapter name {name!r} must be non-empty letters, digits, '_' or '-'")
        if name in self.adapters:
            raise ValueError(f"adapter {name!r} already exists (adapters: {', '.join(self.adapters)})")
        if not isinstance(rank, int) or rank < 1:
            raise ValueError(f"LoRA rank must be a positive integer, got {rank!r}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"LoRA dropout must be in [0, 1), got {dropout!r}")
        if init not in ("gaussian", "random"):
            raise ValueError(f"init={init!r} is not one of: gaussian, random")
        targets = target_module_names(self.unet, path, self.targets, convs=convs)
        if not targets:
            raise ValueError(f"the UNet has no {path} layers to adapt (pattern {self.targets[path]!r})")
        if convs and not any(re.fullmatch(CONV_TARGETS[path], n) for n in targets):
            raise ValueError(f"convs=True, but this model has no {path} convolutions to adapt (pattern "
                             f"{CONV_TARGETS[path]!r})")
        if modules is not None:
            outside = sorted(set(modules) - set(targets))
            if outside or not modules:
                raise ValueError(f"{len(outside)} of the {len(modules)} layer(s) given are not {path} layers of this "
                                 f"model (e.g. {outside[:1]})" if outside else "no layers given to adapt")
        if modules is not None:
            pattern = "|".join(re.escape(m) for m in modules)
        else:
            pattern = f"(?:{self.targets[path]})|(?:{CONV_TARGETS[path]})" if convs else self.targets[path]
        alpha = float(rank if alpha is None else alpha)
        rank_pattern, alpha_pattern = _check_patterns(rank_pattern, alpha_pattern, modules or targets, path)
        # peft matches pattern keys as regexes against the end of a module name: escape the full names
        config = LoraConfig(r=rank, lora_alpha=alpha, lora_dropout=dropout, target_modules=pattern,
                            init_lora_weights="gaussian" if init == "gaussian" else False,
                            rank_pattern={re.escape(k): v for k, v in rank_pattern.items()},
                            alpha_pattern={re.escape(k): v for k, v in alpha_pattern.items()})
        # peft disables gradients of everything but adapters; keep the base frozen state explicit anyway
        with warnings.catch_warnings():  # peft warns that a second adapter is being added: that is the point
            warnings.filterwarnings("ignore", message=".*multiple adapters.*")
            inject_adapter_in_model(config, self.unet, adapter_name=name)
        self.unet.requires_grad_(False)
        param = next(self.unet.parameters())
        for layer in self.layers(name).values():  # LoRA weights live in fp32 next to a half-precision base
            layer.lora_A[name].to(device=param.device, dtype=torch.float32)
            layer.lora_B[name].to(device=param.device, dtype=torch.float32)
        info = AdapterInfo(name, path, rank, alpha, dropout, pattern, trainable=trainable, rank_pattern=rank_pattern,
                           alpha_pattern=alpha_pattern, convs=convs)
        self.adapters[name] = info
        self._apply()
        return info

    def remove(self, name: str) -> None:
        """Delete adapter ``name`` from every layer (the base layers stay wrapped, with no LoRA branch)."""
        self._get(name)
        for layer in self.layers(name).values():
            layer.delete_adapter(name)
        del self.adapters[name]
        self._apply()

    # -- queries ---------------------------------------------------------------------------------------
    def names(self, path: str | None = None) -> list[str]:
        return [n for n, a in self.adapters.items() if path is None or a.path == path]

    def _get(self, name: str) -> AdapterInfo:
        if name not in self.adapters:
            raise KeyError(f"no LoRA adapter {name!r}; adapters: {', '.join(self.adapters) or '(none)'}")
        return self.adapters[name]

    def layers(self, name: str) -> dict[str, nn.Module]:
        """``{module name: peft LoraLayer}`` holding adapter ``name``, in traversal order."""
        from peft.tuners.lora import LoraLayer

        return {n: m for n, m in self.unet.named_modules() if isinstance(m, LoraLayer) and name in m.lora_A}

    def parameters(self, name: str) -> list[nn.Parameter]:
        self._get(name)
        out = []
        for layer in self.layers(name).values():
            out += [layer.lora_A[name].weight, layer.lora_B[name].weight]
        return out

    def state_dict(self, name: str) -> dict[str, torch.Tensor]:
        """``{"<module>.lora_A.weight": [r, in], "<module>.lora_B.weight": [out, r]}`` (adapter name stripped;
        a Conv3d layer's are ``[r, in, *kernel]`` and ``[out, r, 1, 1, 1]``)."""
        self._get(name)
        sd = {}
        for mod, layer in self.layers(name).items():
            sd[f"{mod}.lora_A.weight"] = layer.lora_A[name].weight.detach()
            sd[f"{mod}.lora_B.weight"] = layer.lora_B[name].weight.detach()
        return sd

    def load_state_dict(self, name: str, state: dict[str, torch.Tensor]) -> None:
        """Copy tensors into adapter ``name``; every key must match a layer and every layer must get both
        tensors with the same shapes, else ``ValueError`` listing the differences (nothing is loaded)."""
        own = self.state_dict(name)
        missing = sorted(set(own) - set(state))
        extra = sorted(set(state) - set(own))
        bad = [f"{k}: checkpoint {tuple(state[k].shape)} vs model {tuple(own[k].shape)}"
               for k in own if k in state and tuple(state[k].shape) != tuple(own[k].shape)]
        if missing or extra or bad:
            parts = []
            if missing:
                parts.append(f"{len(missing)} missing key(s), e.g. {missing[0]}")
            if extra:
                parts.append(f"{len(extra)} unexpected key(s), e.g. {extra[0]}")
            if bad:
                parts.append(f"{len(bad)} shape mismatch(es), e.g. {bad[0]}")
            raise ValueError(f"LoRA weights do not fit adapter {name!r}: " + "; ".join(parts))
        from peft import set_peft_model_state_dict

        tensors = {k: state[k].to(own[k].device, own[k].dtype) for k in own}
        result = set_peft_model_state_dict(self.unet, tensors, adapter_name=name)
        unexpected = [k for k in getattr(result, "unexpected_keys", []) if "lora_" in k]
        if unexpected:  # cannot happen after the checks above; peft's own report, kept as a guard
            raise ValueError(f"peft did not place LoRA weights into adapter {name!r}, e.g. {unexpected[0]}")

    # -- switching -------------------------------------------------------------------------------------
    def set_scale(self, name: str, scale: float) -> None:
        """Set adapter ``name``'s user scale (output = base + scale * alpha / r * B A x)."""
        self._get(name).scale = float(scale)
        self._apply()

    def enable(self, name: str, enabled: bool = True) -> None:
        self._get(name).enabled = bool(enabled)
        self._apply()

    def set_trainable(self, name: str, trainable: bool = True) -> None:
        self._get(name).trainable = bool(trainable)
        self._apply()

    @contextlib.contextmanager
    def scaled(self, **scales: float) -> Iterator[None]:
        """Temporarily set scales, e.g. ``with lora.scaled(spatial=0.0, temporal=1.0): ...``."""
        old = {n: self._get(n).scale for n in scales}
        try:
            for n, s in scales.items():
                self.adapters[n].scale = float(s)
            self._apply()
            yield
        finally:
            for n, s in old.items():
                self.adapters[n].scale = s
            self._apply()

    @contextlib.contextmanager
    def disabled(self, *names: str) -> Iterator[None]:
        """Temporarily switch adapters off (all adapters when no name is given)."""
        names = names or tuple(self.adapters)
        old = {n: self._get(n).enabled for n in names}
        try:
            for n in names:
                self.adapters[n].enabled = False
            self._apply()
            yield
        finally:
            for n, e in old.items():
                self.adapters[n].enabled = e
            self._apply()

    @contextlib.contextmanager
    def frozen(self, *names: str) -> Iterator[None]:
        """Temporarily stop gradients to adapters (they still act on the output)."""
        old = {n: self._get(n).trainable for n in names}
        try:
            for n in names:
                self.adapters[n].trainable = False
            self._apply()
            yield
        finally:
            for n, t in old.items():
                self.adapters[n].trainable = t
            self._apply()

    def _apply(self) -> None:
        """Push enabled/scale/trainable state into every peft layer (adapters at scale 0 are skipped entirely)."""
        from peft.tuners.lora import LoraLayer

        for module in self.unet.modules():
            if not isinstance(module, LoraLayer):
                continue
            present = [n for n in self.adapters if n in module.lora_A]
            active = [n for n in present if self.adapters[n].enabled and self.adapters[n].scale != 0.0]
            module.set_adapter(active, inference_mode=True)  # also sets requires_grad=False: restored below
            for n in present:
                info = self.adapters[n]
                module.set_scale(n, info.scale)
                for p in (module.lora_A[n].weight, module.lora_B[n].weight):
                    p.requires_grad_(info.trainable)
