"""Text prompt encoding shared by the text-conditioned guidances, with a cache and view-dependent prompts."""
from __future__ import annotations

from typing import Any, Sequence

import torch

__all__ = ["PromptEncoder", "view_suffix"]


def view_suffix(elevation: float, azimuth: float, front: float = 45.0, back: float = 45.0,
                overhead: float = 60.0) -> str:
    """threestudio's view-dependent prompt suffix for a camera in motion4d's convention.

    The object faces +Z, so azimuth 0 (camera on +Z) sees its front; azimuth is wrapped to [-180, 180).
    """
    if elevation > overhead:
        return ", overhead view"
    az = (azimuth + 180.0) % 360.0 - 180.0
    if abs(az) < front:
        return ", front view"
    if abs(az) > 180.0 - back:
        return ", back view"
    return ", side view"


class PromptEncoder:
    """CLIP text embeddings ``[N, L, D]`` (last hidden state) with an in-memory cache per prompt."""

    def __init__(self, tokenizer: Any, text_encoder: Any, device: torch.device, dtype: torch.dtype):
        self.tokenizer, self.text_encoder = tokenizer, text_encoder
        self.device, self.dtype = device, dtype
        self._cache: dict[str, torch.Tensor] = {}

    @torch.no_grad()
    def __call__(self, prompts: Sequence[str]) -> torch.Tensor:
        missing = [p for p in dict.fromkeys(prompts) if p not in self._cache]
        if missing:
            tok = self.tokenizer(list(missing), padding="max_length", max_length=self.tokenizer.model_max_length,
                                 truncation=True, return_tensors="pt")
            out = self.text_encoder(tok.input_ids.to(self.device))[0].to(self.dtype)
            for p, e in zip(missing, out):
                self._cache[p] = e
        return torch.stack([self._cache[p] for p in prompts])
