"""Retrieval metrics: passage rankings (BEIR sets) and page-level questions.

Page-level questions (``Question``) are scored on the hits ``polyfind search`` returns, best
first, with these definitions (``TOP`` = 5):

- **document@5**: a hit among the top 5 comes from the expected document (its file name
  contains one of the question's ``expect`` substrings).
- **page@1**: the expected document is among the top 5 and its first (best-ranked) hit is
  on the expected page: the page a researcher opens first for that document holds the
  answer.
- **page@5**: a hit among the top 5 is from the expected document and on the expected page.

page@1 and page@5 count only questions with a ``page``; so for those questions a page@1
hit is also a page@5 hit and a document@5 hit. **mrr@10** is the reciprocal rank of the
expected document's first hit within the top 10 (0 beyond).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ..records import Passage
from .datasets import Question

__all__ = [
    "QUESTION_METRICS",
    "TOP",
    "Count",
    "QuestionResult",
    "QuestionSummary",
    "dedupe",
    "first_relevant_rank",
    "ranking_metrics",
    "score_question",
    "summarize",
]

#: Hits a question's document and page must be among.
TOP = 5
#: The page-level metrics, in table order.
QUESTION_METRICS = ("document@5", "page@1", "page@5")


def ranking_metrics(
    ranking: Sequence[str], relevant: dict[str, int], ks: Sequence[int] = (1, 3, 5, 10, 100)
) -> dict[str, float]:
    """nDCG@10 (linear gain, as trec_eval), MRR@10 and Recall@k of one passage ranking."""
    rel = {pid: s for pid, s in relevant.items() if s > 0}
    out: dict[str, float] = {}
    if not rel:
        return out
    dcg = sum(rel.get(pid, 0) / math.log2(i + 2) for i, pid in enumerate(ranking[:10]))
    ideal = sorted(rel.values(), reverse=True)[:10]
    idcg = sum(g / math.log2(i + 2) for i, g in enumerate(ideal))
    out["ndcg@10"] = dcg / idcg
    rank = first_relevant_rank(ranking, rel)
    out["mrr@10"] = 1.0 / rank if rank is not None and rank <= 10 else 0.0
    for k in ks:
        out[f"recall@{k}"] = len(set(ranking[:k]) & rel.keys()) / len(rel)
    out["all_relevant@3"] = float(rel.keys() <= set(ranking[:3]))
    return out


def first_relevant_rank(ranking: Sequence[str], relevant: dict[str, int]) -> int | None:
    """1-based rank of the first passage of ``ranking`` judged relevant (grade > 0)."""
    return next((i for i, pid in enumerate(ranking, 1) if relevant.get(pid, 0) > 0), None)


def dedupe(items: Sequence[str]) -> list[str]:
    """First occurrence of each passage id (a passage ranks by its best chunk)."""
    seen: set[str] = set()
    out = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


# ------------------------------------------------------------------------ page-level questions


@dataclass(frozen=True)
class QuestionResult:
    """One question scored on its hits."""

    question: Question
    doc_rank: int | None
    """1-based rank of the expected document's first hit (None: not among the hits)."""
    doc_page: int | None
    """Page of that first hit (None: no hit, or a document without pages)."""
    doc_citation: str | None
    """Source and page of that first hit, as ``source:pN`` (or the source alone)."""
    page_rank: int | None
    """1-based rank of the first hit on the expected document and page (None: none)."""

    @property
    def document_at_5(self) -> bool:
        return self.doc_rank is not None and self.doc_rank <= TOP

    @property
    def page_at_1(self) -> bool | None:
        """None when the question has no page."""
        if self.question.page is None:
            return None
        return self.document_at_5 and self.doc_page == self.question.page

    @property
    def page_at_5(self) -> bool | None:
        """None when the question has no page."""
        if self.question.page is None:
            return None
        return self.page_rank is not None and self.page_rank <= TOP

    @property
    def reciprocal_rank(self) -> float:
        return 1.0 / self.doc_rank if self.doc_rank is not None and self.doc_rank <= 10 else 0.0

    def flags(self) -> dict[str, bool | None]:
        return {
            "document@5": self.document_at_5,
            "page@1": self.page_at_1,
            "page@5": self.page_at_5,
        }

    def to_json(self) -> dict[str, object]:
        q = self.question
        return {
            "id": q.id,
            "lang": q.lang,
            "q": q.text,
            "expect": list(q.expect),
            "page": q.page,
            "doc_rank": self.doc_rank,
            "doc_page": self.doc_page,
            "doc_citation": self.doc_citation,
            "page_rank": self.page_rank,
            **self.flags(),
        }


def score_question(question: Question, hits: Sequence[Passage]) -> QuestionResult:
    """Score ``question`` on ``hits`` (best first; pass at least the top 10 for mrr@10)."""
    doc_rank = doc_page = page_rank = None
    citation = None
    for rank, hit in enumerate(hits, 1):
        if not question.is_document(hit.source):
            continue
        if doc_rank is None:
            doc_rank, doc_page = rank, hit.page
            citation = hit.source if hit.page is None else f"{hit.source}:p{hit.page}"
        if question.page is not None and hit.page == question.page:
            page_rank = rank
            break
        if question.page is None:
            break
    return QuestionResult(question, doc_rank, doc_page, citation, page_rank)


@dataclass(frozen=True)
class Count:
    """``hits`` of ``total`` questions (total 0: the metric does not apply)."""

    hits: int
    total: int

    @property
    def fraction(self) -> float | None:
        return self.hits / self.total if self.total else None

    def __str__(self) -> str:
        return f"{self.hits}/{self.total}"

    def to_json(self) -> dict[str, object]:
        frac = self.fraction
        return {
            "hits": self.hits,
            "total": self.total,
            "fraction": None if frac is None else round(frac, 4),
        }


@dataclass(frozen=True)
class QuestionSummary:
    """document@5, page@1, page@5 and mrr@10 over a group of questions."""

    questions: int
    with_page: int
    counts: dict[str, Count]
    """Metric name (``QUESTION_METRICS``) -> count."""
    mrr_at_10: float

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {"questions": self.questions, "with_page": self.with_page}
        data.update({name: c.to_json() for name, c in self.counts.items()})
        data["mrr@10"] = round(self.mrr_at_10, 4)
        return data


def summarize(results: Iterable[QuestionResult]) -> QuestionSummary:
    """Counts of each page-level metric over ``results``."""
    rows = list(results)
    paged = [r for r in rows if r.question.page is not None]
    counts = {
        "document@5": Count(sum(r.document_at_5 for r in rows), len(rows)),
        "page@1": Count(sum(bool(r.page_at_1) for r in paged), len(paged)),
        "page@5": Count(sum(bool(r.page_at_5) for r in paged), len(paged)),
    }
    mrr = sum(r.reciprocal_rank for r in rows) / len(rows) if rows else 0.0
    return QuestionSummary(len(rows), len(paged), counts, mrr)
