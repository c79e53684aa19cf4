"""Printed page labels: stored with the page, shown beside the PDF page in citations.

The PDF loader does not fill ``Page.label`` here: a document with labelled pages is built in
code and indexed through the real pipeline and model (the loader replaced in-process).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind import Searcher, Settings, index_paths
from polyfind.cli import app
from polyfind.records import Document, Hit, Page, Passage, page_citation

runner = CliRunner()

PAGES = (
    Page(1, "Annual review of the regional energy programme.\nContents and preface.", "i"),
    Page(2, "Preface. The committee met four times during the year.", None),
    Page(
        3,
        "Battery recycling plants recovered cobalt, nickel and lithium from spent cells.\n"
        "The recovery rate rose to ninety-five percent in the second half.",
        "1",
    ),
    Page(4, "Offshore wind farms supplied a third of the region's electricity.", "4"),
)
#: The fields of ``search --json`` (and of each hit of the HTTP API) and of ``show --json``.
HIT_JSON = {
    "rank", "score", "source", "title", "page", "page_label", "line", "start", "end", "lang",
    "text", "chunk_id", "citation", "missing",
}  # fmt: skip
SHOW_JSON = {
    "chunk_id", "source", "title", "date", "page", "page_label", "line", "line_end", "start",
    "end", "lang", "text", "before", "after", "previous_id", "next_id", "missing",
}  # fmt: skip


@pytest.fixture
def labelled_index(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, embedder
) -> tuple[Settings, str]:
    monkeypatch.chdir(tmp_path)
    Path("docs").mkdir()
    Path("docs/review.txt").write_text("replaced by the document below\n", encoding="utf-8")

    def fake_load(path: Path, source: str, settings: Settings | None = None) -> Document:
        return Document(source=source, format="pdf", pages=PAGES, title="Annual review")

    monkeypatch.setattr("polyfind.loadpool.load", fake_load)
    settings = Settings(index_dir=tmp_path / "index", extract_workers=1, isolate_loaders=False)
    summary = index_paths(["docs"], settings, embedder=embedder)
    assert summary.added == ["docs/review.txt"]
    return settings, summary.added[0]


def test_page_citation_form() -> None:
    assert page_citation(5, "3") == "p5 (printed 3)"
    assert page_citation(5, None) == page_citation(5, "5") == "p5"


def test_a_hit_is_its_passage_with_rank_and_score() -> None:
    passage = Passage(source="r.pdf", title="Review", page=5, page_label="3", line=12, start=40,
                      end=47, lang="en", text="cobalt.")  # fmt: skip
    hit = Hit(**passage.passage_fields(), rank=2, score=0.1234567, chunk_id=9)
    assert hit.to_json() == {
        "rank": 2, "score": 0.123457, "source": "r.pdf", "title": "Review", "page": 5,
        "page_label": "3", "line": 12, "start": 40, "end": 47, "lang": "en", "text": "cobalt.",
        "chunk_id": 9, "citation": "r.pdf:p5:12", "missing": False,
    }  # fmt: skip
    assert Hit(**passage.passage_fields(), rank=1, score=0.5, chunk_id=9, missing=True).to_json()[
        "missing"
    ]
    assert hit.display_citation == "r.pdf:p5 (printed 3):12"
    unpaged = Passage(source="a.txt", page=None, line=3, start=0, end=2, lang="ko", text="양자")
    assert unpaged.citation == unpaged.display_citation == "a.txt:3"
    assert unpaged.passage_fields()["title"] is None


def test_hits_carry_the_printed_label(labelled_index: tuple[Settings, str], embedder) -> None:
    settings, source = labelled_index
    with Searcher(settings, encoder=embedder) as s:
        hits = s.search("cobalt recovered from spent battery cells", k=4)
        top = hits[0]
        assert (top.page, top.page_label) == (3, "1")
        assert top.citation == f"{source}:p3:{top.line}"  # the machine form is unchanged
        assert top.display_citation == f"{source}:p3 (printed 1):{top.line}"
        assert top.to_json()["page_label"] == "1"
        by_page = {h.page: h for h in s.search("preface committee", k=4)}
        assert by_page[2].page_label is None and by_page[2].display_citation.endswith(":p2:1")
        assert by_page[4].display_citation == f"{source}:p4:{by_page[4].line}"
        assert s.show(top.chunk_id).chunk.page_label == "1"
        assert {p.label for p in PAGES} == {
            row[0] for row in s.store.conn.execute("SELECT label FROM pages")
        }


def test_cli_shows_the_printed_label(labelled_index: tuple[Settings, str]) -> None:
    settings, source = labelled_index
    index = str(settings.index_dir)
    found = runner.invoke(app, ["search", "battery recycling cobalt", "--index", index, "--json"])
    assert found.exit_code == 0, found.output
    hit = json.loads(found.stdout)[0]
    assert (hit["page"], hit["page_label"], hit["citation"]) == (3, "1", f"{source}:p3:1")

    table = runner.invoke(app, ["search", "battery recycling cobalt", "--index", index, "-k", "1"])
    assert table.exit_code == 0, table.output
    assert "p3 (printed 1)" in table.stdout

    shown = runner.invoke(app, ["show", str(hit["chunk_id"]), "--index", index])
    assert shown.exit_code == 0, shown.output
    assert "page 3 (printed 1)," in shown.stdout
    data = json.loads(
        runner.invoke(app, ["show", str(hit["chunk_id"]), "--index", index, "--json"]).stdout
    )
    assert (data["page"], data["page_label"]) == (3, "1")
    assert set(hit) == HIT_JSON and set(data) == SHOW_JSON
    shared = HIT_JSON & SHOW_JSON
    assert {f: data[f] for f in shared} == {f: hit[f] for f in shared}
    assert data["title"] == "Annual review"

    status = runner.invoke(app, ["status", "--index", index, "--json"])
    assert status.exit_code == 0, status.output
    assert json.loads(status.stdout)["documents"] == 1
