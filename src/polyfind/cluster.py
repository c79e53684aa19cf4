"""Loading, chunking and embedding on a Dask cluster (``polyfind index --cluster/--workers``).

The writer (``pipeline.Indexer``) stays where it is: it plans the run, commits groups of
files in its own transactions and saves the vectors, so the crash guarantees do not change.
What moves is the work before the commit. The files to index are cut into batches of about
``Settings.cluster_batch_bytes`` of work (``work_bytes``: a plain-text byte makes about 7
times the passages of a PDF byte), at most ``cluster_batch_files`` files, each batch one Dask
task (``process_files``): a worker loads each file as a loader process would
(``loadpool.load_safely``), chunks it (``pipeline.make_chunks``), embeds its chunks with
the model it loaded once (``_worker_embedder``: the writer's model, engine and precision, on
the worker's own threads) and analyses their lexical terms with the writer's analyser, so
the writer only writes (Kiwi, the Korean analyser, was the costliest part of a commit, and it
holds the GIL for a second or more when it starts, which stalled a local cluster's
scheduler: it runs in the writer's process). Results come back in the order of the files, so
the index does not depend on which worker finishes first. Batches are submitted ahead of the
writer while the files of those it has not taken add up to at most
``Settings.cluster_window_bytes`` (and at least ``in_flight`` batches), the most work first
and at a higher Dask priority: the workers start on the big files and fill in with small
ones, instead of idling behind one big file at the end, and what waits for the writer stays
bounded.

A worker lost mid-run (killed, out of memory) costs nothing but time: the scheduler gives its
tasks to another worker (a task is a pure function of its files and settings). A batch whose
workers keep dying (``distributed.scheduler.allowed-failures``) fails the run with the files
named; what was committed stays.

``--workers N`` starts a local cluster of N single-threaded worker processes on 127.0.0.1
for the run; ``--cluster tcp://HOST:PORT`` uses a running scheduler, whose workers must be
able to import polyfind (the same version) and read the files at the same paths.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np

from .discover import FoundFile
from .errors import PolyfindError
from .loadpool import Failed, load_safely
from .records import Chunk, Document
from .settings import Settings

if TYPE_CHECKING:
    from .embedding import Embedder

log = logging.getLogger(__name__)

_INSTALL_HINT = "install it with `pip install 'polyfind[dask]'`"


class ClusterError(PolyfindError):
    """The Dask cluster cannot be reached or cannot run the work."""


@dataclass(frozen=True)
class Processed:
    """One file as a worker leaves it: loaded (or why not), chunked, embedded."""

    doc: Document | Failed
    chunks: list[tuple[int, Chunk]]
    vectors: np.ndarray
    #: Why chunking failed (the file is then skipped like a file that failed to load).
    chunk_error: str | None = None
    #: Each chunk's lexical terms (space-separated) by the analyser named ``analyzer``.
    terms: list[str] | None = None
    analyzer: str | None = None


# -- on the workers ---------------------------------------------------------------------------
_EMBEDDERS: dict[tuple[Any, ...], Embedder] = {}
_EMBEDDER_LOCK = threading.Lock()


def _worker_threads() -> int:
    """The worker's thread count (the cores it was given), 0 outside a worker."""
    try:
        from distributed import get_worker

        return int(get_worker().state.nthreads)
    except (ImportError, ValueError, AttributeError):
        return 0


def _worker_embedder(settings: Settings) -> Embedder:
    """The embedder of ``settings`` (model, engine, precision), loaded once per process."""
    from .embedding import Embedder

    key = (settings.model, settings.engine, settings.precision, settings.threads)
    with _EMBEDDER_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = Embedder.load(settings)
        return _EMBEDDERS[key]


def process_files(
    files: Sequence[FoundFile], settings: Settings, analyzer: str | None = None
) -> list[Processed]:
    """A Dask task: load, chunk and embed ``files`` (one bad file never fails the batch),
    and analyse the chunks' lexical terms with ``analyzer`` (a versioned analyser name:
    the writer's) when given."""
    from .lexical import analyzer_for, posting
    from .pipeline import make_chunks

    threads = settings.threads or _worker_threads()
    embedder = _worker_embedder(settings.with_(threads=threads))
    out: list[Processed] = []
    empty = np.zeros((0, embedder.dim), dtype=np.float32)
    for found in files:
        doc = load_safely(found, settings)
        if isinstance(doc, Failed):
            out.append(Processed(doc, [], empty))
            continue
        try:
            chunks = make_chunks(doc, embedder, settings)
        except PolyfindError:
            raise
        except Exception as exc:  # one bad file never stops a batch
            reason = f"could not be read ({type(exc).__name__}: {exc})"
            out.append(Processed(doc, [], empty, chunk_error=reason))
            continue
        texts = [ch.embed_text for _, ch in chunks]
        vectors = embedder.embed_passages(texts, batch_size=settings.batch_size) if texts else empty
        terms = None
        if analyzer is not None:
            analyse = analyzer_for(analyzer)
            terms = [posting(analyse, ch.text) for _, ch in chunks]
        out.append(Processed(doc, chunks, vectors, terms=terms, analyzer=analyzer))
    return out


# -- on the writer ----------------------------------------------------------------------------
#: Plain-text formats hold about 7 times the passages per byte of a PDF (corpus/: 2.8 to 3.1
#: chunks per KB of text or Markdown, 0.39 to 0.43 per KB of PDF), and the work of a file
#: follows its passages.
_DENSE_SUFFIXES = frozenset({".txt", ".md", ".markdown", ".rst"})
_DENSE_WEIGHT = 7


def work_bytes(found: FoundFile) -> int:
    """A file's size weighted by how much work a byte of its format makes."""
    dense = found.path.suffix.lower() in _DENSE_SUFFIXES
    return found.size * (_DENSE_WEIGHT if dense else 1)


def batches(found: Sequence[FoundFile], max_bytes: int, max_files: int) -> list[list[int]]:
    """Positions of ``found`` cut into consecutive batches of about ``max_bytes`` of work
    (``work_bytes``; a bigger file makes a batch of its own) and at most ``max_files``
    files."""
    out: list[list[int]] = []
    size = 0
    for i, f in enumerate(found):
        work = work_bytes(f)
        if out and len(out[-1]) < max_files and size + work <= max_bytes:
            out[-1].append(i)
            size += work
        else:
            out.append([i])
            size = work
    return out


@contextlib.contextmanager
def connect(settings: Settings) -> Iterator[Any]:
    """A Dask client: to ``settings.cluster`` (an address), or to a local cluster of
    ``settings.cluster_workers`` single-threaded processes on 127.0.0.1 started for the run."""
    try:
        from distributed import Client, LocalCluster
    except ImportError as exc:
        raise ClusterError(f"the Dask cluster needs distributed ({exc}); {_INSTALL_HINT}") from exc
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.ERROR)  # its INFO lines (workers starting, closing) are not ours
    try:
        yield from _connected(settings, Client, LocalCluster)
    finally:
        quiet.setLevel(level)


def _connected(settings: Settings, client_type: Any, cluster_type: Any) -> Iterator[Any]:
    address, timeout = settings.cluster, settings.cluster_timeout_s
    if address:
        try:
            client = client_type(address, timeout=timeout, set_as_default=False)
        except (OSError, TimeoutError) as exc:
            raise ClusterError(
                f"cannot reach the Dask scheduler at {address} ({exc}); start it "
                "(`dask scheduler`) and its workers (`dask worker ADDRESS`), or check the "
                "address and port"
            ) from exc
        with contextlib.closing(client):
            _check_workers(client, address, timeout)
            yield client
        return
    n = settings.cluster_workers
    try:
        cluster = cluster_type(
            n_workers=n,
            threads_per_worker=1,
            processes=True,
            host="127.0.0.1",
            dashboard_address=None,
            # Without a dashboard the scheduler still serves its health and metrics routes,
            # by default on port 8787 (taken by any other Dask cluster: a warning): on a
            # free port of 127.0.0.1 instead.
            scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            # A worker's own log lines (a heartbeat that races the scheduler's shutdown at
            # the end of a run) are not the user's business: failed tasks reach this
            # process as errors of the files they were loading.
            silence_logs=logging.CRITICAL,
        )
    except (OSError, TimeoutError, RuntimeError) as exc:
        raise ClusterError(f"cannot start a local Dask cluster of {n} workers ({exc})") from exc
    with contextlib.closing(cluster), client_type(cluster, set_as_default=False) as client:
        yield client


def _check_workers(client: Any, address: str, timeout: float) -> None:
    try:
        client.wait_for_workers(1, timeout=timeout)
    except (OSError, TimeoutError) as exc:
        raise ClusterError(
            f"the Dask scheduler at {address} has no workers; start some "
            f"(`dask worker {address}`) and run again"
        ) from exc


class ClusterLoading:
    """``(file, Processed)`` for each of ``found`` in order, computed on the cluster: at most
    ``in_flight`` batches are submitted ahead of the consumer. Close it when done."""

    def __init__(
        self,
        client: Any,
        found: Sequence[FoundFile],
        settings: Settings,
        in_flight: int,
        analyzer: str | None = None,
    ) -> None:
        self.client = client
        self.found = list(found)
        self.settings = settings
        self.analyzer = analyzer
        self._batches = deque(
            batches(self.found, settings.cluster_batch_bytes, settings.cluster_batch_files)
        )
        self._pending: deque[tuple[list[int], Any]] = deque()
        self._in_flight = max(1, in_flight)
        self._window = settings.cluster_window_bytes

    def _bytes(self, idx: list[int]) -> int:
        return sum(self.found[i].size for i in idx)

    def _work(self, idx: list[int]) -> int:
        return sum(work_bytes(self.found[i]) for i in idx)

    def _submit(self) -> None:
        waiting = sum(self._bytes(idx) for idx, _ in self._pending)
        taken: list[list[int]] = []
        while self._batches:
            size = self._bytes(self._batches[0])
            if len(self._pending) + len(taken) >= self._in_flight and waiting + size > self._window:
                break
            taken.append(self._batches.popleft())
            waiting += size
        # Biggest first: a scheduler hands the first tasks it gets straight to idle workers,
        # before it can order them by priority.
        futures = {}
        for idx in sorted(taken, key=self._work, reverse=True):
            files = [self.found[i] for i in idx]
            futures[idx[0]] = self.client.submit(
                process_files,
                files,
                self.settings,
                self.analyzer,
                pure=False,
                priority=self._work(idx) >> 10,
            )
        self._pending.extend((idx, futures[idx[0]]) for idx in taken)  # in file order

    def __iter__(self) -> Iterator[tuple[FoundFile, Processed]]:
        self._submit()
        while self._pending:
            idx, future = self._pending.popleft()
            try:
                results = future.result()
            except PolyfindError:
                raise
            except Exception as exc:
                names = ", ".join(self.found[i].source for i in idx)
                raise ClusterError(
                    f"the Dask cluster failed on {names} ({type(exc).__name__}: {exc}); "
                    "what was committed stays: run again (with more memory for the "
                    "workers if they were killed) to finish"
                ) from exc
            self._submit()  # keep the workers busy while this batch is committed
            for i, r in zip(idx, results, strict=True):
                yield self.found[i], r

    def close(self) -> None:
        for _, future in self._pending:
            future.cancel()
        self._pending.clear()
        self._batches.clear()


__all__ = ["ClusterError", "ClusterLoading", "Processed", "batches", "connect", "process_files"]
