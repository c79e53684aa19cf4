"""The command line: exit codes, messages, JSON fields, help text."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from polyfind.cli import app

runner = CliRunner()

HIT_FIELDS = {"rank", "score", "source", "page", "line", "start", "end", "lang", "text", "chunk_id"}


def _run(*args: str):
    return runner.invoke(app, list(args))


def _commands() -> list[list[str]]:
    """Every command and subcommand the CLI registers (not a list kept by hand)."""
    import typer.main

    def walk(command: object, path: list[str]) -> list[list[str]]:
        subs = getattr(command, "commands", {})
        return [path] + [p for name, sub in sorted(subs.items()) for p in walk(sub, [*path, name])]

    return walk(typer.main.get_command(app), [])


@pytest.mark.parametrize("command", _commands(), ids=lambda c: " ".join(c) or "polyfind")
def test_every_command_has_help(command: list[str]) -> None:
    """Help renders (its markup, defaults and option types are only checked when it does)."""
    result = runner.invoke(app, [*command, "--help"], prog_name="polyfind")
    assert result.exit_code == 0, result.output
    assert f"Usage: {' '.join(['polyfind', *command])}" in " ".join(result.output.split())


def test_missing_index_is_one_clear_line(tmp_path: Path) -> None:
    for args in (
        ["search", "anything", "--index", str(tmp_path / "none")],
        ["status", "--index", str(tmp_path / "none")],
        ["show", "1", "--index", str(tmp_path / "none")],
    ):
        result = _run(*args)
        assert result.exit_code == 1, args
        assert result.stderr.count("\n") == 1
        assert "no index at" in result.stderr and "polyfind index" in result.stderr
        assert "Traceback" not in result.output


def test_usage_error_exits_2() -> None:
    assert _run("search").exit_code == 2
    assert _run("search", "x", "-k", "0").exit_code == 2


@pytest.mark.slow
def test_search_json_fields(corpus_index) -> None:
    settings, _ = corpus_index
    result = _run(
        "search", "battery recycling", "--index", str(settings.index_dir), "--json", "-k", "4"
    )
    assert result.exit_code == 0, result.stderr
    hits = json.loads(result.stdout)
    assert len(hits) == 4
    assert [h["rank"] for h in hits] == [1, 2, 3, 4]
    for h in hits:
        assert set(h) >= HIT_FIELDS
        assert h["lang"] in {"ko", "ja", "en"}
        assert h["line"] >= 1 and 0 <= h["start"] < h["end"]
        assert h["page"] is None or h["page"] >= 1
    assert hits[0]["score"] >= hits[-1]["score"]


@pytest.mark.slow
def test_search_table_shows_citations(corpus_index) -> None:
    settings, _ = corpus_index
    result = _run(
        "search", "NIST advanced packaging", "--index", str(settings.index_dir), "-k", "3"
    )
    assert result.exit_code == 0, result.stderr
    assert "score" in result.stdout and "passage" in result.stdout
    assert ".txt:" in result.stdout or ".md:" in result.stdout or ".pdf:p" in result.stdout


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["search", "   "], "query is empty"),
        (["search", "quantum", "--lang", "xx"], "unknown language code 'xx'"),
        (["search", "quantum", "--model", "some-other-model"], "--rebuild"),
        (["show", "99999999"], "no passage with id"),
    ],
)
def test_user_errors_exit_1_with_a_message(corpus_index, args: list[str], message: str) -> None:
    settings, _ = corpus_index
    result = _run(*args, "--index", str(settings.index_dir))
    assert result.exit_code == 1
    assert message in result.stderr
    assert result.stderr.startswith("error: ")


@pytest.mark.slow
def test_status_json_fields(corpus_index) -> None:
    settings, _ = corpus_index
    result = _run("status", "--index", str(settings.index_dir), "--json")
    assert result.exit_code == 0, result.stderr
    st = json.loads(result.stdout)
    assert st["documents"] == 13
    assert st["chunks"] == sum(st["languages"].values())
    assert set(st["languages"]) >= {"ko", "ja", "en"}
    assert st["model"].startswith("multilingual-e5-small")
    assert st["size_bytes"] > 0
    assert st["store"] == "local"


@pytest.mark.slow
def test_show_prints_passage_with_citation(corpus_index) -> None:
    settings, _ = corpus_index
    found = _run(
        "search", "趙泰永 国家安保室長", "--index", str(settings.index_dir), "--json", "-k", "1"
    )
    hit = json.loads(found.stdout)[0]
    result = _run("show", str(hit["chunk_id"]), "--index", str(settings.index_dir))
    assert result.exit_code == 0, result.stderr
    assert Path(hit["source"]).name in result.stdout
    assert f"lines {hit['line']}-" in result.stdout
    shown = _run("show", str(hit["chunk_id"]), "--index", str(settings.index_dir), "--json")
    data = json.loads(shown.stdout)
    assert data["text"] == hit["text"] and data["start"] == hit["start"]


@pytest.mark.slow
def test_index_command_summary_json(tmp_path: Path) -> None:
    corpus = Path(__file__).resolve().parents[1] / "corpus"
    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "004.txt").write_bytes((corpus / "004_58bd91241ebf471b.txt").read_bytes())
    (folder / "notes.csv").write_text("a,b\n", encoding="utf-8")
    index = str(tmp_path / "idx")
    first = _run("index", str(folder), "--index", index, "--json")
    assert first.exit_code == 3, first.stderr  # done, with a file skipped
    summary = json.loads(first.stdout)
    assert summary["added"] == [str(folder / "004.txt")]
    assert summary["skipped"] == [
        {"source": str(folder / "notes.csv"), "reason": "unsupported file type .csv"}
    ]
    assert summary["chunks_total"] == summary["chunks_added"] > 0
    second = _run("index", str(folder), "--index", index)
    assert second.exit_code == 0, second.stderr  # skipped before, unchanged: not read again
    assert "unchanged" in second.stdout and "skipped: " in second.stdout
    assert "not read again" in second.stdout


@pytest.mark.parametrize(
    ("variable", "value", "named"),
    [
        ("POLYFIND_PRECISION", "fp64", "POLYFIND_PRECISION"),
        ("POLYFIND_LOAD_TIMEOUT", "soon", "POLYFIND_LOAD_TIMEOUT"),
        ("POLYFIND_LOAD_MEMORY_MB", "lots", "POLYFIND_LOAD_MEMORY_MB"),
        ("POLYFIND_LOAD_TIMEOUT", "-5", "POLYFIND_LOAD_TIMEOUT"),
        ("POLYFIND_OCR", "maybe", "POLYFIND_OCR"),
    ],
)
def test_a_bad_environment_variable_is_one_line_and_exit_1(
    tmp_path: Path, variable: str, value: str, named: str
) -> None:
    import os
    import subprocess
    import sys

    env = dict(os.environ, **{variable: value})
    done = subprocess.run(
        [sys.executable, "-m", "polyfind.cli", "status", "--index", str(tmp_path / "none")],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and named in lines[0], done.stderr
    assert "Traceback" not in done.stderr


def test_search_and_show_change_nothing_on_disk(
    small_corpus: Path, tmp_path: Path, embedder
) -> None:
    """Readers never write: searching and showing leave every file of the index as it was
    (test_lexical: also a search asking for another analyser); `show` does not need the
    vector index."""
    from polyfind import Settings, index_paths

    index = tmp_path / "index"
    index_paths([str(small_corpus)], Settings(index_dir=index), embedder=embedder)
    faiss_files = list(index.glob("vectors-*.faiss"))
    assert faiss_files
    for f in faiss_files:
        f.unlink()  # show must not need it; a search rebuilds it in memory only
    before = {p.name: p.read_bytes() for p in index.iterdir() if p.is_file()}
    found = _run("search", "quantum computing", "--index", str(index), "--json", "-k", "1")
    assert found.exit_code == 0, found.stderr
    hit = json.loads(found.stdout)[0]
    shown = _run("show", str(hit["chunk_id"]), "--index", str(index), "--json")
    assert shown.exit_code == 0, shown.stderr
    after = {p.name: p.read_bytes() for p in index.iterdir() if p.is_file()}
    assert after == before


def test_version() -> None:
    from importlib.metadata import version

    result = _run("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"polyfind {version('polyfind')}"


def test_readme_command_reference_is_what_the_cli_says() -> None:
    """README.md's command reference is rendered from the CLI (scripts/cli_reference.py):
    a command, option or help text changed without re-rendering it fails here."""
    from polyfind.clidoc import reference, splice

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    assert splice(readme, reference()) == readme
    for command in (c for c in _commands() if c and c != ["model"]):
        assert f"### `{' '.join(['polyfind', *command])} " in readme
