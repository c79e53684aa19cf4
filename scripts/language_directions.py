"""Estimate per-language mean embeddings for the default model (see language_bias.py).

    .venv/bin/python scripts/language_directions.py [--n 300]

Uses passages (never queries or judgements) of the monolingual Wikipedia sets in
../shared/bench: jsquad-ja, xquad-en and korquad-ko (materialised into .bench/korquad-ko by
`make bench-data`). Writes src/polyfind/data/language_means-multilingual-e5-small.json.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np

from polyfind.embedding import Embedder
from polyfind.settings import DEFAULT_MODEL, Settings

ROOT = Path(__file__).resolve().parents[1]
SOURCES = {
    "ja": ROOT.parent / "shared/bench/jsquad-ja/corpus.jsonl",
    "ko": ROOT / ".bench/korquad-ko/corpus.jsonl",
    "en": ROOT.parent / "shared/bench/xquad-en/corpus.jsonl",
}
OUT = ROOT / "src/polyfind/data/language_means-multilingual-e5-small.json"


def sample(path: Path, n: int) -> list[str]:
    rows = [json.loads(line)["text"] for line in path.open(encoding="utf-8")]
    random.Random(0).shuffle(rows)
    return rows[:n]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=300, help="passages per language")
    args = ap.parse_args()
    emb = Embedder.load(Settings(model=DEFAULT_MODEL))
    means = {}
    for lang, path in SOURCES.items():
        vecs = emb.embed_passages(sample(path, args.n), batch_size=16)
        means[lang] = [round(float(x), 7) for x in np.mean(vecs, axis=0)]
        print(lang, len(vecs), "passages", flush=True)
    OUT.write_text(
        json.dumps(
            {
                "version": 1,
                "model": DEFAULT_MODEL,
                "passages_per_language": args.n,
                "sources": {k: str(v.relative_to(ROOT.parent)) for k, v in SOURCES.items()},
                "means": means,
            }
        )
        + "\n",
        encoding="utf-8",
    )
    print("wrote", OUT)


if __name__ == "__main__":
    main()
