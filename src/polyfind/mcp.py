"""``polyfind mcp``: search, show and status as tools of the Model Context Protocol, over
stdio, for research assistants (the official ``mcp`` SDK's ``MCPServer``).

The tools answer with the JSON of the CLI and the web API (``server.SearchService``, the same
thin layer over ``Searcher``): every hit carries its full citation (``citation``, ``source``,
``page``, ``page_label``, ``line``, ``start``/``end``, ``chunk_id``), so an assistant can quote
a passage that a researcher can open with ``polyfind show ID`` or on the web page. Errors
(an empty query, an unknown language, a passage that does not exist) come back as tool errors
with the message the CLI would print. stdout carries the protocol: nothing else prints there.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import Any, TypeVar

from .errors import PolyfindError
from .server import MAX_K, BadRequest, SearchService
from .settings import Settings

T = TypeVar("T")

INSTRUCTIONS = (
    "Search Korean, Japanese and English reports in any of the three languages. Quote "
    "passages with their `citation` (file:pPAGE:LINE); `show` gives a passage's context."
)


def _answer(fn: Callable[[], T]) -> T:
    """``fn()``, with a library error turned into a tool error carrying its message (the
    SDK reports other exceptions as a bare "Error executing tool")."""
    from mcp.server.mcpserver.exceptions import ToolError

    try:
        return fn()
    except PolyfindError as exc:
        raise ToolError(str(exc)) from None
    except sqlite3.DatabaseError as exc:
        raise ToolError(
            f"the index database is damaged or unreadable ({exc}); rebuild it with "
            "`polyfind index --rebuild`"
        ) from None


def build_server(settings: Settings) -> Any:
    """The MCP server over the index of ``settings`` (the index and the model loaded now)."""
    from mcp.server.mcpserver import MCPServer

    service = SearchService(settings)
    server = MCPServer(name="polyfind", instructions=INSTRUCTIONS, log_level="WARNING")

    @server.tool()
    def search(
        query: str,
        k: int = 10,
        lang: str | None = None,
        mode: str | None = None,
        per_lang: int | None = None,
    ) -> dict[str, Any]:
        """Search the reports: the best passages for QUERY (any of Korean, Japanese, English),
        each with its citation (file, page, printed page label, line, character span), score,
        language, text and passage id. lang: e.g. "ko,ja" to keep only those languages; mode:
        hybrid (default), dense or lexical; per_lang: N best passages of each language instead
        of the top k."""

        def run() -> dict[str, Any]:
            for name, value in (("k", k), ("per_lang", per_lang)):
                if value is not None and not 1 <= value <= MAX_K:
                    raise BadRequest(f"{name} must be between 1 and {MAX_K}, got {value}")
            hits = service.search(query, k=k, langs=lang, mode=mode, per_lang=per_lang)
            return {"query": query, "hits": hits}

        return _answer(run)

    @server.tool()
    def show(chunk_id: int, context: int = 400) -> dict[str, Any]:
        """A passage by id (from search) with up to CONTEXT characters of its page before
        and after, and its full citation: the JSON of `polyfind show ID --json`."""
        return _answer(lambda: service.show(chunk_id, context))

    @server.tool()
    def status() -> dict[str, Any]:
        """What the index holds: documents, passages per language, model."""
        return _answer(service.status)

    return server


def run(settings: Settings) -> None:
    """Serve the tools over stdio until the client closes the connection."""
    build_server(settings).run()
