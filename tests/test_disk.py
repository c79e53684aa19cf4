"""A full or read-only disk leaves the previous index intact, with a clear message.

Two ways to fill the disk: a small tmpfs mounted for the test (a real ENOSPC, needs root; skipped
otherwise) and a file-size limit (RLIMIT_FSIZE, writes past it fail with EFBIG; works for any
user). The read-only case remounts that tmpfs read-only. After each failure the index must pass
the same consistency check as after a kill (tests/consistency.py) and still answer searches;
once there is room again, the next run finishes the work.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind import Searcher, Settings, index_paths
from polyfind.cli import app
from polyfind.errors import IndexLocationError, IndexUnreadableError, IndexWriteError
from polyfind.store import DB_NAME, Store

sys.path.insert(0, str(Path(__file__).parent))
from consistency import check_consistent, sha256

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
FIRST = ("004_58bd91241ebf471b.txt", "us_wh_2022-10-19_battery_manufacturing_fact_sheet.md")
MORE = (
    "000_e733aa0cb703fbe8.txt",
    "001_7ef68bdc3449b5ba.txt",
    "003_71a9f3b054dab845.txt",
    "us_nstc_2018-09_national_strategic_overview_qis.txt",
    "us_wh_2024-08-09_chips_two_years_fact_sheet.md",
    "us_crs_r48694_federal_rd_funding_fy2026_2026-04.pdf",
)
runner = CliRunner()


def _copy(names: tuple[str, ...], docs: Path, history: dict[str, set[str]]) -> None:
    docs.mkdir(exist_ok=True)
    for name in names:
        shutil.copy(CORPUS / name, docs / name)
        history.setdefault(str((docs / name).resolve()), set()).add(sha256(docs / name))


def _mount(target: Path, *options: str) -> None:
    subprocess.run(["mount", *options, str(target)], check=True, capture_output=True)


@pytest.fixture
def tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 3 MB tmpfs: room for a small index, not for the corpus."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a small tmpfs needs root (the RLIMIT_FSIZE test covers the rest)")
    target = tmp_path / "small-disk"
    target.mkdir()
    try:
        _mount(target, "-t", "tmpfs", "-o", "size=3m", "tmpfs")
    except (subprocess.CalledProcessError, OSError) as exc:
        pytest.skip(f"cannot mount a tmpfs here ({exc})")
    try:
        yield target
    finally:
        subprocess.run(["umount", "-l", str(target)], check=False, capture_output=True)


def _indexed(settings: Settings) -> set[str]:
    db = sqlite3.connect(settings.index_dir / DB_NAME)
    try:
        return {row[0] for row in db.execute("SELECT path FROM documents")}
    finally:
        db.close()


def _hits(settings: Settings, embedder) -> list[str]:
    with Searcher(settings, encoder=embedder) as s:
        return [h.source for h in s.search("battery materials supply chain", k=3)]


def _small_index(
    tmp_path: Path, index_dir: Path, embedder
) -> tuple[Path, dict[str, set[str]], Settings, list[str]]:
    """Index the FIRST files at ``index_dir``: (docs folder, history, settings, top hits)."""
    docs, history = tmp_path / "docs", {}
    _copy(FIRST, docs, history)
    settings = Settings(index_dir=index_dir)
    index_paths([str(docs)], settings, embedder=embedder)
    return docs, history, settings, _hits(settings, embedder)


def test_full_disk_keeps_the_index_and_the_next_run_finishes(
    tmpfs: Path, tmp_path: Path, embedder
) -> None:
    docs, history, settings, before = _small_index(tmp_path, tmpfs / "index", embedder)

    _copy(MORE, docs, history)
    with pytest.raises(IndexWriteError) as err:
        index_paths([str(docs)], settings, embedder=embedder)
    message = str(err.value)
    assert str(settings.index_dir) in message and "disk is full" in message
    counts = check_consistent(settings.index_dir, None, history, encoder=embedder)
    assert 2 <= counts["documents"] < len(FIRST) + len(MORE)  # files done before it filled
    assert _indexed(settings) >= {str((docs / n).resolve()) for n in FIRST}
    assert _hits(settings, embedder)[0] == before[0]

    # The command line says the same in one line, without a traceback.
    result = runner.invoke(app, ["index", str(docs), "--index", str(settings.index_dir)])
    assert result.exit_code == 1
    assert "disk is full" in result.stderr and "Traceback" not in result.output

    _mount(tmpfs, "-o", "remount,size=64m")
    summary = index_paths([str(docs)], settings, embedder=embedder)
    assert not summary.skipped
    counts = check_consistent(settings.index_dir, None, history, encoder=embedder)
    assert counts["documents"] == len(FIRST) + len(MORE)


def test_read_only_disk_keeps_the_index_and_searches_still_work(
    tmpfs: Path, tmp_path: Path, embedder
) -> None:
    docs, history, settings, before = _small_index(tmp_path, tmpfs / "index", embedder)
    files = {p.name: p.read_bytes() for p in settings.index_dir.iterdir()}

    _copy(MORE[:2], docs, history)
    _mount(tmpfs, "-o", "remount,ro")
    with pytest.raises(IndexLocationError, match="file system is read-only"):
        index_paths([str(docs)], settings, embedder=embedder)
    assert {p.name: p.read_bytes() for p in settings.index_dir.iterdir()} == files
    assert _hits(settings, embedder) == before
    result = runner.invoke(app, ["status", "--index", str(settings.index_dir)])
    assert result.exit_code == 0, result.output

    _mount(tmpfs, "-o", "remount,rw")
    index_paths([str(docs)], settings, embedder=embedder)
    counts = check_consistent(settings.index_dir, None, history, encoder=embedder)
    assert counts["documents"] == len(FIRST) + 2


def _commit_left_in_the_wal(db: Path) -> None:
    """Commit a change that stays in the write-ahead log, as after a killed writer."""
    code = (
        "import os, sqlite3, sys\n"
        "c = sqlite3.connect(sys.argv[1], isolation_level=None)\n"
        "c.execute('PRAGMA wal_autocheckpoint = 0')\n"
        "c.execute(\"INSERT OR REPLACE INTO meta VALUES ('test_marker', 'in the log')\")\n"
        "os._exit(0)\n"
    )
    subprocess.run([sys.executable, "-c", code, str(db)], check=True)
    assert Path(f"{db}-wal").stat().st_size > 0


def test_read_only_disk_never_hides_commits_left_in_the_log(
    tmpfs: Path, tmp_path: Path, embedder
) -> None:
    _, _, settings, _ = _small_index(tmp_path, tmpfs / "index", embedder)
    db = settings.index_dir / DB_NAME
    _commit_left_in_the_wal(db)

    _mount(tmpfs, "-o", "remount,ro")
    store = Store.open(settings.index_dir)  # the log's shared-memory file is there: read it
    try:
        assert store.get_meta("test_marker") == "in the log"
    finally:
        store.close()

    _mount(tmpfs, "-o", "remount,rw")
    Path(f"{db}-shm").unlink()  # now the log cannot be read on a read-only file system
    _mount(tmpfs, "-o", "remount,ro")
    with pytest.raises(IndexUnreadableError, match="make the location writable"):
        Store.open(settings.index_dir)
    result = runner.invoke(app, ["status", "--index", str(settings.index_dir)])
    assert result.exit_code == 1
    assert "-wal" in result.stderr and "Traceback" not in result.output

    _mount(tmpfs, "-o", "remount,rw")  # writable once: the commit is there
    store = Store.open(settings.index_dir)
    try:
        assert store.get_meta("test_marker") == "in the log"
    finally:
        store.close()


@contextlib.contextmanager
def _file_size_limit(limit: int) -> Iterator[None]:
    """Writes past ``limit`` bytes fail with EFBIG (here and in child processes)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    previous = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, hard))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        signal.signal(signal.SIGXFSZ, previous)


def test_file_size_limit_acts_like_a_full_disk(tmp_path: Path, embedder) -> None:
    docs, history, settings, before = _small_index(tmp_path, tmp_path / "index", embedder)
    largest = max(p.stat().st_size for p in settings.index_dir.iterdir())

    more = MORE[:-1]  # the text files: past the limit already, without the PDF's 700 chunks
    _copy(more, docs, history)
    with _file_size_limit(largest + (64 << 10)), pytest.raises(IndexWriteError) as err:
        index_paths([str(docs)], settings, embedder=embedder)
    # SQLite reports EFBIG as a plain "disk I/O error": the generic advice is all it can get
    assert "disk I/O error" in str(err.value) and "free some disk space" in str(err.value)
    check_consistent(settings.index_dir, None, history, encoder=embedder)
    assert _indexed(settings) >= {str((docs / n).resolve()) for n in FIRST}
    assert _hits(settings, embedder)[0] == before[0]

    index_paths([str(docs)], settings, embedder=embedder)
    counts = check_consistent(settings.index_dir, None, history, encoder=embedder)
    assert counts["documents"] == len(FIRST) + len(more)
