"""UNet3D text-to-video backbone (implements :class:`motion4d.video.backbones.base.VideoBackbone`): UNet3D + VAE +
CLIP text encoder + tokenizer + scheduler config.

Loads ZeroScope (``cerspense/zeroscope_v2_576w``) or ModelScope (``damo-vilab/text-to-video-ms-1.7b``), or any
folder in the same diffusers layout (``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``),
through :func:`motion4d.hub.resolve_pretrained`: nothing is ever downloaded at run time.

Video tensor layout (the UNet's): latents ``[B, C, F, h, w]``; pixel clips ``[B, F, H, W, 3]`` float in [0, 1]
(``frames`` everywhere in motion4d.video). ``h = H / vae_scale_factor`` (8 for the real models).
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

import torch

from motion4d.hub import MODELS, model_info, resolve_pretrained
from motion4d.utils.device import default_dtype, resolve_device

__all__ = ["UNet3DBackbone", "ZEROSCOPE", "MODELSCOPE", "load_backbone", "unet_fingerprint", "weights_probe",
           "canonical_model_id", "is_unet3d_folder"]

# rows of the model table (motion4d.hub.MODELS): hub id, size, licence, users
ZEROSCOPE = MODELS["zeroscope"]
MODELSCOPE = MODELS["modelscope"]

_COMPONENTS = ("unet", "vae", "text_encoder", "tokenizer", "scheduler")
# UNet config keys that define the architecture (what a LoRA's shapes depend on).
_ARCH_KEYS = ("in_channels", "out_channels", "down_block_types", "up_block_types", "block_out_channels",
              "layers_per_block", "cross_attention_dim", "attention_head_dim", "num_attention_heads",
              "norm_num_groups")


def unet_fingerprint(unet) -> str:
    """Short hash of the UNet's architecture config (what LoRA shapes depend on), e.g. ``"a1b2c3d4e5f6"``."""
    cfg = {k: unet.config.get(k) for k in _ARCH_KEYS}
    text = json.dumps(cfg, sort_keys=True, default=list)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def weights_probe(unet, n: int = 16) -> list[float]:
    """A few base weights (``conv_in``, ``conv_out``) as floats: identifies the base weights independently of the
    folder or hub id they were loaded from, robustly to fp16/bf16 casts (compare with a relative tolerance)."""
    a = unet.conv_in.weight.detach().flatten()[: n // 2]
    b = unet.conv_out.weight.detach().flatten()[: n - n // 2]
    return [float(x) for x in torch.cat([a, b]).float().cpu()]


def canonical_model_id(name_or_path: str | os.PathLike) -> str:
    """The id motion4d records for a model: hub id for registry keys and hub ids, else what the folder says."""
    text = str(name_or_path)
    path = Path(text).expanduser()
    return _hub_id_of(text, path if path.is_dir() else Path(text))


def _hub_id_of(text: str, folder: Path) -> str:
    """Canonical model id: the hub id for registry keys/hub ids/HF-cache folders, else the folder's absolute path."""
    info = model_info(text)
    if info is not None:
        return info.hub_id
    if not Path(text).expanduser().is_dir():
        return text  # a hub id resolved from the local cache
    for part in folder.resolve().parts:  # .../models--owner--name/snapshots/<sha>
        if part.startswith("models--"):
            return part[len("models--"):].replace("--", "/")
    index = folder / "model_index.json"
    if index.is_file():
        name = json.loads(index.read_text()).get("_name_or_path")
        if name:
            return str(name)
    return str(folder.resolve())


@dataclass
class UNet3DBackbone:
    """The frozen text-to-video model: ``unet`` (UNet3DConditionModel), ``vae`` (AutoencoderKL), ``text_encoder``
    (CLIPTextModel), ``tokenizer`` (CLIPTokenizer) and ``scheduler_config`` (a DDIM-compatible noise schedule).

    ``model_id`` is the canonical id recorded in LoRA checkpoints (hub id, or the folder path for local models).
    ``dtype`` is the compute dtype (fp16/bf16 on CUDA, fp32 on CPU). ``vae_batch`` frames are decoded at a time
    (VAE slicing).
    """

    unet: torch.nn.Module
    vae: torch.nn.Module
    text_encoder: torch.nn.Module
    tokenizer: object
    scheduler_config: dict
    model_id: str
    path: Path
    device: torch.device
    dtype: torch.dtype
    vae_batch: int = 8
    _prompt_cache: dict = field(default_factory=dict, repr=False)

    # -- loading ---------------------------------------------------------------------------------------
    @classmethod
    def from_pretrained(cls, name_or_path: str | os.PathLike = "zeroscope", *, device: str = "auto",
                        precision: str = "auto", vae_batch: int = 8) -> "UNet3DBackbone":
        """Load all components from a registry key (``zeroscope``, ``modelscope``), a hub id already in the local
        Hugging Face cache, or a local folder in diffusers layout. Attention runs through torch SDPA.

        Raises :class:`motion4d.hub.ModelNotFoundError` (with the download command) when the model is absent, and
        ``ValueError`` naming the missing sub-folders when the folder is not in diffusers layout.
        """
        from diffusers import AutoencoderKL, UNet3DConditionModel
        from diffusers.models.attention_processor import AttnProcessor2_0
        from transformers import CLIPTextModel, CLIPTokenizer

        folder = resolve_pretrained(name_or_path, purpose="text-to-video")
        missing = [c for c in _COMPONENTS if not (folder / c).is_dir()]
        if missing:
            raise ValueError(f"model folder {str(folder)!r} is not a text-to-video model in diffusers layout: "
                             f"missing sub-folder(s) {', '.join(missing)} (expected {', '.join(_COMPONENTS)})")
        dev = resolve_device(device)
        dtype = default_dtype(dev, precision)
        variant = _variant(folder)
        unet = UNet3DConditionModel.from_pretrained(folder, subfolder="unet", torch_dtype=dtype, variant=variant)
        vae = AutoencoderKL.from_pretrained(folder, subfolder="vae", torch_dtype=dtype, variant=variant)
        text_encoder = CLIPTextModel.from_pretrained(folder / "text_encoder", torch_dtype=dtype, variant=variant)
        tokenizer = CLIPTokenizer.from_pretrained(folder / "tokenizer")
        scheduler_config = json.loads((folder / "scheduler" / "scheduler_config.json").read_text())
        unet.set_attn_processor(AttnProcessor2_0())  # torch SDPA (flash / memory-efficient kernels on CUDA)
        for m in (unet, vae, text_encoder):
            m.requires_grad_(False).eval().to(dev)
        return cls(unet=unet, vae=vae, text_encoder=text_encoder, tokenizer=tokenizer,
                   scheduler_config=scheduler_config, model_id=_hub_id_of(str(name_or_path), folder),
                   path=folder, device=dev, dtype=dtype, vae_batch=vae_batch)

    # -- properties ------------------------------------------------------------------------------------
    @property
    def denoiser(self) -> torch.nn.Module:
        """The network LoRA adapters go into (the UNet3DConditionModel)."""
        return self.unet

    @property
    def lora_targets(self) -> dict[str, str]:
        """MotionDirector's split: spatial transformers vs temporal transformers (module-name regexes)."""
        from motion4d.video.lora import PATH_TARGETS

        return dict(PATH_TARGETS)

    @property
    def temporal_compression(self) -> int:
        """Frames per latent frame: 1 (the SD VAE encodes every frame on its own)."""
        return 1

    @property
    def prediction_type(self) -> str:
        from motion4d.video.schedulers import prediction_type

        return prediction_type(self.scheduler_config)

    def latent_shape(self, batch: int, num_frames: int, height: int, width: int) -> tuple[int, ...]:
        """``(batch, C, num_frames, height / f, width / f)`` with ``f = vae_scale_factor``."""
        f = self.vae_scale_factor
        return (batch, self.latent_channels, (num_frames - 1) // self.temporal_compression + 1, height // f,
                width // f)

    def predict(self, latents: torch.Tensor, t, text: torch.Tensor) -> torch.Tensor:
        """UNet output (ε or v, per ``prediction_type``) for latents ``[B, C, F, h, w]``, timestep ``t`` (int,
        scalar or ``[B]`` tensor) and text embeddings ``[B, L, D]``."""
        return self.unet(latents, t, encoder_hidden_states=text).sample

    def temporal_bypass(self):
        """Context: every temporal layer returns its input for one-frame inputs (the single-frame spatial path)."""
        from motion4d.video.temporal_bypass import temporal_bypass

        return temporal_bypass(self.unet)

    def offload_text_encoder(self) -> None:
        """Move the text encoder to the CPU (prompts already encoded stay cached)."""
        self.text_encoder.to("cpu")

    @property
    def vae_scale_factor(self) -> int:
        return 2 ** (len(self.vae.config.block_out_channels) - 1)

    @property
    def latent_channels(self) -> int:
        return int(self.unet.config.in_channels)

    @property
    def scaling_factor(self) -> float:
        return float(self.vae.config.get("scaling_factor", 0.18215))

    @property
    def fingerprint(self) -> str:
        return unet_fingerprint(self.unet)

    def check_size(self, width: int, height: int) -> None:
        """Raise ``ValueError`` unless ``width``/``height`` are positive multiples of the UNet's size step."""
        step = self.vae_scale_factor * 2 ** (len(self.unet.config.block_out_channels) - 1)
        for name, v in (("width", width), ("height", height)):
            if v <= 0 or v % step:
                raise ValueError(f"{name}={v} must be a positive multiple of {step} for this model "
                                 f"(VAE factor {self.vae_scale_factor} x UNet downsampling)")

    # -- text ------------------------------------------------------------------------------------------
    @torch.no_grad()
    def encode_prompt(self, prompts: str | list[str]) -> torch.Tensor:
        """CLIP last hidden states for ``prompts``: ``[B, L, D]`` in the compute dtype (cached per prompt)."""
        if isinstance(prompts, str):
            prompts = [prompts]
        out = []
        for p in prompts:
            if p not in self._prompt_cache:
                ids = self.tokenizer(p, padding="max_length", max_length=self.tokenizer.model_max_length,
                                     truncation=True, return_tensors="pt").input_ids
                encoder_device = next(self.text_encoder.parameters()).device  # may be offloaded to the CPU
                hidden = self.text_encoder(ids.to(encoder_device))[0]
                self._prompt_cache[p] = hidden.to(self.device, self.dtype)
            out.append(self._prompt_cache[p])
        return torch.cat(out)

    # -- pixels <-> latents ----------------------------------------------------------------------------
    @torch.no_grad()
    def encode_frames(self, frames: torch.Tensor, generator: torch.Generator | None = None,
                      sample: bool = True) -> torch.Tensor:
        """VAE-encode a clip ``[F, H, W, 3]`` or ``[B, F, H, W, 3]`` float in [0, 1] to latents ``[B, C, F, h, w]``
        (scaled by the VAE scaling factor). ``sample=False`` uses the posterior mean."""
        if frames.ndim == 4:
            frames = frames[None]
        if frames.ndim != 5 or frames.shape[-1] != 3:
            raise ValueError(f"encode_frames expects frames [B, F, H, W, 3] in [0, 1], got {tuple(frames.shape)}")
        b, f = frames.shape[:2]
        x = frames.to(self.device, self.dtype).permute(0, 1, 4, 2, 3).reshape(b * f, 3, *frames.shape[2:4]) * 2 - 1
        latents = []
        for chunk in x.split(self.vae_batch):
            dist = self.vae.encode(chunk).latent_dist
            latents.append(dist.sample(generator) if sample else dist.mean)
        z = torch.cat(latents) * self.scaling_factor
        return z.reshape(b, f, *z.shape[1:]).permute(0, 2, 1, 3, 4).contiguous()

    @torch.no_grad()
    def decode_latents(self, latents: torch.Tensor) -> torch.Tensor:
        """Decode latents ``[B, C, F, h, w]`` to frames ``[B, F, H, W, 3]`` float32 in [0, 1] on the CPU,
        ``vae_batch`` frames at a time (VAE slicing)."""
        b, c, f = latents.shape[:3]
        z = latents.permute(0, 2, 1, 3, 4).reshape(b * f, c, *latents.shape[3:]) / self.scaling_factor
        images = [self.vae.decode(chunk.to(self.device, self.dtype)).sample.float().cpu()
                  for chunk in z.split(self.vae_batch)]
        x = torch.cat(images).clamp(-1, 1) * 0.5 + 0.5
        return x.reshape(b, f, *x.shape[1:]).permute(0, 1, 3, 4, 2).contiguous()


def is_unet3d_folder(folder: Path) -> bool:
    """True when ``folder/unet/config.json`` names a ``UNet3DConditionModel`` (the registry's detection rule)."""
    cfg = Path(folder) / "unet" / "config.json"
    return cfg.is_file() and json.loads(cfg.read_text()).get("_class_name") == "UNet3DConditionModel"


def _variant(folder: Path) -> str | None:
    """``"fp16"`` when the UNet only ships fp16-variant weight files (ModelScope's layout), else None."""
    unet = folder / "unet"
    plain = list(unet.glob("diffusion_pytorch_model.safetensors")) + list(unet.glob("diffusion_pytorch_model.bin")) \
        + list(unet.glob("diffusion_pytorch_model.safetensors.index.json"))
    fp16 = list(unet.glob("diffusion_pytorch_model.fp16.*"))
    return "fp16" if fp16 and not plain else None
