"""A cited PDF page as the reader sees it: the page as an image, and where the passage lies.

The web page's reader (``polyfind serve``) shows the cited page with the passage marked from
PDFium's own character boxes, so that what is marked is what was indexed.

Locating a passage on its page: the passage (``Chunk.text``) is a span of the page's
*extracted* text, which layout analysis, de-hyphenation and cleaning made from the page's
characters, so offsets into it are not PDFium character indices. Both sides are reduced to
the same key: each character NFKC-normalised and case-folded, keeping only letters and digits
(spaces, line breaks, hyphens, quotes and other punctuation the cleaning may add, drop or
change do not count). The passage's key is then looked up in the page's key: an exact match
gives one run of characters; otherwise (table cells reordered, a running header cut out) the
matching blocks of ``difflib.SequenceMatcher`` of at least ``MIN_BLOCK`` characters do, and
then, for what that in-order alignment left over (a column or cell the layout analysis put
elsewhere), the longest match anywhere on the page of each left-over run of at least
``MIN_RESIDUAL`` characters, for a few rounds. Each
key character remembers the PDFium character it came from; their boxes (``get_charbox``)
merged line by line are the highlight, as fractions of the page's crop box (top-left origin),
so the browser can draw them at any zoom (turned with the page where it has a /Rotate).
``coverage`` says which share of the passage's key was found on the page (1.0 for an exact
match; 0 on a scanned page without a text layer, where nothing is highlighted). Measured on
the corpus's two PDFs: 1192 of 1221 passages found whole; on six Korean and Japanese PDFs of
../shared/pdfs, 180 of 224 (the others are mostly charts and slides whose numbers the layout
analysis reordered; they are highlighted in part).
"""

from __future__ import annotations

import difflib
import io
import threading
import unicodedata
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

#: Shortest run of matching key characters that counts when the passage is not found whole.
MIN_BLOCK = 4
#: Shortest run matched out of order (anywhere on the page) after the in-order alignment,
#: and how many rounds of that to try.
MIN_RESIDUAL, MAX_RESIDUAL_ROUNDS = 6, 8
#: Zoom factors the renderer accepts (1.0: 72 dpi).
MIN_SCALE, MAX_SCALE = 0.5, 4.0


@dataclass(frozen=True)
class Box:
    """A rectangle on the page as fractions of its width and height, from the top left."""

    x0: float
    y0: float
    x1: float
    y1: float

    def to_json(self) -> list[float]:
        return [round(self.x0, 5), round(self.y0, 5), round(self.x1, 5), round(self.y1, 5)]


@dataclass(frozen=True)
class PassageBoxes:
    boxes: list[Box]
    """One box per line (or part of a line) of the passage."""
    chars: list[Box]
    """The boxes of the page characters matched (for checking the highlight)."""
    coverage: float
    """Share of the passage's letters and digits found on the page."""


def _key(text: str) -> tuple[str, list[int]]:
    """The match key of ``text``: NFKC, case-folded letters and digits, and for each key
    character the index in ``text`` it came from."""
    out: list[str] = []
    where: list[int] = []
    for i, ch in enumerate(text):
        for c in unicodedata.normalize("NFKC", ch).casefold():
            if c.isalnum():
                out.append(c)
                where.append(i)
    return "".join(out), where


def locate(page_chars: str, passage: str) -> tuple[list[int], float]:
    """Indices into ``page_chars`` of the characters that make up ``passage`` (see the
    module's note), and the share of the passage's key found."""
    page_key, page_at = _key(page_chars)
    want, _ = _key(passage)
    if not want or not page_key:
        return [], 0.0
    at = page_key.find(want)
    if at >= 0:
        return sorted({page_at[j] for j in range(at, at + len(want))}), 1.0
    matcher = difflib.SequenceMatcher(None, page_key, want, autojunk=False)
    found: set[int] = set()
    covered = [False] * len(want)

    def take(a: int, b: int, size: int) -> None:
        found.update(page_at[j] for j in range(a, a + size))
        covered[b : b + size] = [True] * size

    for block in matcher.get_matching_blocks():
        if block.size >= MIN_BLOCK:
            take(block.a, block.b, block.size)
    # Parts the in-order alignment missed (layout analysis may have put a column or a table
    # cell elsewhere): each left-over run of the passage, longest match anywhere on the page.
    for _ in range(MAX_RESIDUAL_ROUNDS):
        runs = _uncovered(covered, MIN_RESIDUAL)
        if not runs:
            break
        progress = False
        for lo, hi in runs:
            m = matcher.find_longest_match(0, len(page_key), lo, hi)
            if m.size >= MIN_RESIDUAL:
                take(m.a, m.b, m.size)
                progress = True
        if not progress:
            break
    return sorted(found), sum(covered) / len(want)


def _uncovered(covered: list[bool], min_size: int) -> list[tuple[int, int]]:
    """Runs ``[lo, hi)`` of at least ``min_size`` False values in ``covered``."""
    runs: list[tuple[int, int]] = []
    lo = None
    for i, done in enumerate([*covered, True]):
        if not done and lo is None:
            lo = i
        elif done and lo is not None:
            if i - lo >= min_size:
                runs.append((lo, i))
            lo = None
    return runs


def _merge_lines(boxes: list[tuple[float, float, float, float]]) -> list[tuple[float, ...]]:
    """Character boxes (left, bottom, right, top) in reading order -> one box per line."""
    lines: list[list[float]] = []
    for left, bottom, right, top in boxes:
        if lines:
            cur = lines[-1]
            height = max(cur[3] - cur[1], top - bottom, 1e-6)
            same_line = abs((bottom + top) / 2 - (cur[1] + cur[3]) / 2) < 0.5 * height
            if same_line and left >= cur[0] - height and left - cur[2] < 3 * height:
                cur[0], cur[1] = min(cur[0], left), min(cur[1], bottom)
                cur[2], cur[3] = max(cur[2], right), max(cur[3], top)
                continue
        lines.append([left, bottom, right, top])
    return [tuple(line) for line in lines]


def _rotate(box: tuple[float, float, float, float], rotation: int) -> tuple[float, ...]:
    """A box in fractions of the unrotated page -> the same box on the page as drawn, which
    PDFium turns clockwise by the page's /Rotate (0, 90, 180 or 270 degrees)."""
    u0, v0, u1, v1 = box
    if rotation == 90:
        return (1 - v1, u0, 1 - v0, u1)
    if rotation == 180:
        return (1 - u1, 1 - v1, 1 - u0, 1 - v0)
    if rotation == 270:
        return (v0, 1 - u1, v1, 1 - u0)
    return box


_K = TypeVar("_K")
_V = TypeVar("_V")


class PageRenderer:
    """Renders PDF pages to PNG and finds passages on them; keeps the last ``cache_size``
    images in memory (least recently used first out). PDFium is not thread-safe: every call
    takes one lock."""

    def __init__(self, cache_size: int = 64) -> None:
        self._lock = threading.Lock()
        self._cache: OrderedDict[tuple[str, int, int, float], bytes] = OrderedDict()
        self._cache_size = cache_size
        self._boxes: OrderedDict[tuple[str, int, int, str], PassageBoxes] = OrderedDict()
        self.hits = 0
        self.misses = 0

    @staticmethod
    def _open(path: Path) -> Any:
        import pypdfium2 as pdfium

        return pdfium.PdfDocument(str(path))

    def render(self, path: Path, page: int, scale: float = 1.5) -> bytes:
        """PNG of 1-based ``page`` of the PDF at ``path`` (``scale`` 1: 72 dpi)."""
        scale = min(MAX_SCALE, max(MIN_SCALE, round(scale, 2)))
        key = (str(path), path.stat().st_mtime_ns, page, scale)
        with self._lock:
            png = self._recall(self._cache, key)
            if png is not None:
                self.hits += 1
                return png
            self.misses += 1
            pdf = self._open(path)
            try:
                bitmap = pdf[page - 1].render(scale=scale, may_draw_forms=True)
                image = bitmap.to_pil()
            finally:
                pdf.close()
            buf = io.BytesIO()
            image.save(buf, format="PNG", optimize=False, compress_level=1)
            png = buf.getvalue()
            self._keep(self._cache, key, png)
            return png

    def passage_boxes(self, path: Path, page: int, passage: str) -> PassageBoxes:
        """Where ``passage`` lies on 1-based ``page`` of the PDF at ``path`` (kept for the
        last ``cache_size`` passages: a page opened again answers at once)."""
        key = (str(path), path.stat().st_mtime_ns, page, passage)
        with self._lock:
            found = self._recall(self._boxes, key)
        if found is None:
            found = self._find_boxes(path, page, passage)
            with self._lock:
                self._keep(self._boxes, key, found)
        return found

    @staticmethod
    def _recall(cache: OrderedDict[_K, _V], key: _K) -> _V | None:
        """The value kept under ``key`` (now the most recently used), or None."""
        value = cache.get(key)
        if value is not None:
            cache.move_to_end(key)
        return value

    def _keep(self, cache: OrderedDict[_K, _V], key: _K, value: _V) -> None:
        """Keep ``value``; the least recently used go beyond ``cache_size``."""
        cache[key] = value
        while len(cache) > self._cache_size:
            cache.popitem(last=False)

    def _find_boxes(self, path: Path, page: int, passage: str) -> PassageBoxes:
        import pypdfium2.raw as pdfium_c

        with self._lock:
            pdf = self._open(path)
            try:
                pg = pdf[page - 1]
                left, bottom, right, top = pg.get_cropbox()
                rotation = int(pg.get_rotation()) % 360
                width, height = max(right - left, 1e-6), max(top - bottom, 1e-6)
                textpage = pg.get_textpage()
                n = textpage.count_chars()
                chars = "".join(
                    chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i) or 32) for i in range(n)
                )
                indices, coverage = locate(chars, passage)
                raw = [textpage.get_charbox(i) for i in indices]
            finally:
                pdf.close()

        def frac(b: tuple[float, ...]) -> Box:
            x0, y0, x1, y1 = b
            box = (
                (x0 - left) / width,
                (top - y1) / height,
                (x1 - left) / width,
                (top - y0) / height,
            )
            return Box(*_rotate(box, rotation))

        raw = [b for b in raw if b[2] > b[0] or b[3] > b[1]]
        return PassageBoxes(
            boxes=[frac(b) for b in _merge_lines(raw)],
            chars=[frac(b) for b in raw],
            coverage=round(coverage, 4),
        )
