"""Indexing on a Dask cluster against in-process, and the writer's commit rate (issue 13).

``scripts/bench_cluster.py`` drives it; BENCHMARKS.md "Scale" renders it. Every run indexes
the same folder from scratch with the same embedder (engine and precision of a new index):

- in-process: ``index_paths`` as `polyfind index` runs it, with the embedder on 1 thread and
  on every core;
- on Dask: a local cluster of N worker processes with one thread each, started and warmed
  (each worker has loaded the model and Kiwi, the Korean analyser) before the clock starts,
  then ``index_paths`` with ``Settings.cluster`` set to its scheduler;
- the writer alone: every file loaded, chunked, embedded and its lexical terms analysed
  beforehand (as a worker returns them), then only ``Indexer.index_files`` (the commits:
  SQLite rows, FTS postings, FAISS adds) timed. That rate bounds how far adding workers
  helps.
"""

from __future__ import annotations

import shutil
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..settings import Settings


def _embedder_settings(threads: int) -> Settings:
    from ..embedding import choose_embedder

    precision, engine = choose_embedder(Settings())
    return Settings(precision=precision, engine=engine, threads=threads)


def in_process(folder: Path, work: Path, threads: int) -> dict[str, Any]:
    """``index_paths`` of ``folder`` into a fresh index, the embedder loaded beforehand on
    ``threads`` threads (0: every core)."""
    from .. import index_paths
    from ..embedding import Embedder

    settings = _embedder_settings(threads)
    embedder = Embedder.load(settings)
    target = work / f"inproc-{threads}"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    summary = index_paths([str(folder)], settings.with_(index_dir=target), embedder=embedder)
    seconds = time.perf_counter() - started
    return {"threads": threads, "seconds": round(seconds, 1), "chunks": summary.chunks_added}


def _warm(settings: Settings) -> int:
    """On a worker: load its embedder (``cluster.process_files`` keeps it) and the lexical
    analyser's Korean model (Kiwi, loaded once per process)."""
    from ..cluster import process_files
    from ..lexical import analyzer_for

    process_files([], settings)
    analyzer_for(settings.lexical_analyzer).terms("한국어 형태소 분석")
    return 1


def on_dask(folder: Path, work: Path, workers: int) -> dict[str, Any]:
    """The local cluster `index --workers N` starts (``cluster.connect``), warmed, then a
    fresh index of ``folder`` committed here from its workers' results."""
    from .. import index_paths
    from ..cluster import connect
    from ..embedding import Embedder

    settings = _embedder_settings(0)
    embedder = Embedder.load(settings)  # the writer's (only recorded; workers embed)
    started = time.perf_counter()
    with connect(settings.with_(cluster_workers=workers)) as client:
        client.wait_for_workers(workers)
        client.run(_warm, settings.with_(engine=embedder.engine, threads=1))
        ready = time.perf_counter() - started
        target = work / f"dask-{workers}"
        shutil.rmtree(target, ignore_errors=True)
        run = settings.with_(index_dir=target, cluster=client.scheduler.address)
        started = time.perf_counter()
        summary = index_paths([str(folder)], run, embedder=embedder)
        seconds = time.perf_counter() - started
    return {
        "workers": workers,
        "seconds": round(seconds, 1),
        "chunks": summary.chunks_added,
        "start_s": round(ready, 1),
    }


def writer_rate(folder: Path, work: Path) -> dict[str, Any]:
    """The writer alone: commits of results made beforehand, chunks per second."""
    from ..cluster import process_files
    from ..discover import discover
    from ..embedding import Embedder
    from ..lexical import analyzer_for
    from ..pipeline import Indexer

    settings = _embedder_settings(0)
    embedder = Embedder.load(settings)
    target = work / "writer"
    shutil.rmtree(target, ignore_errors=True)
    run = settings.with_(index_dir=target)
    found = [f for f in discover(str(folder)) if f.supported]
    analyzer = analyzer_for(run.lexical_analyzer).name
    made = dict(zip([f.path for f in found], process_files(found, run, analyzer), strict=True))
    with Indexer.open(run, embedder=embedder) as ix:
        ix.record_model()
        todo, _ = ix.plan([str(folder)])
        vindex = ix.open_vectors()
        started = time.perf_counter()
        ix.index_files(todo, [(w.found, made[w.found.path]) for w in todo], vindex)
        vindex.finish(ix.store.generation)
        seconds = time.perf_counter() - started
        chunks = ix.summary.chunks_added
    return {
        "seconds": round(seconds, 2),
        "chunks": chunks,
        "chunks_per_s": round(chunks / seconds),
    }


def run_all(folder: Path, work: Path, workers: Sequence[int]) -> dict[str, Any]:
    out: dict[str, Any] = {
        "in_process": [in_process(folder, work, t) for t in (1, 0)],
        "dask": [on_dask(folder, work, n) for n in workers],
        "writer": writer_rate(folder, work),
    }
    return out
