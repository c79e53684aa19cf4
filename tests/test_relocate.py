"""Moved and missing files: `search` and `status` flag documents whose file is gone, and
`index --relocate OLD NEW` records where a folder went without embedding again (real files,
the real model for indexing, the real CLI for the rest). Also `index --quiet`."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest
from typer.testing import CliRunner

from consistency import chunk_ids_by_file
from polyfind import Settings, index_paths
from polyfind.cli import app
from polyfind.store import Store

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EN = "us_wh_2022-10-19_battery_manufacturing_fact_sheet.md"
JA = "004_58bd91241ebf471b.txt"
CHIPS = "us_wh_2024-08-09_chips_two_years_fact_sheet.md"
runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args))


def _json(*args: str, code: int = 0):
    result = _cli(*args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def moved(tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch) -> tuple[Path, Path, Path]:
    """An index of folder `a` (three reports, one in a subfolder, and an unsupported file),
    then `a` renamed to `b`; relative paths as a user types them (the working directory is
    tmp_path)."""
    monkeypatch.chdir(tmp_path)
    a = Path("a")
    (a / "sub").mkdir(parents=True)
    shutil.copy(CORPUS / JA, a / JA)
    shutil.copy(CORPUS / EN, a / "sub" / EN)
    shutil.copy(CORPUS / CHIPS, a / CHIPS)
    (a / "table.xlsx").write_bytes(b"PK\x03\x04")
    index = tmp_path / "index"
    summary = index_paths(["a"], Settings(index_dir=index), embedder=embedder)
    assert len(summary.added) == 3
    os.rename("a", "b")
    return index, tmp_path / "a", tmp_path / "b"


def test_missing_files_are_flagged_then_relocated_without_embedding(moved) -> None:
    index, _, b = moved
    idx = str(index)
    before = chunk_ids_by_file(index)
    generation = Store.open(index).generation

    # The folder moved: search and status say so.
    hits = _json("search", "battery manufacturing", "--index", idx, "--mode", "lexical")
    assert hits and all(h["missing"] is True for h in hits)
    assert {h["source"] for h in hits} >= {os.path.join("a", "sub", EN)}
    table = _cli("search", "battery manufacturing", "--index", idx, "--mode", "lexical", "-k", "2")
    assert table.exit_code == 0 and "[file missing]" in table.stdout
    assert "--relocate" in table.stderr
    shown = _json("show", str(hits[0]["chunk_id"]), "--index", idx)
    assert shown["missing"] is True and shown["source"] == hits[0]["source"]
    assert "[file missing" in _cli("show", str(hits[0]["chunk_id"]), "--index", idx).stdout
    status = _json("status", "--index", idx)
    assert sorted(status["missing"]) == sorted(
        [os.path.join("a", JA), os.path.join("a", CHIPS), os.path.join("a", "sub", EN)]
    )
    assert status["deleted"] == status["missing"]  # the existing field is unchanged
    assert status["relocate_command"] == f"polyfind index --relocate a NEW --index {idx}"
    shown = _cli("status", "--index", idx).stdout
    assert "missing: a/sub/" + EN in shown and "--relocate a NEW" in shown

    # At the new place one report changed and one is gone.
    with (b / JA).open("a", encoding="utf-8") as fh:
        fh.write("\n追記された段落です。\n")
    (b / CHIPS).unlink()
    result = _json("index", "--relocate", "a", "b", "--index", idx, code=3)
    assert result["relocated"] == [
        {"from": os.path.join("a", "sub", EN), "to": os.path.join("b", "sub", EN)}
    ]
    assert result["changed"] == [os.path.join("b", JA)]
    assert result["absent"] == [os.path.join("b", CHIPS)]
    assert result["roots"] == [{"from": "a", "to": "b"}] and result["skipped"] == 1
    assert Store.open(index).generation == generation  # no passage changed
    assert chunk_ids_by_file(index) == before

    hits = _json("search", "battery manufacturing", "--index", idx, "--mode", "lexical")
    assert hits and all(h["missing"] is (Path(h["source"]).name == CHIPS) for h in hits)
    assert os.path.join("b", "sub", EN) in {h["source"] for h in hits}
    assert not any(h["source"].startswith("a" + os.sep) for h in hits)
    en = next(h for h in hits if Path(h["source"]).name == EN)
    assert _json("show", str(en["chunk_id"]), "--index", idx)["missing"] is False

    # The next run reads the changed file again and drops the gone one, nothing else.
    first = _json("index", "--index", idx, "-q")
    assert first["updated"] == [os.path.join("b", JA)]
    assert first["removed"] == [os.path.join("b", CHIPS)]
    assert first["unchanged"] == [os.path.join("b", "sub", EN)]
    assert first["added"] == [] and first["skipped"] == []
    assert chunk_ids_by_file(index)[EN] == before[EN]  # the relocated report kept its passages
    again = _json("index", "--index", idx, "-q")
    assert again["added"] == again["updated"] == again["removed"] == []
    assert again["chunks_added"] == 0
    status = _json("status", "--index", idx)
    assert status["changed"] == 0 and status["missing"] == [] and status["new"] == []
    assert [r["given"] for r in status["roots"]] == ["b"]
    assert [s["source"] for s in status["skipped"]] == [os.path.join("b", "table.xlsx")]


def test_relocate_all_unchanged_exits_0_and_a_later_index_embeds_nothing(moved) -> None:
    index, _, b = moved
    idx = str(index)
    before = chunk_ids_by_file(index)
    result = _cli("index", "--relocate", "a", str(b), "--index", idx)
    assert result.exit_code == 0, result.output
    assert f"relocated 3 files from a to {b}" in result.stdout
    after = _json("index", "--index", idx)
    assert sorted(Path(s).name for s in after["unchanged"]) == sorted([JA, EN, CHIPS])
    assert after["added"] == after["updated"] == after["removed"] == []
    assert after["chunks_added"] == 0 and after["still_skipped"]
    assert chunk_ids_by_file(index) == before
    hits = _json("search", "battery manufacturing", "--index", idx, "--mode", "lexical")
    assert os.path.join(str(b), "sub", EN) in {h["source"] for h in hits}


def test_relocate_refuses_what_it_cannot_do_and_changes_nothing(moved, tmp_path: Path) -> None:
    index, _, _ = moved
    idx = str(index)
    before = _json("status", "--index", idx)
    empty = tmp_path / "empty"
    empty.mkdir()
    cases = [
        (["a", "nowhere"], "nowhere: no such file or folder"),
        (["elsewhere", "b"], "elsewhere: nothing in"),
        (["a", str(empty)], f"none of the 3 files indexed under a is at {empty}"),
    ]
    for args, message in cases:
        result = _cli("index", "--relocate", *args, "--index", idx)
        assert result.exit_code == 1, result.output
        assert message in result.stderr and result.stderr.count("\n") == 1
    assert _cli("index", "b", "--relocate", "a", "b", "--index", idx).exit_code == 2
    assert _cli("index", "--relocate", "a", "--index", idx).exit_code == 2
    nowhere = tmp_path / "no-index"
    result = _cli("index", "--relocate", "a", "b", "--index", str(nowhere))
    assert result.exit_code == 1 and f"no index at {nowhere}" in result.stderr
    assert not nowhere.exists()
    assert _json("status", "--index", idx) == before


def test_relocate_is_one_transaction(moved, monkeypatch: pytest.MonkeyPatch) -> None:
    """A failure after some documents were rewritten leaves every recorded path as it was."""
    index, _, _ = moved
    before = chunk_ids_by_file(index)

    def fail(self, *args, **kwargs):
        raise sqlite3.OperationalError("disk I/O error")

    monkeypatch.setattr(Store, "move_root", fail)
    result = _cli("index", "--relocate", "a", "b", "--index", str(index))
    assert result.exit_code == 1 and "nothing was relocated" in result.stderr
    status = _json("status", "--index", str(index))
    assert len(status["missing"]) == 3 and [r["given"] for r in status["roots"]] == ["a"]
    assert chunk_ids_by_file(index) == before


def test_index_quiet_prints_nothing_but_errors(tmp_path: Path, embedder) -> None:
    folder = tmp_path / "docs"
    folder.mkdir()
    shutil.copy(CORPUS / EN, folder / EN)
    index = str(tmp_path / "index")
    index_paths([str(folder)], Settings(index_dir=Path(index)), embedder=embedder)
    # A file it cannot index arrives: it is the one line, on stderr; exit 3.
    (folder / "table.xlsx").write_bytes(b"PK\x03\x04")
    result = _cli("index", "--index", index, "--quiet")
    assert result.exit_code == 3
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"skipped: {folder / 'table.xlsx'}: unsupported file type .xlsx"
    ]
    # Nothing new: nothing at all (the file skipped before is not news).
    result = _cli("index", "--index", index, "-q")
    assert (result.exit_code, result.stdout, result.stderr) == (0, "", "")
    # --json still prints the summary: cron jobs keep it.
    assert json.loads(_cli("index", "--index", index, "-q", "--json").stdout)["added"] == []
    # An error is still one line on stderr, exit 1.
    result = _cli("index", str(tmp_path / "nothing"), "--index", index, "-q")
    assert result.exit_code == 1 and result.stdout == ""
    assert "no such file or folder" in result.stderr


def test_relocate_a_file_root_and_a_folder_inside_a_root(tmp_path: Path, embedder) -> None:
    """A root that is one file moves with it; a folder moved out of a root becomes a root of
    its own, so `polyfind index` keeps both current."""
    from polyfind import relocate

    top = tmp_path / "top"
    (top / "inner").mkdir(parents=True)
    shutil.copy(CORPUS / JA, top / "inner" / JA)
    single = tmp_path / "one" / EN
    single.parent.mkdir()
    shutil.copy(CORPUS / EN, single)
    settings = Settings(index_dir=tmp_path / "index")
    index_paths([str(top), str(single)], settings, embedder=embedder)

    moved_file = tmp_path / "two" / EN
    moved_file.parent.mkdir()
    os.rename(single, moved_file)
    done = relocate(str(single), str(moved_file), settings)
    assert done.complete and done.roots == [(str(single), str(moved_file))]
    os.rename(top / "inner", tmp_path / "inner")
    done = relocate(str(top / "inner"), str(tmp_path / "inner"), settings)
    assert done.complete and done.roots == [("", str(tmp_path / "inner"))]

    store = Store.open(settings.index_dir)
    try:
        roots = [r.path for r in store.roots()]
        docs = {Path(d.path).name: d for d in store.documents()}
    finally:
        store.close()
    assert roots == [str(top), str(moved_file), str(tmp_path / "inner")]
    assert docs[EN].path == str(moved_file) and docs[EN].root == str(moved_file.parent)
    assert docs[JA].path == str(tmp_path / "inner" / JA)
    again = index_paths(None, settings, embedder=embedder)
    assert sorted(Path(s).name for s in again.unchanged) == sorted([EN, JA])
    assert again.added == again.removed == again.updated == [] and again.missing == []
