"""Hard pages of real Korean and Japanese reports read as a person reads them.

``../shared/reports-dev/pages`` pins, for eight pages of the development reports (Hwp
exports, a ministry press release, a two-column white paper, a court judgment, an encrypted
U.S. summary), the excerpts a correct extraction holds in reading order and the text it must
not hold (running headers, page numbers, words split at a line end). The files are read
from there, never copied into the project; the rule is the one in its README: NFC, every
run of whitespace one space, substring match.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from polyfind import Searcher, Settings
from polyfind.eval import load_questions, run_questions
from polyfind.eval.pages import PinnedPage, check_page, load_pinned
from polyfind.loading import load
from polyfind.records import Document

REPORTS = Path(__file__).resolve().parents[1].parent / "shared" / "reports-dev"
PAGES = REPORTS / "pages"

pytestmark = pytest.mark.skipif(
    not PAGES.is_dir(), reason="../shared/reports-dev is not here (the shared folder)"
)


def pinned_pages() -> list[PinnedPage]:
    return load_pinned(PAGES) if PAGES.is_dir() else []


@cache
def loaded(pdf: Path) -> Document:
    return load(pdf, pdf.name)


def page_text(p: PinnedPage) -> str:
    doc = loaded(p.pdf)
    return next(pg.text for pg in doc.pages if pg.number == p.page)


@pytest.mark.parametrize("p", pinned_pages(), ids=lambda p: p.name)
def test_pinned_page_holds_its_excerpts_in_reading_order(p: PinnedPage) -> None:
    result = check_page(p, page_text(p))
    assert not result.missing, f"{p.name}: {result.missing}\n--- page ---\n{page_text(p)}"
    assert result.in_order, p.name


@pytest.mark.parametrize("p", pinned_pages(), ids=lambda p: p.name)
def test_pinned_page_has_no_furniture_or_split_words(p: PinnedPage) -> None:
    assert not check_page(p, page_text(p)).present


def test_printed_page_labels_are_kept_with_the_page() -> None:
    doc = loaded(REPORTS / "ko_nikl_2022_work_plan.pdf")
    labels = {pg.number: pg.label for pg in doc.pages}
    assert labels[3] == "1"  # "- 1 -" printed on PDF page 3
    assert labels[1] is None  # the cover prints none
    white = loaded(REPORTS / "ja_mlit_white_paper_2025_ch1_sec1.pdf")
    assert {pg.number: pg.label for pg in white.pages}[25] == "28"


def test_no_made_up_space_after_half_width_japanese_brackets() -> None:
    # pdfium makes up a space after ｣ (U+FF63, half-width CJK punctuation) as between kanji.
    white = loaded(REPORTS / "ja_mlit_white_paper_2025_ch1_sec1.pdf")
    text = next(pg.text for pg in white.pages if pg.number == 23)
    assert "｢2020年基準｣パターンと｢生産性向上｣パターンの双方" in text


def test_dates_set_apart_in_a_right_aligned_column_read_with_their_line() -> None:
    """The revision history of the KISA articles sets each date's month and day in a
    column of its own ("2017." | "8. 23."): those gaps line up like a gutter, but a column
    of short fragments is not one (layout._fragment_follows)."""
    doc = loaded(REPORTS / "ko_kisa_articles_of_incorporation_2024.pdf")
    text = " ".join(doc.pages[0].text.split())
    for date in ("2017. 8. 23.", "2019. 12. 12.", "2020. 6. 10.", "2024. 7. 15."):
        assert date in text
    assert not any(ln.strip() in ("8. 23.", "6. 10.") for ln in doc.pages[0].text.splitlines())


def test_encrypted_report_with_an_empty_password_is_read() -> None:
    doc = loaded(REPORTS / "en_us_copyright_office_dmca_summary_1998.pdf")
    assert len(doc.pages) == 18
    assert "circumvent" in doc.pages[3].text


# ------------------------------------------------ questions asked across languages


@pytest.mark.slow
def test_cross_lingual_questions_find_the_report_and_cite_the_answer_page(
    reports_index: Settings,
) -> None:
    """36 questions, each in a language other than its report's, each answered on one page.
    Measured with these defaults (BENCHMARKS.md, "Citations"): 36/36 reports in the top 5,
    the report's first passage on the answer's page for 30/36 (20/36 before)."""
    with Searcher(reports_index) as searcher:  # the query engine `polyfind search` uses
        report = run_questions(load_questions(REPORTS / "questions.jsonl"), searcher)
    counts = report.overall.counts
    assert counts["document@5"].hits >= 35, report.overall
    assert counts["page@1"].hits >= 29, [r.question.id for r in report.misses()]


@pytest.mark.slow
def test_the_page_with_several_passages_about_the_question_comes_first(
    reports_index: Settings,
) -> None:
    """rd-en-03 (the retirement age): three passages of the article's page are candidates,
    one of an addendum page scores a little higher alone (``Settings.page_evidence``)."""
    questions = [q for q in load_questions(REPORTS / "questions.jsonl") if q.id == "rd-en-03"]
    with Searcher(reports_index) as searcher:
        helped = run_questions(questions, searcher).results[0]
    with Searcher(reports_index.with_(page_evidence=0.0)) as searcher:
        alone = run_questions(questions, searcher).results[0]
    assert helped.page_at_1, helped.doc_citation
    assert not alone.page_at_1, alone.doc_citation
    assert helped.doc_rank == alone.doc_rank  # documents rank as before


@pytest.mark.slow
def test_a_country_named_in_english_finds_its_korean_row(reports_index: Settings) -> None:
    """rd-en-07 (Canada's 2024 investment): the table row that names 캐나다 comes first in
    the Korean press release only through ``Settings.country_names``."""
    questions = [q for q in load_questions(REPORTS / "questions.jsonl") if q.id == "rd-en-07"]
    with Searcher(reports_index) as searcher:
        named = run_questions(questions, searcher).results[0]
    with Searcher(reports_index.with_(country_names=False)) as searcher:
        plain = run_questions(questions, searcher).results[0]
    assert named.page_at_1, named.doc_citation
    assert not plain.page_at_1, plain.doc_citation
    assert named.doc_rank == plain.doc_rank  # documents rank as before


#: Japanese questions about Korean reports whose answer pages only the Korean readings of
#: the question's kanji words bring first (sino.py): without them the report's title page
#: or contents, which name it, come first.
BRIDGED = ("rd-ja-01", "rd-ja-02", "rd-ja-05")


@pytest.mark.slow
def test_japanese_questions_reach_korean_articles_through_kanji_readings(
    reports_index: Settings,
) -> None:
    questions = [q for q in load_questions(REPORTS / "questions.jsonl") if q.id in BRIDGED]
    assert len(questions) == len(BRIDGED)
    with Searcher(reports_index) as searcher:
        bridged = run_questions(questions, searcher)
    with Searcher(reports_index.with_(sino_korean=False)) as searcher:
        plain = run_questions(questions, searcher)
    assert bridged.overall.counts["page@1"].hits == len(BRIDGED), bridged.misses()
    assert plain.overall.counts["page@1"].hits < len(BRIDGED)


@pytest.mark.slow
def test_printed_labels_reach_the_citations(reports_index: Settings) -> None:
    with Searcher(reports_index) as searcher:
        hits = searcher.search("국립국어원 2021년 평가 말뭉치 어절", k=10)
    nikl = [h for h in hits if "ko_nikl_2022_work_plan" in h.source and h.page == 3]
    assert nikl, [(h.source, h.page) for h in hits]
    assert nikl[0].page_label == "1"
    assert "p3 (printed 1)" in nikl[0].display_citation
