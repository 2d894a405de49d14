"""A tiny CLIP (random weights) saved offline in the Hugging Face folder layout, for the CLIP metric tests."""
from __future__ import annotations

import json
from pathlib import Path

from motion4d.guidance.tiny import MERGES, VOCAB  # the one tiny vocabulary


def tiny_clip(folder: Path) -> Path:
    import torch
    from transformers import CLIPConfig, CLIPImageProcessor, CLIPModel, CLIPProcessor, CLIPTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.json").write_text(json.dumps({v: i for i, v in enumerate(VOCAB)}))
    (folder / "merges.txt").write_text("\n".join(MERGES) + "\n")
    tok = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=77)
    cfg = CLIPConfig(text_config=dict(vocab_size=100, hidden_size=8, intermediate_size=16, num_attention_heads=2,
                                      num_hidden_layers=1, max_position_embeddings=77, bos_token_id=21,
                                      eos_token_id=22, pad_token_id=22),
                     vision_config=dict(hidden_size=8, intermediate_size=16, num_attention_heads=2, num_hidden_layers=1,
                                        image_size=32, patch_size=8), projection_dim=8)
    torch.manual_seed(0)
    CLIPModel(cfg).save_pretrained(folder)
    proc = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
    CLIPProcessor(image_processor=proc, tokenizer=tok).save_pretrained(folder)
    return folder
