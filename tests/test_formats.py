"""HTML, Word (.docx) and Hangul (.hwpx) files, written by the tests themselves."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from makedocs import EN, JA, KO, PAGE, write_docx, write_hwpx
from polyfind.discover import discover
from polyfind.errors import LoadError
from polyfind.loading import load


def test_indexing_picks_up_the_new_formats(tmp_path: Path) -> None:
    for name in ("a.html", "b.HTM", "c.docx", "d.hwpx", "e.xlsx", "f.doc"):
        (tmp_path / name).write_bytes(b"x")
    found = {f.path.name: f.supported for f in discover(str(tmp_path))}
    assert found == {
        "a.html": True,
        "b.HTM": True,
        "c.docx": True,
        "d.hwpx": True,
        "e.xlsx": False,
        "f.doc": False,
    }


# ----------------------------------------------------------------------------- HTML


def test_html_main_text_without_navigation(tmp_path: Path) -> None:
    f = tmp_path / "page.html"
    f.write_text(PAGE, encoding="utf-8")
    doc = load(f, "page.html")
    assert doc.format == "html"
    assert [p.number for p in doc.pages] == [None]
    text = doc.pages[0].text
    assert text.startswith("양자 기술 동향\n\n")
    assert f"{KO} 두 번째 문장이 같은 문단에 이어진다." in text  # whitespace folded
    assert f"- {JA}\n\n- {EN}" in text
    assert "국가 | 투자\n\n미국 | 10억 달러" in text
    for boilerplate in ("Home", "Menu one", "News", "Related", "Sidebar", "Copyright", "tracking"):
        assert boilerplate not in text
    assert doc.title == "양자 기술 동향 | 연구원"
    assert doc.author == "홍길동"
    assert doc.date == "2023-12-22"


def test_html_without_main_uses_body_and_drops_link_lists(tmp_path: Path) -> None:
    links = "".join(f'<li><a href="/{i}">Section {i}</a></li>' for i in range(12))
    f = tmp_path / "legacy.htm"
    f.write_bytes(
        (
            '<html><head><meta http-equiv="Content-Type" content="text/html; charset=shift_jis">'
            f"</head><body><ul>{links}</ul><div><p>{JA}</p><p>{EN}</p></div></body></html>"
        ).encode("cp932")
    )
    doc = load(f, "legacy.htm")
    assert doc.pages[0].text == f"{JA}\n\n{EN}\n"
    assert doc.title == JA  # no <title>: the first line that reads like one


def test_empty_html_is_a_load_error(tmp_path: Path) -> None:
    f = tmp_path / "empty.html"
    f.write_text("  \n", encoding="utf-8")
    with pytest.raises(LoadError, match="empty HTML"):
        load(f, "empty.html")


# ----------------------------------------------------------------------------- DOCX


def test_docx_paragraphs_tables_and_properties(tmp_path: Path) -> None:
    f = tmp_path / "report.docx"
    write_docx(f)
    doc = load(f, "report.docx")
    assert doc.format == "docx"
    assert [p.number for p in doc.pages] == [None]  # no rendered layout: no page numbers
    assert (
        doc.pages[0].text == f"1. 개요\n\n{KO}\n\n국가 | 투자\n\n일본 | 5억 달러\n\n{JA}\n\n{EN}\n"
    )
    assert doc.title == "한미 과학기술 협력 보고서"
    assert doc.author == "김철수"
    assert doc.date is not None and len(doc.date) == 10  # created today (python-docx)


def test_docx_pages_from_word_layout(tmp_path: Path) -> None:
    """Word records where each page began when it last laid the document out."""
    src = tmp_path / "plain.docx"
    write_docx(src, page_breaks=True)
    f = tmp_path / "laid-out.docx"
    with zipfile.ZipFile(src) as zin, zipfile.ZipFile(f, "w") as zout:
        for item in zin.infolist():
            data = zin.read(item)
            if item.filename == "word/document.xml":
                # Word writes this marker in the first run of every page it lays out.
                data = data.replace(
                    b"<w:t>" + JA.encode(), b"<w:lastRenderedPageBreak/><w:t>" + JA.encode()
                )
            zout.writestr(item, data)
    doc = load(f, "laid-out.docx")
    assert [p.number for p in doc.pages] == [1, 2]
    assert doc.pages[0].text.endswith("일본 | 5억 달러\n")
    assert doc.pages[1].text == f"{JA}\n\n{EN}\n"


def test_damaged_docx_is_a_load_error(tmp_path: Path) -> None:
    f = tmp_path / "broken.docx"
    f.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(LoadError, match="damaged Word file"):
        load(f, "broken.docx")


# ----------------------------------------------------------------------------- HWPX


def test_hwpx_sections_tables_and_metadata(tmp_path: Path) -> None:
    f = tmp_path / "brief.hwpx"
    write_hwpx(f)
    doc = load(f, "brief.hwpx")
    assert doc.format == "hwpx"
    assert [p.number for p in doc.pages] == [None]
    text = doc.pages[0].text
    assert text == (
        f"양자 기술\n동향 보고\n\n{KO}\n\n구분 | 내용\n\n양자 | 동맹국 협력\n\n"
        f"발간일 2024-01-24\n\n{JA}\n"
    )
    assert "머리말" not in text  # running header
    assert doc.title == "양자 기술 동향"
    assert doc.author == "이영희"
    assert doc.date == "2024-01-24"  # the date the text states beats the file's creation date


def test_hwpx_without_sections_is_a_load_error(tmp_path: Path) -> None:
    f = tmp_path / "empty.hwpx"
    with zipfile.ZipFile(f, "w") as z:
        z.writestr("mimetype", "application/hwp+zip")
    with pytest.raises(LoadError, match="not an HWPX document"):
        load(f, "empty.hwpx")
