"""The consistency check shared by the crash, disk and damage tests."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

from polyfind import Searcher, Settings, lexical
from polyfind.embedding import Embedder
from polyfind.store import DB_NAME


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def chunk_ids_by_file(index: Path) -> dict[str, list[int]]:
    """The chunk ids of each indexed document (by file name), ascending, read from the
    database: unchanged ids mean nothing was embedded again."""
    conn = sqlite3.connect(index / DB_NAME)
    try:
        rows = conn.execute(
            "SELECT d.path, c.id FROM chunks c JOIN documents d ON d.id = c.doc_id ORDER BY c.id"
        ).fetchall()
    finally:
        conn.close()
    out: dict[str, list[int]] = {}
    for path, cid in rows:
        out.setdefault(Path(path).name, []).append(cid)
    return out


def check_consistent(
    index: Path,
    model: Path | None,
    history: dict[str, set[str]],
    *,
    encoder: Embedder | None = None,
) -> dict[str, int]:
    """Assert the index at ``index`` is consistent; returns document and chunk counts.

    ``history``: for each file (resolved path), every content (sha256) it has had; each
    indexed document must hold one of them. ``model``: the index's model folder, or None
    for the default model (``encoder``: an already loaded one).
    """
    db = sqlite3.connect(index / DB_NAME)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        dim = int(db.execute("SELECT value FROM meta WHERE key='dim'").fetchone()[0])
        docs = db.execute("SELECT id, path, hash, n_pages FROM documents").fetchall()
        for doc_id, path, digest, n_pages in docs:
            # either an old or the new content of that file, never something else
            assert digest in history.get(path, set()), path
            pages = dict(db.execute("SELECT seq, text FROM pages WHERE doc_id=?", (doc_id,)))
            assert len(pages) == n_pages
            rows = db.execute(
                "SELECT page_seq, start, end, text, length(vector) FROM chunks WHERE doc_id=?",
                (doc_id,),
            ).fetchall()
            assert rows, f"document without chunks: {path}"
            for seq, start, end, text, nbytes in rows:
                assert pages[seq][start:end] == text
                assert nbytes == 4 * dim
        orphans = db.execute(
            "SELECT COUNT(*) FROM chunks WHERE doc_id NOT IN (SELECT id FROM documents)"
        ).fetchone()[0]
        assert orphans == 0
        n_chunks = db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        # every chunk has its lexical terms or waits for them, never both, never neither
        ids = {r[0] for r in db.execute("SELECT id FROM chunks")}
        posted = [r[0] for r in db.execute(f"SELECT rowid FROM {lexical.TABLE}")]
        waiting = [r[0] for r in db.execute(f"SELECT chunk_id FROM {lexical.WAITING}")]
        assert len(posted) + len(waiting) == len(ids)
        assert set(posted) | set(waiting) == ids
    finally:
        db.close()
    settings = Settings(index_dir=index, model=str(model) if model else None)
    with Searcher(settings, encoder=encoder) as s:
        assert s.vectors.ntotal == n_chunks  # no orphan or missing vectors
        hits = s.search("quantum technology cooperation", k=5)
        assert len(hits) == min(5, n_chunks)
        assert len({h.chunk_id for h in hits}) == len(hits)
    return {"documents": len(docs), "chunks": n_chunks}


def run_or_kill(cmd: list[str], seconds: float) -> float | None:
    """Run ``cmd`` (it must succeed if it ends); ``kill -9`` it if it is still running after
    ``seconds``. Its wall time when it ended, None when it was killed mid-run."""
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        return None
    assert proc.returncode == 0, cmd
    return time.perf_counter() - started
