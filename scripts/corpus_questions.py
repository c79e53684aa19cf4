"""Cross-lingual questions about corpus/ (bench/corpus-questions): is the report in the top k?

    .venv/bin/python scripts/corpus_questions.py [--index DIR] [--k 5] [--variants]

Indexes corpus/ into DIR first if needed (incremental). Prints, per query language and in
all, how often the expected report is among the top-k hits, how often a hit of it sits on the
expected PDF page, and the MRR of the report. ``--variants`` also runs without the language
projection and without the per-document limit, for comparison.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path

from polyfind import Searcher, Settings, index_paths

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "bench/corpus-questions/questions.jsonl"


def evaluate(settings: Settings, k: int, questions: list[dict], verbose: bool) -> dict:
    by_lang: dict[str, list[float]] = defaultdict(lambda: [0, 0, 0, 0, 0.0])
    with Searcher(settings) as s:
        for q in questions:
            hits = s.search(q["query"], k=max(k, 10))
            names = [Path(h.source).name for h in hits]
            rank = names.index(q["source"]) + 1 if q["source"] in names else 0
            found = 0 < rank <= k
            page_ok = None
            if q["page"] is not None:
                page_ok = any(
                    Path(h.source).name == q["source"] and h.page == q["page"] for h in hits[:k]
                )
            row = by_lang[q["lang"]]
            row[0] += 1
            row[1] += found
            row[2] += q["page"] is not None
            row[3] += bool(page_ok)
            row[4] += 1 / rank if 0 < rank <= 10 else 0
            if verbose and (not found or page_ok is False):
                print(f"  miss {q['id']} {q['lang']} rank={rank} page_ok={page_ok}: {q['query']}")
    total = [sum(r[i] for r in by_lang.values()) for i in range(5)]
    out = {lang: _row(r) for lang, r in sorted(by_lang.items())}
    out["all"] = _row(total)
    return out


def _row(r: list[float]) -> dict:
    return {
        "questions": int(r[0]),
        "report_in_top_k": int(r[1]),
        "pdf_questions": int(r[2]),
        "right_page_in_top_k": int(r[3]),
        "mrr@10": round(r[4] / r[0], 3),
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default=str(ROOT / ".bench/corpus-index"))
    ap.add_argument("--k", type=int, default=5)
    ap.add_argument("--variants", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    settings = Settings(index_dir=Path(args.index))
    index_paths([str(ROOT / "corpus")], settings)
    questions = [json.loads(line) for line in QUESTIONS.open(encoding="utf-8")]
    variants = {"default": settings}
    if args.variants:
        variants["no projection"] = settings.with_(language_projection=False)
        variants["no per-doc limit"] = settings.with_(max_per_doc=0)
        variants["neither"] = settings.with_(language_projection=False, max_per_doc=0)
    for name, st in variants.items():
        print(f"== {name}")
        for lang, row in evaluate(st, args.k, questions, args.verbose).items():
            print(f"  {lang:4} {json.dumps(row)}")


if __name__ == "__main__":
    main()
