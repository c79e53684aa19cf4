"""Reading order of one PDF page, from the boxes of its words.

The PDF loader (``pdf.py``) hands over the page's words: a character range of the page
text and a box in the *reading frame*, where lines run left to right and follow each other
downwards (``y`` grows down the page). Vertical Japanese is turned into that frame before it
gets here, so one algorithm serves both writing directions.

1. ``build_lines``: words that follow each other on one baseline make a line. A line is cut
   where a wide gap lines up with gaps on other lines (a column gutter); a raised or lowered
   word (a footnote mark) stays on its line.
2. ``merge_table_rows``: rows of three or more short cells side by side are table rows and
   are read across, cell by cell, instead of column by column.
3. ``group_blocks``: lines stacked closely in one column make a block.
4. ``order_blocks``: blocks keep the order of the page text, which is the reading order of
   nearly every PDF, except that of two blocks sharing columns the upper one comes first.
   Where the page text runs across columns (many lines had to be cut at gutters), the order
   comes from the boxes alone, with T. M. Breuel's rule ("High performance document layout
   analysis", 2003): a block comes before another if they share columns and it is above, or
   if it is to the left and no block between them in height spans both.

The thresholds are ``LayoutSettings`` (``Settings.extraction.layout``); each step takes them as
``cfg`` (the defaults when None).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import pairwise

import numpy as np

from ..cleaning import is_japanese
from ..scripts import CJK
from ..settings import LayoutSettings


@dataclass(slots=True)
class Word:
    """A run of non-space characters ``text[start:end]`` and its box in the reading frame."""

    x0: float
    x1: float
    y0: float
    y1: float
    start: int
    end: int

    @property
    def height(self) -> float:
        return self.y1 - self.y0


@dataclass(slots=True)
class Line:
    """Words on one baseline, in order; ``text`` is what they read."""

    words: list[Word]
    text: str
    x0: float
    x1: float
    y0: float
    y1: float
    table: bool = False
    """A table row: its cells were joined with `` | ``."""
    cut: bool = False
    """The line starts where a line of the page text was cut at a column gutter."""
    ruled: bool = False
    """A row of a ruled table read by ``tables.py`` (its text is final)."""

    @property
    def height(self) -> float:
        return self.y1 - self.y0

    @property
    def first_word_width(self) -> float:
        w = self.words[0]
        return w.x1 - w.x0


@dataclass(slots=True)
class Block:
    """Lines of one column stacked closely (a paragraph or several, a heading, a table)."""

    lines: list[Line] = field(default_factory=list)
    x0: float = float("inf")
    x1: float = float("-inf")
    y0: float = float("inf")
    y1: float = float("-inf")

    def add(self, line: Line) -> None:
        self.lines.append(line)
        self.x0 = min(self.x0, line.x0)
        self.x1 = max(self.x1, line.x1)
        self.y0 = min(self.y0, line.y0)
        self.y1 = max(self.y1, line.y1)


def _v_overlap(a0: float, a1: float, b0: float, b1: float) -> float:
    """Share of the smaller of two vertical extents that they have in common."""
    inter = min(a1, b1) - max(a0, b0)
    small = min(a1 - a0, b1 - b0)
    if small <= 0:
        return 1.0 if inter >= 0 else 0.0
    return inter / small


def _gutter_gaps(words: Sequence[Word], cfg: LayoutSettings) -> set[int]:
    """Indices ``i`` where a line is cut between ``words[i-1]`` and ``words[i]``.

    A wide gap is a gutter when it is very wide, or when gaps on at least
    ``cfg.gutter_support`` other lines close above or below overlap it and start or end at the
    same place (where a column starts, or a right-aligned column ends): justified text and
    run-in headings have wide spaces here and there, columns have them one under the other.
    Gaps that line up but are each followed by a short fragment only (``_fragment_follows``)
    set apart the month and day of a date or a short value, not a column.
    """
    gap_em, wide_gap_em, reach = cfg.gap_em, cfg.wide_gap_em, cfg.gutter_reach
    candidates: list[tuple[int, float, float, float]] = []  # (i, gap x0, gap x1, y)
    for i in range(1, len(words)):
        prev, word = words[i - 1], words[i]
        h = max(prev.height, word.height, 1e-3)
        gap = word.x0 - prev.x1
        if gap > gap_em * h and _v_overlap(prev.y0, prev.y1, word.y0, word.y1) > 0:
            candidates.append((i, prev.x1, word.x0, (word.y0 + word.y1) / 2))
    if not candidates:
        return set()
    cuts: set[int] = set()
    spans = np.array([(g0, g1, y) for _, g0, g1, y in candidates], dtype=np.float64)
    # A column of fragments (every aligned gap followed by one) is not a gutter.
    fragment = [_fragment_follows(words, i, cfg) for i, *_ in candidates]
    for k, (i, g0, g1, y) in enumerate(candidates):
        prev, word = words[i - 1], words[i]
        h = max(prev.height, word.height, 1e-3)
        if g1 - g0 > wide_gap_em * h:
            cuts.add(i)
            continue
        dy = np.abs(spans[:, 2] - y)
        aligned = (np.abs(spans[:, 1] - g1) < h / 2) | (np.abs(spans[:, 0] - g0) < h / 2)
        overlapping = (
            (spans[:, 0] < g1) & (spans[:, 1] > g0) & aligned & (dy > h / 2) & (dy < reach * h)
        )
        overlapping[k] = False
        if int(overlapping.sum()) >= cfg.gutter_support and not (
            fragment[k] and all(fragment[m] for m in np.flatnonzero(overlapping))
        ):
            cuts.add(i)
    return cuts


def _fragment_follows(words: Sequence[Word], i: int, cfg: LayoutSettings) -> bool:
    """Whether the gap before ``words[i]`` is narrow, only a short fragment follows it to the
    end of its line (``cfg.fragment_gap_em``, ``cfg.fragment_chars``) and no other wide gap
    comes before it on the line (a row of three or more cells keeps its cuts)."""
    prev, word = words[i - 1], words[i]
    h = max(prev.height, word.height, 1e-3)
    if word.x0 - prev.x1 > cfg.fragment_gap_em * h:
        return False

    def same_line(a: Word, b: Word) -> bool:
        return b.x0 >= a.x1 - 0.6 * h and _v_overlap(a.y0, a.y1, b.y0, b.y1) >= 0.5

    first, last = i - 1, i  # the line's first and last words
    while first > 0 and same_line(words[first - 1], words[first]):
        first -= 1
    while last + 1 < len(words) and same_line(words[last], words[last + 1]):
        last += 1
    if any(words[j].x0 - words[j - 1].x1 > cfg.gap_em * h for j in range(first + 1, i)):
        return False
    return sum(w.end - w.start for w in words[i : last + 1]) <= cfg.fragment_chars


def _separator(text: str, prev: Word, word: Word) -> str:
    """What goes between two words of a line: the page's own space (one), or one space for
    a gap.

    Where the page text broke the line and two Japanese characters meet, nothing: a gap
    between them is letter spacing, not a word space.
    """
    between = text[prev.end : word.start]
    if between and "\n" not in between and "\r" not in between:
        if between.strip():
            return between
        # An ideographic space is the typesetter's deliberate gap ("教授\u3000首藤", a date
        # before a signature): kept, where a plain space between Japanese letters is not
        # (cleaning.tighten_japanese).
        return "\u3000" if "\u3000" in between else " "
    if is_japanese(text[prev.end - 1]) and is_japanese(text[word.start]):
        return ""
    h = max(prev.height, word.height, 1e-3)
    return " " if word.x0 - prev.x1 > 0.15 * h else ""


def _make_line(words: list[Word], text: str, cut: bool = False) -> Line:
    parts = [text[words[0].start : words[0].end]]
    x0, x1 = words[0].x0, words[0].x1
    for prev, word in pairwise(words):
        parts.append(_separator(text, prev, word))
        parts.append(text[word.start : word.end])
        x0 = min(x0, word.x0)
        x1 = max(x1, word.x1)
    return Line(
        words=words,
        text="".join(parts).replace("\ufffe", "-"),
        x0=x0,
        x1=x1,
        y0=min(w.y0 for w in words),
        y1=max(w.y1 for w in words),
        cut=cut,
    )


def build_lines(words: Sequence[Word], text: str, cfg: LayoutSettings | None = None) -> list[Line]:
    """Words (in the order of the page text) grouped into lines, cut at column gutters.

    A word goes on the current line when it follows it closely to the right and shares its
    height band (the band of the whole line so far, so that a raised footnote mark does not
    pull the next word off the line).
    """
    if not words:
        return []
    cuts = _gutter_gaps(words, cfg or LayoutSettings())
    lines: list[Line] = []
    current: list[Word] = [words[0]]
    top, bottom = words[0].y0, words[0].y1
    prev = words[0]
    cut = False
    for i in range(1, len(words)):
        word = words[i]
        h = max(prev.y1 - prev.y0, word.y1 - word.y0, 1e-3)
        same = word.x0 - prev.x1 >= -0.6 * h
        if same:
            inter = min(bottom, word.y1) - max(top, word.y0)
            small = min(bottom - top, word.y1 - word.y0)
            same = inter >= 0.5 * small if small > 0 else inter >= 0
        if same and i not in cuts:
            current.append(word)
            if word.y0 < top:
                top = word.y0
            if word.y1 > bottom:
                bottom = word.y1
        else:
            lines.append(_make_line(current, text, cut))
            cut = same
            current = [word]
            top, bottom = word.y0, word.y1
        prev = word
    lines.append(_make_line(current, text, cut))
    return lines


def runs_across_columns(lines: Sequence[Line]) -> bool:
    """Whether the page text reads across columns (many of its lines were cut at gutters)."""
    cuts = sum(1 for ln in lines if ln.cut)
    return cuts >= 3 and cuts >= 0.1 * len(lines)


def _rows(lines: Sequence[Line]) -> list[list[int]]:
    """Indices of lines grouped into rows (lines that share a baseline), top to bottom."""
    order = sorted(range(len(lines)), key=lambda i: (lines[i].y0 + lines[i].y1) / 2)
    rows: list[list[int]] = []
    for i in order:
        ln = lines[i]
        if rows:
            first = lines[rows[-1][0]]
            if _v_overlap(first.y0, first.y1, ln.y0, ln.y1) >= 0.6:
                rows[-1].append(i)
                continue
        rows.append([i])
    return rows


def merge_table_rows(lines: list[Line], cfg: LayoutSettings | None = None) -> list[Line]:
    """Join the cells of table rows into one line each (cells separated by `` | ``).

    A row is a table row when it has three or more cells and belongs to a run of at least two
    such rows whose cells are short (median at most ``cfg.table_cell_chars`` characters);
    columns of prose have long lines and are left alone. Rows of ruled tables (``ruled``)
    are final and stay as they are.
    """
    cfg = cfg or LayoutSettings()
    if any(ln.ruled for ln in lines):
        rest = merge_table_rows([ln for ln in lines if not ln.ruled], cfg)
        ruled = [ln for ln in lines if ln.ruled]
        return sorted([*rest, *ruled], key=lambda ln: ln.words[0].start)
    rows = _rows(lines)
    wide = [len(r) >= 3 for r in rows]
    table_rows: set[int] = set()
    k = 0
    while k < len(rows):
        if not wide[k]:
            k += 1
            continue
        end = k
        while end < len(rows) and wide[end]:
            end += 1
        run = rows[k:end]
        if len(run) >= 2:
            lengths = sorted(len(lines[i].text) for r in run for i in r)
            if lengths[len(lengths) // 2] <= cfg.table_cell_chars:
                table_rows.update(range(k, end))
        k = end
    if not table_rows:
        return lines
    merged: dict[int, Line] = {}
    dropped: set[int] = set()
    for r in (rows[k] for k in sorted(table_rows)):
        cells = sorted((lines[i] for i in r), key=lambda ln: ln.x0)
        words = [w for c in cells for w in c.words]
        spread = _spread_value(cells, cfg)
        row = Line(
            words=words,
            text=" | ".join(c.text for c in cells)
            if spread is None
            else cells[0].text + ("\u3000" if is_japanese(spread[0]) else " ") + spread,
            x0=min(c.x0 for c in cells),
            x1=max(c.x1 for c in cells),
            y0=min(c.y0 for c in cells),
            y1=max(c.y1 for c in cells),
            table=spread is None,
        )
        first = min(r)
        merged[first] = row
        dropped.update(i for i in r if i != first)
    return [merged.get(i, ln) for i, ln in enumerate(lines) if i not in dropped]


#: Han, kana and Hangul letters (no punctuation, full-width digits or marks).
_CJK_LETTERS = re.compile(f"[{CJK}]+")


def _spread_value(cells: Sequence[Line], cfg: LayoutSettings) -> str | None:
    """The word that the cells after a row's label (``cells[0]``) spell when they are the
    letters of one word set out in a grid (a name in fixed fields: "北", "川", "清"), else
    None: every piece is CJK letters, at most ``cfg.spread_piece_chars`` of them, and two or
    more pieces are single letters. Table cells of single letters are marks and digits
    ("○", "1"), which do not count; a row whose label is one letter too, or whose pieces are
    all the same letter, is the boxes of a chart."""
    if len(cells[0].text) <= 1:
        return None
    pieces = [c.text.replace("\u2060", "") for c in cells[1:]]
    if len(pieces) < 2 or sum(len(p) == 1 for p in pieces) < 2 or len(set(pieces)) == 1:
        return None  # the same letter in every cell: boxes of a chart, not a word
    if not all(len(p) <= cfg.spread_piece_chars and _CJK_LETTERS.fullmatch(p) for p in pieces):
        return None
    return "".join(pieces)


def block_gap(lines: Sequence[Line], cfg: LayoutSettings | None = None) -> float:
    """The largest gap (in line heights) between two lines of one block on this page.

    ``cfg.block_gap`` for usual line spacing; on pages whose lines are set further apart (the
    median gap between a line and the next one of the same size in the same column), that
    gap plus ``cfg.block_gap_slack`` (at most ``cfg.max_block_gap``), so that widely spaced
    paragraphs stay one block.
    """
    cfg = cfg or LayoutSettings()
    gaps: list[float] = []
    for a, b in pairwise(lines):
        if a.table or b.table:
            continue
        h = min(a.height, b.height)
        if h <= 0 or max(a.height, b.height) > 1.15 * h:
            continue
        gap = (b.y0 - a.y1) / h
        if 0 <= gap <= cfg.max_block_gap and min(a.x1, b.x1) - max(a.x0, b.x0) > 0:
            gaps.append(gap)
    if len(gaps) < 3:
        return cfg.block_gap
    gaps.sort()
    usual = gaps[len(gaps) // 2]
    return min(max(cfg.block_gap, usual + cfg.block_gap_slack), cfg.max_block_gap)


def _continues(block: Block, line: Line, limit: float) -> bool:
    """Whether ``line`` goes on ``block`` (the next line of the same column)."""
    last = block.lines[-1]
    if last.table != line.table:
        return False
    h = min(last.height, line.height)
    if h <= 0:
        return False
    big = max(last.height, line.height)
    if big > 1.3 * h and not line.table:
        return False  # a change of type size: a heading
    gap = line.y0 - last.y1
    if gap < -0.5 * h or gap > limit * h:
        return False
    overlap = min(block.x1, line.x1) - max(block.x0, line.x0)
    return overlap > 0


def group_blocks(lines: Sequence[Line], cfg: LayoutSettings | None = None) -> list[Block]:
    """Lines (in page-text order) stacked into blocks; a line may go on any recent block."""
    cfg = cfg or LayoutSettings()
    blocks: list[Block] = []
    limit = block_gap(lines, cfg)
    for line in lines:
        for block in reversed(blocks[-cfg.open_blocks :]):
            if _continues(block, line, limit):
                block.add(line)
                break
        else:
            b = Block()
            b.add(line)
            blocks.append(b)
    blocks = _merge_stacked(blocks, limit)
    for b in blocks:
        b.lines.sort(key=lambda ln: (ln.y0, ln.x0))
    return blocks


def _median_height(block: Block) -> float:
    heights = sorted(ln.height for ln in block.lines)
    return heights[len(heights) // 2]


def _merge_stacked(blocks: list[Block], limit: float) -> list[Block]:
    """Join blocks of one column that touch (page text that visits a column twice)."""
    merged = True
    while merged and len(blocks) > 1:
        merged = False
        by_top = sorted(blocks, key=lambda b: b.y0)
        for i, upper in enumerate(by_top):
            for lower in by_top[i + 1 :]:
                if lower.y0 > upper.y1 + 2 * _median_height(upper):
                    break
                if upper.lines[0].table != lower.lines[0].table:
                    continue
                h = min(_median_height(upper), _median_height(lower))
                if max(_median_height(upper), _median_height(lower)) > 1.15 * h:
                    continue
                overlap = min(upper.x1, lower.x1) - max(upper.x0, lower.x0)
                narrow = min(upper.x1 - upper.x0, lower.x1 - lower.x0)
                gap = lower.y0 - upper.y1
                if overlap >= 0.5 * narrow and -0.5 * h <= gap <= limit * h:
                    for line in lower.lines:
                        upper.add(line)
                    blocks = [b for b in blocks if b is not lower]
                    merged = True
                    break
            if merged:
                break
    return blocks


def _topological(before: np.ndarray, rank: list[int]) -> list[int]:
    """Indices in an order that respects ``before[a, b]`` (a first), ties going by ``rank``.

    On a cycle (overlapping boxes) the first remaining index of ``rank`` goes next.
    """
    n = len(rank)
    indegree = before.sum(axis=0)
    done = np.zeros(n, dtype=bool)
    order: list[int] = []
    for _ in range(n):
        pick = next((i for i in rank if not done[i] and indegree[i] == 0), None)
        if pick is None:
            pick = next(i for i in rank if not done[i])
        done[pick] = True
        order.append(pick)
        indegree = indegree - before[pick]
    return order


def order_blocks(
    blocks: list[Block], *, geometric: bool = False, cfg: LayoutSettings | None = None
) -> list[Block]:
    """Blocks in reading order.

    By default the page's own order is kept: the order of the text in the PDF is usually the
    order it is read in (tables cell by cell, columns one after the other), so blocks go in
    the order of their first character, except that of two blocks sharing columns the upper
    one always comes first.

    ``geometric`` is for pages whose text runs across the columns (lines had to be cut at
    gutters): the order then comes from the boxes alone, with T. M. Breuel's rule ("High
    performance document layout analysis", 2003): a block comes before another if they share
    columns and it is above, or if it is to the left and no block between them in height
    spans both; ties go top-left first.
    """
    n = len(blocks)
    if n <= 1:
        return list(blocks)
    first = [min(w.start for ln in b.lines for w in ln.words) for b in blocks]
    if n > (cfg or LayoutSettings()).max_ordered_blocks:
        return [blocks[i] for i in sorted(range(n), key=first.__getitem__)]
    box = np.array([(b.x0, b.x1, b.y0, b.y1) for b in blocks], dtype=np.float64)
    x0, x1, y0, y1 = box[:, 0], box[:, 1], box[:, 2], box[:, 3]
    tol = float(np.median([_median_height(b) for b in blocks])) * 0.25
    x_overlap = (np.minimum(x1[:, None], x1[None, :]) - np.maximum(x0[:, None], x0[None, :])) > tol
    before = x_overlap & (y1[:, None] <= y0[None, :] + tol)
    if geometric:
        left = x1[:, None] <= x0[None, :] + tol
        lo = np.minimum(y1[:, None], y1[None, :])  # bottom of the upper one
        hi = np.maximum(y0[:, None], y0[None, :])  # top of the lower one
        between = (y0[None, None, :] >= lo[:, :, None] - tol) & (
            y1[None, None, :] <= hi[:, :, None] + tol
        )
        spans = (x0[None, None, :] < x1[:, None, None]) & (x1[None, None, :] > x0[None, :, None])
        blocked = (between & spans).any(axis=2)
        before |= left & ~blocked
        rank = sorted(range(n), key=lambda i: (box[i, 2], box[i, 0]))
    else:
        # Columns side by side (blocks of several lines beside each other over most of
        # their height) read left to right, whatever order the page text has them in.
        left = x1[:, None] <= x0[None, :] + tol
        shared = np.minimum(y1[:, None], y1[None, :]) - np.maximum(y0[:, None], y0[None, :])
        height = y1 - y0
        smaller = np.minimum(height[:, None], height[None, :])
        several = np.array([len(b.lines) >= 2 for b in blocks])
        beside = left & (shared > 0.5 * smaller) & several[:, None] & several[None, :]
        before |= beside & ~before.T
        rank = sorted(range(n), key=first.__getitem__)
    np.fill_diagonal(before, False)
    return [blocks[i] for i in _topological(before, rank)]
