"""CLIP text-image scores of rendered views against a prompt, with the shipped ``tiny-clip`` or any local CLIP.

* :func:`resolve_clip`: ``auto`` is a real CLIP (ViT-B/32) when its weights are local, else ``tiny-clip``.
* :class:`ClipScorer` loads a transformers ``CLIPModel`` + ``CLIPTokenizer`` folder (a model-table key such as
  ``tiny-clip`` or ``clip-vit-b32``, a hub id already in the local cache, or a folder) on first use, and embeds
  images and texts as unit vectors. Images are RGB ``[N, H, W, 3]`` in [0, 1]: centre-cropped to a square,
  resized (bicubic, antialiased) to the model's ``vision_config.image_size`` (64 for tiny-clip, 224 for
  ViT-B/32) and normalised with the folder's ``preprocessor_config.json`` mean / std (CLIP's when absent).
  Texts are padded to ``min(model_max_length, 77)`` tokens.
* :func:`clip_text_score`: cosine similarity in [-1, 1] (not CLIPScore's x100 / x2.5) of every image with one
  prompt; ``mean`` is what the pipelines report as ``clip_score``.
* :func:`zero_shot`: for each image, the argmax colour among ``"a <colour> <noun>"`` (the 10 main colours)
  and the argmax noun among ``"a <colour> <noun>"`` (the 10 nouns), as :mod:`motion4d.zoo.clip` measures
  tiny-clip; accuracies against the prompt's own colour and kind (cube and box are one kind).

A missing model raises :class:`motion4d.hub.ModelNotFoundError` with the command that downloads it; nothing is
ever downloaded. tiny-clip saw 64 px shapes-world stills on white during training, so render views for it on white.
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Protocol, Sequence

import torch

__all__ = ["DEFAULT_CLIP", "REAL_CLIP", "resolve_clip", "ClipScorer", "TextImageModel", "load_clip",
           "clip_text_score", "zero_shot"]

DEFAULT_CLIP = "tiny-clip"
REAL_CLIP = "clip-vit-b32"          # openai/clip-vit-base-patch32 in the model table
_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)


class TextImageModel(Protocol):
    """What the scores need: unit embeddings of images ``[N, H, W, 3]`` and of texts, in one space."""

    def embed_images(self, images: torch.Tensor) -> torch.Tensor: ...

    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor: ...


class ClipScorer:
    """A transformers CLIP folder, loaded lazily on first use (see the module docstring)."""

    def __init__(self, model: str = DEFAULT_CLIP, device: str | torch.device = "auto"):
        self.model_id, self._device, self._net = str(model), device, None

    def _load(self):
        if self._net is None:
            from transformers import CLIPModel, CLIPTokenizer

            from motion4d.hub import resolve_pretrained
            from motion4d.utils.device import resolve_device

            folder = resolve_pretrained(self.model_id, purpose="the CLIP text-image score")
            self.device = resolve_device(self._device)
            net = CLIPModel.from_pretrained(str(folder)).to(self.device).eval()
            self.tokenizer = CLIPTokenizer.from_pretrained(str(folder))
            mean, std = _CLIP_MEAN, _CLIP_STD
            proc = Path(folder) / "preprocessor_config.json"
            if proc.is_file():
                cfg = json.loads(proc.read_text())
                mean, std = cfg.get("image_mean", mean), cfg.get("image_std", std)
            self.mean = torch.tensor(mean, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
            self.std = torch.tensor(std, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
            self.image_size = int(net.config.vision_config.image_size)
            self._net = net
        return self._net

    @torch.no_grad()
    def embed_images(self, images: torch.Tensor) -> torch.Tensor:
        net = self._load()
        x = torch.as_tensor(images, dtype=torch.float32)
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"images must be RGB [N, H, W, 3] in [0, 1], got shape {tuple(x.shape)}")
        x = x.to(self.device).permute(0, 3, 1, 2)
        h, w = x.shape[-2:]
        side = min(h, w)
        x = x[..., (h - side) // 2:(h - side) // 2 + side, (w - side) // 2:(w - side) // 2 + side]
        if side != self.image_size:
            x = torch.nn.functional.interpolate(x, size=(self.image_size,) * 2, mode="bicubic", antialias=True,
                                                align_corners=False)
        feats = net.get_image_features(pixel_values=(x.clamp(0, 1) - self.mean) / self.std)
        return torch.nn.functional.normalize(getattr(feats, "pooler_output", feats).float(), dim=-1).cpu()

    @torch.no_grad()
    def embed_texts(self, texts: Sequence[str]) -> torch.Tensor:
        net = self._load()
        length = min(int(self.tokenizer.model_max_length), 77)
        ids = self.tokenizer(list(texts), padding="max_length", truncation=True, max_length=length,
                             return_tensors="pt").to(self.device)
        feats = net.get_text_features(input_ids=ids["input_ids"], attention_mask=ids["attention_mask"])
        return torch.nn.functional.normalize(getattr(feats, "pooler_output", feats).float(), dim=-1).cpu()


def resolve_clip(model: str = "auto") -> str:
    """``auto`` -> :data:`REAL_CLIP` when its weights are local, else the shipped :data:`DEFAULT_CLIP`; any
    other value unchanged (checked when the model loads)."""
    if model != "auto":
        return model
    from motion4d.hub import is_present

    return REAL_CLIP if is_present(REAL_CLIP) else DEFAULT_CLIP


@functools.lru_cache(maxsize=4)
def load_clip(model: str = DEFAULT_CLIP, device: str = "auto") -> ClipScorer:
    """A :class:`ClipScorer` shared by the callers in this process (weights load on its first use)."""
    return ClipScorer(model, device)


def _scorer(model: str | TextImageModel, device: str) -> TextImageModel:
    return load_clip(resolve_clip(model), device) if isinstance(model, str) else model


def clip_text_score(images: torch.Tensor, prompt: str, model: str | TextImageModel = DEFAULT_CLIP,
                    device: str = "auto") -> dict:
    """``{"mean", "min", "per_image": [N]}``: cosine similarity of each image ``[N, H, W, 3]`` with ``prompt``.

    ``model``: ``auto`` (:func:`resolve_clip`), a CLIP key / hub id / folder (loaded once per process) or any
    :class:`TextImageModel`.
    """
    if not isinstance(prompt, str) or not prompt.strip():
        raise ValueError("the CLIP score needs a non-empty prompt")
    scorer = _scorer(model, device)
    sims = scorer.embed_images(images) @ scorer.embed_texts([prompt])[0]
    return {"mean": float(sims.mean()), "min": float(sims.min()), "per_image": [round(float(s), 5) for s in sims]}


def zero_shot(images: torch.Tensor, colour: str, noun: str, model: str | TextImageModel = DEFAULT_CLIP,
              device: str = "auto") -> dict:
    """Zero-shot colour and kind of each image against the prompt's ``colour`` and ``noun`` (see the module
    docstring): ``{"colour_acc", "kind_acc", "colours": [N], "kinds": [N]}``.

    Raises ``ValueError`` for a colour outside the 10 main colours or an unknown noun.
    """
    from motion4d.zoo.clip import MAIN_COLORS, NOUNS, text_candidates

    if colour not in MAIN_COLORS or noun not in NOUNS:
        raise ValueError(f"zero-shot needs one of the main colours ({', '.join(MAIN_COLORS)}) and a noun "
                         f"({', '.join(NOUNS)}), got {colour!r} and {noun!r}")
    scorer = _scorer(model, device)
    by_colour, by_noun = text_candidates(colour, noun)
    img = scorer.embed_images(images)
    s = img @ scorer.embed_texts(by_colour + by_noun).T                         # [N, 10 + 10]
    nouns = list(NOUNS)
    colours = [MAIN_COLORS[int(i)] for i in s[:, :len(by_colour)].argmax(1)]
    kinds = [NOUNS[nouns[int(i)]] for i in s[:, len(by_colour):].argmax(1)]
    return {"colour_acc": sum(c == colour for c in colours) / len(colours),
            "kind_acc": sum(k == NOUNS[noun] for k in kinds) / len(kinds), "colours": colours, "kinds": kinds}
