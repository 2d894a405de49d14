"""Text-to-video SDS with the first stage's backbone (ZeroScope / ModelScope / motion4d-tiny ``tiny-t2v``).

The model loads through the video backbone protocol (:func:`motion4d.video.backbones.load_backbone`), the one path
generation and LoRA training use, so a registry key, hub id or diffusers folder names the same model everywhere.
Settings follow 4D-fy's ZeroScope guidance: 16 frames rendered at 160x288 and resized to 320x576 (40x72 latents),
CFG 100 in the ``plus`` form, ``w = 1 - alpha_bar``, ``t ~ U(0.02, 0.98)``, loss summed over frames and divided by
the number of videos.

**The customized model.** ``video.lora_path`` (a ``train-motion`` run folder or LoRA file) is the motion
(temporal) LoRA and ``video.appearance_path`` the appearance (spatial) one; with them the guidance scores
renders under the same customized model ``generate-video`` samples from: each is applied by
:func:`motion4d.video.adapters.load_adapter` (generation's path: motion4d LoRAs checked against this base model,
peft-style files from other tools accepted too). For another format pass ``lora_loader(unet, path, scale)``
(called for each configured file instead).

The VAE is encoded here with gradient (the backbone's ``encode_frames`` is inference-only), so this guidance needs
a backbone with a per-frame image VAE (``vae`` attribute, ``temporal_compression == 1``: the UNet3D models).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from motion4d.guidance.base import SDSStep
from motion4d.guidance.condition import Condition, RenderSpec, to_bchw
from motion4d.guidance.text import TextGuidance

__all__ = ["VideoSDSGuidance", "apply_lora_safetensors", "to_video"]

LoraLoader = Callable[[torch.nn.Module, str, float], None]


def to_video(images: torch.Tensor) -> torch.Tensor:
    """Clips ``[B, F, 3, H, W]`` from ``[F, H, W, 3]``, ``[F, 3, H, W]``, ``[B, F, H, W, 3]`` or ``[B, F, 3, H, W]``.

    Each frame is read as :func:`~motion4d.guidance.base.to_bchw` reads images (RGBA on white).
    """
    x = images
    if x.ndim == 4:
        x = x[None]
    if x.ndim != 5:
        raise ValueError(f"video guidance needs frames [F,H,W,3] or clips [B,F,H,W,3], got {tuple(images.shape)}")
    frames = to_bchw(x.flatten(0, 1), name="video frames")
    return frames.reshape(x.shape[0], x.shape[1], *frames.shape[1:])


def apply_lora_safetensors(unet: torch.nn.Module, path: str | Path, scale: float = 1.0,
                           adapter_name: str = "motion") -> int:
    """Load a LoRA stored as peft-style safetensors into ``unet`` through motion4d's one LoRA loading path
    (:func:`motion4d.video.checkpoint.load_lora_file`); returns the number of adapted layers.

    Keys: ``<module>.lora_A.weight`` ``[r, in]`` and ``<module>.lora_B.weight`` ``[out, r]`` (a leading
    ``unet.`` or ``base_model.model.`` is stripped). ``lora_alpha`` comes from the metadata
    (``lora_alpha``/``alpha``), default ``r``; the adapter output is multiplied by ``scale``.
    """
    from motion4d.video.checkpoint import apply_checkpoint, read_peft_lora

    if not Path(path).is_file():
        raise FileNotFoundError(f"motion LoRA file {str(path)!r} does not exist")
    ckpt = read_peft_lora(path, unet)
    apply_checkpoint(unet, ckpt, adapter_name, scale)
    return len(ckpt.layer_names)


class VideoSDSGuidance(TextGuidance):
    """Video SDS. ``images``: the frames of one clip ``[F, H, W, 3]`` (or clips ``[B, F, H, W, 3]``), all
    from one camera, in time order. ``condition``: ``prompt``. Returns ``{"sds_video": loss}``."""

    kind = "video"
    loss_name = "sds_video"

    def __init__(self, cfg: Any, lora_loader: LoraLoader | None = None):
        super().__init__(cfg)
        self.lora_loader = lora_loader
        """None: generation's path (:func:`motion4d.video.adapters.load_adapter`); else ``f(unet, path, scale)``."""
        self.backbone: Any = None

    @property
    def render_spec(self) -> RenderSpec:
        return RenderSpec(views=1, height=self.cfg.height // 2, width=self.cfg.width // 2,
                          frames=self.cfg.video.num_frames)

    def _load(self) -> None:
        from motion4d.video.adapters import load_adapter
        from motion4d.video.backbones import load_backbone
        from motion4d.video.schedulers import make_scheduler

        v = self.cfg.video
        bb = load_backbone(self.cfg.model, device=str(self.device_), precision=self.cfg.precision)
        if getattr(bb, "vae", None) is None or bb.temporal_compression != 1:
            raise ValueError(f"video SDS needs a backbone with a per-frame VAE; {self.cfg.model!r} is a "
                             f"{type(bb).__name__} with temporal compression {bb.temporal_compression}")
        self.backbone, self.dtype = bb, bb.dtype
        for kind, path, scale in (("temporal", v.lora_path, v.lora_scale),
                                  ("spatial", v.appearance_path, v.appearance_scale)):
            if path and self.lora_loader is not None:
                self.lora_loader(bb.denoiser, str(path), scale)
            elif path:
                load_adapter(bb, path, kind, scale=scale, motion4d_only=False,
                             allow_base_mismatch=v.allow_base_mismatch)
        self.unet, self.vae = bb.denoiser, bb.vae
        self.scheduler = make_scheduler(bb.scheduler_config, "ddim")
        self.prompts = bb.encode_prompt

    def encode_frames(self, frames: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, 4, F, h, w]`` of clips ``[B, F, 3, H, W]``; with ``video.low_ram_vae = k`` only k
        random frames per clip are encoded with gradient."""
        B, Fn = frames.shape[:2]
        flat = self.resize(frames.reshape(B * Fn, *frames.shape[2:]).float(), (self.cfg.height, self.cfg.width))
        k = self.cfg.video.low_ram_vae
        if 0 < k < Fn:
            with_grad = torch.zeros(B * Fn, dtype=torch.bool)
            for b in range(B):
                with_grad[b * Fn + torch.randperm(Fn, generator=self.generator)[:k]] = True
            with_grad = with_grad.to(flat.device)
            parts = []
            for i in range(B * Fn):
                if with_grad[i]:
                    parts.append(self.encode_images(self.vae, flat[i:i + 1]))
                else:
                    with torch.no_grad():
                        parts.append(self.encode_images(self.vae, flat[i:i + 1]))
            z = torch.cat(parts)
        else:
            z = self.encode_images(self.vae, flat)
        return z.reshape(B, Fn, *z.shape[1:]).permute(0, 2, 1, 3, 4)

    def encode_renders(self, images: torch.Tensor) -> torch.Tensor:
        """Latents ``[B, 4, F, h, w]`` of the clip(s) (see :func:`to_video` for the accepted layouts). With
        ``video.num_frames == 1`` a batch of images ``[B, H, W, 3]`` is B one-frame clips (the text-to-video model
        as an image model)."""
        if self.cfg.video.num_frames == 1 and images.ndim == 4:
            images = images[:, None]
        return self.encode_frames(to_video(images).to(self.device_))

    def encode_condition(self, condition: Condition, batch: int) -> torch.Tensor:
        """Text embeddings ``[2B, L, D]``: negative prompt rows, then prompt rows."""
        return self.text_batch(condition, batch)

    def predict_noise(self, latents_noisy: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.backbone.predict(latents_noisy, t, cond)

    def score_gradient(self, s: SDSStep) -> torch.Tensor:
        """``w(t) (eps_cfg - noise)``, then motion amplification ``mean_F(g) + k (g - mean_F(g))`` per clip."""
        grad = super().score_gradient(s)
        k = self.value("video.motion_amp_scale", s.step)
        if k != 1.0:
            mean = grad.mean(dim=2, keepdim=True)
            grad = mean + k * (grad - mean)
        return grad
