"""Loading, chunking and embedding on a Dask cluster (``polyfind index --cluster/--workers``).

The writer (``pipeline.Indexer``) stays where it is: it plans the run, commits groups of
files in its own transactions and saves the vectors, so the crash guarantees do not change.
What moves is the work before the commit, in two kinds of Dask task:

1. ``prepare_files``: a batch of files (about ``Settings.cluster_batch_bytes`` of work,
   ``work_bytes``: a plain-text byte makes about 7 times the passages of a PDF byte; at most
   ``cluster_batch_files`` files) loaded as a loader process would (``loadpool.load_safely``),
   chunked (``pipeline.make_chunks``), each chunk's tokens counted, and their lexical terms
   analysed with the writer's analyser, so that the writer only writes (Kiwi, the Korean
   analyser, was the costliest part of a commit, and it holds the GIL for a second or more
   when it starts, which stalled a local cluster's scheduler: it runs in the writer's
   process).
2. ``embed_texts``: a piece of one batch's chunks, at most ``Settings.cluster_piece_tokens``
   tokens, embedded with the model the worker loaded once (``_worker_embedder``: the
   writer's model, engine and precision, on the worker's own threads).

Embedding is nearly all of the work and its cost follows the tokens, which nobody knows
before the file is read: a file's size is a poor guess (a table of hexadecimal hashes makes
five times the tokens of prose per byte). So the embedding is cut by tokens, once they are
known, into pieces small enough that the workers finish together: a batch that was one task
left one worker computing for 12 s of a 77 s run while the other idled.

Loading tasks go first (Dask priority), the pieces then in the order of their files, so the
writer gets its files early and in order; results come back in the order of the files, so
the index does not depend on which worker finishes first. Loading batches are submitted
ahead of the writer while the files of those it has not taken add up to at most
``Settings.cluster_window_bytes`` (and at least ``in_flight`` batches): what waits for the
writer stays bounded.

A worker lost mid-run (killed, out of memory) costs nothing but time: the scheduler gives its
tasks to another worker (a task is a pure function of its arguments). A task whose workers
keep dying (``distributed.scheduler.allowed-failures``) fails the run with the files named;
what was committed stays.

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
class Prepared:
    """One file as a loading task leaves it: loaded (or why not) and chunked."""

    doc: Document | Failed
    chunks: list[tuple[int, Chunk]]
    #: Why chunking failed (the file is then skipped like a file that failed to load).
    chunk_error: str | None = None
    #: Each chunk's lexical terms (space-separated) by the analyser named ``analyzer``.
    terms: list[str] | None = None
    analyzer: str | None = None
    #: Each chunk's tokens as the embedder counts them (``embed_text``, no prompt).
    tokens: tuple[int, ...] = ()


@dataclass(frozen=True)
class Processed:
    """One file ready for the writer: as its loading task left it, with its chunks'
    vectors (in the order of ``prepared.chunks``)."""

    prepared: Prepared
    vectors: np.ndarray


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
    """The embedder of ``settings`` (model, engine, precision) on the worker's threads,
    loaded once per process."""
    from .embedding import Embedder

    settings = settings.with_(threads=settings.threads or _worker_threads())
    key = (settings.model, settings.engine, settings.precision, settings.threads)
    with _EMBEDDER_LOCK:
        if key not in _EMBEDDERS:
            _EMBEDDERS[key] = Embedder.load(settings)
        return _EMBEDDERS[key]


def prepare_files(
    files: Sequence[FoundFile], settings: Settings, analyzer: str | None = None
) -> list[Prepared]:
    """A Dask task: load and chunk ``files`` (one bad file never fails the batch), count
    each chunk's tokens, and analyse the chunks' lexical terms with ``analyzer`` (a
    versioned analyser name: the writer's) when given."""
    from .lexical import analyzer_for, posting
    from .pipeline import make_chunks

    embedder = _worker_embedder(settings)  # its tokenizer sizes the chunks
    out: list[Prepared] = []
    for found in files:
        doc = load_safely(found, settings)
        if isinstance(doc, Failed):
            out.append(Prepared(doc, []))
            continue
        try:
            chunks = make_chunks(doc, embedder, settings)
        except PolyfindError:
            raise
        except Exception as exc:  # one bad file never stops a batch
            reason = f"could not be read ({type(exc).__name__}: {exc})"
            out.append(Prepared(doc, [], chunk_error=reason))
            continue
        tokens = tuple(embedder.count_tokens([ch.embed_text for _, ch in chunks]))
        terms = None
        if analyzer is not None:
            analyse = analyzer_for(analyzer)
            terms = [posting(analyse, ch.text) for _, ch in chunks]
        out.append(Prepared(doc, chunks, terms=terms, analyzer=analyzer, tokens=tokens))
    return out


def embed_texts(texts: Sequence[str], settings: Settings) -> np.ndarray:
    """A Dask task: the passage vectors of ``texts`` with the worker's embedder."""
    embedder = _worker_embedder(settings)
    if not texts:
        return np.zeros((0, embedder.dim), dtype=np.float32)
    return embedder.embed_passages(list(texts), batch_size=settings.batch_size)


def process_files(
    files: Sequence[FoundFile], settings: Settings, analyzer: str | None = None
) -> list[Processed]:
    """``prepare_files`` and ``embed_texts`` of each file in one go, in this process (as the
    cluster's tasks would make them: the writer's benchmark, a worker's warm-up)."""
    out = []
    for p in prepare_files(files, settings, analyzer):
        out.append(Processed(p, embed_texts([ch.embed_text for _, ch in p.chunks], settings)))
    return out


def pieces(tokens: Sequence[int], max_tokens: int) -> list[list[int]]:
    """Positions of ``tokens`` (each chunk's count) cut into pieces of at most ``max_tokens``
    tokens (a bigger chunk makes a piece of its own), longest chunks first: a piece holds
    similar lengths, so its batches waste as little on padding as one big call would."""
    order = sorted(range(len(tokens)), key=lambda i: -tokens[i])
    out: list[list[int]] = []
    size = 0
    for i in order:
        if out and size + tokens[i] <= max_tokens:
            out[-1].append(i)
            size += tokens[i]
        else:
            out.append([i])
            size = tokens[i]
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
        import dask

        # A worker's statistical profiler samples every thread's stack 100 times a second
        # for the dashboard, which a run started here never shows; on a machine whose every
        # core has a worker it takes its samples from the embedding.
        with dask.config.set({"distributed.worker.profile.enabled": False}):
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


class _Batch:
    """One loading task and, once its files are chunked, the embedding pieces of them."""

    def __init__(self, idx: list[int], future: Any) -> None:
        self.idx = idx
        self.loading = future
        self.prepared: list[Prepared] | None = None
        #: Each piece: the (file, chunk) positions it embeds, and its future.
        self.pieces: list[tuple[list[tuple[int, int]], Any]] = []

    def done(self) -> bool:
        return self.prepared is not None and all(f.done() for _, f in self.pieces)


class ClusterLoading:
    """``(file, Processed)`` for each of ``found`` in order, computed on the cluster: loading
    batches are submitted ahead of the consumer as the window allows (see the module), their
    embedding pieces as soon as their files are chunked. Close it when done."""

    #: Dask priorities: loading first, then the pieces of the earliest files (priority
    #: minus the position of the batch's first file).
    _LOADING_PRIORITY = 1

    def __init__(
        self,
        client: Any,
        found: Sequence[FoundFile],
        settings: Settings,
        in_flight: int,
        dim: int,
        analyzer: str | None = None,
    ) -> None:
        self.client = client
        self.found = list(found)
        self.settings = settings
        self.dim = dim
        self.analyzer = analyzer
        self._batches = deque(
            batches(self.found, settings.cluster_batch_bytes, settings.cluster_batch_files)
        )
        self._pending: deque[_Batch] = deque()
        self._in_flight = max(1, in_flight)
        self._window = settings.cluster_window_bytes

    def _bytes(self, idx: list[int]) -> int:
        return sum(self.found[i].size for i in idx)

    def _submit(self) -> None:
        waiting = sum(self._bytes(b.idx) for b in self._pending)
        while self._batches:
            size = self._bytes(self._batches[0])
            if len(self._pending) >= self._in_flight and waiting + size > self._window:
                break
            idx = self._batches.popleft()
            files = [self.found[i] for i in idx]
            future = self.client.submit(
                prepare_files,
                files,
                self.settings,
                self.analyzer,
                pure=False,
                priority=self._LOADING_PRIORITY,
            )
            self._pending.append(_Batch(idx, future))
            waiting += size

    def _result(self, batch: _Batch, future: Any) -> Any:
        try:
            return future.result()
        except PolyfindError:
            raise
        except Exception as exc:
            names = ", ".join(self.found[i].source for i in batch.idx)
            raise ClusterError(
                f"the Dask cluster failed on {names} ({type(exc).__name__}: {exc}); "
                "what was committed stays: run again (with more memory for the "
                "workers if they were killed) to finish"
            ) from exc

    def _embed(self, batch: _Batch) -> None:
        """The batch's files chunked: their embedding pieces submitted (the chunks of all
        its files cut together, by length)."""
        batch.prepared = self._result(batch, batch.loading)
        where = [(f, c) for f, p in enumerate(batch.prepared) for c in range(len(p.chunks))]
        tokens = [n for p in batch.prepared for n in p.tokens]
        for piece in pieces(tokens, self.settings.cluster_piece_tokens):
            at = [where[i] for i in piece]
            texts = [batch.prepared[f].chunks[c][1].embed_text for f, c in at]
            future = self.client.submit(
                embed_texts, texts, self.settings, pure=False, priority=-batch.idx[0]
            )
            batch.pieces.append((at, future))

    def _vectors(self, batch: _Batch) -> list[np.ndarray]:
        """Each file's vectors, put together from the pieces."""
        assert batch.prepared is not None
        out = [np.empty((len(p.chunks), self.dim), dtype=np.float32) for p in batch.prepared]
        for at, future in batch.pieces:
            for (f, c), vector in zip(at, self._result(batch, future), strict=True):
                out[f][c] = vector
        return out

    def _advance(self, head: _Batch) -> None:
        """Submit the pieces of every batch whose files are chunked, then wait until some
        task the head batch waits for is done. A batch whose loading failed fails the run
        when it is the head: the files before it are committed first."""
        from distributed import wait

        for b in self._pending:
            ready = b.loading.done() and (b is head or b.loading.status != "error")
            if b.prepared is None and ready:
                self._embed(b)
        if head.done():
            return
        waiting = [b.loading for b in self._pending if not b.loading.done()]
        waiting += [f for _, f in head.pieces if not f.done()]
        with self.client.as_current():  # the client this run made is not the default
            wait(waiting, return_when="FIRST_COMPLETED")  # type: ignore[no-untyped-call]

    def __iter__(self) -> Iterator[tuple[FoundFile, Processed]]:
        self._submit()
        while self._pending:
            head = self._pending[0]
            while not head.done():
                self._advance(head)
            self._pending.popleft()
            self._submit()  # keep the workers busy while this batch is committed
            assert head.prepared is not None
            for i, p, vectors in zip(head.idx, head.prepared, self._vectors(head), strict=True):
                yield self.found[i], Processed(p, vectors)

    def close(self) -> None:
        for b in self._pending:
            b.loading.cancel()
            for _, f in b.pieces:
                f.cancel()
        self._pending.clear()
        self._batches.clear()


__all__ = [
    "ClusterError",
    "ClusterLoading",
    "Prepared",
    "Processed",
    "batches",
    "connect",
    "embed_texts",
    "pieces",
    "prepare_files",
    "process_files",
]
