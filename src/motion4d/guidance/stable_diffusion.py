"""Stable Diffusion SDS (DreamFusion / threestudio's ``stable-diffusion-guidance``).

Model: ``stabilityai/stable-diffusion-2-1-base`` (512 px, epsilon prediction) or any folder in the
``StableDiffusionPipeline`` layout (``unet/``, ``vae/``, ``text_encoder/``, ``tokenizer/``, ``scheduler/``).
``grad = w(t) (eps_cfg - eps)``, CFG 100 in threestudio's ``plus`` form by default. VSD (the same model
with a LoRA particle model) is :mod:`motion4d.guidance.vsd`.
"""
from __future__ import annotations

import torch

from motion4d.guidance.condition import Condition
from motion4d.guidance.prompts import view_suffix
from motion4d.guidance.text import TextGuidance

__all__ = ["StableDiffusionGuidance"]


class StableDiffusionGuidance(TextGuidance):
    """SDS with a Stable Diffusion checkpoint. ``condition``: ``prompt`` (+ cameras for view-dependent
    prompts). Returns ``{"sds": loss}``."""

    kind = "sd"

    def _load(self) -> None:
        from diffusers import UNet2DConditionModel

        self._load_text_diffusion(UNet2DConditionModel, f"Stable Diffusion {self.kind.upper()} guidance",
                                  "Stable Diffusion model")

    def view_prompts(self, condition: Condition, batch: int, view_dependent: bool | None = None) -> list[str]:
        """One prompt per render; with ``prompt.view_dependent`` and known cameras, threestudio's view suffixes."""
        o = self.cfg.prompt
        use_views = o.view_dependent if view_dependent is None else view_dependent
        if use_views and (condition.elevation is not None or condition.cameras is not None):
            el, az, _ = condition.camera_params(batch)
            return [condition.prompt + view_suffix(float(e), float(a), o.front_threshold, o.back_threshold,
                                                   o.overhead_threshold) for e, a in zip(el, az)]
        return [condition.prompt] * batch

    def encode_condition(self, condition: Condition, batch: int) -> torch.Tensor:
        """Text embeddings ``[2B, L, D]``: negative prompt rows, then the (view-dependent) prompt rows."""
        return self.text_batch(condition, batch, self.view_prompts(condition, batch))

    def predict_noise(self, latents_noisy: torch.Tensor, t: torch.Tensor, cond: torch.Tensor) -> torch.Tensor:
        return self.unet(latents_noisy, t, encoder_hidden_states=cond).sample
