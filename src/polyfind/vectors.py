"""Vector index (FAISS): cosine similarity as inner product on L2-normalised vectors.

The index is a cache of the vectors kept in the SQLite store. It is saved as
``vectors-<generation>.faiss`` where the generation is the store's; a missing, stale or
unreadable file is rebuilt from the store, so a crash between the two never leaves
search results out of step with the metadata.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import numpy as np

from .language_bias import LanguageProjection
from .store import Store

log = logging.getLogger(__name__)

_PREFIX = "vectors-"
_SUFFIX = ".faiss"


def _faiss() -> Any:
    import faiss

    return faiss


def index_file(index_dir: Path, generation: int) -> Path:
    return index_dir / f"{_PREFIX}{generation}{_SUFFIX}"


class VectorIndex:
    """FAISS ids are chunk ids.

    With a ``projection`` (see language_bias.py) FAISS holds the projected vectors and
    queries are projected the same way; the store keeps the model's own vectors.
    """

    def __init__(self, index: Any, dim: int, projection: LanguageProjection | None) -> None:
        self.index = index
        self.dim = dim
        self.projection = projection

    @staticmethod
    def recipe(dim: int, projection: LanguageProjection | None) -> str:
        """What the FAISS file was built with; recorded in the store's meta."""
        return f"flat-ip:{dim}:{projection.name if projection else 'none'}"

    @classmethod
    def empty(cls, dim: int, projection: LanguageProjection | None = None) -> VectorIndex:
        faiss = _faiss()
        return cls(faiss.IndexIDMap2(faiss.IndexFlatIP(dim)), dim, projection)

    @classmethod
    def from_store(
        cls, store: Store, dim: int, projection: LanguageProjection | None = None
    ) -> VectorIndex:
        ids, vecs = store.all_vectors(dim)
        vi = cls.empty(dim, projection)
        vi.add(ids, vecs)
        return vi

    @classmethod
    def open(
        cls,
        index_dir: Path,
        store: Store,
        dim: int,
        projection: LanguageProjection | None = None,
        *,
        writer: bool = False,
    ) -> VectorIndex:
        """Load the FAISS file matching the store's generation, or rebuild it from the store.

        Generation, chunk count and (when rebuilding) the vectors are read in one read
        transaction, so a writer committing meanwhile cannot mix two states. Only a
        ``writer`` (holding the index's write lock) saves a rebuilt file.
        """
        in_tx = store.conn.in_transaction
        if not in_tx:
            store.conn.execute("BEGIN")
        try:
            generation = store.generation
            path = index_file(index_dir, generation)
            n_chunks = store.chunk_count()
            same_recipe = store.get_meta("vector_recipe") == cls.recipe(dim, projection)
            if path.exists() and same_recipe:
                try:
                    index = _faiss().read_index(str(path))
                    if index.d == dim and index.ntotal == n_chunks:
                        return cls(index, dim, projection)
                    log.warning("%s does not match the metadata store; rebuilding it", path)
                except RuntimeError as exc:
                    log.warning("%s is unreadable (%s); rebuilding it from the store", path, exc)
            vi = cls.from_store(store, dim, projection)
        finally:
            if not in_tx:
                store.conn.execute("COMMIT")
        if writer:
            vi.save(index_dir, generation)
            if not same_recipe:
                store.set_meta("vector_recipe", cls.recipe(dim, projection))
        return vi

    def _prepare(self, vectors: np.ndarray) -> np.ndarray:
        if self.projection is not None:
            vectors = self.projection.apply(vectors)
        return np.ascontiguousarray(vectors, dtype=np.float32)

    @property
    def ntotal(self) -> int:
        return int(self.index.ntotal)

    def add(self, ids: np.ndarray, vectors: np.ndarray) -> None:
        if len(ids):
            self.index.add_with_ids(
                self._prepare(vectors),
                np.ascontiguousarray(ids, dtype=np.int64),
            )

    def remove(self, ids: np.ndarray) -> None:
        if len(ids):
            self.index.remove_ids(np.ascontiguousarray(ids, dtype=np.int64))

    def search(
        self, query: np.ndarray, k: int, allowed: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` (scores, ids) for one query vector; ``allowed`` restricts the ids."""
        if self.ntotal == 0 or k <= 0:
            return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
        faiss = _faiss()
        q = self._prepare(query.reshape(1, -1))
        k = min(k, self.ntotal)
        params = None
        if allowed is not None:
            if len(allowed) == 0:
                return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
            params = faiss.SearchParameters(sel=faiss.IDSelectorBatch(allowed.astype(np.int64)))
            k = min(k, len(allowed))
        scores, ids = self.index.search(q, k, params=params)
        keep = ids[0] >= 0
        return scores[0][keep], ids[0][keep]

    def save(self, index_dir: Path, generation: int) -> Path:
        """Write atomically as the file of ``generation`` and delete older generations."""
        faiss = _faiss()
        path = index_file(index_dir, generation)
        tmp = path.with_suffix(".tmp")
        data = faiss.serialize_index(self.index)
        with open(tmp, "wb") as fh:
            fh.write(data.tobytes())
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        for old in index_dir.glob(f"{_PREFIX}*{_SUFFIX}"):
            if old != path:
                old.unlink(missing_ok=True)
        return path
