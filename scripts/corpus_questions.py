"""Cross-lingual questions about corpus/ (bench/corpus-questions), with variants of the
search settings: a thin driver over ``polyfind.eval`` (the metric is defined there).

    .venv/bin/python scripts/corpus_questions.py [--index DIR] [--variants] [--verbose]

Indexes corpus/ into DIR first if needed (incremental), then prints per query language and
in all document@5, page@1, page@5 (the 10 PDF questions) and MRR@10 of the report, as
``polyfind eval bench/corpus-questions/questions.jsonl --index DIR`` does for the defaults.
``--variants`` also runs without the language projection and without the per-document
limit, for comparison; ``--verbose`` lists the questions that miss document@5 or page@1.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from polyfind import Settings, index_paths
from polyfind.eval import QUESTION_METRICS, QuestionReport, load_questions, run_questions

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "bench/corpus-questions/questions.jsonl"


def print_report(report: QuestionReport, verbose: bool) -> None:
    for lang, s in [*report.by_lang().items(), ("all", report.overall)]:
        cells = "  ".join(f"{m} {s.counts[m]}" for m in QUESTION_METRICS)
        print(f"  {lang:4} {cells}  mrr@10 {s.mrr_at_10:.3f}")
    if verbose:
        for r in report.results:
            if not r.document_at_5 or r.page_at_1 is False:
                print(
                    f"  miss {r.question.id} {r.question.lang} rank={r.doc_rank} "
                    f"cited={r.doc_citation} page={r.question.page}: {r.question.text}"
                )


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--index", default=str(ROOT / ".bench/corpus-index"))
    ap.add_argument("--variants", action="store_true")
    ap.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    settings = Settings(index_dir=Path(args.index))
    index_paths([str(ROOT / "corpus")], settings)
    questions = load_questions(QUESTIONS)
    variants = {"default": settings}
    if args.variants:
        variants["no projection"] = settings.with_(language_projection=False)
        variants["no per-doc limit"] = settings.with_(max_per_doc=0)
        variants["neither"] = settings.with_(language_projection=False, max_per_doc=0)
    for name, st in variants.items():
        print(f"== {name}")
        print_report(run_questions(questions, st), args.verbose)


if __name__ == "__main__":
    main()
