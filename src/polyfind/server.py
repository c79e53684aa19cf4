"""``polyfind serve``: the web page and the JSON API over an index, with the model and the
index kept loaded.

    polyfind serve [--index DIR] [--host 127.0.0.1] [--port 8765] [--watch]

The routes and their JSON are in ``web/app.py`` (a Starlette application on uvicorn); this
module holds what they call: ``SearchService``, the library's ``Searcher`` on two threads,
and the server around the application (``make_server``, ``serve``).

Every search runs on the one thread that owns the searching ``Searcher``: SQLite connections
belong to the thread that opened them, and on a machine with few cores concurrent searches
would only compete for them (BENCHMARKS.md, "Speed", has latency under concurrent load).
Passages, pages and documents are read on a second thread with its own connection (no model,
no vectors), so that opening a cited page never waits behind a search. A search or snippets
request whose client went away (the page typed on) is dropped before it runs, and snippets
stop between groups of passages. When another process updates the index (``polyfind index``,
or the watcher of ``serve --watch``), the next request reopens it. PDF pages are drawn by
``pageview.PageRenderer`` (PDFium, under its own lock, cached in memory).
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from . import searchindex
from .errors import IndexMissingError, PolyfindError
from .pageview import PageRenderer
from .search import ChunkView, Searcher
from .settings import Settings
from .snippets import Snippet
from .watch import Batch, Watcher

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Largest ``k`` (and ``per_lang``) a request may ask for.
MAX_K = 1000
#: Passages whose closest sentences ``/snippets`` embeds at a time, between which it checks
#: whether the page still wants them: one, so that a search typed meanwhile waits for one
#: passage's sentences at most.
SNIPPET_GROUP = 1


class BadRequest(PolyfindError):
    """A request the client can fix (HTTP 400)."""


class NotFound(PolyfindError):
    """A passage, document or page the index does not hold (HTTP 404)."""


class ServeError(PolyfindError):
    """The server cannot start (the address is taken or not ours)."""


def _snippet_json(snip: Snippet) -> dict[str, object]:
    return {
        "text": snip.text,
        "highlights": [list(span) for span in snip.highlights],
        "kind": snip.kind,
    }


class Cancelled(PolyfindError):
    """The client went away before its request was answered (its work was dropped)."""


class _Lane:
    """A ``Searcher`` owned by one thread: every call runs there, in arrival order (SQLite
    connections belong to the thread that opened them)."""

    def __init__(self, settings: Settings, name: str, *, searching: bool) -> None:
        self.settings = settings
        self.searching = searching
        """Whether this lane searches (keeps the query encoder across reopenings and warms
        up) or only reads the store (passages, pages, documents: no model, no vectors)."""
        self._thread = ThreadPoolExecutor(1, thread_name_prefix=name)
        self.search_laneer: Searcher | None = None
        self.generation = -1
        self.dropped = 0
        """Requests dropped because their client went away (``Cancelled``)."""
        self.run(self._open)

    def run(self, fn: Callable[..., Any], *args: Any, gone: threading.Event | None = None) -> Any:
        """``fn(*args)`` on this lane's thread; skipped (``Cancelled``) when ``gone`` is set
        by the time its turn comes: a search the page has superseded is never run."""

        def task() -> Any:
            if gone is not None and gone.is_set():
                raise Cancelled("the client went away")
            return fn(*args)

        try:
            return self._thread.submit(task).result()
        except Cancelled:
            self.dropped += 1
            raise

    def _open(self) -> None:
        """Open the index (again, after a change), keeping the query encoder, and warm up."""
        old = self.search_laneer
        encoder = old.encoder if old is not None and self.searching else None
        searcher = Searcher(self.settings, encoder=encoder)
        if old is not None:
            old.close()
        self.search_laneer = searcher
        self.generation = searcher.store.generation
        if self.searching and encoder is None:
            searcher.warm_up()

    def current(self) -> Searcher:
        """The searcher, reopened first if the index changed since.

        While ``polyfind index`` is still writing a large index (its FAISS file for the new
        state not saved yet), the old vectors keep serving rather than being rebuilt from
        the store at every commit; small indexes are reopened at once.
        """
        s = self.search_laneer
        assert s is not None
        generation = s.store.generation
        if generation != self.generation and (
            not self.searching
            or searchindex.ready(self.settings.index_dir, s.store, generation)
            or s.store.chunk_count() <= self.settings.exact_max_vectors
        ):
            log.info("the index changed; reopening it")
            self._open()
        assert self.search_laneer is not None
        return self.search_laneer

    def close(self) -> None:
        def run() -> None:
            if self.search_laneer is not None:
                self.search_laneer.close()
                self.search_laneer = None

        self.run(run)
        self._thread.shutdown()


class SearchService:
    """The index behind the web page and the API, on two threads: one searches (the query
    encoder, the vectors, snippets), the other reads passages, pages and documents, so that
    opening a cited page never waits behind a search."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.watcher: Watcher | None = None
        """The watcher of ``serve --watch`` (its batches change the index; the next request
        sees the new generation and reopens it)."""
        self.started = time.time()
        self.requests = 0
        self.search_lane = _Lane(settings, "polyfind-search", searching=True)
        try:
            self.read_lane = _Lane(settings, "polyfind-read", searching=False)
        except BaseException:
            self.search_lane.close()
            raise

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        langs: str | None = None,
        mode: str | None = None,
        per_lang: int | None = None,
        sentences: bool = True,
        gone: threading.Event | None = None,
    ) -> list[dict[str, object]]:
        """Hits as JSON with their snippets; ``sentences=False``: without the closest
        sentence, which is the slow part (``snippets`` gives it afterwards). ``gone``: set
        when the client goes away; a search not started by then is dropped (``Cancelled``)."""

        def run() -> list[dict[str, object]]:
            self.requests += 1
            searcher = self.search_lane.current()
            hits = searcher.search(query, k=k, langs=langs, mode=mode, per_lang=per_lang)
            out = [h.to_json() for h in hits]
            snips = searcher.snippets(query, hits, sentences=sentences)
            for item, snip in zip(out, snips, strict=True):
                item["snippet"] = _snippet_json(snip)
            return out

        result: list[dict[str, object]] = self.search_lane.run(run, gone=gone)
        return result

    def status(self) -> dict[str, object]:
        def run() -> dict[str, object]:
            s = self.search_lane.current()
            meta = s.store.meta()
            return {
                "index_dir": str(self.settings.index_dir),
                "documents": s.store.document_count(),
                "chunks": s.store.chunk_count(),
                "languages": s.store.languages(),
                "model": meta.get("model"),
                "size_bytes": sum(
                    p.stat().st_size for p in self.settings.index_dir.iterdir() if p.is_file()
                ),
                "dim": s.dim,
                "precision": meta.get("precision"),
                "engine": meta.get("engine", "torch" if meta.get("precision") else None),
                "generation": self.search_lane.generation,
                "vector_index": {"kind": s.vectors.kind, "vectors": s.vectors.ntotal},
                "search_mode": self.settings.search_mode,
                "requests": self.requests,
                "dropped": self.search_lane.dropped,
                "uptime_s": round(time.time() - self.started, 1),
                "watch": None
                if self.watcher is None
                else {
                    "running": self.watcher.running,
                    "batches": self.watcher.batches,
                    "error": self.watcher.error,
                },
            }

        result: dict[str, object] = self.search_lane.run(run)
        return result

    def snippets(
        self, query: str, chunk_ids: list[int], gone: threading.Event | None = None
    ) -> dict[str, object]:
        """The snippets ``search`` gives for passages ``chunk_ids`` (by id), for a query.
        Made a few passages at a time: once ``gone`` is set (the page typed on, and dropped
        this request), the rest is not made, so that the next search does not wait for it."""

        def run() -> dict[str, object]:
            self.requests += 1
            searcher = self.search_lane.current()
            passages = searcher.passages(chunk_ids)
            out: dict[str, object] = {}
            for at in range(0, len(passages), SNIPPET_GROUP):
                if gone is not None and gone.is_set():
                    raise Cancelled("the client went away")
                group = passages[at : at + SNIPPET_GROUP]
                snips = searcher.snippets(query, group)
                out.update((str(p.id), _snippet_json(s)) for p, s in zip(group, snips, strict=True))
            return out

        result: dict[str, object] = self.search_lane.run(run, gone=gone)
        return result

    def show(self, chunk_id: int, context: int = 400) -> dict[str, object]:
        """The JSON of ``polyfind show ID --json``."""

        def run() -> dict[str, object]:
            self.requests += 1
            return self._view(self.read_lane.current(), chunk_id, context).to_json()

        result: dict[str, object] = self.read_lane.run(run)
        return result

    @staticmethod
    def _view(searcher: Searcher, chunk_id: int, context: int) -> ChunkView:
        try:
            return searcher.show(chunk_id, context=context)
        except IndexMissingError as exc:  # no such passage
            raise NotFound(str(exc)) from None

    def reader(self, chunk_id: int) -> dict[str, object]:
        """What the reader shows for a passage: ``show``'s JSON, its document (``format``,
        ``pages``, ``page_labels``) and, for a file without pages, the whole page text
        (``page_text``; the passage is ``page_text[start:end]``)."""

        def run() -> dict[str, object]:
            self.requests += 1
            searcher = self.read_lane.current()
            view = self._view(searcher, chunk_id, 0)
            ch = view.chunk
            doc = searcher.store.document(ch.doc_id)
            assert doc is not None
            out = view.to_json()
            out["document"] = {
                "id": doc.id,
                "format": doc.format,
                "pages": doc.n_pages,
                "page_labels": searcher.store.page_labels(doc.id),
            }
            out["page_text"] = searcher.store.page_text(ch.doc_id, ch.page_seq)
            return out

        result: dict[str, object] = self.read_lane.run(run)
        return result

    def pdf_page(self, doc_id: int, page: int) -> Path:
        """The file of indexed PDF ``doc_id`` after checking ``page`` is one of its pages:
        only indexed documents are ever read."""

        def run() -> Path:
            doc = self.read_lane.current().store.document(doc_id)
            if doc is None or doc.format != "pdf":
                raise NotFound(f"no PDF document with id {doc_id} in the index")
            if not 1 <= page <= doc.n_pages:
                raise BadRequest(f"page must be between 1 and {doc.n_pages}, got {page}")
            if not os.path.exists(doc.path):
                raise NotFound(
                    f"{doc.source} is no longer where it was indexed; if its folder moved, "
                    "`polyfind index --relocate OLD NEW` records the new place"
                )
            return Path(doc.path)

        result: Path = self.read_lane.run(run)
        return result

    def similar(self, chunk_id: int, k: int, langs: str | None) -> list[dict[str, object]]:
        """Passages nearest to passage ``chunk_id`` (``Searcher.similar``), as hits."""

        def run() -> list[dict[str, object]]:
            self.requests += 1
            try:
                found = self.search_lane.current().similar(
                    chunk_id, k, langs.split(",") if langs else None
                )
            except IndexMissingError as exc:
                raise NotFound(str(exc)) from None
            return [h.to_json() for h in found]

        result: list[dict[str, object]] = self.search_lane.run(run)
        return result

    def coverage(self) -> dict[str, object]:
        """Each document (``document_list``) and each file skipped with its reason
        (``skipped``), for ``/status?documents=1`` and the coverage page."""

        def run() -> dict[str, object]:
            store = self.read_lane.current().store
            counts = store.chunk_counts()
            return {
                "document_list": [
                    {
                        "id": d.id,
                        "source": d.source,
                        "format": d.format,
                        "lang": d.lang,
                        "title": d.title,
                        "date": d.date,
                        "author": d.author,
                        "pages": d.n_pages,
                        "chunks": counts.get(d.id, 0),
                        "size": d.size,
                        "indexed_at": d.indexed_at,
                        "missing": not os.path.exists(d.path),
                    }
                    for d in store.documents()
                ],
                "skipped": [
                    {"source": f.source, "reason": f.reason, "size": f.size}
                    for f in store.skipped_files().values()
                ],
            }

        result: dict[str, object] = self.read_lane.run(run)
        return result

    def close(self) -> None:
        self.read_lane.close()
        self.search_lane.close()


class PolyfindServer:
    """The web application (``web.app``) on uvicorn, listening on a socket bound before
    the index and the model are loaded."""

    def __init__(self, sock: socket.socket, service: SearchService, host: str) -> None:
        import uvicorn

        from .web.app import create_app

        self.socket = sock
        self.service = service
        self.renderer = PageRenderer()
        self.app = create_app(service, self.renderer, host=host)
        config = uvicorn.Config(
            self.app,
            log_level="warning",
            access_log=False,
            lifespan="off",
            timeout_graceful_shutdown=5,
            server_header=False,
        )
        self._uvicorn = uvicorn.Server(config)
        self._stopped = threading.Event()

    @property
    def server_address(self) -> tuple[str, int]:
        host, port = self.socket.getsockname()[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.server_address
        return f"http://{'[' + host + ']' if ':' in host else host}:{port}"

    def serve_forever(self) -> None:
        try:
            self._uvicorn.run(sockets=[self.socket])
        finally:
            self._stopped.set()

    def shutdown(self, timeout: float = 10.0) -> None:
        """Stop ``serve_forever`` (from another thread) and wait for it."""
        self._uvicorn.should_exit = True
        self._stopped.wait(timeout)

    def server_close(self) -> None:
        self.socket.close()
        self.service.close()


def _bind(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def make_server(
    settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> PolyfindServer:
    """Load the index and the model and bind (``port`` 0: any free port); call
    ``serve_forever()`` on the result, ``shutdown()`` and ``server_close()`` to stop."""
    try:
        sock = _bind(host, port)  # the address first: fail before loading
    except OSError as exc:
        raise ServeError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
            "or stop the program using it"
        ) from exc
    try:
        service = SearchService(settings)
    except BaseException:
        sock.close()
        raise
    return PolyfindServer(sock, service, host)


def serve(
    settings: Settings,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    *,
    ready: Any = None,
    watch: bool = False,
    report: Callable[[Batch], None] | None = None,
) -> None:
    """Serve until interrupted; ``ready(server)`` is called once it is listening.

    ``watch``: also keep the index current while serving, with the watcher of ``polyfind
    watch`` over the index's roots on a background thread (``watch.Watcher``); ``report``
    gets its batches. Searches pick up each batch's new generation at the next request."""
    server = make_server(settings, host, port)
    watcher = None
    try:
        if ready is not None:
            ready(server)
        if watch:
            watcher = Watcher(None, settings, report=report or (lambda batch: None))
            server.service.watcher = watcher
            watcher.start()
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        if watcher is not None and not watcher.stop(timeout=30.0):
            log.warning("the watcher is still indexing; its last group is redone next time")
        server.server_close()


def serve_in_thread(server: PolyfindServer) -> threading.Thread:
    """Run ``server`` on a daemon thread (for tests and embedding in other programs)."""
    thread = threading.Thread(target=server.serve_forever, name="polyfind-http", daemon=True)
    thread.start()
    return thread


@contextmanager
def serving(
    settings: Settings, host: str = DEFAULT_HOST, port: int = 0
) -> Iterator[PolyfindServer]:
    """``make_server`` run on a thread for the ``with`` block (``port`` 0: a free port),
    then shut down and closed."""
    server = make_server(settings, host, port)
    thread = serve_in_thread(server)
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
