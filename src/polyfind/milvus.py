"""Milvus as the search index (``backend.SearchIndex``): ``--store milvus://HOST:PORT[/DB]``.

One collection per index (its name recorded in the store's meta ``milvus_collection``) holds
a row per chunk: the chunk id, the generation that wrote it, its language, its text hash,
its (language-projected) vector, and its text as analysed by polyfind's own lexical analyser
(``lexical.py``: Kiwi morphemes, kanji bigrams, stemmed English), space-separated, in a
VARCHAR field analysed by Milvus with the ``whitespace`` tokenizer and fed to Milvus's BM25
function. Dense search uses the vector index (FLAT: exact; ``?index=ivf`` in the URI for
IVF_FLAT), lexical search the BM25 sparse field; ``--lang`` is a filter expression.

The catalogue (documents, pages, citations, hashes, the generation counter) stays in the
index folder's SQLite store, which commits each group of files in one transaction. Milvus
has no transactions, so a row is *visible* to a search only when both hold:

1. its generation is committed: ``gen <= store.generation`` (a filter expression), so rows
   written for a transaction that never committed (a ``kill -9`` mid-group) are never seen;
2. the committed catalogue holds its chunk id with the same text hash (checked on the
   candidates of each search), so rows of a document replaced or deleted by a committed
   transaction are not seen even before they are deleted from Milvus.

Each row's primary key is ``gen << 32 | chunk id``: a rewrite never overwrites a row that
is still visible. Writes follow ``backend``'s protocol: ``add`` inserts the new rows under
the generation about to commit, ``remove`` remembers the old ids, ``committed`` deletes the
old rows and records ``milvus_clean = generation``. A writer opening the index deletes rows
of uncommitted generations and, when ``milvus_clean`` is behind the store (a crash between
commit and clean-up), compares every row with the catalogue: rows it does not hold are
deleted, chunks missing from Milvus are written again from the vectors in the store.
"""

from __future__ import annotations

import json
import logging
import os
import re
import time
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import lexical
from .errors import StoreUnavailableError
from .language_bias import LanguageProjection
from .lexical import LexicalHit, LexicalResult
from .records import Chunk
from .settings import Settings
from .store import Store

log = logging.getLogger(__name__)

#: Meta key naming the index's collection.
COLLECTION_META = "milvus_collection"
#: Meta key: the generation whose clean-up (old rows deleted) finished.
CLEAN_META = "milvus_clean"
#: Meta key: when (Unix time) this index last wrote rows to its collection (``_insert``).
WRITTEN_META = "milvus_written_at"
#: Seconds after the last write during which searches wait for it (``Strong`` consistency);
#: later ones read with ``Bounded`` staleness. A Milvus server tolerates 5 s of staleness
#: under ``Bounded`` (its ``common.gracefulTime``), and ``Strong`` makes every search wait
#: for the server's next time tick, about 200 ms per search on a standalone server (measured
#: on Milvus 2.3.5, CHANGELOG). The margin above 5 s covers clocks that disagree a little.
#: Rows a bounded search may still see after a delete are never shown: the catalogue check
#: drops them.
FRESH_S = 30.0
#: Environment variables: ``user:password`` (or an API token) and the connect timeout.
TOKEN_ENV = "POLYFIND_MILVUS_TOKEN"
TIMEOUT_ENV = "POLYFIND_MILVUS_TIMEOUT"
#: Rows written or deleted per call.
_BATCH = 1000
#: Milvus's largest ``limit``.
_MAX_LIMIT = 16384
#: Bytes of analysed terms kept per chunk (the VARCHAR's size).
_MAX_TERMS = 65535

_URI = re.compile(
    r"^milvus://(?:(?P<auth>[^@/]+)@)?(?P<host>[^:/?]+):(?P<port>\d+)(?:/(?P<db>\w+))?(?:\?(?P<query>.*))?$"
)


@dataclass(frozen=True)
class MilvusURI:
    host: str
    port: int
    db: str | None
    index: str
    """Vector index type: FLAT or IVF_FLAT."""
    token: str | None

    @property
    def address(self) -> str:
        return f"http://{self.host}:{self.port}"


#: Credentials given in a ``--store`` URI, by the URI without them, for the rest of the
#: process (``without_credentials``): the index records the URI without them.
_GIVEN_TOKENS: dict[str, str] = {}
#: A URI's scheme and ``USER[:PASSWORD]@`` part, up to the last "@" before the path or query (a
#: password may hold "@"): what ``masked`` hides and ``without_credentials`` takes off.
_USERINFO = re.compile(r"^([a-z]+://)([^/?]*)@")


def masked(uri: str) -> str:
    """``uri`` with the password of its ``user:password@`` part, if any, replaced by ***:
    what messages and `polyfind status` show."""
    m = _USERINFO.match(uri)
    if m is None or ":" not in m[2]:
        return uri
    return f"{m[1]}{m[2].split(':', 1)[0]}:***@{uri[m.end() :]}"


def without_credentials(uri: str) -> str:
    """``uri`` without its ``USER:PASSWORD@`` part, which this process keeps using for that
    server: an index records where its store is, never a password (later commands take
    the credentials from ``POLYFIND_MILVUS_TOKEN``)."""
    m = _USERINFO.match(uri)
    if m is None:
        return uri
    bare = m[1] + uri[m.end() :]
    _GIVEN_TOKENS[bare] = m[2]
    return bare


def parse_uri(uri: str) -> MilvusURI:
    """``milvus://[USER:PASSWORD@]HOST:PORT[/DB][?index=flat|ivf]``; refuses anything else.
    The credentials: those of the URI, else those this process was given with it
    (``without_credentials``), else ``POLYFIND_MILVUS_TOKEN``'s."""
    m = _URI.match(uri)
    if m is None:
        raise StoreUnavailableError(
            f"--store {masked(uri)}: not a store this polyfind knows; give "
            "milvus://HOST:PORT[/DB] (e.g. milvus://127.0.0.1:19530) or local"
        )
    query = dict(p.split("=", 1) for p in (m["query"] or "").split("&") if "=" in p)
    kinds = {"flat": "FLAT", "ivf": "IVF_FLAT"}
    kind = query.get("index", "flat").lower()
    if kind not in kinds:
        raise StoreUnavailableError(
            f"--store {masked(uri)}: index={kind} unknown; use index=flat or ivf"
        )
    token = m["auth"] or _GIVEN_TOKENS.get(uri) or os.environ.get(TOKEN_ENV)
    return MilvusURI(m["host"], int(m["port"]), m["db"], kinds[kind], token)


#: IVF_FLAT's number of lists, per segment (a Milvus server builds an index for each sealed
#: segment). Searches probe
#: ``Settings.milvus_nprobe`` of them. milvus-lite keeps every row in one growing segment
#: and searches it with probes of its own, whatever the index asks (BENCHMARKS.md, "Scale").
IVF_NLIST = 128


def vector_index_params(kind: str) -> dict[str, Any]:
    """The vector field's index, as ``add_index`` takes it (also ``bench.scale``'s)."""
    params = {"nlist": IVF_NLIST} if kind == "IVF_FLAT" else {}
    return {"index_type": kind, "metric_type": "IP", "params": params}


def vector_search_params(kind: str, nprobe: int) -> dict[str, Any]:
    """The ``search_params`` of a dense search on that index."""
    return {"metric_type": "IP", "params": {"nprobe": nprobe} if kind == "IVF_FLAT" else {}}


def _first_line(exc: BaseException) -> str:
    """What the server said, on one line. A gRPC error's text starts with a line saying only
    that an RPC ended ("<_InactiveRpcError of RPC that terminated with:"); its status code
    and details say why ("UNAUTHENTICATED: auth check failure, ...")."""
    code, details = getattr(exc, "code", None), getattr(exc, "details", None)
    if callable(code) and callable(details):  # grpc.RpcError
        try:
            status = getattr(code(), "name", code())
            return f"{status}: {details()}"[:200]
        except Exception:  # then its text, as for any error
            pass
    text = str(getattr(exc, "message", "") or exc).strip()
    return (text.splitlines() or [type(exc).__name__])[0][:200]


@contextmanager
def _talking_to(uri: str, what: str) -> Iterator[None]:
    """Turn a failed call to the server into one line naming it and what to do."""
    uri = masked(uri)
    try:
        yield
    except StoreUnavailableError:
        raise
    except Exception as exc:
        detail = _first_line(exc)
        if re.search(r"auth|credential|password|permission|denied", detail, re.I):
            raise StoreUnavailableError(
                f"the Milvus server at {uri} refused polyfind while {what} ({detail}); give "
                f"the user and password as {TOKEN_ENV}=USER:PASSWORD (or in the URI, "
                "milvus://USER:PASSWORD@HOST:PORT)"
            ) from exc
        raise StoreUnavailableError(
            f"the Milvus server at {uri} failed while {what} ({detail}); check that it is "
            "running and reachable, then run the command again (the index keeps its last "
            "committed state)"
        ) from exc


def connect(uri: str) -> Any:
    """A ``MilvusClient`` for ``uri``; one line naming the server when it cannot be used."""
    parsed = parse_uri(uri)
    try:
        from pymilvus import MilvusClient
    except ImportError as exc:
        raise StoreUnavailableError(
            f"this index keeps its vectors in Milvus ({masked(uri)}) but pymilvus is not "
            "installed; run `pip install 'polyfind[scale]'`"
        ) from exc
    timeout = float(os.environ.get(TIMEOUT_ENV) or 10)
    kwargs: dict[str, Any] = {"uri": parsed.address, "timeout": timeout}
    if parsed.db:
        kwargs["db_name"] = parsed.db
    if parsed.token:
        kwargs["token"] = parsed.token
    _quiet_pymilvus()
    with _talking_to(uri, "connecting"):
        try:
            return MilvusClient(**kwargs)
        except Exception as exc:
            detail = _first_line(exc)
            if re.search(r"auth|credential|password|denied", detail, re.I):
                raise  # _talking_to: "refused polyfind", and how to give credentials
            raise StoreUnavailableError(
                f"cannot reach the Milvus server at {masked(uri)} within {timeout:g} s ({detail}); "
                "start it (or check HOST:PORT: `polyfind status` shows the index's store) "
                "and run the command again"
            ) from exc


def _quiet_pymilvus() -> None:
    """pymilvus logs every failed call at ERROR through handlers of its own, before raising:
    polyfind's one-line error says it, so its loggers go through polyfind's logging instead,
    and only above ERROR."""
    for name in ("pymilvus", "pymilvus.milvus_client"):
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True
        logger.setLevel(logging.CRITICAL)


class MilvusIndex:
    """The chunks of one index in one Milvus collection (see the module's docstring)."""

    def __init__(
        self,
        uri: str,
        client: Any,
        collection: str,
        store: Store,
        dim: int,
        projection: LanguageProjection | None,
        settings: Settings,
    ) -> None:
        self.uri = uri
        self.parsed = parse_uri(uri)
        self.client = client
        self.collection = collection
        self.store = store
        self.dim = dim
        self.projection = projection
        self.settings = settings
        self._removed: list[int] = []

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        uri: str,
        index_dir: Path,
        store: Store,
        dim: int,
        projection: LanguageProjection | None = None,
        *,
        writer: bool = False,
        settings: Settings | None = None,
    ) -> MilvusIndex:
        client = connect(uri)
        name = store.get_meta(COLLECTION_META)
        with _talking_to(uri, "opening the index's collection"):
            exists = name is not None and client.has_collection(name)
        if not exists and not writer:
            raise StoreUnavailableError(
                f"the Milvus server at {masked(uri)} has no collection "
                f"{name or '(none recorded)'} for the index at {index_dir}; run `polyfind "
                f"index --index {index_dir}` to write it again from the index folder (nothing "
                "is embedded again)"
            )
        if name is None:
            name = f"polyfind_{uuid.uuid4().hex[:16]}"
            with store.transaction():
                store.set_meta(COLLECTION_META, name)
        index = cls(uri, client, name, store, dim, projection, settings or Settings())
        with _talking_to(uri, f"opening collection {name}"):
            if not exists:
                index._create()
                with store.transaction():  # written again in full from the catalogue
                    store.conn.execute("DELETE FROM meta WHERE key=?", (CLEAN_META,))
            client.load_collection(name)
        if writer:
            index.repair()
        return index

    def _create(self) -> None:
        from pymilvus import DataType, Function, FunctionType

        c = self.client
        schema = c.create_schema(auto_id=False)
        schema.add_field("row", DataType.INT64, is_primary=True)
        schema.add_field("chunk", DataType.INT64)
        schema.add_field("gen", DataType.INT64)
        schema.add_field("lang", DataType.VARCHAR, max_length=16)
        schema.add_field("hash", DataType.VARCHAR, max_length=64)
        schema.add_field(
            "terms",
            DataType.VARCHAR,
            max_length=_MAX_TERMS,
            enable_analyzer=True,
            analyzer_params={"tokenizer": "whitespace"},
        )
        schema.add_field("sparse", DataType.SPARSE_FLOAT_VECTOR)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=self.dim)
        schema.add_function(
            Function(
                name="bm25",
                function_type=FunctionType.BM25,
                input_field_names=["terms"],
                output_field_names=["sparse"],
            )
        )
        params = c.prepare_index_params()
        params.add_index(field_name="vector", **vector_index_params(self.parsed.index))
        params.add_index(
            field_name="sparse",
            index_type="SPARSE_INVERTED_INDEX",
            metric_type="BM25",
            params={"bm25_k1": 1.2, "bm25_b": 0.75},  # FTS5's bm25() constants
        )
        c.create_collection(
            self.collection, schema=schema, index_params=params, consistency_level="Strong"
        )
        log.info("%s: made collection %s", masked(self.uri), self.collection)

    @classmethod
    def drop(cls, uri: str, store: Store) -> None:
        """Drop the index's collection (``--rebuild``: made again on first write)."""
        name = store.get_meta(COLLECTION_META)
        if name is None:
            return
        client = connect(uri)
        with _talking_to(uri, f"dropping collection {name}"):
            if client.has_collection(name):
                client.drop_collection(name)
        client.close()

    @staticmethod
    def is_current(store: Store) -> bool:
        """The last clean-up finished at the store's generation (no row to repair)."""
        return store.get_meta(CLEAN_META) == str(store.generation)

    @classmethod
    def in_step(cls, uri: str, store: Store) -> bool:
        """``is_current``, and the collection is there (a writer with nothing else to do
        checks this: a dropped collection is written again from the catalogue)."""
        if not cls.is_current(store):
            return False
        name = store.get_meta(COLLECTION_META)
        client = connect(uri)
        try:
            with _talking_to(uri, "opening the index's collection"):
                return name is not None and bool(client.has_collection(name))
        finally:
            client.close()

    def close(self) -> None:
        with _talking_to(self.uri, "closing"):
            self.client.close()

    # -- keeping it in step with the catalogue ---------------------------------------------
    def repair(self) -> None:
        """Delete rows of uncommitted generations; where the last clean-up did not finish,
        make the rows match the catalogue (see the module's docstring)."""
        generation = self.store.generation
        with _talking_to(self.uri, "deleting rows of unfinished runs"):
            self.client.delete(self.collection, filter=f"gen > {generation}")
        if self.is_current(self.store):
            return
        wanted = self.store.chunk_hashes()
        best: dict[int, tuple[int, int]] = {}  # chunk -> (gen, row) of its visible row
        stale: list[int] = []
        with _talking_to(self.uri, "reading the collection"):
            for row in self._rows(["row", "chunk", "gen", "hash"]):
                cid, gen = int(row["chunk"]), int(row["gen"])
                if wanted.get(cid) != row["hash"]:
                    stale.append(int(row["row"]))
                    continue
                kept = best.get(cid)
                if kept is None or gen > kept[0]:
                    if kept is not None:
                        stale.append(kept[1])
                    best[cid] = (gen, int(row["row"]))
                else:
                    stale.append(int(row["row"]))
        missing = sorted(set(wanted) - set(best))
        with _talking_to(self.uri, "repairing the collection"):
            for i in range(0, len(stale), _BATCH):
                self.client.delete(self.collection, ids=stale[i : i + _BATCH])
            analyzer = self._analyzer()
            for i in range(0, len(missing), _BATCH):
                rows = self.store.chunk_rows(missing[i : i + _BATCH])
                self._insert(
                    [r[0] for r in rows],
                    np.frombuffer(b"".join(r[4] for r in rows), dtype=np.float32).reshape(
                        len(rows), self.dim
                    ),
                    [r[1] for r in rows],
                    [lexical.posting(analyzer, r[2]) for r in rows],
                    [r[3] for r in rows],
                    generation,
                )
        if stale or missing:
            log.info(
                "%s: collection %s repaired (%d stale rows deleted, %d chunks written again)",
                masked(self.uri),
                self.collection,
                len(stale),
                len(missing),
            )
        self._mark_clean(generation)

    def _rows(self, fields: list[str]) -> Iterator[dict[str, Any]]:
        it = self.client.query_iterator(
            self.collection, batch_size=_BATCH, filter="gen >= 0", output_fields=fields
        )
        try:
            while batch := it.next():
                yield from batch
        finally:
            it.close()

    def _mark_clean(self, generation: int) -> None:
        with self.store.transaction():
            if self.store.generation == generation:
                self.store.set_meta(CLEAN_META, str(generation))

    def _consistency(self) -> str:
        """``Strong`` while the last write is recent (``FRESH_S``), else ``Bounded``."""
        try:
            written = float(self.store.get_meta(WRITTEN_META) or 0.0)
        except ValueError:
            written = 0.0
        return "Strong" if time.time() - written < FRESH_S else "Bounded"

    def _analyzer(self) -> lexical.Analyzer:
        return self.store.analyzer or lexical.analyzer_for(lexical.DEFAULT_ANALYZER)

    def _insert(
        self,
        ids: Sequence[int],
        vectors: np.ndarray,
        langs: Sequence[str],
        terms: Sequence[str],
        hashes: Sequence[str],
        generation: int,
    ) -> None:
        # Stamped in the caller's transaction where there is one (``add``): searches that
        # see the new generation also see that it is fresh, and wait for its rows
        # (``_consistency``).
        self.store.set_meta(WRITTEN_META, repr(time.time()))
        x = vectors if self.projection is None else self.projection.apply(vectors)
        x = np.ascontiguousarray(x, dtype=np.float32)
        rows = [
            {
                "row": (generation << 32) | int(cid),
                "chunk": int(cid),
                "gen": generation,
                "lang": lang,
                "hash": h,
                "terms": _clip(t),
                "vector": vec.tolist(),
            }
            for cid, vec, lang, t, h in zip(ids, x, langs, terms, hashes, strict=True)
        ]
        for i in range(0, len(rows), _BATCH):
            self.client.insert(self.collection, rows[i : i + _BATCH])

    # -- writing (backend's protocol) ------------------------------------------------------
    @property
    def terms_at_add(self) -> bool:
        return True  # Milvus's BM25 reads them from the rows written here

    def add(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        chunks: Sequence[Chunk],
        terms: Sequence[str] | None,
    ) -> None:
        from .store import text_hash

        if terms is None:
            raise ValueError("a Milvus index is given the lexical terms with the vectors")
        generation = self.store.generation + 1  # the one the caller's transaction commits
        with _talking_to(self.uri, "writing passages"):
            self._insert(
                [int(i) for i in ids],
                vectors,
                [ch.lang for ch in chunks],
                terms,
                [text_hash(ch.embed_text) for ch in chunks],
                generation,
            )

    def remove(self, ids: np.ndarray) -> None:
        self._removed.extend(int(i) for i in ids)

    def committed(self, generation: int) -> None:
        removed, self._removed = self._removed, []
        with _talking_to(self.uri, "deleting replaced passages"):
            for i in range(0, len(removed), _BATCH):
                part = removed[i : i + _BATCH]
                self.client.delete(
                    self.collection, filter=f"chunk in {part} and gen < {generation}"
                )
        self._mark_clean(generation)

    def finish(self, generation: int) -> None:
        with _talking_to(self.uri, "flushing"):
            self.client.flush(self.collection)

    # -- searching -------------------------------------------------------------------------
    @property
    def kind(self) -> str:
        return f"milvus-{self.parsed.index.lower()}"

    @property
    def ntotal(self) -> int:
        """Rows visible to searches: a count where the last clean-up finished (every row of
        a committed generation is then visible), else counted row by row."""
        if not self.is_current(self.store):
            return len(self.visible_chunks())
        with _talking_to(self.uri, "counting passages"):
            res = self.client.query(
                self.collection,
                filter=f"gen <= {self.store.generation}",
                output_fields=["count(*)"],
            )
        return int(res[0]["count(*)"])

    def visible_chunks(self) -> set[int]:
        """The chunk ids a search can return (rows of committed generations that the
        catalogue holds with the same text hash), read row by row."""
        wanted = self.store.chunk_hashes()
        generation = self.store.generation
        with _talking_to(self.uri, "reading the collection"):
            return {
                int(r["chunk"])
                for r in self._rows(["chunk", "gen", "hash"])
                if int(r["gen"]) <= generation and wanted.get(int(r["chunk"])) == r["hash"]
            }

    def _filter(self, generation: int, langs: Sequence[str] | None) -> str:
        expr = f"gen <= {generation}"
        if langs:
            expr += f" and lang in {json.dumps(list(langs))}"
        return expr

    def _visible(
        self, hits: Sequence[dict[str, Any]], k: int
    ) -> tuple[list[tuple[int, float]], bool]:
        """The hits the catalogue holds (same chunk id and text hash), once each, best
        first, at most ``k``; and whether any was left out."""
        wanted = self.store.chunk_hashes([int(h["entity"]["chunk"]) for h in hits])
        out: list[tuple[int, float]] = []
        seen: set[int] = set()
        for h in hits:
            cid = int(h["entity"]["chunk"])
            if cid in seen or wanted.get(cid) != h["entity"]["hash"]:
                continue
            seen.add(cid)
            out.append((cid, float(h["distance"])))
        return out[:k], len(out) < len(hits)

    def _search(
        self,
        data: list[Any],
        field: str,
        params: dict[str, Any],
        k: int,
        langs: Sequence[str] | None,
    ) -> list[tuple[int, float]]:
        """Best ``k`` visible hits; asks for more when invisible rows took places."""
        if k <= 0:
            return []
        generation = self.store.generation
        consistency = self._consistency()
        limit = min(_MAX_LIMIT, k + 16)
        while True:
            with _talking_to(self.uri, "searching"):
                res = self.client.search(
                    self.collection,
                    data=data,
                    anns_field=field,
                    limit=limit,
                    filter=self._filter(generation, langs),
                    output_fields=["chunk", "hash"],
                    search_params=params,
                    consistency_level=consistency,
                )
            hits = list(res[0])
            found, dropped = self._visible(hits, k)
            if len(found) >= k or not dropped or len(hits) < limit or limit >= _MAX_LIMIT:
                return found
            limit = min(_MAX_LIMIT, limit * 4)

    def search(
        self, query: np.ndarray, k: int, langs: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        q = query.reshape(1, -1)
        if self.projection is not None:
            q = self.projection.apply(q)
        params = vector_search_params(self.parsed.index, self.settings.milvus_nprobe)
        found = self._search([q[0].astype(np.float32).tolist()], "vector", params, k, langs)
        return (
            np.asarray([s for _, s in found], dtype=np.float32),
            np.asarray([c for c, _ in found], dtype=np.int64),
        )

    def lexical_search(
        self, query: str, k: int, langs: Sequence[str] | None = None
    ) -> LexicalResult:
        """Milvus's BM25 over the analysed terms. The query's terms are those the store's
        analyser gives (a prefix term matches only itself: Milvus has no prefix match);
        ``idf_total`` uses Milvus's idf, log(1 + (N - df + 0.5) / (df + 0.5)), with the
        document frequencies of the store's lexical table."""
        analyzer = self.store.analyzer
        if analyzer is None or k <= 0:
            return LexicalResult([], 0.0)
        terms = analyzer.query_terms(query)[: lexical.MAX_QUERY_TERMS]
        if not terms:
            return LexicalResult([], 0.0)
        n_docs, dfs = lexical.document_frequencies(self.store.conn, terms)
        if n_docs == 0:
            return LexicalResult([], 0.0)
        idf_total = sum(float(np.log(1.0 + (n_docs - df + 0.5) / (df + 0.5))) for df in dfs)
        text = " ".join(dict.fromkeys(t for t, _ in terms))
        found = self._search([text], "sparse", {"metric_type": "BM25"}, k, langs)
        return LexicalResult([LexicalHit(c, s) for c, s in found], idf_total)


def _clip(terms: str) -> str:
    """At most ``_MAX_TERMS`` bytes, cut at a space."""
    raw = terms.encode("utf-8")
    if len(raw) <= _MAX_TERMS:
        return terms
    return raw[:_MAX_TERMS].decode("utf-8", "ignore").rsplit(" ", 1)[0]
