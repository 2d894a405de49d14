"""Optional learned metrics, used only when their weights are already on this machine (never downloaded).

* CLIP similarity (text-image cosine similarity x 100, as in CLIPScore without the 2.5 weight) with
  ``openai/clip-vit-base-patch32`` through ``transformers``, found through :mod:`motion4d.hub`
  (a local folder or the local Hugging Face cache).
* LPIPS (AlexNet) through the ``lpips`` package, only when the package is installed and its AlexNet
  backbone weights sit in the torch hub cache.

:func:`available` says which can run and, for the others, why not.
"""
from __future__ import annotations

import os
from pathlib import Path

import torch

from motion4d.hub import MODELS, ModelNotFoundError, resolve_pretrained

__all__ = ["CLIP_MODEL", "available", "clip_similarity", "lpips_distance"]

CLIP_MODEL = MODELS["clip-vit-b32"]        # row of the model table (motion4d.hub.MODELS)
_ALEXNET_FILE = "alexnet-owt-7be5be79.pth"


def _clip_reason(model: str) -> str | None:
    try:
        resolve_pretrained(model, purpose="the CLIP similarity metric")
    except ModelNotFoundError as e:
        return str(e).splitlines()[0]
    return None


def _lpips_reason() -> str | None:
    try:
        import lpips  # noqa: F401
    except Exception:  # noqa: BLE001 - not installed or broken (it needs torchvision)
        return "the 'lpips' package is not installed (pip install lpips; it also needs torchvision)"
    weights = Path(torch.hub.get_dir()) / "checkpoints" / _ALEXNET_FILE
    if not weights.is_file():
        return f"LPIPS AlexNet weights are not in the torch hub cache ({weights})"
    return None


def available(model: str = CLIP_MODEL.key) -> dict[str, str | None]:
    """``{"clip": reason or None, "lpips": reason or None}``: None means the metric can run."""
    return {"clip": _clip_reason(model), "lpips": _lpips_reason()}


def clip_similarity(images: torch.Tensor, text: str, model: str = CLIP_MODEL.key) -> torch.Tensor:
    """CLIP cosine similarity x 100 between each image ``[B,H,W,3]`` in [0, 1] and ``text``, ``[B]``.

    Raises :class:`motion4d.hub.ModelNotFoundError` when the CLIP weights are not local.
    """
    from transformers import CLIPModel, CLIPProcessor

    path = resolve_pretrained(model, purpose="the CLIP similarity metric")
    net = CLIPModel.from_pretrained(path).eval()
    proc = CLIPProcessor.from_pretrained(path)
    pixels = (torch.as_tensor(images).clamp(0, 1) * 255).round().to(torch.uint8).cpu().numpy()
    inputs = proc(text=[text], images=list(pixels), return_tensors="pt", padding=True, truncation=True,
                  max_length=77)  # CLIP sees at most 77 tokens
    with torch.no_grad():
        out = net(input_ids=inputs["input_ids"], attention_mask=inputs["attention_mask"],
                  pixel_values=inputs["pixel_values"])
    img = torch.nn.functional.normalize(out.image_embeds.float(), dim=-1)
    txt = torch.nn.functional.normalize(out.text_embeds.float(), dim=-1)
    return 100 * (img @ txt.T)[:, 0]


def lpips_distance(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """LPIPS (AlexNet) per image pair ``[B,H,W,3]`` in [0, 1], ``[B]``; errors when unavailable."""
    reason = _lpips_reason()
    if reason is not None:
        raise ModelNotFoundError(reason)
    os.environ.setdefault("TORCH_HOME", str(Path(torch.hub.get_dir()).parent))
    import lpips

    net = lpips.LPIPS(net="alex", verbose=False).eval()
    to = lambda x: torch.as_tensor(x).permute(0, 3, 1, 2).float() * 2 - 1  # noqa: E731
    with torch.no_grad():
        return net(to(pred), to(target)).reshape(-1)
