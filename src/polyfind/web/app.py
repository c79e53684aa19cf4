"""The web page and JSON API of ``polyfind serve``: a Starlette application, a thin layer over
``server.SearchService`` (which calls the library's ``Searcher``).

Routes (GET only; anything else answers 405):

- ``/``: the search page (``/?q=...&lang=ko,ja&mode=...&view=lang`` reproduces a search);
  ``/coverage``: the documents and skipped files. HTML shells from ``templates/``; the
  page's script (``static/app.js``) builds everything else from the JSON below.
- ``/search?q=...&k=10&lang=ko,ja&mode=hybrid&per_lang=N``: ``{"query", "k", "langs",
  "mode", "took_ms", "hits"}``, each hit with the fields of ``polyfind search --json``
  plus ``snippet`` (``text``, ``highlights`` as [start, end] offsets into it, ``kind``:
  "terms", "sentence" or "start"), the snippet the CLI's table shows. ``format=csv`` or
  ``format=json`` downloads the hits (every citation field) as a file. ``snippets=quick``
  leaves out the sentence closest to the query (kind "start" instead), the slow part;
- ``/snippets?q=...&ids=1,2,3``: ``{"query", "snippets": {id: snippet}}``, the snippets
  ``/search`` gives those passages (the page asks for them after a quick search).
- ``/status``: counts, model, precision, engine, vector index, ``watch``; ``/status?documents=1``
  adds ``document_list`` (each document: ``source``, ``lang``, ``pages``, ``chunks``,
  ``title``, ``date``, ``indexed_at``, ...) and ``skipped`` (``source``, ``reason``).
- ``/show?id=N[&context=400]``: the JSON of ``polyfind show N --json``.
- ``/reader?id=N``: ``/show``'s JSON with ``document`` (``id``, ``format``, ``pages``,
  ``page_labels``) and ``page_text``; for a PDF also ``boxes`` (the passage's lines) and
  ``chars`` (its characters) as [x0, y0, x1, y1] fractions of the page, and ``coverage``
  (``pageview``).
- ``/page.png?doc=ID&page=N&scale=1.5``: a page of an indexed PDF as an image.
- ``/similar?id=N&k=5&lang=ja``: the passages nearest to passage N (its stored vector),
  leaving out its own document, as hits.
- Errors: ``{"error": message, "status": code}`` with 400 (bad parameter, empty query,
  unknown language or mode, foreign Host header), 404, 405 or 500 (the message the CLI
  would print, e.g. for a damaged index).

Safety: requests whose Host header names another host are refused (DNS rebinding: a
hostile page's domain resolving to 127.0.0.1); a file is only ever read for a document the
index holds, found by its id, never by a path from the request; every response carries a
Content-Security-Policy that allows scripts from ``/static`` only, and the page's script
writes document text with ``textContent``, never as HTML.
"""

from __future__ import annotations

import asyncio
import csv
import io
import ipaddress
import json
import logging
import sqlite3
import threading
import time
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from ..errors import EmptyQueryError, PolyfindError, UnknownLanguageError
from ..pageview import PageRenderer
from ..search import UnknownModeError, check_mode
from ..server import MAX_K, BadRequest, Cancelled, NotFound, SearchService

log = logging.getLogger(__name__)

HERE = Path(__file__).parent
#: Sent with every response: scripts, styles, images and requests from this server only.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SECURITY_HEADERS = [
    (b"content-security-policy", CSP.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
]
#: Columns of the CSV export: every citation field of a hit.
CSV_FIELDS = (
    "rank", "score", "lang", "source", "title", "page", "page_label", "line", "start", "end",
    "citation", "chunk_id", "missing", "text",
)  # fmt: skip

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


def allowed_host(header: str, bound: str) -> bool:
    """Whether a request's Host header names this server: an IP address (a DNS-rebinding
    attack needs a domain name), ``localhost``, or the host it was told to bind."""
    host = header.strip().lower()
    if host.startswith("["):  # [::1]:8765
        host = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:
        host = host.split(":", 1)[0]
    if not host:
        return False
    if host in ("localhost", bound.lower()):
        return True
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


class Guard:
    """ASGI middleware: refuses foreign Host headers; adds the security headers."""

    def __init__(self, app: ASGIApp, host: str) -> None:
        self.app = app
        self.host = host

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        host = headers.get(b"host", b"").decode("latin-1")
        if not allowed_host(host, self.host):
            message = (
                f"Host {host!r} is not this server; open it as http://localhost:PORT or "
                "by its address (requests named for other hosts are refused)"
            )
            response = _error(400, message)
            await self._secured(response)(scope, receive, send)
            return

        async def send_secured(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *SECURITY_HEADERS]
            await send(message)

        await self.app(scope, receive, send_secured)

    @staticmethod
    def _secured(response: Response) -> Response:
        for name, value in SECURITY_HEADERS:
            response.headers[name.decode()] = value.decode()
        return response


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message, "status": status}, status_code=status)


def _json(body: object, status: int = 200) -> Response:
    raw = json.dumps(body, ensure_ascii=False, default=str).encode("utf-8")
    return Response(raw, status_code=status, media_type="application/json; charset=utf-8")


def _int(request: Request, name: str, default: int | None, lo: int = 1, hi: int = MAX_K) -> Any:
    raw = request.query_params.get(name, "").strip()
    if raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"{name} must be a whole number, got {raw!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"{name} must be between {lo} and {hi}, got {value}")
    return value


def _id(request: Request, name: str = "id") -> int:
    value = _int(request, name, None, 0, 2**62)
    if value is None:
        raise BadRequest(f"{name} is missing; pass it as ?{name}=...")
    return int(value)


def _langs(request: Request) -> str | None:
    return request.query_params.get("lang", "").strip() or None


def create_app(service: SearchService, renderer: PageRenderer, *, host: str) -> ASGIApp:
    """The application over ``service``; ``host``: the address it binds (Host check)."""
    templates = Jinja2Templates(directory=str(HERE / "templates"))

    def handle(
        fn: Callable[[Request], Response], *, droppable: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """Runs ``fn`` on a worker thread and maps library errors to JSON errors.
        ``droppable``: while it runs, the client is watched; if it goes away (the page typed
        on and aborted the request), ``request.state.gone`` is set and the service drops
        the work it has not done yet."""

        async def endpoint(request: Request) -> Response:
            gone = request.state.gone = threading.Event()
            watcher = asyncio.create_task(_watch_client(request, gone)) if droppable else None
            try:
                return await run_in_threadpool(fn, request)
            except Cancelled:
                return _error(499, "the client went away; nothing was sent")
            except (BadRequest, EmptyQueryError, UnknownLanguageError, UnknownModeError) as exc:
                return _error(400, str(exc))
            except NotFound as exc:
                return _error(404, str(exc))
            except PolyfindError as exc:
                return _error(500, str(exc))
            except sqlite3.DatabaseError as exc:
                return _error(
                    500,
                    f"the index database is damaged or unreadable ({exc}); rebuild it with "
                    "`polyfind index --rebuild`",
                )
            except Exception as exc:
                log.exception("error answering %s", request.url)
                return _error(500, f"internal error ({type(exc).__name__}: {exc})")
            finally:
                if watcher is not None:
                    watcher.cancel()

        return endpoint

    def search(request: Request) -> Response:
        started = time.perf_counter()
        params = request.query_params
        query = params.get("q", "")
        if not query.strip():
            raise BadRequest("the query is missing or empty; pass it as ?q=...")
        k = _int(request, "k", 10)
        per_lang = _int(request, "per_lang", None)
        lang = _langs(request)
        mode = params.get("mode", "").strip() or None
        fmt = params.get("format", "").strip().lower()
        if fmt not in ("", "csv", "json"):
            raise BadRequest(f"format must be csv or json, got {fmt!r}")
        if mode is not None:
            mode = check_mode(mode)
        quick = params.get("snippets", "").strip()
        if quick not in ("", "full", "quick"):
            raise BadRequest(f"snippets must be full or quick, got {quick!r}")
        hits = service.search(
            query,
            k=k,
            langs=lang,
            mode=mode,
            per_lang=per_lang,
            sentences=quick != "quick",
            gone=request.state.gone,
        )
        body: dict[str, object] = {
            "query": query,
            "k": k,
            "langs": lang.split(",") if lang else None,
            "mode": mode or service.settings.search_mode,
            "per_lang": per_lang,
            "took_ms": round((time.perf_counter() - started) * 1000, 2),
            "hits": hits,
        }
        if fmt == "csv":
            return _download(_csv(hits), "text/csv; charset=utf-8", "polyfind-results.csv")
        if fmt == "json":
            raw = json.dumps(body, ensure_ascii=False, indent=2).encode("utf-8")
            return _download(raw, "application/json; charset=utf-8", "polyfind-results.json")
        return _json(body)

    def snippets(request: Request) -> Response:
        query = request.query_params.get("q", "")
        if not query.strip():
            raise BadRequest("the query is missing or empty; pass it as ?q=...")
        raw = request.query_params.get("ids", "")
        try:
            ids = [int(x) for x in raw.split(",") if x.strip()]
        except ValueError:
            raise BadRequest(f"ids must be passage ids separated by commas, got {raw!r}") from None
        if not 1 <= len(ids) <= MAX_K:
            raise BadRequest(f"give between 1 and {MAX_K} passage ids as ?ids=1,2,3")
        found = service.snippets(query, ids, gone=request.state.gone)
        return _json({"query": query, "snippets": found})

    def status(request: Request) -> Response:
        body = service.status()
        if request.query_params.get("documents", "") not in ("", "0"):
            body.update(service.coverage())
        return _json(body)

    def show(request: Request) -> Response:
        return _json(service.show(_id(request), _int(request, "context", 400, 0, 10000)))

    def reader(request: Request) -> Response:
        body = service.reader(_id(request))
        doc = body["document"]
        assert isinstance(doc, dict)
        if doc["format"] == "pdf" and body["page"] is not None and not body["missing"]:
            path = service.pdf_page(int(doc["id"]), int(str(body["page"])))
            found = renderer.passage_boxes(path, int(str(body["page"])), str(body["text"]))
            body["boxes"] = [b.to_json() for b in found.boxes]
            body["chars"] = [b.to_json() for b in found.chars]
            body["coverage"] = found.coverage
        return _json(body)

    def page_png(request: Request) -> Response:
        doc = _id(request, "doc")
        page = _int(request, "page", 1, 1, 100000)
        raw = request.query_params.get("scale", "1.5")
        try:
            scale = float(raw)
        except ValueError:
            raise BadRequest(f"scale must be a number, got {raw!r}") from None
        if not 0.5 <= scale <= 4:
            raise BadRequest(f"scale must be between 0.5 and 4, got {scale}")
        png = renderer.render(service.pdf_page(doc, page), page, scale)
        return Response(png, media_type="image/png", headers={"Cache-Control": "max-age=300"})

    def similar(request: Request) -> Response:
        chunk_id = _id(request)
        k = _int(request, "k", 5, 1, 100)
        return _json({"id": chunk_id, "hits": service.similar(chunk_id, k, _langs(request))})

    def page(name: str) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return templates.TemplateResponse(
                request, name, {"q": request.query_params.get("q", "")}
            )

        return endpoint

    async def not_found(request: Request, exc: Exception) -> Response:
        status = getattr(exc, "status_code", 500)
        if status == 405:
            return _error(405, f"method {request.method} not allowed; use GET")
        if status == 404:
            return _error(
                404, f"no such path {request.url.path!r}; use /, /search?q=... or /status"
            )
        return _error(status, str(getattr(exc, "detail", exc)))

    async def favicon(request: Request) -> Response:
        return Response(status_code=204)

    routes = [
        Route("/", page("index.html")),
        Route("/favicon.ico", favicon),
        Route("/coverage", page("coverage.html")),
        Route("/search", handle(search, droppable=True)),
        Route("/snippets", handle(snippets, droppable=True)),
        Route("/status", handle(status)),
        Route("/show", handle(show)),
        Route("/reader", handle(reader)),
        Route("/page.png", handle(page_png)),
        Route("/similar", handle(similar)),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: not_found})
    return Guard(app, host)


async def _watch_client(request: Request, gone: threading.Event) -> None:
    """Sets ``gone`` once ``request``'s client has disconnected (polled every 20 ms)."""
    while not await request.is_disconnected():
        await asyncio.sleep(0.02)
    gone.set()


def _csv(hits: list[dict[str, object]]) -> bytes:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=CSV_FIELDS, extrasaction="ignore")
    writer.writeheader()
    for hit in hits:
        writer.writerow({k: _cell(v) for k, v in hit.items()})
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: spreadsheets read it as UTF-8


def _cell(value: object) -> object:
    """A text cell a spreadsheet would run as a formula (``=``, ``+``, ``-``, ``@``, tab,
    carriage return first: document text is untrusted) gets a leading apostrophe."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def _download(raw: bytes, media_type: str, name: str) -> Response:
    return Response(
        raw,
        media_type=media_type,
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )
