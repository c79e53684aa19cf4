"""Indexing: discover -> load -> detect language -> chunk -> embed -> store.

Incremental by content hash: a file whose size and modification time are unchanged is not
read again; one whose bytes hash the same is only re-stamped; changed files are replaced in
one transaction each (chunks and vectors together); files gone from an indexed folder are
removed. One bad file never stops a batch: it is reported in the summary and skipped.

Loading (extraction, cleaning, document language) runs in worker processes, several when
there is enough of it (``Settings.extract_workers``, ``parallel_min_bytes``), starting while
the model loads, each file under a time and memory limit (``load_timeout_s``,
``load_memory_mb``); chunking and embedding stay in this process, and files are taken in the order
they were found, so the result does not depend on which worker finishes first. A run with
nothing to do opens neither the model nor the FAISS file.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

import numpy as np

from .chunking import chunk_text, fold_for_embedding
from .discover import FoundFile, content_hash, discover
from .errors import (
    IndexBusyError,
    IndexDamagedError,
    IndexMissingError,
    IndexWriteError,
    ModelMismatchError,
    PolyfindError,
)
from .language_bias import LanguageProjection, load_projection
from .loadpool import Failed, LoadLimits, load_documents
from .loadpool import load_document as load_document  # where callers have found it
from .records import Chunk, Document, IndexSummary
from .settings import DEFAULT_MODEL, DEFAULT_PRECISION, Settings
from .store import DB_NAME, Store, StoredDocument, text_hash
from .vectors import VectorIndex

if TYPE_CHECKING:
    from .embedding import Embedder

log = logging.getLogger(__name__)

LOCK_NAME = "write.lock"


class Progress(Protocol):
    """What the pipeline reports while it works (the CLI draws progress bars from it)."""

    def phase(self, name: str, total: int) -> None: ...

    def advance(self, n: int = 1) -> None: ...


class _NoProgress:
    def phase(self, name: str, total: int) -> None:
        pass

    def advance(self, n: int = 1) -> None:
        pass


@contextmanager
def write_lock(index_dir: Path) -> Iterator[None]:
    """Only one writer per index; a second one stops with a clear message."""
    index_dir.mkdir(parents=True, exist_ok=True)
    with open(index_dir / LOCK_NAME, "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise IndexBusyError(
                f"another `polyfind index` is writing {index_dir}; wait for it to finish "
                "and run again"
            ) from exc
        yield


def model_key(name: str) -> str:
    """How a model is recorded in an index: local folders by absolute path, names as given."""
    path = Path(name).expanduser()
    if name != DEFAULT_MODEL and path.exists():
        return str(path.resolve())
    return name


def check_model(store: Store, requested: str | None, index_dir: Path) -> str:
    """The model to use with this index; refuses a model other than the one that built it."""
    recorded = store.get_meta("model_name")
    if recorded is None:
        return model_key(requested or DEFAULT_MODEL)
    if requested is not None and model_key(requested) != recorded:
        raise ModelMismatchError(
            f"{index_dir} was built with model {recorded!r}, not {requested!r}; "
            f"run `polyfind index --rebuild --model {requested}` to re-index with it, "
            "or leave out --model"
        )
    return recorded


@dataclass
class _Work:
    found: FoundFile
    hash: str
    previous: StoredDocument | None


@dataclass
class _Prepared:
    work: _Work
    doc: Document
    chunks: list[tuple[int, Chunk]]


def _inside(path: str, root: Path) -> bool:
    return path == str(root) or path.startswith(str(root) + os.sep)


def make_chunks(doc: Document, embedder: Embedder, settings: Settings) -> list[tuple[int, Chunk]]:
    """Chunk every page of a document; returns ``(page_seq, chunk)`` pairs."""
    out: list[tuple[int, Chunk]] = []
    for seq, page in enumerate(doc.pages):
        spans = chunk_text(
            page.text,
            count_tokens=embedder.count_tokens,
            max_tokens=settings.chunk_tokens,
            overlap=settings.chunk_overlap,
            lang_default=doc.lang,
            cfg=settings.chunking,
            language=settings.language,
        )
        for sp in spans:
            text = page.text[sp.start : sp.end]
            out.append(
                (
                    seq,
                    Chunk(
                        source=doc.source,
                        page=page.number,
                        line=sp.line,
                        start=sp.start,
                        end=sp.end,
                        lang=sp.lang,
                        text=text,
                        embed_text=fold_for_embedding(text),
                    ),
                )
            )
    return out


def index_paths(
    paths: Sequence[str],
    settings: Settings,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
) -> IndexSummary:
    """Bring the index at ``settings.index_dir`` up to date with ``paths``."""
    started = time.perf_counter()
    prog = progress or _NoProgress()
    summary = IndexSummary()
    index_dir = settings.index_dir
    try:
        with write_lock(index_dir):
            _update(paths, settings, index_dir, rebuild, prog, embedder, summary)
    except (sqlite3.OperationalError, OSError) as exc:
        raise IndexWriteError(
            f"cannot write the index at {index_dir} ({exc}); {_write_error_hint(exc, index_dir)} "
            "and run again: the index keeps its last committed state, and the next run "
            "finishes the work"
        ) from exc
    summary.seconds = time.perf_counter() - started
    return summary


def _write_error_hint(exc: BaseException, index_dir: Path) -> str:
    """What to do about a failed write, from its errno, its text or the free space."""
    code = exc.errno if isinstance(exc, OSError) else None
    text = str(exc).lower()
    if code in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT) or "full" in text:
        return "the disk is full: free some space (or index to a location with room)"
    if code == errno.EROFS or "read-only" in text or "readonly" in text:
        return "the file system is read-only: make it writable or choose another --index"
    if code in (errno.EACCES, errno.EPERM) or "permission" in text:
        return "permission denied: fix the permissions or choose another --index"
    with contextlib.suppress(OSError):
        probe = next((p for p in (index_dir, *index_dir.parents) if p.exists()), None)
        if probe is not None and shutil.disk_usage(probe).free < 16 << 20:
            return "the disk is (nearly) full: free some space (or index to a location with room)"
    return "free some disk space or fix the permissions"


def extract_workers(work_bytes: int, n_files: int, settings: Settings) -> int:
    """How many loader processes for ``n_files`` files of ``work_bytes`` (0: load here)."""
    wanted = settings.extract_workers or min(os.cpu_count() or 1, settings.max_auto_workers)
    one = 1 if settings.isolate_loaders else 0
    if wanted <= 1 or n_files < 1 or work_bytes < settings.parallel_min_bytes:
        return one if n_files >= 1 else 0
    return max(one, min(wanted, n_files))


def _update(
    paths: Sequence[str],
    settings: Settings,
    index_dir: Path,
    rebuild: bool,
    prog: Progress,
    embedder: Embedder | None,
    summary: IndexSummary,
) -> None:
    if rebuild:
        _discard_if_damaged(index_dir)
    store = Store.open(index_dir, create=True, analyzer=settings.lexical_analyzer)
    try:
        if rebuild:
            _wipe(store, index_dir)
        model_name = check_model(store, settings.model, index_dir)
        work, removed_docs = _plan(paths, store, summary, prog)
        if embedder is not None:
            _record_model(store, embedder, model_name, settings, index_dir)
        projection = load_projection(model_name) if settings.language_projection else None
        dim = int(store.get_meta("dim") or 0)
        if work or removed_docs or rebuild:
            _apply(
                work, removed_docs, store, settings, model_name, projection, embedder, summary, prog
            )
        elif dim and not VectorIndex.is_current(index_dir, store, dim, projection):
            VectorIndex.open(index_dir, store, dim, projection, writer=True, settings=settings)
        # else: nothing to add or remove, the FAISS file is in step: neither is opened
        _finish(store, summary)
    finally:
        store.close()


def _apply(
    work: list[_Work],
    removed_docs: list[StoredDocument],
    store: Store,
    settings: Settings,
    model_name: str,
    projection: LanguageProjection | None,
    embedder: Embedder | None,
    summary: IndexSummary,
    prog: Progress,
) -> None:
    """Remove the chunks of vanished files and index new and changed files."""
    index_dir = settings.index_dir
    found = [w.found for w in work]
    workers = extract_workers(sum(f.size for f in found), len(found), settings)
    # Loading starts now, in worker processes when it pays, while the model loads.
    limits = LoadLimits(
        settings.load_timeout_s, settings.load_timeout_per_mb_s, settings.load_memory_mb or None
    )
    with closing(load_documents(found, workers, limits=limits, settings=settings)) as loaded:
        if embedder is None and work:
            from .embedding import Embedder

            precision = settings.precision or store.get_meta("precision") or DEFAULT_PRECISION
            embedder = Embedder.load(settings.with_(model=model_name, precision=precision))
            _record_model(store, embedder, model_name, settings, index_dir)
        dim = int(store.get_meta("dim") or 0)
        if not dim:  # a new index and nothing to embed
            return
        vindex = VectorIndex.open(index_dir, store, dim, projection, writer=True, settings=settings)
        if removed_docs:
            with store.transaction():
                for doc in removed_docs:
                    ids = store.remove_document(doc.id)
                    vindex.remove(np.asarray(ids, dtype=np.int64))
                    summary.removed.append(doc.source)
                store.bump_generation()
        if work:
            assert embedder is not None
            _index_files(work, loaded, store, vindex, embedder, settings, summary, prog)
    if vindex.needs_rebuild(settings):  # grown past (or shrunk below) the exact-search size
        del vindex  # free its memory before the new one is built
        vindex = VectorIndex.from_store(store, dim, projection, settings=settings)
    vindex.save(index_dir, store.generation)


def _finish(store: Store, summary: IndexSummary) -> None:
    if store.get_meta("created_at") is None:
        store.set_meta("created_at", str(time.time()))
    summary.chunks_total = store.chunk_count()


def _discard_if_damaged(index_dir: Path) -> None:
    """For ``--rebuild``: an index database that cannot even be opened is deleted."""
    try:
        Store.open(index_dir).close()
    except IndexMissingError:
        return
    except IndexDamagedError:
        log.warning("deleting the damaged index database in %s to rebuild it", index_dir)
        for p in index_dir.iterdir():
            if p.name.startswith(DB_NAME) or p.suffix in (".faiss", ".tmp"):
                p.unlink()


def _wipe(store: Store, index_dir: Path) -> None:
    with store.transaction():
        store.wipe()  # documents, pages, chunks and lexical postings together
        store.conn.execute("DELETE FROM meta WHERE key NOT IN ('schema', 'generation')")
        store.bump_generation()


def _record_model(
    store: Store, embedder: Embedder, model_name: str, settings: Settings, index_dir: Path
) -> None:
    recorded = store.get_meta("model")
    if recorded is not None and recorded != embedder.identity:
        raise ModelMismatchError(
            f"{index_dir} was built with model {recorded!r}, not {embedder.identity!r}; "
            "run `polyfind index --rebuild` to re-index with the new model"
        )
    precision = getattr(embedder, "precision", "fp32")
    if recorded is None:
        with store.transaction():
            store.set_meta("model", embedder.identity)
            store.set_meta("model_name", model_name)
            store.set_meta("dim", str(embedder.dim))
            store.set_meta("chunk_tokens", str(settings.chunk_tokens))
            store.set_meta("chunk_overlap", str(settings.chunk_overlap))
            store.set_meta("precision", precision)
    elif store.get_meta("precision") != precision:
        # Same model, so the vectors mix well; passages embedded before keep theirs until
        # `--rebuild`. Later runs use the precision recorded here.
        log.info("%s: embedding at %s precision from now on", index_dir, precision)
        with store.transaction():
            store.set_meta("precision", precision)


def _plan(
    paths: Sequence[str], store: Store, summary: IndexSummary, prog: Progress
) -> tuple[list[_Work], list[StoredDocument]]:
    """Sort files into unchanged, to (re)index and removed."""
    found: dict[str, FoundFile] = {}
    roots: list[Path] = []
    for given in paths:
        try:
            for f in discover(given):
                if not f.supported:
                    summary.skipped.append(
                        (f.source, f"unsupported file type {f.path.suffix or '(none)'}")
                    )
                    continue
                found.setdefault(str(f.path), f)
            roots.append(Path(given).expanduser().resolve())
        except FileNotFoundError:
            summary.skipped.append((given, "no such file or folder"))
            roots.append(Path(given).expanduser().absolute())
        except OSError as exc:
            summary.skipped.append((given, f"cannot read: {exc.strerror}"))
    prog.phase("scanning", len(found))
    work: list[_Work] = []
    touched: list[tuple[int, FoundFile]] = []
    for path, f in found.items():
        prev = store.document_by_path(path)
        prog.advance()
        if prev is not None and prev.size == f.size and prev.mtime_ns == f.mtime_ns:
            summary.unchanged.append(f.source)
            continue
        try:
            digest = content_hash(f.path)
        except OSError as exc:
            summary.skipped.append((f.source, f"cannot read: {exc.strerror}; check permissions"))
            continue
        if prev is not None and prev.hash == digest:
            touched.append((prev.id, f))
            summary.unchanged.append(f.source)
            continue
        work.append(_Work(f, digest, prev))
    if touched:
        with store.transaction():
            for doc_id, f in touched:
                store.touch_document(doc_id, f.size, f.mtime_ns, f.source)
    removed = [
        doc
        for doc in store.documents()
        if doc.path not in found
        and any(_inside(doc.path, root) for root in roots)
        and not Path(doc.path).exists()
    ]
    return work, removed


def _index_files(
    work: list[_Work],
    loaded: Iterator[tuple[FoundFile, Document | Failed]],
    store: Store,
    vindex: VectorIndex,
    embedder: Embedder,
    settings: Settings,
    summary: IndexSummary,
    prog: Progress,
) -> None:
    """Chunk the loaded files one by one; embed and commit them in groups of chunks."""
    prog.phase("indexing", len(work))
    group: list[_Prepared] = []
    size = 0
    for w, (found, doc) in zip(work, loaded, strict=True):
        assert found is w.found
        prepared = _prepare(w, doc, embedder, settings, summary)
        if prepared is None:
            prog.advance()
            continue
        group.append(prepared)
        size += len(prepared.chunks)
        if size >= settings.group_chunks:
            _commit_group(group, store, vindex, embedder, settings, summary)
            prog.advance(len(group))
            group, size = [], 0
    if group:
        _commit_group(group, store, vindex, embedder, settings, summary)
        prog.advance(len(group))


def _prepare(
    w: _Work,
    doc: Document | Failed,
    embedder: Embedder,
    settings: Settings,
    summary: IndexSummary,
) -> _Prepared | None:
    source = w.found.source
    if isinstance(doc, Failed):
        if doc.fatal:
            raise PolyfindError(doc.reason)
        if doc.detail:
            log.error("failed to load %s\n%s", source, doc.detail.rstrip())
        summary.skipped.append((source, doc.reason))
        return None
    try:
        chunks = make_chunks(doc, embedder, settings)
    except PolyfindError:
        raise
    except Exception as exc:  # one bad file never stops a batch
        log.exception("failed to chunk %s", source)
        summary.skipped.append((source, f"could not be read ({type(exc).__name__}: {exc})"))
        return None
    if not chunks:
        summary.skipped.append((source, "no extractable text (a scanned or empty document?)"))
        return None
    return _Prepared(w, doc, chunks)


def _commit_group(
    group: list[_Prepared],
    store: Store,
    vindex: VectorIndex,
    embedder: Embedder,
    settings: Settings,
    summary: IndexSummary,
) -> None:
    """Embed a group of files (reusing stored vectors of identical passages) and commit it."""
    texts = [ch.embed_text for p in group for _, ch in p.chunks]
    hashes = [text_hash(t) for t in texts]
    cached = store.cached_vectors(hashes)
    missing = [i for i, h in enumerate(hashes) if h not in cached]
    vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
    for i, h in enumerate(hashes):
        if h in cached:
            vectors[i] = np.frombuffer(cached[h], dtype=np.float32)
    if missing:
        vectors[missing] = embedder.embed_passages(
            [texts[i] for i in missing], batch_size=settings.batch_size
        )
    offset = 0
    with store.transaction():
        for p in group:
            n = len(p.chunks)
            if p.work.previous is not None:
                old = store.remove_document(p.work.previous.id)
                vindex.remove(np.asarray(old, dtype=np.int64))
            f = p.work.found
            ids = store.add_document(
                p.doc,
                path=str(f.path),
                root=str(f.root),
                hash=p.work.hash,
                size=f.size,
                mtime_ns=f.mtime_ns,
                chunks=p.chunks,
                vectors=vectors[offset : offset + n],
            )
            vindex.add(np.asarray(ids, dtype=np.int64), vectors[offset : offset + n])
            offset += n
            summary.chunks_added += n
            (summary.updated if p.work.previous is not None else summary.added).append(p.doc.source)
        store.bump_generation()
