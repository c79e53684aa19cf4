"""`polyfind eval`: metrics on a hand-computed example, BEIR loading, a real 30-passage slice of
a shared benchmark set indexed through the pipeline with the real model, the CLI."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind.cli import app
from polyfind.eval import (
    DatasetError,
    dedupe,
    evaluate,
    load_dataset,
    passage_file_text,
    ranking_metrics,
)
from polyfind.settings import Settings

BENCH = Path(__file__).resolve().parents[2] / "shared" / "bench"
CONTRACT = {"ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100", "queries"}

runner = CliRunner()


def test_metrics_on_a_hand_computed_ranking() -> None:
    ranking = ["x", "a", "y", "b", "z"]
    relevant = {"a": 1, "b": 1, "c": 1}
    m = ranking_metrics(ranking, relevant)
    assert m["mrr@10"] == pytest.approx(0.5)
    assert m["recall@1"] == 0.0
    assert m["recall@5"] == pytest.approx(2 / 3)
    assert m["recall@100"] == pytest.approx(2 / 3)
    dcg = 1 / math.log2(3) + 1 / math.log2(5)
    idcg = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg@10"] == pytest.approx(dcg / idcg)
    assert m["all_relevant@3"] == 0.0
    perfect = ranking_metrics(["a", "b", "c"], relevant)
    assert perfect["ndcg@10"] == pytest.approx(1.0) and perfect["all_relevant@3"] == 1.0
    # graded judgements: linear gain, as trec_eval
    graded = ranking_metrics(["b", "a"], {"a": 2, "b": 1})
    assert graded["ndcg@10"] == pytest.approx((1 + 2 / math.log2(3)) / (2 + 1 / math.log2(3)))
    # a passage split into chunks counts once, at its best chunk
    assert dedupe(["p1", "p2", "p1", "p3"]) == ["p1", "p2", "p3"]


def _write_set(folder: Path, passages: list[dict], queries: list[dict], qrels: list[tuple]) -> Path:
    (folder / "qrels").mkdir(parents=True)
    with (folder / "corpus.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(p, ensure_ascii=False) + "\n" for p in passages)
    with (folder / "queries.jsonl").open("w", encoding="utf-8") as fh:
        fh.writelines(json.dumps(q, ensure_ascii=False) + "\n" for q in queries)
    with (folder / "qrels" / "test.tsv").open("w", encoding="utf-8") as fh:
        fh.write("query-id\tcorpus-id\tscore\n")
        fh.writelines(f"{q}\t{p}\t{s}\n" for q, p, s in qrels)
    return folder


def test_dataset_errors_are_clear(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="not a folder"):
        load_dataset(tmp_path / "nope")
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "corpus.jsonl").write_text('{"_id": "a", "text": "x"}\nnot json\n')
    with pytest.raises(DatasetError, match=r"corpus\.jsonl:2"):
        load_dataset(broken)
    result = runner.invoke(app, ["eval", str(tmp_path / "nope")])
    assert result.exit_code == 1
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1


def test_sampling_is_deterministic_and_title_is_the_first_line(tmp_path: Path) -> None:
    passages = [{"_id": f"p{i}", "title": "T", "text": f"text {i}"} for i in range(3)]
    queries = [{"_id": f"q{i}", "text": f"question {i}"} for i in range(50)]
    ds = load_dataset(_write_set(tmp_path / "s", passages, queries, [("q1", "p1", 1)]))
    assert [q.id for q in ds.judged_queries()] == ["q1"]
    assert passage_file_text(ds.passages[0]) == "T\n\ntext 0\n"
    many = _write_set(tmp_path / "m", passages, queries, [(f"q{i}", "p0", 1) for i in range(50)])
    ds = load_dataset(many)
    assert [q.id for q in ds.sample(10)] == [q.id for q in ds.sample(10)]
    assert len(ds.sample(10)) == 10 and len(ds.sample(None)) == 50


def _slice(tmp_path: Path, name: str, n: int = 30) -> Path:
    src = BENCH / name
    if not (src / "corpus.jsonl").is_file():
        pytest.skip(f"{src} is not there (../shared/bench)")
    lines = src.joinpath("corpus.jsonl").read_text(encoding="utf-8").splitlines()[:n]
    passages = [json.loads(x) for x in lines]
    ids = {p["_id"] for p in passages}
    qrels = []
    for line in src.joinpath("qrels/test.tsv").read_text(encoding="utf-8").splitlines()[1:]:
        q, p, s = line.split("\t")
        if p in ids:
            qrels.append((q, p, int(s)))
    wanted = {q for q, _, _ in qrels}
    queries = [
        json.loads(x)
        for x in src.joinpath("queries.jsonl").read_text(encoding="utf-8").splitlines()
        if json.loads(x)["_id"] in wanted
    ]
    return _write_set(tmp_path / name, passages, queries, qrels)


@pytest.mark.slow
def test_eval_on_a_real_slice_in_three_modes(tmp_path: Path, embedder) -> None:
    folder = _slice(tmp_path, "jsquad-ja")
    cache = tmp_path / "cache"
    (report,) = evaluate(
        [folder],
        Settings(),
        modes=["dense", "lexical", "hybrid"],
        max_queries=40,
        cache_dir=cache,
        embedder=embedder,
    )
    assert report.passages == 30 and report.chunks >= 30
    for mode in ("dense", "lexical", "hybrid"):
        res = report.to_json(mode)
        assert set(res) >= CONTRACT
        assert res["queries"] == 40
        assert all(0.0 <= float(res[k]) <= 1.0 for k in CONTRACT - {"queries"})  # type: ignore[arg-type]
        # 30 passages: everything is within the first 100
        assert res["recall@100"] == pytest.approx(1.0) or mode == "lexical"
    # Japanese questions about their own passages: lexical matching helps
    assert report.results["hybrid"].metrics["mrr@10"] >= report.results["dense"].metrics["mrr@10"]
    assert report.results["hybrid"].metrics["mrr@10"] > 0.8
    # the cached index is reused: no indexing the second time
    (again,) = evaluate(
        [folder], Settings(), modes=["lexical"], max_queries=40, cache_dir=cache, embedder=embedder
    )
    assert again.index_seconds == 0.0
    assert again.results["lexical"].metrics == report.results["lexical"].metrics

    # the CLI: --json keys for one set, an object keyed by set name for several
    other = _slice(tmp_path, "xquad-en", n=20)
    evaluate([other], Settings(), modes=["lexical"], cache_dir=cache, embedder=embedder)
    lexical = ["--mode", "lexical", "--json", "--cache-dir", str(cache)]
    one = runner.invoke(app, ["eval", str(folder), "--max-queries", "40", *lexical])
    assert one.exit_code == 0, one.stderr
    data = json.loads(one.stdout)
    assert set(data) >= CONTRACT and data["queries"] == 40
    both = runner.invoke(app, ["eval", str(folder), str(other), *lexical])
    assert both.exit_code == 0, both.stderr
    data = json.loads(both.stdout)
    assert set(data) == {"jsquad-ja", "xquad-en"}
    assert all(set(v) >= CONTRACT for v in data.values())
    table = runner.invoke(
        app, ["eval", str(folder), "--mode", "lexical", "--cache-dir", str(cache)]
    )
    assert table.exit_code == 0 and "MRR@10" in table.stdout and "jsquad-ja" in table.stdout


@pytest.mark.slow
def test_cli_search_mode_and_per_lang(corpus_index) -> None:
    settings, _ = corpus_index
    index = str(settings.index_dir)
    for mode in ("dense", "lexical", "hybrid"):
        result = runner.invoke(
            app, ["search", "battery recycling", "--index", index, "--json", "--mode", mode]
        )
        assert result.exit_code == 0, result.stderr
        assert json.loads(result.stdout)
    result = runner.invoke(
        app, ["search", "quantum", "--index", index, "--json", "--per-lang", "1"]
    )
    assert result.exit_code == 0, result.stderr
    assert sorted(h["lang"] for h in json.loads(result.stdout)) == ["en", "ja", "ko"]
    bad = runner.invoke(app, ["search", "quantum", "--index", index, "--mode", "fuzzy"])
    assert bad.exit_code == 1 and "unknown search mode 'fuzzy'" in bad.stderr
