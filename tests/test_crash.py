"""Crash safety: `kill -9` of `polyfind index` at many moments never costs a consistent index.

The indexer runs as a real subprocess and is killed with SIGKILL at moments spread over a
full run; between kills the corpus changes (edits, deletions, additions). After every kill
the index must open, answer searches, and hold for each file either an old or the new
content, with every chunk's vector present and the FAISS index in step with the store.
A tiny random sentence-transformers model stands in for the real one here (the test is
about crash safety, not retrieval), so that a run takes seconds.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

from polyfind import Searcher, Settings

sys.path.insert(0, str(Path(__file__).parent))
from consistency import check_consistent, run_or_kill, sha256

pytestmark = pytest.mark.slow

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
#: Kill moments, spread evenly over 5-95% of a run; each kill costs a run (about 15 s here).
KILLS = 8


def _index_cmd(corpus: Path, index: Path, model: Path) -> list[str]:
    return [
        sys.executable, "-m", "polyfind.cli", "index", str(corpus),
        "--index", str(index), "--model", str(model), "--quiet",
    ]  # fmt: skip


def _mutate(corpus: Path, step: int, spare: Path, history: dict[str, set[str]]) -> None:
    """Edit every text file (so a run has work everywhere), and delete or restore a PDF."""
    for target in sorted(p for p in corpus.iterdir() if p.suffix in (".md", ".txt")):
        with target.open("a", encoding="utf-8") as fh:
            fh.write(f"\nRevision {step}: the quantum testbed programme added site {step}.\n")
    moved = corpus / spare.name
    if moved.exists():
        moved.unlink()
    else:
        shutil.copy(spare, moved)
    for p in corpus.iterdir():
        history.setdefault(str(p.resolve()), set()).add(sha256(p))


def test_kill_9_at_many_moments_leaves_a_consistent_index(tmp_path: Path, tiny_model: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    spare = corpus / "us_nist_ai-600-1_genai_profile_2024-07.pdf"
    spare_copy = tmp_path / spare.name
    shutil.move(spare, spare_copy)
    index = tmp_path / "index"
    history: dict[str, set[str]] = {}
    for p in corpus.iterdir():
        history.setdefault(str(p.resolve()), set()).add(sha256(p))

    subprocess.run(_index_cmd(corpus, index, tiny_model), check=True, capture_output=True)
    # one run over changed files to learn how long such a run takes
    _mutate(corpus, -1, spare_copy, history)
    started = time.perf_counter()
    subprocess.run(_index_cmd(corpus, index, tiny_model), check=True, capture_output=True)
    full = time.perf_counter() - started
    before = check_consistent(index, tiny_model, history)

    # Kill at KILLS moments spread over a run. A run that ends before its moment (the
    # machine got faster) does not count: its length becomes the new estimate and the same
    # moment is tried again, so the kills land mid-run however loaded the machine is.
    moments = [0.05 + 0.9 * (i + 0.5) / KILLS for i in range(KILLS)]
    killed_mid_run = attempts = 0
    while killed_mid_run < KILLS and attempts < 3 * KILLS:
        _mutate(corpus, attempts, spare_copy, history)
        attempts += 1
        took = run_or_kill(_index_cmd(corpus, index, tiny_model), full * moments[killed_mid_run])
        if took is None:
            killed_mid_run += 1
        else:
            full = took
        after = check_consistent(index, tiny_model, history)
        assert after["documents"] >= before["documents"] - 1
        before = after
    assert killed_mid_run == KILLS, f"only {killed_mid_run} kills landed during a run"

    # the next run finishes the work: the index then matches the files exactly
    subprocess.run(_index_cmd(corpus, index, tiny_model), check=True, capture_output=True)
    final = check_consistent(index, tiny_model, {p: {h} for p, h in _current(corpus).items()})
    indexable = [p for p in _current(corpus) if Path(p).suffix in (".md", ".txt", ".pdf")]
    assert final["documents"] == len(indexable) - 2  # README.md, PROVENANCE-en.md are ignored
    print(f"\n{KILLS} kills during a run, in {attempts} runs; a full run {full:.1f} s")


def _current(corpus: Path) -> dict[str, str]:
    return {str(p.resolve()): sha256(p) for p in corpus.iterdir() if not p.name.startswith(".")}


def test_search_answers_from_a_consistent_snapshot_while_indexing(
    tmp_path: Path, tiny_model: Path
) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(CORPUS, corpus)
    index = tmp_path / "index"
    history: dict[str, set[str]] = {}
    subprocess.run(_index_cmd(corpus, index, tiny_model), check=True, capture_output=True)
    _mutate(corpus, 0, corpus / "us_crs_r48694_federal_rd_funding_fy2026_2026-04.pdf", history)
    proc = subprocess.Popen(
        _index_cmd(corpus, index, tiny_model), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    searches = 0
    settings = Settings(index_dir=index, model=str(tiny_model))
    while proc.poll() is None or searches == 0:
        with Searcher(settings) as s:
            hits = s.search("semiconductor supply chain", k=5)
            assert hits  # a passage replaced since the search opened is left out, not garbled
            assert len({h.chunk_id for h in hits}) == len(hits)
            for h in hits:
                page = s.store.chunks([h.chunk_id]).get(h.chunk_id)
                assert page is None or page.text == h.text
        searches += 1
    assert proc.wait() == 0, proc.stderr.read() if proc.stderr else ""
    print(f"\n{searches} searches while indexing")
