"""What an index holds, and what has changed on disk since it was built."""

from __future__ import annotations

import os
import shlex
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .discover import IGNORE_FILE, discover, root_argument
from .milvus import masked
from .searchindex import describe
from .settings import Settings
from .store import Store


@dataclass
class RootStatus:
    """A file or folder the index was given: ``polyfind index`` with no path re-indexes it."""

    path: str
    """Absolute path."""
    given: str
    """As it was given to ``index``."""
    argument: str
    """How to name it on the command line from here (``given``, or ``path`` if that moved)."""
    exists: bool
    ignore_file: bool
    """A folder with a ``.polyfindignore`` (applied when it is indexed)."""


@dataclass
class IndexStatus:
    index_dir: str
    documents: int
    chunks: int
    languages: dict[str, int]
    """Chunks per language code."""
    document_languages: dict[str, int]
    model: str | None
    dim: int | None
    size_bytes: int
    created_at: float | None
    updated_at: float | None
    chunk_tokens: int | None
    chunk_overlap: int | None
    store: str = "local"
    """Where the vectors and lexical index are (``index --store``; a password is masked)."""
    terms_waiting: int = 0
    """Chunks without their lexical terms yet (an index run stopped after embedding them):
    keyword search misses them until `polyfind index` writes them."""
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    """Indexed documents whose file no longer exists (moved or deleted); their passages are
    still searched, flagged ``missing`` (the same files as ``deleted``)."""
    new: list[str] = field(default_factory=list)
    roots: list[RootStatus] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)
    """Files skipped for a reason and unchanged since (``source``, ``reason``)."""
    command: str = "polyfind index"
    """The command that brings the index up to date."""
    relocate_command: str = "polyfind index --relocate OLD NEW"
    """The command that records where a moved folder went (OLD: a missing root if any)."""

    @property
    def changed(self) -> int:
        return len(self.modified) + len(self.deleted) + len(self.new)

    @property
    def stale(self) -> bool:
        """Whether `polyfind index` has work to do."""
        return bool(self.changed or self.terms_waiting)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["changed"] = self.changed
        return data


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def _command(settings: Settings, paths: list[str], option: str = "") -> str:
    """The exact `polyfind index` command for this index (the default index unnamed)."""
    words = ["polyfind index", *([option] if option else []), *(shlex.quote(p) for p in paths)]
    if settings.index_dir != Settings().index_dir or os.environ.get("POLYFIND_INDEX"):
        words += ["--index", shlex.quote(str(settings.index_dir))]
    return " ".join(words)


def index_status(settings: Settings) -> IndexStatus:
    """Counts, model and size of the index, its roots, and the files changed since it was
    built (new, modified, deleted; files skipped before and unchanged are not new)."""
    index_dir = settings.index_dir
    store = Store.open(index_dir)
    try:
        meta = store.meta()
        docs = store.documents()
        roots = store.roots()
        skipped = store.skipped_files()
        status = IndexStatus(
            index_dir=str(index_dir),
            documents=len(docs),
            chunks=store.chunk_count(),
            languages=store.languages(),
            document_languages=store.document_languages(),
            model=meta.get("model"),
            dim=_int(meta.get("dim")),
            size_bytes=sum(p.stat().st_size for p in Path(index_dir).iterdir() if p.is_file()),
            created_at=_float(meta.get("created_at")),
            updated_at=_float(meta.get("updated_at")),
            chunk_tokens=_int(meta.get("chunk_tokens")),
            chunk_overlap=_int(meta.get("chunk_overlap")),
            store=masked(describe(store)),
            terms_waiting=store.waiting_terms(),
        )
    finally:
        store.close()
    for r in roots:
        p = Path(r.path)
        status.roots.append(
            RootStatus(
                r.path,
                r.given,
                root_argument(r.path, r.given),
                p.exists(),
                p.is_dir() and (p / IGNORE_FILE).is_file(),
            )
        )
    # With roots recorded, `polyfind index` alone re-indexes them; an older index names them.
    status.command = _command(settings, [] if roots else sorted({d.root for d in docs}))
    known = {d.path for d in docs}
    for d in docs:
        p = Path(d.path)
        try:
            st = p.stat()
        except OSError:
            status.deleted.append(d.source)
            status.missing.append(d.source)
            continue
        if st.st_size != d.size or st.st_mtime_ns != d.mtime_ns:
            status.modified.append(d.source)
    gone = [r.argument for r in status.roots if not r.exists]
    status.relocate_command = _command(
        settings, [gone[0] if len(gone) == 1 else "OLD", "NEW"], "--relocate"
    )
    scanned = [r.path for r in roots] or sorted({d.root for d in docs})
    listed: set[str] = set()
    for root in scanned:
        if not Path(root).exists():
            continue
        for f in discover(root):
            path = str(f.path)
            if path in known or path in listed:
                continue
            listed.add(path)
            before = skipped.get(path)
            if before is not None and before.size == f.size and before.mtime_ns == f.mtime_ns:
                status.skipped.append({"source": before.source, "reason": before.reason})
            elif f.supported:
                status.new.append(os.path.relpath(f.path))
    return status
