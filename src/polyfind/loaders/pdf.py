"""PDF pages as text that reads like the page.

Text comes from pypdfium2 (measured on the corpus PDFs at about 460 pages/s for plain
extraction against about 10 for ``pdfplumber.Page.extract_text``; see BENCHMARKS.md,
"Extraction"). Layout is worked out from pdfium's character boxes, fetched only for the first
and last character of each word so that it stays fast (``layout.py`` does the geometry):

- columns are read one after the other, tables row by row, vertical Japanese column by
  column from the right;
- running headers, footers and page numbers that repeat in the margins of several pages go;
- hard-wrapped lines of a paragraph are joined (``cleaning.join_lines``), paragraphs are
  separated by a blank line;
- NFKC folds ligatures, full-width Latin and vertical presentation forms;
- a text layer that decodes to garbage counts as no text; pages without text are read by OCR
  where it is installed (``ocr.py``).

Page numbers are the PDF's own 1-based page indices.
"""

from __future__ import annotations

import ctypes
import logging
import re
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path
from typing import Any

from .. import cleaning, korean
from ..errors import EncryptedFileError, LoadError
from ..records import Document, Page
from ..scripts import JAPANESE_TEXT
from ..settings import ExtractionSettings, LayoutSettings, OcrSettings, Settings, TableSettings
from . import meta, ocr, tables
from .layout import (
    Block,
    Line,
    Word,
    build_lines,
    group_blocks,
    merge_table_rows,
    order_blocks,
    runs_across_columns,
)

log = logging.getLogger(__name__)

#: A word; pdfium marks a word hyphenated across two lines with U+FFFE where the hyphen was
#: ("ef\ufffeficient"), and the word is cut there, as on the page.
_WORD = re.compile(r"[^\s\ufffe]+\ufffe?|\ufffe")
#: pdfium's annotation subtype for a FreeText annotation (a text box drawn on the page).
_ANNOT_FREETEXT = 3


@dataclass
class _PageText:
    """One page after layout, before headers and footers are known."""

    number: int
    height: float
    blocks: list[Block] = field(default_factory=list)
    aside: list[Block] = field(default_factory=list)
    """Text in another direction than the page's (a rotated margin stamp), read last."""
    notes: list[str] = field(default_factory=list)
    """Text of FreeText annotations shown on the page."""
    garbage: str | None = None
    text: str = ""
    plain: str | None = None
    """The page text in PDF order, where layout failed."""
    label: str | None = None
    """The number printed on the page (or the PDF's page label), where it differs."""


# ---------------------------------------------------------------------------- words


def _page_text(textpage: Any) -> tuple[str, int]:
    """The page text, one Python character per pdfium character (surrogates kept apart)."""
    import pypdfium2.raw as pdfium_c

    n = int(pdfium_c.FPDFText_CountChars(textpage))
    if n <= 0:
        return "", 0
    buf = (ctypes.c_ushort * (n + 1))()
    got = int(pdfium_c.FPDFText_GetText(textpage, 0, n, buf))
    units = bytes(buf)[: 2 * max(got - 1, 0)]
    text = units.decode("utf-16-le", errors="surrogatepass")
    if len(text) != n:  # surrogate pairs were combined, or pdfium returned fewer units
        text = "".join(map(chr, buf[:n]))
    return text, n


def _map_errors(textpage: Any, n: int, sample_size: int) -> float:
    """Share of (a sample of ``sample_size``) the page's characters that have no Unicode
    mapping."""
    import pypdfium2.raw as pdfium_c

    if n == 0:
        return 0.0
    step = max(1, n // sample_size)
    sample = range(0, n, step)
    errors = sum(1 for i in sample if pdfium_c.FPDFText_HasUnicodeMapError(textpage, i) == 1)
    return errors / len(sample)


#: A word as read from pdfium: (start, end, left, right, bottom, top, direction), PDF
#: coordinates; direction "h" runs left to right, "v" top to bottom, "u" bottom to top,
#: "?" for a single character.
_RawWord = tuple[int, int, float, float, float, float, str]
_Box = tuple[float, float, float, float]


def _raw_words(textpage: Any, text: str, crop: _Box) -> list[_RawWord]:
    """Visible words of the page text, boxed by their first and last characters' boxes."""
    import pypdfium2.raw as pdfium_c

    rect = pdfium_c.FS_RECTF()
    get_box = pdfium_c.FPDFText_GetLooseCharBox
    c_left, c_bottom, c_right, c_top = crop
    words: list[_RawWord] = []
    append = words.append
    for m in _WORD.finditer(text):
        a, b = m.span()
        get_box(textpage, a, rect)
        left, right, bottom, top = rect.left, rect.right, rect.bottom, rect.top
        direction = "?"  # one character: the direction of the page
        if b - a > 1:
            cx, cy = left + right, bottom + top
            get_box(textpage, b - 1, rect)
            dx = rect.left + rect.right - cx
            dy = rect.bottom + rect.top - cy
            direction = "h" if abs(dx) >= abs(dy) else "v" if dy < 0 else "u"
            left, right = min(left, rect.left), max(right, rect.right)
            bottom, top = min(bottom, rect.bottom), max(top, rect.top)
        if right > c_left and left < c_right and top > c_bottom and bottom < c_top:
            append((a, b, left, right, bottom, top, direction))
    return words


def _to_frame(words: list[_RawWord], direction: str, crop: _Box) -> list[Word]:
    """Boxes in the reading frame of ``direction`` (lines run along x, follow down y)."""
    left, bottom, right, top = crop
    if direction == "v":  # columns top to bottom, right to left
        return [
            Word(top - t, top - b, right - r, right - lf, s, e) for s, e, lf, r, b, t, _ in words
        ]
    if direction == "u":  # text rotated to run upwards, columns left to right
        return [
            Word(b - bottom, t - bottom, lf - left, r - left, s, e)
            for s, e, lf, r, b, t, _ in words
        ]
    return [Word(lf - left, r - left, top - t, top - b, s, e) for s, e, lf, r, b, t, _ in words]


def _table_lines(found: list[tables.Table], words: list[_RawWord], crop: _Box) -> list[Line]:
    """One line per row of each ruled table (``cell | cell``), placed where the table is,
    in the page's reading frame; the words inside the table are taken out of ``words``."""
    left, _, _, top = crop
    lines: list[Line] = []
    for table in found:
        t_left, t_bottom, t_right, t_top = table.pdf_bbox
        inside = [
            w
            for w in words
            if t_left <= (w[2] + w[3]) / 2 <= t_right and t_bottom <= (w[4] + w[5]) / 2 <= t_top
        ]
        if not inside:
            continue
        first = min(w[0] for w in inside)
        taken = {id(w) for w in inside}
        words[:] = [w for w in words if id(w) not in taken]
        rows = [r for r in table.text.split("\n") if r.strip()]
        y0, y1 = top - t_top, top - t_bottom
        step = (y1 - y0) / max(len(rows), 1)
        for k, row in enumerate(rows):
            ry0 = y0 + k * step
            # zero-width words: they only carry the table's place in the page text
            word = Word(t_left - left, t_right - left, ry0, ry0 + step, first, first)
            lines.append(
                Line([word], row, word.x0, word.x1, ry0, ry0 + step, table=True, ruled=True)
            )
    return lines


def _layout(
    words: list[_RawWord],
    text: str,
    crop: _Box,
    found: list[tables.Table] | None = None,
    cfg: LayoutSettings | None = None,
) -> tuple[list[Block], list[Block], float]:
    """Main blocks in reading order, aside blocks, and the page height in the reading frame.

    ``found``: ruled tables of the page (``tables.py``), read row by row in their place."""
    cfg = cfg or LayoutSettings()
    weight = {"h": 0, "v": 0, "u": 0, "?": 0}
    for w in words:
        weight[w[6]] += w[1] - w[0]
    main = max(("h", "v", "u"), key=lambda k: weight[k])
    left, bottom, right, top = crop
    height = (right - left) if main == "v" else (top - bottom)
    ours = [w for w in words if w[6] == main or w[6] == "?"]
    ruled = _table_lines(found, ours, crop) if found and main == "h" else []
    lines = build_lines(_to_frame(ours, main, crop), text, cfg)
    geometric = runs_across_columns(lines)
    if ruled:
        lines = sorted([*lines, *ruled], key=lambda ln: ln.words[0].start)
    blocks = order_blocks(
        group_blocks(merge_table_rows(lines, cfg), cfg), geometric=geometric, cfg=cfg
    )
    aside: list[Block] = []
    for other in ("h", "v", "u"):
        ws = [w for w in words if w[6] == other] if other != main and weight[other] else []
        if ws:
            side = build_lines(_to_frame(ws, other, crop), text, cfg)
            aside.extend(order_blocks(group_blocks(side, cfg), cfg=cfg))
    return blocks, aside, height


# ----------------------------------------------------------------------- paragraphs


def _cjk_char_width(line: Line, text: str) -> float:
    """Width of the first word of ``line``; one character's width for Japanese."""
    w = line.words[0]
    first = text[w.start : w.end]
    if first and cleaning.is_japanese(first[0]) and len(first) > 1:
        return (w.x1 - w.x0) / len(first)
    return w.x1 - w.x0


def _line_gap(lines: list[Line]) -> float:
    """The usual space between two lines of a block (median), paragraph spacing excluded."""
    gaps = sorted(b.y0 - a.y1 for a, b in pairwise(lines))
    return gaps[len(gaps) // 2] if gaps else 0.0


def _breaks_before(block: Block, prev: Line, line: Line, text: str, usual_gap: float) -> bool:
    """Whether ``line`` starts a new paragraph after ``prev`` in the same block."""
    if cleaning.starts_item(line.text):
        return True
    h = max(min(prev.height, line.height), 1e-3)
    if not 0.8 <= line.height / max(prev.height, 1e-3) <= 1.25:
        return True
    if line.y0 - prev.y1 > usual_gap + 0.3 * h:
        return True  # paragraph spacing
    room = block.x1 - prev.x1
    if room > _cjk_char_width(line, text) + 0.6 * h:
        return True  # the next line's first word would have fitted: the line ended here
    # A first-line indent starts a paragraph, unless the line before is full and does not
    # end a sentence: then the paragraph has a hanging indent ("제5조(임원) ① ..." and its
    # indented continuation lines).
    indented = line.x0 - block.x0 > 0.5 * h and prev.x0 - block.x0 < 0.3 * h
    return indented and cleaning.ends_sentence(prev.text)


_NUMBER_RUN = re.compile(r"\d{1,4}(?:\s+\d{1,4}){4,}")


def _counts_up(numbers: list[int]) -> bool:
    """Five or more numbers below 1000 that go up by one or by five (1 2 3 ..., 5 10 15)."""
    if len(numbers) < 5 or max(numbers) >= 1000:  # years are not line numbers
        return False
    steps = {b - a for a, b in pairwise(numbers)}
    return steps == {1} or steps == {5}


def _line_numbers(block: Block) -> bool:
    """A block of margin line numbers: one line "1 2 3 ... 35" (a column of numbers read
    across) or lines of one number each, counting up."""
    texts = [ln.text.strip() for ln in block.lines]
    if len(texts) == 1 and _NUMBER_RUN.fullmatch(texts[0]):
        return _counts_up([int(t) for t in texts[0].split()])
    if all(t.isdigit() and len(t) <= 4 for t in texts):
        return _counts_up([int(t) for t in texts])
    return False


def _block_paragraphs(
    block: Block, text: str, drop: set[int], hyphens: cleaning.HyphenWords
) -> list[str]:
    if _line_numbers(block):
        return []  # margin line numbers (patents, legal drafts) are not text
    lines = [ln for ln in block.lines if id(ln) not in drop]
    if not lines:
        return []
    if all(ln.table for ln in lines):
        return ["\n".join(ln.text for ln in lines)]
    paragraphs: list[str] = []
    current = lines[0].text
    usual_gap = _line_gap(lines)
    for prev, line in pairwise(lines):
        if prev.table or line.table or _breaks_before(block, prev, line, text, usual_gap):
            paragraphs.append(current)
            current = line.text
        else:
            # A space the text layer keeps at the end of a line ends a word; without one a
            # Korean line may break inside a word (korean.py decides).
            between = text[prev.words[-1].end : line.words[0].start]
            brk = " " if between[:1] == " " else korean.WRAP
            current = cleaning.join_lines(current, line.text, hyphens, korean_break=brk)
    paragraphs.append(current)
    return paragraphs


def _goes_on(paragraph: str, following: str) -> bool:
    """A paragraph cut by the end of a column: no full stop, and the next starts in lower case."""
    end = paragraph.rstrip()[-1:]
    start = following[:1]
    return (
        end.isascii()
        and (end.isalnum() or end in ",;-")
        and "\n" not in paragraph
        and start.isascii()
        and start.islower()
    )


#: Characters that end a Japanese sentence or heading: text ending otherwise at the foot of a
#: full column goes on at the top of the next.
_CJK_STOPS = "。．！？」』）)】〕：:"


def _cjk_goes_on(paragraph: str, following: str, block: Block, nxt: Block) -> bool:
    """A Japanese paragraph cut by the end of a column: its block's last line is full, it
    does not end with a stop, and the next block (beside or below) starts with Japanese
    text that is not a new item."""
    if len(block.lines) < 2 or block.lines[-1].table or nxt.lines[0].table:
        return False
    last, end, start = block.lines[-1], paragraph.rstrip()[-1:], following[:1]
    full = last.x1 >= block.x1 - last.height
    return (
        full
        and bool(end)
        and cleaning.is_japanese(end)
        and end not in _CJK_STOPS
        and bool(start)
        and cleaning.is_japanese(start)
        and not cleaning.starts_item(following)
        and abs(nxt.lines[0].height - last.height) <= 0.2 * last.height
    )


def _margin_lines(page: _PageText, margin: float) -> list[tuple[str, Line]]:
    """Lines of a page that lie in its top or bottom ``margin`` (share of its height), with
    the zone, each zone from the page's edge inwards; lines in another direction than the
    page's (side tabs) count as a zone of their own."""
    out: list[tuple[str, Line]] = []
    for block in page.aside:
        out.extend(("aside", line) for line in block.lines)
    top: list[Line] = []
    bottom: list[Line] = []
    for block in page.blocks:
        for line in block.lines:
            if line.y1 <= margin * page.height:
                top.append(line)
            elif line.y0 >= (1 - margin) * page.height:
                bottom.append(line)
    # from the edge of the page inwards
    out.extend(("top", line) for line in sorted(top, key=lambda ln: ln.y0))
    out.extend(("bottom", line) for line in sorted(bottom, key=lambda ln: -ln.y1))
    return out


# ------------------------------------------------------------------------- loading


def _open(path: Path, source: str) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise EncryptedFileError(
                f"{source}: PDF is encrypted with a password; save a decrypted copy and index that"
            ) from exc
        raise LoadError(f"{source}: damaged or not a PDF ({exc}); re-export it") from exc
    except OSError as exc:
        raise LoadError(f"{source}: cannot read ({exc}); check permissions") from exc


def _annotation_notes(page: Any) -> list[str]:
    """Contents of FreeText annotations (text boxes drawn on the page, not in its content)."""
    import pypdfium2.raw as pdfium_c

    notes: list[str] = []
    count = int(pdfium_c.FPDFPage_GetAnnotCount(page.raw))
    for i in range(count):
        annot = pdfium_c.FPDFPage_GetAnnot(page.raw, i)
        if not annot:
            continue
        try:
            if pdfium_c.FPDFAnnot_GetSubtype(annot) != _ANNOT_FREETEXT:
                continue
            size = int(pdfium_c.FPDFAnnot_GetStringValue(annot, b"Contents", None, 0))
            if size <= 2:
                continue
            buf = ctypes.create_string_buffer(size)
            pdfium_c.FPDFAnnot_GetStringValue(
                annot, b"Contents", ctypes.cast(buf, ctypes.POINTER(ctypes.c_ushort)), size
            )
            note = buf.raw[: size - 2].decode("utf-16-le", errors="replace").strip()
            if note:
                notes.append(note)
        finally:
            pdfium_c.FPDFPage_CloseAnnot(annot)
    return notes


def _ruled_tables(page: Any, textpage: Any, index: int, cfg: TableSettings) -> list[tables.Table]:
    """The page's ruled tables, where its rules form a grid (a cheap test comes first)."""
    if not tables.may_have_table(page, cfg):
        return []
    return tables.page_tables_pdfium(page, index, textpage, cfg)


def _read_page(pdf: Any, index: int, cfg: ExtractionSettings) -> tuple[_PageText, str]:
    """Layout of one page and its raw text."""
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            raw_tp = textpage.raw
            text, n = _page_text(raw_tp)
            text = _drop_generated_spaces(raw_tp, text)
            crop = page.get_bbox()  # the visible box (crop box within the media box)
            found = _ruled_tables(page, textpage, index, cfg.tables)
            try:
                words = _raw_words(raw_tp, text, crop)
                blocks, aside, height = _layout(words, text, crop, found, cfg.layout)
                result = _PageText(index + 1, height, blocks, aside)
            except (ValueError, ArithmeticError, IndexError) as exc:
                # Geometry no page should have (NaN boxes, ...): keep pdfium's own order.
                log.warning("page %d: layout failed (%s); text kept in PDF order", index + 1, exc)
                result = _PageText(index + 1, 0.0, plain=text)
            result.notes = _annotation_notes(page)
            unmapped = _map_errors(raw_tp, n, cfg.pdf_map_sample)
            result.garbage = cleaning.garbage_reason(text, map_errors=unmapped)
        finally:
            textpage.close()
    finally:
        page.close()
    return result, text


_SURROGATE = re.compile("[\ud800-\udfff]")
_JAPANESE_SPACE = re.compile(f"(?<=[{JAPANESE_TEXT}]) (?=[{JAPANESE_TEXT}])")
#: Stands in for a space that pdfium made up between two Japanese characters (letter
#: spacing, not a space in the text); it keeps character positions and is removed at the end.
_JOINER = "\u2060"


def _drop_generated_spaces(textpage: Any, text: str) -> str:
    """Replace the spaces pdfium generated between two close Japanese characters with
    ``_JOINER`` (between characters far apart, such a space ends a line or a column)."""
    import pypdfium2.raw as pdfium_c

    rect = pdfium_c.FS_RECTF()

    def centre(i: int) -> tuple[float, float, float]:
        pdfium_c.FPDFText_GetLooseCharBox(textpage, i, rect)
        size = max(rect.right - rect.left, rect.top - rect.bottom)
        return (rect.left + rect.right) / 2, (rect.bottom + rect.top) / 2, size

    spots = []
    for m in _JAPANESE_SPACE.finditer(text):
        i = m.start()
        if pdfium_c.FPDFText_IsGenerated(textpage, i) != 1:
            continue
        line_start = max(text.rfind("\n", 0, i), text.rfind("\r", 0, i)) + 1
        if cleaning.ITEM_LABEL.fullmatch(text, line_start, i):
            continue  # "１ 被告は": the space after an item number is a real one
        x1, y1, size = centre(i - 1)
        x2, y2, _ = centre(i + 1)
        if max(abs(x2 - x1), abs(y2 - y1)) < 2.5 * size:
            spots.append(i)
    if not spots:
        return text
    chars = list(text)
    for i in spots:
        chars[i] = _JOINER
    return "".join(chars)


def _fix_surrogates(text: str) -> str:
    """Pair up the halves of characters beyond the BMP that pdfium counts as two."""
    if _SURROGATE.search(text):
        return text.encode("utf-16", "surrogatepass").decode("utf-16", errors="replace")
    return text


def _ocr_text(raw: str) -> str:
    """Tesseract's lines as paragraphs (it separates paragraphs with blank lines)."""
    paragraphs = []
    for para in re.split(r"\n\s*\n", raw):
        lines = [ln.strip() for ln in para.splitlines() if ln.strip()]
        if not lines:
            continue
        joined = lines[0]
        for ln in lines[1:]:
            joined = (
                joined + "\n" + ln if cleaning.starts_item(ln) else cleaning.join_lines(joined, ln)
            )
        paragraphs.append(joined)
    return "\n\n".join(paragraphs)


def load_pdf(path: Path, source: str, settings: Settings | None = None) -> Document:
    """Load a PDF: one Page per PDF page (1-based), in reading order, furniture removed."""
    import pypdfium2 as pdfium

    settings = settings or Settings()
    pdf = _open(path, source)
    try:
        pages: list[_PageText] = []
        raw_texts: list[str] = []
        try:
            for i in range(len(pdf)):
                page, raw = _read_page(pdf, i, settings.extraction)
                pages.append(page)
                raw_texts.append(raw)
            metadata = pdf.get_metadata_dict(skip_empty=True)
        except pdfium.PdfiumError as exc:
            raise LoadError(f"{source}: damaged PDF ({exc}); re-export it") from exc
        _assemble(pages, raw_texts, settings.extraction.pdf_margin)
        for page, label in zip(pages, _pdf_labels(pdf), strict=True):
            page.label = label or page.label  # the PDF's own labels win
        _read_unreadable(pdf, pages, source, settings)
    finally:
        pdf.close()
    if not any(p.text.strip() for p in pages):
        raise LoadError(f"{source}: {_no_text_reason(pages, settings.extraction.ocr)}")
    doc_pages = tuple(Page(p.number, p.text, p.label) for p in pages)
    head = "\n".join(p.text for p in pages[:2])
    title = meta.usable_title(metadata.get("Title"), path.stem) or meta.title_from_text(head)
    date = (
        meta.date_from_text(head)
        or meta.pdf_date(metadata.get("CreationDate"))
        or meta.date_from_name(path.name)
    )
    author = meta.clean_field(metadata.get("Author")) or meta.author_from_text(head)
    return Document(
        source=source,
        format="pdf",
        pages=doc_pages,
        title=title,
        date=date,
        author=author,
    )


#: A page number printed in a margin line: "- 3 -", "3", "Page 4", "28 国土交通白書 2025".
_PRINTED_NUMBER = (
    re.compile(r"[-–—]?\s*(\d{1,4})\s*[-–—]?"),
    re.compile(r"(\d{1,4})\s+\S.*"),
    re.compile(r".*\S\s+(\d{1,4})"),
    re.compile(r".*\b(?:page|p\.)\s*(\d{1,4})\b.*", re.IGNORECASE),
)


def _printed_labels(margins: list[list[tuple[str, Line]]]) -> list[str | None]:
    """The page number printed on each page, where it differs from the PDF page number.

    Numbers in margin lines are candidates; the offset (printed minus PDF page) that most
    pages agree on, on at least two pages and a third of those with candidates, is taken,
    and a page gets a label where it prints the number that offset gives. Years and other
    numbers in running footers do not line up with the pages and are not taken.
    """
    candidates: list[set[int]] = []
    for margin in margins:
        found: set[int] = set()
        for zone, line in margin:
            if zone == "aside":
                continue
            for pattern in _PRINTED_NUMBER:
                m = pattern.fullmatch(line.text.strip())
                if m:
                    found.add(int(m.group(1)))
        candidates.append(found)
    offsets: dict[int, int] = {}
    for number, found in enumerate(candidates, start=1):
        for o in {n - number for n in found}:
            offsets[o] = offsets.get(o, 0) + 1
    with_numbers = sum(1 for c in candidates if c)
    if not offsets:
        return [None] * len(margins)
    offset, count = max(offsets.items(), key=lambda kv: (kv[1], -abs(kv[0])))
    if offset == 0 or count < max(2, with_numbers / 3):
        return [None] * len(margins)
    return [
        str(number + offset) if number + offset in found and number + offset > 0 else None
        for number, found in enumerate(candidates, start=1)
    ]


def _pdf_labels(pdf: Any) -> list[str | None]:
    """The PDF's own page labels (/PageLabels: "iii", "A-2"), where they differ from the
    page number."""
    import pypdfium2.raw as pdfium_c

    labels: list[str | None] = []
    for i in range(len(pdf)):
        size = int(pdfium_c.FPDF_GetPageLabel(pdf.raw, i, None, 0))
        label = None
        if size > 2:
            buf = ctypes.create_string_buffer(size)
            pdfium_c.FPDF_GetPageLabel(pdf.raw, i, buf, size)
            label = buf.raw[: size - 2].decode("utf-16-le", errors="replace").strip() or None
        labels.append(None if label == str(i + 1) else label)
    return labels


def _assemble(pages: list[_PageText], raw_texts: list[str], margin_share: float) -> None:
    """Set each page's text (furniture dropped, paragraphs joined) and printed label;
    running headers and footers are looked for in ``margin_share`` of the page height."""
    margins = [_margin_lines(p, margin_share) for p in pages]
    for page, label in zip(pages, _printed_labels(margins), strict=True):
        page.label = label
    drops = cleaning.repeated_margin_lines([[(z, ln.text) for z, ln in m] for m in margins])
    hyphens = cleaning.HyphenWords(raw_texts)
    for page, margin, drop_idx, raw in zip(pages, margins, drops, raw_texts, strict=True):
        if page.garbage:
            continue
        drop = {id(margin[i][1]) for i in drop_idx}
        paragraphs: list[str] = [page.plain] if page.plain else []
        previous: Block | None = None
        for block in [*page.blocks, *page.aside]:
            more = _block_paragraphs(block, raw, drop, hyphens)
            if (
                more
                and paragraphs
                and previous is not None
                and (
                    _goes_on(paragraphs[-1], more[0])
                    or _cjk_goes_on(paragraphs[-1], more[0], previous, block)
                )
            ):
                more[0] = cleaning.join_lines(paragraphs.pop(), more[0], hyphens)
            paragraphs.extend(more)
            if more:
                previous = block
        paragraphs.extend(page.notes)
        text = "\n\n".join(p for p in paragraphs if p.strip())
        text = _fix_surrogates(text).replace(_JOINER, "")
        text = cleaning.tighten_japanese(korean.resolve_wraps(text))
        page.text = cleaning.normalize(text, presentation=True)


def _read_unreadable(pdf: Any, pages: list[_PageText], source: str, settings: Settings) -> None:
    """OCR the pages that have no usable text, where OCR is installed and turned on."""
    todo = [p for p in pages if not p.text.strip()]
    if not todo:
        return
    cfg = settings.extraction.ocr
    if not ocr.enabled(cfg):
        log.info(
            "%s: %d page(s) without usable text (%s): %s",
            source,
            len(todo),
            ocr.unavailable_note(cfg),
            ", ".join(str(p.number) for p in todo[:20]),
        )
        return
    from ..language import detect_document_language

    doc_lang = detect_document_language((p.text for p in pages if p.text), settings.language)
    langs = ocr.langs_for(doc_lang if doc_lang in ("ko", "ja", "en") else None, cfg)
    for p in todo:
        page = pdf[p.number - 1]
        try:
            text = _ocr_text(ocr.page_to_text(page, langs, cfg))
        finally:
            page.close()
        p.text = cleaning.normalize(text, presentation=True)
        if p.text:
            p.garbage = None
        log.info("%s: page %d read by OCR (%s)", source, p.number, langs)


def _no_text_reason(pages: list[_PageText], cfg: OcrSettings) -> str:
    garbage = next((p.garbage for p in pages if p.garbage), None)
    if ocr.enabled(cfg):
        return "no text found, not even by OCR; check that the PDF shows text"
    note = ocr.unavailable_note(cfg)
    if garbage:
        return (
            f"the text layer is garbage ({garbage}) and {note}; install OCR or re-export "
            "the PDF with its fonts"
        )
    return f"no text layer (a scanned or image-only PDF?) and {note}"
