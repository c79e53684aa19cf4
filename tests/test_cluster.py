"""Indexing on a Dask cluster (``polyfind.cluster``): a real scheduler and two worker
processes on 127.0.0.1, started once for the module; the same index as in-process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from polyfind import Searcher, Settings, index_paths
from polyfind.bench.milvus_server import free_port
from polyfind.cli import app
from polyfind.cluster import batches, pieces, work_bytes
from polyfind.discover import FoundFile
from polyfind.store import Store

pytestmark = [pytest.mark.extra("dask"), pytest.mark.scale]

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
#: English, Korean and Japanese text, Markdown and a PDF.
FILES = (
    "000_e733aa0cb703fbe8.txt",
    "003_71a9f3b054dab845.txt",
    "004_58bd91241ebf471b.txt",
    "us_wh_2024-08-09_chips_two_years_fact_sheet.md",
    "us_wh_2023-12-08_us-rok_next-gen_cet_dialogue_joint_fact_sheet.md",
    "us_nist_ai-600-1_genai_profile_2024-07.pdf",
)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    """`polyfind ARGS` in a process of its own (as a user runs it)."""
    return subprocess.run(
        [sys.executable, "-m", "polyfind.cli", *args], capture_output=True, text=True, timeout=900
    )


def test_batches_by_size_and_count() -> None:
    def f(size: int) -> FoundFile:
        return FoundFile(f"x/{size}", Path(f"/x/{size}"), Path("/x"), size, 0, True)

    found = [f(s) for s in (10, 10, 10, 100, 5, 5, 5, 5)]
    assert batches(found, 30, 8) == [[0, 1, 2], [3], [4, 5, 6, 7]]
    assert batches(found, 1000, 3) == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert batches(found, 1, 8) == [[i] for i in range(8)]  # too big: a batch of its own
    assert batches([], 10, 2) == []


def test_batches_weigh_plain_text_by_its_passages() -> None:
    """A byte of plain text makes about 7 times the passages of a PDF byte (corpus/), so
    batches of equal work hold 7 times fewer text bytes."""

    def f(name: str, size: int) -> FoundFile:
        return FoundFile(f"x/{name}", Path(f"/x/{name}"), Path("/x"), size, 0, True)

    found = [f("a.pdf", 60), f("b.pdf", 60), f("c.txt", 10), f("d.md", 10), f("e.pdf", 10)]
    assert [work_bytes(x) for x in found] == [60, 60, 70, 70, 10]
    assert batches(found, 130, 8) == [[0, 1], [2], [3, 4]]


def test_pieces_cut_by_tokens_longest_first() -> None:
    """Embedding pieces: at most the token budget each (a bigger chunk alone), chunks of
    similar length together, every chunk in exactly one piece."""
    tokens = [10, 300, 40, 290, 5, 120, 600, 35]
    cut = pieces(tokens, 400)
    assert cut == [[6], [1], [3], [5, 2, 7, 0, 4]]
    assert sorted(i for p in cut for i in p) == list(range(len(tokens)))
    assert all(sum(tokens[i] for i in p) <= 400 or len(p) == 1 for p in cut)
    assert pieces([], 400) == []
    assert pieces([7, 7], 1) == [[0], [1]]


def test_cluster_and_workers_go_alone(tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app, ["index", str(tmp_path), "--cluster", "tcp://127.0.0.1:1", "--workers", "2"]
    )
    assert res.exit_code == 2 and "not both" in res.output


def test_unreachable_scheduler_is_one_line(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("A short note about batteries.", encoding="utf-8")
    address = f"tcp://127.0.0.1:{free_port()}"  # nothing listens there
    idx = str(tmp_path / "idx")
    out = _cli("index", str(tmp_path / "a.txt"), "--index", idx, "--cluster", address, "-q")
    assert out.returncode == 1, out
    lines = [line for line in out.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and address in lines[0] and "dask scheduler" in lines[0], out.stderr
    assert (
        not (tmp_path / "idx" / "polyfind.sqlite").exists()
        or not Store.open(tmp_path / "idx").documents()
    )


# -------------------------------------------------------------------- a real cluster
class Cluster:
    """A scheduler and its workers, each a process of its own (workers under a nanny, which
    starts a new worker process when one dies, as in a real deployment)."""

    def __init__(self, workers: int, log_dir: Path) -> None:
        self.address = f"tcp://127.0.0.1:{free_port()}"
        port = self.address.rsplit(":", 1)[1]
        self.procs: list[subprocess.Popen[bytes]] = []
        self._log_dir = log_dir
        self._start("scheduler", "distributed.cli.dask_scheduler", "--host", "127.0.0.1")
        self.procs[-1].args += ["--port", port]  # type: ignore[operator]
        for i in range(workers):
            self._start(
                f"worker-{i}",
                "distributed.cli.dask_worker",
                self.address,
                "--nthreads",
                "1",
                "--host",
                "127.0.0.1",
                "--name",
                f"w{i}",
            )
        from distributed import Client

        self.client = Client(self.address, timeout=60)
        self.client.wait_for_workers(workers, timeout=120)

    def _start(self, name: str, module: str, *args: str) -> None:
        extra = []
        if name == "scheduler":
            # Its health and metrics routes too on 127.0.0.1 (else 0.0.0.0:8787, even
            # without a dashboard).
            extra = ["--port", self.address.rsplit(":", 1)[1], "--dashboard-address", "127.0.0.1:0"]
        log = (self._log_dir / f"{name}.log").open("wb")
        self.procs.append(
            subprocess.Popen(
                [sys.executable, "-m", module, *args, *extra, "--no-dashboard"],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        )

    def worker_pids(self) -> dict[str, int]:
        return dict(self.client.run(os.getpid))

    def close(self) -> None:
        self.client.close()
        for p in reversed(self.procs):
            p.terminate()
        for p in self.procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    c = Cluster(2, tmp_path_factory.mktemp("dask-logs"))
    try:
        yield c
    finally:
        c.close()


@pytest.fixture(scope="module")
def docs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("docs")
    for name in FILES:
        (folder / name).write_bytes((CORPUS / name).read_bytes())
    return folder


@pytest.fixture(scope="module")
def here(tmp_path_factory: pytest.TempPathFactory, docs: Path) -> Settings:
    """``docs`` indexed in this process, as `polyfind index` does by default."""
    settings = Settings(index_dir=tmp_path_factory.mktemp("here") / "index")
    index_paths([str(docs)], settings)
    return settings


def _contents(
    settings: Settings,
) -> tuple[dict[tuple[str, int, int, int], tuple[str, str]], dict[str, str]]:
    """Every chunk's (document, page, start, end) -> (text, lexical terms), and the index's
    model meta. On a cluster the workers analyse the terms, not the writer."""
    store = Store.open(settings.index_dir)
    try:
        rows = store.conn.execute(
            "SELECT d.source, c.page, c.start, c.end, c.text, l.terms FROM chunks c "
            "JOIN documents d ON d.id = c.doc_id LEFT JOIN lexical l ON l.rowid = c.id"
        ).fetchall()
        meta = {k: v for k, v in store.meta().items() if k in ("model", "precision", "engine")}
    finally:
        store.close()
    assert all(r[5] is not None for r in rows)
    return {(Path(r[0]).name, r[1], r[2], r[3]): (r[4], r[5]) for r in rows}, meta


def _vectors(settings: Settings) -> dict[tuple[str, int, int], np.ndarray]:
    store = Store.open(settings.index_dir)
    try:
        dim = int(store.get_meta("dim") or 0)
        ids, vecs = store.all_vectors(dim)
        where = {
            int(r[0]): (Path(r[1]).name, r[2], r[3])
            for r in store.conn.execute(
                "SELECT c.id, d.source, c.page, c.start FROM chunks c "
                "JOIN documents d ON d.id = c.doc_id"
            )
        }
    finally:
        store.close()
    return {where[int(i)]: v for i, v in zip(ids, vecs, strict=True)}


def _same_index(a: Settings, b: Settings) -> None:
    chunks_a, meta_a = _contents(a)
    chunks_b, meta_b = _contents(b)
    assert meta_a == meta_b
    assert chunks_a == chunks_b
    va, vb = _vectors(a), _vectors(b)
    assert va.keys() == vb.keys()
    cos = min(float(va[k] @ vb[k]) for k in va)
    assert cos > 0.9999, cos
    questions = [
        "How much did the CHIPS Act invest in semiconductor manufacturing?",
        "반도체 공급망 협력",
        "生成AIのリスク管理",
    ]
    with Searcher(a) as sa, Searcher(b) as sb:
        for q in questions:
            ha = [(Path(h.source).name, h.page, h.start) for h in sa.search(q, mode="dense")]
            hb = [(Path(h.source).name, h.page, h.start) for h in sb.search(q, mode="dense")]
            assert ha == hb, q


@pytest.mark.slow
def test_cluster_index_is_the_in_process_index(
    cluster: Cluster, docs: Path, here: Settings, tmp_path: Path
) -> None:
    """`--cluster ADDRESS` through the CLI: the same chunks, vectors and dense hits; then an
    incremental run (one file edited, one deleted) matches a fresh in-process index."""
    folder = tmp_path / "docs"
    folder.mkdir()
    for name in FILES:
        (folder / name).write_bytes((docs / name).read_bytes())
    index = tmp_path / "on-cluster"
    res = _cli("index", str(folder), "--index", str(index), "--cluster", cluster.address, "--json")
    assert res.returncode == 0, res.stderr
    summary = json.loads(res.stdout)
    assert len(summary["added"]) == len(FILES) and not summary["skipped"]
    assert summary["chunks_total"] == summary["chunks_added"] > 0
    _same_index(here, Settings(index_dir=index))

    with (folder / FILES[1]).open("a", encoding="utf-8") as fh:
        fh.write("\n추가된 문단: 배터리 공급망에 관한 새로운 협력 계획.\n")
    (folder / FILES[0]).unlink()
    again = index_paths(None, Settings(index_dir=index, cluster=cluster.address))
    assert [Path(s).name for s in again.updated] == [FILES[1]]
    assert [Path(s).name for s in again.removed] == [FILES[0]]
    assert not again.added and not again.skipped
    fresh = Settings(index_dir=tmp_path / "fresh")
    index_paths([str(folder)], fresh)
    _same_index(fresh, Settings(index_dir=index))


@pytest.mark.slow
def test_a_worker_killed_mid_run_costs_nothing(
    cluster: Cluster, docs: Path, here: Settings, tmp_path: Path
) -> None:
    """One worker process killed (SIGKILL) while the run is under way: its tasks go to
    the other worker, the nanny starts a new worker, and the index is complete, every
    vector where it belongs though each file was embedded in pieces."""
    before = cluster.worker_pids()
    victim = sorted(before.values())[0]
    killed: list[int] = []

    class KillOnFirstCommit:
        def phase(self, name: str, total: int) -> None:
            pass

        def advance(self, n: int = 1) -> None:
            if not killed:
                os.kill(victim, signal.SIGKILL)
                killed.append(victim)

    settings = Settings(
        index_dir=tmp_path / "index",
        cluster=cluster.address,
        cluster_batch_files=1,
        cluster_piece_tokens=600,  # each file's chunks embedded in pieces on both workers
    )
    summary = index_paths([str(docs)], settings, progress=KillOnFirstCommit())
    assert killed and len(summary.added) == len(FILES) and not summary.skipped
    _same_index(here, settings)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:  # the nanny has started a new worker process
        after = cluster.worker_pids()
        if len(after) == 2 and victim not in after.values():
            break
        time.sleep(0.5)
    else:
        pytest.fail(f"no new worker after killing {victim}: {cluster.worker_pids()}")


@pytest.mark.slow
def test_local_workers_option(docs: Path, here: Settings, tmp_path: Path) -> None:
    """`--workers 2`: a local cluster started and stopped for the run, the same index."""
    index = tmp_path / "local"
    res = _cli("index", str(docs), "--index", str(index), "--workers", "2", "--json")
    assert res.returncode == 0, res.stderr
    assert "Nanny" not in res.stderr and "scheduler" not in res.stderr.lower(), res.stderr
    _same_index(here, Settings(index_dir=index))


@pytest.mark.slow
def test_kill_9_of_the_writer_on_a_cluster_leaves_a_consistent_index(
    cluster: Cluster, tmp_path: Path, tiny_model: Path
) -> None:
    """`kill -9` of `polyfind index --cluster` at moments spread over a run (the files
    changing between runs): the index opens and answers, each file holds an old or the new
    content with all its vectors, and the next run finishes the work. A tiny random model
    stands in for the real one (the test is about the commits, not retrieval)."""
    from consistency import check_consistent, run_or_kill, sha256

    model = tiny_model
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name in FILES:
        (corpus / name).write_bytes((CORPUS / name).read_bytes())
    index = tmp_path / "index"
    cmd = [
        sys.executable, "-m", "polyfind.cli", "index", str(corpus), "--index", str(index),
        "--model", str(model), "--cluster", cluster.address, "--quiet",
    ]  # fmt: skip
    history: dict[str, set[str]] = {}

    def mutate(step: int) -> None:
        for p in sorted(corpus.iterdir()):
            if p.suffix in (".md", ".txt"):
                with p.open("a", encoding="utf-8") as fh:
                    fh.write(f"\nRevision {step}: the battery plant added line {step}.\n")
            history.setdefault(str(p.resolve()), set()).add(sha256(p))

    mutate(0)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    full = time.perf_counter() - started
    before = check_consistent(index, model, history)
    kills, attempts, moments = 0, 0, (0.4, 0.8)
    while kills < len(moments) and attempts < 12:
        attempts += 1
        mutate(attempts)
        took = run_or_kill(cmd, full * moments[kills])
        if took is None:
            kills += 1
        else:
            full = took  # ended before its moment: try again
        after = check_consistent(index, model, history)
        assert after["documents"] >= before["documents"] - 1
        before = after
    assert kills == len(moments), f"only {kills} kills landed during a run"
    subprocess.run(cmd, check=True, capture_output=True, timeout=600)
    now = {str(p.resolve()): {sha256(p)} for p in corpus.iterdir()}
    final = check_consistent(index, model, now)
    assert final["documents"] == len(FILES)


@pytest.mark.slow
@pytest.mark.extra("milvus")
def test_cluster_into_milvus(
    cluster: Cluster, docs: Path, here: Settings, tmp_path: Path, milvus_uri: str
) -> None:
    """Embedded on the Dask workers, stored in Milvus: the same chunks, vectors and dense
    hits (searched through Milvus) as the in-process default store."""
    index = tmp_path / "dask-milvus"
    res = _cli(
        "index", str(docs), "--index", str(index), "--cluster", cluster.address,
        "--store", milvus_uri, "--json",
    )  # fmt: skip
    assert res.returncode == 0, res.stderr
    assert len(json.loads(res.stdout)["added"]) == len(FILES)
    _same_index(here, Settings(index_dir=index))
