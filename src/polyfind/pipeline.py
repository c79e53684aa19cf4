"""Indexing: discover -> load -> detect language -> chunk -> embed -> store.

Incremental by content hash: a file whose size and modification time are unchanged is not
read again; one whose bytes hash the same is only re-stamped; changed files are replaced in
one transaction each (chunks and vectors together); files gone from an indexed folder are
removed. One bad file never stops a batch: it is reported in the summary and skipped.

Loading (extraction, cleaning, document language) runs in worker processes, several when
there is enough of it (``Settings.extract_workers``, ``parallel_min_bytes``), starting while
the model loads, each file under a time and memory limit (``load_timeout_s``,
``load_memory_mb``) and with the run's settings; chunking and embedding stay in this process,
and files are taken in the order they were found, so the result does not depend on which
worker finishes first. With ``Settings.cluster`` or ``cluster_workers`` (``index --cluster``,
``--workers``) loading, chunking and embedding run on a Dask cluster instead
(``polyfind.cluster``) and this process only commits, in the same order and groups. A run
with nothing to do opens neither the model nor the FAISS file.

The lexical terms of a local index's chunks are written after the embedding
(``Indexer.write_waiting_terms``, once the encoder this run loaded is let go): committed groups
record their chunks as waiting, so the morphological analysers never share memory with the
encoder, and a run stopped in between leaves them for the next run to write.

``index_paths`` takes the write lock and runs an ``Indexer``, which holds the run's state (store,
settings, embedder, summary, progress) and does it in steps: plan, load, prepare (chunk),
commit a group, write the waiting lexical terms, finish.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import gc
import logging
import os
import shutil
import sqlite3
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from . import lexical, searchindex
from .backend import SearchIndex
from .chunking import chunk_text, fold_for_embedding, table_context
from .cluster import Processed
from .discover import FoundFile, content_hash, discover, root_argument
from .errors import (
    IndexBusyError,
    IndexDamagedError,
    IndexMissingError,
    IndexWriteError,
    InputMissingError,
    ModelMismatchError,
    PolyfindError,
)
from .language_bias import LanguageProjection, load_projection
from .loadpool import Failed, Loading, LoadLimits, load_documents
from .loadpool import load_document as load_document  # where callers have found it
from .records import Chunk, Document, IndexSummary, RelocateSummary
from .settings import Settings
from .store import (
    DB_NAME,
    TYPICALITY_META,
    SkippedFile,
    Store,
    StoredDocument,
    check_index_location,
    check_model,
    text_hash,
)
from .typicality import typicality

if TYPE_CHECKING:
    from .cluster import ClusterLoading
    from .embedding import Embedder

log = logging.getLogger(__name__)

LOCK_NAME = "write.lock"
#: Waiting chunks whose lexical terms are written in one transaction.
TERMS_BATCH = 2000


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


@dataclass
class _Work:
    found: FoundFile
    hash: str
    previous: StoredDocument | None


@dataclass
class _Embedding:
    """A group of files whose vectors are being made (``Indexer.start_embedding``)."""

    group: list[_Prepared]
    vectors: Future[np.ndarray]


@dataclass
class _Prepared:
    work: _Work
    doc: Document
    chunks: list[tuple[int, Chunk]]
    #: The chunks' vectors where a cluster worker embedded them (None: embedded at commit).
    vectors: np.ndarray | None = None
    #: The chunks' lexical terms where a cluster worker analysed them, and by which analyser.
    terms: list[str] | None = None
    analyzer: str | None = None


def _return_freed_memory() -> None:
    """Collect what was let go and hand glibc's free pages back to the system (the encoder's
    buffers otherwise stay in this process's resident memory)."""
    gc.collect()
    with contextlib.suppress(OSError, AttributeError):  # not glibc: the pages stay reusable
        ctypes.CDLL(None).malloc_trim(0)


def _inside(path: str, root: Path | str) -> bool:
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
            context = table_context(page.text, sp.start) if settings.chunking.table_context else ""
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
                        embed_text=fold_for_embedding(f"{context}\n{text}" if context else text),
                    ),
                )
            )
    return out


DEFAULT_PATH = "corpus"
"""What a new index with no path indexes (relative to the working directory)."""


def index_paths(
    paths: Sequence[str] | None,
    settings: Settings,
    *,
    rebuild: bool = False,
    progress: Progress | None = None,
    embedder: Embedder | None = None,
    retry_skipped: bool = False,
    forget: Sequence[str] = (),
    store: str | None = None,
) -> IndexSummary:
    """Bring the index at ``settings.index_dir`` up to date with ``paths`` (None or empty:
    the roots the index remembers, or ``corpus`` for a new index), after dropping the roots
    ``forget`` with their documents (then with no ``paths`` nothing else is done).
    ``retry_skipped`` reads again the files skipped before, even if unchanged. ``store``
    (``--store``: a ``milvus://`` URI, or ``local``) is where a new or rebuilt index keeps its
    vectors and lexical index (``searchindex.choose``)."""
    started = time.perf_counter()
    summary = IndexSummary()
    index_dir = settings.index_dir
    check_index_location(index_dir, writer=True)
    if not forget and not (index_dir / DB_NAME).exists():
        # Nothing is made before an input is known to exist and the store to answer: no
        # empty index folder is left.
        check_inputs(list(paths) if paths else [DEFAULT_PATH], given=bool(paths))
        if store is not None:
            searchindex.check_store(store)
    try:
        with write_lock(index_dir):
            if rebuild:
                _discard_if_damaged(index_dir)
            with Indexer.open(
                settings,
                rebuild=rebuild,
                summary=summary,
                progress=progress,
                embedder=embedder,
                store_uri=store,
            ) as indexer:
                indexer.retry_skipped = retry_skipped
                if forget:
                    indexer.forget(forget)
                if paths or not forget:
                    indexer.update(indexer.targets(paths))
                else:
                    indexer.finish()
    except (sqlite3.OperationalError, OSError) as exc:
        raise IndexWriteError(
            f"cannot write the index at {index_dir} ({exc}); {_write_error_hint(exc, index_dir)} "
            "and run again: the index keeps its last committed state, and the next run "
            "finishes the work"
        ) from exc
    summary.seconds = time.perf_counter() - started
    return summary


def _under(path: str, old: str, new: str) -> str | None:
    """``path`` with its prefix ``old`` replaced by ``new`` (None if not under ``old``)."""
    return new + path[len(old) :] if _inside(path, old) else None


def _same_bytes(path: Path, digest: str | None, size: int) -> tuple[bool, os.stat_result | None]:
    """Whether the file at ``path`` holds the bytes recorded (``digest``; None: compare the
    size only), with its stat (None if absent)."""
    try:
        st = path.stat()
        if not path.is_file():
            return False, None
        if st.st_size != size:
            return False, st
        return digest is None or content_hash(path) == digest, st
    except OSError:
        return False, None


def relocate(old: str, new: str, settings: Settings) -> RelocateSummary:
    """Record that the files indexed under ``old`` (a folder or file) are now under ``new``:
    documents found there with the same bytes (content hash) get their new path, source and
    root in the store, keeping their passages and vectors (nothing is embedded again, the
    generation stays); roots and skipped files follow. A document at ``new`` with other bytes
    is recorded there and read again by the next ``index``; one found at neither place is
    recorded at ``new`` and removed by the next ``index``; one still at ``old`` stays.

    Everything is written in one transaction (a crash leaves the old paths or the new). Refused
    with what to do: ``new`` does not exist, nothing is indexed under ``old``, or no
    document under ``old`` is at ``new`` with the same bytes (nothing is changed then)."""
    started = time.perf_counter()
    summary = RelocateSummary(old, new)
    index_dir = settings.index_dir
    new_path = Path(new).expanduser()
    if not new_path.exists():
        raise InputMissingError(
            f"{new}: no such file or folder; give `--relocate` the folder (or file) the "
            "indexed files were moved to"
        )
    new_abs = str(new_path.resolve())
    old_abs = str(Path(old).expanduser().absolute())
    check_index_location(index_dir, writer=True)
    if not (index_dir / DB_NAME).exists():  # before the lock: no folder is made for nothing
        raise IndexMissingError(
            f"no index at {index_dir}; give --index the index whose files moved"
        )
    try:
        with write_lock(index_dir):
            store = Store.open(index_dir, write=True)
            try:
                _relocate(store, summary, old_abs, new_abs, index_dir)
            finally:
                store.close()
    except (sqlite3.OperationalError, OSError) as exc:
        raise IndexWriteError(
            f"cannot write the index at {index_dir} ({exc}); {_write_error_hint(exc, index_dir)} "
            "and run again: nothing was relocated"
        ) from exc
    summary.seconds = time.perf_counter() - started
    return summary


def _relocate(
    store: Store, summary: RelocateSummary, old_abs: str, new_abs: str, index_dir: Path
) -> None:
    """The work of ``relocate`` on an open store (the caller holds the write lock)."""
    old, new = summary.old, summary.new
    docs = store.documents()
    roots = store.roots()
    skipped = store.skipped_files()
    old_real = str(Path(old_abs).resolve())
    if old_real != old_abs and not any(
        _under(x, old_abs, "") is not None
        for x in [*(d.path for d in docs), *(r.path for r in roots)]
    ):
        old_abs = old_real  # recorded paths are resolved: symbolic links followed
    if old_abs == new_abs:
        raise InputMissingError(
            f"{old} and {new} are the same place; give --relocate the folder the files were "
            "indexed from and the one they are in now"
        )
    if _under(new_abs, old_abs, "") is not None:
        raise InputMissingError(
            f"{new} is inside {old}; give --relocate the old place and the new one"
        )

    def source(path: str) -> str:
        """How the user names ``path`` (under NEW): NEW as given joined with the rest."""
        rest = path[len(new_abs) :].lstrip(os.sep)
        return os.path.normpath(os.path.join(new, rest)) if rest else os.path.normpath(new)

    by_path = {d.path for d in docs}
    moves: list[tuple[StoredDocument, str, int, int]] = []
    matched = 0
    for d in docs:
        target = _under(d.path, old_abs, new_abs)
        if target is None:
            continue
        if target in by_path:
            summary.left.append((d.source, f"already indexed at {source(target)}"))
            continue
        same, st = _same_bytes(Path(target), d.hash, d.size)
        if st is None and Path(d.path).exists():
            summary.left.append((d.source, f"not at {new}, still at {old}: left as it is"))
            continue
        if same and st is not None:
            matched += 1
            summary.relocated.append((d.source, source(target)))
            moves.append((d, target, st.st_size, st.st_mtime_ns))
        else:
            (summary.changed if st is not None else summary.absent).append(source(target))
            moves.append((d, target, d.size, d.mtime_ns))  # the next `index` sees the change
    moved_skipped: list[SkippedFile] = []
    gone_skipped: list[str] = []
    for path, f in skipped.items():
        target = _under(path, old_abs, new_abs)
        if target is None:
            continue
        gone_skipped.append(path)
        same, st = _same_bytes(Path(target), f.hash, f.size)
        if same and st is not None:
            moved_skipped.append(
                SkippedFile(target, source(target), f.hash, st.st_size, st.st_mtime_ns, f.reason)
            )
    root_moves: list[tuple[str, str, str]] = []
    """(old path, new path, new given) of the roots."""
    for r in roots:
        target = _under(r.path, old_abs, new_abs)
        if target is not None:
            root_moves.append((r.path, target, source(target)))
            summary.roots.append((r.given, source(target)))
    holders = [r for r in roots if _under(old_abs, r.path, "") is not None and r.path != old_abs]
    inside_root = any(_under(new_abs, r.path, "") is not None for r in roots)
    if holders and not inside_root:
        root_moves.append(("", new_abs, os.path.normpath(new)))
        summary.roots.append(("", os.path.normpath(new)))
    if not (moves or summary.left or root_moves or gone_skipped):
        raise InputMissingError(
            f"{old}: nothing in {index_dir} was indexed from there; `polyfind status` lists "
            "the roots, `polyfind search --json` the sources"
        )
    if moves and not matched:
        raise InputMissingError(
            f"none of the {len(moves)} files indexed under {old} is at {new} with the same "
            f"content; check {new} (nothing was changed), or run `polyfind index {new}` to "
            "index it anew"
        )

    def root_of(d: StoredDocument, target: str) -> str:
        """The folder the document is recorded under (a file root: its folder)."""
        moved = _under(d.root, old_abs, new_abs)
        if moved is not None:
            return moved
        if _under(target, d.root, "") is not None:
            return d.root
        return new_abs if Path(new_abs).is_dir() else str(Path(new_abs).parent)

    with store.transaction():
        for d, target, size, mtime_ns in moves:
            store.move_document(
                d.id,
                path=target,
                root=root_of(d, target),
                source=source(target),
                size=size,
                mtime_ns=mtime_ns,
            )
        for old_root, new_root, given in root_moves:
            if old_root:
                store.move_root(old_root, new_root, given)
            else:
                store.add_root(new_root, given)
        store.remove_skipped(gone_skipped)
        store.set_skipped(moved_skipped)
        store.set_meta("updated_at", str(time.time()))
    summary.skipped = len(moved_skipped)


def check_inputs(paths: Sequence[str], *, given: bool) -> None:
    """Refuse a run none of whose inputs exists (one line, with what to do); with some
    missing the run goes on and the summary lists them."""
    if any(os.path.lexists(Path(p).expanduser()) for p in paths):
        return
    if given:
        what = paths[0] if len(paths) == 1 else f"none of {', '.join(paths)}"
        raise InputMissingError(f"{what}: no such file or folder; nothing was indexed")
    raise InputMissingError(
        f"no path given and no {paths[0]}/ here; give the files or folders to index: "
        "`polyfind index PATH ...`"
    )


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


class Indexer:
    """One writer's run over an index: its store, the settings, the embedder (given, or
    loaded once there is something to embed), the summary being filled and the progress
    being reported. The caller holds the write lock (``index_paths`` does it all).

    ``update`` is the run; its steps are ``plan`` (what changed on disk), ``apply`` (load,
    remove, chunk, embed and commit in groups, save the vectors) and ``finish``. Each group
    of files is committed in one transaction, so a crash loses at most the group under way,
    and a file that fails to load or chunk is reported in the summary and skipped.
    """

    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        rebuilt: bool = False,
        summary: IndexSummary | None = None,
        progress: Progress | None = None,
        embedder: Embedder | None = None,
    ) -> None:
        self.store = store
        self.settings = settings
        self.index_dir = settings.index_dir
        self.rebuilt = rebuilt
        """The index was emptied for this run: its vectors are written even with no file."""
        self.summary = summary if summary is not None else IndexSummary()
        self.progress: Progress = progress or _NoProgress()
        self.embedder = embedder
        self._loaded_embedder = False
        """The embedder was loaded by this run (and is let go once the vectors are made)."""
        self.model_name = check_model(store, settings.model, self.index_dir)
        self.projection: LanguageProjection | None = (
            load_projection(self.model_name) if settings.language_projection else None
        )
        self.retry_skipped = False
        """Read again the files skipped before even if they are unchanged."""
        self.known_skipped: dict[str, SkippedFile] = {}
        self.new_skipped: list[SkippedFile] = []
        """Files skipped for a reason in this run, recorded at the end (``finish``)."""

    @classmethod
    @contextmanager
    def open(
        cls,
        settings: Settings,
        *,
        rebuild: bool = False,
        summary: IndexSummary | None = None,
        progress: Progress | None = None,
        embedder: Embedder | None = None,
        store_uri: str | None = None,
    ) -> Iterator[Indexer]:
        """An indexer over the index at ``settings.index_dir`` (created if missing; emptied
        first for ``rebuild``; its search index in ``store_uri`` if given, see
        ``searchindex.choose``), its store closed at the end."""
        store = Store.open(settings.index_dir, create=True, analyzer=settings.lexical_analyzer)
        try:
            if rebuild:
                kept = ("schema", "generation", *searchindex.KEPT_ON_REBUILD)
                with store.transaction():
                    store.wipe()  # documents, pages, chunks and lexical postings together
                    marks = ",".join("?" * len(kept))
                    store.conn.execute(f"DELETE FROM meta WHERE key NOT IN ({marks})", kept)
                    store.bump_generation()
            searchindex.choose(store, store_uri, settings.index_dir, rebuild=rebuild)
            if rebuild:
                searchindex.clear(settings.index_dir, store)
            indexer = cls(
                store,
                settings,
                rebuilt=rebuild,
                summary=summary,
                progress=progress,
                embedder=embedder,
            )
            indexer.fill_typicality()
            yield indexer
        finally:
            store.close()

    def fill_typicality(self) -> None:
        """Store the typicality of the passages of an index made before schema 4 (one pass
        over its vectors, in one transaction, the first time a writer opens it); meta
        ``typicality`` = "complete" records that every passage has it."""
        store = self.store
        if store.get_meta(TYPICALITY_META) == "complete":
            return
        todo = store.documents_without_typicality()
        with store.transaction():
            for doc_id in todo:
                ids, vecs = store.document_vectors(doc_id, self.dim)
                values = typicality(vecs, self.projection)
                store.set_typicality(zip(ids.tolist(), values.tolist(), strict=True))
            store.set_meta(TYPICALITY_META, "complete")
        if todo:
            log.info("%s: typicality stored for %d documents", self.index_dir, len(todo))

    @property
    def dim(self) -> int:
        """The index's vector size (0 while no model is recorded)."""
        return int(self.store.get_meta("dim") or 0)

    def targets(self, paths: Sequence[str] | None) -> list[str]:
        """``paths``, or if none the roots the index remembers, or ``corpus`` for a new one."""
        if paths:
            check_inputs(paths, given=True)
            return list(paths)
        roots = self.store.roots()
        if not roots:
            check_inputs([DEFAULT_PATH], given=False)
            return [DEFAULT_PATH]
        targets = [root_argument(r.path, r.given) for r in roots]
        if not any(os.path.lexists(t) for t in targets):
            raise InputMissingError(
                f"{targets[0] if len(targets) == 1 else 'none of ' + ', '.join(targets)}: no "
                "such file or folder (the index's roots); `polyfind index --forget PATH` drops "
                "a root, `polyfind index PATH` adds one"
            )
        return targets

    def forget(self, paths: Sequence[str]) -> None:
        """Drop roots with their documents and skipped files (and any documents under a
        path that is not a root). A path that names neither is an error."""
        store = self.store
        known = {r.path for r in store.roots()}
        targets = [str(Path(p).expanduser().absolute()) for p in paths]
        targets = [t if t in known else str(Path(t).resolve()) for t in targets]
        docs = [d for d in store.documents() if any(_inside(d.path, t) for t in targets)]
        skipped = [p for p in store.skipped_files() if any(_inside(p, t) for t in targets)]
        unknown = [
            given
            for given, t in zip(paths, targets, strict=True)
            if t not in known and not any(_inside(d.path, t) for d in docs)
        ]
        if unknown:
            raise InputMissingError(
                f"{unknown[0]} is not a root of {self.index_dir} and holds no indexed file; "
                "`polyfind status` lists the roots"
            )
        with store.transaction():
            for t in targets:
                store.remove_root(t)
            store.remove_skipped(skipped)
            if not docs:
                store.bump_generation()
        if docs:
            if not self.dim:  # documents but no model recorded: cannot happen in a sound index
                raise IndexDamagedError(f"{self.index_dir}: no model recorded; run `--rebuild`")
            vindex = self.open_vectors()
            self.remove(docs, vindex)
            vindex.finish(store.generation)
        self.summary.forgotten.extend(paths)

    def update(self, paths: Sequence[str]) -> None:
        """Bring the index up to date with ``paths``."""
        work, removed = self.plan(paths)
        if self.embedder is not None:
            self.record_model()
        if work or removed or self.rebuilt:
            self.apply(work, removed)
        elif self.dim and not searchindex.is_current(
            self.index_dir, self.store, self.dim, self.projection
        ):
            self.open_vectors()  # rebuilt (or repaired) from the store and saved
        # else: nothing to add or remove, the search index is in step: neither is opened
        self.write_waiting_terms()
        self.finish()

    def plan(self, paths: Sequence[str]) -> tuple[list[_Work], list[StoredDocument]]:
        """Sort files into unchanged (re-stamped where only their time changed), to (re)index
        and removed (gone from a folder given in ``paths``)."""
        summary, store = self.summary, self.store
        found: dict[str, FoundFile] = {}
        seen: set[str] = set()
        """Every file found, supported or not (skipped records of the others are dropped)."""
        roots: list[Path] = []
        new_roots: list[tuple[str, str]] = []
        self.known_skipped = store.skipped_files()
        for given in paths:
            try:
                for f in discover(given):
                    seen.add(str(f.path))
                    if not f.supported:
                        self.skip(f, None, f"unsupported file type {f.path.suffix or '(none)'}")
                        continue
                    found.setdefault(str(f.path), f)
                root = Path(given).expanduser().resolve()
                roots.append(root)
                new_roots.append((str(root), given))
            except FileNotFoundError:
                # Its documents stay (a moved folder or an unmounted disk); `--forget` drops them.
                summary.skipped.append((given, "no such file or folder"))
                summary.missing.append(given)
            except OSError as exc:
                summary.skipped.append((given, f"cannot read: {exc.strerror}"))
                summary.missing.append(given)
        self.progress.phase("scanning", len(found))
        work: list[_Work] = []
        touched: list[tuple[int, FoundFile]] = []
        restamped: list[SkippedFile] = []
        for path, f in found.items():
            prev = store.document_by_path(path)
            self.progress.advance()
            if prev is not None and prev.size == f.size and prev.mtime_ns == f.mtime_ns:
                summary.unchanged.append(f.source)
                continue
            before = self.known_skipped.get(path)
            if self._still_skipped(f, before):
                continue
            try:
                digest = content_hash(f.path)
            except OSError as exc:
                summary.skipped.append(
                    (f.source, f"cannot read: {exc.strerror}; check permissions")
                )
                continue
            if prev is not None and prev.hash == digest:
                touched.append((prev.id, f))
                summary.unchanged.append(f.source)
                continue
            if before is not None and before.hash == digest and not self.retry_skipped:
                summary.still_skipped.append((f.source, before.reason))
                restamped.append(
                    SkippedFile(path, f.source, digest, f.size, f.mtime_ns, before.reason)
                )
                continue
            work.append(_Work(f, digest, prev))
        gone = [
            p
            for p in self.known_skipped
            if p not in seen and any(_inside(p, root) for root in roots) and not Path(p).exists()
        ]
        with store.transaction():
            for doc_id, f in touched:
                store.touch_document(doc_id, f.size, f.mtime_ns, f.source)
            store.set_skipped(restamped)
            store.remove_skipped(gone)
            for root_path, given in new_roots:
                store.add_root(root_path, given)
        removed = [
            doc
            for doc in store.documents()
            if doc.path not in found
            and any(_inside(doc.path, root) for root in roots)
            and not Path(doc.path).exists()
        ]
        return work, removed

    def _still_skipped(self, f: FoundFile, before: SkippedFile | None) -> bool:
        """``f`` was skipped before and is unchanged (size and time): report it, do not read it."""
        if before is None or self.retry_skipped:
            return False
        if before.size != f.size or before.mtime_ns != f.mtime_ns:
            return False
        self.summary.still_skipped.append((f.source, before.reason))
        return True

    def skip(self, f: FoundFile, digest: str | None, reason: str) -> None:
        """Report a file skipped for a reason and remember it, unless it was skipped before
        for the same reason and is unchanged."""
        before = self.known_skipped.get(str(f.path))
        if (
            before is not None
            and before.reason == reason
            and before.size == f.size
            and before.mtime_ns == f.mtime_ns
            and not self.retry_skipped
        ):
            self.summary.still_skipped.append((f.source, reason))
            return
        self.summary.skipped.append((f.source, reason))
        self.new_skipped.append(
            SkippedFile(str(f.path), f.source, digest, f.size, f.mtime_ns, reason)
        )

    def apply(self, work: list[_Work], removed: list[StoredDocument]) -> None:
        """Remove the chunks of vanished files and index new and changed files."""
        on_cluster = bool(work) and bool(self.settings.cluster or self.settings.cluster_workers)
        loaded: Iterable[tuple[FoundFile, Document | Failed | Processed]] = ()
        with contextlib.ExitStack() as stack:
            if on_cluster:  # a local cluster starts while the model loads
                from .cluster import connect

                client = stack.enter_context(connect(self.settings))
            else:  # loading starts while the model loads
                loaded = stack.enter_context(closing(self.load(work)))
            if self.embedder is None and work:
                self.embedder = self.load_embedder()
                self._loaded_embedder = True
                self.record_model()
            if not self.dim:  # a new index and nothing to embed
                return
            vindex = self.open_vectors()
            if removed:
                self.remove(removed, vindex)
            if work:
                if on_cluster:
                    loaded = stack.enter_context(closing(self.load_on_cluster(client, work)))
                self.index_files(work, loaded, vindex)
        vindex.finish(self.store.generation)  # rebuilt first if the size calls for it

    def load_on_cluster(self, client: Any, work: list[_Work]) -> ClusterLoading:
        """The files of ``work`` loaded, chunked and embedded on the Dask cluster of
        ``client`` with this run's model, engine and precision, in order."""
        from .cluster import ClusterLoading

        embedder = self._embedder()
        settings = self.settings.with_(
            model=self.model_name, engine=embedder.engine, precision=embedder.precision
        )
        workers = max(1, len(client.scheduler_info(n_workers=-1).get("workers", {})))
        # The workers analyse the lexical terms too (see polyfind.cluster).
        analyzer = self.store.analyzer
        return ClusterLoading(
            client,
            [w.found for w in work],
            settings,
            in_flight=2 * workers,
            dim=embedder.dim,
            analyzer=analyzer.name if analyzer is not None else None,
        )

    def load(self, work: list[_Work]) -> Loading:
        """The files of ``work`` loaded in order (in loader processes when it pays, each
        under the time and memory limits, starting now), their loaders given the settings."""
        s = self.settings
        found = [w.found for w in work]
        workers = extract_workers(sum(f.size for f in found), len(found), s)
        limits = LoadLimits(s.load_timeout_s, s.load_timeout_per_mb_s, s.load_memory_mb or None)
        return load_documents(found, workers, limits=limits, settings=s)

    def load_embedder(self) -> Embedder:
        """The index's model at the settings' precision (else the index's, else the default),
        on the settings' engine (else the index's where it runs them, else the default)."""
        from .embedding import load_for_index

        meta = self.store.get_meta
        s = self.settings.with_(model=self.model_name)
        return load_for_index(s, meta("precision"), meta("engine"))

    def record_model(self) -> None:
        """Record the embedder in a new index; refuse one other than the index's."""
        embedder, store, settings = self._embedder(), self.store, self.settings
        recorded = store.get_meta("model")
        if recorded is not None and recorded != embedder.identity:
            raise ModelMismatchError(
                f"{self.index_dir} was built with model {recorded!r}, not {embedder.identity!r}; "
                "run `polyfind index --rebuild` to re-index with the new model"
            )
        precision = getattr(embedder, "precision", "fp32")
        engine = getattr(embedder, "engine", "torch")
        if recorded is None:
            with store.transaction():
                store.set_meta("model", embedder.identity)
                store.set_meta("model_name", self.model_name)
                store.set_meta("dim", str(embedder.dim))
                store.set_meta("chunk_tokens", str(settings.chunk_tokens))
                store.set_meta("chunk_overlap", str(settings.chunk_overlap))
                store.set_meta("precision", precision)
                store.set_meta("engine", engine)
        elif store.get_meta("precision") != precision or store.get_meta("engine") != engine:
            # Same model, so the vectors mix well (another engine at the same precision gives
            # cosine >= 0.9999); passages embedded before keep theirs until `--rebuild`. Later
            # runs use the precision and engine recorded here. An index without an engine
            # was embedded with torch.
            log.info(
                "%s: embedding at %s precision with %s from now on",
                self.index_dir,
                precision,
                engine,
            )
            with store.transaction():
                store.set_meta("precision", precision)
                store.set_meta("engine", engine)

    def open_vectors(self) -> SearchIndex:
        """The index's search index, as a writer (rebuilt from the store if stale)."""
        return searchindex.open_index(
            self.index_dir,
            self.store,
            self.dim,
            self.projection,
            writer=True,
            settings=self.settings,
        )

    def remove(self, docs: list[StoredDocument], vindex: SearchIndex) -> None:
        """Remove documents and their vectors, in one transaction."""
        with self.store.transaction():
            for doc in docs:
                ids = self.store.remove_document(doc.id)
                vindex.remove(np.asarray(ids, dtype=np.int64))
                self.summary.removed.append(doc.source)
            generation = self.store.bump_generation()
        vindex.committed(generation)

    def index_files(
        self,
        work: list[_Work],
        loaded: Iterable[tuple[FoundFile, Document | Failed | Processed]],
        vindex: SearchIndex,
    ) -> None:
        """Chunk the loaded files one by one; embed and commit them in groups of chunks.

        The embedding of a group runs in a thread of its own (the engines compute outside
        the GIL) while this thread chunks the files of the next group and commits the group
        before, so the encoder is not left waiting for chunking, lexical analysis and the
        database. Groups are still committed one by one, in order, by this thread."""
        self.progress.phase("indexing", len(work))
        group: list[_Prepared] = []
        size = 0
        queued: list[_Embedding] = []  # at most two: the group committed next, then the one after
        with ThreadPoolExecutor(1, thread_name_prefix="polyfind-embed") as pool:
            try:
                for w, (found, doc) in zip(work, loaded, strict=True):
                    assert found is w.found
                    prepared = self.prepare(w, doc)
                    if prepared is None:
                        self.progress.advance()
                        continue
                    group.append(prepared)
                    size += len(prepared.chunks)
                    if size >= self.settings.group_chunks:
                        queued.append(self.start_embedding(group, pool))
                        group, size = [], 0
                        if len(queued) > 1:
                            self.commit_group(queued.pop(0), vindex)
                if group:
                    queued.append(self.start_embedding(group, pool))
                while queued:
                    self.commit_group(queued.pop(0), vindex)
            finally:
                for embedding in queued:  # an error or an interrupt: drop the work not begun
                    embedding.vectors.cancel()

    def prepare(self, w: _Work, doc: Document | Failed | Processed) -> _Prepared | None:
        """A loaded file's chunks (with their vectors when a cluster worker made them), or
        None (reported in the summary) if it has none."""
        source = w.found.source
        if isinstance(doc, Processed):
            made = doc.prepared
            if made.chunk_error is not None:
                self.skip(w.found, w.hash, made.chunk_error)
                return None
            if isinstance(made.doc, Document) and made.chunks:
                return _Prepared(w, made.doc, made.chunks, doc.vectors, made.terms, made.analyzer)
            doc = made.doc  # failed to load, or no chunks: reported as below
            if isinstance(doc, Document):
                self.skip(w.found, w.hash, "no extractable text (a scanned or empty document?)")
                return None
        if isinstance(doc, Failed):
            if doc.fatal:
                raise PolyfindError(doc.reason)
            if doc.detail:
                log.error("failed to load %s\n%s", source, doc.detail.rstrip())
            self.skip(w.found, w.hash, doc.reason)
            return None
        try:
            chunks = make_chunks(doc, self._embedder(), self.settings)
        except PolyfindError:
            raise
        except Exception as exc:  # one bad file never stops a batch
            log.exception("failed to chunk %s", source)
            self.skip(w.found, w.hash, f"could not be read ({type(exc).__name__}: {exc})")
            return None
        if not chunks:
            self.skip(w.found, w.hash, "no extractable text (a scanned or empty document?)")
            return None
        return _Prepared(w, doc, chunks)

    def start_embedding(self, group: list[_Prepared], pool: ThreadPoolExecutor) -> _Embedding:
        """Begin embedding a group of files in ``pool``: the vectors a cluster worker made
        and those of identical passages already stored are taken as they are; the rest are
        embedded."""
        store, embedder = self.store, self._embedder()
        texts = [ch.embed_text for p in group for _, ch in p.chunks]
        vectors = np.zeros((len(texts), embedder.dim), dtype=np.float32)
        made: set[int] = set()  # positions a cluster worker embedded
        offset = 0
        for p in group:
            if p.vectors is not None:
                vectors[offset : offset + len(p.chunks)] = p.vectors
                made.update(range(offset, offset + len(p.chunks)))
            offset += len(p.chunks)
        todo = [i for i in range(len(texts)) if i not in made]
        hashes = {i: text_hash(texts[i]) for i in todo}
        cached = store.cached_vectors(hashes.values()) if todo else {}
        missing = [i for i in todo if hashes[i] not in cached]
        for i in todo:
            if hashes[i] in cached:
                vectors[i] = np.frombuffer(cached[hashes[i]], dtype=np.float32)
        batch_size = self.settings.batch_size

        def embed() -> np.ndarray:
            if missing:
                vectors[missing] = embedder.embed_passages(
                    [texts[i] for i in missing], batch_size=batch_size
                )
            return vectors

        return _Embedding(group, pool.submit(embed))

    def commit_group(self, embedding: _Embedding, vindex: SearchIndex) -> None:
        """Wait for a group's vectors and commit the group in one transaction."""
        store, group = self.store, embedding.group
        vectors = embedding.vectors.result()
        offset = 0
        with store.transaction():
            writing = store.writing_analyzer()
            for p in group:
                n = len(p.chunks)
                # Once for both the catalogue and the search index (a worker may have done
                # it); after the embedding where the search index does not keep them.
                terms = p.terms if p.analyzer == writing.name else None
                if terms is None and vindex.terms_at_add:
                    terms = [lexical.posting(writing, ch.text) for _, ch in p.chunks]
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
                    terms=terms,
                    terms_later=terms is None,
                    typicality=typicality(vectors[offset : offset + n], self.projection).tolist(),
                )
                vindex.add(
                    np.asarray(ids, dtype=np.int64),
                    vectors[offset : offset + n],
                    [ch for _, ch in p.chunks],
                    terms,
                )
                store.remove_skipped([str(f.path)])
                offset += n
                self.summary.chunks_added += n
                done = self.summary.updated if p.work.previous is not None else self.summary.added
                done.append(p.doc.source)
            generation = store.bump_generation()
        vindex.committed(generation)
        self.progress.advance(len(group))

    def write_waiting_terms(self) -> None:
        """Write the lexical terms of the chunks committed without them (this run's, or
        those of a run stopped before it got there), ``TERMS_BATCH`` chunks a transaction.
        An encoder this run loaded is let go first, so that the analysers (Kiwi's model
        alone is about 250 MB) and the encoder are never in memory together."""
        store = self.store
        total = store.waiting_terms()
        if not total:
            return
        if self._loaded_embedder:
            self.embedder = None
            _return_freed_memory()
        self.progress.phase("analysing", total)
        while True:
            with store.transaction():
                n = store.write_waiting_terms(TERMS_BATCH)
            self.progress.advance(n)
            if n < TERMS_BATCH:  # the last batch: no empty transaction to find that out
                break

    def finish(self) -> None:
        """Record the files skipped in this run; stamp a new index's creation time; count its
        chunks for the summary."""
        with self.store.transaction():
            self.store.set_skipped(self.new_skipped)
            if self.store.get_meta("created_at") is None:
                self.store.set_meta("created_at", str(time.time()))
        self.new_skipped = []
        self.summary.chunks_total = self.store.chunk_count()

    def _embedder(self) -> Embedder:
        if self.embedder is None:
            raise RuntimeError("the embedder is loaded in apply() before it is used")
        return self.embedder
