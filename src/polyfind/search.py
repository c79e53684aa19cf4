"""Search: query -> dense (vectors) and/or lexical (BM25) candidates -> fusion -> Hit.

Three modes: ``dense`` (the embedder's vectors, after the language projection), ``lexical``
(BM25 over analysed terms, lexical.py) and ``hybrid`` (both, fused; see ``fuse``). The
per-language view (``per_lang=N``) returns the best N passages in each of ko, ja and en, so
that one language cannot crowd the others out of the first page.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from . import searchindex
from .backend import SearchIndex
from .cleaning import fold_for_search
from .countries import foreign_names
from .errors import EmptyQueryError, IndexMissingError, PolyfindError, UnknownLanguageError
from .language_bias import LanguageProjection, load_projection
from .lexical import LexicalResult, combine
from .records import Hit, Passage
from .settings import DEFAULT_MODEL, KNOWN_LANGUAGES, Settings, resolve
from .sino import korean_reading
from .store import Store, StoredChunk, check_model
from .typicality import typicality

if TYPE_CHECKING:
    from .snippets import Snippet

log = logging.getLogger(__name__)

#: Search modes, as accepted by ``Searcher.search(mode=...)`` and ``--mode``.
MODES = ("dense", "lexical", "hybrid")
#: Snippet sentences whose embeddings a ``Searcher`` keeps (``Searcher.snippets``).
SENTENCE_CACHE = 20_000


class UnknownModeError(PolyfindError):
    """A search mode other than dense, lexical or hybrid."""


def check_mode(mode: str) -> str:
    m = mode.strip().lower()
    if m not in MODES:
        raise UnknownModeError(f"unknown search mode {mode!r}; use one of {', '.join(MODES)}")
    return m


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

    def to_json(self) -> dict[str, object]:
        """The JSON of ``polyfind show --json`` (and of the web API's ``/show``)."""
        ch = self.chunk
        return {
            "chunk_id": ch.id,
            **ch.passage_fields(),
            "missing": not os.path.exists(ch.path),
            "date": ch.date,
            "line_end": self.line_end,
            "before": self.before,
            "after": self.after,
            "previous_id": self.previous_id,
            "next_id": self.next_id,
        }


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


def warm_query_analysers(settings: Settings) -> None:
    """Make what a Korean or Japanese query needs besides the model, once per process: the
    Korean analyser (Kiwi, seconds of CPU at first use), the kanji readings (``sino``),
    Japanese morphology where the analyser uses it, and the country names (``countries``).
    (Not on a thread of its own beside other work: Kiwi holds the interpreter's lock while
    it loads.)"""
    from . import lexical
    from .sino import korean_reading

    try:
        lexical.analyzer_for(settings.lexical_analyzer).query_terms("한국어 日本語 English")
        if settings.sino_korean:
            korean_reading("日本語")
        if settings.country_names:
            foreign_names("Canada")
    except Exception as exc:  # a missing analyser: the search that needs it says so
        log.info("query analysers not loaded ahead: %s", exc)


class Searcher:
    """An open index with its query encoder; reuse it for many searches."""

    def __init__(self, settings: Settings, encoder: QueryEncoder | None = None) -> None:
        self.settings = settings
        index_dir = settings.index_dir
        self.store = Store.open(index_dir, analyzer=settings.lexical_analyzer)
        self.model_name = check_model(self.store, settings.model, index_dir)
        dim = self.store.get_meta("dim")
        if dim is None:
            self.store.close()
            raise IndexMissingError(
                f"the index at {index_dir} is empty; run `polyfind index PATH --index {index_dir}`"
            )
        self.dim = int(dim)
        self._vectors: SearchIndex | None = None
        self._encoder = encoder
        self._query_vectors: dict[str, np.ndarray] = {}
        self._sentences: dict[str, np.ndarray] = {}
        self._typical: dict[int, float] = {}
        self._place_of: dict[int, tuple[int, int | None]] = {}
        self._cache_generation = -1

    @property
    def vectors(self) -> SearchIndex:
        """The search index (vectors and lexical), opened on first use: ``show`` never
        needs it."""
        if self._vectors is None:
            self._vectors = searchindex.open_index(
                self.settings.index_dir, self.store, self.dim, self._projection()
            )
        return self._vectors

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

    @property
    def loaded_encoder(self) -> QueryEncoder | None:
        """The query encoder if it is loaded (another Searcher of the same model may use it)."""
        return self._encoder

    def use_encoder(self, encoder: QueryEncoder) -> None:
        """Search with ``encoder`` (loaded for the same model and settings) instead of
        loading one."""
        if self._encoder is None:
            self._encoder = encoder

    def warm_up(self) -> None:
        """Load what a first search would, before it comes: the query encoder, the vectors
        and the query analysers (``warm_query_analysers``)."""
        self.search("warm up", k=1)
        warm_query_analysers(self.settings)

    def close(self) -> None:
        if self._vectors is not None:
            self._vectors.close()
        self.store.close()

    def __enter__(self) -> Searcher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        langs: str | Sequence[str] | None = None,
        mode: str | None = None,
        per_lang: int | None = None,
    ) -> list[Hit]:
        """The ``k`` best passages for ``query``, optionally only in languages ``langs``.

        ``mode`` is "dense", "lexical" or "hybrid" (default: ``settings.search_mode``).
        ``per_lang=N`` returns instead the best N passages of each language (ko, ja, en, or
        those of ``langs``): first every language's best, then every language's second, ...
        (``k`` is then ignored).
        """
        query = query.strip()
        if not query:
            raise EmptyQueryError("the query is empty; give some words to search for")
        if k < 1:
            raise ValueError("k must be at least 1")
        mode = check_mode(mode or self.settings.search_mode)
        wanted = parse_langs(langs, list(self.store.languages()))
        per_doc = self.settings.max_per_doc
        if per_lang is not None:
            if per_lang < 1:
                raise ValueError("per_lang must be at least 1")
            return self._per_language(query, per_lang, wanted, mode)
        pool = k if per_doc <= 0 else k * 4 + 20
        ranked = self.rank(query, mode=mode, n=pool, langs=wanted)
        return self._hits(ranked, k, per_doc)

    def _per_language(
        self, query: str, n: int, wanted: Sequence[str] | None, mode: str
    ) -> list[Hit]:
        present = self.store.languages()
        langs = list(wanted) if wanted else [c for c in KNOWN_LANGUAGES if c in present]
        per_doc = self.settings.max_per_doc
        pool = n if per_doc <= 0 else n * 4 + 20
        # Hybrid feedback comes from the whole (or --lang) pool: the best match, usually in
        # the query's own language, then lifts its translations in the other languages.
        vector = self.feedback_vector(query, wanted) if mode == "hybrid" else None
        columns = [
            self._hits(self.rank(query, mode=mode, n=pool, langs=[c], vector=vector), n, per_doc)
            for c in langs
        ]
        merged: list[Hit] = []
        for depth in range(n):
            row = [col[depth] for col in columns if depth < len(col)]
            merged.extend(sorted(row, key=lambda h: -h.score))
        return [replace(h, rank=i + 1) for i, h in enumerate(merged)]

    # -- candidates and fusion ---------------------------------------------------------------
    def query_vector(self, query: str) -> np.ndarray:
        """The query's embedding (kept for the next few calls with the same query)."""
        vec = self._query_vectors.get(query)
        if vec is None:
            vec = self.encoder.embed_query(fold_for_search(query))
            if len(self._query_vectors) >= 32:
                self._query_vectors.clear()
            self._query_vectors[query] = vec
        return vec

    def dense(
        self,
        query: str,
        n: int,
        langs: Sequence[str] | None = None,
        *,
        vector: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """The ``n`` nearest chunks by cosine similarity: (chunk id, similarity), best first.

        ``vector`` replaces the query's own embedding."""
        qvec = self.query_vector(query) if vector is None else vector
        scores, ids = self.vectors.search(qvec, n, langs)
        return [(int(i), float(s)) for s, i in zip(scores, ids, strict=True)]

    def lexical(self, query: str, n: int, langs: Sequence[str] | None = None) -> LexicalResult:
        """The ``n`` best chunks by BM25."""
        return self.vectors.lexical_search(query, n, langs)

    def bridged(
        self, query: str, own: LexicalResult, n: int, langs: Sequence[str] | None = None
    ) -> LexicalResult:
        """``own`` (the query's BM25 result) and, for a query with kanji words, the Korean
        passages found by the words' Korean readings (``sino.korean_reading``), combined
        (``lexical.combine``); ``own`` alone where there is nothing to bridge."""
        if not self.settings.sino_korean:
            return own
        reading = korean_reading(query)  # first: most queries have no kanji word
        if not reading or "ko" not in (langs or self.store.languages()):
            return own
        return combine([own, self.lexical(reading, n, ["ko"])], n)

    def named(
        self, query: str, own: LexicalResult, n: int, langs: Sequence[str] | None = None
    ) -> LexicalResult:
        """``own`` and, for a question naming countries in English, the passages of the
        other languages that name them (``countries.foreign_names``: "Canada" as 캐나다 and
        カナダ), combined (``lexical.combine``): for the order of passages within a document
        only, where naming what the question names tells the answer's passage from its
        neighbours (across documents, every report naming Canada would rise alike)."""
        if not self.settings.country_names:
            return own
        present = langs or self.store.languages()
        found = [
            self.lexical(name, n, [lang])
            for lang, names in foreign_names(query).items()
            if lang in present
            for name in names
        ]
        return combine([own, *found], n) if found else own

    def feedback_vector(self, query: str, langs: Sequence[str] | None = None) -> np.ndarray:
        """The dense query vector of a hybrid search (see ``_feedback``)."""
        depth = self.settings.fusion_depth
        lex = self.lexical(query, depth, langs)
        both = self.bridged(query, lex, depth, langs)
        fused = fuse(self.dense(query, depth, langs), both, self.settings)
        vector = self._feedback(query, fused, lex)
        return self.query_vector(query) if vector is None else vector

    def _feedback(
        self, query: str, fused: Sequence[tuple[int, float]], lex: LexicalResult
    ) -> np.ndarray | None:
        """Pseudo-relevance feedback: when the first fused hit also holds the query's terms
        well (``feedback_min_match``), the query vector plus ``feedback_weight`` times that
        hit's vector, else None. Its translations and close paraphrases then rank high in
        every language, not only passages sharing words with the query."""
        s = self.settings
        if s.feedback_weight <= 0 or not fused or not lex.hits:
            return None
        top = fused[0][0]
        if dict(lex.matches(1.0)).get(top, 0.0) < s.feedback_min_match:
            return None
        if not self.store.chunks([top]):
            return None  # replaced by a concurrent `index` since the lexical search
        out: np.ndarray = self.query_vector(query) + s.feedback_weight * self.store.vector(
            top, self.dim
        )
        return out / max(float(np.linalg.norm(out)), 1e-12)

    def rank(
        self,
        query: str,
        *,
        mode: str,
        n: int,
        langs: Sequence[str] | None = None,
        vector: np.ndarray | None = None,
    ) -> list[tuple[int, float]]:
        """Up to ``n`` chunks for ``query`` in ``mode``: (chunk id, score), best first. The
        score is the cosine similarity (dense), BM25 (lexical) or the fused score (hybrid,
        ``fuse``: at most 1).

        For hybrid, ``vector`` replaces the dense query vector (default: the query's, with
        feedback from the first fused hit, ``_feedback``). Documents rank by their best
        passage; within a document, passages go in the order of their fused score with the
        typical ones lowered (``_less_typical``) and lexical matches weighted more
        (``within_dense_weight``): ``_specific_first``."""
        if mode == "lexical":
            return [(h.chunk_id, h.score) for h in self.lexical(query, n, langs).hits]
        depth = max(n, self.settings.fusion_depth)
        if mode == "dense":
            dense = self.dense(query, depth, langs)
            return self._specific_first(dense, self._less_typical(dense))[:n]
        lex = self.lexical(query, depth, langs)
        both = self.bridged(query, lex, depth, langs)
        dense = self.dense(query, depth, langs, vector=vector)
        fused = fuse(dense, both, self.settings)
        if vector is None:
            vector = self._feedback(query, fused, lex)
            if vector is not None:
                dense = self.dense(query, depth, langs, vector=vector)
                fused = fuse(dense, both, self.settings)
        within = self.settings.with_(dense_weight=self.settings.within_dense_weight)
        adjusted = fuse(self._less_typical(dense), self.named(query, both, depth, langs), within)
        return self._specific_first(fused, adjusted)[:n]

    # -- the answer's passage first within its document --------------------------------------
    def _less_typical(self, dense: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
        """Dense similarities minus ``specificity`` times how much more typical of its
        document each passage is than the document's average passage (``_typicality``),
        best first.

        Only the typical lose: a passage less typical than average gains nothing, as being
        unusual for its document is no sign of holding the answer (prose beside a report's
        many table rows is unusual). Measured on ../shared/reports-dev: page@1 one or two
        higher than with the signed difference, at every ``specificity`` from 0.75 to 1.5."""
        beta = self.settings.specificity
        if beta <= 0 or not dense:
            return list(dense)
        typical = self._typicality([cid for cid, _ in dense])
        adjusted = [(cid, sim - beta * max(typical.get(cid, 0.0), 0.0)) for cid, sim in dense]
        return sorted(adjusted, key=lambda kv: -kv[1])

    def _places(self, chunk_ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
        """The document and page of each passage still in the index; kept, like
        ``_typical``, until the index changes (its generation)."""
        generation = self.store.generation
        if generation != self._cache_generation:
            self._typical.clear()
            self._place_of.clear()
            self._cache_generation = generation
        missing = [cid for cid in chunk_ids if cid not in self._place_of]
        if missing:
            self._place_of.update(self.store.chunk_places(missing))
        return {cid: self._place_of[cid] for cid in chunk_ids if cid in self._place_of}

    def _documents(self, chunk_ids: Sequence[int]) -> dict[int, int]:
        """The document of each passage still in the index (``_places``)."""
        return {cid: place[0] for cid, place in self._places(chunk_ids).items()}

    def _typicality(self, chunk_ids: Sequence[int]) -> dict[int, float]:
        """For each passage, how typical of its document it is (``typicality``): stored
        with it by the indexer, or computed here from the document's vectors for an index
        made before schema 4."""
        doc_of = self._documents(chunk_ids)  # first: drops both caches if the index changed
        todo = [cid for cid in chunk_ids if cid in doc_of and cid not in self._typical]
        if todo:
            stored = self.store.chunk_typicality(todo)  # what the indexer stored
            self._typical.update(stored)
            missing = {doc_of[cid] for cid in todo if cid not in stored}
            projection = self._projection() if missing else None
            for doc_id in missing:  # passages of an index made before schema 4
                ids, vecs = self.store.document_vectors(doc_id, self.dim)
                values = typicality(vecs, projection)
                for cid, c in zip(ids.tolist(), values.tolist(), strict=True):
                    self._typical[int(cid)] = float(c)
        return {cid: self._typical.get(cid, 0.0) for cid in chunk_ids}

    def _specific_first(
        self, order: Sequence[tuple[int, float]], adjusted: Sequence[tuple[int, float]]
    ) -> list[tuple[int, float]]:
        """``order`` with each document keeping the places its passages have there, filled
        with its passages in the order of ``adjusted``: documents rank by their best match,
        and within a document the passage that matches the query rather than the document
        comes first (helped by the other passages of its page: ``_page_evidence``). Each
        passage keeps its own score from ``order``."""
        if self.settings.specificity <= 0 or len(order) < 2:
            return list(order)
        adjusted = self._page_evidence(adjusted)
        doc_of = self._documents([cid for cid, _ in order])
        key = {cid: -i for i, (cid, _) in enumerate(adjusted)}
        lowest = -len(adjusted)
        queues: dict[int, list[int]] = {}
        for cid, _ in order:
            queues.setdefault(doc_of.get(cid, -cid), []).append(cid)
        for queue in queues.values():
            queue.sort(key=lambda c: -key.get(c, lowest))
        score = dict(order)
        taken: dict[int, int] = {}
        out: list[tuple[int, float]] = []
        for cid, _ in order:
            doc = doc_of.get(cid, -cid)
            pick = queues[doc][taken.get(doc, 0)]
            taken[doc] = taken.get(doc, 0) + 1
            out.append((pick, score[pick]))
        return out

    def _page_evidence(self, scored: Sequence[tuple[int, float]]) -> list[tuple[int, float]]:
        """``scored`` with each passage's score raised by ``page_evidence`` times the best
        score (above 0) of another passage of ``scored`` on the same page, best first: a
        page with several passages about the question gains on a page with one. Passages
        without a page (text files) stay as they are."""
        weight = self.settings.page_evidence
        if weight <= 0 or len(scored) < 2:
            return list(scored)
        places = self._places([cid for cid, _ in scored])
        pages: dict[tuple[int, int], list[tuple[int, float]]] = {}  # each page's two best
        for cid, score in sorted(scored, key=lambda kv: -kv[1]):
            doc, page = places.get(cid, (-cid, None))
            if page is not None and len(top := pages.setdefault((doc, page), [])) < 2:
                top.append((cid, max(score, 0.0)))
        out = []
        for cid, score in scored:
            doc, page = places.get(cid, (-cid, None))
            top = pages.get((doc, page), []) if page is not None else []
            others = [s for c, s in top if c != cid]
            out.append((cid, score + weight * others[0] if others else score))
        return sorted(out, key=lambda kv: -kv[1])

    def _hits(self, ranked: Sequence[tuple[int, float]], k: int, per_doc: int) -> list[Hit]:
        """Hits in score order, except that a document's passages beyond ``per_doc`` wait
        until the other documents' passages have been listed (so one long report cannot
        fill the whole page)."""
        rows = self.store.chunks([cid for cid, _ in ranked])
        first: list[tuple[float, StoredChunk]] = []
        later: list[tuple[float, StoredChunk]] = []
        seen: dict[int, int] = {}
        for cid, score in ranked:
            ch = rows.get(int(cid))
            if ch is None:
                log.warning("chunk %s is in the search index but not in the store", cid)
                continue
            seen[ch.doc_id] = seen.get(ch.doc_id, 0) + 1
            (later if 0 < per_doc < seen[ch.doc_id] else first).append((float(score), ch))
        hits: list[Hit] = []
        exists: dict[str, bool] = {}  # one check per document cited
        for score, ch in (first + later)[:k]:
            if ch.path not in exists:
                exists[ch.path] = os.path.exists(ch.path)
            hits.append(
                Hit(
                    **ch.passage_fields(),
                    rank=len(hits) + 1,
                    score=score,
                    chunk_id=ch.id,
                    missing=not exists[ch.path],
                )
            )
        return hits

    def snippets(
        self, query: str, hits: Sequence[Passage], *, width: int = 240, sentences: bool = True
    ) -> list[Snippet]:
        """For each hit, a window of its passage with the query's words marked or, where
        none occurs (a passage in another language), the sentence closest to the query
        (``snippets.make_snippet``). The CLI's table and the HTTP API both use this.
        ``sentences=False`` leaves out the closest sentence (which embeds the passage's
        sentences): such a passage's snippet is its start (kind "start")."""
        from .snippets import closest_sentence_picker, make_snippet

        if not hits:
            return []
        picker = None
        if sentences:
            picker = closest_sentence_picker(self.query_vector(query), self._sentence_vectors)
        return [make_snippet(query, h.text, width=width, closest=picker) for h in hits]

    def _passage(self, chunk_id: int) -> StoredChunk:
        """Passage ``chunk_id``, or the error naming the id (``show``, ``similar``)."""
        found = self.store.chunks([chunk_id])
        if chunk_id not in found:
            raise IndexMissingError(
                f"no passage with id {chunk_id} in {self.settings.index_dir}; "
                "take an id from `polyfind search`"
            )
        return found[chunk_id]

    def passages(self, chunk_ids: Sequence[int]) -> list[StoredChunk]:
        """The passages ``chunk_ids`` (those in the index), in that order."""
        found = self.store.chunks(list(chunk_ids))
        return [found[i] for i in chunk_ids if i in found]

    def _sentence_vectors(self, sentences: list[str]) -> np.ndarray:
        """Embeddings of snippet sentences, kept (up to ``SENTENCE_CACHE``) for the next
        searches: search-as-you-type asks for the snippets of the same passages again."""
        cache = self._sentences
        todo = list(dict.fromkeys(x for x in sentences if x not in cache))
        if todo:
            if len(cache) + len(todo) > SENTENCE_CACHE:
                cache.clear()
            vecs = self.encoder.embed_passages(todo, batch_size=32)
            cache.update(zip(todo, vecs, strict=True))
        return np.stack([cache[x] for x in sentences])

    def similar(self, chunk_id: int, n: int = 5, langs: Sequence[str] | None = None) -> list[Hit]:
        """The ``n`` passages nearest to passage ``chunk_id`` by its stored vector (no model
        is run), only in ``langs`` if given, leaving out the passages of its own document:
        "in other languages" and "more like this" on the web page."""
        own = self._passage(chunk_id).doc_id
        wanted = parse_langs(langs, list(self.store.languages()))
        vector = self.store.vector(chunk_id, self.dim)
        pool = n * 4 + 20
        ranked = self.dense("", pool, wanted, vector=vector)
        docs = self._documents([cid for cid, _ in ranked])
        others = [(cid, score) for cid, score in ranked if docs.get(cid) != own]
        return self._hits(others, n, self.settings.max_per_doc)

    def show(self, chunk_id: int, *, context: int = 400) -> ChunkView:
        """A passage with up to ``context`` characters of its page before and after."""
        ch = self._passage(chunk_id)
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
    mode: str | None = None,
    per_lang: int | None = None,
    settings: Settings | None = None,
) -> list[Hit]:
    """One-off search (opens the index, searches, closes it)."""
    settings = settings or resolve()  # defaults < POLYFIND_* variables
    if index is not None:
        settings = settings.with_(index_dir=Path(index))
    with Searcher(settings) as s:
        return s.search(query, k=k, langs=langs, mode=mode, per_lang=per_lang)


def fuse(
    dense: Sequence[tuple[int, float]], lexical: LexicalResult, settings: Settings
) -> list[tuple[int, float]]:
    """Convex combination of normalised dense and lexical scores, best first.

    dense: ``dense_weight`` times the cosine similarity min-max scaled over the first
    ``fusion_depth`` dense candidates (best 1, the last of those 0; deeper ones go below 0);
    lexical: ``1 - dense_weight`` times ``min(1, bm25 / idf_total) ** lexical_exponent``
    (``LexicalResult.matches``). A lexical candidate missing from the dense list gets the
    dense part of the last dense candidate, a dense one missing from the lexical list 0.
    """
    w = settings.dense_weight
    scores: dict[int, float] = {}
    floor = 0.0
    if dense:
        hi = dense[0][1]
        lo = dense[min(len(dense), settings.fusion_depth) - 1][1]
        span = hi - lo
        for cid, sim in dense:
            scores[cid] = w * ((sim - lo) / span if span > 1e-9 else 1.0)
        floor = min(0.0, scores[dense[-1][0]])
    for cid, match in lexical.matches(settings.lexical_exponent):
        scores[cid] = scores.get(cid, floor) + (1.0 - w) * match
    return sorted(scores.items(), key=lambda kv: -kv[1])


__all__ = [
    "DEFAULT_MODEL",
    "MODES",
    "ChunkView",
    "Searcher",
    "check_mode",
    "fuse",
    "parse_langs",
    "search",
]
