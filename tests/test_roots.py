"""Keeping an index current: it remembers its roots and the files it skipped (real files, the
real model for indexing, the real CLI for the rest)."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind import Settings, index_paths
from polyfind.cli import app
from polyfind.store import DB_NAME

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EN = "us_wh_2022-10-19_battery_manufacturing_fact_sheet.md"
JA = "004_58bd91241ebf471b.txt"
runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args))


def _json(*args: str) -> dict:
    result = _cli(*args, "--json")
    assert result.exit_code in (0, 3), result.output
    return json.loads(result.stdout)


@pytest.fixture
def two_roots(tmp_path: Path, embedder) -> tuple[Settings, Path, Path]:
    """An index built from a folder and a single file in another folder."""
    a = tmp_path / "a"
    b = tmp_path / "b"
    a.mkdir()
    b.mkdir()
    shutil.copy(CORPUS / JA, a / JA)
    shutil.copy(CORPUS / EN, b / EN)
    (b / "sibling.md").write_text("A file next to the root, not under it.\n", encoding="utf-8")
    settings = Settings(index_dir=tmp_path / "index")
    summary = index_paths([str(a), str(b / EN)], settings, embedder=embedder)
    assert len(summary.added) == 2
    return settings, a, b


def test_index_with_no_path_reindexes_the_roots(two_roots, embedder) -> None:
    settings, a, b = two_roots
    index = str(settings.index_dir)
    status = _json("status", "--index", index)
    assert [r["path"] for r in status["roots"]] == [str(a), str(b / EN)]
    assert status["new"] == []  # the file root's sibling is not under a root
    assert status["command"] == f"polyfind index --index {index}"

    shutil.copy(CORPUS / "us_wh_2024-08-09_chips_two_years_fact_sheet.md", a / "new.md")
    status = _json("status", "--index", index)
    assert [Path(p).name for p in status["new"]] == ["new.md"]
    shown = _cli("status", "--index", index)
    assert f"run `polyfind index --index {index}`" in shown.stdout

    summary = index_paths(None, settings, embedder=embedder)
    assert [Path(s).name for s in summary.added] == ["new.md"]
    assert sorted(Path(s).name for s in summary.unchanged) == sorted([JA, EN])
    assert summary.skipped == [] and summary.missing == []
    # Nothing changed: the CLI with no path does nothing and loads no model.
    again = _json("index", "--index", index, "-q")
    assert again["added"] == again["updated"] == again["removed"] == []
    assert len(again["unchanged"]) == 3
    assert _json("status", "--index", index)["changed"] == 0


def test_forget_drops_a_root_and_its_documents(two_roots) -> None:
    settings, a, b = two_roots
    index = str(settings.index_dir)
    result = _json("index", "--forget", str(a), "--index", index, "-q")
    assert result["forgotten"] == [str(a)]
    assert [Path(s).name for s in result["removed"]] == [JA]
    assert result["chunks_total"] > 0
    status = _json("status", "--index", index)
    assert [r["path"] for r in status["roots"]] == [str(b / EN)]
    assert status["documents"] == 1
    hits = json.loads(
        _cli("search", "battery", "--index", index, "--json", "--mode", "lexical").stdout
    )
    assert hits and all(Path(h["source"]).name == EN for h in hits)
    # Not a root, nothing indexed under it: one line, exit 1, nothing changed.
    result = _cli("index", "--forget", str(a), "--index", index)
    assert result.exit_code == 1 and "not a root" in result.stderr
    assert result.stderr.count("\n") == 1
    assert _json("status", "--index", index)["documents"] == 1


def test_a_skipped_file_is_remembered_and_not_read_again(tmp_path: Path, embedder) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(CORPUS / EN, folder / EN)
    blank = folder / "blank.txt"
    blank.write_text("   \n", encoding="utf-8")
    (folder / "table.xlsx").write_bytes(b"PK\x03\x04")
    settings = Settings(index_dir=tmp_path / "index")
    first = index_paths([str(folder)], settings, embedder=embedder)
    assert sorted(Path(s).name for s, _ in first.skipped) == ["blank.txt", "table.xlsx"]

    # Same size and time, other bytes: a file read again would now be indexed.
    stamp = blank.stat()
    blank.write_text("abc\n", encoding="utf-8")
    os.utime(blank, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    second = index_paths([str(folder)], settings, embedder=embedder)
    assert second.skipped == [] and second.added == []
    assert sorted(Path(s).name for s, _ in second.still_skipped) == ["blank.txt", "table.xlsx"]
    assert "no extractable text" in dict(second.still_skipped)[str(blank)]

    status = _json("status", "--index", str(settings.index_dir))
    assert status["new"] == [] and status["changed"] == 0
    reasons = {Path(s["source"]).name: s["reason"] for s in status["skipped"]}
    assert set(reasons) == {"blank.txt", "table.xlsx"}
    assert "unsupported" in reasons["table.xlsx"]

    retried = index_paths([str(folder)], settings, embedder=embedder, retry_skipped=True)
    assert [Path(s).name for s in retried.added] == ["blank.txt"]
    assert [Path(s).name for s, _ in retried.skipped] == ["table.xlsx"]
    status = _json("status", "--index", str(settings.index_dir))
    assert [Path(s["source"]).name for s in status["skipped"]] == ["table.xlsx"]

    # A skipped file deleted is forgotten.
    (folder / "table.xlsx").unlink()
    third = index_paths([str(folder)], settings, embedder=embedder)
    assert third.still_skipped == [] and third.skipped == []
    conn = sqlite3.connect(settings.index_dir / DB_NAME)
    try:
        assert conn.execute("SELECT COUNT(*) FROM skipped").fetchone() == (0,)
    finally:
        conn.close()
