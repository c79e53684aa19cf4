"""The console script's quick way in (``polyfind.quick``): a plain `search` parsed without
Typer gives the command exactly what Typer would; anything else is left to Typer; the quick
search loads neither Typer, pydantic, rich (for --json) nor the indexing pipeline."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from polyfind import commands
from polyfind.cli import app
from polyfind.quick import parse_search

PLAIN = [
    ["search", "quantum"],
    ["search", "양자 기술 동맹국 협력", "--json"],
    ["search", "--json", "全固体電池の特許", "-k", "5", "--lang", "ja,en"],
    ["search", "q", "--index", "some/dir", "--top", "3", "--mode", "lexical"],
    ["search", "q", "--index=some dir", "--top=1000", "--mode=dense", "--model=m"],
    ["search", "q", "--per-lang", "2", "--lang", "ko", "--json", "--json"],
    ["search", "q", "--per-lang=100", "-k", "1"],
    ["search", ""],
]
#: Left to Typer: help, global options, errors, unusual spellings.
OTHER = [
    ["search"],
    ["search", "--help"],
    ["search", "q", "--help"],
    ["--verbose", "search", "q"],
    ["-v", "search", "q"],
    ["search", "q", "-k", "0"],
    ["search", "q", "-k", "1001"],
    ["search", "q", "-k", "x"],
    ["search", "q", "-k", "010"],
    ["search", "q", "-k5"],
    ["search", "q", "-k=5"],
    ["search", "q", "-k"],
    ["search", "q", "--per-lang", "101"],
    ["search", "q", "-k", "3", "--top", "4"],
    ["search", "q", "r"],
    ["search", "q", "--unknown"],
    ["search", "q", "--json=1"],
    ["search", "--", "-q"],
    ["search", "-"],
    ["search", "q", "--lang", ""],
    ["search", "q", "--index", "-x"],
    ["status"],
    ["index", "corpus"],
]


def _typer_params(args: list[str], monkeypatch: pytest.MonkeyPatch) -> tuple[int, Any]:
    """What the Typer command hands ``commands.search`` for ``args`` (and its exit code)."""
    seen: dict[str, Any] = {}

    def record(*values: Any) -> None:
        names = ("query", "index_dir", "k", "lang", "model", "mode", "per_lang", "as_json")
        seen.update(zip(names, values, strict=True))

    monkeypatch.setattr(commands, "search", record)
    result = CliRunner().invoke(app, args)
    return result.exit_code, seen or None


@pytest.mark.parametrize("args", PLAIN, ids=" ".join)
def test_plain_search_parses_as_typer_does(args: list[str], monkeypatch) -> None:
    code, typer_params = _typer_params(args, monkeypatch)
    assert code == 0
    assert parse_search(args) == typer_params


@pytest.mark.parametrize("args", OTHER, ids=" ".join)
def test_anything_else_is_left_to_typer(args: list[str]) -> None:
    assert parse_search(args) is None


#: Modules a quick `search --json` must not load (Typer's parsing, rich, the indexing side).
NOT_LOADED = (
    "typer",
    "pydantic",
    "rich",
    "torch",
    "sentence_transformers",
    "polyfind.cli",
    "polyfind.pipeline",
    "polyfind.chunking",
    "polyfind.loaders",
    "polyfind.snippets",
)

_PROBE = """
import atexit, json, sys
def report():
    loaded = sorted(m for m in sys.modules if m.split(".")[0] in {roots})
    sys.stderr.write("\\nMODULES " + json.dumps(loaded) + "\\n")
atexit.register(report)
sys.argv = ["polyfind", *{args}]
from polyfind.quick import run
run()
"""


def _quick(
    args: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    """`polyfind ARGS` through ``quick.run`` in a child process, searching in that process
    (POLYFIND_RESIDENT=0 unless ``env`` says otherwise; tests/test_resident.py has the
    resident searcher): (its result, the modules of interest it loaded)."""
    roots = sorted({m.split(".")[0] for m in NOT_LOADED} | {"polyfind"})
    code = _PROBE.format(roots=roots, args=args)
    env = {"POLYFIND_RESIDENT": "0", **(os.environ if env is None else env)}
    run = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, encoding="utf-8", env=env
    )
    head, _, tail = run.stderr.rpartition("\nMODULES ")
    run.stderr = head
    return run, json.loads(tail)


def _loaded(modules: list[str], name: str) -> bool:
    return any(m == name or m.startswith(name + ".") for m in modules)


def test_quick_search_error_is_the_same_line(tmp_path: Path) -> None:
    """Without an index: the one-line error and exit status 1 of the Typer command, without
    Typer."""
    args = ["search", "anything", "--index", str(tmp_path / "none"), "--json"]
    run, modules = _quick(args)
    typer_run = CliRunner().invoke(app, args)
    assert run.returncode == typer_run.exit_code == 1
    assert run.stderr == typer_run.stderr and run.stdout == ""
    # (rich prints the error line)
    assert not [name for name in NOT_LOADED if name != "rich" and _loaded(modules, name)]


def test_interrupted_before_the_search_exits_as_typer_does(monkeypatch, capsys) -> None:
    """Ctrl-C outside the search's own handler (while loading): status 130, nothing printed."""
    from polyfind import quick

    def interrupted(*args: Any, **kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(commands, "search", interrupted)
    typer_run = CliRunner().invoke(app, ["search", "q"])
    monkeypatch.setattr(sys, "argv", ["polyfind", "search", "q"])
    with pytest.raises(SystemExit) as exc:
        quick.run()
    assert exc.value.code == typer_run.exit_code == 130
    assert capsys.readouterr().out == typer_run.output == ""


def test_other_command_lines_go_to_typer(tmp_path: Path) -> None:
    run, modules = _quick(["search", "q", "-k", "0", "--index", str(tmp_path)])
    assert run.returncode == 2 and "-k" in run.stderr
    assert _loaded(modules, "typer")


def test_quick_search_is_the_typer_search(corpus_index) -> None:
    """On a real index: the same JSON as the Typer command, with the query encoder and the
    vectors loaded, and still no Typer, rich or indexing pipeline."""
    settings, _ = corpus_index
    args = ["search", "semiconductor supply chain", "--index", str(settings.index_dir), "--json"]
    run, modules = _quick([*args, "-k", "5"])
    assert run.returncode == 0, run.stderr
    typer_run = subprocess.run(
        [sys.executable, "-m", "polyfind.cli", *args, "-k", "5"],
        capture_output=True,
        text=True,
        encoding="utf-8",
    )
    assert typer_run.returncode == 0, typer_run.stderr
    assert json.loads(run.stdout) == json.loads(typer_run.stdout)
    assert len(json.loads(run.stdout)) == 5
    assert _loaded(modules, "polyfind.search") and _loaded(modules, "polyfind.vectors")
    assert not [name for name in NOT_LOADED if _loaded(modules, name)]


# -- help pages --------------------------------------------------------------------------------
def _typer_help(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """The help page as Typer prints it for the console script `polyfind`."""
    code = "import sys; sys.argv[0] = 'polyfind'; from polyfind.cli import run; run()"
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
    )


def _quick_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k != "POLYFIND_CACHE"}
    return {**env, "POLYFIND_CACHE": str(tmp_path / "cache"), **extra}


@pytest.mark.parametrize("command", [[], ["search"], ["model", "build"]], ids=" ".join)
def test_help_page_is_typers_then_kept(tmp_path: Path, command: list[str]) -> None:
    """The first request draws the page with Typer (and keeps it), the second prints the
    kept page without loading Typer: both exactly what Typer prints."""
    env = _quick_env(tmp_path)
    args = [*command, "--help"]
    typer_run = _typer_help(args, env)
    assert typer_run.returncode == 0 and "Usage: polyfind" in typer_run.stdout
    first, first_modules = _quick(args, env)
    second, second_modules = _quick(args, env)
    assert first.returncode == second.returncode == 0
    assert first.stdout == second.stdout == typer_run.stdout
    assert first.stderr == second.stderr == ""
    assert _loaded(first_modules, "typer") and not _loaded(second_modules, "typer")
    assert not _loaded(second_modules, "rich")
    assert len(list((tmp_path / "cache" / "help").glob("*.txt"))) == 1


def test_help_page_follows_what_shapes_it(tmp_path: Path) -> None:
    """Another width is another page, drawn by Typer at that width."""
    narrow = _quick_env(tmp_path, COLUMNS="60")
    wide = _quick_env(tmp_path, COLUMNS="120")
    for env in (narrow, wide, narrow, wide):
        run, _ = _quick(["search", "--help"], env)
        assert run.stdout == _typer_help(["search", "--help"], env).stdout
    assert len(list((tmp_path / "cache" / "help").glob("*.txt"))) == 2
    lines = {len(line) for line in _quick(["search", "--help"], narrow)[0].stdout.splitlines()}
    assert max(lines) == 60


def test_help_key(monkeypatch: pytest.MonkeyPatch) -> None:
    from polyfind import quick

    assert quick.help_key(["search", "q"]) is None
    assert quick.help_key(["search", "--json", "--help"]) is None  # an option: Typer decides
    key = quick.help_key(["search", "--help"])
    assert key is not None and key != quick.help_key(["--help"])
    monkeypatch.setenv("COLUMNS", "123")
    assert quick.help_key(["search", "--help"]) != key
    stamped = {Path(name).name for name, _, _ in quick._code_stamp()}
    assert {"cli.py", "settings.py", "rich_utils.py", "console.py"} <= stamped
