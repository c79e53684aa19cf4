"""Ruled tables in PDF pages, read row by row with pdfplumber.

pdfplumber finds ruled tables well but reads only about 10 pages/s, against several hundred
for the pypdfium2 text extraction, so it is opened only for the pages that may hold a table:

1. :func:`ruled_pages` (or :func:`may_have_table` for one page) looks at the page's path
   objects through pypdfium2's raw API, which the loader has open anyway. A page passes when
   at least ``min_rules`` (3) vertical rules each cross at least ``min_rules`` horizontal
   rules, i.e. there is a grid of 2 x 2 cells or more. Edges of rectangles (stroked cell
   borders, filled cell backgrounds) count as rules. It costs a few microseconds per page
   object and lets through charts and forms as well as tables: pdfplumber decides.
2. :func:`find_tables` opens the file with pdfplumber (empty password, so PDFs encrypted with
   an owner password only open) and runs its finder with the ``lines`` strategy on those
   pages. A page that pdfplumber fails on is logged and gives no tables; it never fails the
   document. A table whose text pdfminer could not map to Unicode (``(cid:3724)`` runs, as
   in the MLIT white paper) is dropped.
3. :func:`find_tables_pdfium` is the same finder without pdfminer: pdfplumber's table geometry
   runs on edges and characters read from the already open pypdfium2 page (3-20 times
   faster; see ``scripts/measure_tables.py``). On the pinned pages it reads the same rows;
   elsewhere it differs in places (a sideways cell, an open-sided last column, word spaces
   in English cells, where it is sometimes better: ``Data Privacy`` for pdfminer's
   ``Data Privac y``). It is offered for measurement; :func:`find_tables` is the reference.

Cell text is rebuilt from pdfplumber's characters rather than taken from
``Table.extract()``: the Hancom (Hwp) PDFs of Korean agencies place each letter on its own
and some tables have no space characters at all, so word spaces come from the gaps between
glyphs (``space_gap`` of the font size). Japanese never gets spaces next to kana or kanji.
Lines wrapped inside a cell are joined as prose: with a space for Korean and English, without
one for Japanese, and an English word hyphenated at the line end is rejoined.

Merged cells: pdfplumber reports a position covered by a cell that starts above or to the
left as ``None``. :attr:`Table.rows` holds, for each row, the cells that start in that row,
left to right (a cell spanning several columns appears once). A label that spans several
rows in the leading columns (a row header such as ``최초 음주운전을 한 경우`` over four rows)
is repeated in each row it spans, so that every row keeps its label beside its values;
spanned cells further right (a notes column over the whole table) are not repeated.

False tables: a box around a paragraph or a headline, a numbered heading box (``1 | 성 과``),
a frame beside an equation or a sidebar of names is not a table. A table needs at least
``min_rows`` (2) rows with text in two cells or more (merged cells counted in every row they
span); anything else is dropped (not returned at all: the loader's ordinary text extraction
already reads its text).

The thresholds named here are ``TableSettings`` (``Settings.extraction.tables``), with
pdfplumber's own finder settings; each function takes them as ``cfg`` (the defaults when None).

Coordinates: :attr:`Table.bbox` is ``(x0, top, x1, bottom)`` in pdfplumber's convention,
points from the top-left corner of the page (y grows downwards). pypdfium2 uses PDF user
space (points, origin bottom-left, y grows upwards); :func:`to_pdf_bbox` converts, and
:attr:`Table.pdf_bbox` holds the result ``(left, bottom, right, top)``.
"""

from __future__ import annotations

import ctypes
import logging
import math
import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from .. import korean
from ..cleaning import join_lines
from ..scripts import HANGUL_SYLLABLES, is_hangul, is_japanese
from ..settings import TableSettings

log = logging.getLogger(__name__)

_FPDF_PAGEOBJ_PATH = 2
_FPDF_PAGEOBJ_FORM = 5

BBox = tuple[float, float, float, float]


@dataclass
class Cell:
    """One cell of a table: where it starts in the grid, how far it spans, its text."""

    row: int
    col: int
    rowspan: int
    colspan: int
    text: str
    bbox: BBox
    """``(x0, top, x1, bottom)``, pdfplumber's top-left coordinates."""
    sideways: bool = False
    """Text set a quarter turn (a side note down a column): never repeated as a label."""


@dataclass
class Table:
    """A ruled table on one page."""

    page: int
    """0-based page index."""
    bbox: BBox
    """``(x0, top, x1, bottom)`` in points from the page's top-left corner (pdfplumber)."""
    pdf_bbox: BBox
    """``(left, bottom, right, top)`` in PDF user space, origin bottom-left (pypdfium2)."""
    rows: list[list[str]]
    """Cell texts row by row; merged cells as described in the module docstring."""
    cells: list[Cell] = field(default_factory=list)
    """Every cell with its grid position and span, for callers that want the structure."""

    @property
    def text(self) -> str:
        return table_text(self)


# ------------------------------------------------------------------------ coordinates


def to_pdf_bbox(bbox: BBox, page_height: float, origin: tuple[float, float] = (0.0, 0.0)) -> BBox:
    """``(x0, top, x1, bottom)`` from the top-left -> ``(left, bottom, right, top)`` in PDF space.

    ``page_height`` is the height of the page box pdfplumber measures from (its
    ``page.height``); ``origin`` is that box's lower-left corner in PDF space (non-zero when
    the media box does not start at 0, 0). Rotated pages are not handled.
    """
    x0, top, x1, bottom = bbox
    ox, oy = origin
    return (x0 + ox, oy + page_height - bottom, x1 + ox, oy + page_height - top)


def to_top_left_bbox(
    pdf_bbox: BBox, page_height: float, origin: tuple[float, float] = (0.0, 0.0)
) -> BBox:
    """The inverse of :func:`to_pdf_bbox`."""
    left, bottom, right, top = pdf_bbox
    ox, oy = origin
    return (left - ox, oy + page_height - top, right - ox, oy + page_height - bottom)


# ------------------------------------------------------------------------ pre-check


def _collect_rules(
    objects: Iterable[Any],
    pdfium_c: Any,
    hor: list[tuple[float, float, float]],
    ver: list[tuple[float, float, float]],
    budget: list[int],
    cfg: TableSettings,
) -> None:
    left, bottom, right, top = (ctypes.c_float() for _ in range(4))
    thick, piece, length = cfg.rule_thickness, cfg.rule_min_piece, cfg.rule_min_length
    for obj in objects:
        budget[0] -= 1
        if budget[0] < 0:
            return
        kind = pdfium_c.FPDFPageObj_GetType(obj)
        if kind == _FPDF_PAGEOBJ_FORM:
            count = pdfium_c.FPDFFormObj_CountObjects(obj)
            # Bounds of objects inside a form XObject are in the form's space; good enough
            # for counting rules that cross each other (they share that space).
            _collect_rules(
                (pdfium_c.FPDFFormObj_GetObject(obj, i) for i in range(count)),
                pdfium_c,
                hor,
                ver,
                budget,
                cfg,
            )
            continue
        if kind != _FPDF_PAGEOBJ_PATH:
            continue
        if not pdfium_c.FPDFPageObj_GetBounds(
            obj, ctypes.byref(left), ctypes.byref(bottom), ctypes.byref(right), ctypes.byref(top)
        ):
            continue
        x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
        w, h = x1 - x0, y1 - y0
        if h <= thick and w >= piece and w > h:
            hor.append(((y0 + y1) / 2, x0, x1))
        elif w <= thick and h >= piece and h > w:
            ver.append(((x0 + x1) / 2, y0, y1))
        elif w >= length and h >= length:
            # A rectangle (cell border or background) or another shape: its box edges.
            hor.append((y0, x0, x1))
            hor.append((y1, x0, x1))
            ver.append((x0, y0, y1))
            ver.append((x1, y0, y1))


def _is_grid(
    hor: list[tuple[float, float, float]], ver: list[tuple[float, float, float]], cfg: TableSettings
) -> bool:
    min_rules = cfg.min_rules
    if len(hor) < min_rules or len(ver) < min_rules:
        return False
    hor = [r for r in _join_dashes(hor, 1.5) if r[2] - r[1] >= cfg.rule_min_length]
    ver = [r for r in _join_dashes(ver, 1.5) if r[2] - r[1] >= cfg.rule_min_length]
    tol = cfg.cross_tolerance
    crossing = 0
    seen_x: set[int] = set()
    for x, vy0, vy1 in ver:
        if round(x) in seen_x:
            continue
        ys = {
            round(y)
            for y, hx0, hx1 in hor
            if hx0 - tol <= x <= hx1 + tol and vy0 - tol <= y <= vy1 + tol
        }
        if len(ys) >= min_rules:
            seen_x.add(round(x))
            crossing += 1
            if crossing >= min_rules:
                return True
    return False


def may_have_table(page: Any, cfg: TableSettings | None = None) -> bool:
    """Whether a pypdfium2 page (``PdfPage``) has a grid of rules that may be a table.

    Cheap: one pass over the page objects through the raw API, no text, no rendering.
    """
    import pypdfium2.raw as pdfium_c

    cfg = cfg or TableSettings()
    raw = page.raw
    count = pdfium_c.FPDFPage_CountObjects(raw)
    hor: list[tuple[float, float, float]] = []
    ver: list[tuple[float, float, float]] = []
    budget = [cfg.max_objects]
    objects = (pdfium_c.FPDFPage_GetObject(raw, i) for i in range(count))
    _collect_rules(objects, pdfium_c, hor, ver, budget, cfg)
    if budget[0] < 0:
        return True  # too many objects to look at cheaply: let pdfplumber decide
    return _is_grid(hor, ver, cfg)


def ruled_pages(pdf: Any, cfg: TableSettings | None = None) -> list[int]:
    """0-based indices of the pages of a ``pypdfium2.PdfDocument`` that may hold a table."""
    found = []
    for i in range(len(pdf)):
        page = pdf[i]
        try:
            if may_have_table(page, cfg):
                found.append(i)
        finally:
            page.close()
    return found


# ------------------------------------------------------------------------ cell text

#: What may continue a Korean word broken at a line end: Hangul or a digit (``제`` + ``54조``).
_KOREAN_NEXT = re.compile(f"[{HANGUL_SYLLABLES}0-9]")
_HYPHEN_END = re.compile(r"[A-Za-z]-$")
_LOWER_START = re.compile(r"^[a-z]")


def _line_text(chars: list[dict[str, Any]], japanese: bool, space_gap: float) -> str:
    """One line of characters, sorted left to right, with spaces from glyph gaps.

    A gap is a space when it is wider than the line's usual gap between letters (its
    lower quartile, so that a label letter-spaced to fill a narrow cell, ``음 주 운 전 으 로``,
    stays one word while ``물적 피해 후`` keeps its spaces) by more than ``space_gap`` of
    the font size.
    """
    gaps = sorted(
        float(b["x0"]) - float(a["x1"])
        for a, b in pairwise(chars)
        if not str(a["text"]).isspace() and not str(b["text"]).isspace()
    )
    size = max((float(c.get("size") or 0.0) for c in chars), default=0.0)
    # Tightly tracked text (Hwp's condensed letters) has negative gaps: measure from there.
    base = max(gaps[len(gaps) // 4], -0.15 * size) if len(gaps) >= 3 else 0.0
    out: list[str] = []
    prev: dict[str, Any] | None = None
    for ch in chars:
        text = str(ch["text"])
        if text.isspace():
            if out and out[-1] != " ":
                out.append(" ")
            prev = None
            continue
        if prev is not None and out and out[-1] != " ":
            size = max(float(prev.get("size") or 0.0), float(ch.get("size") or 0.0), 1.0)
            gap = float(ch["x0"]) - float(prev["x1"])
            if gap - base > space_gap * size and not (
                japanese and (is_japanese(str(prev["text"])) or is_japanese(text))
            ):
                out.append(" ")
        out.append(text)
        prev = ch
    return "".join(out).strip()


#: A line of one- and two-syllable Hangul pieces: a label that may be spread across its cell.
_SPREAD = re.compile(f"[{HANGUL_SYLLABLES}]{{1,2}}(?: [{HANGUL_SYLLABLES}]{{1,2}})+")


def _unspread(line: str) -> str:
    """A Korean label spread across the width of its cell (Hwp's distributed alignment:
    ``미 국``, ``캐 나 다``, ``케 이 맨제 도``) as words, spaced again by Kiwi's model.

    Two or three letters have too few gaps for :func:`_line_text` to tell letter spacing
    from word spacing; a line whose pieces are all single syllables but one is letter
    spacing (Korean prose of such short words is rare in a cell)."""
    if not _SPREAD.fullmatch(line):
        return line
    pieces = line.split(" ")
    if sum(len(p) == 1 for p in pieces) < len(pieces) - 1:
        return line
    joined = "".join(pieces)
    try:
        spaced = str(korean.spacing_kiwi().space(joined, reset_whitespace=True))
    except Exception:  # no model: the letters as one word
        return joined
    # A label is mostly nouns: where the model splits off a single syllable, it is more
    # often cutting a name it does not know (``케이 맨 제도``) than finding a word.
    return joined if any(len(w) == 1 for w in spaced.split(" ")) else spaced


def _lines(chars: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Characters grouped into lines by their vertical position, top to bottom."""
    lines: list[list[dict[str, Any]]] = []
    spans: list[tuple[float, float]] = []
    for ch in sorted(chars, key=lambda c: (float(c["top"]), float(c["x0"]))):
        top, bottom = float(ch["top"]), float(ch["bottom"])
        mid = (top + bottom) / 2
        for i, (t, b) in enumerate(spans):
            if t <= mid <= b:
                lines[i].append(ch)
                spans[i] = (min(t, top), max(b, bottom))
                break
        else:
            lines.append([ch])
            spans.append((top, bottom))
    order = sorted(range(len(lines)), key=lambda i: spans[i][0])
    return [sorted(lines[i], key=lambda c: float(c["x0"])) for i in order]


# Not korean.resolve_wraps: it joins noun + noun ("퍼센트미만"), wrong where a wrap is a guess.
def _korean_space_at_wrap(before: str, after: str) -> bool:
    """Whether Kiwi's word-spacing model puts a space between the last word of a line and
    the first word of the next (``음주운`` + ``전을``: no; ``음주`` + ``운전을``: yes)."""
    left = before.rsplit(" ", 1)[-1]
    right = after.split(" ", 1)[0]
    if not (is_hangul(left[-1:]) and _KOREAN_NEXT.match(right)):
        return True
    try:
        spaced = str(korean.spacing_kiwi().space(left + right, reset_whitespace=False))
    except Exception:  # no model: a space, as for a word boundary
        return True
    # Find where the junction falls in the spaced text: count characters, skipping spaces.
    seen = 0
    for i, ch in enumerate(spaced):
        if ch == " ":
            continue
        seen += 1
        if seen == len(left):
            return spaced[i + 1 : i + 2] == " "
    return True


# Not cleaning.join_lines: cells wrap Korean before digits ("제54조") and keep "short- Hand".
def join_cell_lines(lines: Sequence[str], full: Sequence[bool] | None = None) -> str:
    """Lines wrapped inside a cell joined like prose.

    Japanese (a kana or kanji on either side of the break) joins without a space; an English
    word hyphenated at the line end (``circumvent-`` + ``ing``) is rejoined without the
    hyphen; English and numbers join with one space. Korean joins with a space where the
    line before ends short of the cell's text width (``full[i]`` false: the next word did not
    fit); where it runs to the edge the line may break inside a word (Hwp breaks Korean
    anywhere), and Kiwi's spacing model decides.
    """
    text = ""
    for i, line in enumerate(lines):
        line = line.strip()
        if not line:
            continue
        if not text:
            text = line
        elif _HYPHEN_END.search(text) and _LOWER_START.match(line):
            text = text[:-1] + line
        elif (is_japanese(text[-1]) or is_japanese(line[0])) or (
            full is not None
            and i > 0
            and full[i - 1]
            and is_hangul(text[-1])
            and _KOREAN_NEXT.match(line)
            and not _korean_space_at_wrap(text, line)
        ):
            text += line
        else:
            text += " " + line
    return text


def _vertical_text(chars: list[dict[str, Any]]) -> str:
    """Text set sideways in a cell (rotated a quarter turn): read along the rotation."""
    matrix = chars[0].get("matrix") or (1, 0, 0, 1, 0, 0)
    upwards = float(matrix[1]) > 0  # rotated anticlockwise: reads from the bottom up
    ordered = sorted(
        chars,
        key=lambda c: (round(float(c["x0"])), -float(c["top"]) if upwards else float(c["top"])),
    )
    return "".join(str(c["text"]) for c in ordered if not str(c["text"]).isspace())


def cell_text(chars: list[dict[str, Any]], cfg: TableSettings | None = None) -> str:
    """The text of one cell from pdfplumber characters (dicts with text, x0, x1, top, bottom,
    size): lines by position, word spaces from glyph gaps, wrapped lines joined as prose."""
    if not chars:
        return ""
    upright = [c for c in chars if c.get("upright", True)]
    if len(upright) * 2 < len(chars):
        return _vertical_text(chars)
    chars = upright
    sample = "".join(str(c["text"]) for c in chars)
    japanese = not any(map(is_hangul, sample)) and any(map(is_japanese, sample))
    lines = _lines(chars)
    right = max(float(c["x1"]) for c in chars)
    full = [
        right - float(line[-1]["x1"]) < 1.5 * max(float(line[-1].get("size") or 0.0), 1.0)
        for line in lines
    ]
    space_gap = (cfg or TableSettings()).space_gap
    texts = [_line_text(line, japanese, space_gap) for line in lines]
    if not japanese:
        texts = [_unspread(t) for t in texts]
    return join_cell_lines(texts, full)


# ------------------------------------------------------------------------ tables


def _inside(ch: dict[str, Any], bbox: BBox) -> bool:
    """Whether a character's centre lies in a box (within half a point: edges are snapped)."""
    x0, top, x1, bottom = bbox
    cx = (float(ch["x0"]) + float(ch["x1"])) / 2
    cy = (float(ch["top"]) + float(ch["bottom"])) / 2
    return x0 - 0.5 <= cx < x1 + 0.5 and top - 0.5 <= cy < bottom + 0.5


def _edges(values: Iterable[float]) -> list[float]:
    """Sorted distinct coordinates (within 1 point)."""
    out: list[float] = []
    for v in sorted(values):
        if not out or v - out[-1] > 1.0:
            out.append(v)
    return out


def _index(edges: list[float], v: float) -> int:
    return min(range(len(edges)), key=lambda i: abs(edges[i] - v))


def build_table(
    page_index: int,
    bbox: BBox,
    cell_boxes: Sequence[BBox],
    chars: list[dict[str, Any]],
    page_height: float,
    origin: tuple[float, float] = (0.0, 0.0),
    carry_labels: bool = True,
    cfg: TableSettings | None = None,
) -> Table | None:
    """A :class:`Table` from cell boxes and the page's characters, or None for a false table.

    Separate from pdfplumber so that it can be tested on synthetic cells.
    """
    cfg = cfg or TableSettings()
    if not cell_boxes:
        return None
    xs = _edges([b[0] for b in cell_boxes] + [b[2] for b in cell_boxes])
    ys = _edges([b[1] for b in cell_boxes] + [b[3] for b in cell_boxes])
    placed: list[tuple[int, int, int, int, BBox]] = []
    owner: dict[tuple[int, int], int] = {}
    for b in cell_boxes:
        c0, c1 = _index(xs, b[0]), _index(xs, b[2])
        r0, r1 = _index(ys, b[1]), _index(ys, b[3])
        if c1 <= c0 or r1 <= r0:
            continue
        for gr in range(r0, r1):
            for gc in range(c0, c1):
                owner.setdefault((gr, gc), len(placed))
        placed.append((r0, c0, r1 - r0, c1 - c0, b))
    if not placed:
        return None
    # Each character to the cell under its centre: one pass, not one per cell.
    inside: list[list[dict[str, Any]]] = [[] for _ in placed]
    for ch in chars:
        cx = (float(ch["x0"]) + float(ch["x1"])) / 2
        cy = (float(ch["top"]) + float(ch["bottom"])) / 2
        if not (xs[0] <= cx < xs[-1] and ys[0] <= cy < ys[-1]):
            continue
        k = owner.get((bisect_right(ys, cy) - 1, bisect_right(xs, cx) - 1))
        if k is not None:
            inside[k].append(ch)
    cells: list[Cell] = []
    for (r0, c0, rs, cs, b), got in zip(placed, inside, strict=True):
        got = [ch for ch in got if _inside(ch, b)]
        sideways = sum(1 for ch in got if not ch.get("upright", True)) * 2 > len(got)
        cells.append(Cell(r0, c0, rs, cs, cell_text(got, cfg), b, sideways))
    cells.sort(key=lambda c: (c.row, c.col))
    n_rows = len(ys) - 1
    starts: dict[int, list[Cell]] = {r: [] for r in range(n_rows)}
    for c in cells:
        starts[c.row].append(c)
    rows: list[list[str]] = []
    for r in range(n_rows):
        own = starts[r]
        if not any(c.text for c in own):
            continue  # empty (a thin gap between double rules) or only spanned cells
        first_col = own[0].col if own else 0
        carried = []
        if carry_labels:
            carried = [
                c
                for c in cells
                if c.row < r < c.row + c.rowspan
                and c.col < first_col
                and c.text
                and len(c.text) <= cfg.max_label
                and not c.sideways
            ]
            carried.sort(key=lambda c: c.col)
        rows.append([c.text for c in carried] + [c.text for c in own])
    # False tables: a box, a one-row strip, a frame with text in one column only, a sidebar
    # whose rules frame a list (one row with two cells, the rest single lines).
    if len(rows) < cfg.min_rows:
        return None
    filled_cols = {c.col for c in cells if c.text}
    covering = [
        sum(1 for c in cells if c.text and c.row <= r < c.row + c.rowspan) for r in range(n_rows)
    ]
    if len(filled_cols) < 2 or sum(1 for k in covering if k >= 2) < cfg.min_rows:
        return None
    return Table(
        page=page_index,
        bbox=bbox,
        pdf_bbox=to_pdf_bbox(bbox, page_height, origin),
        rows=rows,
        cells=cells,
    )


def _join_dashes(
    rules: Iterable[tuple[float, float, float]], max_gap: float = 3.0
) -> list[tuple[float, float, float]]:
    """Collinear segments ``(position, start, end)`` less than ``max_gap`` points apart as one
    rule (dashed lines, rules broken at each crossing); duplicates fold into one."""
    out: list[tuple[float, float, float]] = []
    for y, x0, x1 in sorted(rules, key=lambda r: (round(r[0] * 2), r[1])):
        if out and round(out[-1][0] * 2) == round(y * 2) and x0 - out[-1][2] <= max_gap:
            out[-1] = (out[-1][0], out[-1][1], max(out[-1][2], x1))
        else:
            out.append((y, x0, x1))
    return out


def closing_sides(
    h_rules: Iterable[tuple[float, float, float]], cfg: TableSettings | None = None
) -> list[dict[str, Any]]:
    """Vertical edges for tables drawn with open sides.

    Korean government tables often have no left and right border: the horizontal rules all
    start (or end) at the same x and no vertical rule runs there, so pdfplumber finds no
    cell in the first or last column. Where at least ``cfg.min_rules`` horizontal rules
    ``(y, x0, x1)`` (y from the top) share an end within 1 point, and consecutive ones are at
    most ``cfg.max_row_gap`` apart, this gives a vertical edge from the first to the last
    (pdfplumber edge dicts for ``explicit_vertical_lines``). Where a border is drawn, the
    extra edge coincides with it and changes nothing.
    """
    cfg = cfg or TableSettings()
    rules = [r for r in _join_dashes(h_rules) if r[2] - r[1] >= cfg.rule_min_length]
    edges: list[dict[str, Any]] = []
    for end in (1, 2):
        groups: list[tuple[float, list[float]]] = []
        for r in sorted(rules, key=lambda r: r[end]):
            if groups and r[end] - groups[-1][0] <= 1.5:
                groups[-1][1].append(r[0])
            else:
                groups.append((r[end], [r[0]]))
        for x, ys in groups:
            ys = _edges(ys)
            run = [ys[0]]
            for y in [*ys[1:], None]:
                if y is not None and y - run[-1] <= cfg.max_row_gap:
                    run.append(y)
                    continue
                if len(run) >= cfg.min_rules:
                    edges.append(
                        {
                            "object_type": "line",
                            "x0": float(x),
                            "x1": float(x),
                            "top": run[0],
                            "bottom": run[-1],
                            "width": 0.0,
                            "height": run[-1] - run[0],
                            "orientation": "v",
                        }
                    )
                if y is not None:
                    run = [y]
    return edges


def _page_tables(page: Any, page_index: int, cfg: TableSettings) -> list[Table]:
    extra = closing_sides(
        ((float(e["top"]), float(e["x0"]), float(e["x1"])) for e in page.horizontal_edges), cfg
    )
    settings = cfg.pdfplumber_settings()
    if extra:
        settings = {
            **settings,
            "explicit_vertical_lines": [*settings.get("explicit_vertical_lines", []), *extra],
        }
    found = page.find_tables(settings)
    if not found:
        return []
    if isinstance(page, _PdfiumPage):
        page._regions = [
            (float(a), float(b), float(c), float(d)) for a, b, c, d in (t.bbox for t in found)
        ]
    chars = page.chars
    origin = getattr(page, "origin", None)
    if origin is None:
        mediabox = getattr(page, "mediabox", None) or (0.0, 0.0, page.width, page.height)
        origin = (float(mediabox[0]), float(mediabox[1]))
    tables = []
    for t in found:
        table = build_table(
            page_index,
            tuple(float(v) for v in t.bbox),  # type: ignore[arg-type]
            [tuple(float(v) for v in c) for c in t.cells],  # type: ignore[misc]
            chars,
            float(page.height),
            origin,
            cfg=cfg,
        )
        if table is None:
            continue
        if any("(cid:" in c.text for c in table.cells):
            # pdfminer could not map the font to Unicode: "(cid:3724)" runs are no text.
            log.info("tables: page %d: table text not mapped to Unicode, dropped", page_index + 1)
            continue
        tables.append(table)
    return tables


def find_tables(
    path: Path | str,
    page_indices: Sequence[int],
    cfg: TableSettings | None = None,
) -> dict[int, list[Table]]:
    """Ruled tables on the given pages (0-based) of a PDF, with pdfplumber.

    Returns ``{page index: [Table, ...]}`` with an entry for every page asked for that could
    be read (empty list where there is no table). The file is opened with the empty password;
    a file pdfplumber cannot open gives ``{}`` and a page it fails on gives no tables; both
    are logged, never raised.
    """
    import pdfplumber

    cfg = cfg or TableSettings()
    result: dict[int, list[Table]] = {}
    if not page_indices:
        return result
    try:
        pdf = pdfplumber.open(path, password="")
    except Exception as exc:  # pdfminer raises many kinds on damaged or locked files
        log.warning("tables: cannot open %s with pdfplumber: %s", path, exc)
        return result
    with pdf:
        n = len(pdf.pages)
        for i in sorted(set(page_indices)):
            if not 0 <= i < n:
                continue
            page = None
            try:
                page = pdf.pages[i]
                result[i] = _page_tables(page, i, cfg)
            except Exception as exc:
                log.warning("tables: %s page %d: pdfplumber failed: %s", path, i + 1, exc)
                result[i] = []
            finally:
                if page is not None:
                    page.close()  # frees pdfminer's layout objects of this page
    return result


def table_text(table: Table | Sequence[Sequence[str]]) -> str:
    """Rows as lines ``cell | cell | cell`` (one space each side of ``|``), empty cells at the
    end of a row dropped, rows with no text skipped; a row with text in one cell only is
    that text, joined to the row before when that is such a row too and does not end a
    sentence (a heading wrapped over grid rows)."""
    rows = table.rows if isinstance(table, Table) else table
    lines: list[str] = []
    alone = False  # the previous row had text in one cell only
    for row in rows:
        cells = [" ".join(c.split()) for c in row]
        while cells and not cells[-1]:
            cells.pop()
        filled = [i for i, c in enumerate(cells) if c]
        if not filled:
            continue
        if len(filled) == 1:
            # A row with one cell of text (a caption or heading across the table) is that
            # text; one wrapped over several grid rows is read as one paragraph.
            text = cells[filled[0]]
            if alone and lines and not _SENTENCE_END.search(lines[-1]):
                lines[-1] = join_lines(lines[-1], text)
            else:
                lines.append(text)
            alone = True
            continue
        alone = False
        lines.append(" | ".join(cells))
    return "\n".join(lines)


_SENTENCE_END = re.compile(r"[.!?。！？:：]$")


# ------------------------------------------------------------------------ pdfium backend
#
# pdfplumber spends most of its time in pdfminer, parsing the page again. Its table geometry
# (edges -> intersections -> cells -> tables) is plain Python over dicts, so it can run on
# edges and characters taken from the page pypdfium2 already has open: the same finder and
# the same cell reading, without pdfminer.

_FPDF_SEGMENT_LINETO = 1
_FPDF_SEGMENT_MOVETO = 2


class _PdfiumPage:
    """The parts of a pdfplumber page that ``TableFinder`` and :func:`build_table` use."""

    def __init__(self, page: Any, textpage: Any, cfg: TableSettings) -> None:
        self._cfg = cfg
        self._textpage = textpage
        self._regions: list[BBox] = []
        left, bottom, right, top = (float(v) for v in page.get_mediabox())
        self.origin = (left, bottom)
        self.height = top - bottom
        self.width = right - left
        self.bbox: BBox = (0.0, 0.0, self.width, self.height)
        self._top = top
        self._left = left
        self.edges = self._edges(page)
        self._page = page
        self._chars: list[dict[str, Any]] | None = None

    # Coordinates: PDF user space -> pdfplumber's (x from the left, y from the top).
    def _h(self, y: float, x0: float, x1: float) -> dict[str, Any]:
        top = self._top - y
        x0, x1 = min(x0, x1) - self._left, max(x0, x1) - self._left
        return {
            "object_type": "line",
            "orientation": "h",
            "x0": x0,
            "x1": x1,
            "top": top,
            "bottom": top,
            "width": x1 - x0,
            "height": 0.0,
        }

    def _v(self, x: float, y0: float, y1: float) -> dict[str, Any]:
        top, bottom = self._top - max(y0, y1), self._top - min(y0, y1)
        x -= self._left
        return {
            "object_type": "line",
            "orientation": "v",
            "x0": x,
            "x1": x,
            "top": top,
            "bottom": bottom,
            "width": 0.0,
            "height": bottom - top,
        }

    def _edges(self, page: Any) -> list[dict[str, Any]]:
        import pypdfium2.raw as pdfium_c

        edges: list[dict[str, Any]] = []
        raw = page.raw
        objs = [
            (pdfium_c.FPDFPage_GetObject(raw, i), None)
            for i in range(pdfium_c.FPDFPage_CountObjects(raw))
        ]
        self._walk(objs, pdfium_c, edges, self._cfg.max_objects)
        return edges

    def _walk(
        self,
        objs: Sequence[tuple[Any, tuple[float, ...] | None]],
        pdfium_c: Any,
        edges: list[dict[str, Any]],
        budget: int,
    ) -> int:
        left, bottom, right, top = (ctypes.c_float() for _ in range(4))
        for obj, form_m in objs:
            budget -= 1
            if budget < 0:
                return budget
            kind = pdfium_c.FPDFPageObj_GetType(obj)
            if kind == _FPDF_PAGEOBJ_FORM:
                m = pdfium_c.FS_MATRIX()
                pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(m))
                mine: tuple[float, ...] = (m.a, m.b, m.c, m.d, m.e, m.f)
                total = mine if form_m is None else _compose(mine, form_m)
                children = [
                    (pdfium_c.FPDFFormObj_GetObject(obj, i), total)
                    for i in range(pdfium_c.FPDFFormObj_CountObjects(obj))
                ]
                budget = self._walk(children, pdfium_c, edges, budget)
                continue
            if kind != _FPDF_PAGEOBJ_PATH:
                continue
            n_seg = pdfium_c.FPDFPath_CountSegments(obj)
            if n_seg > 5:
                self._segments(obj, form_m, pdfium_c, edges)
                continue
            if not pdfium_c.FPDFPageObj_GetBounds(
                obj,
                ctypes.byref(left),
                ctypes.byref(bottom),
                ctypes.byref(right),
                ctypes.byref(top),
            ):
                continue
            x0, y0, x1, y1 = left.value, bottom.value, right.value, top.value
            if form_m is not None:
                x0, y0 = _apply(form_m, x0, y0)
                x1, y1 = _apply(form_m, x1, y1)
                x0, x1 = min(x0, x1), max(x0, x1)
                y0, y1 = min(y0, y1), max(y0, y1)
            w, h = x1 - x0, y1 - y0
            if h <= self._cfg.rule_thickness and w > h:
                edges.append(self._h((y0 + y1) / 2, x0, x1))
            elif w <= self._cfg.rule_thickness and h > w:
                edges.append(self._v((x0 + x1) / 2, y0, y1))
            else:
                edges += [
                    self._h(y0, x0, x1),
                    self._h(y1, x0, x1),
                    self._v(x0, y0, y1),
                    self._v(x1, y0, y1),
                ]
        return budget

    def _segments(
        self,
        obj: Any,
        form_m: tuple[float, ...] | None,
        pdfium_c: Any,
        edges: list[dict[str, Any]],
    ) -> None:
        """Axis-aligned straight segments of a path with many segments (a grid in one path)."""
        m = pdfium_c.FS_MATRIX()
        pdfium_c.FPDFPageObj_GetMatrix(obj, ctypes.byref(m))
        mat: tuple[float, ...] = (m.a, m.b, m.c, m.d, m.e, m.f)
        if form_m is not None:
            mat = _compose(mat, form_m)
        x, y = ctypes.c_float(), ctypes.c_float()
        prev: tuple[float, float] | None = None
        start: tuple[float, float] | None = None
        for i in range(pdfium_c.FPDFPath_CountSegments(obj)):
            seg = pdfium_c.FPDFPath_GetPathSegment(obj, i)
            pdfium_c.FPDFPathSegment_GetPoint(seg, ctypes.byref(x), ctypes.byref(y))
            pt = _apply(mat, x.value, y.value)
            kind = pdfium_c.FPDFPathSegment_GetType(seg)
            if kind == _FPDF_SEGMENT_LINETO and prev is not None:
                self._segment(prev, pt, edges)
            if kind == _FPDF_SEGMENT_MOVETO:
                start = pt
            elif pdfium_c.FPDFPathSegment_GetClose(seg) and start is not None:
                self._segment(pt, start, edges)
            prev = pt

    def _segment(
        self, a: tuple[float, float], b: tuple[float, float], edges: list[dict[str, Any]]
    ) -> None:
        if abs(a[1] - b[1]) < 0.5 and abs(a[0] - b[0]) >= 0.5:
            edges.append(self._h((a[1] + b[1]) / 2, a[0], b[0]))
        elif abs(a[0] - b[0]) < 0.5 and abs(a[1] - b[1]) >= 0.5:
            edges.append(self._v((a[0] + b[0]) / 2, a[1], b[1]))

    @property
    def horizontal_edges(self) -> list[dict[str, Any]]:
        return [e for e in self.edges if e["orientation"] == "h"]

    @property
    def chars(self) -> list[dict[str, Any]]:
        if self._chars is None:
            self._chars = self._read_chars()
        return self._chars

    def _read_chars(self) -> list[dict[str, Any]]:
        import pypdfium2.raw as pdfium_c

        textpage = self._textpage or self._page.get_textpage()
        # Only characters inside the tables found are read (in PDF user space, with a margin).
        regions = [
            (x0 + self._left - 2, self._top - bottom - 2, x1 + self._left + 2, self._top - top + 2)
            for x0, top, x1, bottom in self._regions
        ]
        try:
            raw = textpage.raw
            rect = pdfium_c.FS_RECTF()
            mat = pdfium_c.FS_MATRIX()
            chars: list[dict[str, Any]] = []
            n = pdfium_c.FPDFText_CountChars(raw)
            units = (ctypes.c_ushort * (n + 1))()
            pdfium_c.FPDFText_GetText(raw, 0, n, units)  # one call for all the code units
            for i in range(n):
                if regions:
                    if not pdfium_c.FPDFText_GetLooseCharBox(raw, i, ctypes.byref(rect)):
                        continue
                    cx, cy = (rect.left + rect.right) / 2, (rect.bottom + rect.top) / 2
                    if not any(a <= cx <= c and b <= cy <= d for a, b, c, d in regions):
                        continue
                code = units[i]
                if 0xD800 <= code <= 0xDFFF:  # a half of a pair: pdfium's own code point
                    code = pdfium_c.FPDFText_GetUnicode(raw, i)
                if pdfium_c.FPDFText_IsGenerated(raw, i) == 1:
                    # pdfium's own word spaces: kept between Latin letters and digits (where
                    # they agree with pdfminer), not in CJK text (Hancom gaps mislead it).
                    if code == 0x20 and chars and ord(str(chars[-1]["text"])) < 0x2000:
                        chars.append({**chars[-1], "text": " "})
                    continue
                if code in (0, 0xFFFE) or code > 0x10FFFF:
                    continue
                if not regions and not pdfium_c.FPDFText_GetLooseCharBox(
                    raw, i, ctypes.byref(rect)
                ):
                    continue
                # The loose box spans the glyph's advance, as pdfminer's does. pdfium gives
                # the font size before the text matrix: scale it to points on the page.
                pdfium_c.FPDFText_GetMatrix(raw, i, ctypes.byref(mat))
                scale = math.hypot(mat.c, mat.d) or 1.0
                turned = abs(mat.b) > 1e-6 or abs(mat.c) > 1e-6
                angle = pdfium_c.FPDFText_GetCharAngle(raw, i) if turned else 0.0
                chars.append(
                    {
                        "text": chr(code),
                        "x0": rect.left - self._left,
                        "x1": rect.right - self._left,
                        "top": self._top - rect.top,
                        "bottom": self._top - rect.bottom,
                        "size": float(pdfium_c.FPDFText_GetFontSize(raw, i)) * scale,
                        "upright": angle < 0.1 or angle > 6.18,
                        # pdfium measures the angle clockwise: 3/2 pi is text reading upwards.
                        "matrix": (0.0, 1.0 if 3.7 < angle < 5.8 else -1.0, 0, 0, 0, 0),
                    }
                )
            return chars
        finally:
            if textpage is not self._textpage:
                textpage.close()

    def find_tables(self, settings: dict[str, Any]) -> list[Any]:
        from pdfplumber.table import TableFinder

        return list(TableFinder(self, settings).tables)  # type: ignore[arg-type]


def _apply(m: tuple[float, ...], x: float, y: float) -> tuple[float, float]:
    a, b, c, d, e, f = m
    return (a * x + c * y + e, b * x + d * y + f)


def _compose(inner: tuple[float, ...], outer: tuple[float, ...]) -> tuple[float, ...]:
    """The matrix applying ``inner`` first, then ``outer``."""
    a1, b1, c1, d1, e1, f1 = inner
    a2, b2, c2, d2, e2, f2 = outer
    return (
        a1 * a2 + b1 * c2,
        a1 * b2 + b1 * d2,
        c1 * a2 + d1 * c2,
        c1 * b2 + d1 * d2,
        e1 * a2 + f1 * c2 + e2,
        e1 * b2 + f1 * d2 + f2,
    )


def page_tables_pdfium(
    page: Any, page_index: int, textpage: Any = None, cfg: TableSettings | None = None
) -> list[Table]:
    """The tables of one open pypdfium2 page (reusing its open text page, if given), as
    :func:`find_tables_pdfium` finds them; failures are logged, never raised."""
    cfg = cfg or TableSettings()
    try:
        return _page_tables(_PdfiumPage(page, textpage, cfg), page_index, cfg)
    except Exception as exc:
        log.warning("tables: page %d: pdfium table reading failed: %s", page_index + 1, exc)
        return []


def find_tables_pdfium(
    pdf: Any, page_indices: Sequence[int], cfg: TableSettings | None = None
) -> dict[int, list[Table]]:
    """As :func:`find_tables`, on an open ``pypdfium2.PdfDocument``, without pdfminer:
    edges from the page's path objects, characters from pdfium's text page, pdfplumber's
    table geometry and the same cell reading. Failures are logged per page, never raised."""
    cfg = cfg or TableSettings()
    result: dict[int, list[Table]] = {}
    n = len(pdf)
    for i in sorted(set(page_indices)):
        if not 0 <= i < n:
            continue
        page = None
        try:
            page = pdf[i]
            result[i] = _page_tables(_PdfiumPage(page, None, cfg), i, cfg)
        except Exception as exc:
            log.warning("tables: page %d: pdfium table reading failed: %s", i + 1, exc)
            result[i] = []
        finally:
            if page is not None:
                page.close()
    return result
