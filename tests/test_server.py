"""`polyfind serve`: the HTTP JSON API, on a free port, over a small real index."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest

from polyfind import Searcher, Settings, index_paths
from polyfind.server import PolyfindServer, make_server, serving

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FILES = ["003_71a9f3b054dab845.txt", "us_wh_2022-10-19_battery_manufacturing_fact_sheet.md"]
HIT_FIELDS = {
    "rank", "score", "source", "page", "line", "start", "end", "lang", "text", "chunk_id",
    "citation", "title", "page_label", "missing",
}  # fmt: skip


@pytest.fixture(scope="module")
def small_index(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Settings:
    folder = tmp_path_factory.mktemp("reports")
    for name in FILES:
        shutil.copy(CORPUS / name, folder / name)
    settings = Settings(index_dir=tmp_path_factory.mktemp("index") / "idx")
    index_paths([str(folder)], settings, embedder=embedder)
    return settings


@pytest.fixture(scope="module")
def server(small_index: Settings) -> Iterator[PolyfindServer]:
    with serving(small_index) as srv:
        yield srv


def get(server: PolyfindServer, path: str, **params: Any) -> tuple[int, Any]:
    url = server.url + path + ("?" + urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=60) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_binds_to_loopback_by_default(server: PolyfindServer, small_index: Settings) -> None:
    """``make_server`` without a host, and ``polyfind serve`` without --host, listen on
    127.0.0.1 only."""
    assert server.server_address[0] == "127.0.0.1"
    cmd = [sys.executable, "-m", "polyfind.cli", "serve", "--index", str(small_index.index_dir)]
    env = dict(os.environ, COLUMNS="500")  # the message on one line
    proc = subprocess.Popen([*cmd, "--port", "0"], stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()  # "polyfind: serving INDEX on URL (Ctrl-C stops)"
        found = re.search(r" on (http://\S+) \(", line)
        assert found, line
        url = found.group(1)
        assert url.startswith("http://127.0.0.1:")
        with urllib.request.urlopen(url + "/status", timeout=60) as resp:
            assert json.loads(resp.read())["documents"] == len(FILES)
    finally:
        proc.terminate()
        proc.wait(60)


def test_search_returns_the_hits_of_search_json(server: PolyfindServer, small_index) -> None:
    query = "배터리 공급망 투자"
    status, body = get(server, "/search", q=query, k=5)
    assert status == 200
    assert body["query"] == query and body["k"] == 5 and body["took_ms"] >= 0
    hits = body["hits"]
    assert 0 < len(hits) <= 5
    for hit in hits:
        assert set(hit) == HIT_FIELDS | {"snippet"}
        assert hit["missing"] is False
    with Searcher(small_index) as searcher:
        found = searcher.search(query, k=5)
        expected = [h.to_json() for h in found]
        snippets = searcher.snippets(query, found)
    assert [h["chunk_id"] for h in hits] == [h["chunk_id"] for h in expected]
    assert hits[0]["citation"] == expected[0]["citation"]
    # the snippet the CLI's table shows, with the query's words marked in its text
    assert [h["snippet"]["text"] for h in hits] == [s.text for s in snippets]
    kinds = {h["snippet"]["kind"] for h in hits}
    assert kinds <= {"terms", "sentence", "start"}
    korean = next(h["snippet"] for h in hits if h["lang"] == "ko")
    assert korean["kind"] == "terms"
    marked = [korean["text"][a:b] for a, b in korean["highlights"]]
    assert marked and all(word in query for word in marked), marked


def test_language_filter_and_mode(server: PolyfindServer) -> None:
    status, body = get(server, "/search", q="battery manufacturing", lang="en", mode="dense")
    assert status == 200 and body["langs"] == ["en"] and body["mode"] == "dense"
    assert body["hits"] and {h["lang"] for h in body["hits"]} == {"en"}


@pytest.mark.parametrize(
    ("path", "params", "code", "words"),
    [
        ("/search", {}, 400, "query"),
        ("/search", {"q": "   "}, 400, "query"),
        ("/search", {"q": "battery", "k": "0"}, 400, "k must be"),
        ("/search", {"q": "battery", "k": "many"}, 400, "whole number"),
        ("/search", {"q": "battery", "lang": "xx"}, 400, "language"),
        ("/search", {"q": "battery", "mode": "fuzzy"}, 400, "mode"),
        ("/nothing", {}, 404, "/search"),
    ],
)
def test_errors_are_json(
    server: PolyfindServer, path: str, params: dict[str, str], code: int, words: str
) -> None:
    status, body = get(server, path, **params)
    assert status == code and body["status"] == code
    assert words in body["error"]


def test_post_is_refused(server: PolyfindServer) -> None:
    req = urllib.request.Request(server.url + "/search", data=b"q=x", method="POST")
    with pytest.raises(urllib.error.HTTPError) as info:
        urllib.request.urlopen(req, timeout=30)
    assert info.value.code == 405
    assert "GET" in json.loads(info.value.read())["error"]


def test_status_and_concurrent_requests(server: PolyfindServer, small_index: Settings) -> None:
    status, body = get(server, "/status")
    assert status == 200
    assert body["chunks"] > 0 and body["documents"] == len(FILES)
    assert body["vector_index"] == {"kind": "flat", "vectors": body["chunks"]}
    assert body["precision"] in ("fp32", "int8", "bf16")
    results: list[int] = []

    def client() -> None:
        for q in ("battery", "배터리", "電池"):
            results.append(get(server, "/search", q=q, k=3)[0])

    threads = [threading.Thread(target=client) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert results == [200] * 18


def test_a_search_whose_client_left_is_dropped_and_reading_never_waits(
    server: PolyfindServer,
) -> None:
    """While the search thread is busy, passages are still read (the reading thread); a
    /snippets request whose client hung up before its turn is never run (the page typed
    on), and /status counts it as dropped."""
    service = server.service
    _, hits = get(server, "/search", q="battery", k=3)
    ids = ",".join(str(h["chunk_id"]) for h in hits["hits"])
    busy, release = threading.Event(), threading.Event()

    def block() -> None:
        busy.set()
        release.wait(30)

    blocker = threading.Thread(target=service.search_lane.run, args=(block,))
    blocker.start()
    try:
        assert busy.wait(30)
        # reading goes on beside the busy search thread
        assert get(server, "/show", id=hits["hits"][0]["chunk_id"])[0] == 200
        assert get(server, "/reader", id=hits["hits"][0]["chunk_id"])[1]["page_text"]
        before = service.search_lane.dropped
        host, port = server.server_address[:2]
        with socket.create_connection((host, port), timeout=10) as sock:
            sock.sendall(
                f"GET /snippets?q=battery&ids={ids} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
            )
            time.sleep(0.3)  # the request is read and waits for the search thread
        time.sleep(0.3)  # the server notices the client is gone
    finally:
        release.set()
        blocker.join(30)
    status, body = get(server, "/status")
    assert status == 200 and body["dropped"] == before + 1
    # a client that stays gets its answer as before
    status, snips = get(server, "/snippets", q="battery", ids=ids)
    assert status == 200 and len(snips["snippets"]) == len(hits["hits"])


def test_port_in_use_is_a_clear_error(server: PolyfindServer, small_index: Settings) -> None:
    from polyfind.server import ServeError

    with pytest.raises(ServeError, match="another --port"):
        make_server(small_index, port=server.server_address[1])


def test_sees_index_updates(small_index: Settings, embedder: Any, tmp_path: Path) -> None:
    """On a copy of the index, so that no other test sees the added document."""
    settings = small_index.with_(index_dir=tmp_path / "idx")
    shutil.copytree(small_index.index_dir, settings.index_dir)
    with serving(settings) as srv:
        before = get(srv, "/status")[1]
        assert before["documents"] == len(FILES)
        extra = tmp_path / "extra"
        extra.mkdir()
        shutil.copy(CORPUS / "004_58bd91241ebf471b.txt", extra / "new.txt")
        index_paths([str(extra)], settings, embedder=embedder)
        after = get(srv, "/status")[1]
        assert after["chunks"] > before["chunks"] and after["documents"] == len(FILES) + 1
        hits = get(srv, "/search", q="new", k=50)[1]["hits"]
        assert len(hits) == min(50, after["chunks"])
        # the reading thread (its own connection) sees the new document too
        new = next(
            h
            for h in get(srv, "/search", q="new", k=500)[1]["hits"]
            if h["source"].endswith("new.txt")
        )
        status, shown = get(srv, "/reader", id=new["chunk_id"])
        assert status == 200 and shown["source"] == new["source"] and shown["page_text"]
