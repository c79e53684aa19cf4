"""Choose the chunk budget: index corpus/ with several (tokens, overlap) settings and score
the cross-lingual development questions (bench/corpus-questions) on each.

    .venv/bin/python scripts/chunk_sweep.py [--sizes 128:24,200:40,300:60,450:80]

Prints one row per setting: chunks, document@5, page@1, page@5 and MRR@10 of the report
(``polyfind.eval``'s question metrics).
Indexes go to .bench/chunk-sweep/<tokens>-<overlap> (reused when present).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from polyfind import Settings, index_paths
from polyfind.embedding import Embedder
from polyfind.eval import load_questions, run_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "bench/corpus-questions/questions.jsonl"


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="128:24,200:40,300:60,450:80")
    args = ap.parse_args()
    questions = load_questions(QUESTIONS)
    embedder = Embedder.load(Settings())
    print("| tokens | overlap | chunks | index s | document@5 | page@1 | page@5 | MRR@10 |")
    print("|---|---|---|---|---|---|---|---|")
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
        s = run_questions(questions, settings).overall
        print(
            f"| {tokens} | {overlap} | {summary.chunks_total} | {seconds:.0f} |"
            f" {s.counts['document@5']} | {s.counts['page@1']} | {s.counts['page@5']} |"
            f" {s.mrr_at_10:.3f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
