"""Metadata store (SQLite): documents, page texts, chunks and their vectors.

SQLite is the source of truth. Each chunk row carries its embedding as a float32 blob, so one
transaction adds or replaces a file's chunks and vectors together; the FAISS index
(``vectors.py``) is derived from these rows and rebuilt from them whenever it is missing or
older than the store. Chunk ids are the FAISS ids.

The lexical postings (``lexical.py``: an FTS5 table of analysed terms, rowid = chunk id) are
written and deleted in the same transactions as the chunks, or, for chunks committed with
``terms_later``, recorded as waiting in that transaction and written by a later one
(``write_waiting_terms``): the indexer does so after the embedding, when the encoder's memory
is free for the analysers (``Indexer.write_waiting_terms``). The meta key ``lexical_analyzer``
names the analyser that produced them; when it is missing or names another analyser (or an
older version of one), the table is rebuilt from the stored chunk texts.

Each chunk row also keeps how typical of its document the passage is (``typicality.py``),
computed by the indexer from the document's vectors; an index made before schema 4 gets its
values the first time a writer opens it (meta ``typicality`` = "complete" afterwards).

Schema versions: the meta key ``schema`` holds the layout's version. ``MIGRATIONS`` is the
ordered list of steps, each taking an index from version N - 1 to N in one transaction; an
index opened for writing (``Store.open(create=True)`` or ``write=True``: what ``polyfind
index`` does) is brought up to ``SCHEMA_VERSION`` step by step, keeping its chunks and
vectors. Readers (search, show, status, serve) never migrate and never write: an older index
is read as it is when the columns it lacks are optional (read as NULL, e.g. ``pages.label``),
otherwise refused with one line saying to run ``polyfind index`` once. An index written by a
newer polyfind (a version above ``SCHEMA_VERSION``) is refused with one line.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import lexical
from .errors import (
    IndexDamagedError,
    IndexLocationError,
    IndexMissingError,
    IndexUnreadableError,
    IndexVersionError,
    ModelMismatchError,
)
from .records import Chunk, Document, Passage
from .settings import DEFAULT_MODEL

log = logging.getLogger(__name__)

#: The layout this code writes; ``MIGRATIONS`` brings older indexes up to it.
SCHEMA_VERSION = 5
DB_NAME = "polyfind.sqlite"

#: Tables added by version 3: the roots given to ``index`` (re-indexed by ``polyfind index``
#: with no path) and the files skipped for a reason, with their size, time and hash (not read
#: again while unchanged).
_ROOTS_SCHEMA = """
CREATE TABLE IF NOT EXISTS roots (
    path TEXT PRIMARY KEY,
    given TEXT NOT NULL,
    added_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS skipped (
    path TEXT PRIMARY KEY,
    source TEXT NOT NULL,
    hash TEXT,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    reason TEXT NOT NULL,
    skipped_at REAL NOT NULL
);
"""

_SCHEMA = (
    """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS documents (
    id INTEGER PRIMARY KEY,
    path TEXT NOT NULL UNIQUE,
    root TEXT NOT NULL,
    source TEXT NOT NULL,
    hash TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime_ns INTEGER NOT NULL,
    format TEXT NOT NULL,
    lang TEXT NOT NULL,
    title TEXT,
    date TEXT,
    n_pages INTEGER NOT NULL,
    indexed_at REAL NOT NULL,
    author TEXT
);
CREATE INDEX IF NOT EXISTS documents_root ON documents(root);
CREATE TABLE IF NOT EXISTS pages (
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    number INTEGER,
    text TEXT NOT NULL,
    label TEXT,
    PRIMARY KEY (doc_id, seq)
);
CREATE TABLE IF NOT EXISTS chunks (
    id INTEGER PRIMARY KEY,
    doc_id INTEGER NOT NULL REFERENCES documents(id) ON DELETE CASCADE,
    page_seq INTEGER NOT NULL,
    page INTEGER,
    line INTEGER NOT NULL,
    start INTEGER NOT NULL,
    end INTEGER NOT NULL,
    lang TEXT NOT NULL,
    text TEXT NOT NULL,
    text_hash TEXT NOT NULL,
    vector BLOB NOT NULL,
    typicality REAL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
"""
    + _ROOTS_SCHEMA
    + lexical.SCHEMA
)

#: Meta key naming the analyser (with its version) behind the lexical table.
LEXICAL_META = "lexical_analyzer"
#: Meta key: "complete" once every passage has its typicality stored (``chunks.typicality``).
TYPICALITY_META = "typicality"


def _on_read_only_fs(index_dir: Path) -> bool:
    """``index_dir`` is on a file system mounted read-only."""
    try:
        return bool(os.statvfs(index_dir).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):  # no statvfs (Windows): open normally
        return False


def _connect_on_read_only_fs(path: Path) -> sqlite3.Connection:
    """Open the database on a read-only file system, where SQLite cannot create the files
    of its write-ahead log.

    An empty or absent log: the database file holds every commit and nothing can change
    it, so it is opened as immutable (no locks, no shared-memory file). Commits still in the
    log are readable only through its shared-memory file; without one they would be
    silently missing, so that case is refused with what to do.
    """
    uri = path.resolve().as_uri()
    wal = path.with_name(path.name + "-wal")
    if not (wal.exists() and wal.stat().st_size > 0):
        return sqlite3.connect(f"{uri}?immutable=1", uri=True, isolation_level=None)
    try:
        conn = sqlite3.connect(f"{uri}?mode=ro", uri=True, isolation_level=None)
        conn.execute("SELECT 1 FROM meta LIMIT 1")
    except sqlite3.OperationalError as exc:
        raise IndexUnreadableError(
            f"{path.parent}: the index's latest changes are still in {wal.name}, which cannot "
            f"be read on this read-only file system ({exc}); make the location writable once "
            "(any polyfind command then folds them into the database) or copy the index "
            "folder to a writable place"
        ) from exc
    return conn


@dataclass(frozen=True)
class StoredDocument:
    id: int
    path: str
    root: str
    source: str
    hash: str
    size: int
    mtime_ns: int
    format: str
    lang: str
    title: str | None
    date: str | None
    n_pages: int
    indexed_at: float
    author: str | None = None


@dataclass(frozen=True)
class Root:
    """A file or folder given to ``index``: ``path`` absolute, ``given`` as the user wrote it."""

    path: str
    given: str
    added_at: float


@dataclass(frozen=True)
class SkippedFile:
    """A file not indexed for a reason, as it was when it was tried."""

    path: str
    source: str
    hash: str | None
    size: int
    mtime_ns: int
    reason: str
    skipped_at: float = 0.0


@dataclass(frozen=True, kw_only=True)
class StoredChunk(Passage):
    """A passage read back from the index, with where the store keeps it."""

    id: int
    doc_id: int
    page_seq: int
    date: str | None
    author: str | None = None
    path: str = ""
    """The document's file: absolute, resolved (what ``missing`` checks)."""


def _columns(conn: sqlite3.Connection, table: str) -> set[str]:
    return {str(row[1]) for row in conn.execute(f"PRAGMA table_info({table})")}


def _add_column(conn: sqlite3.Connection, table: str, column: str, decl: str) -> None:
    if column not in _columns(conn, table):
        conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {decl}")


def _to_v2(conn: sqlite3.Connection) -> None:
    # Indexes made before documents had an author also said version 1: they get it here.
    _add_column(conn, "documents", "author", "TEXT")
    _add_column(conn, "pages", "label", "TEXT")


def _to_v3(conn: sqlite3.Connection) -> None:
    # One statement at a time: executescript would commit the step's transaction.
    for statement in _ROOTS_SCHEMA.split(";"):
        if statement.strip():
            conn.execute(statement)


def _to_v4(conn: sqlite3.Connection) -> None:
    # NULL for the passages already there: the writer fills them (``fill_typicality``).
    _add_column(conn, "chunks", "typicality", "REAL")
    conn.execute("DELETE FROM meta WHERE key=?", (TYPICALITY_META,))


def _to_v5(conn: sqlite3.Connection) -> None:
    # Every chunk already there has its postings: none is waiting.
    conn.execute(lexical.WAITING_SCHEMA)


@dataclass(frozen=True)
class Migration:
    """One step of the schema: from version ``version - 1`` to ``version``."""

    version: int
    summary: str
    apply: Callable[[sqlite3.Connection], None]
    """Runs inside the step's transaction; must not touch the stored vectors."""
    readable_before: bool = True
    """Code at this version can still read an index that has not had this step (it only
    adds optional columns, read as NULL); if False a reader asks for `polyfind index`."""


#: Every schema step in order; the last one's version is ``SCHEMA_VERSION``.
MIGRATIONS: tuple[Migration, ...] = (
    Migration(2, "pages.label: the page's printed label (and documents.author)", _to_v2),
    Migration(3, "roots and skipped files: the index remembers what it was given", _to_v3),
    Migration(4, "chunks.typicality: how typical of its document each passage is", _to_v4),
    Migration(5, "lexical_waiting: chunks whose lexical terms are written later", _to_v5),
)
assert [m.version for m in MIGRATIONS] == list(range(2, SCHEMA_VERSION + 1))

#: Columns added by migrations that a reader of an older index does without (as NULL).
OPTIONAL_COLUMNS = (("documents", "author"), ("pages", "label"), ("chunks", "typicality"))
#: Tables added by migrations that a reader of an older index reads as empty.
OPTIONAL_TABLES = ("roots", "skipped", lexical.WAITING)


def _schema_version(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    # No key: a version 1 index interrupted between making its tables and recording it.
    if row is None:
        return 1
    try:
        return int(row[0])
    except ValueError:
        raise sqlite3.DatabaseError(f"index format {row[0]!r} is not a number") from None


def migrate(conn: sqlite3.Connection, path: Path) -> int:
    """Bring the database up to ``SCHEMA_VERSION``, one transaction per step (a concurrent
    writer that got there first is noticed); returns the version it started from."""
    start = _schema_version(conn)
    for step in MIGRATIONS:
        conn.execute("BEGIN IMMEDIATE")
        try:
            if _schema_version(conn) == step.version - 1:
                step.apply(conn)
                conn.execute(
                    "INSERT OR REPLACE INTO meta VALUES ('schema', ?)", (str(step.version),)
                )
                log.info(
                    "%s: index format %d -> %d (%s)",
                    path,
                    step.version - 1,
                    step.version,
                    step.summary,
                )
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                with suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
            raise
    return start


def _check_version(version: int, path: Path, *, writer: bool) -> None:
    """Refuse an index this code cannot use as it is (one line, with what to do)."""
    if version > SCHEMA_VERSION:
        raise IndexVersionError(
            f"{path}: index format {version} was written by a newer polyfind (this one "
            f"knows formats up to {SCHEMA_VERSION}); upgrade polyfind, or rebuild the index "
            "in another folder with this one"
        )
    if version < 1:
        raise IndexDamagedError(
            f"{path}: unknown index format {version}; run `polyfind index --rebuild`"
        )
    if not writer and any(not m.readable_before for m in MIGRATIONS if m.version > version):
        raise IndexVersionError(
            f"{path}: index format {version} was made by an older polyfind; run "
            f"`polyfind index --index {path.parent}` once to upgrade it (nothing is embedded "
            "again)"
        )


#: Files polyfind itself keeps in an index folder: a folder holding only these (say, after a
#: run interrupted before its database was made) may become an index.
_OWN_FILES = ("write.lock", "vectors-")


def _own_file(name: str) -> bool:
    return name.startswith(DB_NAME) or name.startswith(_OWN_FILES) or name.endswith(".tmp")


def check_index_location(index_dir: Path, *, writer: bool) -> None:
    """Refuse, with what to do, an ``--index`` that cannot be an index: a file, a folder that
    is neither an index nor empty, or (``writer``) a place this user cannot write to.
    A location that does not exist is fine for a writer (it is made) and left to the caller
    otherwise."""
    if index_dir.is_file():
        raise IndexLocationError(
            f"--index {index_dir} is a file, not an index folder; give --index the folder of "
            "an index, or a new or empty folder for a new one"
        )
    if index_dir.is_dir() and not (index_dir / DB_NAME).exists():
        try:
            others = [p.name for p in index_dir.iterdir() if not _own_file(p.name)]
        except OSError as exc:
            raise IndexLocationError(
                f"cannot read the folder --index {index_dir} ({exc.strerror}); fix its "
                "permissions or give --index another folder"
            ) from exc
        if others:
            raise IndexLocationError(
                f"--index {index_dir} is not a polyfind index and not empty (it holds "
                f"{others[0]!r}{' and more' if len(others) > 1 else ''}); give --index the "
                "folder of an index, or a new or empty folder for a new one"
            )
    if not writer:
        return
    existing = next((p for p in (index_dir, *index_dir.parents) if p.exists()), None)
    if existing is not None and existing.is_file():
        raise IndexLocationError(
            f"--index {index_dir} is inside {existing}, which is a file; give --index a folder"
        )
    if existing is not None and not os.access(existing, os.W_OK | os.X_OK):
        where = "" if existing == index_dir else f" (in {existing})"
        if os.statvfs(existing).f_flag & os.ST_RDONLY:
            raise IndexLocationError(
                f"cannot write the index at {index_dir}: the file system is read-only{where}; "
                "searching it still works; to index, remount it writable or give --index "
                "another folder"
            )
        raise IndexLocationError(
            f"cannot write the index at {index_dir}: permission denied{where}; give --index a "
            "folder you can write to, or fix the permissions"
        )


def decode_vectors(
    rows: Sequence[tuple[int, bytes]], dim: int, path: Path
) -> tuple[np.ndarray, np.ndarray]:
    """(chunk ids, float32 matrix) from rows of (id, vector blob); a blob of another
    dimension means the store is damaged."""
    ids = np.fromiter((r[0] for r in rows), dtype=np.int64, count=len(rows))
    flat = np.frombuffer(b"".join(r[1] for r in rows), dtype=np.float32)
    if flat.size != len(rows) * dim:
        raise IndexDamagedError(
            f"{path}: stored vectors do not have dimension {dim}; run `polyfind index --rebuild`"
        )
    return ids, flat.reshape(len(rows), dim)


def text_hash(embed_text: str) -> str:
    import hashlib

    return hashlib.blake2b(embed_text.encode("utf-8"), digest_size=16).hexdigest()


class Store:
    """One SQLite database inside the index folder."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        path: Path,
        missing: set[tuple[str, str]] | None = None,
    ) -> None:
        self.conn = conn
        self.path = path
        self._analyzer: lexical.Analyzer | None = None
        self._languages: tuple[int, dict[str, int]] | None = None
        self._missing = missing or set()
        """Optional columns an older index read as it is lacks (``OPTIONAL_COLUMNS``), and
        optional tables as ``(table, "")`` (``OPTIONAL_TABLES``)."""

    def _col(self, table: str, alias: str, column: str) -> str:
        """``alias.column`` in a SELECT, or NULL where this (older) index lacks it."""
        return "NULL" if (table, column) in self._missing else f"{alias}.{column}"

    def _document_columns(self) -> str:
        return (
            "d.id, d.path, d.root, d.source, d.hash, d.size, d.mtime_ns, d.format, d.lang,"
            " d.title, d.date, d.n_pages, d.indexed_at, " + self._col("documents", "d", "author")
        )

    # -- opening ---------------------------------------------------------------------------
    @classmethod
    def open(
        cls,
        index_dir: Path,
        *,
        create: bool = False,
        analyzer: str | None = None,
        write: bool | None = None,
    ) -> Store:
        """Open (or with ``create`` make) the store of ``index_dir``.

        ``analyzer`` ("bigram", "morph") is the lexical analyser wanted; None keeps the one
        the index records (the default for a new index). The lexical table is rebuilt from
        the chunk texts when it was made by another analyser or version.

        ``write`` (default: ``create``): the caller will write, so an index made by an older
        polyfind is migrated (``MIGRATIONS``). Otherwise nothing is migrated: an older index
        is read as it is where the columns it lacks are optional, else refused.
        """
        writer = create if write is None else write
        migrating = False
        path = index_dir / DB_NAME
        check_index_location(index_dir, writer=create)
        if not path.exists():
            if not create:
                raise IndexMissingError(
                    f"no index at {index_dir}; build one with "
                    f"`polyfind index PATH --index {index_dir}`"
                )
            index_dir.mkdir(parents=True, exist_ok=True)
        try:
            if _on_read_only_fs(index_dir):
                conn = _connect_on_read_only_fs(path)
                writer = False  # nothing can be migrated here; read it as it is
            else:
                conn = sqlite3.connect(str(path), timeout=30.0, isolation_level=None)
                conn.execute("PRAGMA foreign_keys = ON")
                conn.execute("PRAGMA journal_mode = WAL")
                conn.execute("PRAGMA synchronous = NORMAL")
                fresh = not conn.execute(
                    "SELECT 1 FROM sqlite_master WHERE type='table' AND name='meta'"
                ).fetchone()
                if fresh:  # a new index: today's layout, whole or not at all
                    conn.executescript(
                        f"BEGIN IMMEDIATE;{_SCHEMA}INSERT OR IGNORE INTO meta"
                        f" VALUES ('schema', '{SCHEMA_VERSION}');COMMIT;"
                    )
            version = _schema_version(conn)
            _check_version(version, path, writer=writer)
            if writer and version < SCHEMA_VERSION:
                migrating = True
                migrate(conn, path)
                migrating = False
            if writer:
                conn.executescript(_SCHEMA)  # tables older indexes lack (IF NOT EXISTS)
            missing = {
                (table, column)
                for table, column in OPTIONAL_COLUMNS
                if column not in _columns(conn, table)
            }
            missing |= {(table, "") for table in OPTIONAL_TABLES if not _columns(conn, table)}
        except sqlite3.DatabaseError as exc:
            if migrating and isinstance(exc, sqlite3.OperationalError):
                conn.close()
                raise  # a write that failed (disk full, permissions): the writer reports it
            raise IndexDamagedError(
                f"{path}: index database is damaged ({exc}); run `polyfind index --rebuild`"
            ) from exc
        store = cls(conn, path, missing)
        store.ensure_lexical(analyzer, rebuild=writer)
        return store

    def close(self) -> None:
        self.conn.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.conn.execute("BEGIN IMMEDIATE")
        try:
            yield
            self.conn.execute("COMMIT")
        except BaseException:
            # SQLite may have rolled back already (a full disk does): keep the first error.
            if self.conn.in_transaction:
                with suppress(sqlite3.Error):
                    self.conn.execute("ROLLBACK")
            raise

    # -- meta ------------------------------------------------------------------------------
    def get_meta(self, key: str) -> str | None:
        row = self.conn.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def set_meta(self, key: str, value: str) -> None:
        self.conn.execute("INSERT OR REPLACE INTO meta VALUES (?, ?)", (key, value))

    def meta(self) -> dict[str, str]:
        return {k: v for k, v in self.conn.execute("SELECT key, value FROM meta")}

    @property
    def generation(self) -> int:
        """Bumped by every committed change to chunks; names the matching FAISS file."""
        return int(self.get_meta("generation") or 0)

    def bump_generation(self) -> int:
        gen = self.generation + 1
        self.set_meta("generation", str(gen))
        self.set_meta("updated_at", str(time.time()))
        return gen

    # -- lexical postings ------------------------------------------------------------------
    def ensure_lexical(self, wanted: str | None = None, *, rebuild: bool = True) -> None:
        """Make the lexical table match analyser ``wanted`` (None: the recorded one, if this
        polyfind still has it, else the default), rebuilding it from the chunk texts.

        A reader (``rebuild`` False: search, show, status, serve) changes nothing on disk: it
        analyses queries with the current version of the analyser family the index records,
        whatever ``wanted`` says, and the next ``polyfind index`` brings the table up to date.
        """
        recorded = self.get_meta(LEXICAL_META)
        recorded_family = lexical.family(recorded) if recorded else None
        if not rebuild and recorded_family in lexical.ANALYZERS:
            self._analyzer = lexical.analyzer_for(recorded_family or lexical.DEFAULT_ANALYZER)
            if recorded != self._analyzer.name or (wanted and wanted != recorded_family):
                log.info(
                    "%s: lexical terms made by %s; `polyfind index` refreshes them",
                    self.path,
                    recorded,
                )
            return
        family = wanted or recorded_family or lexical.DEFAULT_ANALYZER
        if family not in lexical.ANALYZERS:
            family = lexical.DEFAULT_ANALYZER if wanted is None else family
        analyzer = lexical.analyzer_for(family)
        if recorded != analyzer.name:
            try:
                self.set_lexical_analyzer(analyzer)
            except sqlite3.OperationalError as exc:  # read-only index: lexical search is off
                log.warning("%s: cannot rebuild the lexical table (%s)", self.path, exc)
                return
        self._analyzer = analyzer

    def set_lexical_analyzer(self, analyzer: lexical.Analyzer) -> int:
        """Rebuild the lexical table with ``analyzer`` in one transaction; returns chunks."""
        with self.transaction():
            n = lexical.rebuild(self.conn, analyzer)
            self.set_meta(LEXICAL_META, analyzer.name)
        if n:
            log.info("%s: lexical table rebuilt with %s (%d passages)", self.path, analyzer.name, n)
        self._analyzer = analyzer
        return n

    @property
    def analyzer(self) -> lexical.Analyzer | None:
        """The analyser behind the lexical table (None if it could not be brought up to date)."""
        return self._analyzer

    def writing_analyzer(self) -> lexical.Analyzer:
        """The analyser to write postings with (inside a transaction): the recorded one."""
        recorded = self.get_meta(LEXICAL_META)
        current = self._analyzer or lexical.analyzer_for(lexical.DEFAULT_ANALYZER)
        if recorded is None:  # a wiped or new index
            self.set_meta(LEXICAL_META, current.name)
        elif recorded != current.name:
            current = lexical.analyzer_for(recorded)  # another process switched it
        self._analyzer = current
        return current

    def lexical_search(
        self, query: str, k: int, langs: Sequence[str] | None = None
    ) -> lexical.LexicalResult:
        """BM25 over the chunks (``langs`` restricts their language)."""
        if self._analyzer is None:
            return lexical.LexicalResult([], 0.0)
        recorded = self.get_meta(LEXICAL_META)
        if recorded is not None and lexical.family(recorded) != lexical.family(self._analyzer.name):
            # Another process rebuilt the table with another analyser: analyse the query
            # the way the postings were made (an older version of a family: with the current
            # one, as ``ensure_lexical`` does, until `polyfind index` rebuilds the table).
            self._analyzer = lexical.analyzer_for(lexical.family(recorded))
        return lexical.lexical_search(self.conn, self._analyzer, query, k, langs=langs)

    def wipe(self) -> None:
        """Delete every document, page, chunk, posting and skipped file (inside the caller's
        transaction); the roots stay."""
        self.conn.execute("DELETE FROM skipped")
        self.conn.execute("DELETE FROM chunks")
        self.conn.execute("DELETE FROM pages")
        self.conn.execute("DELETE FROM documents")
        lexical.clear(self.conn)

    # -- roots and skipped files -----------------------------------------------------------
    def roots(self) -> list[Root]:
        """The files and folders given to ``index``, in the order they were first given."""
        if ("roots", "") in self._missing:
            return []
        rows = self.conn.execute("SELECT path, given, added_at FROM roots ORDER BY added_at, path")
        return [Root(str(p), str(g), float(t)) for p, g, t in rows]

    def add_root(self, path: str, given: str) -> None:
        """Remember a root (inside the caller's transaction); a known one keeps its date."""
        self.conn.execute(
            "INSERT INTO roots (path, given, added_at) VALUES (?,?,?)"
            " ON CONFLICT(path) DO UPDATE SET given=excluded.given",
            (path, given, time.time()),
        )

    def remove_root(self, path: str) -> bool:
        """Forget a root (inside the caller's transaction); False if it was not one."""
        return self.conn.execute("DELETE FROM roots WHERE path=?", (path,)).rowcount > 0

    def move_root(self, old: str, new: str, given: str) -> None:
        """Record that root ``old`` is now at ``new`` (given as ``given``), keeping its date
        (inside the caller's transaction; ``index --relocate``)."""
        row = self.conn.execute("SELECT added_at FROM roots WHERE path=?", (old,)).fetchone()
        self.conn.execute("DELETE FROM roots WHERE path=?", (old,))
        self.conn.execute(
            "INSERT INTO roots (path, given, added_at) VALUES (?,?,?)"
            " ON CONFLICT(path) DO UPDATE SET given=excluded.given",
            (new, given, time.time() if row is None else float(row[0])),
        )

    def skipped_files(self) -> dict[str, SkippedFile]:
        """The files skipped for a reason, by absolute path."""
        if ("skipped", "") in self._missing:
            return {}
        rows = self.conn.execute(
            "SELECT path, source, hash, size, mtime_ns, reason, skipped_at FROM skipped"
            " ORDER BY path"
        )
        return {str(r[0]): SkippedFile(*r) for r in rows}

    def set_skipped(self, files: Iterable[SkippedFile]) -> None:
        """Record skipped files (inside the caller's transaction), replacing older records."""
        self.conn.executemany(
            "INSERT OR REPLACE INTO skipped (path, source, hash, size, mtime_ns, reason,"
            " skipped_at) VALUES (?,?,?,?,?,?,?)",
            [
                (
                    f.path,
                    f.source,
                    f.hash,
                    f.size,
                    f.mtime_ns,
                    f.reason,
                    f.skipped_at or time.time(),
                )
                for f in files
            ],
        )

    def remove_skipped(self, paths: Iterable[str]) -> None:
        """Forget skipped files (inside the caller's transaction)."""
        self.conn.executemany("DELETE FROM skipped WHERE path=?", [(p,) for p in paths])

    # -- documents -------------------------------------------------------------------------
    def documents(self, root: str | None = None) -> list[StoredDocument]:
        sql = f"SELECT {self._document_columns()} FROM documents d"
        args: tuple[str, ...] = ()
        if root is not None:
            sql += " WHERE d.root = ? OR d.path = ?"
            args = (root, root)
        rows = self.conn.execute(sql + " ORDER BY d.path", args)
        return [StoredDocument(*row) for row in rows]

    def document(self, doc_id: int) -> StoredDocument | None:
        row = self.conn.execute(
            f"SELECT {self._document_columns()} FROM documents d WHERE d.id=?", (doc_id,)
        ).fetchone()
        return None if row is None else StoredDocument(*row)

    def chunk_counts(self) -> dict[int, int]:
        """The number of chunks of each document, by document id."""
        rows = self.conn.execute("SELECT doc_id, COUNT(*) FROM chunks GROUP BY doc_id")
        return {int(doc_id): int(n) for doc_id, n in rows}

    def document_by_path(self, path: str) -> StoredDocument | None:
        row = self.conn.execute(
            f"SELECT {self._document_columns()} FROM documents d WHERE d.path=?", (path,)
        ).fetchone()
        return None if row is None else StoredDocument(*row)

    def touch_document(self, doc_id: int, size: int, mtime_ns: int, source: str) -> None:
        self.conn.execute(
            "UPDATE documents SET size=?, mtime_ns=?, source=? WHERE id=?",
            (size, mtime_ns, source, doc_id),
        )

    def move_document(
        self, doc_id: int, *, path: str, root: str, source: str, size: int, mtime_ns: int
    ) -> None:
        """Record a document's file at another place (inside the caller's transaction; ``index
        --relocate``): its pages, chunks and vectors stay as they are. ``size`` and
        ``mtime_ns`` are the file's there when its bytes are the same, else the old ones (the
        next ``index`` then reads it again)."""
        self.conn.execute(
            "UPDATE documents SET path=?, root=?, source=?, size=?, mtime_ns=? WHERE id=?",
            (path, root, source, size, mtime_ns, doc_id),
        )

    def remove_document(self, doc_id: int) -> list[int]:
        """Delete a document with its pages and chunks; returns the removed chunk ids."""
        ids = [r[0] for r in self.conn.execute("SELECT id FROM chunks WHERE doc_id=?", (doc_id,))]
        lexical.delete(self.conn, ids)
        self.conn.execute("DELETE FROM chunks WHERE doc_id=?", (doc_id,))
        self.conn.execute("DELETE FROM pages WHERE doc_id=?", (doc_id,))
        self.conn.execute("DELETE FROM documents WHERE id=?", (doc_id,))
        return ids

    def add_document(
        self,
        doc: Document,
        *,
        path: str,
        root: str,
        hash: str,
        size: int,
        mtime_ns: int,
        chunks: Sequence[tuple[int, Chunk]],
        vectors: np.ndarray,
        terms: Sequence[str] | None = None,
        terms_later: bool = False,
        typicality: Sequence[float] | None = None,
    ) -> list[int]:
        """Insert a document, its pages, and its chunks (``(page_seq, chunk)``) with vectors;
        ``terms``: each chunk's lexical terms (``lexical.posting`` by ``writing_analyzer``),
        as the indexer passes them (it analyses once for this and the search index, or a
        cluster worker did); None: analysed here, or with ``terms_later`` recorded as waiting
        (``write_waiting_terms``). ``typicality``: each chunk's (``typicality.typicality``);
        None: left NULL."""
        cur = self.conn.execute(
            "INSERT INTO documents (path, root, source, hash, size, mtime_ns, format, lang, title,"
            " date, n_pages, indexed_at, author) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            (
                path,
                root,
                doc.source,
                hash,
                size,
                mtime_ns,
                doc.format,
                doc.lang,
                doc.title,
                doc.date,
                len(doc.pages),
                time.time(),
                doc.author,
            ),
        )
        doc_id = int(cur.lastrowid or 0)
        self.conn.executemany(
            "INSERT INTO pages (doc_id, seq, number, text, label) VALUES (?,?,?,?,?)",
            [(doc_id, seq, p.number, p.text, p.label) for seq, p in enumerate(doc.pages)],
        )
        ids = []
        if terms is None and not terms_later:
            analyzer = self.writing_analyzer()
            terms = [lexical.posting(analyzer, ch.text) for _, ch in chunks]
        vecs = np.ascontiguousarray(vectors, dtype=np.float32)
        typical = [None] * len(vecs) if typicality is None else [float(x) for x in typicality]
        for (seq, ch), vec, typ in zip(chunks, vecs, typical, strict=True):
            cur = self.conn.execute(
                "INSERT INTO chunks (doc_id, page_seq, page, line, start, end, lang, text,"
                " text_hash, vector, typicality) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    doc_id,
                    seq,
                    ch.page,
                    ch.line,
                    ch.start,
                    ch.end,
                    ch.lang,
                    ch.text,
                    text_hash(ch.embed_text),
                    vec.tobytes(),
                    typ,
                ),
            )
            ids.append(int(cur.lastrowid or 0))
        if terms is None:
            lexical.wait(self.conn, ids)
        else:
            lexical.insert(self.conn, list(zip(ids, terms, strict=True)))
        return ids

    def waiting_terms(self) -> int:
        """Chunks whose lexical terms are not written yet (0 for an index made before
        schema 5, read as it is)."""
        if (lexical.WAITING, "") in self._missing:
            return 0
        return lexical.waiting_count(self.conn)

    def write_waiting_terms(self, limit: int) -> int:
        """Analyse up to ``limit`` waiting chunks with ``writing_analyzer`` and write their
        terms (inside the caller's transaction); returns how many."""
        rows = lexical.waiting(self.conn, limit)
        analyzer = self.writing_analyzer()
        lexical.fill(self.conn, [(cid, lexical.posting(analyzer, text)) for cid, text in rows])
        return len(rows)

    # -- chunks ----------------------------------------------------------------------------
    def cached_vectors(self, hashes: Iterable[str]) -> dict[str, bytes]:
        """Vectors already stored for chunks with these text hashes (the embedding cache)."""
        wanted = list(set(hashes))
        found: dict[str, bytes] = {}
        for i in range(0, len(wanted), 500):
            part = wanted[i : i + 500]
            marks = ",".join("?" * len(part))
            for h, blob in self.conn.execute(
                f"SELECT text_hash, vector FROM chunks WHERE text_hash IN ({marks})", part
            ):
                found[h] = blob
        return found

    def chunk_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def document_count(self) -> int:
        return int(self.conn.execute("SELECT COUNT(*) FROM documents").fetchone()[0])

    def languages(self) -> dict[str, int]:
        """Passages per language, most first. Every search asks (``--lang`` is checked
        against it, kanji readings need Korean passages) and counting reads every chunk row,
        so the counts are kept until the generation changes; not inside a transaction,
        whose changes come before its generation."""
        generation = self.generation
        if self._languages is None or self._languages[0] != generation:
            rows = self.conn.execute(
                "SELECT lang, COUNT(*) FROM chunks GROUP BY lang ORDER BY COUNT(*) DESC"
            )
            counts = {str(lang): int(n) for lang, n in rows}
            if self.conn.in_transaction:
                return counts
            self._languages = (generation, counts)
        return dict(self._languages[1])

    def document_languages(self) -> dict[str, int]:
        rows = self.conn.execute(
            "SELECT lang, COUNT(*) FROM documents GROUP BY lang ORDER BY COUNT(*) DESC"
        )
        return {str(lang): int(n) for lang, n in rows}

    def all_vectors(self, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """Every (chunk id, vector) in the store, for rebuilding the FAISS index."""
        rows = self.conn.execute("SELECT id, vector FROM chunks ORDER BY id").fetchall()
        return decode_vectors(rows, dim, self.path)

    def vector(self, chunk_id: int, dim: int) -> np.ndarray:
        """The stored (model's own) vector of one chunk."""
        row = self.conn.execute("SELECT vector FROM chunks WHERE id=?", (chunk_id,)).fetchone()
        vec = None if row is None else np.frombuffer(row[0], dtype=np.float32)
        if vec is None or vec.size != dim:
            raise IndexDamagedError(
                f"{self.path}: vector of passage {chunk_id} missing; run `polyfind index --rebuild`"
            )
        return vec

    def chunk_hashes(self, ids: Sequence[int] | None = None) -> dict[int, str]:
        """The text hash of each of the chunks ``ids`` still in the store (None: of all)."""
        if ids is None:
            rows: Iterable[tuple[Any, ...]] = self.conn.execute("SELECT id, text_hash FROM chunks")
        else:
            rows = self._rows_by_id("SELECT id, text_hash FROM chunks WHERE id IN ({marks})", ids)
        return {int(cid): str(h) for cid, h in rows}

    def chunk_rows(self, ids: Sequence[int]) -> list[tuple[int, str, str, str, bytes]]:
        """(id, lang, text, text hash, vector blob) of the chunks ``ids`` still in the store."""
        sql = "SELECT id, lang, text, text_hash, vector FROM chunks WHERE id IN ({marks})"
        return [
            (int(r[0]), str(r[1]), str(r[2]), str(r[3]), r[4]) for r in self._rows_by_id(sql, ids)
        ]

    def chunk_places(self, ids: Sequence[int]) -> dict[int, tuple[int, int | None]]:
        """The document id and page (None: a document without pages) of each of the chunks
        ``ids`` (those still in the store)."""
        rows = self._rows_by_id("SELECT id, doc_id, page FROM chunks WHERE id IN ({marks})", ids)
        return {int(cid): (int(doc_id), page) for cid, doc_id, page in rows}

    def chunk_typicality(self, ids: Sequence[int]) -> dict[int, float]:
        """The stored typicality of those of the chunks ``ids`` that have one."""
        if ("chunks", "typicality") in self._missing:
            return {}
        rows = self._rows_by_id(
            "SELECT id, typicality FROM chunks WHERE id IN ({marks}) AND typicality IS NOT NULL",
            ids,
        )
        return {int(cid): float(t) for cid, t in rows}

    def documents_without_typicality(self) -> list[int]:
        """Documents with a passage whose typicality is not stored (written before schema
        4)."""
        rows = self.conn.execute(
            "SELECT DISTINCT doc_id FROM chunks WHERE typicality IS NULL ORDER BY doc_id"
        )
        return [int(doc_id) for (doc_id,) in rows]

    def set_typicality(self, values: Iterable[tuple[int, float]]) -> None:
        """Store ``(chunk id, typicality)`` pairs (call inside a transaction)."""
        self.conn.executemany(
            "UPDATE chunks SET typicality=? WHERE id=?", [(float(t), int(c)) for c, t in values]
        )

    def document_vectors(self, doc_id: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
        """The chunk ids and stored vectors of one document."""
        rows = self.conn.execute(
            "SELECT id, vector FROM chunks WHERE doc_id=? ORDER BY id", (doc_id,)
        ).fetchall()
        return decode_vectors(rows, dim, self.path)

    def _rows_by_id(self, sql: str, ids: Sequence[int]) -> Iterator[tuple[Any, ...]]:
        """The rows of ``sql`` (whose ``{marks}`` takes the ids) for ``ids``, 500 at a time."""
        for i in range(0, len(ids), 500):
            part = [int(x) for x in ids[i : i + 500]]
            yield from self.conn.execute(sql.format(marks=",".join("?" * len(part))), part)

    def chunks(self, ids: Sequence[int]) -> dict[int, StoredChunk]:
        column = {
            "id": "c.id",
            "doc_id": "c.doc_id",
            "page_seq": "c.page_seq",
            "source": "d.source",
            "title": "d.title",
            "date": "d.date",
            "author": self._col("documents", "d", "author"),
            "page": "c.page",
            "page_label": self._col("pages", "p", "label"),
            "line": "c.line",
            "start": "c.start",
            "end": "c.end",
            "lang": "c.lang",
            "text": "c.text",
            "path": "d.path",
        }
        sql = (
            f"SELECT {', '.join(column.values())}"
            " FROM chunks c JOIN documents d ON d.id = c.doc_id"
            " LEFT JOIN pages p ON p.doc_id = c.doc_id AND p.seq = c.page_seq"
            " WHERE c.id IN ({marks})"
        )
        rows = self._rows_by_id(sql, ids)
        return {int(row[0]): StoredChunk(**dict(zip(column, row, strict=True))) for row in rows}

    def chunk_ids_by_lang(self, langs: Sequence[str]) -> np.ndarray:
        marks = ",".join("?" * len(langs))
        rows = self.conn.execute(f"SELECT id FROM chunks WHERE lang IN ({marks})", list(langs))
        return np.asarray([r[0] for r in rows], dtype=np.int64)

    def page_text(self, doc_id: int, page_seq: int) -> str:
        row = self.conn.execute(
            "SELECT text FROM pages WHERE doc_id=? AND seq=?", (doc_id, page_seq)
        ).fetchone()
        if row is None:
            raise IndexDamagedError(
                f"{self.path}: page text missing; run `polyfind index --rebuild`"
            )
        return str(row[0])

    def page_labels(self, doc_id: int) -> list[str | None]:
        """The printed label of each page of a document (None where unknown), in order."""
        label = self._col("pages", "p", "label")
        rows = self.conn.execute(
            f"SELECT {label} FROM pages p WHERE p.doc_id=? ORDER BY p.seq", (doc_id,)
        )
        return [None if r[0] is None else str(r[0]) for r in rows]

    def neighbours(self, chunk: StoredChunk) -> tuple[int | None, int | None]:
        """Ids of the chunks before and after ``chunk`` in its document."""
        prev = self.conn.execute(
            "SELECT id FROM chunks WHERE doc_id=? AND (page_seq, start) < (?, ?)"
            " ORDER BY page_seq DESC, start DESC LIMIT 1",
            (chunk.doc_id, chunk.page_seq, chunk.start),
        ).fetchone()
        nxt = self.conn.execute(
            "SELECT id FROM chunks WHERE doc_id=? AND (page_seq, start) > (?, ?)"
            " ORDER BY page_seq, start LIMIT 1",
            (chunk.doc_id, chunk.page_seq, chunk.start),
        ).fetchone()
        return (prev[0] if prev else None, nxt[0] if nxt else None)

    def dump_settings(self) -> str:
        return json.dumps(self.meta(), ensure_ascii=False, sort_keys=True)


# -- the model an index was built with ---------------------------------------------------------
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
