"""The web application of `polyfind serve` over HTTP (no browser): /show, /reader, /page.png,
/similar, CSV and JSON export, /status?documents=1, the Host check and the security headers.
One server over the session's corpus index (``corpus_server`` in conftest.py)."""

from __future__ import annotations

import csv
import http.client
import io
import json
import unicodedata
import urllib.error
import urllib.request
from typing import Any
from urllib.parse import urlencode

import pypdfium2 as pdfium
import pytest
from typer.testing import CliRunner

from polyfind.cli import app
from polyfind.server import PolyfindServer
from polyfind.web.app import CSP, CSV_FIELDS, allowed_host


def fetch(server: PolyfindServer, path: str, **params: Any) -> tuple[int, dict[str, str], bytes]:
    url = server.url + path + ("?" + urlencode(params) if params else "")
    try:
        with urllib.request.urlopen(url, timeout=120) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def get_json(server: PolyfindServer, path: str, **params: Any) -> tuple[int, Any]:
    status, _, body = fetch(server, path, **params)
    return status, json.loads(body)


def _key(text: str) -> str:
    return "".join(c for c in unicodedata.normalize("NFKC", text).casefold() if c.isalnum())


@pytest.fixture(scope="module")
def pdf_hit(corpus_server: PolyfindServer) -> dict[str, Any]:
    """A hit on a PDF page (the CRS report on federal R&D funding)."""
    _, body = get_json(corpus_server, "/search", q="federal R&D funding agencies", k=10)
    hit = next(h for h in body["hits"] if h["page"] is not None)
    assert hit["source"].endswith(".pdf")
    return hit


def test_show_is_the_json_of_show_cli(corpus_server: PolyfindServer, corpus_index) -> None:
    settings, _ = corpus_index
    _, body = get_json(corpus_server, "/search", q="battery supply chain", k=1)
    chunk_id = body["hits"][0]["chunk_id"]
    status, shown = get_json(corpus_server, "/show", id=chunk_id)
    assert status == 200
    cli = CliRunner().invoke(
        app, ["show", str(chunk_id), "--index", str(settings.index_dir), "--json"]
    )
    assert cli.exit_code == 0, cli.output
    assert shown == json.loads(cli.stdout)
    assert get_json(corpus_server, "/show", id=10**9)[0] == 404
    status, err = get_json(corpus_server, "/show")
    assert status == 400 and "id is missing" in err["error"]


def test_reader_marks_the_passage_characters_on_the_pdf_page(
    corpus_server: PolyfindServer, corpus_dir, pdf_hit: dict[str, Any]
) -> None:
    """The boxes /reader gives, read back from the page with PDFium, hold the passage."""
    status, body = get_json(corpus_server, "/reader", id=pdf_hit["chunk_id"])
    assert status == 200
    assert body["document"]["format"] == "pdf" and body["page"] == pdf_hit["page"]
    assert body["coverage"] == 1.0 and body["boxes"] and body["chars"]
    for x0, y0, x1, y1 in body["boxes"] + body["chars"]:
        assert 0 <= x0 < x1 <= 1 and 0 <= y0 < y1 <= 1
    pdf = pdfium.PdfDocument(str(corpus_dir.parent / pdf_hit["source"]))
    try:
        page = pdf[pdf_hit["page"] - 1]
        left, bottom, right, top = page.get_cropbox()
        w, h = right - left, top - bottom
        textpage = page.get_textpage()
        # the text inside each line box, in order, is the passage (letters and digits)
        found = "".join(
            textpage.get_text_bounded(
                left + x0 * w + 0.5, top - y1 * h + 0.5, left + x1 * w - 0.5, top - y0 * h - 0.5
            )
            for x0, y0, x1, y1 in body["boxes"]
        )
    finally:
        pdf.close()
    assert _key(body["text"]) in _key(found)
    assert len(_key(found)) < 1.1 * len(_key(body["text"])) + 20


def test_page_png_is_rendered_once_then_cached(
    corpus_server: PolyfindServer, pdf_hit: dict[str, Any]
) -> None:
    _, body = get_json(corpus_server, "/reader", id=pdf_hit["chunk_id"])
    doc = body["document"]["id"]
    renderer = corpus_server.renderer
    misses = renderer.misses
    status, headers, png = fetch(corpus_server, "/page.png", doc=doc, page=pdf_hit["page"], scale=1)
    assert status == 200 and headers["content-type"] == "image/png"
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    hits = renderer.hits
    again = fetch(corpus_server, "/page.png", doc=doc, page=pdf_hit["page"], scale=1)[2]
    assert again == png and renderer.hits == hits + 1 and renderer.misses == misses + 1


@pytest.mark.parametrize(
    ("params", "code", "words"),
    [
        ({"page": 1}, 400, "doc is missing"),
        ({"doc": "x", "page": 1}, 400, "whole number"),
        ({"doc": 10**9, "page": 1}, 404, "no PDF document"),
        ({"doc": "PDF", "page": 10**5}, 400, "page must be between"),
        ({"doc": "PDF", "page": 1, "scale": "9"}, 400, "scale"),
        ({"doc": "TEXT", "page": 1}, 404, "no PDF document"),
    ],
)
def test_page_png_serves_only_pages_of_indexed_pdfs(
    corpus_server: PolyfindServer, params: dict[str, Any], code: int, words: str
) -> None:
    _, cov = get_json(corpus_server, "/status", documents=1)
    ids = {
        "PDF": next(d["id"] for d in cov["document_list"] if d["format"] == "pdf"),
        "TEXT": next(d["id"] for d in cov["document_list"] if d["format"] != "pdf"),
    }
    params = {k: ids.get(v, v) if isinstance(v, str) else v for k, v in params.items()}
    status, body = get_json(corpus_server, "/page.png", **params)
    assert status == code and words in body["error"], body


def test_static_files_stay_in_their_folder(corpus_server: PolyfindServer) -> None:
    host, port = corpus_server.server_address
    for path in ("/static/../app.py", "/static/%2e%2e/app.py", "/static/..%2f..%2fserver.py"):
        conn = http.client.HTTPConnection(host, port, timeout=30)
        conn.request("GET", path)
        resp = conn.getresponse()
        assert resp.status == 404, path
        assert b"create_app" not in resp.read()
        conn.close()
    status, _, js = fetch(corpus_server, "/static/app.js")
    assert status == 200 and b"textContent" in js


def test_similar_passages_in_another_language(
    corpus_server: PolyfindServer, pdf_hit: dict[str, Any]
) -> None:
    _, shown = get_json(corpus_server, "/show", id=pdf_hit["chunk_id"])
    status, body = get_json(corpus_server, "/similar", id=pdf_hit["chunk_id"], k=3, lang="ko")
    assert status == 200 and 0 < len(body["hits"]) <= 3
    assert {h["lang"] for h in body["hits"]} == {"ko"}
    assert all(h["source"] != shown["source"] for h in body["hits"])
    scores = [h["score"] for h in body["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert get_json(corpus_server, "/similar", id=pdf_hit["chunk_id"], lang="xx")[0] == 400


def test_export_csv_and_json_have_every_citation_field(corpus_server: PolyfindServer) -> None:
    params = {"q": "양자 기술 협력", "per_lang": 2}
    _, body = get_json(corpus_server, "/search", **params)
    status, headers, raw = fetch(corpus_server, "/search", format="csv", **params)
    assert status == 200 and headers["content-type"].startswith("text/csv")
    assert "attachment" in headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert tuple(rows[0]) == CSV_FIELDS
    assert [int(r["chunk_id"]) for r in rows] == [h["chunk_id"] for h in body["hits"]]
    assert [r["citation"] for r in rows] == [h["citation"] for h in body["hits"]]
    # as they are, except that a cell a spreadsheet would run gets an apostrophe
    unsafe = ("=", "+", "-", "@", "\t", "\r")
    texts = [("'" if h["text"][:1] in unsafe else "") + h["text"] for h in body["hits"]]
    assert [r["text"] for r in rows] == texts
    assert {r["lang"] for r in rows} == {"ko", "ja", "en"}
    status, headers, raw = fetch(corpus_server, "/search", format="json", **params)
    assert "attachment" in headers["content-disposition"]
    assert [h["chunk_id"] for h in json.loads(raw)["hits"]] == [h["chunk_id"] for h in body["hits"]]
    assert fetch(corpus_server, "/search", format="xml", **params)[0] == 400


def test_status_lists_documents_and_skipped_files(corpus_server: PolyfindServer) -> None:
    status, body = get_json(corpus_server, "/status", documents=1)
    assert status == 200
    docs = body["document_list"]
    assert len(docs) == body["documents"] and sum(d["chunks"] for d in docs) == body["chunks"]
    for d in docs:
        assert {"source", "lang", "pages", "chunks", "title", "date", "indexed_at"} <= set(d)
        assert d["pages"] >= 1 and d["lang"] in ("ko", "ja", "en")
    assert {d["lang"] for d in docs} == {"ko", "ja", "en"}
    assert isinstance(body["skipped"], list)
    plain = get_json(corpus_server, "/status")[1]
    assert "document_list" not in plain
    # the fields DESIGN.md requires of `status --json`, with the CLI's values
    cli = json.loads(
        CliRunner().invoke(app, ["status", "--index", plain["index_dir"], "--json"]).stdout
    )
    for field in ("documents", "chunks", "languages", "model", "size_bytes"):
        assert plain[field] == cli[field], field


def _raw_get(server: PolyfindServer, path: str, host: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection(*server.server_address, timeout=60)
    conn.putrequest("GET", path, skip_host=True)
    conn.putheader("Host", host)
    conn.endheaders()
    resp = conn.getresponse()
    out = resp.status, resp.read()
    conn.close()
    return out


def test_foreign_host_headers_are_refused(corpus_server: PolyfindServer) -> None:
    """DNS rebinding: a page on evil.example whose name resolves to 127.0.0.1."""
    port = corpus_server.server_address[1]
    for host in (f"evil.example:{port}", "evil.example", f"127.0.0.1.evil.example:{port}", ""):
        status, body = _raw_get(corpus_server, "/status", host)
        assert status == 400, host
        assert "not this server" in json.loads(body)["error"]
    for host in (f"localhost:{port}", f"127.0.0.1:{port}", "localhost", f"[::1]:{port}"):
        assert _raw_get(corpus_server, "/status", host)[0] == 200, host
    assert allowed_host("reports.lan:8765", "reports.lan")
    assert not allowed_host("reports.lan:8765", "127.0.0.1")


def test_page_has_csp_and_escapes_the_query(corpus_server: PolyfindServer) -> None:
    query = '"><script>window.pwned=1</script>'
    status, headers, html = fetch(corpus_server, "/", q=query)
    assert status == 200 and headers["content-security-policy"] == CSP
    assert "script-src 'self'" in CSP and "unsafe-inline" not in CSP
    text = html.decode()
    assert "<script>window.pwned" not in text
    assert "&#34;&gt;&lt;script&gt;window.pwned=1&lt;/script&gt;" in text
    assert '<script src="/static/app.js" defer></script>' in text
    status, headers, _ = fetch(corpus_server, "/coverage")
    assert status == 200 and headers["x-content-type-options"] == "nosniff"


def test_serve_on_a_missing_index_says_what_search_says(tmp_path) -> None:
    runner = CliRunner()
    index = str(tmp_path / "none")
    served = runner.invoke(app, ["serve", "--index", index, "--port", "0"])
    searched = runner.invoke(app, ["search", "battery", "--index", index])
    assert served.exit_code == searched.exit_code == 1
    assert served.output.startswith("error: ") and served.output == searched.output


def test_quick_search_then_the_sentences(corpus_server: PolyfindServer) -> None:
    """The page asks /search?snippets=quick, then /snippets for the passages without the
    query's words: together, the snippets of the full /search."""
    params = {"q": "quantum technology cooperation", "per_lang": 3}
    _, full = get_json(corpus_server, "/search", **params)
    _, quick = get_json(corpus_server, "/search", snippets="quick", **params)
    assert [h["chunk_id"] for h in quick["hits"]] == [h["chunk_id"] for h in full["hits"]]
    assert "sentence" not in {h["snippet"]["kind"] for h in quick["hits"]}
    later = [h["chunk_id"] for h in quick["hits"] if h["snippet"]["kind"] == "start"]
    assert later
    status, body = get_json(
        corpus_server, "/snippets", q=params["q"], ids=",".join(map(str, later))
    )
    assert status == 200
    merged = {h["chunk_id"]: h["snippet"] for h in quick["hits"]}
    merged.update({int(k): v for k, v in body["snippets"].items()})
    assert merged == {h["chunk_id"]: h["snippet"] for h in full["hits"]}
    assert get_json(corpus_server, "/snippets", q="x", ids="a,b")[0] == 400
    assert get_json(corpus_server, "/search", q="x", snippets="slow")[0] == 400


def test_csv_cells_that_a_spreadsheet_would_run_get_an_apostrophe() -> None:
    from polyfind.web.app import _csv

    hit = {"rank": 1, "score": -0.5, "source": "@a.txt", "text": '=HYPERLINK("x")', "line": 3}
    row = next(csv.DictReader(io.StringIO(_csv([hit]).decode("utf-8-sig"))))
    assert row["text"] == '\'=HYPERLINK("x")' and row["source"] == "'@a.txt"
    assert row["score"] == "-0.5" and row["line"] == "3"  # numbers as they are
