"""What indexing and searching need from the vector and lexical indexes: one small interface.

The SQLite store (``store.py``) is the catalogue every index has: documents with their
hashes, pages, chunks with their citations and vectors, roots, skipped files, and the
generation counter bumped by each committed change. Above it sits a *search index* that
answers dense and lexical searches over the chunk ids, in one of two implementations:

- ``vectors.LocalIndex``: FAISS in the index folder plus the store's own FTS5 table (the
  default, in-process);
- ``milvus.MilvusIndex``: a Milvus collection holding the vectors and the analysed terms,
  searched with Milvus's vector index and its BM25 function.

The pipeline and the searcher talk to a ``SearchIndex`` only (``searchindex.open_index``
picks the implementation the index folder records). Writes follow one protocol, so that a
crash leaves either implementation consistent with the catalogue:

1. inside the catalogue's transaction, ``add`` the new chunks and ``remove`` the old ones
   (an implementation may write the added rows at once, invisible until step 2, and must
   keep the removed ones searchable until step 2);
2. after the transaction commits, ``committed(generation)`` with the store's new generation;
3. at the end of the run, ``finish(generation)`` (save, or rebuild when the size calls for it).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np

from .lexical import LexicalResult
from .records import Chunk


class SearchIndex(Protocol):
    """Dense and lexical search over the chunks of one index, and their upkeep."""

    @property
    def kind(self) -> str:
        """What answers dense searches ("flat", "ivf", "milvus-flat", ...)."""
        ...

    @property
    def ntotal(self) -> int:
        """Vectors searchable now."""
        ...

    def search(
        self, query: np.ndarray, k: int, langs: Sequence[str] | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Best ``k`` (scores, chunk ids) by cosine similarity for one query vector (the
        model's own; an implementation applies its language projection), only among
        chunks in ``langs`` when given."""
        ...

    def lexical_search(
        self, query: str, k: int, langs: Sequence[str] | None = None
    ) -> LexicalResult:
        """BM25 over the chunks, the query analysed by the index's lexical analyser."""
        ...

    @property
    def terms_at_add(self) -> bool:
        """Whether ``add`` needs the chunks' lexical terms (kept with the vectors). If not,
        the catalogue's terms may be written after the embedding (``Store.add_document``'s
        ``terms_later``) and ``add`` gets None."""
        ...

    def add(
        self,
        ids: np.ndarray,
        vectors: np.ndarray,
        chunks: Sequence[Chunk],
        terms: Sequence[str] | None,
    ) -> None:
        """New chunks (ids from the catalogue) with their model vectors and lexical terms
        (``lexical.posting`` by the catalogue's writing analyser; None where
        ``terms_at_add`` is False), inside the catalogue's transaction; searchable once it
        commits (``committed``)."""
        ...

    def remove(self, ids: np.ndarray) -> None:
        """Chunks deleted inside the catalogue's transaction."""
        ...

    def committed(self, generation: int) -> None:
        """The catalogue's transaction committed as ``generation``."""
        ...

    def finish(self, generation: int) -> None:
        """End of a writing run: make the state of ``generation`` durable."""
        ...

    def close(self) -> None:
        """Let go of connections (nothing for an in-process index)."""
        ...
