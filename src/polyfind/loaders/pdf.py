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
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .. import cleaning
from ..errors import EncryptedFileError, LoadError
from ..records import Document, Page
from . import meta, ocr
from .layout import Block, Line, Word, build_lines, group_blocks, merge_table_rows, order_blocks

log = logging.getLogger(__name__)

#: A word; pdfium marks a word hyphenated across two lines with U+FFFE where the hyphen was
#: ("ef\ufffeficient"), and the word is cut there, as on the page.
_WORD = re.compile(r"[^\s\ufffe]+\ufffe?|\ufffe")
#: Margins (share of the page height) where running headers and footers are looked for.
MARGIN = 0.1
#: Characters sampled per page to measure how many have no Unicode mapping.
MAP_SAMPLE = 200
#: Minimum share of a word's characters, in the page's writing direction, to call it vertical.
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


def _map_errors(textpage: Any, n: int) -> float:
    """Share of (a sample of) the page's characters that have no Unicode mapping."""
    import pypdfium2.raw as pdfium_c

    if n == 0:
        return 0.0
    step = max(1, n // MAP_SAMPLE)
    sample = range(0, n, step)
    errors = sum(1 for i in sample if pdfium_c.FPDFText_HasUnicodeMapError(textpage, i) == 1)
    return errors / len(sample)


@dataclass(slots=True)
class _RawWord:
    start: int
    end: int
    left: float
    right: float
    bottom: float
    top: float
    direction: str  # "h" left to right, "v" top to bottom, "u" bottom to top


def _raw_words(textpage: Any, text: str) -> Iterator[_RawWord]:
    """Words of the page text with the union of their first and last characters' boxes."""
    import pypdfium2.raw as pdfium_c

    rect = pdfium_c.FS_RECTF()
    get_box = pdfium_c.FPDFText_GetLooseCharBox
    direction = "h"
    for m in _WORD.finditer(text):
        a, b = m.start(), m.end() - 1
        get_box(textpage, a, rect)
        l1, r1, b1, t1 = rect.left, rect.right, rect.bottom, rect.top
        if b == a:
            yield _RawWord(a, b + 1, l1, r1, b1, t1, direction)
            continue
        get_box(textpage, b, rect)
        l2, r2, b2, t2 = rect.left, rect.right, rect.bottom, rect.top
        dx = (l2 + r2) - (l1 + r1)
        dy = (b2 + t2) - (b1 + t1)
        if abs(dx) >= abs(dy):
            direction = "h"
        else:
            direction = "v" if dy < 0 else "u"
        yield _RawWord(a, b + 1, min(l1, l2), max(r1, r2), min(b1, b2), max(t1, t2), direction)


def _visible(w: _RawWord, page: tuple[float, float, float, float]) -> bool:
    """Whether a word lies (at least partly) inside the page's crop box."""
    left, bottom, right, top = page
    return w.right > left and w.left < right and w.top > bottom and w.bottom < top


def _to_frame(w: _RawWord, direction: str, page: tuple[float, float, float, float]) -> Word:
    """A word's box in the reading frame of ``direction`` (lines run along x, follow down y)."""
    left, bottom, right, top = page
    if direction == "v":  # columns top to bottom, right to left
        return Word(top - w.top, top - w.bottom, right - w.right, right - w.left, w.start, w.end)
    if direction == "u":  # text rotated to run upwards, columns left to right
        return Word(w.bottom - bottom, w.top - bottom, w.left - left, w.right - left, w.start, w.end)
    return Word(w.left - left, w.right - left, top - w.top, top - w.bottom, w.start, w.end)


def _layout(
    words: list[_RawWord], text: str, page: tuple[float, float, float, float]
) -> tuple[list[Block], list[Block], float]:
    """Main blocks in reading order, aside blocks, and the page height in the reading frame."""
    weight = {"h": 0, "v": 0, "u": 0}
    for w in words:
        weight[w.direction] += w.end - w.start
    main = max(weight, key=lambda k: weight[k])
    frame_words: list[Word] = []
    other: dict[str, list[Word]] = {}
    for w in words:
        if w.direction == main:
            frame_words.append(_to_frame(w, main, page))
        else:
            other.setdefault(w.direction, []).append(_to_frame(w, w.direction, page))
    left, bottom, right, top = page
    height = (right - left) if main == "v" else (top - bottom)
    blocks = order_blocks(group_blocks(merge_table_rows(build_lines(frame_words, text))))
    aside: list[Block] = []
    for ws in other.values():
        aside.extend(order_blocks(group_blocks(build_lines(ws, text))))
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
    gaps = sorted(b.y0 - a.y1 for a, b in zip(lines, lines[1:], strict=False))
    return gaps[len(gaps) // 2] if gaps else 0.0


def _breaks_before(
    block: Block, prev: Line, line: Line, text: str, usual_gap: float
) -> bool:
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
    return line.x0 - block.x0 > 0.5 * h and prev.x0 - block.x0 < 0.3 * h  # first-line indent


def _block_paragraphs(
    block: Block, text: str, drop: set[int], hyphens: cleaning.HyphenWords
) -> list[str]:
    lines = [ln for ln in block.lines if id(ln) not in drop]
    if not lines:
        return []
    if all(ln.table for ln in lines):
        return ["\n".join(ln.text for ln in lines)]
    paragraphs: list[str] = []
    current = lines[0].text
    usual_gap = _line_gap(lines)
    for prev, line in zip(lines, lines[1:], strict=False):
        if prev.table or line.table or _breaks_before(block, prev, line, text, usual_gap):
            paragraphs.append(current)
            current = line.text
        else:
            current = cleaning.join_lines(current, line.text, hyphens)
    paragraphs.append(current)
    return paragraphs


def _goes_on(paragraph: str, following: str) -> bool:
    """A paragraph cut by the end of a column: no full stop, and the next starts in lower case."""
    end = paragraph.rstrip()[-1:]
    return (
        bool(end)
        and (end.isalnum() or end in ",;-")
        and "\n" not in paragraph
        and following[:1].islower()
    )


def _margin_lines(page: _PageText) -> list[tuple[str, Line]]:
    """Lines of a page that lie in its top or bottom margin, with the zone."""
    out: list[tuple[str, Line]] = []
    for block in page.blocks:
        for line in block.lines:
            if line.y1 <= MARGIN * page.height:
                out.append(("top", line))
            elif line.y0 >= (1 - MARGIN) * page.height:
                out.append(("bottom", line))
    return out


# ------------------------------------------------------------------------- loading


def _open(path: Path, source: str) -> Any:
    import pypdfium2 as pdfium

    try:
        return pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        if "password" in str(exc).lower():
            raise EncryptedFileError(
                f"{source}: PDF is encrypted with a password; save a decrypted copy and "
                "index that"
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


def _read_page(pdf: Any, index: int) -> tuple[_PageText, str]:
    """Layout of one page and its raw text."""
    page = pdf[index]
    try:
        textpage = page.get_textpage()
        try:
            raw_tp = textpage.raw
            text, n = _page_text(raw_tp)
            box = page.get_cropbox()
            words = [w for w in _raw_words(raw_tp, text) if _visible(w, box)]
            blocks, aside, height = _layout(words, text, box)
            result = _PageText(index + 1, height, blocks, aside, _annotation_notes(page))
            result.garbage = cleaning.garbage_reason(text, map_errors=_map_errors(raw_tp, n))
        finally:
            textpage.close()
    finally:
        page.close()
    return result, text


def _fix_surrogates(text: str) -> str:
    if any(0xD800 <= ord(ch) <= 0xDFFF for ch in text):
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


def load_pdf(path: Path, source: str) -> Document:
    """Load a PDF: one Page per PDF page (1-based), in reading order, furniture removed."""
    import pypdfium2 as pdfium

    pdf = _open(path, source)
    try:
        pages: list[_PageText] = []
        raw_texts: list[str] = []
        try:
            for i in range(len(pdf)):
                page, raw = _read_page(pdf, i)
                pages.append(page)
                raw_texts.append(raw)
            metadata = pdf.get_metadata_dict(skip_empty=True)
        except pdfium.PdfiumError as exc:
            raise LoadError(f"{source}: damaged PDF ({exc}); re-export it") from exc
        _assemble(pages, raw_texts)
        _read_unreadable(pdf, pages, source)
    finally:
        pdf.close()
    if not any(p.text.strip() for p in pages):
        raise LoadError(f"{source}: {_no_text_reason(pages)}")
    doc_pages = tuple(Page(p.number, p.text) for p in pages)
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


def _assemble(pages: list[_PageText], raw_texts: list[str]) -> None:
    """Set each page's text: furniture dropped, paragraphs joined, NFKC applied."""
    margins = [_margin_lines(p) for p in pages]
    drops = cleaning.repeated_margin_lines([[(z, ln.text) for z, ln in m] for m in margins])
    hyphens = cleaning.HyphenWords(raw_texts)
    for page, margin, drop_idx, raw in zip(pages, margins, drops, raw_texts, strict=True):
        if page.garbage:
            continue
        drop = {id(margin[i][1]) for i in drop_idx}
        paragraphs: list[str] = []
        for block in [*page.blocks, *page.aside]:
            more = _block_paragraphs(block, raw, drop, hyphens)
            if more and paragraphs and _goes_on(paragraphs[-1], more[0]):
                more[0] = cleaning.join_lines(paragraphs.pop(), more[0], hyphens)
            paragraphs.extend(more)
        paragraphs.extend(page.notes)
        text = "\n\n".join(p for p in paragraphs if p.strip())
        page.text = cleaning.normalize(_fix_surrogates(text), compatibility=True)


def _read_unreadable(pdf: Any, pages: list[_PageText], source: str) -> None:
    """OCR the pages that have no usable text, where OCR is installed."""
    todo = [p for p in pages if not p.text.strip()]
    if not todo:
        return
    if not ocr.enabled():
        log.info(
            "%s: %d page(s) without usable text (%s): %s",
            source,
            len(todo),
            ocr.unavailable_note(),
            ", ".join(str(p.number) for p in todo[:20]),
        )
        return
    from ..language import detect_document_language

    doc_lang = detect_document_language(p.text for p in pages if p.text)
    langs = ocr.langs_for(doc_lang if doc_lang in ("ko", "ja", "en") else None)
    for p in todo:
        page = pdf[p.number - 1]
        try:
            text = _ocr_text(ocr.page_to_text(page, langs))
        finally:
            page.close()
        p.text = cleaning.normalize(text, compatibility=True)
        if p.text:
            p.garbage = None
        log.info("%s: page %d read by OCR (%s)", source, p.number, langs)


def _no_text_reason(pages: list[_PageText]) -> str:
    garbage = next((p.garbage for p in pages if p.garbage), None)
    if ocr.enabled():
        return "no text found, not even by OCR; check that the PDF shows text"
    note = ocr.unavailable_note()
    if garbage:
        return (
            f"the text layer is garbage ({garbage}) and {note}; install OCR or re-export "
            "the PDF with its fonts"
        )
    return f"no text layer (a scanned or image-only PDF?) and {note}"
