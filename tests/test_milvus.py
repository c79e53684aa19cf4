"""The Milvus store (``--store milvus://``) against a real Milvus server on 127.0.0.1.

One server for the session (conftest.py ``milvus_uri``), the corpus indexed into it once
(``milvus_corpus``) with the real model, compared with the default store's index of the
same files (``corpus_index``): the same documents, pages and passages. The kill test uses
the tiny random model (it is about crash safety, not retrieval). `make test-scale` runs
these alone (``-m scale``).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from polyfind import Searcher, Settings, index_paths
from polyfind.errors import StoreUnavailableError
from polyfind.store import Store

sys.path.insert(0, str(Path(__file__).parent))
from consistency import check_consistent, sha256
from polyfind.bench.milvus_server import free_port

pytestmark = [pytest.mark.scale, pytest.mark.extra("milvus")]

ROOT = Path(__file__).resolve().parents[1]
QUESTIONS = ROOT / "bench" / "corpus-questions" / "questions.jsonl"


def _questions() -> list[dict[str, Any]]:
    return [json.loads(line) for line in QUESTIONS.read_text(encoding="utf-8").splitlines()]


def _cite(h: Any) -> tuple[str, int | None, int, int]:
    return (Path(h.source).name, h.page, h.start, h.end)


@pytest.fixture(scope="module")
def milvus_corpus(tmp_path_factory, corpus_index, corpus_dir: Path, milvus_uri: str) -> Settings:
    """The session's corpus index moved into the Milvus server (`polyfind index --store
    milvus://...` on an existing index: the vectors come from its store, nothing is embedded
    again, so both stores search the very same vectors)."""
    local, _ = corpus_index
    settings = Settings(index_dir=tmp_path_factory.mktemp("milvus-index") / "corpus")
    shutil.copytree(local.index_dir, settings.index_dir)
    summary = index_paths([str(corpus_dir)], settings, store=milvus_uri)
    assert not summary.added and not summary.skipped and summary.unchanged
    return settings


@pytest.fixture(scope="module")
def milvus_searcher(milvus_corpus: Settings, searcher: Searcher):
    s = Searcher(milvus_corpus, encoder=searcher.encoder)
    yield s
    s.close()


def _same_up_to_ties(a: list[Any], b: list[Any], tol: float = 1e-4) -> bool:
    """The same citations in the same order, except where neighbours' scores tie."""
    if [_cite(h) for h in a] == [_cite(h) for h in b]:
        return True
    if len(a) != len(b):
        return False
    for x, y in zip(a, b, strict=True):
        if _cite(x) != _cite(y) and abs(x.score - y.score) > tol:
            return False
    # what differs only swaps places among tied scores: the same set up to the last tie
    last = a[-1].score
    return {_cite(h) for h in a if h.score > last + tol} == {
        _cite(h) for h in b if h.score > last + tol
    }


def test_records_the_store_and_counts_the_same(
    milvus_corpus: Settings, milvus_searcher: Searcher, searcher: Searcher
) -> None:
    store = Store.open(milvus_corpus.index_dir)
    try:
        assert store.get_meta("store") is not None
        assert store.get_meta("store").startswith("milvus://127.0.0.1:")  # type: ignore[union-attr]
    finally:
        store.close()
    assert milvus_searcher.vectors.kind == "milvus-flat"
    assert milvus_searcher.vectors.ntotal == searcher.store.chunk_count()
    from polyfind.milvus import masked
    from polyfind.status import index_status

    assert index_status(milvus_corpus).store.startswith("milvus://127.0.0.1:")
    assert masked("milvus://bob:s3cr@t@host:1/db") == "milvus://bob:***@host:1/db"
    assert searcher.vectors.kind == "flat"


def test_dense_top10_same_as_default_store(milvus_searcher: Searcher, searcher: Searcher) -> None:
    """Dense mode: every corpus question's top 10 cites the same documents, pages and
    passages, in the same order (up to tied scores), with the same scores."""
    for q in _questions():
        ours = milvus_searcher.search(q["q"], k=10, mode="dense")
        theirs = searcher.search(q["q"], k=10, mode="dense")
        assert _same_up_to_ties(ours, theirs), q["id"]
        for x, y in zip(ours, theirs, strict=True):
            assert abs(x.score - y.score) < 1e-4, q["id"]


def test_searches_wait_for_recent_writes_only(
    milvus_corpus: Settings, milvus_searcher: Searcher, searcher: Searcher
) -> None:
    """Within ``FRESH_S`` of the index's last write a search waits for it (Strong
    consistency); later ones read with Bounded staleness, which a server answers without
    waiting for its next time tick, and find the same."""
    from polyfind.milvus import FRESH_S, WRITTEN_META

    store = Store.open(milvus_corpus.index_dir)
    before = store.get_meta(WRITTEN_META)
    assert before is not None  # stamped when the index was moved into Milvus
    try:
        for age, level in ((3600.0, "Bounded"), (FRESH_S / 3, "Strong")):
            with store.transaction():
                store.set_meta(WRITTEN_META, repr(time.time() - age))
            assert milvus_searcher.vectors._consistency() == level  # type: ignore[attr-defined]
            for q in _questions()[:6]:
                ours = milvus_searcher.search(q["q"], k=10, mode="dense")
                theirs = searcher.search(q["q"], k=10, mode="dense")
                assert _same_up_to_ties(ours, theirs), (level, q["id"])
    finally:
        with store.transaction():
            store.set_meta(WRITTEN_META, before)
        store.close()


def test_lang_filter_is_a_filter_expression(milvus_searcher: Searcher, searcher: Searcher) -> None:
    for langs in (["ja"], ["ko", "ja"]):
        ours = milvus_searcher.search(
            "quantum technology alliances", k=10, langs=langs, mode="dense"
        )
        theirs = searcher.search("quantum technology alliances", k=10, langs=langs, mode="dense")
        assert ours and all(h.lang in langs for h in ours)
        assert _same_up_to_ties(ours, theirs)


def test_hybrid_recalls_the_same_hits(milvus_searcher: Searcher, searcher: Searcher) -> None:
    """Hybrid mode fuses Milvus's BM25 (over polyfind's analysed terms) with the dense
    hits: the top 10 hold nearly the same passages as with FTS5, the first hit's document
    the same for nearly every question (BM25's idf differs: Milvus uses log(1 + ...))."""
    overlaps, same_first = [], 0
    for q in _questions():
        ours = [_cite(h) for h in milvus_searcher.search(q["q"], k=10, mode="hybrid")]
        theirs = [_cite(h) for h in searcher.search(q["q"], k=10, mode="hybrid")]
        overlaps.append(len(set(ours) & set(theirs)) / max(1, len(theirs)))
        same_first += ours[:1] == theirs[:1]
    n = len(overlaps)
    print(f"\nhybrid top-10 overlap {sum(overlaps) / n:.3f}, same first hit {same_first}/{n}")
    assert sum(overlaps) / n >= 0.8
    assert same_first >= 0.8 * n


def test_lexical_finds_what_fts5_finds(milvus_searcher: Searcher, searcher: Searcher) -> None:
    for q in _questions():
        ours = {_cite(h) for h in milvus_searcher.search(q["q"], k=10, mode="lexical")}
        theirs = [_cite(h) for h in searcher.search(q["q"], k=10, mode="lexical")]
        if theirs:
            assert theirs[0] in ours or len(ours & set(theirs)) >= 5, q["id"]


def test_serve_answers_from_milvus(milvus_corpus: Settings, searcher: Searcher) -> None:
    from polyfind.server import serving

    with serving(milvus_corpus) as server:
        url = server.url + "/search?" + urllib.parse.urlencode({"q": "양자 기술", "k": 3})
        with urllib.request.urlopen(url, timeout=120) as resp:
            hits = json.loads(resp.read())["hits"]
        with urllib.request.urlopen(server.url + "/status", timeout=60) as resp:
            status = json.loads(resp.read())
    assert len(hits) == 3 and all(h["source"] for h in hits)
    assert status["vector_index"]["kind"] == "milvus-flat"


# -- incremental runs, deletes, rebuild --------------------------------------------------------
def _state(settings: Settings, encoder: Any) -> tuple[int, list[Any]]:
    with Searcher(settings, encoder=encoder) as s:
        hits = s.search("semiconductor export controls", k=10, mode="dense")
        return s.store.chunk_count(), [(Path(h.source).name, h.page, h.start) for h in hits]


def test_incremental_delete_and_rebuild_match_the_default_store(
    tmp_path: Path, small_corpus: Path, milvus_uri: str, embedder, searcher: Searcher
) -> None:
    local = Settings(index_dir=tmp_path / "local")
    remote = Settings(index_dir=tmp_path / "remote")
    files = sorted(small_corpus.iterdir())
    spare = tmp_path / files[0].name
    shutil.move(files[0], spare)
    index_paths([str(small_corpus)], local, embedder=embedder)
    index_paths([str(small_corpus)], remote, embedder=embedder, store=milvus_uri)
    assert _state(local, searcher.encoder) == _state(remote, searcher.encoder)
    # a file added, then one deleted: incremental runs
    shutil.copy(spare, small_corpus / spare.name)
    for s in (local, remote):
        summary = index_paths([str(small_corpus)], s, embedder=embedder)
        assert [Path(p).name for p in summary.added] == [spare.name]
    assert _state(local, searcher.encoder) == _state(remote, searcher.encoder)
    (small_corpus / files[1].name).unlink()
    for s in (local, remote):
        summary = index_paths([str(small_corpus)], s, embedder=embedder)
        assert len(summary.removed) == 1
    n, hits = _state(remote, searcher.encoder)
    assert (n, hits) == _state(local, searcher.encoder)
    assert not any(name == files[1].name for name, _, _ in hits)
    # --rebuild writes the collection again, same answers
    index_paths([str(small_corpus)], remote, embedder=embedder, rebuild=True)
    assert _state(remote, searcher.encoder) == (n, hits)
    with Searcher(remote, encoder=searcher.encoder) as s:
        assert s.vectors.ntotal == n
    # moved back to the default store (FAISS rebuilt from the catalogue): same answers
    summary = index_paths([str(small_corpus)], remote, embedder=embedder, store="local")
    assert not summary.added
    assert _state(remote, searcher.encoder) == (n, hits)


# -- failures --------------------------------------------------------------------------------
def _cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyfind.cli", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_unreachable_server_is_one_line(tmp_path: Path, small_corpus: Path) -> None:
    port = free_port()  # nothing listens there
    uri = f"milvus://127.0.0.1:{port}"
    res = _cli(
        "index", str(small_corpus), "--index", str(tmp_path / "i"), "--store", uri, "--quiet",
        POLYFIND_MILVUS_TIMEOUT="2",
    )  # fmt: skip
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert f"127.0.0.1:{port}" in lines[0] and "start it" in lines[0]
    bad = _cli("index", str(small_corpus), "--index", str(tmp_path / "j"), "--store", "milvus:/x")
    assert bad.returncode == 1 and "milvus://HOST:PORT" in bad.stderr


def test_credentials_in_the_uri_are_used_and_never_recorded(monkeypatch) -> None:
    from polyfind.milvus import parse_uri, without_credentials

    monkeypatch.delenv("POLYFIND_MILVUS_TOKEN", raising=False)
    bare = without_credentials("milvus://ana:pa:ss@db.example:19530/reports?index=ivf")
    assert bare == "milvus://db.example:19530/reports?index=ivf"
    assert parse_uri(bare).token == "ana:pa:ss"  # this process keeps using them
    assert parse_uri("milvus://db.example:19530").token is None  # another server: none
    monkeypatch.setenv("POLYFIND_MILVUS_TOKEN", "bob:x")
    assert parse_uri("milvus://db.example:19530").token == "bob:x"


#: Run inside a network namespace of its own (``in_private_network``): a standalone Milvus
#: server that asks for credentials, and `polyfind index --store` against it without them,
#: with a wrong password, and with a wrong password recorded nowhere; prints JSON.
_AUTH_PROBE = """
import json, subprocess, sys
from pathlib import Path
from polyfind.bench.milvus_server import milvus_standalone
work, docs = Path(sys.argv[1]), sys.argv[2]
out = {}
with milvus_standalone(work / "milvus", authorization=True, stop_wait=5) as (uri, _):
    out["uri"] = uri
    host = uri.removeprefix("milvus://")
    for name, store in [("none", uri), ("wrong", f"milvus://root:n0tThePassword@{host}")]:
        cmd = [sys.executable, "-m", "polyfind.cli", "index", docs, "--index",
               str(work / name), "--store", store, "--quiet"]
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
        out[name] = [res.returncode, res.stderr]
print(json.dumps(out))
"""


@pytest.mark.extra("milvus-server")
def test_a_server_that_refuses_the_credentials_is_one_line(
    tmp_path: Path, small_corpus: Path
) -> None:
    """A Milvus server that asks for a user and password (the standalone server, in a network
    namespace of its own: milvus-lite has no authentication): without credentials, or with
    a wrong password, `index --store` ends in one line naming the server and how to give
    them, and the password is shown nowhere."""
    from polyfind.bench.milvus_server import in_private_network

    res = subprocess.run(
        in_private_network([sys.executable, "-c", _AUTH_PROBE, str(tmp_path), str(small_corpus)]),
        capture_output=True, text=True, timeout=600, cwd=ROOT,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    address = out["uri"].removeprefix("milvus://")
    for name in ("none", "wrong"):
        code, stderr = out[name]
        lines = stderr.strip().splitlines()
        assert code == 1 and len(lines) == 1, stderr
        assert address in lines[0] and "refused" in lines[0], lines[0]
        assert "POLYFIND_MILVUS_TOKEN=USER:PASSWORD" in lines[0], lines[0]
        assert "n0tThePassword" not in stderr
        assert not (tmp_path / name).exists()  # refused before an index folder was made


def test_missing_collection_is_one_line(
    tmp_path: Path, small_corpus: Path, milvus_uri: str, embedder
) -> None:
    from pymilvus import MilvusClient

    settings = Settings(index_dir=tmp_path / "gone")
    index_paths([str(small_corpus)], settings, embedder=embedder, store=milvus_uri)
    store = Store.open(settings.index_dir)
    name = store.get_meta("milvus_collection")
    store.close()
    client = MilvusClient(uri=milvus_uri.replace("milvus://", "http://"))
    client.drop_collection(name)
    client.close()
    res = _cli("search", "quantum", "--mode", "lexical", "--index", str(settings.index_dir))
    assert res.returncode == 1
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1, res.stderr
    assert name in lines[0] and "polyfind index --index" in lines[0] and milvus_uri in lines[0]
    with pytest.raises(StoreUnavailableError), Searcher(settings) as s:
        s.lexical("quantum", 5)
    # the writer puts it back from the store: the next run finishes the work
    index_paths([str(small_corpus)], settings, embedder=embedder)
    with Searcher(settings) as s:
        assert s.lexical("quantum", 5).hits
        assert s.vectors.ntotal == s.store.chunk_count()


# -- kill -9 -----------------------------------------------------------------------------------
KILLS = 4


def test_kill_9_mid_write_leaves_a_consistent_index(
    tmp_path: Path, tiny_model: Path, milvus_uri: str
) -> None:
    """`kill -9` of `polyfind index --store milvus://` at moments spread over a run of
    changed files: after each, searches see every committed passage once and nothing else
    (Milvus rows of the unfinished group invisible, replaced ones hidden before they are
    deleted); the next run finishes the work and leaves no stale row."""
    corpus = tmp_path / "corpus"
    shutil.copytree(ROOT / "corpus", corpus)
    for pdf in corpus.glob("*.pdf"):  # text files only: runs of a few seconds
        pdf.unlink()
    index = tmp_path / "index"
    cmd = [
        sys.executable, "-m", "polyfind.cli", "index", str(corpus), "--index", str(index),
        "--model", str(tiny_model), "--quiet",
    ]  # fmt: skip
    history: dict[str, set[str]] = {}

    def mutate(step: int) -> None:
        for p in sorted(corpus.glob("*.txt")):
            with p.open("a", encoding="utf-8") as fh:
                fh.write(f"\nRevision {step}: the quantum testbed programme added site {step}.\n")
        for p in corpus.iterdir():
            history.setdefault(str(p.resolve()), set()).add(sha256(p))

    mutate(-2)
    subprocess.run([*cmd, "--store", milvus_uri], check=True, capture_output=True)
    mutate(-1)
    started = time.perf_counter()
    subprocess.run(cmd, check=True, capture_output=True)
    full = time.perf_counter() - started
    check_consistent(index, tiny_model, history)
    killed = attempts = 0
    while killed < KILLS and attempts < 3 * KILLS:
        mutate(attempts)
        attempts += 1
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            proc.wait(timeout=full * (0.1 + 0.8 * (killed + 0.5) / KILLS))
            full = time.perf_counter() - started
        except subprocess.TimeoutExpired:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            killed += 1
        check_consistent(index, tiny_model, history)  # ntotal: visible rows == chunks
        with Searcher(Settings(index_dir=index, model=str(tiny_model))) as s:
            assert s.vectors.visible_chunks() == set(s.store.chunk_hashes())  # type: ignore[attr-defined]
    assert killed == KILLS, f"only {killed} kills landed during a run"
    subprocess.run(cmd, check=True, capture_output=True)
    current = {str(p.resolve()): {sha256(p)} for p in corpus.iterdir()}
    check_consistent(index, tiny_model, current)
    with Searcher(Settings(index_dir=index, model=str(tiny_model))) as s:
        vi: Any = s.vectors
        rows = sum(1 for _ in vi._rows(["chunk"]))
        assert rows == s.store.chunk_count()  # the repair left no stale row behind


@pytest.mark.slow
def test_eval_store_asks_a_moved_copy_with_the_same_metrics(
    tmp_path: Path, embedder: Any, milvus_uri: str
) -> None:
    """`polyfind eval --store URI` (what scripts/bench_store.py compares): the cached index
    is asked through a scratch copy moved to Milvus, nothing embedded again; dense search is
    exact in both stores, so the metrics are the same; the copy's collection is dropped and
    the cached index keeps its own store."""
    from pymilvus import MilvusClient

    from polyfind.eval import evaluate
    from polyfind.searchindex import store_uri
    from test_eval import _slice

    folder = _slice(tmp_path, "xquad-en", n=30)
    cache = tmp_path / "cache"
    run = dict(modes=["dense", "hybrid"], max_queries=40, cache_dir=cache, embedder=embedder)
    (local,) = evaluate([folder], Settings(), **run)  # type: ignore[arg-type]
    address = milvus_uri.replace("milvus://", "http://")
    client = MilvusClient(uri=address)
    before = set(client.list_collections())
    client.close()  # pymilvus shares one connection per address: polyfind's close() ends it
    (moved,) = evaluate([folder], Settings(), store=milvus_uri, **run)  # type: ignore[arg-type]
    assert moved.index_seconds == 0.0  # the cached index, not embedded again
    assert moved.results["dense"].metrics == pytest.approx(local.results["dense"].metrics)
    assert moved.results["dense"].ranks == local.results["dense"].ranks
    hybrid_a, hybrid_b = (r.results["hybrid"].metrics["mrr@10"] for r in (local, moved))
    assert abs(hybrid_a - hybrid_b) <= 0.05, (hybrid_a, hybrid_b)
    client = MilvusClient(uri=address)
    assert set(client.list_collections()) == before
    client.close()
    store = Store.open(Path(moved.index_dir))
    try:
        assert store_uri(store) is None
    finally:
        store.close()
