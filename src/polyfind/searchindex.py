"""Which search index an index folder uses, and opening it (``backend.SearchIndex``).

The store's meta key ``store`` records where the vectors and the lexical index live: absent
for the default (FAISS and FTS5 in the folder, ``vectors.LocalIndex``), a URI
``milvus://HOST:PORT[/DB]`` for a Milvus server (``milvus.MilvusIndex``). ``polyfind index
--store URI`` records it when the index is made (or rebuilt); every later command reads it
from there, so nothing above this module knows which implementation it talks to.
"""

from __future__ import annotations

import logging
from pathlib import Path

from .backend import SearchIndex
from .language_bias import LanguageProjection
from .settings import Settings
from .store import Store
from .vectors import LocalIndex

log = logging.getLogger(__name__)

#: Meta key holding the store URI (absent: the default, in the index folder).
STORE_META = "store"
#: Meta keys a ``--rebuild`` keeps (with ``schema`` and ``generation``).
KEPT_ON_REBUILD = (STORE_META, "milvus_collection")
#: What ``--store`` takes for the default.
LOCAL = "local"


def store_uri(store: Store) -> str | None:
    """The index's store URI (None: the default, in the index folder)."""
    return store.get_meta(STORE_META)


def describe(store: Store) -> str:
    """The store as a user would give it to ``--store``."""
    return store_uri(store) or LOCAL


def _is_milvus(uri: str | None) -> bool:
    return uri is not None and uri != LOCAL


def open_index(
    index_dir: Path,
    store: Store,
    dim: int,
    projection: LanguageProjection | None = None,
    *,
    writer: bool = False,
    settings: Settings | None = None,
) -> SearchIndex:
    """The index's search index; a ``writer`` (holding the write lock) brings it in step
    with the store first (rebuilt or repaired where a crash left it behind)."""
    uri = store_uri(store)
    if _is_milvus(uri):
        from .milvus import MilvusIndex

        assert uri is not None
        return MilvusIndex.open(
            uri, index_dir, store, dim, projection, writer=writer, settings=settings
        )
    return LocalIndex(index_dir, store, dim, projection, writer=writer, settings=settings)


def is_current(
    index_dir: Path, store: Store, dim: int, projection: LanguageProjection | None
) -> bool:
    """Whether the search index is in step with the store (no writer needs to open it)."""
    uri = store_uri(store)
    if _is_milvus(uri):
        from .milvus import MilvusIndex

        assert uri is not None
        return MilvusIndex.in_step(uri, store)
    return LocalIndex.is_current(index_dir, store, dim, projection)


def ready(index_dir: Path, store: Store, generation: int) -> bool:
    """Whether a reader can open the state of ``generation`` without rebuilding anything."""
    if _is_milvus(store_uri(store)):
        return True  # Milvus serves every committed generation as it is written
    return LocalIndex.ready(index_dir, generation)


def check_store(wanted: str) -> str | None:
    """The store URI ``wanted`` (``--store``) stands for, without its credentials (None: the
    default); a malformed URI, or a server that is down or refuses polyfind, is refused here,
    before any work."""
    if wanted == LOCAL:
        return None
    from .milvus import connect, without_credentials

    bare = without_credentials(wanted)
    connect(bare).close()
    return bare


def choose(store: Store, wanted: str | None, index_dir: Path, *, rebuild: bool) -> str | None:
    """Record ``wanted`` (``--store``) as the index's store; returns the store URI in use
    (None: the default). Called inside no transaction.

    An index with documents moves without embedding anything again: the catalogue keeps
    every vector, and the writer fills the new search index from it (``LocalIndex``
    rebuilds FAISS from the store; ``MilvusIndex.repair`` writes the chunks Milvus lacks).
    The old store is left as it is (a Milvus collection is not dropped). A URI's
    ``USER:PASSWORD@`` is not recorded (``milvus.without_credentials``)."""
    recorded = store_uri(store)
    if wanted is None:
        return recorded
    new = check_store(wanted)
    if new == recorded:
        return recorded
    if store.document_count() > 0:
        log.info("%s: moving the search index from %s to %s", index_dir, recorded or LOCAL, wanted)
    with store.transaction():
        if new is None:
            store.conn.execute(f"DELETE FROM meta WHERE key IN {KEPT_ON_REBUILD!r}")
        else:
            store.conn.execute(
                "DELETE FROM meta WHERE key IN ('milvus_collection', 'milvus_clean')"
            )
            store.set_meta(STORE_META, new)
        store.bump_generation()
    return new


def clear(index_dir: Path, store: Store) -> None:
    """Empty the search index of an emptied store (``--rebuild``): a Milvus collection is
    dropped (made again on first write); FAISS needs nothing (rebuilt from the store)."""
    uri = store_uri(store)
    if _is_milvus(uri):
        from .milvus import MilvusIndex

        assert uri is not None
        MilvusIndex.drop(uri, store)
