"""Text-to-video SDS with the first stage's backbone (ZeroScope / ModelScope ``UNet3DConditionModel``).

Folder layout (``TextToVideoSDPipeline``): ``unet/`` (UNet3DConditionModel), ``vae/``, ``text_encoder/``,
``tokenizer/``, ``scheduler/``. Settings follow 4D-fy's ZeroScope guidance: 16 frames rendered at
160x288 and resized to 320x576 (40x72 latents), CFG 100 in the ``plus`` form, ``w = 1 - alpha_bar``,
``t ~ U(0.02, 0.98)``, loss summed over frames and divided by the number of videos.

A temporal (motion) LoRA from the ``video`` stage supervises the 4D motion directly: set
``video.lora_path`` to a LoRA safetensors file. It is applied by ``lora_loader(unet, path, scale)``.
The default (:meth:`VideoSDSGuidance.default_lora_loader`) loads motion4d LoRA checkpoints
(metadata ``format = motion4d-lora``, written by ``motion4d train-motion``) and any other file through
:func:`motion4d.video.checkpoint.load_lora_file` (motion4d's one LoRA loading path; motion4d files are checked
against this base model; other files need peft-style keys
``<module>.lora_A.weight`` / ``<module>.lora_B.weight``, optionally prefixed ``unet.``, and a
``lora_alpha``/``alpha`` metadata entry). Pass your own callable to :class:`VideoSDSGuidance` for
another format.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

import torch

from motion4d.guidance.base import (Condition, Guidance, RenderSpec, cfg_combine, clean_grad, predicted_eps, sds_loss,
                                    sds_weight, to_bchw)

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


class VideoSDSGuidance(Guidance):
    """Video SDS. ``images``: the frames of one clip ``[F, H, W, 3]`` (or clips ``[B, F, H, W, 3]``), all
    from one camera, in time order. ``condition``: ``prompt``. Returns ``{"sds_video": loss}``."""

    kind = "video"
    needs = frozenset({"prompt"})

    def __init__(self, cfg: Any, lora_loader: LoraLoader | None = None):
        super().__init__(cfg)
        self.lora_loader = lora_loader or self.default_lora_loader

    def default_lora_loader(self, unet: torch.nn.Module, path: str, scale: float) -> None:
        """motion4d LoRA checkpoints through ``motion4d.video``; other safetensors as peft-style keys."""
        from motion4d.video.checkpoint import load_lora_file

        if not Path(path).is_file():
            raise FileNotFoundError(f"motion LoRA file {str(path)!r} does not exist")
        load_lora_file(unet, path, model_id=str(self.cfg.model), scale=scale)

    @property
    def render_spec(self) -> RenderSpec:
        return RenderSpec(views=1, height=self.cfg.height // 2, width=self.cfg.width // 2,
                          frames=self.cfg.video.num_frames)

    def _load(self) -> None:
        from diffusers import UNet3DConditionModel

        def load_motion_lora(unet):
            self.lora_loader(unet, self.cfg.video.lora_path, self.cfg.video.lora_scale)

        self._load_text_diffusion(UNet3DConditionModel, "text-to-video SDS guidance", "text-to-video model",
                                  load_motion_lora if self.cfg.video.lora_path else None)

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

    @torch.no_grad()
    def predict_noise(self, noisy: torch.Tensor, t: torch.Tensor, text: torch.Tensor, uncond: torch.Tensor,
                      scale: float) -> torch.Tensor:
        """CFG noise estimate for noisy video latents ``[B, 4, F, h, w]``."""
        B = noisy.shape[0]
        tt = torch.cat([t, t])
        out = self.unet(torch.cat([noisy, noisy]).to(self.dtype), tt,
                        encoder_hidden_states=torch.cat([text, uncond])).sample.float()
        eps = predicted_eps(out, torch.cat([noisy, noisy]).float(), tt, self.alphas_cumprod, self.prediction_type)
        return cfg_combine(eps[:B], eps[B:], scale, self.cfg.cfg_form)

    def losses(self, images: torch.Tensor, condition: Condition, step: int = 0) -> dict[str, torch.Tensor]:
        self.load()
        self.check_needs(condition)
        frames = to_video(images).to(self.device_)
        B = frames.shape[0]
        latents = self.encode_frames(frames)
        t = self.sample_timesteps(step, B, self.scheduler.config.num_train_timesteps)
        noise = self.randn(latents.shape)
        noisy = self.scheduler.add_noise(latents.detach(), noise, t)
        text = self.prompts([condition.prompt]).expand(B, -1, -1)
        uncond = self.prompts([condition.negative_prompt or self.cfg.prompt.negative_prompt]).expand(B, -1, -1)
        eps = self.predict_noise(noisy, t, text, uncond, self.value("guidance_scale", step))
        w = sds_weight(self.alphas_cumprod, t, self.cfg.weighting).reshape(-1, 1, 1, 1, 1)
        grad = w * (eps - noise)
        k = self.value("video.motion_amp_scale", step)
        if k != 1.0:
            mean = grad.mean(dim=2, keepdim=True)
            grad = mean + k * (grad - mean)
        grad = clean_grad(grad, self.value("grad_clip", step))
        self.stats = {"t": t.detach().cpu()}
        return {"sds_video": self.value("weight", step) * sds_loss(latents, grad, B)}
