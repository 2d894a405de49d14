"""Text-conditioned guidance: loading a diffusers text-to-image/video model and the CFG text batch."""
from __future__ import annotations

from typing import Any, Sequence

import torch

from motion4d.guidance.base import Guidance
from motion4d.guidance.condition import Condition

__all__ = ["TextGuidance"]


class TextGuidance(Guidance):
    """A :class:`Guidance` whose model reads a prompt through a CLIP text encoder (SD, MVDream, video)."""

    needs = frozenset({"prompt"})

    def _load_text_diffusion(self, unet_cls: Any, purpose: str, label: str, unet_hook: Any = None) -> Any:
        """Load ``unet``, ``vae``, ``scheduler`` and ``prompts`` (a :class:`PromptEncoder`) from the config's model.

        ``unet_hook(unet)`` runs before the UNet is moved to the compute device (e.g. to load a LoRA).
        Returns the model's folder.
        """
        from diffusers import AutoencoderKL

        from motion4d.guidance.loading import (check_layout, load_component, load_scheduler, load_text_encoder,
                                               load_tokenizer, resolve_model)
        from motion4d.guidance.prompts import PromptEncoder

        root = resolve_model(self.cfg.model, purpose)
        check_layout(root, ("unet", "vae", "text_encoder", "tokenizer", "scheduler"), f"{label} {self.cfg.model!r}")
        dev, dt = self.device_, self.dtype
        self.vae = load_component(AutoencoderKL, root, "vae", dt, dev)
        self.unet = load_component(unet_cls, root, "unet", dt, dev)
        if unet_hook is not None:
            unet_hook(self.unet)
            self.unet.to(dev, dt)
        self.scheduler = load_scheduler(root)
        self.prompts = PromptEncoder(load_tokenizer(root), load_text_encoder(root, dt, dev), dev, dt)
        return root

    def negative_prompt(self, condition: Condition) -> str:
        """The unconditional branch's text: ``condition.negative_prompt``, else the config's ("" = empty)."""
        return condition.negative_prompt or self.cfg.prompt.negative_prompt

    def text_batch(self, condition: Condition, batch: int, prompts: Sequence[str] | None = None) -> torch.Tensor:
        """Text embeddings ``[2 * batch, L, D]`` in CFG order: ``batch`` negative rows, then the prompt rows
        (``prompts``, one per render, default ``condition.prompt`` for all)."""
        prompts = list(prompts) if prompts is not None else [condition.prompt] * batch
        uncond = self.prompts([self.negative_prompt(condition)]).expand(batch, -1, -1)
        text = self.prompts(prompts) if len(set(prompts)) > 1 else self.prompts(prompts[:1]).expand(batch, -1, -1)
        return torch.cat([uncond, text])
