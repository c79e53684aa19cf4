"""Small documents in the formats polyfind reads besides PDF and text, written the way their
applications write them: HTML (``PAGE``), Word (``write_docx``), Hangul (``write_hwpx``).
Used by the loaders' tests and the browser tests of the reader."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

KO = "양자 기술은 국가 경쟁력의 핵심으로 부상하고 있다."
JA = "日米韓は次世代の重要新興技術で協力を深める。"
EN = "The CHIPS Act funds advanced packaging research in the United States."

PAGE = f"""<!DOCTYPE html>
<html lang="ko"><head>
<meta charset="utf-8">
<title>양자 기술 동향 | 연구원</title>
<meta name="author" content="홍길동">
<meta property="article:published_time" content="2023-12-22T09:00:00+09:00">
<style>body {{ color: red }}</style>
<script>var tracking = "do not index me";</script>
</head><body>
<header class="site-header"><a href="/">Home</a> <a href="/about">About us</a></header>
<nav><ul><li><a href="/a">Menu one</a></li><li><a href="/b">Menu two</a></li></ul></nav>
<div class="breadcrumb"><a href="/">Home</a> &gt; <a href="/news">News</a></div>
<main>
  <h1>양자 기술 동향</h1>
  <p>{KO}
     두 번째 문장이 같은 문단에 이어진다.</p>
  <ul><li>{JA}</li><li>{EN}</li></ul>
  <table><tr><th>국가</th><th>투자</th></tr><tr><td>미국</td><td>10억 달러</td></tr></table>
  <div class="related"><a href="/x">Related story one</a> <a href="/y">Related two</a></div>
</main>
<aside>Sidebar: subscribe to our newsletter</aside>
<footer>Copyright 2023 Example Institute. All rights reserved.</footer>
</body></html>
"""


def write_docx(path: Path, *, page_breaks: bool = False) -> None:
    """A Word file as python-docx writes it: a heading, Korean text, a table, Japanese and
    English paragraphs (``page_breaks``: a page break before the Japanese)."""
    docx = pytest.importorskip("docx")
    d = docx.Document()
    d.core_properties.title = "한미 과학기술 협력 보고서"
    d.core_properties.author = "김철수"
    d.add_heading("1. 개요", level=1)
    d.add_paragraph(KO)
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([("국가", "투자"), ("일본", "5억 달러")]):
        for c, value in enumerate(row):
            table.cell(r, c).text = value
    if page_breaks:
        d.add_page_break()
    d.add_paragraph(JA)
    d.add_paragraph(EN)
    d.save(str(path))


_HP = "http://www.hancom.co.kr/hwpml/2011/paragraph"
_HS = "http://www.hancom.co.kr/hwpml/2011/section"


def _p(text: str, inner: str = "") -> str:
    run = f'<hp:run charPrIDRef="0"><hp:t>{text}</hp:t>{inner}</hp:run>'
    return f'<hp:p id="0" paraPrIDRef="0" styleIDRef="0">{run}</hp:p>'


def write_hwpx(path: Path) -> None:
    """A minimal HWPX package laid out as Hangul writes it (OWPML, KS X 6101)."""
    table = (
        '<hp:tbl rowCnt="2" colCnt="2">'
        + "".join(
            "<hp:tr>"
            + "".join(f"<hp:tc><hp:subList>{_p(cell)}</hp:subList></hp:tc>" for cell in row)
            + "</hp:tr>"
            for row in [("구분", "내용"), ("양자", "동맹국 협력")]
        )
        + "</hp:tbl>"
    )
    header = (
        "<hp:ctrl><hp:header><hp:subList>"
        + _p("머리말: 매 쪽 반복")
        + "</hp:subList></hp:header></hp:ctrl>"
    )
    section0 = (
        f'<?xml version="1.0" encoding="UTF-8"?><hs:sec xmlns:hs="{_HS}" xmlns:hp="{_HP}">'
        + _p("", header)
        + _p("양자 기술<hp:lineBreak/>동향 보고")
        + _p(KO)
        + _p("", table)
        + "</hs:sec>"
    )
    section1 = (
        f'<?xml version="1.0" encoding="UTF-8"?><hs:sec xmlns:hs="{_HS}" xmlns:hp="{_HP}">'
        + _p("발간일 2024-01-24")
        + _p(JA)
        + "</hs:sec>"
    )
    hpf = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        '<opf:package xmlns:opf="http://www.idpf.org/2007/opf/"><opf:metadata>'
        "<opf:title>양자 기술 동향</opf:title>"
        '<opf:meta name="creator" content="text">이영희</opf:meta>'
        '<opf:meta name="CreatedDate" content="text">2024-01-20T10:00:00Z</opf:meta>'
        "</opf:metadata></opf:package>"
    )
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("mimetype", "application/hwp+zip", compress_type=zipfile.ZIP_STORED)
        z.writestr("Contents/content.hpf", hpf)
        z.writestr("Contents/section0.xml", section0)
        z.writestr("Contents/section1.xml", section1)
