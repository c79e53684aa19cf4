"""What the commands share, without Typer: consoles, errors as one line, JSON output, and the
body of `search`.

``cli.py`` declares the commands with Typer; ``quick.py`` runs the commonest invocations
(help texts, a plain `search`) without loading Typer. Both go through these functions, so a
command prints the same thing and exits with the same status whichever way it was parsed.
rich is imported on first use: `search --json` never loads it.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import sys
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from .errors import PolyfindError
from .settings import Settings, resolve

if TYPE_CHECKING:
    from rich.console import Console

    from .search import Searcher

T = TypeVar("T")


@cache
def out() -> Console:
    """Standard output's console."""
    from rich.console import Console

    return Console(highlight=False, soft_wrap=True)


@cache
def err() -> Console:
    """Standard error's console."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def configure_logging(verbose: bool, *, again: bool = False) -> None:
    """What the CLI's callback does before any command: log to stderr, INFO with -v.
    ``again``: replace the handler (to the ``sys.stderr`` of now) set up before."""
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="polyfind: %(message)s",
        stream=sys.stderr,
        force=again,
    )


def guarded(fn: Callable[[], T]) -> T:
    """``fn()``; a library error becomes one line on stderr and exit status 1 (Ctrl-C: 130).

    The exit is a plain ``SystemExit``, which Typer passes on as it does its own ``Exit``.
    """
    try:
        return fn()
    except PolyfindError as exc:
        err().print(f"error: {exc}", markup=False, soft_wrap=True)
        raise SystemExit(1) from None
    except sqlite3.DatabaseError as exc:
        err().print(
            f"error: the index database is damaged or unreadable ({exc}); "
            "rebuild it with `polyfind index --rebuild`",
            markup=False,
            soft_wrap=True,
        )
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        err().print("interrupted; the index keeps its last committed state", markup=False)
        raise SystemExit(130) from None


def settings_from(
    index: Path | None = None,
    model: str | None = None,
    precision: str | None = None,
    engine: str | None = None,
) -> Settings:
    """Defaults < environment < these flags (``settings.resolve``); a bad value is one line."""
    flags = {
        "index_dir": index,
        "model": model or None,
        "precision": precision or None,
        "engine": engine or None,
    }
    return guarded(lambda: resolve(flags))


def print_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, ensure_ascii=False, indent=2) + "\n")


# -- search ------------------------------------------------------------------------------------
def search(
    query: str,
    index_dir: Path | None,
    k: int,
    lang: str | None,
    model: str | None,
    mode: str | None,
    per_lang: int | None,
    as_json: bool,
    open_searcher: Callable[[Settings], AbstractContextManager[Searcher]] | None = None,
) -> None:
    """`polyfind search` once its options are parsed (and checked: k and per_lang in range).

    ``open_searcher(settings)`` gives the Searcher to use (the resident searcher keeps them
    open across searches); by default a new one, closed afterwards."""
    from .search import Searcher

    settings = settings_from(index_dir, model)
    opener = Searcher if open_searcher is None else open_searcher

    def run() -> None:
        with opener(settings) as searcher:
            hits = searcher.search(query, k=k, langs=lang, mode=mode, per_lang=per_lang)
            if as_json:
                print_json([h.to_json() for h in hits])
            elif not hits:
                err().print("no passages found", markup=False)
            else:
                _render_hits(query, hits, searcher)
                if any(h.missing for h in hits):
                    err().print(
                        "[file missing]: the file cited is no longer where it was indexed; if "
                        "its folder moved, `polyfind index --relocate OLD NEW` records the new "
                        "place (`polyfind status` lists the missing files)",
                        markup=False,
                        soft_wrap=True,
                    )

    guarded(run)


def _render_hits(query: str, hits: list[Any], searcher: Any) -> None:
    from rich.table import Table
    from rich.text import Text

    snippets = searcher.snippets(query, hits)
    table = Table(show_lines=True, expand=True)
    table.add_column("#", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("lang", no_wrap=True)
    table.add_column("citation and passage", ratio=1, overflow="fold")
    for h, snip in zip(hits, snippets, strict=True):
        cell = Text(h.display_citation, style="bold")
        if h.missing:
            cell.append("  [file missing]", style="bold red")
        cell.append(f"  (show {h.chunk_id})", style="dim")
        if h.title:
            cell.append(f"\n{h.title}", style="italic")
        cell.append("\n")
        offset = len(cell)
        cell.append(snip.text)
        for s, e in snip.highlights:
            style = "bold yellow" if snip.kind == "terms" else "bold cyan"
            cell.stylize(style, offset + s, offset + e)
        table.add_row(str(h.rank), f"{h.score:.3f}", h.lang, cell)
    out().print(table)
