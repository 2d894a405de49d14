"""A ``CLIPTokenizer`` (``vocab.json`` + ``merges.txt``) over the shapes world's caption vocabulary, built offline.

Every word of the caption grammar is one token (checked by :func:`build_tokenizer`); other lower-case words
fall back to letter pieces (the whole alphabet is in the vocabulary), other characters to ``<|endoftext|>``.
Ids: ``<|startoftext|>`` 0, ``<|endoftext|>`` 1 (also padding), then the BPE pieces.
"""
from __future__ import annotations

import json
import string
from pathlib import Path

__all__ = ["caption_words", "build_tokenizer", "MAX_LENGTH", "BOS", "EOS"]

MAX_LENGTH = 32
BOS, EOS = "<|startoftext|>", "<|endoftext|>"
_GRAMMAR = ("a an and with stripes striped moving to the left right towards camera away bouncing jumping spinning "
            "tumbling circling around pulsing wobbling wagging its tail waving arm walking standing still "
            "clockwise counterclockwise object photo of")
_NOUNS = ("ball", "cube", "box", "cylinder", "cone", "ring", "capsule", "snowman", "robot", "dog")


def caption_words() -> list[str]:
    """Every word the caption grammar can produce (colours, nouns, verbs and function words), sorted."""
    from motion4d.world import PALETTE

    return sorted(set(_GRAMMAR.split()) | set(_NOUNS) | set(PALETTE) | {"white"})


def build_tokenizer(folder: str | Path):
    """Write ``vocab.json``, ``merges.txt`` and the tokenizer configs into ``folder`` and return the loaded
    ``transformers.CLIPTokenizer`` (``model_max_length`` :data:`MAX_LENGTH`)."""
    from tokenizers import Tokenizer, models, pre_tokenizers, trainers
    from transformers import CLIPTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    words = caption_words()
    tok = Tokenizer(models.BPE(end_of_word_suffix="</w>", unk_token=EOS))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.BpeTrainer(vocab_size=100_000, min_frequency=1, special_tokens=[BOS, EOS],
                                  end_of_word_suffix="</w>", show_progress=False,
                                  initial_alphabet=list(string.ascii_lowercase))
    tok.train_from_iterator(words, trainer=trainer)
    vocab = json.loads(tok.to_str())["model"]["vocab"]
    merges = json.loads(tok.to_str())["model"]["merges"]
    for c in string.ascii_lowercase:            # every letter also as a word end, for unseen words
        vocab.setdefault(c + "</w>", len(vocab))
    vocab = dict(sorted(vocab.items(), key=lambda kv: kv[1]))
    (folder / "vocab.json").write_text(json.dumps(vocab, indent=0, ensure_ascii=False))
    lines = ["#version: 0.2"] + [" ".join(m) if isinstance(m, (list, tuple)) else m for m in merges]
    (folder / "merges.txt").write_text("\n".join(lines) + "\n")
    tokenizer = CLIPTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), model_max_length=MAX_LENGTH,
                              bos_token=BOS, eos_token=EOS, pad_token=EOS, unk_token=EOS)
    for w in words:
        ids = tokenizer(w, add_special_tokens=False)["input_ids"]
        if len(ids) != 1:
            raise RuntimeError(f"caption word {w!r} is not one token ({ids}); the tokenizer build is broken")
    tokenizer.save_pretrained(str(folder))
    return tokenizer
