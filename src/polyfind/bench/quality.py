"""The retrieval-quality sweep over BEIR sets (``make bench-quality``).

Every number is computed by ``polyfind.eval.evaluate`` (the metrics are defined there) on
the same sampled queries (seed 0): each set in each search mode, with the MRR@10 ceiling of
picking the best of the three rankings per query; ntrex-mixed in the per-language view; the
lexical analysers on the monolingual sets; a grid of fusion settings; passage precisions.
The sets are indexed once into a cache directory and reused (``polyfind.eval.cache``).
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..eval import DatasetReport, ModeResult, evaluate, load_questions, run_questions
from ..lexical import LexicalUnavailableError, analyzer_for
from ..settings import Settings

if TYPE_CHECKING:
    from ..embedding import Embedder

MONOLINGUAL = ("jsquad-ja", "korquad-ko", "xquad-en")
MODES = ("dense", "lexical", "hybrid")
FAIRNESS_SET = "ntrex-mixed"
#: The per-language view evaluated on ``FAIRNESS_SET`` (``polyfind search --per-lang 10``).
PER_LANG = 10
ANALYZERS = ("bigram", "morph", "mixed")
PRECISIONS = ("fp32", "bf16", "int8")
#: Fusion settings compared by ``fusion_grid``; the first are the defaults.
FUSION_GRID: tuple[dict[str, float], ...] = (
    {"dense_weight": 0.5, "lexical_exponent": 3.0},
    {"dense_weight": 0.5, "lexical_exponent": 1.0},
    {"dense_weight": 0.4, "lexical_exponent": 2.0},
    {"dense_weight": 0.5, "lexical_exponent": 2.0},
    {"dense_weight": 0.6, "lexical_exponent": 3.0},
    {"dense_weight": 0.5, "lexical_exponent": 3.0, "feedback_weight": 0.0},
)


def find_sets(bench: Path, extra: Iterable[Path] = (), only: Iterable[str] = ()) -> list[Path]:
    """The BEIR folders under ``bench`` plus ``extra`` (korquad-ko, materialised elsewhere),
    those named in ``only`` if given; the monolingual sets first, then by name."""
    sets = [p for p in sorted(bench.iterdir()) if (p / "corpus.jsonl").is_file()]
    sets += [p for p in extra if (p / "corpus.jsonl").is_file()]
    wanted = set(only)
    if wanted:
        sets = [p for p in sets if p.name in wanted]
    order = {name: i for i, name in enumerate(MONOLINGUAL)}
    return sorted(sets, key=lambda p: (order.get(p.name, len(order)), p.name))


#: The settings a quality result depends on, recorded with it.
FUSION_KEYS = ("dense_weight", "lexical_exponent", "feedback_weight")


def settings_json(settings: Settings, max_queries: int | None) -> dict[str, Any]:
    """What a result was measured with: model, passage precision, chunking, fusion."""
    from ..embedding import choose_embedder
    from ..settings import DEFAULT_MODEL

    data: dict[str, Any] = {
        "model": settings.model or DEFAULT_MODEL,
        "precision": choose_embedder(settings)[0],
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "max_queries": max_queries,
    }
    data.update({key: getattr(settings, key) for key in FUSION_KEYS})
    return data


def reciprocal(rank: int | None, depth: int = 10) -> float:
    return 1.0 / rank if rank is not None and rank <= depth else 0.0


def ceiling(results: Mapping[str, ModeResult]) -> float | None:
    """MRR@10 of picking, for each query, whichever ranking places its passage highest: a
    fusion of these rankings can beat it only by ranking first a passage none ranks first."""
    ranks = [r.ranks for r in results.values()]
    if not ranks or not ranks[0] or any(len(r) != len(ranks[0]) for r in ranks):
        return None
    best = [max(reciprocal(r[i]) for r in ranks) for i in range(len(ranks[0]))]
    return sum(best) / len(best)


def not_first(result: ModeResult) -> int:
    """Queries whose passage is not ranked first."""
    return sum(rank != 1 for rank in result.ranks)


def metrics_json(result: ModeResult) -> dict[str, float | int]:
    data: dict[str, float | int] = {k: round(v, 4) for k, v in result.metrics.items()}
    data["queries"] = result.queries
    return data


@dataclass
class Sweep:
    """What every evaluation of a sweep shares: settings, the query sample, the cache, the
    query vectors already computed, the passage embedder (loaded once, or given)."""

    settings: Settings
    max_queries: int | None = 300
    cache_dir: Path | None = None
    embedder: Embedder | None = None
    log: Callable[[str], None] = lambda _msg: None
    memo: dict[str, np.ndarray] = field(default_factory=dict)

    def run(
        self,
        path: Path,
        modes: Sequence[str] = MODES,
        settings: Settings | None = None,
        per_lang: int | None = None,
    ) -> DatasetReport:
        (report,) = evaluate(
            [path],
            settings or self.settings,
            modes=modes,
            max_queries=self.max_queries,
            cache_dir=self.cache_dir,
            per_lang=per_lang,
            embedder=self.embedder,
            query_memo=self.memo,
        )
        return report


def by_mode(sweep: Sweep, sets: Sequence[Path], modes: Sequence[str] = MODES) -> dict[str, Any]:
    """Set -> passages, chunks, metrics per mode, the ceiling of the modes and how many
    queries hybrid search does not rank first."""
    out: dict[str, Any] = {}
    for path in sets:
        started = time.perf_counter()
        report = sweep.run(path, modes)
        top = ceiling(report.results)
        out[report.name] = {
            "passages": report.passages,
            "chunks": report.chunks,
            "modes": {m: metrics_json(r) for m, r in report.results.items()},
            "ceiling": None if top is None else round(top, 4),
            "hybrid_not_first": not_first(report.results["hybrid"])
            if "hybrid" in report.results
            else None,
        }
        mrr = {m: round(r.metrics["mrr@10"], 3) for m, r in report.results.items()}
        sweep.log(f"{report.name}: {mrr} ({time.perf_counter() - started:.0f} s)")
    return out


def per_language(sweep: Sweep, path: Path, modes: Sequence[str] = ("dense", "hybrid")) -> Any:
    """Metrics of the per-language view (``PER_LANG``) of one set, per mode."""
    return {m: metrics_json(sweep.run(path, [m], per_lang=PER_LANG).results[m]) for m in modes}


def analysis_speed(index_dir: Path, analyzer: str) -> float:
    """Chunks analysed per CPU second over the chunk texts of an index."""
    texts = chunk_texts(index_dir)
    terms = analyzer_for(analyzer).terms
    terms(texts[0])  # load dictionaries and models before timing
    started = time.process_time()
    for text in texts:
        terms(text)
    return len(texts) / max(time.process_time() - started, 1e-9)


def chunk_texts(index_dir: Path, limit: int = -1) -> list[str]:
    db = (index_dir / "polyfind.sqlite").resolve()
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        rows = conn.execute("SELECT text FROM chunks ORDER BY id LIMIT ?", (limit,))
        return [str(text) for (text,) in rows]
    finally:
        conn.close()


def embedding_speed(embedder: Embedder, index_dir: Path, n: int = 64) -> float:
    """Chunks embedded per CPU second (all threads), over the first ``n`` chunks."""
    texts = chunk_texts(index_dir, n)
    started = time.process_time()
    embedder.embed_passages(texts, batch_size=16)
    return len(texts) / max(time.process_time() - started, 1e-9)


def analyzers(
    sweep: Sweep, sets: Sequence[Path], names: Sequence[str] = ANALYZERS
) -> dict[str, Any]:
    """Lexical and hybrid MRR@10 and analysis speed of each analyser on each set (only the
    lexical table of the cached index is rebuilt), and the embedder's speed for scale."""
    from ..embedding import load_for_index

    rows: dict[str, Any] = {}
    embedding: dict[str, float] = {}
    embedder = sweep.embedder
    for name in names:
        try:
            for text in ("한국어 문장", "日本語の文"):  # a line is analysed as one language
                analyzer_for(name).terms(text)
        except LexicalUnavailableError as exc:
            sweep.log(f"analyser {name} left out: {exc}")
            continue
        rows[name] = {}
        for path in sets:
            report = sweep.run(
                path, ("lexical", "hybrid"), sweep.settings.with_(lexical_analyzer=name)
            )
            index_dir = Path(report.index_dir)
            rows[name][report.name] = {
                "lexical": round(report.results["lexical"].metrics["mrr@10"], 4),
                "hybrid": round(report.results["hybrid"].metrics["mrr@10"], 4),
                "chunks_per_cpu_s": round(analysis_speed(index_dir, name)),
            }
            if report.name not in embedding:
                if embedder is None:
                    embedder = load_for_index(sweep.settings)  # as `polyfind index`
                embedding[report.name] = round(embedding_speed(embedder, index_dir), 1)
        sweep.log(f"analyser {name}: done")
    for path in sets:  # leave the cached indexes with the settings' analyser
        sweep.run(path, ["lexical"])
    return {
        "default": sweep.settings.lexical_analyzer,
        "rows": rows,
        "embedding_precision": None if embedder is None else embedder.precision,
        "embedding_chunks_per_cpu_s": embedding,
    }


def fusion_grid(
    sweep: Sweep,
    sets: Sequence[Path],
    grid: Sequence[dict[str, float]] = FUSION_GRID,
    dev: tuple[Path, Path] | None = None,
) -> list[dict[str, Any]]:
    """Hybrid MRR@10 of each set under each fusion setting; for ``FAIRNESS_SET`` also its
    nDCG@10 and the per-language view's recall@3; with ``dev`` (a question file and the
    index it asks), the questions' document@5."""
    rows = []
    for changes in grid:
        settings = sweep.settings.with_(**changes)
        row: dict[str, Any] = {"settings": dict(changes), "mrr@10": {}}
        if dev is not None:
            questions, index_dir = dev
            report = run_questions(load_questions(questions), settings.with_(index_dir=index_dir))
            row["dev_document@5"] = report.overall.counts["document@5"].to_json()
        for path in sets:
            metrics = sweep.run(path, ["hybrid"], settings).results["hybrid"].metrics
            row["mrr@10"][path.name] = round(metrics["mrr@10"], 4)
            if path.name == FAIRNESS_SET:
                row["ndcg@10"] = round(metrics["ndcg@10"], 4)
                view = sweep.run(path, ["hybrid"], settings, per_lang=PER_LANG)
                row["per_lang_recall@3"] = round(view.results["hybrid"].metrics["recall@3"], 4)
        rows.append(row)
        sweep.log(f"fusion {changes}: done")
    return rows


def precisions(
    sweep: Sweep, sets: Sequence[Path], names: Sequence[str] = PRECISIONS
) -> dict[str, Any]:
    """Dense retrieval with the passages embedded at each precision on torch (queries in
    fp32, as ``polyfind eval`` embeds them): precision -> set -> metrics. The engines are
    compared in BENCHMARKS.md, "Engines" (scripts/bench_engines.py)."""
    if sweep.embedder is not None:
        raise ValueError("a precision sweep loads the model at each precision itself")
    out: dict[str, Any] = {}
    for name in names:
        settings = sweep.settings.with_(precision=name, engine="torch")
        out[name] = {
            p.name: metrics_json(sweep.run(p, ["dense"], settings).results["dense"]) for p in sets
        }
        sweep.log(f"precision {name}: done")
    return out
