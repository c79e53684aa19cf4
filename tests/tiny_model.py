"""A tiny sentence-transformers model (random 1-layer BERT over the real e5 tokenizer).

Stands in for the real embedder in tests that are about something else (crash safety,
concurrency): it loads in a second and embeds a corpus in seconds, so a subprocess can be
killed at many moments. It is saved as a normal sentence-transformers folder and passed to
polyfind with ``--model PATH`` like any user model.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def build_tiny_model(target: Path, default_model_dir: Path) -> Path:
    import torch
    from sentence_transformers import SentenceTransformer, models
    from transformers import BertConfig, BertModel

    if (target / "modules.json").exists():
        return target
    base = target.parent / (target.name + "-hf")
    base.mkdir(parents=True, exist_ok=True)
    vocab = json.loads((default_model_dir / "config.json").read_text())["vocab_size"]
    torch.manual_seed(0)
    cfg = BertConfig(
        vocab_size=vocab,
        hidden_size=32,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
    )
    BertModel(cfg).save_pretrained(base)
    for name in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(default_model_dir / name, base / name)
    word = models.Transformer(str(base), max_seq_length=256)
    pool = models.Pooling(word.get_word_embedding_dimension(), pooling_mode="mean")
    SentenceTransformer(modules=[word, pool, models.Normalize()]).save(str(target))
    shutil.rmtree(base)
    return target
