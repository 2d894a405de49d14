"""tiny-clip: a transformers ``CLIPModel`` (ViT on 64x64 images, patch 8; text transformer) and a
``CLIPTokenizer`` over the caption vocabulary, trained contrastively on shapes-world stills.

Training pairs: a still of a scene (front or orbit view; the first 1536 scenes are tiny-vae's cached renders)
over white, flipped left-right at random (unless the text names a side) and shifted by up to ``shift`` pixels
(white filling), and one text drawn per step from: the scene caption; for one-object scenes also ``"a <colour> <noun>"``,
``"a <colour> object"``, ``"a <noun>"`` and the object phrase without its verb. Loss: CLIP's symmetric
cross-entropy over the batch. Quality (zero-shot, one-object front views of the test split): the colour is the
argmax over ``"a <c> <true noun>"`` for the 10 main colours; the kind the argmax over ``"a <true colour> <n>"``
for the 10 nouns (cube and box both count as kind box).
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

__all__ = ["KEY", "FILES", "defaults", "build", "prepare", "loss", "export", "evaluate", "MAIN_COLORS", "NOUNS",
           "CLIP_MEAN", "CLIP_STD", "pixel_values", "text_candidates"]

KEY = "tiny-clip"
FILES = ("config.json", "model.safetensors", "vocab.json", "merges.txt", "tokenizer_config.json",
         "preprocessor_config.json")
MAIN_COLORS = ("red", "orange", "yellow", "green", "blue", "purple", "pink", "cyan", "brown", "gray")
NOUNS = {"ball": "sphere", "cube": "box", "box": "box", "cylinder": "cylinder", "cone": "cone", "ring": "torus",
         "capsule": "capsule", "snowman": "snowman", "robot": "robot", "dog": "dog"}
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
defaults = {"width": 64, "layers": 4, "text_width": 64, "text_layers": 3, "proj": 64, "scenes": 12288,
            "shift": 6, "steps": 6000, "batch": 64, "lr": 1e-3, "warmup": 100, "weight_decay": 0.05, "ckpt_every": 100,
            "eval_scenes": 200}


def build(cfg: dict, device) -> torch.nn.Module:
    from transformers import CLIPConfig, CLIPModel

    from motion4d.zoo.tokenizer import MAX_LENGTH

    import tempfile

    from motion4d.zoo.tokenizer import build_tokenizer

    w, tw = int(cfg["width"]), int(cfg["text_width"])
    with tempfile.TemporaryDirectory() as tmp:
        vocab = len(build_tokenizer(tmp))
    text = dict(vocab_size=vocab, hidden_size=tw, intermediate_size=2 * tw, num_hidden_layers=int(cfg["text_layers"]),
                num_attention_heads=4, max_position_embeddings=MAX_LENGTH, bos_token_id=0, eos_token_id=1,
                pad_token_id=1)
    vision = dict(image_size=64, patch_size=8, num_channels=3, hidden_size=w, intermediate_size=2 * w,
                  num_hidden_layers=int(cfg["layers"]), num_attention_heads=4)
    return CLIPModel(CLIPConfig(text_config=text, vision_config=vision, projection_dim=int(cfg["proj"])))


def _texts(meta: dict, k: int) -> str:
    """Text variant ``k`` (0..4) of an image's facts (variant 0, the caption, for scenes of several objects)."""
    if meta["num_objects"] != 1 or k == 0:
        return meta["caption"]
    words = meta["caption"].split()
    end = max(i for i, w in enumerate(words) if w in NOUNS or w == "stripes")
    return [None, f"{_art(meta['color'])} {meta['color']} {meta['noun']}", f"{_art(meta['color'])} {meta['color']} object",
            f"{_art(meta['noun'])} {meta['noun']}", " ".join(words[:end + 1])][k]


def _art(word: str) -> str:
    return "an" if word[0] in "aeiou" else "a"


def prepare(cfg: dict, model, cache_dir: Path, device, show_progress: bool = True) -> dict:
    from motion4d.zoo.data import StillSpec, render_stills
    from motion4d.zoo.tokenizer import build_tokenizer

    n = int(cfg["scenes"])
    parts = [render_stills("train", min(1536, n - s), StillSpec(per_scene=2), start=s, cache_dir=cache_dir,
                           show_progress=show_progress) for s in range(0, n, 1536)]
    tok = build_tokenizer(Path(cache_dir) / "tokenizer")
    meta = [m for _, ms in parts for m in ms]
    # every text variant of every image, tokenized once: ids [N, 5, L]
    texts = [[_texts(m, k) for k in range(5)] for m in meta]
    flat = [t for row in texts for t in row]
    ids = tok(flat, padding="max_length", truncation=True, return_tensors="pt")["input_ids"]
    sided = torch.tensor([any(w in ("left", "right") for w in t.split()) for t in flat]).view(len(meta), 5)
    return {"rgba": torch.from_numpy(np.concatenate([r for r, _ in parts])), "ids": ids.view(len(meta), 5, -1),
            "sided": sided,
            "single": torch.tensor([m["num_objects"] == 1 for m in meta]), "tokenizer": tok,
            "tokenizer_dir": Path(cache_dir) / "tokenizer"}


def pixel_values(rgb: torch.Tensor) -> torch.Tensor:
    """CLIP-normalised pixels of RGB ``[N, 3, 64, 64]`` in [0, 1] (what ``preprocessor_config.json`` does)."""
    mean = torch.tensor(CLIP_MEAN, device=rgb.device).view(1, 3, 1, 1)
    std = torch.tensor(CLIP_STD, device=rgb.device).view(1, 3, 1, 1)
    return (rgb - mean) / std


def _augment(rgb: torch.Tensor, may_flip: torch.Tensor, shift: int, gen: torch.Generator) -> torch.Tensor:
    """Random left-right flips (only where the text names no side) and shifts of up to ``shift`` pixels with
    white filling, of RGB ``[N, 3, H, W]`` over white."""
    n, _, h, w = rgb.shape
    flip = (torch.rand(n, generator=gen) < 0.5) & may_flip
    rgb = torch.where(flip[:, None, None, None], rgb.flip(-1), rgb)
    if shift <= 0:
        return rgb
    padded = torch.nn.functional.pad(rgb, (shift,) * 4, value=1.0)
    off = torch.randint(0, 2 * shift + 1, (n, 2), generator=gen)
    return torch.stack([padded[i, :, y:y + h, x:x + w] for i, (y, x) in enumerate(off.tolist())])


def loss(cfg: dict, model, data: dict, gen: torch.Generator, device):
    from motion4d.zoo.data import to_rgb

    n = int(cfg["batch"])
    idx = torch.randint(0, len(data["rgba"]), (n,), generator=gen)
    k = torch.randint(0, 5, (n,), generator=gen)
    k = torch.where(data["single"][idx], k, torch.zeros_like(k))
    ids = data["ids"][idx, k].to(device)
    rgb = _augment(to_rgb(data["rgba"][idx]), ~data["sided"][idx, k], int(cfg["shift"]), gen)
    pix = pixel_values(rgb.to(device))
    out = model(input_ids=ids, pixel_values=pix, return_loss=True)   # causal text attention: padding is inert
    return out.loss, {"logit_scale": float(model.logit_scale.exp().detach())}


def export(cfg: dict, model, data, folder: Path) -> Path:
    """``save_pretrained`` of the model, its tokenizer and image processor into one transformers folder."""
    import shutil

    from transformers import CLIPImageProcessor

    from motion4d.utils.io import atomic_dir, write_json

    tok = data["tokenizer"]
    with atomic_dir(folder) as tmp:
        model.save_pretrained(tmp)
        tok.save_pretrained(str(tmp))
        for name in ("vocab.json", "merges.txt"):     # the slow-tokenizer files, next to tokenizer.json
            shutil.copyfile(data["tokenizer_dir"] / name, tmp / name)
        CLIPImageProcessor(size={"shortest_edge": 64}, crop_size={"height": 64, "width": 64}, image_mean=CLIP_MEAN,
                           image_std=CLIP_STD, resample=3).save_pretrained(str(tmp))
        write_json(tmp / "zoo_recipe.json", cfg)
    return Path(folder)


def text_candidates(color: str, noun: str) -> tuple[list[str], list[str]]:
    """Zero-shot prompts: (colour alternatives for ``noun``, noun alternatives for ``color``)."""
    return [f"{_art(c)} {c} {noun}" for c in MAIN_COLORS], [f"{_art(color)} {color} {n}" for n in NOUNS]


@torch.no_grad()
def zero_shot(model, tokenizer, rgb: torch.Tensor, metas: list[dict]) -> dict:
    """Colour and kind predictions for front views ``rgb`` [N, 3, 64, 64] with facts ``metas``."""
    dev = model.device
    img = model.get_image_features(pixel_values=pixel_values(rgb.to(dev)))
    img = torch.nn.functional.normalize(getattr(img, "pooler_output", img), dim=-1)
    nouns = list(NOUNS)
    colours, kinds = [], []
    for i, m in enumerate(metas):
        cands_c, cands_n = text_candidates(m["color"], m["noun"])
        ids = tokenizer(cands_c + cands_n, padding="max_length", truncation=True, return_tensors="pt").to(dev)
        txt = model.get_text_features(**ids)
        txt = torch.nn.functional.normalize(getattr(txt, "pooler_output", txt), dim=-1)
        s = txt @ img[i]
        colours.append(MAIN_COLORS[int(s[:len(cands_c)].argmax())])
        kinds.append(NOUNS[nouns[int(s[len(cands_c):].argmax())]])
    return {"colour": colours, "kind": kinds}


def evaluate(folder, cfg: dict, split: str = "test", device="cpu", cache_dir=None, show_progress=False) -> dict:
    """Zero-shot colour and kind accuracy on ``eval_scenes`` one-object front views of ``split``."""
    from transformers import CLIPModel, CLIPTokenizer

    from motion4d.zoo.data import StillSpec, render_stills, to_rgb

    model = CLIPModel.from_pretrained(str(folder)).to(device).eval()
    tok = CLIPTokenizer.from_pretrained(str(folder))
    rgba, metas = render_stills(split, int(cfg.get("eval_scenes", 200)), StillSpec(per_scene=1, views="ref",
                                num_objects=1), cache_dir=cache_dir, show_progress=show_progress)
    pred = zero_shot(model, tok, to_rgb(rgba), metas)
    ok_c = np.array([p == m["color"] for p, m in zip(pred["colour"], metas)])
    ok_k = np.array([p == m["kind"] for p, m in zip(pred["kind"], metas)])
    solid = np.array([m["pattern"] == "solid" for m in metas])
    return {"colour_acc": float(ok_c.mean()), "kind_acc": float(ok_k.mean()),
            "colour_acc_solid": float(ok_c[solid].mean()), "images": len(metas), "chance_colour": 0.1,
            "chance_kind": 1 / 9}
