"""Text cleaning, plain-text reflow, metadata and the reading-order geometry."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import numpy as np
import pytest

from pdfgen import pdf
from polyfind import cleaning
from polyfind.chunking import split_sentences
from polyfind.loaders import meta
from polyfind.loaders.layout import Word, build_lines, group_blocks, order_blocks
from polyfind.loading import load
from polyfind.records import Chunk, Document, Page
from polyfind.store import Store

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


# ------------------------------------------------------------------------ hard wraps


@pytest.mark.parametrize(
    ("left", "right", "joined"),
    [
        (
            "the advanced packaging tech-",
            "nology programme",
            "the advanced packaging technology programme",
        ),
        ("the U.S.-", "ROK dialogue", "the U.S.-ROK dialogue"),
        ("COVID-", "19 measures", "COVID-19 measures"),
        ("미국의 첨단 패키징", "분야 기술 리더십", "미국의 첨단 패키징 분야 기술 리더십"),
        ("日米の研究協力を", "進める。", "日米の研究協力を進める。"),
        ("量子技術と", "AIの協力", "量子技術とAIの協力"),
        ("산업·", "기술 동향", "산업·기술 동향"),
        ("research and", "development", "research and development"),
    ],
)
def test_join_lines(left: str, right: str, joined: str) -> None:
    assert cleaning.join_lines(left, right) == joined


def test_a_hyphen_the_document_writes_elsewhere_is_kept() -> None:
    hyphens = cleaning.HyphenWords(["a simple dual-encoder framework", "the dual-encoder"])
    assert cleaning.join_lines("a simple dual-", "encoder", hyphens) == "a simple dual-encoder"
    assert cleaning.join_lines("effi-", "cient", hyphens) == "efficient"


# ------------------------------------------------------------------- page furniture


def test_japanese_loses_the_spaces_before_latin_but_not_after_an_item_label() -> None:
    labels = "\n第1 事案の概要\n注3 本白書による\n(2) 原告は"
    text = "これは拡大する EC 市場についての説明です。" + labels
    assert cleaning.tighten_japanese(text) == "これは拡大するEC市場についての説明です。" + labels
    assert cleaning.ITEM_LABEL.fullmatch("第２") and cleaning.ITEM_LABEL.fullmatch("（３）")


def test_repeated_margin_lines_are_found() -> None:
    pages = [
        [("top", f"Page {n} of 48 Instructions for Form 1040NR"), ("bottom", f"-{n}-")]
        for n in range(1, 6)
    ]
    pages[2].append(("bottom", "A footnote only this page has"))
    drops = cleaning.repeated_margin_lines(pages)
    assert drops[0] == {0, 1}
    assert drops[2] == {0, 1}  # the footnote (index 2) stays
    assert cleaning.repeated_margin_lines([[("top", "Title")]]) == [set()]  # one page: keep


# --------------------------------------------------------------------------- garbage


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("7KHTXLFNEURZQIR[MXPSVRYHUWKHOD]\\GRJ 7KHTXLFNEURZQIR[MXPSVRYHUWKHOD]\\GRJ", "words"),
        ("\ue0e0cm", "private-use"),
        ("(cid:12)(cid:34)(cid:56) (cid:78)(cid:90)", "cid"),
        (
            " ".join(["The 0ederal 1overnment may re[uire this."] * 10),
            "replaced",
        ),
    ],
)
def test_garbage_text_layers_are_recognised(text: str, why: str) -> None:
    reason = cleaning.garbage_reason(text)
    assert reason is not None and why in reason


@pytest.mark.parametrize(
    "path",
    [
        "000_e733aa0cb703fbe8.txt",
        "004_58bd91241ebf471b.txt",
        "us_wh_2024-08-09_chips_two_years_fact_sheet.md",
        "us_nstc_2018-09_national_strategic_overview_qis.txt",
    ],
)
def test_real_text_is_not_garbage(path: str) -> None:
    assert cleaning.garbage_reason((CORPUS / path).read_text(encoding="utf-8")) is None


# ------------------------------------------------- text extracted from a PDF (002)


def test_text_extracted_from_a_pdf_is_reflowed_into_paragraphs() -> None:
    raw = (CORPUS / "002_9946d1ed990a9a11.txt").read_text(encoding="utf-8")
    assert cleaning.looks_extracted(raw)
    doc = load(CORPUS / "002_9946d1ed990a9a11.txt", "002.txt")
    text = doc.pages[0].text
    lines = text.split("\n")
    nonblank = [ln for ln in lines if ln.strip()]
    assert len(nonblank) < 0.7 * len([ln for ln in raw.split("\n") if ln.strip()])
    # a wrapped bullet is one line again
    assert (
        "- 국가첨단패키징제조프로그램(NAPMP)의 핵심 비전을 개괄하고, 미국의 첨단 패키징 분야 기술 "
        "리더십 강화를 위한 투자 분야를 구체화\n"
    ) in text
    # page numbers on lines of their own are gone
    assert not any(ln.strip() in {"1", "3", "❚ 2", "i ❚", "❚ ii"} for ln in lines)
    # every sentence-like unit starts where a sentence or an item starts: none begins with
    # the continuation of a wrapped line
    starts = {text[s : s + 12] for s, _ in split_sentences(text)}
    assert not any(s.startswith("분야 기술 리더십") for s in starts)


def test_ordinary_text_is_not_reflowed() -> None:
    for name in ("000_e733aa0cb703fbe8.txt", "003_71a9f3b054dab845.txt"):
        raw = (CORPUS / name).read_text(encoding="utf-8")
        assert not cleaning.looks_extracted(raw)
        doc = load(CORPUS / name, name)
        assert doc.pages[0].text.count("\n") == cleaning.normalize(raw).count("\n")


# -------------------------------------------------------------------------- metadata


def test_dates_are_iso() -> None:
    assert meta.date_from_text("- 발간일 2023-12-22\n") == "2023-12-22"
    assert meta.date_from_text("抄訳記事公開日:\n2024/01/24") == "2024-01-24"
    assert meta.date_from_text("公開日：2024年1月5日") == "2024-01-05"
    assert meta.date_from_text("Date: 2023-02-30") is None  # not a real day
    assert meta.pdf_date("D:20231222093000+09'00'") == "2023-12-22"
    assert meta.date_from_name("us_crs_2026-04.pdf") == "2026-04"


def test_corpus_documents_carry_title_date_and_author(tmp_path: Path) -> None:
    seed = load(CORPUS / "000_e733aa0cb703fbe8.txt", "000.txt")
    assert seed.date == "2023-12-22"
    ja = load(CORPUS / "004_58bd91241ebf471b.txt", "004.txt")
    assert ja.date == "2024-01-24"
    eo = load(CORPUS / "us_wh_2022-09-12_eo14081_biotechnology_biomanufacturing.md", "eo.md")
    assert eo.date == "2022-09-12"
    assert eo.title and eo.title.startswith("Executive Order on Advancing Biotechnology")
    note = tmp_path / "note.txt"
    note.write_text(
        "양자 기술 동향 브리프\n작성자: 홍길동\n발행일: 2024.3.5\n\n본문.\n", encoding="utf-8"
    )
    doc = load(note, "note.txt")
    assert (doc.title, doc.author, doc.date) == ("양자 기술 동향 브리프", "홍길동", "2024-03-05")


def test_the_author_is_stored_and_returned(tmp_path: Path) -> None:
    doc = Document("a.txt", "text", (Page(None, "Quantum.\n"),), "T", "2024-01-02", "en", "Kim")
    chunk = Chunk(source="a.txt", page=None, line=1, start=0, end=8, lang="en", text="Quantum.",
                  embed_text="Quantum.")  # fmt: skip
    store = Store.open(tmp_path / "index", create=True)
    with store.transaction():
        ids = store.add_document(
            doc,
            path="/x/a.txt",
            root="/x",
            hash="h",
            size=1,
            mtime_ns=1,
            chunks=[(0, chunk)],
            vectors=np.zeros((1, 4), dtype=np.float32),
        )
    assert store.documents()[0].author == "Kim"
    stored = store.chunks(ids)[ids[0]]
    assert stored.author == "Kim"
    assert stored.passage_fields() == {**chunk.passage_fields(), "title": "T"}
    store.close()


def test_an_index_made_before_authors_gets_the_column(tmp_path: Path) -> None:
    index = tmp_path / "index"
    Store.open(index, create=True).close()
    conn = sqlite3.connect(index / "polyfind.sqlite")
    conn.execute("ALTER TABLE documents DROP COLUMN author")
    conn.execute("UPDATE meta SET value = '1' WHERE key = 'schema'")  # they said format 1
    conn.commit()
    conn.close()
    store = Store.open(index, write=True)  # `polyfind index` migrates it
    columns = [r[1] for r in store.conn.execute("PRAGMA table_info(documents)")]
    assert columns[-1] == "author"
    store.close()


# ----------------------------------------------------------------- reading order


def _words(rows: list[tuple[float, float, float, str]]) -> tuple[list[Word], str]:
    """Words from (x0, x1, y0, text) rows (lines 10 units high), laid out in a page text."""
    text = ""
    words = []
    for x0, x1, y0, t in rows:
        start = len(text)
        text += t + " "
        words.append(Word(x0, x1, y0, y0 + 10, start, start + len(t)))
    return words, text


def test_lines_written_across_two_columns_are_read_column_by_column() -> None:
    # The PDF writes each row across both columns: left line, gutter, right line.
    rows = []
    for i in range(6):
        y = 100 + 12 * i
        rows += [
            (50, 90, y, f"L{i}a"),
            (95, 140, y, f"L{i}b"),
            (170, 210, y, f"R{i}a"),
            (215, 260, y, f"R{i}b"),
        ]
    words, text = _words(rows)
    lines = build_lines(words, text)
    assert [ln.text for ln in lines[:2]] == ["L0a L0b", "R0a R0b"]
    blocks = order_blocks(group_blocks(lines), geometric=True)
    assert [ln.text for b in blocks for ln in b.lines] == [f"L{i}a L{i}b" for i in range(6)] + [
        f"R{i}a R{i}b" for i in range(6)
    ]


def test_a_title_across_both_columns_comes_first() -> None:
    rows = [(50, 260, 80, "Title")]
    for i in range(3):
        rows += [(50, 140, 100 + 12 * i, f"L{i}"), (170, 260, 100 + 12 * i, f"R{i}")]
    words, text = _words(rows)
    blocks = order_blocks(group_blocks(build_lines(words, text)), geometric=True)
    order = [ln.text for b in blocks for ln in b.lines]
    assert order == ["Title", "L0", "L1", "L2", "R0", "R1", "R2"]


def test_letters_set_in_a_grid_are_a_word_and_a_table_stays_a_table() -> None:
    """Under a Japanese judgment, each judge's title and name letters sit in fixed fields
    ("裁判長裁判官  北  川  清"): one line each, the name one word, not a table. Rows of
    short cells that are not single letters (or are marks and digits) stay table rows."""
    from polyfind.loaders.layout import merge_table_rows

    def page(rows: list[list[tuple[float, str]]]) -> list[str]:
        words, text = _words(
            [(x, x + 12 * len(t), 100 + 100 * i, t) for i, r in enumerate(rows) for x, t in r]
        )
        return [ln.text for ln in merge_table_rows(build_lines(words, text))]

    grid = [318, 367, 416, 465]
    judges = [
        [(208, "裁判長裁判官"), (grid[0], "北"), (grid[1], "川"), (grid[3], "清")],
        [(244, "裁判官"), (grid[0], "新"), (grid[1], "海"), (grid[2], "寿加子")],
        [(244, "裁判官"), (grid[0], "道垣内"), (grid[2], "正"), (grid[3], "大")],
    ]
    assert page(judges) == [
        "裁判長裁判官\u3000北川清",
        "裁判官\u3000新海寿加子",
        "裁判官\u3000道垣内正大",
    ]
    marks = [[(200, "項目"), (grid[0], "○"), (grid[1], "×"), (grid[2], "○")]] * 2
    assert page(marks) == ["項目 | ○ | × | ○"] * 2
    cells = [[(208, "区分"), (318, "人員"), (416, "予算"), (514, "備考")]] * 2
    assert page(cells) == ["区分 | 人員 | 予算 | 備考"] * 2


def test_margin_line_numbers_are_not_text() -> None:
    from polyfind.loaders.layout import Block, Line, Word
    from polyfind.loaders.pdf import _line_numbers

    def block(*texts: str) -> Block:
        b = Block()
        for i, t in enumerate(texts):
            b.add(Line([Word(0, 1, i, i + 1, 0, 1)], t, 0, 1, i, i + 1))
        return b

    assert _line_numbers(block(" ".join(str(i) for i in range(1, 36))))
    assert _line_numbers(block("5", "10", "15", "20", "25"))
    assert not _line_numbers(block("2019 2020 2021 2022 2023"))  # years in a table
    assert not _line_numbers(block("182.6 161.1 150.6 165.8 166.1"))
    assert not _line_numbers(block("1", "2", "3"))


def test_superscript_mark_stays_with_its_word(tmp_path: Path) -> None:
    # A footnote mark set smaller and raised after "AI", its note at the foot of the page.
    ops = b"""BT /F1 11 Tf 72 700 Td (The rise of generative AI) Tj ET
BT /F1 7 Tf 205 705 Td (1) Tj ET
BT /F1 11 Tf 210 700 Td ( has changed how agencies work, and many) Tj ET
BT /F1 11 Tf 72 686 Td (ministries now publish guidance on its use in public services.) Tj ET
BT /F1 8 Tf 72 100 Td (1 Generative AI: models that produce text or images.) Tj ET
"""
    path = tmp_path / "note.pdf"
    path.write_bytes(pdf([ops]))
    text = load(path, path.name).pages[0].text
    assert "generative AI 1 has changed how agencies work, and many ministries" in text
    assert text.rstrip().endswith("1 Generative AI: models that produce text or images.")
