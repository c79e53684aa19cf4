"""Typed records passed between pipeline stages."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any


@dataclass(frozen=True)
class Page:
    """Extracted text of one page (PDF) or of a whole file (``number`` is None).

    Citations (line, start, end) are positions in ``text``; polyfind keeps this text so that
    ``show`` can print a passage with its context.
    """

    number: int | None
    text: str
    label: str | None = None
    """The page number printed on the page or the PDF's page label ("3" on PDF page 5
    that prints "- 3 -"); None when unknown or the same as ``number``."""


@dataclass(frozen=True)
class Document:
    """A loaded file: its pages and what is known about it."""

    source: str
    """The path as given to ``index`` (relative where it was relative)."""
    format: str
    pages: tuple[Page, ...]
    title: str | None = None
    date: str | None = None
    """ISO date (``YYYY-MM-DD``, or ``YYYY-MM``) where known."""
    lang: str = "und"
    author: str | None = None
    """Author from the file's metadata or a header line, where known."""


@dataclass(frozen=True)
class Span:
    """A passage inside one page: ``page.text[start:end]``."""

    start: int
    end: int
    line: int
    """1-based line of ``start`` in the page text."""
    lang: str
    n_tokens: int


def page_citation(page: int, label: str | None, prefix: str = "p") -> str:
    """``p5``, or ``p5 (printed 3)`` when the page's printed label differs from 5; with
    ``prefix="page "``, ``page 5 (printed 3)``."""
    if label is None or label == str(page):
        return f"{prefix}{page}"
    return f"{prefix}{page} (printed {label})"


@dataclass(frozen=True, kw_only=True)
class Passage:
    """A passage with its citation: the fields every record of a passage shares.

    ``Chunk`` (cut at indexing), ``store.StoredChunk`` (read back from the index) and
    ``Hit`` (a search result) extend it; ``passage_fields`` carries these fields from one
    record to the next, and they are the passage's part of the JSON of ``search --json``,
    the HTTP API and ``show --json``.
    """

    source: str
    """The document's path as given to ``index`` (relative where it was relative)."""
    title: str | None = None
    """The document's title, where known."""
    page: int | None
    """1-based page; None where the format has no pages."""
    page_label: str | None = None
    """The printed page label of ``page`` (``Page.label``), where known."""
    line: int
    """1-based line of ``start`` in the page text."""
    start: int
    end: int
    lang: str
    text: str
    """Exactly ``page.text[start:end]``."""

    @property
    def citation(self) -> str:
        """``source:pPAGE:LINE`` (or ``source:LINE``), a stable form scripts may parse."""
        if self.page is not None:
            return f"{self.source}:p{self.page}:{self.line}"
        return f"{self.source}:{self.line}"

    @property
    def display_citation(self) -> str:
        """The citation for people: ``source:p5 (printed 3):12`` where the page prints
        another number than its place in the file."""
        if self.page is not None:
            return f"{self.source}:{page_citation(self.page, self.page_label)}:{self.line}"
        return self.citation

    def passage_fields(self) -> dict[str, Any]:
        """The ``Passage`` fields of this record by name (str, int or None): another record
        of the same passage is ``Hit(**stored.passage_fields(), rank=1, ...)``."""
        return {name: getattr(self, name) for name in _PASSAGE_FIELDS}


_PASSAGE_FIELDS = tuple(f.name for f in fields(Passage))


@dataclass(frozen=True, kw_only=True)
class Chunk(Passage):
    """A passage cut at indexing, ready to embed. Its ``title`` and ``page_label`` stay
    unset: the store keeps them with the document and the page."""

    embed_text: str
    """What the embedder sees: ``text`` with hard wraps and runs of spaces folded."""


@dataclass(frozen=True, kw_only=True)
class Hit(Passage):
    """A search result: a passage with its rank, score and id in the index."""

    rank: int
    score: float
    chunk_id: int
    missing: bool = False
    """The document's file no longer exists where it was indexed (moved or deleted): the
    citation names a path that is gone (``polyfind index --relocate OLD NEW`` after a move)."""

    def to_json(self) -> dict[str, object]:
        return {
            "rank": self.rank,
            "score": round(self.score, 6),
            **self.passage_fields(),
            "chunk_id": self.chunk_id,
            "citation": self.citation,
            "missing": self.missing,
        }


@dataclass
class IndexSummary:
    """What one ``index`` run did."""

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)
    """(source, reason) for files not indexed in this run (and inputs that do not exist)."""
    still_skipped: list[tuple[str, str]] = field(default_factory=list)
    """(source, reason) for files skipped before and unchanged since: not read again."""
    missing: list[str] = field(default_factory=list)
    """Paths given (or roots remembered) that do not exist; their documents stay."""
    forgotten: list[str] = field(default_factory=list)
    """Roots dropped (``--forget``) with their documents."""
    chunks_added: int = 0
    chunks_total: int = 0
    seconds: float = 0.0

    def to_json(self) -> dict[str, object]:
        return {
            "added": self.added,
            "updated": self.updated,
            "removed": self.removed,
            "unchanged": self.unchanged,
            "skipped": [{"source": s, "reason": r} for s, r in self.skipped],
            "still_skipped": [{"source": s, "reason": r} for s, r in self.still_skipped],
            "missing": self.missing,
            "forgotten": self.forgotten,
            "chunks_added": self.chunks_added,
            "chunks_total": self.chunks_total,
            "seconds": round(self.seconds, 3),
        }


@dataclass
class RelocateSummary:
    """What one ``index --relocate OLD NEW`` did."""

    old: str
    new: str
    relocated: list[tuple[str, str]] = field(default_factory=list)
    """(old source, new source) of the documents found at NEW with the same bytes: their
    recorded path changed, nothing was embedded again."""
    changed: list[str] = field(default_factory=list)
    """New sources of documents at NEW with other bytes: recorded there, read again by the
    next ``polyfind index``."""
    absent: list[str] = field(default_factory=list)
    """New sources of documents found neither at NEW nor at OLD: recorded at NEW, removed by
    the next ``polyfind index`` (unless they appear)."""
    left: list[tuple[str, str]] = field(default_factory=list)
    """(source, reason) of documents left where they were (still at OLD, or already indexed
    at their new path)."""
    roots: list[tuple[str, str]] = field(default_factory=list)
    """(old, new) roots as given; a root holding OLD adds NEW as a root (old: "")."""
    skipped: int = 0
    """Records of skipped files moved with their folder."""
    seconds: float = 0.0

    @property
    def complete(self) -> bool:
        """Every document under OLD was found at NEW with the same bytes."""
        return not (self.changed or self.absent or self.left)

    def to_json(self) -> dict[str, object]:
        return {
            "old": self.old,
            "new": self.new,
            "relocated": [{"from": a, "to": b} for a, b in self.relocated],
            "changed": self.changed,
            "absent": self.absent,
            "left": [{"source": s, "reason": r} for s, r in self.left],
            "roots": [{"from": a, "to": b} for a, b in self.roots],
            "skipped": self.skipped,
            "seconds": round(self.seconds, 3),
        }
