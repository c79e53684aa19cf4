"""HTTP JSON API over an index, with the model and the index kept loaded.

    polyfind serve [--index DIR] [--host 127.0.0.1] [--port 8765]

- ``GET /search?q=...&k=10&lang=ko,ja&mode=hybrid&per_lang=N``: ``{"query", "k", "langs",
  "mode", "took_ms", "hits"}``, each hit with the fields of ``polyfind search --json``
  (``Hit.to_json``, with ``missing``: the file is no longer where it was indexed) plus
  ``snippet`` (``text``, ``highlights`` as [start, end] offsets into
  it, ``kind``: "terms", "sentence" or "start"), the same snippet the CLI's table shows
  (``Searcher.snippets``). Only ``q`` is required.
- ``GET /status``: documents, chunks, languages, model, precision, vector index kind and
  size, index generation, requests served, and ``watch`` (null, or with ``serve --watch``
  ``running``, ``batches``, ``error``).
- Errors: ``{"error": message, "status": code}`` with HTTP 400 (bad or missing parameter,
  empty query, unknown language or mode), 404 (unknown path), 405 (method other than GET)
  or 500 (anything else, also logged).

The server binds to 127.0.0.1 unless told otherwise: it has no authentication. Requests are
handled on threads (``ThreadingHTTPServer``, HTTP/1.1 keep-alive), but every search runs on
one thread that owns the ``Searcher``: SQLite connections belong to the thread that opened
them, and on a machine with few cores concurrent searches would only compete for them
(BENCHMARKS.md, "Speed", has latency under concurrent load). When another process updates
the index (``polyfind index``), the next request reopens it.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .errors import EmptyQueryError, PolyfindError, UnknownLanguageError
from .search import Searcher, UnknownModeError
from .settings import Settings
from .vectors import index_file
from .watch import Batch, Watcher

log = logging.getLogger(__name__)

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
#: Largest ``k`` (and ``per_lang``) a request may ask for.
MAX_K = 1000


class BadRequest(PolyfindError):
    """A request the client can fix (HTTP 400)."""


class ServeError(PolyfindError):
    """The server cannot start (the address is taken or not ours)."""


class SearchService:
    """A ``Searcher`` owned by one thread; every call runs there, in arrival order."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.watcher: Watcher | None = None
        """The watcher of ``serve --watch`` (its batches change the index; the next request
        sees the new generation and reopens it)."""
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="polyfind-search")
        self._searcher: Searcher | None = None
        self._generation = -1
        self.started = time.time()
        self.requests = 0
        self._run(self._open)

    def _run(self, fn: Any, *args: Any, **kw: Any) -> Any:
        return self._thread.submit(fn, *args, **kw).result()

    def _open(self) -> None:
        """Open the index (again, after a change), keeping the query encoder, and warm up."""
        old = self._searcher
        encoder = old.encoder if old is not None else None
        searcher = Searcher(self.settings, encoder=encoder)
        if old is not None:
            old.close()
        self._searcher = searcher
        self._generation = searcher.store.generation
        if encoder is None:
            searcher.search("warm up", k=1)  # loads the encoder, touches the index

    def _current(self) -> Searcher:
        """The searcher, reopened first if the index changed since.

        While ``polyfind index`` is still writing a large index (its FAISS file for the new
        state not saved yet), the old vectors keep serving rather than being rebuilt from
        the store at every commit; small indexes are reopened at once.
        """
        s = self._searcher
        assert s is not None
        generation = s.store.generation
        if generation != self._generation and (
            index_file(self.settings.index_dir, generation).exists()
            or s.store.chunk_count() <= self.settings.exact_max_vectors
        ):
            log.info("the index changed; reopening it")
            self._open()
        assert self._searcher is not None
        return self._searcher

    def search(
        self,
        query: str,
        *,
        k: int = 10,
        langs: str | None = None,
        mode: str | None = None,
        per_lang: int | None = None,
    ) -> list[dict[str, object]]:
        def run() -> list[dict[str, object]]:
            self.requests += 1
            searcher = self._current()
            hits = searcher.search(query, k=k, langs=langs, mode=mode, per_lang=per_lang)
            out = [h.to_json() for h in hits]
            for item, snip in zip(out, searcher.snippets(query, hits), strict=True):
                item["snippet"] = {
                    "text": snip.text,
                    "highlights": [list(span) for span in snip.highlights],
                    "kind": snip.kind,
                }
            return out

        result: list[dict[str, object]] = self._run(run)
        return result

    def status(self) -> dict[str, object]:
        def run() -> dict[str, object]:
            s = self._current()
            meta = s.store.meta()
            return {
                "index_dir": str(self.settings.index_dir),
                "documents": s.store.document_count(),
                "chunks": s.store.chunk_count(),
                "languages": s.store.languages(),
                "model": meta.get("model"),
                "dim": s.dim,
                "precision": meta.get("precision"),
                "generation": self._generation,
                "vector_index": {"kind": s.vectors.kind, "vectors": s.vectors.ntotal},
                "search_mode": self.settings.search_mode,
                "requests": self.requests,
                "uptime_s": round(time.time() - self.started, 1),
                "watch": None
                if self.watcher is None
                else {
                    "running": self.watcher.running,
                    "batches": self.watcher.batches,
                    "error": self.watcher.error,
                },
            }

        result: dict[str, object] = self._run(run)
        return result

    def close(self) -> None:
        def run() -> None:
            if self._searcher is not None:
                self._searcher.close()
                self._searcher = None

        self._run(run)
        self._thread.shutdown()


def _int_param(params: dict[str, list[str]], name: str, default: int | None) -> int | None:
    values = params.get(name)
    if not values or values[-1].strip() == "":
        return default
    try:
        value = int(values[-1])
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {values[-1]!r}") from None
    if not 1 <= value <= MAX_K:
        raise BadRequest(f"{name} must be between 1 and {MAX_K}, got {value}")
    return value


class _Handler(BaseHTTPRequestHandler):
    server: PolyfindServer
    protocol_version = "HTTP/1.1"
    server_version = "polyfind"

    def do_GET(self) -> None:
        started = time.perf_counter()
        url = urlsplit(self.path)
        params = parse_qs(url.query, keep_blank_values=True)
        service = self.server.service
        try:
            if url.path == "/search":
                body: dict[str, object] = self._search(service, params)
                body["took_ms"] = round((time.perf_counter() - started) * 1000, 2)
                self._send(200, body)
            elif url.path == "/status":
                self._send(200, service.status())
            else:
                self._error(404, f"no such path {url.path!r}; use /search?q=... or /status")
        except (BadRequest, EmptyQueryError, UnknownLanguageError, UnknownModeError) as exc:
            self._error(400, str(exc))
        except PolyfindError as exc:
            self._error(500, str(exc))
        except Exception as exc:
            log.exception("error answering %s", self.path)
            self._error(500, f"internal error ({type(exc).__name__}: {exc})")

    @staticmethod
    def _search(service: SearchService, params: dict[str, list[str]]) -> dict[str, object]:
        query = (params.get("q") or [""])[-1]
        if not query.strip():
            raise BadRequest("the query is missing or empty; pass it as ?q=...")
        k = _int_param(params, "k", 10)
        per_lang = _int_param(params, "per_lang", None)
        lang = (params.get("lang") or [""])[-1] or None
        mode = (params.get("mode") or [""])[-1] or None
        assert k is not None
        hits = service.search(query, k=k, langs=lang, mode=mode, per_lang=per_lang)
        return {
            "query": query,
            "k": k,
            "langs": lang.split(",") if lang else None,
            "mode": mode or service.settings.search_mode,
            "hits": hits,
        }

    def _not_allowed(self) -> None:
        self._error(405, f"method {self.command} not allowed; use GET")

    do_POST = do_PUT = do_DELETE = do_PATCH = _not_allowed

    def _error(self, status: int, message: str) -> None:
        self._send(status, {"error": message, "status": status})

    def _send(self, status: int, body: object) -> None:
        raw = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("%s %s", self.address_string(), format % args)


class PolyfindServer(ThreadingHTTPServer):
    """The HTTP server with its ``SearchService``."""

    daemon_threads = True
    service: SearchService

    def __init__(self, address: tuple[str, int]) -> None:
        super().__init__(address, _Handler)

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}"

    def server_close(self) -> None:
        super().server_close()
        service = getattr(self, "service", None)
        if service is not None:
            service.close()


def make_server(
    settings: Settings, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT
) -> PolyfindServer:
    """Load the index and the model and bind (``port`` 0: any free port); call
    ``serve_forever()`` on the result, ``shutdown()`` and ``server_close()`` to stop."""
    try:
        server = PolyfindServer((host, port))  # the address first: fail before loading
    except OSError as exc:
        raise ServeError(
            f"cannot listen on {host}:{port} ({exc.strerror or exc}); choose another --port "
            "or stop the program using it"
        ) from exc
    try:
        server.service = SearchService(settings)
    except BaseException:
        server.server_close()
        raise
    return server


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
