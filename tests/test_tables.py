"""Ruled tables (``loaders/tables.py``): rows read as rows on real report pages, no false tables.

The real pages are read from ``../shared/reports-dev`` (never copied into the project); the
tests that need them are skipped where that folder is absent. The rest use synthetic cells.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pytest

from polyfind.loaders import tables
from polyfind.loaders.tables import (
    Table,
    build_table,
    find_tables,
    find_tables_pdfium,
    join_cell_lines,
    ruled_pages,
    table_text,
    to_pdf_bbox,
    to_top_left_bbox,
)

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / ".." / "shared" / "reports-dev"
needs_dev = pytest.mark.skipif(not DEV.is_dir(), reason="../shared/reports-dev is not here")


def _text(name: str, page: int) -> str:
    """All table text of a 1-based page, tables in page order."""
    found = find_tables(DEV / name, [page - 1])
    return "\n".join(table_text(t) for t in found[page - 1])


# ------------------------------------------------------------------------ real pages


@needs_dev
def test_kisa_merged_labels_and_spaces_from_glyph_gaps() -> None:
    # The text layer of this table has no space characters: spaces come from glyph gaps.
    text = _text("ko_kisa_personnel_regulation_2024.pdf", 25)
    for row in [
        "음주운전 유형 | 처리기준 | 비고",
        "혈중알코올농도가 0.08퍼센트 이상 0.2퍼센트 미만인 경우 | 정직",
        "2회 음주운전을 한 경우 | 파면 - 정직",
        "3회 이상 음주운전을 한 경우 | 파면",
        "음주운전으로 운전면허가 정지 또는 취소된 상태에서 운전을 한 경우 | 정직",
        "사망사고의 경우 | 파면",
        "면허취소 처분을 받은 경우 | 파면",
    ]:
        assert row in text
    assert "3 회 이상" not in text
    assert "음주운전징계기준" not in text
    # A label letter-spaced to fill a narrow cell stays one word; a word broken by the
    # cell's width is rejoined; the merged row label is repeated beside its values.
    assert (
        "음주운전으로 인적ㆍ물적 피해가 있는 교통사고를 일으킨 경우 | 사망사고의 경우 | 파면"
        in text
    )
    assert "직원이 음주운전을 한 경우 | 면허취소 처분을 받은 경우 | 파면" in text
    assert "「도로교통법」 제54조" in text


@needs_dev
def test_nikl_statistics_tables_and_no_heading_box() -> None:
    found = find_tables(DEV / "ko_nikl_2022_work_plan.pdf", [2])[2]
    text = "\n".join(table_text(t) for t in found)
    assert "연도 | ‘18년 | ‘19년 | ‘20년 | ‘21년 | 누적" in text
    assert (
        "원시 말뭉치* | 0.31억 어절 | 18억 어절 | 1.03억 어절 | 1.03억 어절 | 20.3억 어절" in text
    )
    assert "분석 말뭉치** | - | 11종 | 7종 | 8종 | 26종" in text
    # A table with no left border: the label column is still found.
    assert "전문가 감수, 사전 반영 | 2,208건 | 8,232건 | 10,286건 | 10,847건 | 12,230건" in text
    # The numbered heading box "1 | 성 과" (one row) is not a table.
    assert len(found) == 2
    assert "성 과" not in text
    assert all(t.page == 2 for t in found)


@needs_dev
def test_moef_dashed_rows_open_sides_and_headline_box() -> None:
    found = find_tables(DEV / "ko_moef_press_overseas_fdi_2025q2.pdf", [0])[0]
    text = "\n".join(table_text(t) for t in found)
    assert (
        "총투자 | 182.6 | 161.1 | 150.6 | 165.8 | 166.1 | 163.4 | 145.7 | 182.8 | 157.4 | 141.5"
        in text
    )
    assert "구분 | 금융보험업 | 제조업 | 정보통신업 | 부동산업 | 도·소매업" in text
    assert "‘25.2Q | 66.3 | 35.3 | 7.5 | 7.1 | 6.6" in text
    assert "증감률(%) | (△22.7) | (△13.2) | (44.4) | (△9.6) | (△74.7) | (△37.9) | (△70.6)" in text
    # The headline box above the tables is no table.
    assert len(found) == 3
    assert "141.5억 달러로" not in text
    # Tables in reading order, top to bottom; bboxes agree between both conventions.
    tops = [t.bbox[1] for t in found]
    assert tops == sorted(tops)
    for t in found:
        x0, bottom, x1, top = t.pdf_bbox
        assert (x0, x1) == (t.bbox[0], t.bbox[2])
        assert top > bottom


@needs_dev
def test_moef_country_labels_spread_across_their_cells() -> None:
    # Hwp spreads a short label over its cell ("미 국", "캐 나 다"): one word again.
    text = _text("ko_moef_press_overseas_fdi_2025q2.pdf", 5)
    for row in [
        "구분 | 2020년 | 2021년 | 2022년 | 2023년 | 2024년 | 2025년 1~6월",
        "미국 | 152.2 | 279.3 | 298.2 | 288.2 | 224.1 | 101.1",
        "캐나다 | 29.6 | 27.5 | 25.0 | 36.2 | 38.5 | 14.9",
        "케이맨 제도 | 67.8 | 109.1 | 94.8 | 64.3 | 67.1 | 36.0",
        "룩셈부르크 | 28.0 | 43.9 | 49.6 | 50.1 | 61.6 | 27.1",
        "아시아 | 191.7 | 186.3 | 203.0 | 113.8 | 129.4 | 62.4",
    ]:
        assert row in text
    assert "캐 나 다" not in text and "미 국" not in text


@needs_dev
def test_jma_dense_format_tables() -> None:
    text = _text("ja_jma_grib2_format_notes_2021.pdf", 1)
    assert (
        "最初の格子点の緯度（39～42オクテット） | 44129687（北緯44.129687度） | "
        "44130086（北緯44.130086度）"
    ) in text
    text = _text("ja_jma_grib2_format_notes_2021.pdf", 2)
    assert "第０節 | 指示節 | ８ | ＧＲＩＢ版番号 |  | 2" in text
    # Text set sideways in a cell reads in its own direction.
    assert "要素および水平面毎に、第４節～第７節を繰り返す" in text


@needs_dev
def test_the_loader_reads_tables_with_the_settings_it_is_given(tmp_path: Path) -> None:
    from polyfind.loading import load
    from polyfind.settings import Settings

    source = pdfium.PdfDocument(str(DEV / "ko_moef_press_overseas_fdi_2025q2.pdf"))
    first = pdfium.PdfDocument.new()
    try:
        first.import_pages(source, [0])
        first.save(str(tmp_path / "p1.pdf"))
    finally:
        first.close()
        source.close()
    row = "총투자 | 182.6 | 161.1 | 150.6"
    assert row in load(tmp_path / "p1.pdf", "p1.pdf").pages[0].text
    no_grid = Settings().with_(**{"extraction.tables.min_rules": 100})
    text = load(tmp_path / "p1.pdf", "p1.pdf", no_grid).pages[0].text
    assert row not in text and "182.6" in text


@needs_dev
def test_precheck_passes_table_pages_and_skips_prose() -> None:
    pdf = pdfium.PdfDocument(str(DEV / "ko_kisa_personnel_regulation_2024.pdf"))
    try:
        ruled = ruled_pages(pdf)
    finally:
        pdf.close()
    assert 24 in ruled
    # The articles before the annexes are prose without rules.
    assert not any(i < 10 for i in ruled)
    pdf = pdfium.PdfDocument(str(DEV / "ko_moef_press_overseas_fdi_2025q2.pdf"))
    try:
        assert 0 in ruled_pages(pdf)
    finally:
        pdf.close()


@needs_dev
@pytest.mark.parametrize(
    ("name", "page", "row"),
    [
        ("ko_kisa_personnel_regulation_2024.pdf", 25, "3회 이상 음주운전을 한 경우 | 파면"),
        ("ko_nikl_2022_work_plan.pdf", 3, "분석 말뭉치** | - | 11종 | 7종 | 8종 | 26종"),
        (
            "ko_moef_press_overseas_fdi_2025q2.pdf",
            1,
            "총투자 | 182.6 | 161.1 | 150.6 | 165.8 | 166.1 | 163.4 | 145.7 | 182.8 | 157.4",
        ),
    ],
)
def test_pdfium_backend_reads_the_same_rows(name: str, page: int, row: str) -> None:
    pdf = pdfium.PdfDocument(str(DEV / name))
    try:
        found = find_tables_pdfium(pdf, [page - 1])[page - 1]
    finally:
        pdf.close()
    text = "\n".join(table_text(t) for t in found)
    assert row in text
    assert text == _text(name, page)


@needs_dev
def test_encrypted_pdf_with_empty_user_password_opens() -> None:
    found = find_tables(DEV / "en_us_copyright_office_dmca_summary_1998.pdf", [0, 3])
    assert set(found) == {0, 3}


def test_sidebar_framed_by_rules_is_no_table() -> None:
    # CRS report, page 2: the summary's sidebar (report number, date, author names) sits in a
    # ruled frame that pdfplumber's finder takes for a table of one-cell rows.
    crs = ROOT / "corpus" / "us_crs_r48694_federal_rd_funding_fy2026_2026-04.pdf"
    assert find_tables(crs, [1]) == {1: []}


def test_unreadable_file_gives_no_tables(tmp_path: Path) -> None:
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4\nnot a pdf at all")
    assert find_tables(bad, [0]) == {}
    assert find_tables(bad, []) == {}


def test_failing_page_gives_no_tables(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    pdf = pdfium.PdfDocument.new()
    pdf.new_page(200, 200)
    pdf.new_page(200, 200)
    path = tmp_path / "two.pdf"
    pdf.save(str(path))
    pdf.close()

    def boom(page: Any, page_index: int, settings: dict[str, Any]) -> list[Table]:
        if page_index == 0:
            raise RuntimeError("pdfminer fell over")
        return []

    monkeypatch.setattr(tables, "_page_tables", boom)
    assert find_tables(path, [0, 1, 7]) == {0: [], 1: []}


# ------------------------------------------------------------------------ synthetic cells


def _chars(text: str, x: float, top: float, size: float = 10.0, gap: float = 0.0) -> list[dict]:
    """Characters of a line, one glyph per character, spaces as gaps (no space chars)."""
    out = []
    for ch in text:
        if ch == " ":
            x += size * 0.5
            continue
        out.append(
            {"text": ch, "x0": x, "x1": x + size, "top": top, "bottom": top + size, "size": size}
        )
        x += size + gap
    return out


def test_box_around_a_paragraph_is_no_table() -> None:
    chars = _chars("A paragraph in a box", 12, 12) + _chars("that wraps", 12, 26)
    assert build_table(0, (10, 10, 300, 40), [(10, 10, 300, 40)], chars, 800) is None


def test_paragraph_beside_an_equation_is_no_table() -> None:
    # A frame of two cells side by side, text in one and an empty equation slot: one row.
    chars = _chars("where x is the input", 12, 12)
    boxes = [(10, 10, 200, 40), (200, 10, 300, 40)]
    assert build_table(0, (10, 10, 300, 40), boxes, chars, 800) is None
    # Two rows but text in one column only: a framed list, no table.
    boxes = [(10, 10, 200, 40), (200, 10, 300, 40), (10, 40, 200, 70), (200, 40, 300, 70)]
    chars += _chars("and y the output", 12, 42)
    assert build_table(0, (10, 10, 300, 70), boxes, chars, 800) is None


def test_two_by_two_table_and_merged_label() -> None:
    boxes = [
        (0, 0, 100, 60),  # label spanning two rows
        (100, 0, 200, 30),
        (100, 30, 200, 60),
    ]
    chars = _chars("Label", 2, 2) + _chars("one", 102, 2) + _chars("two", 102, 32)
    table = build_table(3, (0, 0, 200, 60), boxes, chars, 800)
    assert table is not None
    assert table.rows == [["Label", "one"], ["Label", "two"]]
    assert table_text(table) == "Label | one\nLabel | two"
    assert table.pdf_bbox == (0, 740, 200, 800)
    no_carry = build_table(3, (0, 0, 200, 60), boxes, chars, 800, carry_labels=False)
    assert no_carry is not None
    assert no_carry.rows == [["Label", "one"], ["two"]]


def test_letter_spaced_and_negative_tracking() -> None:
    boxes = [(0, 0, 200, 30), (200, 0, 400, 30), (0, 30, 200, 60), (200, 30, 400, 60)]
    chars = (
        _chars("음주운전으로", 2, 2, gap=4.0)  # letter-spaced to fill the cell: one word
        + _chars("파면 정직", 202, 2, gap=-1.5)  # condensed letters, a real space
        + _chars("가나", 2, 32)
        + _chars("다라", 202, 32)
    )
    table = build_table(0, (0, 0, 400, 60), boxes, chars, 800)
    assert table is not None
    assert table.rows[0] == ["음주운전으로", "파면 정직"]


def test_short_korean_label_spread_over_its_cell() -> None:
    boxes = [(0, 0, 200, 30), (200, 0, 400, 30), (0, 30, 200, 60), (200, 30, 400, 60)]
    chars = (
        _chars("미국", 2, 2, gap=80.0)  # two letters at the two ends of the cell
        + _chars("음주 운전", 202, 2)  # ordinary words keep their space
        + _chars("가나", 2, 32)
        + _chars("다라", 202, 32)
    )
    table = build_table(0, (0, 0, 400, 60), boxes, chars, 800)
    assert table is not None
    assert table.rows[0] == ["미국", "음주 운전"]


def test_japanese_gets_no_spaces() -> None:
    boxes = [(0, 0, 200, 30), (200, 0, 400, 30), (0, 30, 200, 60), (200, 30, 400, 60)]
    chars = (
        _chars("最初の 格子点", 2, 2)
        + _chars("２０２４年 10月", 202, 2)
        + _chars("東経", 2, 32)
        + _chars("EC 市場", 202, 32)
    )
    table = build_table(0, (0, 0, 400, 60), boxes, chars, 800)
    assert table is not None
    assert table.rows == [["最初の格子点", "２０２４年10月"], ["東経", "EC市場"]]


def test_wrapped_cell_lines_join_like_prose() -> None:
    assert join_cell_lines(["circumvent-", "ing measures"]) == "circumventing measures"
    assert join_cell_lines(["short-", "Hand"]) == "short- Hand"
    assert join_cell_lines(["最初の格子点の", "緯度"]) == "最初の格子点の緯度"
    assert join_cell_lines(["최초 음주", "운전을 한", "경우"]) == "최초 음주 운전을 한 경우"
    # A Korean line running to the cell's edge breaks anywhere: the spacing model decides.
    assert join_cell_lines(["직원이 음주운", "전을 한 경우"], [True, False]) == (
        "직원이 음주운전을 한 경우"
    )


def test_table_text_format() -> None:
    assert table_text([["a", "b", "", ""], ["", "", ""], ["c", "", "d"]]) == "a | b\nc |  | d"


def test_coordinate_helpers_round_trip() -> None:
    bbox = (10.0, 20.0, 110.0, 70.0)
    pdf_box = to_pdf_bbox(bbox, 800.0)
    assert pdf_box == (10.0, 730.0, 110.0, 780.0)
    assert to_top_left_bbox(pdf_box, 800.0) == bbox
    shifted = to_pdf_bbox(bbox, 800.0, origin=(5.0, 5.0))
    assert shifted == (15.0, 735.0, 115.0, 785.0)
    assert to_top_left_bbox(shifted, 800.0, origin=(5.0, 5.0)) == bbox
