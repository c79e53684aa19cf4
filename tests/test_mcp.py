"""`polyfind mcp`: the tools over stdio, driven by the official SDK's client session, over the
session's corpus index (the server is a child process, as an assistant starts it)."""

from __future__ import annotations

import json
import sys
from typing import Any

import anyio
from mcp.client.session import ClientSession
from mcp.client.stdio import StdioServerParameters, stdio_client


async def _session_calls(index: str, calls: list[tuple[str, dict[str, Any]]]) -> Any:
    params = StdioServerParameters(
        command=sys.executable, args=["-m", "polyfind.cli", "mcp", "--index", index]
    )
    async with stdio_client(params) as streams, ClientSession(*streams) as session:
        await session.initialize()
        tools = await session.list_tools()
        results = [await session.call_tool(name, args) for name, args in calls]
        return tools, results


def test_mcp_tools_answer_with_full_citations(corpus_index, searcher) -> None:
    settings, _ = corpus_index
    query = "quantum technology cooperation between allies"
    expected = searcher.search(query, per_lang=2)
    shown = searcher.show(expected[0].chunk_id, context=100).to_json()
    tools, (found, show, status, empty, unknown) = anyio.run(
        _session_calls,
        str(settings.index_dir),
        [
            ("search", {"query": query, "per_lang": 2}),
            ("show", {"chunk_id": expected[0].chunk_id, "context": 100}),
            ("status", {}),
            ("search", {"query": "  "}),
            ("show", {"chunk_id": 10**9}),
        ],
    )
    assert {t.name for t in tools.tools} == {"search", "show", "status"}
    assert all(t.description for t in tools.tools)
    assert not found.is_error
    hits = found.structured_content["hits"]
    assert [h["chunk_id"] for h in hits] == [h.chunk_id for h in expected]
    assert [h["citation"] for h in hits] == [h.citation for h in expected]
    assert {h["lang"] for h in hits} == {"ko", "ja", "en"}
    for h in hits:
        assert {"source", "page", "page_label", "line", "start", "end", "text"} <= set(h)
    assert json.loads(json.dumps(show.structured_content)) == shown
    assert status.structured_content["documents"] == searcher.store.document_count()
    assert empty.is_error and "the query is empty" in empty.content[0].text
    assert unknown.is_error and "no passage with id" in unknown.content[0].text
