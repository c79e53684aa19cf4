"""polyfind.bench: the measuring helpers, the rendering of BENCHMARKS.md from benchmarks/*.json
(checked against the committed file), and each benchmark's code on tiny inputs."""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path

import numpy as np
import pytest

from polyfind.bench import extraction, measure, quality, scale, tables
from polyfind.bench.render import (
    RenderError,
    load_results,
    render,
    render_block,
    stale_blocks,
    write_result,
)
from polyfind.eval import ModeResult, first_relevant_rank, ranking_metrics

ROOT = Path(__file__).resolve().parents[1]
#: 57 pages, a few with ruled tables.
CRS = ROOT / "corpus" / "us_crs_r48694_federal_rd_funding_fy2026_2026-04.pdf"


# ------------------------------------------------------------------------ rendering
def test_a_hand_edited_number_is_found(tmp_path: Path) -> None:
    results = {"reliability": {"command": "pytest", "date": "2026-01-02", "columns": ["a", "b"],
                               "rows": [["x", "1"]]}}  # fmt: skip
    text = "intro\n<!-- begin: reliability -->\nold\n<!-- end: reliability -->\nafter\n"
    new = render(text, results)
    assert new.startswith(
        "intro\n<!-- begin: reliability -->\n\nMeasured 2026-01-02 with `pytest`."
    )
    assert "| x | 1 |" in new and new.endswith("<!-- end: reliability -->\nafter\n")
    assert stale_blocks(new, results) == []
    edited = new.replace("| x | 1 |", "| x | 2 |")
    assert stale_blocks(edited, results) == ["reliability"]
    assert render(edited, results) == new
    with pytest.raises(RenderError, match="no renderer"):
        render("<!-- begin: nope -->\n<!-- end: nope -->\n", results)
    with pytest.raises(RenderError, match="do not pair"):
        render("<!-- begin: reliability -->\n", results)
    with pytest.raises(RenderError, match="missing"):
        render_block("speed-scale", results)
    write_result(tmp_path, "reliability", results["reliability"])
    assert load_results(tmp_path) == results


def test_provenance_and_tables() -> None:
    r = {"command": "x --y", "date": "2026-01-02", "commit": "abc1234+", "machine": "2 cores"}
    r.update(load_start=1.0, load_end=3.5, clock="CPU seconds.", note="Converted")
    assert tables.provenance(r) == (
        "Measured 2026-01-02 with `x --y` at commit abc1234+ (2 cores; load average 1.0 at the "
        "start, 3.5 at the end). CPU seconds. Converted."
    )
    assert tables.table(["a", "b"], [[1, None]], "lr") == [
        "| a | b |",
        "|---|---:|",
        "| 1 | None |",
    ]
    assert tables.count({"hits": 3, "total": 4}) == "3/4" and tables.count(None) == "-"
    assert tables.f3(None) == "-" and tables.f3(0.12345) == "0.123"


def _quality_result(ceiling: float | None) -> dict[str, object]:
    modes = {m: {"mrr@10": v, "queries": 300} for m, v in
             (("dense", 0.9), ("lexical", 0.8), ("hybrid", 0.95))}  # fmt: skip
    return {"command": "q", "date": "d", "settings": {"chunk_tokens": 200},
            "sets": {"xquad-en": {"passages": 9, "modes": modes, "ceiling": ceiling,
                                  "hybrid_not_first": 12}}}  # fmt: skip


def test_quality_tables_compute_differences_and_goals() -> None:
    results = {"quality": _quality_result(0.97)}
    modes = render_block("quality-modes", results)
    assert "| xquad-en | 9 | 0.900 (reference 0.963) | 0.800 | 0.950 | +0.050 |" in modes
    ceiling = render_block("quality-ceiling", results)
    assert "| xquad-en | 0.900 | 0.800 | 0.950 | 0.930 | 0.970 | 12/300 |" in ceiling
    assert "xquad-en" not in render_block("quality-ceiling", {"quality": _quality_result(None)})


def test_speed_goals_say_when_a_goal_is_not_met() -> None:
    rows = {
        "polyfind fp32, batch 16": {"tokens_per_s": 100, "tokens_per_cpu_s": 50},
        "polyfind fp32, batch 64": {"tokens_per_s": 90, "tokens_per_cpu_s": 45},
        "polyfind bf16, batch 64": {"tokens_per_s": 200, "tokens_per_cpu_s": 100},
    }
    speed = {
        "index": {
            "inprocess_full": {"ratio": 0.95},
            "unchanged_cli_s": 0.3,
            "index_peak_rss_mb": 1900,
        },
        "embedding": {"batch_size": 16, "batch_big": 64, "rows": rows},
        "search": {"warm_p95_ms": 80.0},
        "cli": {
            "runs": 7,
            "queries": {"en": "q"},
            "help": {"quick": {"wall_ms": 60}},
            "search_en": {"quick": {"wall_ms": 140}},
            "search_ko": {"quick": {"wall_ms": 160}},
        },
    }
    precision = {"results": {"fp32": {"s": {"mrr@10": 0.9}}, "bf16": {"s": {"mrr@10": 0.895}}}}
    text = render_block("speed-goals", {"speed": speed, "precision": precision})
    assert "| warm search p95 < 50 ms | 80.0 ms | NOT met | Search |" in text
    assert "| re-index of the unchanged corpus < 2 s (CLI) | 0.3 s | met | Indexing |" in text
    assert "95% (whole corpus, wall clock) | met" in text
    assert "| peak memory of `polyfind index corpus` < 1.8 GB | 1900 MB | NOT met |" in text
    assert "| `polyfind --help` < 100 ms | 60 ms | met |" in text
    assert "| en 140 ms, ko 160 ms | NOT met |" in text  # the slowest language counts
    # bf16 / fp32 at batch 64: 2.22x wall and per CPU s; 0.005 lower: met
    assert "2.22x wall, 2.22x per CPU s" in text and "at most 0.0050 lower | met" in text
    assert "PDF extraction" not in text  # no extraction results given


# ------------------------------------------------------------------------ measure
def test_flop_per_token_by_hand() -> None:
    # one layer, h=2, f=4, L=3: 2 * (4*4 + 2*2*4) + 4*3*2 = 2 * 32 + 24 = 88
    assert measure.flop_per_token(3, layers=1, hidden=2, ffn=4) == 88
    assert measure.flop_per_token(0) == 12 * 2 * (4 * 384**2 + 2 * 384 * 1536)


def test_median_and_percentile_match_numpy() -> None:
    xs = [5.0, 1.0, 4.0, 2.0, 10.0, 3.0]
    for p in (0, 25, 50, 95, 100):
        assert measure.percentile(xs, p) == pytest.approx(float(np.percentile(xs, p)))
    assert measure.median(xs) == 3.5
    assert math.isnan(measure.median([])) and math.isnan(measure.percentile([], 50))


def test_best_cpu_returns_the_result_and_the_least_time() -> None:
    calls = []

    def work() -> int:
        calls.append(1)
        return sum(i * i for i in range(20_000))

    result, seconds = measure.best_cpu(work, 3)
    assert result == sum(i * i for i in range(20_000)) and len(calls) == 3
    assert 0 <= seconds < float("inf")
    with pytest.raises(ValueError):
        measure.best_cpu(work, 0)


def test_run_child_reports_output_status_and_its_own_peak_memory() -> None:
    code = (
        "import sys, time; b = bytearray(300 * 2**20); time.sleep(0.5); print('done'); sys.exit(3)"
    )
    run = measure.run_child([sys.executable, "-c", code])
    assert run.returncode == 3 and run.stdout.strip() == "done"
    assert run.peak_rss_mb >= 300
    assert measure.process_memory_mb(2**22 + 12345) is None  # no such process
    assert measure.process_memory_mb(os.getpid(), "VmRSS") == pytest.approx(measure.rss_mb())


def test_timed_process_counts_the_childs_cpu() -> None:
    from polyfind.bench import speed

    wall, cpu = speed.timed_process(
        [
            sys.executable,
            "-c",
            "import time\nt = time.process_time()\nwhile time.process_time() - t < 0.2: pass",
        ]
    )
    assert cpu >= 0.2 and wall >= cpu * 0.5
    with pytest.raises(RuntimeError, match="failed"):
        speed.timed_process([sys.executable, "-c", "raise SystemExit(2)"])
    assert Path(speed.console_script()).name == "polyfind"


def test_cli_start_rows() -> None:
    """The command-line rows of the "speed-search" block, rendered where measured."""
    cell = {"quick": {"wall_ms": 80, "cpu_ms": 60}, "typer": {"wall_ms": 300, "cpu_ms": 220}}
    searched = {**cell, "own": {"wall_ms": 400, "cpu_ms": 390}}
    cli = {"runs": 7, "queries": {"en": "chips"}, "help": cell, "search_en": searched}
    lines = tables._cli_start({**cli, "resident_rss_mb": 250.5})
    assert "| `polyfind --help` | 80 | 60 | - | - | 300 | 220 |" in lines
    assert "| `polyfind search QUERY --json`, en query | 80 | 60 | 400 | 390 | 300 | 220 |" in lines
    assert any("250.5 MB" in line for line in lines)
    assert tables._cli_start(None) == []


def test_run_info_names_the_machine_and_the_command() -> None:
    info = measure.run_info("cmd", extra=1)
    assert info["command"] == "cmd" and info["extra"] == 1
    assert "cores" in info["machine"] and "Python" in info["machine"]
    assert isinstance(info["load_start"], float)
    assert "numpy" not in measure.versions() and "faiss-cpu" in measure.versions()


# ------------------------------------------------------------------------ quality
def _mode(ranks: list[int | None]) -> ModeResult:
    return ModeResult("m", {}, len(ranks), 0.0, None, ranks)


def test_first_relevant_rank_and_mrr_agree() -> None:
    ranking = ["a", "b", "c"]
    assert first_relevant_rank(ranking, {"c": 1, "b": 0}) == 3
    assert first_relevant_rank(ranking, {"z": 1}) is None
    assert ranking_metrics(ranking, {"c": 1})["mrr@10"] == pytest.approx(1 / 3)
    far = [f"x{i}" for i in range(12)] + ["c"]
    assert first_relevant_rank(far, {"c": 1}) == 13
    assert ranking_metrics(far, {"c": 1})["mrr@10"] == 0.0


def test_ceiling_picks_the_best_ranking_per_query() -> None:
    modes = {"dense": _mode([1, 3, None, 12]), "lexical": _mode([2, 1, None, None])}
    assert quality.ceiling(modes) == pytest.approx((1 + 1 + 0 + 0) / 4)
    assert quality.not_first(modes["dense"]) == 3
    assert quality.ceiling({"dense": _mode([])}) is None
    assert quality.ceiling({"a": _mode([1]), "b": _mode([1, 2])}) is None


def test_find_sets_puts_the_monolingual_sets_first(tmp_path: Path) -> None:
    for name in ("ntrex-mixed", "xquad-en", "jsquad-ja", "not-a-set"):
        (tmp_path / "bench" / name).mkdir(parents=True)
        if name != "not-a-set":
            (tmp_path / "bench" / name / "corpus.jsonl").write_text("")
    korquad = tmp_path / "korquad-ko"
    korquad.mkdir()
    (korquad / "corpus.jsonl").write_text("")
    found = quality.find_sets(tmp_path / "bench", [korquad, tmp_path / "missing"])
    assert [p.name for p in found] == ["jsquad-ja", "korquad-ko", "xquad-en", "ntrex-mixed"]
    only = quality.find_sets(tmp_path / "bench", [korquad], ["xquad-en"])
    assert [p.name for p in only] == ["xquad-en"]


# ------------------------------------------------------------------------ extraction
def test_levenshtein_and_cer() -> None:
    assert extraction.levenshtein("kitten", "sitting") == 3
    assert extraction.levenshtein("", "abc") == 3
    assert extraction.cer("한국 어", "한국어") == 0.0  # whitespace is not judged
    assert extraction.cer("abcd", "abxd") == pytest.approx(0.25)
    assert extraction.cer("□ 협력", "디 협력") == pytest.approx(1 / 3)
    assert extraction.cer("□ 협력", "디 협력", letters_only=True) == pytest.approx(0.5)
    assert extraction.cer("ＡＢ", "AB") == 0.0  # NFKC


def test_pdf_speed_counts_pages_and_ruled_pages() -> None:
    result = extraction.pdf_speed([CRS], repeat=1, methods=("pypdfium2", "load_no_tables"))
    assert result["files"] == 1 and result["pages"] == 57
    assert 1 <= result["ruled_pages"] < 57
    assert set(result["pages_per_cpu_s"]) == {"pypdfium2", "load_no_tables"}
    assert all(v > 0 for v in result["pages_per_cpu_s"].values())


def test_table_finders_on_a_ruled_table() -> None:
    r = extraction.table_finders(CRS)
    assert r["pages"] == 57 and 1 <= r["ruled_pages"] <= r["pages"]
    assert r["pdfplumber_tables"] >= 1 and r["pdfium_tables"] >= 1


@pytest.mark.extra("tesseract", "noto-cjk")
def test_ocr_cer_of_a_drawn_english_page() -> None:
    import extras

    font = extras.noto_cjk()
    assert font is not None
    result = extraction.ocr_cer(ROOT / "corpus", font, langs=("en",))
    page = result["pages"]["en"]
    assert page["characters"] > 500 and page["cer"] < 0.05
    assert result["config"].startswith("--psm") and result["dpi"] > 0


# ------------------------------------------------------------------------ scale
def test_generator_points_are_unit_vectors_and_reproducible() -> None:
    real = np.random.default_rng(1).standard_normal((50, 8)).astype(np.float32)
    real /= np.linalg.norm(real, axis=1, keepdims=True)
    gen = scale.Generator(real, noise=0.3, block=100)
    a, b = gen.points(5, 250), gen.points(5, 250)
    assert a.shape == (250, 8) and np.array_equal(a, b)
    assert np.allclose(np.linalg.norm(a, axis=1), 1.0, atol=1e-5)
    assert not np.array_equal(gen.block(0), gen.block(1))
    stats = scale.similarity_stats(a, sample=100)
    assert -1 <= stats["pairwise"] <= stats["nn10"] <= stats["nn1"] <= 1


def test_truth_is_the_exact_top_10_over_blocks() -> None:
    rng = np.random.default_rng(2)
    x = rng.standard_normal((95, 6)).astype(np.float32)
    q = rng.standard_normal((4, 6)).astype(np.float32)
    truth = scale.Truth(q)
    for start in range(0, 95, 30):  # blocks of 30, the last one of 5
        truth.update(np.arange(start, min(start + 30, 95)), x[start : start + 30])
    exact = np.argsort(-(q @ x.T), axis=1)[:, :10]
    assert np.array_equal(truth.ids, exact)
    assert scale.recall_at_10(list(exact), truth.ids) == 1.0
    assert scale.recall_at_10([exact[0][:5], *exact[1:]], truth.ids) == pytest.approx(0.875)


def test_parse_variant() -> None:
    assert scale.parse_variant("ivf", 10, 0.5) == ("ivf", 10, 0.5)
    assert scale.parse_variant("flat@100", 10, 0.5) == ("flat", 100, 0.5)
    assert scale.parse_variant("ivf~0.8", 10, 0.5) == ("ivf", 10, 0.8)
    with pytest.raises(ValueError, match="unknown variant"):
        scale.parse_variant("hnsw", 10, 0.5)


def test_scale_build_and_search_in_child_processes(tmp_path: Path) -> None:
    real = np.random.default_rng(3).standard_normal((300, scale.DIM)).astype(np.float32)
    np.save(tmp_path / "real.npy", real / np.linalg.norm(real, axis=1, keepdims=True))
    results = scale.run_all(["flat", "ivf"], tmp_path / "real.npy", 6000, 10, [4, 8], block=2000)
    flat, ivf = results
    assert flat["n"] == ivf["n"] == 6000 and flat["real_vectors"] == 300
    assert flat["rows"][0]["recall@10"] == 1.0  # exact search finds the exact top 10
    assert [r["nprobe"] for r in ivf["rows"]] == [4, 8] and ivf["nlist"] > 0
    for r in results:
        assert r["removed_still_found"] == 0 and r["ntotal_after_remove"] == 6000 - 2 * scale.REMOVE
        assert r["build_child_peak_rss_mb"] > 0 and r["file_mb"] > 0


@pytest.mark.scale
@pytest.mark.extra("milvus")
def test_scale_milvus_variants_on_a_real_server(tmp_path: Path) -> None:
    """The Milvus rows: the same points in a milvus-lite server started by each phase;
    memory is the server's; deleted ids are gone."""
    real = np.random.default_rng(3).standard_normal((300, scale.DIM)).astype(np.float32)
    np.save(tmp_path / "real.npy", real / np.linalg.norm(real, axis=1, keepdims=True))
    (flat,) = scale.run_all(["milvus-flat"], tmp_path / "real.npy", 3000, 10, [4], block=1000)
    assert flat["n"] == 3000 and flat["rows"][0]["recall@10"] == 1.0  # FLAT is exact
    assert flat["removed_still_found"] == 0
    assert flat["ntotal_after_remove"] == 3000 - 2 * scale.REMOVE
    assert flat["build_peak_rss_mb"] > 0 and flat["server_peak_rss_mb"] >= flat["rss_mb_loaded"] > 0


@pytest.mark.extra("milvus-server")
def test_the_standalone_milvus_server_runs_only_where_loopback_is_all_it_sees(
    tmp_path: Path,
) -> None:
    """`make bench-scale`'s standalone Milvus listens on every interface: it is started in a
    network namespace of its own, whose only interface is loopback, and refuses elsewhere."""
    import socket
    import subprocess

    from polyfind.bench.milvus_server import in_private_network, milvus_standalone

    probe = "import socket; print([name for _, name in socket.if_nameindex()])"
    out = subprocess.run(
        in_private_network([sys.executable, "-c", probe]),
        capture_output=True, text=True, check=True, timeout=60,
    ).stdout  # fmt: skip
    assert out.strip() == "['lo']"
    if [name for _, name in socket.if_nameindex()] != ["lo"]:  # this machine has a network
        with (
            pytest.raises(RuntimeError, match="network namespace of its own"),
            milvus_standalone(tmp_path / "milvus"),
        ):
            pass
    assert not (tmp_path / "milvus").exists()  # refused before it wrote anything


# ------------------------------------------------------------------------ pinned pages
def test_pinned_pages_counts_excerpts_and_forbidden_text(tmp_path: Path) -> None:
    import shutil

    from polyfind.bench.questions import pinned_pages
    from polyfind.eval.pages import normalise
    from polyfind.loading import load

    shutil.copy(CRS, tmp_path / CRS.name)
    text = normalise(load(CRS, CRS.name).pages[0].text)
    first, later = text[:30], text[len(text) // 2 : len(text) // 2 + 30]
    folder = tmp_path / "pages"
    folder.mkdir()
    lines = [later, first, "not on this page at all", f"!! {first}", "!! Lorem ipsum"]
    (folder / f"{CRS.stem}-p1.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = pinned_pages(folder)
    assert (result["found"], result["excerpts"]) == (2, 3)
    assert (result["present"], result["forbidden"]) == (1, 2)
    assert result["in_order"] is False  # the later excerpt is listed first
    (page,) = result["pages"]
    assert page["missing"] == ["not on this page at all"] and page["present"] == [first]


def test_git_commit_marks_changed_code(tmp_path: Path) -> None:
    import subprocess

    from polyfind.bench.render import git_commit

    def git(*args: str) -> None:
        subprocess.run(["git", "-C", str(tmp_path), *args], check=True, capture_output=True)

    assert git_commit(tmp_path) is None  # not a repository
    git("init", "-q")
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "a.py").write_text("x = 1\n")
    (tmp_path / "notes.md").write_text("n\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    head = git_commit(tmp_path)
    assert head is not None and not head.endswith("+")
    (tmp_path / "notes.md").write_text("changed\n")  # not code: still the commit
    assert git_commit(tmp_path) == head
    (tmp_path / "src" / "b.py").write_text("y = 2\n")  # new code
    assert git_commit(tmp_path) == head + "+"


def test_settings_json_records_chunking_and_fusion() -> None:
    from polyfind.settings import Settings

    st = quality.settings_json(Settings(chunk_tokens=64, chunk_overlap=8, lexical_exponent=2.0), 30)
    assert (st["chunk_tokens"], st["chunk_overlap"], st["max_queries"]) == (64, 8, 30)
    assert st["lexical_exponent"] == 2.0 and set(quality.FUSION_KEYS) <= set(st)
    line = tables.settings_line({"settings": st})
    assert "chunks of 64 tokens with 8 of overlap" in line and "lexical_exponent=2" in line
