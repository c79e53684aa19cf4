"""The index of a BEIR dataset, built through the normal pipeline and cached between runs.

Every passage goes through the same pipeline as a real document: it is written as a ``.txt``
file named after its ``_id`` (its title, if any, as the first line), and the folder is indexed
with ``index_paths`` into an index of its own. That index is cached under
``.bench/eval-cache/`` keyed by the corpus, the model, the chunking settings (with the
extraction, language and chunking knobs) and the code that shapes chunks, so that the three
search modes (and later runs) reuse one embedding of the corpus; vectors of identical
passages are also reused across cached datasets (the NTREX sets share theirs).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
import sqlite3
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import numpy as np

from ..pipeline import Progress, index_paths
from ..settings import DEFAULT_MODEL, Settings
from ..store import DB_NAME, Store, model_key, text_hash
from .datasets import Dataset, Passage

if TYPE_CHECKING:
    from ..embedding import Embedder

log = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "PreparedIndex",
    "cache_key",
    "clear_cache",
    "passage_file_text",
    "prepare_index",
]

DEFAULT_CACHE_DIR = Path(".bench/eval-cache")
#: Bumped when the way passages are written changes (invalidates cached indexes).
_FORMAT = 1
#: Modules whose code shapes the stored chunks; their source is part of the cache key.
_SHAPING_MODULES = ("chunking.py", "language.py", "loading.py")
_SAFE_RE = re.compile(r"[^A-Za-z0-9._-]+")


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
    here = Path(__file__).resolve().parent.parent  # src/polyfind
    for name in _SHAPING_MODULES:
        path = here / name
        if path.exists():
            h.update(path.read_bytes())
    return h.hexdigest()


def _tuning(settings: Settings) -> str:
    """A digest of the knobs that shape passages (extraction, language, chunking)."""
    shaping = (settings.extraction, settings.language, settings.chunking)
    return hashlib.blake2b(repr(shaping).encode(), digest_size=8).hexdigest()


def _built_precision(index_dir: Path) -> tuple[str, str] | None:
    """(precision, engine) a cached index's passages were embedded in (None: no readable
    index; an index without an engine was embedded with torch)."""
    db = index_dir / DB_NAME
    if not db.exists():
        return None
    try:
        conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = dict(conn.execute("SELECT key, value FROM meta WHERE key IN (?, ?)", _KIND))
        finally:
            conn.close()
    except sqlite3.Error:
        return None
    if "precision" not in meta:
        return None
    return str(meta["precision"]), str(meta.get("engine", "torch"))


_KIND = ("precision", "engine")
#: The precision of cached indexes and entries made before it was recorded (the default then).
_UNKEYED_PRECISION = "bf16"


def cache_key(ds: Dataset, settings: Settings) -> dict[str, object]:
    from ..embedding import choose_embedder

    corpus = hashlib.blake2b(digest_size=12)
    for p in ds.passages:
        corpus.update(json.dumps([p.id, p.title, p.text], ensure_ascii=False).encode())
    precision, engine = choose_embedder(settings)  # as `polyfind index` in a new index
    return {
        "dataset": ds.name,
        "corpus": corpus.hexdigest(),
        "model": model_key(settings.model or DEFAULT_MODEL),
        "precision": precision,
        "engine": engine,
        "chunk_tokens": settings.chunk_tokens,
        "chunk_overlap": settings.chunk_overlap,
        "tuning": _tuning(settings),
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


def _known_vectors(
    cache_dir: Path, identity: str, precision: str, engine: str, skip: Path
) -> dict[str, bytes]:
    """Vectors by text hash from the other cached indexes built with the same model,
    precision and engine."""
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
                if meta.get("precision", _UNKEYED_PRECISION) != precision:
                    continue
                if meta.get("engine", "torch") != engine:
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
    same = ("dataset", "model", "precision", "engine", "chunk_tokens", "chunk_overlap")
    for marker in cache_dir.glob("*/entry.json"):
        entry = marker.parent
        if entry == keep:
            continue
        try:
            info = json.loads(marker.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        other = info.get("key", {})
        other.setdefault("precision", _UNKEYED_PRECISION)
        other.setdefault("engine", "torch")
        if all(other.get(k) == key[k] for k in same):
            shutil.rmtree(entry, ignore_errors=True)


def _use_analyzer(settings: Settings) -> None:
    """Rebuild the cached index's lexical table for the settings' analyser, as a writer
    (searches never rewrite an index)."""
    Store.open(settings.index_dir, analyzer=settings.lexical_analyzer, write=True).close()


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
            and _built_precision(entry / "index") == (key["precision"], key["engine"])
        ):
            _use_analyzer(idx_settings)
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
    precision = str(getattr(emb, "precision", "fp32"))
    engine = str(getattr(emb, "engine", "torch"))
    known = _known_vectors(cache_dir, emb.identity, precision, engine, entry)
    reusing = _ReusingEmbedder(emb, known)
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


def clear_cache(cache_dir: Path | None = None) -> None:
    """Delete every cached dataset index."""
    shutil.rmtree(cache_dir or DEFAULT_CACHE_DIR, ignore_errors=True)
