"""Damaged indexes are detected and reported with the fix; never a traceback or wrong results."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind import Searcher, Settings, index_paths
from polyfind.cli import app
from polyfind.errors import IndexDamagedError, IndexLocationError
from polyfind.store import DB_NAME

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
runner = CliRunner()


@pytest.fixture
def small_index(tmp_path: Path, embedder) -> Settings:
    docs = tmp_path / "docs"
    docs.mkdir()
    for name in (
        "004_58bd91241ebf471b.txt",
        "us_wh_2022-10-19_battery_manufacturing_fact_sheet.md",
    ):
        shutil.copy(CORPUS / name, docs / name)
    settings = Settings(index_dir=tmp_path / "index")
    index_paths([str(docs)], settings, embedder=embedder)
    return settings


def _search(settings: Settings, embedder) -> list[int]:
    with Searcher(settings, encoder=embedder) as s:
        return [h.chunk_id for h in s.search("battery materials initiative", k=5)]


def test_truncated_database_is_reported_with_the_fix(small_index: Settings, embedder) -> None:
    db = small_index.index_dir / DB_NAME
    data = db.read_bytes()
    db.write_bytes(data[: len(data) // 3])
    for p in small_index.index_dir.glob(DB_NAME + "-*"):
        p.unlink()
    with pytest.raises(IndexDamagedError, match=r"--rebuild"):
        _search(small_index, embedder)
    result = runner.invoke(app, ["search", "battery", "--index", str(small_index.index_dir)])
    assert result.exit_code == 1
    assert "--rebuild" in result.stderr and "Traceback" not in result.output
    assert str(db) in result.stderr or "index database" in result.stderr


def test_garbage_database_header_is_reported(small_index: Settings, embedder) -> None:
    db = small_index.index_dir / DB_NAME
    data = bytearray(db.read_bytes())
    data[:100] = b"\x00garbage" * 12 + b"\x00" * 4
    db.write_bytes(bytes(data))
    result = runner.invoke(app, ["status", "--index", str(small_index.index_dir)])
    assert result.exit_code == 1
    assert "damaged" in result.stderr and "--rebuild" in result.stderr


def test_damaged_or_missing_vector_file_is_rebuilt_from_the_store(
    small_index: Settings, embedder, caplog: pytest.LogCaptureFixture
) -> None:
    expected = _search(small_index, embedder)
    (faiss_file,) = small_index.index_dir.glob("vectors-*.faiss")
    faiss_file.write_bytes(b"not a faiss index at all" * 10)
    assert _search(small_index, embedder) == expected  # same answers, not silently wrong
    assert any(str(faiss_file) in r.getMessage() for r in caplog.records)
    faiss_file.unlink()
    assert _search(small_index, embedder) == expected


def test_rebuild_recovers_a_damaged_database(small_index: Settings, embedder, tmp_path) -> None:
    db = small_index.index_dir / DB_NAME
    db.write_bytes(db.read_bytes()[:5000])
    summary = index_paths([str(tmp_path / "docs")], small_index, rebuild=True, embedder=embedder)
    assert len(summary.added) == 2
    assert _search(small_index, embedder)


def test_unwritable_index_location_is_a_clear_error(tmp_path: Path, embedder) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the index folder should be\n", encoding="utf-8")
    settings = Settings(index_dir=blocker / "index")
    with pytest.raises(IndexLocationError, match="which is a file; give --index a folder"):
        index_paths([str(CORPUS / "004_58bd91241ebf471b.txt")], settings, embedder=embedder)
