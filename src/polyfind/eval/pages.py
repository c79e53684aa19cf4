"""Pinned pages: what a correct extraction of a hard page holds, checked against polyfind's.

A pinned-page file (the format of ``../shared/reports-dev/pages``) is named
``<pdf name without .pdf>-p<N>.txt`` after the PDF next to its folder and the 1-based PDF
page; each non-empty line is an excerpt the page text must hold, in reading order, and a line
starting with ``!! `` is text it must not hold. Both sides are compared after NFC with every
run of whitespace made one space (the folder's README gives the rule).
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass
from pathlib import Path

_NAME = re.compile(r"(.+)-p(\d+)")
_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """NFC, every run of whitespace one ASCII space, ends stripped."""
    return _SPACE.sub(" ", unicodedata.normalize("NFC", text)).strip()


@dataclass(frozen=True)
class PinnedPage:
    name: str
    pdf: Path
    page: int
    excerpts: tuple[str, ...]
    forbidden: tuple[str, ...]


@dataclass(frozen=True)
class PageCheck:
    """The excerpts found (and whether in order) and the forbidden text present."""

    page: PinnedPage
    missing: tuple[str, ...]
    present: tuple[str, ...]
    in_order: bool

    @property
    def found(self) -> int:
        return len(self.page.excerpts) - len(self.missing)


def load_pinned(folder: Path) -> list[PinnedPage]:
    """Every pinned-page file of ``folder``; the PDFs are in its parent folder."""
    pages = []
    for f in sorted(folder.glob("*-p*.txt")):
        m = _NAME.fullmatch(f.stem)
        if m is None:
            continue
        lines = f.read_text(encoding="utf-8").splitlines()
        pages.append(
            PinnedPage(
                f.stem,
                folder.parent / f"{m[1]}.pdf",
                int(m[2]),
                tuple(normalise(ln) for ln in lines if ln.strip() and not ln.startswith("!! ")),
                tuple(normalise(ln[3:]) for ln in lines if ln.startswith("!! ")),
            )
        )
    return pages


def check_page(pinned: PinnedPage, page_text: str, skip: frozenset[str] = frozenset()) -> PageCheck:
    """Check one page's extracted text; excerpts in ``skip`` are not looked for."""
    text = normalise(page_text)
    missing = []
    positions = []
    for excerpt in pinned.excerpts:
        if excerpt in skip:
            continue
        at = text.find(excerpt)
        if at < 0:
            missing.append(excerpt)
        else:
            positions.append(at)
    present = tuple(f for f in pinned.forbidden if f in text)
    return PageCheck(pinned, tuple(missing), present, positions == sorted(positions))
