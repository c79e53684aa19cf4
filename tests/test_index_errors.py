"""`polyfind index` errors and exit codes: missing inputs, an --index that cannot be an index
(the real CLI; none of these loads a model except the one marked slow)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind.cli import app

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
runner = CliRunner()


def _cli(*args: str):
    return runner.invoke(app, list(args))


def _one_line_error(result, *needles: str) -> str:
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    assert "Traceback" not in result.output
    for needle in needles:
        assert needle in result.stderr, result.stderr
    return str(result.stderr)


def test_a_path_that_does_not_exist_is_an_error_and_leaves_no_index(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    for args in (["index", "/no/such/path"], ["index", "/no/such/path", "--json"]):
        result = _cli(*args, "--index", str(index))
        _one_line_error(result, "/no/such/path", "no such file or folder")
        assert not index.exists()


def test_no_path_and_no_corpus_is_an_error_that_says_what_to_give(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    result = _cli("index", "--index", "idx")
    _one_line_error(result, "corpus", "polyfind index PATH")
    assert not (tmp_path / "idx").exists()


@pytest.mark.parametrize("command", [["index", str(CORPUS)], ["status"], ["search", "x"]])
def test_index_naming_a_file_says_to_give_a_folder(tmp_path: Path, command: list[str]) -> None:
    target = tmp_path / "notes.txt"
    target.write_text("my notes\n", encoding="utf-8")
    result = _cli(*command, "--index", str(target))
    message = _one_line_error(result, "is a file", "--index")
    assert "polyfind index PATH --index" not in message  # not: build an index at a file
    assert target.read_text(encoding="utf-8") == "my notes\n"


@pytest.mark.parametrize("command", [["index", str(CORPUS)], ["status"]])
def test_index_naming_a_folder_of_other_files_is_refused(
    tmp_path: Path, command: list[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    (folder / "cat.jpg").write_bytes(b"\xff\xd8\xff")
    result = _cli(*command, "--index", str(folder))
    message = _one_line_error(result, "not a polyfind index")
    assert "polyfind index PATH --index" not in message
    assert sorted(p.name for p in folder.iterdir()) == ["cat.jpg"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes anywhere")
def test_index_in_a_folder_without_write_permission(tmp_path: Path) -> None:
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        result = _cli("index", str(CORPUS), "--index", str(folder / "idx"))
        _one_line_error(result, "permission", "--index")
    finally:
        folder.chmod(0o700)


@pytest.mark.slow
def test_a_missing_path_among_others_is_reported_and_exits_3(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(CORPUS / "004_58bd91241ebf471b.txt", docs)
    index = str(tmp_path / "idx")
    result = _cli("index", str(docs), str(tmp_path / "gone"), "--index", index, "--json", "-q")
    assert result.exit_code == 3, result.output
    summary = json.loads(result.stdout)
    assert summary["missing"] == [str(tmp_path / "gone")]
    assert [Path(s).name for s in summary["added"]] == ["004_58bd91241ebf471b.txt"]
    # All done: 0. The table names the missing path.
    again = _cli("index", str(docs), "--index", index, "-q")
    assert again.exit_code == 0, again.output
    shutil.rmtree(docs)
    gone = _cli("index", "--index", index, "-q")  # its only root is gone: nothing to do
    _one_line_error(gone, str(docs), "no such file or folder", "--forget")
