"""Search: query -> embed -> vector search -> filter -> Hit with citation."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import EmptyQueryError, IndexMissingError, UnknownLanguageError
from .language_bias import LanguageProjection, load_projection
from .pipeline import check_model
from .records import Hit
from .settings import DEFAULT_MODEL, KNOWN_LANGUAGES, Settings
from .store import Store, StoredChunk
from .vectors import VectorIndex

log = logging.getLogger(__name__)


class QueryEncoder(Protocol):
    def embed_query(self, text: str) -> np.ndarray: ...

    def embed_passages(self, texts: Sequence[str], *, batch_size: int) -> np.ndarray: ...


@dataclass(frozen=True)
class ChunkView:
    """A passage with its surroundings, for ``show``."""

    chunk: StoredChunk
    before: str
    after: str
    line_end: int
    previous_id: int | None
    next_id: int | None


def parse_langs(value: str | Sequence[str] | None, known: Sequence[str] = ()) -> list[str] | None:
    """``"ko,ja"`` -> ``["ko", "ja"]``; refuses codes neither supported nor in the index."""
    if value is None:
        return None
    items = value.split(",") if isinstance(value, str) else list(value)
    langs = [x.strip().lower() for x in items if x.strip()]
    if not langs:
        return None
    for code in langs:
        if code not in KNOWN_LANGUAGES and code not in known:
            allowed = ", ".join(sorted(set(KNOWN_LANGUAGES) | set(known)))
            raise UnknownLanguageError(
                f"unknown language code {code!r}; use one or more of {allowed}, comma-separated"
            )
    return langs


class Searcher:
    """An open index with its query encoder; reuse it for many searches."""

    def __init__(self, settings: Settings, encoder: QueryEncoder | None = None) -> None:
        self.settings = settings
        index_dir = settings.index_dir
        self.store = Store.open(index_dir)
        self.model_name = check_model(self.store, settings.model, index_dir)
        dim = self.store.get_meta("dim")
        if dim is None:
            self.store.close()
            raise IndexMissingError(
                f"the index at {index_dir} is empty; run `polyfind index PATH --index {index_dir}`"
            )
        self.dim = int(dim)
        self.vectors = VectorIndex.open(index_dir, self.store, self.dim, self._projection())
        self._encoder = encoder

    def _projection(self) -> LanguageProjection | None:
        if not self.settings.language_projection:
            return None
        return load_projection(self.model_name)

    @property
    def encoder(self) -> QueryEncoder:
        if self._encoder is None:
            from .embedding import load_query_encoder

            encoder: QueryEncoder = load_query_encoder(self.settings.with_(model=self.model_name))
            self._encoder = encoder
            return encoder
        return self._encoder

    def close(self) -> None:
        self.store.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(
        self, query: str, *, k: int = 10, langs: str | Sequence[str] | None = None
    ) -> list[Hit]:
        """The ``k`` best passages for ``query``, optionally only in languages ``langs``."""
        query = query.strip()
        if not query:
            raise EmptyQueryError("the query is empty; give some words to search for")
        if k < 1:
            raise ValueError("k must be at least 1")
        wanted = parse_langs(langs, list(self.store.languages()))
        allowed = self.store.chunk_ids_by_lang(wanted) if wanted else None
        qvec = self.encoder.embed_query(query)
        per_doc = self.settings.max_per_doc
        pool = k if per_doc <= 0 else k * 4 + 20
        scores, ids = self.vectors.search(qvec, pool, allowed)
        return self._hits(scores, ids, k, per_doc)

    def _hits(self, scores: np.ndarray, ids: np.ndarray, k: int, per_doc: int) -> list[Hit]:
        """Hits in score order, except that a document's passages beyond ``per_doc`` wait
        until the other documents' passages have been listed (so one long report cannot
        fill the whole page)."""
        rows = self.store.chunks([int(i) for i in ids])
        first: list[tuple[float, StoredChunk]] = []
        later: list[tuple[float, StoredChunk]] = []
        seen: dict[int, int] = {}
        for score, cid in zip(scores, ids, strict=True):
            ch = rows.get(int(cid))
            if ch is None:
                log.warning("chunk %s is in the vector index but not in the store", cid)
                continue
            seen[ch.doc_id] = seen.get(ch.doc_id, 0) + 1
            (later if 0 < per_doc < seen[ch.doc_id] else first).append((float(score), ch))
        hits: list[Hit] = []
        for score, ch in (first + later)[:k]:
            hits.append(
                Hit(
                    rank=len(hits) + 1,
                    score=score,
                    chunk_id=ch.id,
                    source=ch.source,
                    page=ch.page,
                    line=ch.line,
                    start=ch.start,
                    end=ch.end,
                    lang=ch.lang,
                    text=ch.text,
                    title=ch.title,
                )
            )
        return hits

    def show(self, chunk_id: int, *, context: int = 400) -> ChunkView:
        """A passage with up to ``context`` characters of its page before and after."""
        found = self.store.chunks([chunk_id])
        if chunk_id not in found:
            raise IndexMissingError(
                f"no passage with id {chunk_id} in {self.settings.index_dir}; "
                "take an id from `polyfind search`"
            )
        ch = found[chunk_id]
        page_text = self.store.page_text(ch.doc_id, ch.page_seq)
        lo = max(0, ch.start - context)
        hi = min(len(page_text), ch.end + context)
        # widen to whole lines so the context reads naturally
        lo = page_text.rfind("\n", 0, lo) + 1 if lo > 0 else 0
        nl = page_text.find("\n", hi)
        hi = len(page_text) if nl < 0 else nl
        prev_id, next_id = self.store.neighbours(ch)
        return ChunkView(
            chunk=ch,
            before=page_text[lo : ch.start],
            after=page_text[ch.end : hi],
            line_end=ch.line + page_text.count("\n", ch.start, ch.end),
            previous_id=prev_id,
            next_id=next_id,
        )


def search(
    query: str,
    *,
    index: str | Path | None = None,
    k: int = 10,
    langs: str | Sequence[str] | None = None,
    settings: Settings | None = None,
) -> list[Hit]:
    """One-off search (opens the index, searches, closes it)."""
    settings = settings or Settings()
    if index is not None:
        settings = settings.with_(index_dir=Path(index))
    with Searcher(settings) as s:
        return s.search(query, k=k, langs=langs)


__all__ = ["DEFAULT_MODEL", "ChunkView", "Searcher", "parse_langs", "search"]
