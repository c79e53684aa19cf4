"""The web page of `polyfind serve` in a real browser: Debian's chromium driven by Playwright
(``make install-browser``; skipped with the reason where it is missing, a failure under
POLYFIND_REQUIRE_EXTRAS=1). One server over the session's corpus index, one browser per
module; a second small server over a hostile report for the escaping test."""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import extras
import makedocs
from polyfind import Settings, index_paths
from polyfind.server import PolyfindServer, serving

pytestmark = pytest.mark.extra("browser")

#: Milliseconds the page waits after the last keystroke before it searches (app.js).
DEBOUNCE_MS = 150


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        # --no-sandbox: chromium refuses to run as root (CI containers) with its sandbox
        b = pw.chromium.launch(executable_path=extras.CHROMIUM, args=["--no-sandbox"])
        yield b
        b.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(
        viewport={"width": 1400, "height": 900},
        accept_downloads=True,
        permissions=["clipboard-read", "clipboard-write"],
    )
    pg = context.new_page()
    problems: list[str] = []
    pg.on("pageerror", lambda exc: problems.append(f"page error: {exc}"))
    pg.on(
        "console",
        lambda msg: problems.append(msg.text) if msg.type in ("error", "warning") else None,
    )
    pg.problems = problems
    yield pg
    context.close()


def wait_until(page: Any, expression: str, timeout: float = 60.0) -> None:
    """Poll ``expression`` in the page until it is true. (Playwright's ``wait_for_function``
    evaluates a string with eval(), which the page's Content-Security-Policy forbids.)"""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        if time.monotonic() > deadline:
            raise AssertionError(f"still false after {timeout} s: {expression}")
        page.wait_for_timeout(25)


def search(page: Any, server: PolyfindServer, query: str, view: str = "flat") -> list[dict]:
    """Type ``query`` into the search box as a user does and wait for the hits."""
    page.goto(server.url + "/")
    if view != "flat":
        page.select_option("#view", view)
    before = page.evaluate("window.polyfind.searches")
    page.fill("#q", query)  # one input event: the debounced search follows
    wait_until(page, f"window.polyfind.searches > {before}")
    return page.eval_on_selector_all(
        "#results li.hit",
        "els => els.map(e => ({id: +e.dataset.chunkId, lang: e.dataset.lang,"
        " column: e.closest('.column') ? e.closest('.column').dataset.lang : null,"
        " citation: e.querySelector('.citation').textContent}))",
    )


def test_english_query_shows_korean_and_japanese_passages_per_language(
    page: Any, corpus_server: PolyfindServer
) -> None:
    hits = search(page, corpus_server, "quantum technology cooperation between allies", "lang")
    assert {h["column"] for h in hits} == {"ko", "ja", "en"}
    assert all(h["lang"] == h["column"] for h in hits)
    assert page.is_hidden("#hits") and page.is_visible("#columns")
    # the closest sentences fill in after the quick search: in the end, the snippets of
    # the full /search (what the CLI's table shows)
    wait_until(page, "window.polyfind.snippetsDone > 0")
    shown = page.eval_on_selector_all(
        "#results li.hit",
        "els => Object.fromEntries(els.map(e => [e.dataset.chunkId,"
        " e.querySelector('.snippet').textContent]))",
    )
    full = page.evaluate(
        "fetch('/search?q=quantum+technology+cooperation+between+allies&per_lang=6&mode=hybrid')"
        ".then(r => r.json())"
    )
    assert shown == {str(h["chunk_id"]): h["snippet"]["text"] for h in full["hits"]}
    kinds = {h["snippet"]["kind"] for h in full["hits"]}
    assert "sentence" in kinds
    assert page.locator("#results mark.sentence").count() > 0
    # the flat view: ranks 1..n, every language among them for this query
    page.select_option("#view", "flat")
    wait_until(page, "document.querySelector('#hits').children.length > 0")
    ranks = page.eval_on_selector_all("#hits .rank", "els => els.map(e => e.textContent)")
    assert ranks == [f"#{i}" for i in range(1, len(ranks) + 1)]
    assert "view=" not in page.url and "q=quantum" in page.url
    assert not page.problems


def test_deep_link_reproduces_a_search(page: Any, corpus_server: PolyfindServer) -> None:
    page.goto(corpus_server.url + "/?q=battery%20manufacturing&lang=ja,ko")
    wait_until(page, "window.polyfind.searches > 0")
    langs = page.eval_on_selector_all("#hits li.hit", "els => els.map(e => e.dataset.lang)")
    assert langs and set(langs) <= {"ja", "ko"}
    assert page.input_value("#q") == "battery manufacturing"
    assert not page.is_checked("input[name=lang][value=en]")
    snippets = page.eval_on_selector_all("#hits .snippet", "els => els.length")
    assert snippets == len(langs)
    # per language, only the columns of the languages chosen
    page.select_option("#view", "lang")
    wait_until(page, "document.querySelectorAll('#columns li.hit').length > 0")
    shown = page.eval_on_selector_all(
        "#columns .column", "els => els.filter(e => !e.hidden).map(e => e.dataset.lang)"
    )
    assert shown == ["ko", "ja"]


def _open_first(page: Any, suffix: str) -> dict[str, Any]:
    node = page.locator("#hits li.hit", has_text=suffix).first
    chunk_id = int(node.get_attribute("data-chunk-id"))
    node.click()
    page.wait_for_selector(f"#reader[data-chunk-id='{chunk_id}'][data-ready='1']")
    return page.evaluate(f"fetch('/reader?id={chunk_id}').then(r => r.json())")


def _assert_highlighted(page: Any, body: dict[str, Any]) -> float:
    """The page image is drawn and each highlight box lies where /reader put the passage's
    lines, over every character of the passage; returns the image's width."""
    assert body["coverage"] == 1.0 and body["boxes"]
    # the image and the overlays measured together, in the same (viewport) coordinates
    img, overlays = page.evaluate(
        "() => { const box = (e) => { const r = e.getBoundingClientRect();"
        " return [r.left, r.top, r.right, r.bottom]; };"
        " return [box(document.getElementById('r-img')),"
        " Array.from(document.querySelectorAll('#r-pagewrap .hl')).map(box)]; }"
    )
    assert img[2] - img[0] > 200
    natural = page.evaluate("document.getElementById('r-img').naturalWidth")
    assert natural > 0
    assert len(overlays) == len(body["boxes"])
    x, y = img[0], img[1]
    w, h = img[2] - img[0], img[3] - img[1]
    for (x0, y0, x1, y1), (left, top, right, bottom) in zip(body["boxes"], overlays, strict=True):
        expected = (x + x0 * w, y + y0 * h, x + x1 * w, y + y1 * h)
        got = (left, top, right, bottom)
        assert max(abs(a - b) for a, b in zip(expected, got, strict=True)) < 1.5
    # every character of the passage lies under an overlay
    for cx0, cy0, cx1, cy1 in body["chars"]:
        cx, cy = x + (cx0 + cx1) / 2 * w, y + (cy0 + cy1) / 2 * h
        assert any(lf <= cx <= rt and tp <= cy <= bt for lf, tp, rt, bt in overlays)
    return float(w)


def test_pdf_hit_opens_the_page_with_the_passage_highlighted(
    page: Any, corpus_server: PolyfindServer
) -> None:
    search(page, corpus_server, "federal R&D funding agencies")
    body = _open_first(page, ".pdf")
    w = _assert_highlighted(page, body)
    # zoomed in, the page is drawn larger and the highlight stays on the passage
    page.click("#r-zoom-in")
    wait_until(page, "document.getElementById('r-img').src.includes('scale=1.875')")
    page.wait_for_selector("#reader[data-ready='1']")
    wait_until(page, "document.getElementById('r-img').complete")
    big = page.locator("#r-img").bounding_box()
    assert big["width"] == pytest.approx(w * 1.25, rel=0.02)
    first = page.locator("#r-pagewrap .hl").first.bounding_box()
    x0, y0 = body["boxes"][0][:2]
    assert first["x"] == pytest.approx(big["x"] + x0 * big["width"], abs=1.5)
    assert first["y"] == pytest.approx(big["y"] + y0 * big["height"], abs=1.5)
    page.click("#r-zoom-out")
    # the citation with the printed page label, copied by the button
    citation = page.text_content("#r-citation")
    assert citation.startswith(body["source"] + ":p")
    page.click("#r-copy")
    wait_until(page, "document.getElementById('r-copy').dataset.copied !== undefined")
    assert page.get_attribute("#r-copy", "data-copied").startswith(citation)
    assert page.evaluate("navigator.clipboard.readText()").startswith(citation)
    # next page: no highlight there; back: the highlight again
    page.click("#r-next")
    wait_until(page, f"document.getElementById('r-img').src.includes('page={body['page'] + 1}&')")
    wait_until(page, "document.querySelectorAll('#r-pagewrap .hl').length === 0")
    page.click("#r-prev")
    wait_until(page, "document.querySelectorAll('#r-pagewrap .hl').length > 0")
    # in other languages: the nearest Korean and Japanese passages
    page.wait_for_selector(".other-lang[data-lang='ja'] li.other", timeout=30_000)
    page.wait_for_selector(".other-lang[data-lang='ko'] li.other", timeout=30_000)
    assert not page.problems


def test_text_hit_shows_the_page_text_with_the_passage_in_view(
    page: Any, corpus_server: PolyfindServer
) -> None:
    search(page, corpus_server, "battery supply chain investment")
    body = _open_first(page, ".md")
    marked = page.text_content("#r-text mark.passage")
    assert marked == body["text"]
    assert page.text_content("#r-text") == body["page_text"]
    mark = page.locator("#r-text mark.passage").bounding_box()
    pane = page.locator("#r-text").bounding_box()
    assert pane["y"] <= mark["y"] + 2 and mark["y"] < pane["y"] + pane["height"]


@pytest.mark.parametrize(
    ("query", "report"),
    [
        (
            "Where is the principal office of the Korea Internet & Security Agency located?",
            "ko_kisa_articles_of_incorporation_2024.pdf",
        ),
        (
            "Which court issued the judgment on impersonation of an SNS user?",
            "ja_osaka_district_court_judgment_impersonation.pdf",
        ),
    ],
)
def test_korean_and_japanese_pdf_hits_are_highlighted_on_their_page(
    page: Any, reports_server: PolyfindServer, query: str, report: str
) -> None:
    """An English question; the hit in the Korean (Hwp export) or Japanese report opens on
    its cited page with the passage's characters under the highlight."""
    hits = search(page, reports_server, query)
    cited = next(h for h in hits if report in h["citation"])
    body = _open_first(page, report)
    assert body["chunk_id"] == cited["id"] and body["source"].endswith(report)
    _assert_highlighted(page, body)
    assert page.text_content("#r-citation").startswith(f"{body['source']}:p{body['page']}")
    assert not page.problems


@pytest.fixture(scope="module")
def formats_server(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Any]:
    """An index of one HTML page, one Word file and one Hangul (HWPX) file."""
    folder = tmp_path_factory.mktemp("formats")
    (folder / "page.html").write_text(makedocs.PAGE, encoding="utf-8")
    makedocs.write_docx(folder / "report.docx")
    makedocs.write_hwpx(folder / "brief.hwpx")
    settings = Settings(index_dir=tmp_path_factory.mktemp("formats-index") / "idx")
    summary = index_paths([str(folder)], settings, embedder=embedder)
    assert len(summary.added) == 3 and not summary.skipped, summary
    with serving(settings) as server:
        yield server


@pytest.mark.parametrize("suffix", [".html", ".docx", ".hwpx"])
def test_html_docx_and_hwpx_hits_show_their_text_with_the_passage_marked(
    page: Any, formats_server: PolyfindServer, suffix: str
) -> None:
    search(page, formats_server, "quantum technology and national competitiveness")
    body = _open_first(page, suffix)
    assert body["document"]["format"] == suffix[1:]
    assert page.is_hidden("#r-pdf")
    assert page.text_content("#r-text mark.passage") == body["text"]
    assert page.text_content("#r-text") == body["page_text"]
    assert body["page_text"][body["start"] : body["end"]] == body["text"]
    mark = page.locator("#r-text mark.passage").bounding_box()
    pane = page.locator("#r-text").bounding_box()
    assert pane["y"] <= mark["y"] + 2 and mark["y"] < pane["y"] + pane["height"]
    assert page.text_content("#r-citation").startswith(body["source"])
    assert not page.problems


def test_keyboard_moves_between_hits_and_opens_one(
    page: Any, corpus_server: PolyfindServer
) -> None:
    hits = search(page, corpus_server, "semiconductor export controls")
    assert len(hits) >= 3
    page.focus("#q")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowUp")
    selected = page.get_attribute("#hits li.hit.selected", "data-chunk-id")
    assert int(selected) == hits[1]["id"]
    page.keyboard.press("Enter")
    page.wait_for_selector(f"#reader[data-chunk-id='{selected}'][data-ready='1']")


def test_csv_export_downloads_the_results(page: Any, corpus_server: PolyfindServer) -> None:
    hits = search(page, corpus_server, "critical minerals", "lang")
    with page.expect_download() as info:
        page.click("#export-csv")
    raw = Path(info.value.path()).read_bytes().decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(raw)))
    # the columns show the hits by language; the file has them in rank order
    assert [int(r["rank"]) for r in rows] == list(range(1, len(hits) + 1))
    assert sorted(int(r["chunk_id"]) for r in rows) == sorted(h["id"] for h in hits)
    assert {r["lang"] for r in rows} == {"ko", "ja", "en"}
    assert {"citation", "page", "page_label", "line", "start", "end"} <= set(rows[0])


def test_coverage_page_lists_documents_and_filters(
    page: Any, corpus_server: PolyfindServer
) -> None:
    page.goto(corpus_server.url + "/coverage")
    page.wait_for_selector("body[data-ready='1']")
    status = page.evaluate("fetch('/status').then(r => r.json())")
    assert page.locator("#documents tbody tr").count() == status["documents"]
    page.fill("#filter", "crs_r48694")
    assert page.locator("#documents tbody tr").count() == 1
    page.fill("#filter", "")
    page.select_option("#filter-lang", "ja")
    langs = page.eval_on_selector_all("#documents tbody tr", "els => els.map(e => e.dataset.lang)")
    assert langs and set(langs) == {"ja"}


# -- hostile documents ---------------------------------------------------------------------
HOSTILE_NAME = "<img src=x onerror=window.__pwned=1>.md"
HOSTILE_TEXT = """# <script>window.__pwned = 2</script> Lithium <b>battery</b> supply report

<img src=x onerror="window.__pwned=3"> Lithium battery supply chains need new refineries.
Read [the annex](javascript:window.__pwned=4) or <a href="javascript:window.__pwned=5">this</a>.
<svg onload="window.__pwned=6"></svg><iframe src="javascript:window.__pwned=7"></iframe>
Lithium battery recycling and cathode materials are discussed in detail in this report.
"""

#: Elements a document's text would have made had it been inserted as HTML.
INJECTED = (
    "document.querySelectorAll(['script', 'img', 'a', 'iframe', 'svg', 'style', 'b']"
    ".flatMap(t => ['#results ' + t, '#reader ' + t + ':not(#r-img)']).join(',')).length"
)


@pytest.fixture(scope="module")
def hostile_server(tmp_path_factory: pytest.TempPathFactory, embedder: Any) -> Iterator[Any]:
    folder = tmp_path_factory.mktemp("hostile")
    (folder / HOSTILE_NAME).write_text(HOSTILE_TEXT, encoding="utf-8")
    (folder / "javascript:alert(1)<script>.txt").write_text(
        "<script>window.__pwned=8</script> Lithium battery prices fell in 2024.\n"
        '" onmouseover="window.__pwned=9" \' <style>body{display:none}</style>\n',
        encoding="utf-8",
    )
    settings = Settings(index_dir=tmp_path_factory.mktemp("hostile-index") / "idx")
    index_paths([str(folder)], settings, embedder=embedder)
    with serving(settings) as server:
        yield server


def test_hostile_text_titles_and_file_names_run_nothing(page: Any, hostile_server: Any) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    hits = search(page, hostile_server, "lithium battery")
    assert len(hits) >= 2
    for node in page.locator("#hits li.hit").all():
        node.hover()
    for i in range(len(hits)):
        page.locator("#hits li.hit").nth(i).click()
        page.wait_for_selector(f"#reader[data-chunk-id='{hits[i]['id']}'][data-ready='1']")
        page.hover("#r-text")
        page.click("#r-text")
    assert page.evaluate(INJECTED) == 0
    text = page.text_content("#results")
    assert "<script>window.__pwned = 2</script>" in text  # the title, shown as text
    assert HOSTILE_NAME in text  # the file name, shown as text
    assert "javascript:alert(1)<script>.txt" in text
    page.goto(hostile_server.url + "/coverage")
    page.wait_for_selector("body[data-ready='1']")
    assert HOSTILE_NAME in page.text_content("#documents")
    page.goto(hostile_server.url + "/?q=" + "%3Cscript%3Ewindow.__pwned%3D10%3C%2Fscript%3E")
    wait_until(page, "window.polyfind.searches > 0")
    assert page.evaluate("window.__pwned") is None
    assert page.evaluate(INJECTED) == 0
    assert page.is_visible("body")
    assert not dialogs
    assert not [p for p in page.problems if "Content Security Policy" in p], page.problems
