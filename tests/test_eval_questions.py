"""`polyfind eval QUESTIONS.jsonl`: the question-file loader and the page-level metrics on
hand-built hit lists, then three real reports of ../shared/reports-dev indexed with the real
model and their questions asked through the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind import Hit, index_paths
from polyfind.cli import app
from polyfind.eval import (
    Count,
    DatasetError,
    Question,
    QuestionReport,
    load_questions,
    score_question,
    summarize,
)
from polyfind.settings import Settings

REPORTS_DEV = Path(__file__).resolve().parents[2] / "shared" / "reports-dev"
#: Small reports of the dev set (17 pages in all) and the 6 questions about them (2 per language).
SUBSET = (
    "ja_jma_grib2_format_notes_2021.pdf",
    "ja_jtsb_accident_investigation_overview.pdf",
    "ko_kisa_education_training_guideline_2024.pdf",
)

runner = CliRunner()


def _write(path: Path, rows: list[object]) -> Path:
    lines = [r if isinstance(r, str) else json.dumps(r, ensure_ascii=False) for r in rows]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def _q(
    qid: str = "q1", lang: str = "en", expect: tuple[str, ...] = ("ko_a",), page: int | None = 3
):
    return Question(qid, f"question {qid}", lang, expect, page)


def _hits(*cited: tuple[str, int | None]) -> list[Hit]:
    return [
        Hit(rank=i, score=1.0 / i, chunk_id=i, source=src, page=page, line=1, start=0, end=10,
            lang="ko", text="passage")
        for i, (src, page) in enumerate(cited, 1)
    ]  # fmt: skip


# ------------------------------------------------------------------------------ the loader


def test_loader_reads_the_dev_set_format(tmp_path: Path) -> None:
    path = _write(
        tmp_path / "questions.jsonl",
        [
            {"id": "rd-en-01", "q": "Where is the office?", "lang": "en",
             "expect": ["ko_kisa_articles"], "page": 1, "answer": "Naju"},
            "",
            {"id": "cq01", "q": "fund size", "lang": "ja", "expect": "000_e7.txt", "page": None},
            {"id": "x", "q": "two names", "lang": "ko", "expect": ["a", "b"]},
        ],
    )  # fmt: skip
    qs = load_questions(path)
    assert qs == [
        Question("rd-en-01", "Where is the office?", "en", ("ko_kisa_articles",), 1),
        Question("cq01", "fund size", "ja", ("000_e7.txt",), None),
        Question("x", "two names", "ko", ("a", "b"), None),
    ]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("not json", r"q\.jsonl:2: not a JSON line"),
        ('["a list"]', "must be a JSON object"),
        ('{"id": "b", "lang": "en", "expect": ["x"], "page": 1}', "needs 'q'"),
        ('{"id": "b", "q": "?", "lang": "en", "page": 1}', "needs 'expect'"),
        ('{"id": "b", "q": "?", "lang": "en", "expect": [], "page": 1}', "'expect' must be"),
        ('{"id": "b", "q": "?", "lang": "en", "expect": [""], "page": 1}', "'expect' must be"),
        ('{"id": "b", "q": " ", "lang": "en", "expect": ["x"], "page": 1}', "'q' must be"),
        ('{"id": "b", "q": "?", "lang": "en", "expect": ["x"], "page": 0}', "'page' must be"),
        ('{"id": "b", "q": "?", "lang": "en", "expect": ["x"], "page": "3"}', "'page' must be"),
        ('{"id": "b", "q": "?", "lang": "en", "expect": ["x"], "page": true}', "'page' must be"),
        ('{"id": "a", "q": "?", "lang": "en", "expect": ["x"], "page": 1}', "'a' appears twice"),
    ],
)
def test_loader_names_the_line_of_a_bad_question(tmp_path: Path, line: str, message: str) -> None:
    good = {"id": "a", "q": "?", "lang": "en", "expect": ["x"], "page": 1}
    path = _write(tmp_path / "q.jsonl", [good, line])
    with pytest.raises(DatasetError, match=message):
        load_questions(path)


def test_loader_refuses_missing_empty_and_folders(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="does not exist"):
        load_questions(tmp_path / "nope.jsonl")
    with pytest.raises(DatasetError, match="holds no question"):
        load_questions(_write(tmp_path / "empty.jsonl", [""]))
    with pytest.raises(DatasetError, match="is a folder"):
        load_questions(tmp_path)


def test_the_bench_corpus_questions_are_in_the_same_format() -> None:
    path = Path(__file__).resolve().parents[1] / "bench/corpus-questions/questions.jsonl"
    qs = load_questions(path)
    assert len(qs) == 36
    assert {q.lang for q in qs} == {"en", "ja", "ko"}
    assert sum(q.page is not None for q in qs) == 10


# ----------------------------------------------------------------------------- the metrics


def test_first_hit_of_the_document_on_the_page() -> None:
    r = score_question(_q(), _hits(("d/en_x.pdf", 1), ("d/ko_a.pdf", 3), ("d/ko_a.pdf", 4)))
    assert (r.doc_rank, r.doc_page, r.page_rank) == (2, 3, 2)
    assert r.doc_citation == "d/ko_a.pdf:p3"
    assert r.flags() == {"document@5": True, "page@1": True, "page@5": True}
    assert r.reciprocal_rank == 0.5


def test_right_page_below_the_documents_first_hit() -> None:
    r = score_question(_q(), _hits(("ko_a.pdf", 9), ("en_x.pdf", 1), ("ko_a.pdf", 3)))
    assert (r.doc_rank, r.doc_page, r.page_rank) == (1, 9, 3)
    assert r.flags() == {"document@5": True, "page@1": False, "page@5": True}


def test_right_page_only_below_the_top_5() -> None:
    cited = [("ko_a.pdf", 1)] + [(f"en_{i}.pdf", 1) for i in range(5)] + [("ko_a.pdf", 3)]
    r = score_question(_q(), _hits(*cited))
    assert (r.doc_rank, r.page_rank) == (1, 7)
    assert r.flags() == {"document@5": True, "page@1": False, "page@5": False}


def test_document_only_below_the_top_5_fails_every_metric() -> None:
    cited = [(f"en_{i}.pdf", 1) for i in range(5)] + [("ko_a.pdf", 3)]
    r = score_question(_q(), _hits(*cited))
    assert (r.doc_rank, r.doc_page, r.page_rank) == (6, 3, 6)
    assert r.flags() == {"document@5": False, "page@1": False, "page@5": False}
    assert r.reciprocal_rank == pytest.approx(1 / 6)


def test_expected_document_absent() -> None:
    r = score_question(_q(), _hits(("en_x.pdf", 3), ("ja_y.pdf", 3)))
    assert (r.doc_rank, r.doc_page, r.doc_citation, r.page_rank) == (None, None, None, None)
    assert r.flags() == {"document@5": False, "page@1": False, "page@5": False}
    assert r.reciprocal_rank == 0.0
    assert score_question(_q(), []).document_at_5 is False


def test_question_without_a_page_scores_the_document_only() -> None:
    r = score_question(_q(page=None), _hits(("en_x.txt", None), ("ko_a.md", None)))
    assert (r.doc_rank, r.doc_page, r.doc_citation) == (2, None, "ko_a.md")
    assert r.flags() == {"document@5": True, "page@1": None, "page@5": None}
    # a page question about a document without pages cannot pass the page metrics
    r = score_question(_q(page=1), _hits(("ko_a.md", None)))
    assert r.flags() == {"document@5": True, "page@1": False, "page@5": False}


def test_any_expect_substring_matches_the_file_name_not_the_folder() -> None:
    q = _q(expect=("kisa_articles", "kisa_personnel"), page=8)
    r = score_question(q, _hits(("x/ko_kisa_personnel_2024.pdf", 8)))
    assert r.page_at_1 is True
    r = score_question(q, _hits(("kisa_articles/other.pdf", 8), ("ko_kisa_articles.pdf", 2)))
    assert (r.doc_rank, r.doc_page) == (2, 2)


def test_summary_counts_page_metrics_over_questions_with_a_page() -> None:
    results = [
        score_question(_q("a", "en"), _hits(("ko_a.pdf", 3))),  # all three
        score_question(_q("b", "en"), _hits(("ko_a.pdf", 2), ("ko_a.pdf", 3))),  # page@5 only
        score_question(_q("c", "ja", page=None), _hits(("x.pdf", 1), ("ko_a.pdf", 1))),
        score_question(_q("d", "ja"), _hits(("x.pdf", 3))),  # nothing
    ]
    s = summarize(results)
    assert (s.questions, s.with_page) == (4, 3)
    assert {k: str(c) for k, c in s.counts.items()} == {
        "document@5": "3/4",
        "page@1": "1/3",
        "page@5": "2/3",
    }
    assert s.mrr_at_10 == pytest.approx((1 + 1 + 0.5 + 0) / 4)
    report = QuestionReport("idx", "hybrid", 10, results)
    by_lang = report.by_lang()
    assert list(by_lang) == ["en", "ja"]
    assert str(by_lang["ja"].counts["page@1"]) == "0/1"
    assert [r.question.id for r in report.misses()] == ["b", "d"]
    data = report.to_json()
    assert data["page@5"] == {"hits": 2, "total": 3, "fraction": 0.6667}
    assert [d["id"] for d in data["details"]] == ["a", "b", "c", "d"]
    assert Count(0, 0).fraction is None and Count(0, 0).to_json()["fraction"] is None


# -------------------------------------------------------------------------------- the CLI


def test_cli_dispatch_and_missing_index(tmp_path: Path) -> None:
    qfile = _write(
        tmp_path / "q.jsonl", [{"id": "a", "q": "?", "lang": "en", "expect": ["x"], "page": 1}]
    )
    missing = tmp_path / "no-index"
    result = runner.invoke(app, ["eval", str(qfile), "--index", str(missing)])
    assert result.exit_code == 1
    assert result.stderr.count("\n") == 1
    assert f"`polyfind index <folder> --index {missing}`" in result.stderr
    assert not missing.exists()  # evaluating never creates an index
    both = runner.invoke(app, ["eval", str(qfile), str(tmp_path)])
    assert both.exit_code == 2 and "not both" in both.stderr
    index_on_beir = runner.invoke(app, ["eval", str(tmp_path), "--index", str(missing)])
    assert (
        index_on_beir.exit_code == 2 and "--index applies to question files" in index_on_beir.stderr
    )
    bad = _write(tmp_path / "bad.jsonl", ['{"id": "a"}'])
    result = runner.invoke(app, ["eval", str(bad), "--index", str(missing)])
    assert result.exit_code == 1 and "bad.jsonl:1" in result.stderr


@pytest.mark.slow
def test_eval_of_real_reports_through_the_cli(tmp_path: Path, embedder) -> None:
    if not all((REPORTS_DEV / name).is_file() for name in SUBSET):
        pytest.skip(f"{REPORTS_DEV} is not there (../shared/reports-dev)")
    stems = {Path(name).stem for name in SUBSET}
    lines = (REPORTS_DEV / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    rows = [json.loads(x) for x in lines if x.strip()]
    subset = [r for r in rows if set(r["expect"]) & stems]
    assert len(subset) == 6
    qfile = _write(tmp_path / "subset.jsonl", subset)
    index = tmp_path / "index"
    summary = index_paths(
        [str(REPORTS_DEV / name) for name in SUBSET], Settings(index_dir=index), embedder=embedder
    )
    assert len(summary.added) == 3 and not summary.skipped

    result = runner.invoke(app, ["eval", str(qfile), "--index", str(index), "--json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["questions"] == 6 and data["with_page"] == 6
    assert data["mode"] == "hybrid" and data["k"] == 10
    assert set(data["by_lang"]) == {"en", "ja", "ko"}
    assert all(v["questions"] == 2 for v in data["by_lang"].values())
    for name in ("document@5", "page@1", "page@5"):
        count = data[name]
        assert set(count) == {"hits", "total", "fraction"} and count["total"] == 6
    assert data["page@1"]["hits"] <= data["page@5"]["hits"] <= data["document@5"]["hits"]
    # cross-lingual questions find their report: all 6 today
    assert data["document@5"]["hits"] >= 5
    assert [d["id"] for d in data["details"]] == [r["id"] for r in subset]
    for d in data["details"]:
        assert set(d) >= {"id", "lang", "doc_rank", "doc_page", "page_rank", "document@5", "page@1"}
        if d["document@5"]:
            assert 1 <= d["doc_rank"] <= 5 and d["doc_page"] >= 1
        assert d["page@1"] == (d["document@5"] and d["doc_page"] == d["page"])

    table = runner.invoke(app, ["eval", str(qfile), "--index", str(index), "--misses"])
    assert table.exit_code == 0, table.stderr
    assert "document@5" in table.stdout and "page@1" in table.stdout
    assert f"{data['document@5']['hits']}/6" in table.stdout
    misses = [d for d in data["details"] if d["page@1"] is False]
    assert f"page@1 misses: {len(misses)}" in table.stdout
    for d in misses:
        assert d["id"] in table.stdout
