"""Schema versions: an index made by an older polyfind opens after the upgrade without
re-embedding; readers leave it as it is; a newer format is refused in one line."""

from __future__ import annotations

import json
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind import Searcher, Settings, index_paths
from polyfind.cli import app
from polyfind.errors import IndexVersionError, IndexWriteError
from polyfind.store import DB_NAME, MIGRATIONS, SCHEMA_VERSION, Migration, Store

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FILES = ("004_58bd91241ebf471b.txt", "us_wh_2022-10-19_battery_manufacturing_fact_sheet.md")
runner = CliRunner()

#: The layout of schema version 1 (polyfind up to 2026-12-01), frozen: store._SCHEMA and
#: lexical.SCHEMA as they were. Never edit it to follow the code.
V1_DDL = """
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
    vector BLOB NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_doc ON chunks(doc_id);
CREATE INDEX IF NOT EXISTS chunks_hash ON chunks(text_hash);
CREATE VIRTUAL TABLE IF NOT EXISTS lexical USING fts5(terms, tokenize='ascii');
CREATE VIRTUAL TABLE IF NOT EXISTS lexical_vocab USING fts5vocab(lexical, 'row');
"""

V1_COPY = {
    "meta": "key, value",
    "documents": "id, path, root, source, hash, size, mtime_ns, format, lang, title, date,"
    " n_pages, indexed_at, author",
    "pages": "doc_id, seq, number, text",
    "chunks": "id, doc_id, page_seq, page, line, start, end, lang, text, text_hash, vector",
    "lexical": "rowid, terms",
}


def _as_version_1(index_dir: Path) -> None:
    """Rewrite the index's database in the frozen version 1 layout, rows as they were."""
    db = index_dir / DB_NAME
    old = index_dir / "v2.sqlite"
    conn = sqlite3.connect(db)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()
    db.rename(old)
    for p in index_dir.glob(DB_NAME + "-*"):
        p.unlink()
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.executescript(V1_DDL)
    conn.execute("ATTACH ? AS new", (str(old),))
    conn.execute("BEGIN")
    for table, columns in V1_COPY.items():
        conn.execute(f"INSERT INTO main.{table} ({columns}) SELECT {columns} FROM new.{table}")
    conn.execute("UPDATE main.meta SET value = '1' WHERE key = 'schema'")
    conn.execute("COMMIT")
    conn.execute("DETACH new")
    conn.close()
    old.unlink()


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(f"{db.resolve().as_uri()}?mode=ro", uri=True)
    try:
        return conn.execute(sql).fetchall()
    finally:
        conn.close()


@pytest.fixture
def v1_index(tmp_path: Path, embedder) -> tuple[Settings, Path]:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in FILES:
        shutil.copy(CORPUS / name, docs / name)
    settings = Settings(index_dir=tmp_path / "index")
    index_paths([str(docs)], settings, embedder=embedder)
    _as_version_1(settings.index_dir)
    return settings, docs


def test_migrations_form_one_chain_up_to_the_current_version() -> None:
    assert [m.version for m in MIGRATIONS] == list(range(2, SCHEMA_VERSION + 1))


def test_an_index_made_by_version_1_opens_after_the_upgrade_without_reembedding(
    v1_index: tuple[Settings, Path], embedder
) -> None:
    settings, docs = v1_index
    db = settings.index_dir / DB_NAME
    assert _rows(db, "SELECT value FROM meta WHERE key='schema'") == [("1",)]
    vectors = _rows(db, "SELECT id, text_hash, vector FROM chunks ORDER BY id")
    faiss_files = {p.name: p.stat().st_mtime_ns for p in settings.index_dir.glob("*.faiss")}
    assert faiss_files

    # Readers read it as it is (no printed labels yet) and leave the file as it was.
    before = db.read_bytes()
    with Searcher(settings, encoder=embedder) as s:
        hits = s.search("battery materials", k=5)
        assert hits and all(h.page_label is None for h in hits)
        view = s.show(hits[0].chunk_id)
        assert view.chunk.text == hits[0].text and view.chunk.page_label is None
    result = runner.invoke(app, ["status", "--index", str(settings.index_dir), "--json"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["roots"] == []  # read as it is: no roots table yet
    result = runner.invoke(app, ["show", str(hits[0].chunk_id), "--index", str(settings.index_dir)])
    assert result.exit_code == 0, result.output
    assert db.read_bytes() == before
    assert _rows(db, "SELECT value FROM meta WHERE key='schema'") == [("1",)]

    # `polyfind index` migrates it: nothing embedded again, vectors and FAISS file untouched.
    summary = index_paths([str(docs)], settings, embedder=embedder)
    assert summary.chunks_added == 0 and summary.added == summary.updated == []
    assert len(summary.unchanged) == len(FILES)
    assert _rows(db, "SELECT value FROM meta WHERE key='schema'") == [(str(SCHEMA_VERSION),)]
    assert ("label",) in _rows(db, "SELECT name FROM pragma_table_info('pages')")
    # Version 3: the roots given from now on are remembered (none before: nothing guessed).
    assert _rows(db, "SELECT path, given FROM roots") == [(str(docs), str(docs))]
    assert _rows(db, "SELECT COUNT(*) FROM skipped") == [(0,)]
    # Version 4: every passage's typicality, computed from the stored vectors once.
    assert _rows(db, "SELECT COUNT(*) FROM chunks WHERE typicality IS NULL") == [(0,)]
    assert _rows(db, "SELECT value FROM meta WHERE key='typicality'") == [("complete",)]
    assert _rows(db, "SELECT id, text_hash, vector FROM chunks ORDER BY id") == vectors
    assert {p.name: p.stat().st_mtime_ns for p in settings.index_dir.glob("*.faiss")} == (
        faiss_files
    )
    with Searcher(settings, encoder=embedder) as s:
        again = s.search("battery materials", k=5)
        assert [(h.chunk_id, h.text) for h in again] == [(h.chunk_id, h.text) for h in hits]
        assert s.show(hits[0].chunk_id).chunk.text == hits[0].text


def test_an_index_without_the_author_column_is_read_and_migrated(
    v1_index: tuple[Settings, Path], embedder
) -> None:
    """Indexes older still (version 1 before documents had an author)."""
    settings, docs = v1_index
    db = settings.index_dir / DB_NAME
    conn = sqlite3.connect(db)
    conn.execute("ALTER TABLE documents DROP COLUMN author")
    conn.commit()
    conn.close()
    with Searcher(settings, encoder=embedder) as s:
        assert s.search("battery materials", k=3)
        assert all(d.author is None for d in s.store.documents())
    summary = index_paths([str(docs)], settings, embedder=embedder)
    assert summary.chunks_added == 0
    assert ("author",) in _rows(db, "SELECT name FROM pragma_table_info('documents')")


def test_a_failed_step_leaves_the_index_as_it_was(
    v1_index: tuple[Settings, Path], embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings, docs = v1_index
    db = settings.index_dir / DB_NAME

    def half_done(conn: sqlite3.Connection) -> None:
        conn.execute("ALTER TABLE pages ADD COLUMN label TEXT")
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr("polyfind.store.MIGRATIONS", (Migration(2, "fails", half_done),))
    with pytest.raises(IndexWriteError, match="cannot write the index"):
        index_paths([str(docs)], settings, embedder=embedder)
    assert _rows(db, "SELECT value FROM meta WHERE key='schema'") == [("1",)]
    assert ("label",) not in _rows(db, "SELECT name FROM pragma_table_info('pages')")
    monkeypatch.undo()
    assert index_paths([str(docs)], settings, embedder=embedder).chunks_added == 0
    assert _rows(db, "SELECT value FROM meta WHERE key='schema'") == [(str(SCHEMA_VERSION),)]


def test_a_newer_index_format_is_refused_in_one_line(
    v1_index: tuple[Settings, Path], embedder
) -> None:
    settings, docs = v1_index
    db = settings.index_dir / DB_NAME
    newer = SCHEMA_VERSION + 1
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value = ? WHERE key = 'schema'", (str(newer),))
    conn.commit()
    conn.close()
    with pytest.raises(IndexVersionError, match="newer polyfind"):
        Store.open(settings.index_dir)
    with pytest.raises(IndexVersionError, match="newer polyfind"):
        index_paths([str(docs)], settings, embedder=embedder)
    for command in (["status"], ["search", "battery"]):
        result = runner.invoke(app, [*command, "--index", str(settings.index_dir)])
        assert result.exit_code == 1
        assert "newer polyfind" in result.stderr and "Traceback" not in result.output
        assert len(result.stderr.strip().splitlines()) == 1
    assert _rows(db, "SELECT value FROM meta WHERE key='schema'") == [(str(newer),)]
