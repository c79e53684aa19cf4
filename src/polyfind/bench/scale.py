"""Scale: the vector index at a million synthetic vectors shaped like real ones.

Every synthetic point starts from a real chunk vector (for half of them a blend of two),
plus noise drawn from the principal components of the real vectors around their mean,
L2-normalised (``Generator``). Queries come from the same process (another seed) and are
not in the index; their exact top 10 is kept by brute force as the points are made
(``Truth``).

Each variant runs in two child processes (``python -m polyfind.bench.scale``), so that
their memory can be told apart:

1. build: train (IVF) on a sample, add every point in blocks, save the file; seconds and
   peak memory.
2. search: load the saved file as ``polyfind search`` does, then one query at a time
   through ``VectorIndex.search``: p50/p95 latency for k=10 and k=100, recall@10 against
   the exact top 10, for several nprobe; then remove ``REMOVE`` consecutive ids (one file's
   chunks) and check they are gone.

Variants: ``ivf`` is what vectors.py builds above ``Settings.exact_max_vectors``, ``flat``
the exact index below it, ``ivf-sq8`` (8-bit scalar-quantised lists) a comparison.
``milvus-ivf`` and ``milvus-flat`` put the same points in a Milvus server (milvus-lite's
engine on 127.0.0.1, ``milvus_server``) with the vector index ``--store milvus://...?index=``
makes (``milvus.vector_index_params``), one query at a time through ``MilvusClient.search``
(gRPC included); memory is the server process's. The build child starts the server, inserts
and waits for the index; the search child starts it again on the same data.
``milvus-server-ivf`` does the same on a standalone Milvus server (PyPI's ``milvus``,
``milvus_server.milvus_standalone``), which builds IVF_FLAT on each sealed segment and
applies nprobe; its children run in a network namespace of their own, where the server
reaches nothing but loopback; its searches read with ``Bounded`` staleness, as polyfind's
do once the index's last write is ``milvus.FRESH_S`` old (``Strong`` waits for the server's
next time tick, about 200 ms a search).
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .measure import peak_rss_mb, percentile, process_memory_mb, rss_mb
from .milvus_server import in_private_network

BLOCK = 100_000
DIM = 384
REMOVE = 200
#: Noise at which as many synthetic points as there are real vectors have the real ones'
#: similarity statistics (mean pairwise cosine, 1st and 10th nearest neighbour).
NOISE = 0.55
VARIANTS = ("ivf", "flat", "ivf-sq8", "milvus-ivf", "milvus-flat", "milvus-server-ivf")
#: A search of the index under test: (query, k) -> the ids found, best first.
Ask = Callable[[np.ndarray, int], np.ndarray]
#: Rows per Milvus insert call (as milvus.py writes; 4,000-row calls measured 2.3x slower per row
#: on milvus-lite).
MILVUS_BATCH = 1000


def real_vectors(index_dir: Path) -> np.ndarray:
    """An index's chunk vectors with its language projection applied (as FAISS holds them),
    distinct; or the vectors of a ``.npy`` file."""
    from ..language_bias import load_projection
    from ..store import Store

    if index_dir.suffix == ".npy":
        return np.unique(np.load(index_dir).astype(np.float32), axis=0)
    store = Store.open(index_dir)
    try:
        dim = int(store.get_meta("dim") or 0)
        _, vecs = store.all_vectors(dim)
        projection = load_projection(store.get_meta("model_name") or "")
    finally:
        store.close()
    if projection is not None:
        vecs = projection.apply(vecs)
    return np.unique(np.asarray(vecs, dtype=np.float32), axis=0)


class Generator:
    """Points ``normalise(base + noise * z)``: ``base`` a real vector or, for half the
    points, ``w r_i + (1 - w) r_j`` (w uniform in [0.5, 1]) so that the space between topics
    is populated too; ``z`` Gaussian with the real vectors' covariance around their mean."""

    def __init__(self, real: np.ndarray, noise: float = NOISE, block: int = BLOCK) -> None:
        self.real = real.astype(np.float64)
        centred = self.real - self.real.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        self.components = (s[:, None] / math.sqrt(len(real))) * vt
        self.noise = noise
        self.block_size = block

    def points(self, seed: int, n: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.real.shape[1]), dtype=np.float32)
        for start in range(0, n, 10_000):  # in slices: the noise draw is (m, rank) float64
            m = min(10_000, n - start)
            i = rng.integers(0, len(self.real), size=m)
            j = rng.integers(0, len(self.real), size=m)
            w = np.where(rng.random(m) < 0.5, 1.0, rng.uniform(0.5, 1.0, size=m))[:, None]
            base = w * self.real[i] + (1 - w) * self.real[j]
            base /= np.linalg.norm(base, axis=1, keepdims=True)
            x = base + self.noise * (
                rng.standard_normal((m, len(self.components))) @ self.components
            )
            out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    def block(self, b: int) -> np.ndarray:
        return self.points(1000 + b, self.block_size)

    def queries(self, n: int) -> np.ndarray:
        return self.points(7, n)


def similarity_stats(x: np.ndarray, sample: int = 1000) -> dict[str, float]:
    """Mean pairwise cosine and mean cosine to the 1st and 10th nearest neighbour."""
    idx = np.random.default_rng(0).choice(len(x), min(sample, len(x)), replace=False)
    c = x[idx] @ x.T
    c[np.arange(len(idx)), idx] = -2.0
    top = -np.sort(-c, axis=1)
    return {
        "pairwise": round(float(c[c > -2].mean()), 3),
        "nn1": round(float(top[:, 0].mean()), 3),
        "nn10": round(float(top[:, 9].mean()), 3),
    }


class Truth:
    """The exact top 10 ids of each query, kept up to date block by block."""

    def __init__(self, queries: np.ndarray) -> None:
        self.queries = queries
        self.scores = np.full((len(queries), 10), -2.0, dtype=np.float32)
        self.ids = np.full((len(queries), 10), -1, dtype=np.int64)

    def update(self, ids: np.ndarray, x: np.ndarray) -> None:
        s = self.queries @ x.T
        k = min(10, len(ids))
        top = np.argpartition(-s, k - 1, axis=1)[:, :k]
        cand_s = np.concatenate([self.scores, np.take_along_axis(s, top, axis=1)], axis=1)
        cand_i = np.concatenate([self.ids, ids[top]], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :10]
        self.scores = np.take_along_axis(cand_s, order, axis=1)
        self.ids = np.take_along_axis(cand_i, order, axis=1)


@dataclass
class Run:
    """One variant's parameters, passed to the child processes."""

    variant: str
    folder: str
    vectors_from: str
    n: int = 1_000_000
    queries: int = 200
    noise: float = NOISE
    nprobe: list[int] = field(default_factory=lambda: [16, 32, 48, 64])
    block: int = BLOCK

    def removed_ids(self) -> np.ndarray:
        return np.arange(self.n // 2, self.n // 2 + REMOVE, dtype=np.int64)


def _milvus_kind(variant: str) -> str:
    return "IVF_FLAT" if variant in ("milvus-ivf", "milvus-server-ivf") else "FLAT"


@contextlib.contextmanager
def _milvus(run: Run, data: Path) -> Iterator[tuple[Any, int]]:
    """A client of the run's Milvus server (started on ``data``) and the server's pid."""
    from pymilvus import MilvusClient

    from .milvus_server import milvus_process, milvus_standalone

    with contextlib.ExitStack() as stack:
        if run.variant == "milvus-server-ivf":
            uri, pid = stack.enter_context(milvus_standalone(data))
        else:
            uri, proc = stack.enter_context(milvus_process(data))
            pid = proc.pid
        client = MilvusClient(uri=uri.replace("milvus://", "http://"), timeout=600)
        try:
            yield client, pid
        finally:
            client.close()


def _server_mb(pid: int, key: str) -> int:
    """The server process's resident memory now (VmRSS) or at its peak (VmHWM), MB."""
    return round(process_memory_mb(pid, key) or 0)


def _blocks(
    run: Run, gen: Generator, truth: Truth | None, removed: list[np.ndarray]
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The run's points in blocks, with their ids; with ``truth``, each block updates it and
    leaves the vectors of the ids removed later in ``removed``."""
    gone = run.removed_ids()
    for b in range(math.ceil(run.n / run.block)):
        x = gen.block(b)[: run.n - b * run.block]
        ids = np.arange(b * run.block, b * run.block + len(x), dtype=np.int64)
        if truth is not None:
            truth.update(ids, x)
            removed.append(x[np.isin(ids, gone)])
        yield ids, x


def _save_truth(out: Path, truth: Truth, removed: list[np.ndarray]) -> None:
    """The queries, their exact top 10 and the vectors of the ids removed later, beside the
    index, for the search phase."""
    np.save(out / "queries.npy", truth.queries)
    np.save(out / "truth.npy", truth.ids)
    np.save(out / "removed.npy", np.concatenate(removed))


def _data_stats(gen: Generator) -> dict[str, Any]:
    """How the synthetic points compare with the real vectors (``similarity_stats``)."""
    return {
        "synthetic_stats": similarity_stats(gen.points(99, 20_000)),
        "synthetic_stats_same_count": similarity_stats(gen.points(98, len(gen.real))),
        "real_stats": similarity_stats(gen.real.astype(np.float32)),
        "real_vectors": len(gen.real),
    }


def build_milvus(run: Run, gen: Generator, truth: Truth) -> dict[str, Any]:
    """Insert the points into a new collection of a Milvus server whose data stays in the
    run's folder; flush and wait until every row is indexed."""
    from pymilvus import DataType

    from ..milvus import vector_index_params

    removed: list[np.ndarray] = []
    with _milvus(run, Path(run.folder) / "milvus") as (client, pid):
        schema = client.create_schema(auto_id=False)
        schema.add_field("id", DataType.INT64, is_primary=True)
        schema.add_field("vector", DataType.FLOAT_VECTOR, dim=DIM)
        params = client.prepare_index_params()
        params.add_index(field_name="vector", **vector_index_params(_milvus_kind(run.variant)))
        client.create_collection(
            "bench", schema=schema, index_params=params, consistency_level="Strong"
        )
        started = time.perf_counter()
        for ids, x in _blocks(run, gen, truth, removed):
            for s in range(0, len(x), MILVUS_BATCH):
                rows = [
                    {"id": int(i), "vector": v}
                    for i, v in zip(ids[s : s + MILVUS_BATCH], x[s : s + MILVUS_BATCH], strict=True)
                ]
                client.insert("bench", rows)
        insert_s = time.perf_counter() - started
        t = time.perf_counter()
        client.flush("bench")
        while True:  # milvus-lite reports the state, not the row counts (they stay 0)
            info = client.describe_index("bench", "vector")
            if info.get("state") == "Finished" and not info.get("pending_index_rows"):
                break
            time.sleep(1)
        index_s = time.perf_counter() - t
        peak = _server_mb(pid, "VmHWM")
    size = sum(f.stat().st_size for f in (Path(run.folder) / "milvus").rglob("*") if f.is_file())
    _save_truth(Path(run.folder), truth, removed)
    return {
        "variant": run.variant,
        "noise": run.noise,
        "n": run.n,
        "nlist": vector_index_params(_milvus_kind(run.variant))["params"].get("nlist"),
        "train_s": 0.0,
        "add_s": round(insert_s, 1),
        "index_wait_s": round(index_s, 1),
        "build_s": round(time.perf_counter() - started, 1),
        "file_mb": round(size / 2**20, 1),
        "build_peak_rss_mb": peak,
        "client_peak_rss_mb": round(peak_rss_mb()),
        **_data_stats(gen),
    }


def search_milvus(run: Run) -> dict[str, Any]:
    """Start the server on the built data, load the collection, measure searches at each
    nprobe, then delete ids and check they are gone."""
    from ..milvus import vector_search_params

    out = Path(run.folder)
    queries = np.load(out / "queries.npy")
    truth = np.load(out / "truth.npy")
    kind = _milvus_kind(run.variant)
    # milvus-lite answers at once either way; a server waits for its next time tick under
    # "Strong" (the collection's level)
    consistency = "Bounded" if run.variant == "milvus-server-ivf" else "Strong"
    with _milvus(run, out / "milvus") as (client, pid):
        t = time.perf_counter()
        client.load_collection("bench")
        load_s = time.perf_counter() - t
        loaded = _server_mb(pid, "VmRSS")

        def asker(nprobe: int, level: str = consistency) -> Ask:
            def ask(q: np.ndarray, k: int) -> np.ndarray:
                res = client.search(
                    "bench", data=[q.tolist()], anns_field="vector", limit=k,
                    search_params=vector_search_params(kind, nprobe), consistency_level=level,
                )  # fmt: skip
                return np.asarray([h["id"] for h in res[0]], dtype=np.int64)

            return ask

        _latencies(asker(run.nprobe[0]), queries[:10], 10)  # warm up
        nprobes = run.nprobe if kind == "IVF_FLAT" else [0]
        rows = [_row(asker(nprobe), queries, truth, nprobe) for nprobe in nprobes]
        gone = run.removed_ids()
        times = []
        for ids in (gone, gone + REMOVE):
            t = time.perf_counter()
            client.delete("bench", ids=[int(i) for i in ids])
            times.append(round((time.perf_counter() - t) * 1000, 1))
        ask = asker(run.nprobe[-1], "Strong")  # sees the deletes
        still_found = sum(
            int(np.isin(ask(v, 10), gone).any()) for v in np.load(out / "removed.npy")[:50]
        )
        peak = _server_mb(pid, "VmHWM")
        count = client.query(
            "bench", filter="", output_fields=["count(*)"], consistency_level="Strong"
        )[0]["count(*)"]
    return {
        "load_s": round(load_s, 1),
        "rss_mb_loaded": loaded,
        "server_peak_rss_mb": peak,
        "rows": rows,
        "remove_ms": times,
        "removed_still_found": still_found,
        "ntotal_after_remove": int(count),
    }


def build(run: Run) -> dict[str, Any]:
    """Make the points, build and save the index; the queries, their truth and the vectors
    of the ids removed later go beside it."""
    import faiss

    from ..vectors import VectorIndex, nlist_for

    gen = Generator(real_vectors(Path(run.vectors_from)), run.noise, run.block)
    queries = gen.queries(run.queries)
    truth = Truth(queries)
    if run.variant.startswith("milvus"):
        return build_milvus(run, gen, truth)
    removed: list[np.ndarray] = []

    def blocks(update_truth: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        return _blocks(run, gen, truth if update_truth else None, removed)

    started = time.perf_counter()
    train_s = 0.0
    nlist = nlist_for(run.n)
    if run.variant == "flat":
        vi = VectorIndex.empty(DIM)
    else:
        need = 40 * nlist
        sample = np.concatenate([gen.block(b) for b in range(math.ceil(need / run.block))])[:need]
        t = time.perf_counter()
        if run.variant == "ivf":
            vi = VectorIndex.trained(sample, run.n)
        else:  # ivf-sq8
            index = faiss.IndexIVFScalarQuantizer(
                faiss.IndexFlatIP(DIM), DIM, nlist, faiss.ScalarQuantizer.QT_8bit,
                faiss.METRIC_INNER_PRODUCT,
            )  # fmt: skip
            index.cp.spherical = True
            index.cp.niter = 10
            index.train(sample)
            vi = VectorIndex(index, DIM, None)
        train_s = time.perf_counter() - t
        del sample
    t = time.perf_counter()
    if run.variant == "ivf":  # as VectorIndex.from_store fills it: two passes
        passes = iter([True, False])
        vi.fill(lambda: blocks(next(passes)))
    else:
        for ids, x in blocks(True):
            vi.add(ids, x)
    add_s = time.perf_counter() - t
    out = Path(run.folder)
    path = vi.save(out, 1)
    _save_truth(out, truth, removed)
    return {
        "variant": run.variant,
        "noise": run.noise,
        "n": vi.ntotal,
        "nlist": vi.nlist,
        "train_s": round(train_s, 1),
        "add_s": round(add_s, 1),
        "build_s": round(time.perf_counter() - started, 1),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "build_peak_rss_mb": round(peak_rss_mb()),
        **_data_stats(gen),
    }


def _latencies(ask: Ask, queries: np.ndarray, k: int) -> tuple[list[float], list[np.ndarray]]:
    """Each query asked once: milliseconds, and the ids found."""
    times, results = [], []
    for q in queries:
        t = time.perf_counter()
        results.append(ask(q, k))
        times.append((time.perf_counter() - t) * 1000)
    return times, results


def _row(ask: Ask, queries: np.ndarray, truth: np.ndarray, nprobe: int) -> dict[str, Any]:
    """One row of the table: recall@10 and p50/p95 latency for k=10 and k=100."""
    times10, found = _latencies(ask, queries, 10)
    times100, _ = _latencies(ask, queries, 100)
    return {
        "nprobe": nprobe,
        "recall@10": round(recall_at_10(found, truth), 4),
        "p50_ms": round(percentile(times10, 50), 2),
        "p95_ms": round(percentile(times10, 95), 2),
        "p50_ms_k100": round(percentile(times100, 50), 2),
        "p95_ms_k100": round(percentile(times100, 95), 2),
    }


def recall_at_10(found: Sequence[np.ndarray], truth: np.ndarray) -> float:
    return float(
        np.mean(
            [len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]
        )
    )


def search(run: Run) -> dict[str, Any]:
    """Load the built index, measure searches at each nprobe and the removal of ids."""
    import faiss

    from ..vectors import VectorIndex

    if run.variant.startswith("milvus"):
        return search_milvus(run)
    out = Path(run.folder)
    queries = np.load(out / "queries.npy")
    truth = np.load(out / "truth.npy")
    t = time.perf_counter()
    vi = VectorIndex(faiss.read_index(str(out / "vectors-1.faiss")), DIM, None)
    load_s = time.perf_counter() - t
    rss_loaded = rss_mb()

    def ask(q: np.ndarray, k: int) -> np.ndarray:
        ids: np.ndarray = vi.search(q, k)[1]
        return ids

    _latencies(ask, queries[:10], 10)  # warm up
    rows = []
    for nprobe in run.nprobe if vi.kind == "ivf" else [0]:
        vi.nprobe = nprobe or vi.nprobe
        rows.append(_row(ask, queries, truth, nprobe))
    gone = run.removed_ids()
    times = []
    for ids in (gone, gone + REMOVE):
        t = time.perf_counter()
        removed = vi.remove(ids)
        times.append(round((time.perf_counter() - t) * 1000, 1))
        if removed != REMOVE:
            raise RuntimeError(f"removed {removed} of {REMOVE} ids")
    still_found = sum(
        int(np.isin(vi.search(v, 10)[1], gone).any()) for v in np.load(out / "removed.npy")[:50]
    )
    return {
        "load_s": round(load_s, 1),
        "rss_mb_loaded": round(rss_loaded),
        "rows": rows,
        "remove_ms": times,
        "removed_still_found": still_found,
        "ntotal_after_remove": vi.ntotal,
    }


def run_variant(run: Run) -> dict[str, Any]:
    """Build, then search, each in a child process; their peak memory from ``wait4``."""
    result: dict[str, Any] = {}
    for phase in ("build", "search"):
        cmd = [sys.executable, "-m", "polyfind.bench.scale", phase, json.dumps(asdict(run))]
        if run.variant == "milvus-server-ivf":
            cmd = in_private_network(cmd)
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        output = proc.stdout.read()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            raise RuntimeError(f"{phase} {run.variant} failed ({proc.returncode})")
        result.update(json.loads(output.strip().splitlines()[-1]))
        result[f"{phase}_child_peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    return result


def parse_variant(spec: str, n: int, noise: float) -> tuple[str, int, float]:
    """ "flat@100000": another size; "ivf~0.8": another noise level (harder data)."""
    spec, _, other_noise = spec.partition("~")
    variant, _, size = spec.partition("@")
    if variant not in VARIANTS:
        raise ValueError(f"unknown variant {variant!r} (one of {', '.join(VARIANTS)})")
    return variant, int(size or n), float(other_noise or noise)


def run_all(
    specs: Sequence[str], vectors_from: Path, n: int, queries: int, nprobe: Sequence[int],
    noise: float = NOISE, block: int = BLOCK,
) -> list[dict[str, Any]]:  # fmt: skip
    """Every variant of ``specs`` (see ``parse_variant``), each in a scratch folder."""
    import shutil

    results = []
    for spec in specs:
        variant, size, level = parse_variant(spec, n, noise)
        folder = Path(tempfile.mkdtemp(prefix=f"polyfind-scale-{variant}-"))
        try:
            run = Run(
                variant, str(folder), str(vectors_from), size, queries, level, list(nprobe), block
            )
            results.append(run_variant(run))
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    return results


def main(argv: Sequence[str] | None = None) -> None:
    """A child process: ``build`` or ``search`` of a ``Run`` given as JSON; prints JSON."""
    ap = argparse.ArgumentParser()
    ap.add_argument("phase", choices=["build", "search"])
    ap.add_argument("run")
    args = ap.parse_args(argv)
    run = Run(**json.loads(args.run))
    print(json.dumps(build(run) if args.phase == "build" else search(run)))


if __name__ == "__main__":
    main()
