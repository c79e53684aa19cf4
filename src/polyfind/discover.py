"""Find the files under the paths given to ``index``.

A folder may hold a ``.polyfindignore`` file: one glob pattern per line (``#`` starts a
comment), matched against paths relative to that folder and against bare file names.
Hidden files and folders (names starting with ``.``) are never indexed.
"""

from __future__ import annotations

import fnmatch
import hashlib
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from .settings import SUPPORTED_SUFFIXES

IGNORE_FILE = ".polyfindignore"


@dataclass(frozen=True)
class FoundFile:
    """A candidate file: where it is and how the user named it."""

    source: str
    """Path as the user would write it: the root as given joined with the relative path."""
    path: Path
    """Absolute, resolved path (the identity of the document)."""
    root: Path
    """Absolute root under which it was found."""
    size: int
    mtime_ns: int
    supported: bool


def _read_ignore(folder: Path) -> list[str]:
    try:
        lines = (folder / IGNORE_FILE).read_text(encoding="utf-8").splitlines()
    except OSError:
        return []
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _ignored(rel: str, patterns: list[str]) -> bool:
    name = rel.rsplit("/", 1)[-1]
    return any(fnmatch.fnmatch(rel, p) or fnmatch.fnmatch(name, p) for p in patterns)


def _source(given: str, rel: str) -> str:
    if not rel:
        return os.path.normpath(given)
    return os.path.normpath(os.path.join(given, rel))


def discover(given: str) -> Iterator[FoundFile]:
    """Yield every file under ``given`` (a file or a folder), sorted by path.

    Raises FileNotFoundError when ``given`` does not exist.
    """
    root = Path(given).expanduser()
    if not root.exists():
        raise FileNotFoundError(given)
    root = root.resolve()
    if root.is_file():
        st = root.stat()
        yield FoundFile(
            _source(given, ""),
            root,
            root.parent,
            st.st_size,
            st.st_mtime_ns,
            root.suffix.lower() in SUPPORTED_SUFFIXES,
        )
        return
    patterns = _read_ignore(root)
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        base = Path(dirpath)
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = base / name
            rel = path.relative_to(root).as_posix()
            if _ignored(rel, patterns):
                continue
            try:
                st = path.stat()
            except OSError:
                continue
            if not path.is_file():
                continue
            yield FoundFile(
                _source(given, rel),
                path,
                root,
                st.st_size,
                st.st_mtime_ns,
                path.suffix.lower() in SUPPORTED_SUFFIXES,
            )


def content_hash(path: Path) -> str:
    """SHA-256 of the file's bytes."""
    h = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def root_argument(path: str, given: str) -> str:
    """How to name a root on the command line here: as it was given when that still names
    the same place from the working directory, else by its absolute path."""
    try:
        same = Path(given).expanduser().resolve() == Path(path)
    except OSError:
        same = False
    return given if same else path
