"""The console script's way in: help pages and a plain `polyfind search` without Typer,
everything else through Typer (``cli.py``).

Typer checks every option through a pydantic adapter built when the command line is parsed,
and draws help with rich's Markdown, Syntax and Traceback loaded: about 150 ms of CPU before
anything else, more than a search takes. So:

- A search whose command line is plain (``search QUERY`` and the command's own options in
  their usual spellings, with values Typer would accept as they are) is parsed here and run
  by the function the Typer command runs (``commands.search``). Anything else (a global
  option, a value out of range, an unknown or repeated option, ``--``, an argument starting
  with ``-``) goes to Typer, which parses it or reports the error as before.
- A help page (``polyfind [COMMAND...] --help``) is Typer's own output, kept in the cache
  folder under a key made of everything that shapes it (``help_key``: the command line, the
  terminal's size on each standard stream, the variables rich and Typer read, the encoding,
  and the files of polyfind, Typer and rich); the first request for a page draws it with
  Typer and keeps a copy of what it printed, later ones print the copy.

tests/test_quick.py checks that both ways agree with Typer.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import os
import re
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any, TextIO

#: `search`'s options that take a value: spelling -> (parameter, (min, max) for integers).
_VALUED: dict[str, tuple[str, tuple[int, int] | None]] = {
    "--index": ("index_dir", None),
    "-k": ("k", (1, 1000)),
    "--top": ("k", (1, 1000)),
    "--lang": ("lang", None),
    "--model": ("model", None),
    "--mode": ("mode", None),
    "--per-lang": ("per_lang", (1, 100)),
}
_DIGITS = re.compile(r"[1-9][0-9]{0,8}")  # as written by people; "010", "+5": Typer


def parse_search(argv: list[str]) -> dict[str, Any] | None:
    """The parameters of ``commands.search`` for a plain `search` command line (``argv``
    without the program name), or None when Typer should parse it."""
    if len(argv) < 2 or argv[0] != "search":
        return None
    params: dict[str, Any] = {
        "query": None,
        "index_dir": None,
        "k": 10,
        "lang": None,
        "model": None,
        "mode": None,
        "per_lang": None,
        "as_json": False,
    }
    given: set[str] = set()
    rest = iter(argv[1:])
    for token in rest:
        if not token.startswith("-"):
            if params["query"] is not None:
                return None  # a second argument: Typer's usage error
            params["query"] = token
            continue
        if token == "--json":
            params["as_json"] = True
            continue
        name, eq, value = token.partition("=")
        if name not in _VALUED or (eq and not name.startswith("--")):
            return None
        if not eq:
            value = next(rest, "-")
        if value.startswith("-") or not value:
            return None
        param, bounds = _VALUED[name]
        if param in given:
            return None
        given.add(param)
        if bounds is None:
            params[param] = Path(value) if param == "index_dir" else value
            continue
        if not _DIGITS.fullmatch(value) or not bounds[0] <= int(value) <= bounds[1]:
            return None
        params[param] = int(value)
    return params if params["query"] is not None else None


# -- help pages --------------------------------------------------------------------------------
#: Variables that change how rich and Typer draw a page (width, colours, terminal, markup,
#: translations) besides the command line and the terminal's size.
HELP_ENV = (
    "COLUMNS",
    "LINES",
    "TERM",
    "COLORTERM",
    "NO_COLOR",
    "FORCE_COLOR",
    "PY_COLORS",
    "TTY_COMPATIBLE",
    "TTY_INTERACTIVE",
    "TERMINAL_WIDTH",
    "GITHUB_ACTIONS",
    "_TYPER_FORCE_DISABLE_TERMINAL",
    "TYPER_USE_RICH",
    "TYPER_RICH_MARKUP_MODE",
    "JUPYTER_COLUMNS",
    "JUPYTER_LINES",
    "PYCHARM_HOSTED",
    "DATABRICKS_RUNTIME_VERSION",
    "LANG",
    "LANGUAGE",
    "LC_ALL",
    "LC_MESSAGES",
)
#: Pages kept at most (one per command, terminal size and so on); the oldest go first.
HELP_PAGES_KEPT = 200


def _terminal(fd: int) -> tuple[bool, tuple[int, int] | None]:
    try:
        size = os.get_terminal_size(fd)
    except (OSError, ValueError):
        return os.isatty(fd) if fd >= 0 else False, None
    return True, (size.columns, size.lines)


def file_stamps(
    folders: list[Path], *, suffix: str = "", recursive: bool = False
) -> list[tuple[str, int, int]]:
    """(path, mtime, size) of the files of ``folders`` whose names end with ``suffix``
    (and of their sub-folders but ``__pycache__`` when ``recursive``), sorted: what a key
    made of code holds, so that an upgrade or an edited file makes another key."""
    stamps: list[tuple[str, int, int]] = []
    todo = list(folders)
    while todo:
        with os.scandir(todo.pop()) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    if recursive and entry.name != "__pycache__":
                        todo.append(Path(entry.path))
                elif entry.name.endswith(suffix):
                    st = entry.stat()
                    stamps.append((entry.path, st.st_mtime_ns, st.st_size))
    return sorted(stamps)


def _code_stamp() -> list[tuple[str, int, int]]:
    """polyfind's top-level modules and Typer's and rich's: a new version or an edited help
    text makes new help keys."""
    folders = [Path(__file__).parent]
    for name in ("typer", "rich"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.origin:
            folders.append(Path(spec.origin).parent)
    return file_stamps(folders, suffix=".py")


def help_key(argv: list[str]) -> str | None:
    """The key of the help page ``argv`` asks for (``[COMMAND...] --help``), else None."""
    if not argv or argv[-1] != "--help" or any(a.startswith("-") for a in argv[:-1]):
        return None
    stdout = sys.stdout
    parts = [
        sys.version,
        os.path.basename(sys.argv[0]) if sys.argv else "",
        argv,
        [_terminal(fd) for fd in (0, 1, 2)],
        [os.environ.get(name) for name in HELP_ENV],
        getattr(stdout, "encoding", None),
        getattr(stdout, "errors", None),
        _code_stamp(),
    ]
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogateescape")).hexdigest()[:32]


def help_dir() -> Path:
    """Where help pages are kept: the cache folder of ``settings.resolve`` (POLYFIND_CACHE,
    else $XDG_CACHE_HOME/polyfind, else ~/.cache/polyfind), read without loading settings."""
    return cache_base(os.environ) / "help"


def cache_base(env: Mapping[str, str]) -> Path:
    """``settings.resolve(env=env).cache_dir`` without loading the settings."""
    cache = env.get("POLYFIND_CACHE", "").strip()
    if cache:
        return Path(cache).expanduser()
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    if xdg:
        return Path(xdg).expanduser() / "polyfind"
    return Path.home() / ".cache" / "polyfind"


class _Copy:
    """Standard output as it is, keeping a copy of what is written (rich asks the stream
    itself whether it is a terminal, its encoding and so on: all answered by the real one)."""

    def __init__(self, stream: TextIO) -> None:
        self._stream = stream
        self.parts: list[str] = []

    def write(self, text: str) -> int:
        n = self._stream.write(text)  # first: Click probes with bytes, which this refuses
        self.parts.append(text)
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


def _keep(page: Path, text: str) -> None:
    with contextlib.suppress(OSError):
        page.parent.mkdir(parents=True, exist_ok=True)
        tmp = page.with_suffix(f".{os.getpid()}.tmp")
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, page)
        pages = sorted(page.parent.glob("*.txt"), key=lambda p: p.stat().st_mtime)
        for old in pages[:-HELP_PAGES_KEPT]:
            old.unlink(missing_ok=True)


def _help(argv: list[str]) -> bool:
    """Print the help page ``argv`` asks for if it is kept; if not, draw it with Typer and
    keep it. False when ``argv`` asks for no help page."""
    key = help_key(argv)
    if key is None:
        return False
    page = help_dir() / f"{key}.txt"
    try:
        with open(page, encoding="utf-8", newline="") as fh:
            text = fh.read()
    except OSError:
        pass
    else:
        sys.stdout.write(text)
        return True
    from .cli import run as run_typer

    copy = _Copy(sys.stdout)
    sys.stdout = copy
    try:
        run_typer()
    except SystemExit as exc:
        if exc.code in (0, None):
            _keep(page, "".join(copy.parts))
        raise
    finally:
        sys.stdout = copy._stream
    return True


# -- entry point -------------------------------------------------------------------------------
def run() -> None:
    """Console-script entry point (``polyfind``)."""
    argv = sys.argv[1:]
    if _help(argv):
        return
    params = parse_search(argv)
    if params is None:
        from .cli import run as run_typer

        run_typer()
        return
    from . import resident

    env = dict(os.environ)
    which = resident.key(env)  # once: it reads the stamps of every file of the package
    try:
        answered = resident.ask(params, which)
    except resident.ResidentGone:
        sys.stderr.write(
            "error: the resident search process stopped while answering; run the search "
            "again (POLYFIND_RESIDENT=0 searches without it)\n"
        )
        raise SystemExit(1) from None
    if answered is not None:
        raise SystemExit(answered)
    # This process was started for one search: numpy's OpenBLAS need not start a thread per
    # core (about 50 ms of CPU at import) for the few small matrix products a search does.
    if "numpy" not in sys.modules:
        os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from . import commands

    commands.configure_logging(False)
    try:
        commands.search(**params)
        sys.stdout.flush()
        resident.start(params, env, which)  # the next searches need not load what this one did
    except KeyboardInterrupt:  # before the search's own handler (``guarded``): as Typer does
        raise SystemExit(130) from None
    except BrokenPipeError:  # `polyfind search ... | head`: as Typer does, quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise SystemExit(1) from None
