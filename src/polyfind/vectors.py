"""Vector index (FAISS): cosine similarity as inner product on L2-normalised vectors.

The index is a cache of the vectors kept in the SQLite store. It is saved as
``vectors-<generation>.faiss`` where the generation is the store's; a missing, stale or
unreadable file is rebuilt from the store, so a crash between the two never leaves
search results out of step with the metadata.

Two kinds, chosen by size (``Settings.exact_max_vectors``, see BENCHMARKS.md "Scale"):

- ``flat``: exact search (``IndexIDMap2`` over ``IndexFlatIP``), every vector compared.
- ``ivf``: approximate search (``IndexIVFFlat``, inner product, spherical k-means
  centroids), only the ``nprobe`` lists nearest the query are scanned. The vectors are kept
  uncompressed, so the scores of the passages found are exact; ids live in the inverted
  lists and ``remove_ids`` works as for the flat index.

An index switches kind when it is next opened or rebuilt: to ``ivf`` once it holds more
than ``exact_max_vectors`` vectors, back to ``flat`` below half of that (so an index near
the threshold does not flip at every change), and an ``ivf`` index is re-trained once it
has grown 16-fold past the size its lists were made for.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from .language_bias import LanguageProjection
from .lexical import LexicalResult
from .records import Chunk
from .settings import DEFAULT_ANN_NPROBE, Settings
from .store import Store, decode_vectors

log = logging.getLogger(__name__)

_PREFIX = "vectors-"
_SUFFIX = ".faiss"
#: Rows read from the store at a time when rebuilding.
_READ_BATCH = 50_000


def _faiss() -> Any:
    import faiss

    return faiss


def _mmap_flag() -> int:
    """FAISS's flag to map a saved index's storage rather than read it (IO_FLAG_MMAP_IFC);
    0 where this FAISS has none."""
    return int(getattr(_faiss(), "IO_FLAG_MMAP_IFC", 0))


def index_file(index_dir: Path, generation: int) -> Path:
    return index_dir / f"{_PREFIX}{generation}{_SUFFIX}"


def nlist_for(n: int) -> int:
    """Inverted lists for ``n`` vectors: the power of two nearest 4 * sqrt(n), 64..65536."""
    target = 4 * math.sqrt(max(n, 1))
    return int(min(65536, max(64, 2 ** round(math.log2(target)))))


def wanted_kind(n: int, current: str | None, exact_max: int) -> str:
    """``flat`` or ``ivf`` for an index of ``n`` vectors that is now ``current``."""
    if n > exact_max:
        return "ivf"
    if current == "ivf" and n >= exact_max // 2:
        return "ivf"
    return "flat"


class VectorIndex:
    """FAISS ids are chunk ids.

    With a ``projection`` (see language_bias.py) FAISS holds the projected vectors and
    queries are projected the same way; the store keeps the model's own vectors.
    """

    def __init__(
        self,
        index: Any,
        dim: int,
        projection: LanguageProjection | None,
        *,
        nprobe: int = DEFAULT_ANN_NPROBE,
        mapped: bool = False,
    ) -> None:
        self.index = index
        self.dim = dim
        self.projection = projection
        #: Lists scanned per query by an ``ivf`` index.
        self.nprobe = nprobe
        #: Whether the vectors are the saved file memory-mapped (``open`` for a reader):
        #: searchable, never changed (FAISS aborts the process on a change to a mapped index).
        self.mapped = mapped
        self._ivf: Any = _faiss().try_extract_index_ivf(index) if _is_ivf(index) else None

    @staticmethod
    def recipe(dim: int, projection: LanguageProjection | None) -> str:
        """What the vectors in the FAISS file are (recorded in the store's meta).

        The kind (flat or ivf) is not part of it: it follows from the file and the size.
        """
        return f"flat-ip:{dim}:{projection.name if projection else 'none'}"

    @property
    def kind(self) -> str:
        """``flat`` (exact) or ``ivf`` (approximate)."""
        return "ivf" if self._ivf is not None else "flat"

    @property
    def nlist(self) -> int:
        """Inverted lists of an ``ivf`` index (0 for ``flat``)."""
        return int(self._ivf.nlist) if self._ivf is not None else 0

    # -- making -----------------------------------------------------------------------------
    @classmethod
    def empty(
        cls, dim: int, projection: LanguageProjection | None = None, **kw: Any
    ) -> VectorIndex:
        """An empty exact index."""
        faiss = _faiss()
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), dim, projection, **kw)

    @classmethod
    def trained(
        cls,
        sample: np.ndarray,
        n_expected: int,
        projection: LanguageProjection | None = None,
        *,
        nprobe: int = DEFAULT_ANN_NPROBE,
        settings: Settings | None = None,
    ) -> VectorIndex:
        """An empty approximate index whose lists are trained on ``sample`` (model vectors)
        for about ``n_expected`` vectors (``settings``: ``ann_train_per_list`` and
        ``ann_train_iterations``)."""
        s = settings or Settings()
        faiss = _faiss()
        dim = int(sample.shape[1])
        x = _project(sample, projection)
        nlist = min(nlist_for(n_expected), max(1, len(x) // s.ann_train_per_list))
        quantizer = faiss.IndexFlatIP(dim)
        index = faiss.IndexIVFFlat(quantizer, dim, nlist, faiss.METRIC_INNER_PRODUCT)
        index.cp.spherical = True
        index.cp.niter = s.ann_train_iterations
        index.cp.max_points_per_centroid = s.ann_train_per_list * 4
        index.train(x)  # the index keeps a reference to its quantizer
        index.nprobe = nprobe
        return cls(index, dim, projection, nprobe=nprobe)

    @classmethod
    def from_store(
        cls,
        store: Store,
        dim: int,
        projection: LanguageProjection | None = None,
        *,
        settings: Settings | None = None,
        kind: str | None = None,
    ) -> VectorIndex:
        """Build the index from the vectors in the store (read in batches, not all at once).

        ``kind`` forces ``flat`` or ``ivf``; by default the size decides.
        """
        s = settings or Settings()
        n = store.chunk_count()
        kind = kind or wanted_kind(n, None, s.exact_max_vectors)
        if kind == "ivf" and n > 0:
            vi = cls.trained(
                _sample_vectors(store, dim, s.ann_train_per_list * nlist_for(n)),
                n,
                projection,
                nprobe=s.ann_nprobe,
                settings=s,
            )
            vi.fill(lambda: _stored_vectors(store, dim))
            return vi
        vi = cls.empty(dim, projection, nprobe=s.ann_nprobe)
        for ids, vecs in _stored_vectors(store, dim):
            vi.add(ids, vecs)
        return vi

    def fill(self, batches: Callable[[], Iterable[tuple[np.ndarray, np.ndarray]]]) -> None:
        """Add every (ids, vectors) batch of ``batches()`` to this empty ``ivf`` index.

        Two passes over the batches: the first assigns each vector to its list and counts,
        the second writes the vectors into lists sized exactly. Adding batch by batch instead
        would grow every list by doubling, holding up to twice the vectors' memory (at
        1,000,000 vectors: a build peak of 2.9 GB instead of 1.9; BENCHMARKS.md, "Scale").
        """
        faiss = _faiss()
        ivf = self._ivf
        if ivf is None or ivf.ntotal or ivf.code_size != 4 * self.dim:
            raise ValueError("fill() needs an empty ivf index holding plain float32 vectors")
        lists: list[np.ndarray] = []
        counts = np.zeros(ivf.nlist, dtype=np.int64)
        for _, vecs in batches():
            _, assigned = ivf.quantizer.search(self._prepare(vecs), 1)
            lists.append(assigned.ravel())
            counts += np.bincount(lists[-1], minlength=ivf.nlist)
        invlists = ivf.invlists
        for list_no in np.flatnonzero(counts):
            invlists.resize(int(list_no), int(counts[list_no]))
        filled = np.zeros(ivf.nlist, dtype=np.int64)
        for (ids, vecs), assigned in zip(batches(), lists, strict=True):
            x = self._prepare(vecs)
            order = np.argsort(assigned, kind="stable")
            ids = np.ascontiguousarray(ids, dtype=np.int64)[order]
            codes = np.ascontiguousarray(x[order]).view(np.uint8)
            present, starts = np.unique(assigned[order], return_index=True)
            ends = np.append(starts[1:], len(order))
            for list_no, a, b in zip(present.tolist(), starts.tolist(), ends.tolist(), strict=True):
                invlists.update_entries(
                    list_no,
                    int(filled[list_no]),
                    b - a,
                    faiss.swig_ptr(ids[a:b]),
                    faiss.swig_ptr(codes[a:b]),
                )
                filled[list_no] += b - a
        if not np.array_equal(filled, counts):
            raise RuntimeError("the batches changed between the two passes")
        ivf.ntotal = int(counts.sum())
        self.index.ntotal = ivf.ntotal

    def needs_rebuild(self, settings: Settings | None = None) -> bool:
        """Whether the size calls for the other kind, or for more inverted lists."""
        s = settings or Settings()
        n = self.ntotal
        if wanted_kind(n, self.kind, s.exact_max_vectors) != self.kind:
            return True
        return self.kind == "ivf" and self.nlist * 4 < nlist_for(n) and self.nlist < 65536

    @classmethod
    def open(
        cls,
        index_dir: Path,
        store: Store,
        dim: int,
        projection: LanguageProjection | None = None,
        *,
        writer: bool = False,
        settings: Settings | None = None,
    ) -> VectorIndex:
        """Load the FAISS file matching the store's generation, or rebuild it from the store.

        A reader (not ``writer``) maps the file into memory instead of reading it
        (``IO_FLAG_MMAP_IFC``: the vectors of a flat index or the inverted lists of an ivf
        one): opening costs next to nothing whatever the size, the pages come from the
        file cache as searches touch them, and processes searching the same index share
        them. Writers replace the file rather than change it (``save``), so a mapping stays
        valid, on the generation it was opened on, until it is closed.

        Generation, chunk count and (when rebuilding) the vectors are read in one read
        transaction, so a writer committing meanwhile cannot mix two states. Only a
        ``writer`` (holding the index's write lock) saves a rebuilt file.
        """
        s = settings or Settings()
        in_tx = store.conn.in_transaction
        if not in_tx:
            store.conn.execute("BEGIN")
        try:
            generation = store.generation
            path = index_file(index_dir, generation)
            n_chunks = store.chunk_count()
            same_recipe = store.get_meta("vector_recipe") == cls.recipe(dim, projection)
            vi: VectorIndex | None = None
            if path.exists() and same_recipe:
                mapped = not writer and _mmap_flag() != 0
                try:
                    index = _faiss().read_index(str(path), _mmap_flag() if mapped else 0)
                    if index.d == dim and index.ntotal == n_chunks:
                        vi = cls(index, dim, projection, nprobe=s.ann_nprobe, mapped=mapped)
                    else:
                        log.warning("%s does not match the metadata store; rebuilding it", path)
                except RuntimeError as exc:
                    log.warning("%s is unreadable (%s); rebuilding it from the store", path, exc)
            if vi is not None and not (writer and vi.needs_rebuild(s)):
                return vi
            kind = wanted_kind(n_chunks, vi.kind if vi is not None else None, s.exact_max_vectors)
            vi = cls.from_store(store, dim, projection, settings=s, kind=kind)
        finally:
            if not in_tx:
                store.conn.execute("COMMIT")
        if writer:
            vi.save(index_dir, generation)
            if not same_recipe:
                store.set_meta("vector_recipe", cls.recipe(dim, projection))
        return vi

    @staticmethod
    def is_current(index_dir: Path, store: Store, dim: int, projection: Any) -> bool:
        """Whether the saved file matches the store's generation and recipe (no reading)."""
        return index_file(index_dir, store.generation).exists() and store.get_meta(
            "vector_recipe"
        ) == VectorIndex.recipe(dim, projection)

    # -- using ------------------------------------------------------------------------------
    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        return _project(vectors, self.projection)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def _check_writable(self) -> None:
        if self.mapped:
            raise ValueError("this vector index is a read-only mapping of its file")

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        self._check_writable()
        if len(ids):
            self.index.add_with_ids(
                self._prepare(vectors),
                np.ascontiguousarray(ids, dtype=np.int64),
            )

    def remove(self, ids: np.ndarray) -> int:
        """Remove the vectors with these ids; returns how many there were."""
        self._check_writable()
        if len(ids):
            return int(self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64)))
        return 0

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` (scores, ids) for one query vector; ``allowed`` restricts the ids."""
        if self.ntotal == 0 or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        faiss = _faiss()
        q = self._prepare(query.reshape(1, -1))
        k = min(k, self.ntotal)
        sel = None
        if allowed is not None:
            if len(allowed) == 0:
                return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
            sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed, dtype=np.int64))
            k = min(k, len(allowed))
        with _one_thread(faiss):
            scores, ids = self._search(faiss, q, k, sel, allowed)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def _search(
        self, faiss: Any, q: np.ndarray, k: int, sel: Any, allowed: np.ndarray | None
    ) -> tuple[np.ndarray, np.ndarray]:
        if self._ivf is None:
            params = None if sel is None else faiss.SearchParameters(sel=sel)
            scores, ids = self.index.search(q, k, params=params)
        else:
            # With a filter, probe more lists in proportion, so that about as many allowed
            # vectors are compared as without one (all lists is an exact search); and if k
            # allowed vectors are still not found, more again.
            nprobe = self.nprobe
            if allowed is not None:
                nprobe = math.ceil(nprobe * self.ntotal / len(allowed))
            nprobe = min(nprobe, self.nlist)
            while True:
                params = faiss.SearchParametersIVF(nprobe=nprobe)
                if sel is not None:
                    params.sel = sel
                scores, ids = self.index.search(q, k, params=params)
                if sel is None or nprobe >= self.nlist or (ids[0] >= 0).sum() >= k:
                    break
                nprobe = min(self.nlist, nprobe * 4)
        return scores, ids

    def save(self, index_dir: Path, generation: int) -> Path:
        """Write atomically as the file of ``generation`` and delete older generations."""
        faiss = _faiss()
        path = index_file(index_dir, generation)
        tmp = path.with_suffix(".tmp")
        try:
            faiss.write_index(self.index, str(tmp))
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
            os.replace(tmp, path)
        except (OSError, RuntimeError) as exc:  # FAISS reports a failed write as RuntimeError
            with contextlib.suppress(OSError):
                tmp.unlink(missing_ok=True)
            if isinstance(exc, OSError):
                raise
            raise OSError(f"could not write {tmp}: {str(exc).splitlines()[0]}") from exc
        for old in index_dir.glob(f"{_PREFIX}*{_SUFFIX}"):
            if old != path:
                old.unlink(missing_ok=True)
        return path


@contextmanager
def _one_thread(faiss: Any) -> Iterator[None]:
    """One OpenMP thread for the block (this thread's setting only, restored after).

    A single query gains nothing from FAISS's threads, and waking them costs: on the shared
    2-core machine an exact search of 50,000 vectors took 24 ms with two threads, 2.8 ms
    with one (BENCHMARKS.md, "Speed").
    """
    before = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        yield
    finally:
        faiss.omp_set_num_threads(before)


def _project(vectors: np.ndarray, projection: LanguageProjection | None) -> np.ndarray:
    if projection is not None:
        vectors = projection.apply(vectors)
    return np.ascontiguousarray(vectors, dtype=np.float32)


def _is_ivf(index: Any) -> bool:
    if index is None:
        return False
    return _faiss().try_extract_index_ivf(index) is not None


def _stored_vectors(store: Store, dim: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Every (chunk ids, vectors) in the store, in batches of ``_READ_BATCH`` rows."""
    cur = store.conn.execute("SELECT id, vector FROM chunks ORDER BY id")
    while rows := cur.fetchmany(_READ_BATCH):
        yield decode_vectors(rows, dim, store.path)


def _sample_vectors(store: Store, dim: int, n: int) -> np.ndarray:
    """About ``n`` stored vectors spread over the whole table, to train the lists on."""
    total = store.chunk_count()
    step = max(1, total // max(n, 1))
    rows = store.conn.execute(
        "SELECT vector FROM chunks WHERE id % ? = 0 ORDER BY id", (step,)
    ).fetchall()
    if len(rows) < min(n, total) // 2:  # ids far from contiguous: take every step-th row
        rows = store.conn.execute("SELECT vector FROM chunks ORDER BY id").fetchall()[::step]
    flat = np.frombuffer(b"".join(r[0] for r in rows), dtype=np.float32)
    return flat.reshape(-1, dim)


class LocalIndex:
    """The default search index (``backend.SearchIndex``): FAISS in the index folder for
    dense search, the store's FTS5 table for lexical search.

    The FAISS file is a cache of the store's vectors named after the store's generation
    (``VectorIndex.open``), so ``committed`` has nothing to do: a crash before ``finish``
    leaves a file of an older generation, which the next open rebuilds from the store. A
    reader opens the file on its first dense search (``show`` and lexical searches never do).
    """

    def __init__(
        self,
        index_dir: Path,
        store: Store,
        dim: int,
        projection: LanguageProjection | None = None,
        *,
        writer: bool = False,
        settings: Settings | None = None,
    ) -> None:
        self.index_dir = index_dir
        self.store = store
        self.dim = dim
        self.projection = projection
        self.writer = writer
        self.settings = settings or Settings()
        self._vectors: VectorIndex | None = None
        if writer:  # rebuilt from the store and saved now if stale
            self._vectors = self.vectors

    @property
    def vectors(self) -> VectorIndex:
        if self._vectors is None:
            self._vectors = VectorIndex.open(
                self.index_dir,
                self.store,
                self.dim,
                self.projection,
                writer=self.writer,
                settings=self.settings,
            )
        return self._vectors

    @property
    def kind(self) -> str:
        return self.vectors.kind

    @property
    def ntotal(self) -> int:
        return self.vectors.ntotal

    def search(
        self, query: np.ndarray, k: int, langs: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        allowed = self.store.chunk_ids_by_lang(langs) if langs else None
        return self.vectors.search(query, k, allowed)

    def lexical_search(
        self, query: str, k: int, langs: Sequence[str] | None = None
    ) -> LexicalResult:
        return self.store.lexical_search(query, k, langs)

    @property
    def terms_at_add(self) -> bool:
        return False  # the lexical postings are the store's

    def add(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        chunks: Sequence[Chunk],
        terms: Sequence[str] | None,
    ) -> None:
        self.vectors.add(ids, vectors)

    def remove(self, ids: np.ndarray) -> None:
        self.vectors.remove(ids)

    def committed(self, generation: int) -> None:
        """Nothing to do: the FAISS file follows the store's generation at ``finish``."""

    def finish(self, generation: int) -> None:
        """Save the vectors as the file of ``generation``, rebuilt first from the store when
        the size calls for the other kind (or more lists)."""
        if self.vectors.needs_rebuild(self.settings):
            self._vectors = None  # free its memory before the new one is built
            self._vectors = VectorIndex.from_store(
                self.store, self.dim, self.projection, settings=self.settings
            )
        self.vectors.save(self.index_dir, generation)

    def close(self) -> None:
        """Nothing to let go of: the mapping goes with the object."""

    @staticmethod
    def is_current(index_dir: Path, store: Store, dim: int, projection: Any) -> bool:
        return VectorIndex.is_current(index_dir, store, dim, projection)

    @staticmethod
    def ready(index_dir: Path, generation: int) -> bool:
        """Whether the vectors of ``generation`` are saved (a reader opens them at once)."""
        return index_file(index_dir, generation).exists()
