"""The Milvus store against the embedded default, on the same chunks and vectors.

Two comparisons, each between an index and a copy of it moved to a Milvus server as
``polyfind index --store milvus://...`` moves one (``eval.runner.moved_to``: nothing is
embedded again, so any difference comes from the store):

- the ../shared/bench sets: ``polyfind eval`` metrics (MRR@10, nDCG@10, Recall@k) of each set,
  through the default store and through Milvus (``evaluate(store=...)``), dense and hybrid;
- the corpus questions: ``corpus/`` indexed as `polyfind index` does, each question searched
  through both with the defaults of `polyfind search` (10 hits): how many top-10 lists are
  identical (same chunks in the same order), how many hold the same chunks (order differs
  only among equal scores), the mean overlap, and the page-level metrics of each.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..eval import evaluate
from ..eval.datasets import load_questions
from ..eval.metrics import score_question, summarize
from ..eval.runner import moved_to
from ..search import Searcher
from ..settings import Settings

#: Metrics of each set compared.
METRICS = ("mrr@10", "ndcg@10", "recall@10", "recall@100")


def compare_sets(
    sets: Sequence[Path],
    settings: Settings,
    uri: str,
    modes: Sequence[str],
    cache_dir: Path,
    max_queries: int,
) -> list[dict[str, Any]]:
    """Each set's metrics through the default store and through ``uri``."""
    rows = []
    memo: dict[str, Any] = {}
    for path in sets:
        row: dict[str, Any] = {"set": path.name}
        for label, store in (("local", None), ("milvus", uri)):
            t = time.perf_counter()
            (report,) = evaluate(
                [path], settings, modes=modes, max_queries=max_queries,
                cache_dir=cache_dir, query_memo=memo, store=store,
            )  # fmt: skip
            row[f"{label}_seconds"] = round(time.perf_counter() - t, 1)
            row["queries"] = next(iter(report.results.values())).queries
            for mode, result in report.results.items():
                row[f"{label}_{mode}"] = {m: round(result.metrics[m], 4) for m in METRICS}
        rows.append(row)
    return rows


def _key(hit: Any) -> tuple[str, int | None, int]:
    return (hit.source, hit.page, hit.chunk_id)


def compare_questions(
    questions_file: Path, index_settings: Settings, uri: str, modes: Sequence[str]
) -> dict[str, Any]:
    """The corpus questions through an index and through its copy moved to ``uri``."""
    questions = load_questions(questions_file)
    out: dict[str, Any] = {"questions": len(questions), "modes": {}}
    with (
        Searcher(index_settings) as local,
        moved_to(index_settings, uri) as moved,
        Searcher(moved) as milvus,
    ):
        for mode in modes:
            same_order = same_set = 0
            overlap = 0.0
            scored: dict[str, list[Any]] = {"local": [], "milvus": []}
            for q in questions:
                a = local.search(q.text, k=10, mode=mode)
                b = milvus.search(q.text, k=10, mode=mode)
                ka, kb = [_key(h) for h in a], [_key(h) for h in b]
                same_order += ka == kb
                same_set += set(ka) == set(kb)
                overlap += len(set(ka) & set(kb)) / max(1, len(ka))
                scored["local"].append(score_question(q, a))
                scored["milvus"].append(score_question(q, b))
            summary = {}
            for label, results in scored.items():
                summary[label] = summarize(results).to_json()
            out["modes"][mode] = {
                "identical_top10": same_order,
                "same_chunks_top10": same_set,
                "mean_overlap_top10": round(overlap / max(1, len(questions)), 4),
                **summary,
            }
    return out
