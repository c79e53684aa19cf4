"""Choose the chunk budget: index corpus/ with several (tokens, overlap) settings and score
the cross-lingual development questions (bench/corpus-questions) on each.

    .venv/bin/python scripts/chunk_sweep.py [--sizes 128:24,200:40,300:60,450:80]

Prints one row per setting: chunks, report in top 5, right PDF page in top 5, MRR@10.
Indexes go to .bench/chunk-sweep/<tokens>-<overlap> (reused when present).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from polyfind import Settings, index_paths
from polyfind.embedding import Embedder

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "scripts"))
from corpus_questions import QUESTIONS, evaluate  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="128:24,200:40,300:60,450:80")
    args = ap.parse_args()
    questions = [json.loads(line) for line in QUESTIONS.open(encoding="utf-8")]
    embedder = Embedder.load(Settings())
    print("| tokens | overlap | chunks | index s | report in top 5 | right page | MRR@10 |")
    print("|---|---|---|---|---|---|---|")
    for item in args.sizes.split(","):
        tokens, overlap = (int(x) for x in item.split(":"))
        settings = Settings(
            index_dir=ROOT / f".bench/chunk-sweep/{tokens}-{overlap}",
            chunk_tokens=tokens,
            chunk_overlap=overlap,
        )
        started = time.perf_counter()
        summary = index_paths([str(ROOT / "corpus")], settings, embedder=embedder)
        seconds = time.perf_counter() - started
        row = evaluate(settings, 5, questions, verbose=False)["all"]
        print(
            f"| {tokens} | {overlap} | {summary.chunks_total} | {seconds:.0f} |"
            f" {row['report_in_top_k']}/{row['questions']} |"
            f" {row['right_page_in_top_k']}/{row['pdf_questions']} | {row['mrr@10']} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
