"""Word (.docx) and Hangul (.hwpx) documents: ZIP packages of XML, read with the stdlib.

Both are read straight from their XML parts with ``zipfile`` and ``xml.etree``: the text,
paragraph breaks and tables are all the index needs, and a dedicated library (python-docx for
Word; none is maintained for HWPX) would add a dependency without adding any of that. Running
headers and footers, footnotes and deleted (tracked) text are left out.

Paragraphs become lines separated by a blank line; table rows become one line each, their
cells separated by `` | ``. A .docx that Word saved with its page layout
(``<w:lastRenderedPageBreak/>`` marks where each page began when Word last laid it out) gets
one Page per page, numbered from 1; any other file is one Page without a number, and
citations give its line.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Iterator
from pathlib import Path
from xml.etree import ElementTree as ET

from .. import cleaning
from ..errors import EncryptedFileError, LoadError
from ..records import Document, Page
from ..settings import Settings
from . import meta

_W = "{http://schemas.openxmlformats.org/wordprocessingml/2006/main}"
_DC = "{http://purl.org/dc/elements/1.1/}"
_DCTERMS = "{http://purl.org/dc/terms/}"
_PAGE_BREAK = "\f"  # marks a page start inside the extracted paragraphs


def _local(tag: object) -> str:
    """An element's name without its namespace ("{ns}p" -> "p")."""
    name = str(tag)
    return name.rsplit("}", 1)[-1]


def _open_zip(path: Path, source: str, kind: str) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(path)
    except zipfile.BadZipFile as exc:
        if path.read_bytes()[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
            raise EncryptedFileError(
                f"{source}: {kind} file is encrypted with a password (or is an old binary "
                "file); save an unprotected copy and index that"
            ) from exc
        raise LoadError(f"{source}: damaged {kind} file (not a ZIP package); re-save it") from exc
    except OSError as exc:
        raise LoadError(f"{source}: cannot read ({exc.strerror}); check permissions") from exc


def _read_xml(zf: zipfile.ZipFile, name: str, source: str, limit: int) -> ET.Element | None:
    """The XML part ``name``; one larger than ``limit`` bytes (uncompressed) is refused: a
    ZIP bomb, not a document."""
    try:
        info = zf.getinfo(name)
    except KeyError:
        return None
    if info.file_size > limit:
        raise LoadError(f"{source}: {name} is too large to be a document part; check the file")
    try:
        return ET.fromstring(zf.read(info))
    except (ET.ParseError, zipfile.BadZipFile, OSError, RuntimeError) as exc:
        raise LoadError(f"{source}: damaged part {name} ({exc}); re-save the file") from exc


def _finish(
    paragraphs: list[str],
    source: str,
    fmt: str,
    name: str,
    title: str | None,
    date: str | None,
    author: str | None,
) -> Document:
    """A Document from extracted paragraphs (``_PAGE_BREAK`` entries split pages)."""
    pages_text: list[list[str]] = [[]]
    for para in paragraphs:
        if para == _PAGE_BREAK:
            if pages_text[-1]:
                pages_text.append([])
            continue
        if para.strip():
            pages_text[-1].append(para.strip())
    if not pages_text[-1] and len(pages_text) > 1:
        pages_text.pop()
    texts = [cleaning.normalize("\n\n".join(p)) for p in pages_text]
    if len(texts) > 1:
        pages = tuple(Page(i + 1, t) for i, t in enumerate(texts))
    else:
        pages = (Page(None, texts[0] if texts else ""),)
    head = "\n".join(t for t in texts[:2])
    return Document(
        source=source,
        format=fmt,
        pages=pages,
        title=title or meta.title_from_text(head),
        date=meta.date_from_text(head) or date or meta.date_from_name(name),
        author=author or meta.author_from_text(head),
    )


# ----------------------------------------------------------------------------- docx


def _docx_runs(p: ET.Element) -> Iterator[str]:
    """The text of a Word paragraph, piece by piece; ``_PAGE_BREAK`` where a page began."""
    for el in p.iter():
        tag = el.tag
        if tag == f"{_W}t":
            yield el.text or ""
        elif tag == f"{_W}tab":
            yield " "
        elif tag in (f"{_W}br", f"{_W}cr"):
            yield _PAGE_BREAK if el.get(f"{_W}type") == "page" else "\n"
        elif tag == f"{_W}lastRenderedPageBreak":
            yield _PAGE_BREAK
        elif tag == f"{_W}noBreakHyphen":
            yield "-"


def _docx_block(el: ET.Element, rendered: bool) -> Iterator[str]:
    """Paragraph texts (and page breaks) of a body element: a paragraph, a table, an SDT."""
    name = el.tag
    if name == f"{_W}p":
        pieces: list[str] = []
        for piece in _docx_runs(el):
            if piece == _PAGE_BREAK:
                if rendered:
                    yield "".join(pieces)
                    pieces = []
                    yield _PAGE_BREAK
                continue
            pieces.append(piece)
        yield "".join(pieces)
    elif name == f"{_W}tbl":
        for row in el.iter(f"{_W}tr"):
            cells = []
            for cell in row.findall(f"{_W}tc"):
                texts = [t for p in cell.iter(f"{_W}p") for t in _docx_block(p, False) if t.strip()]
                cells.append(" ".join(" ".join(texts).split()))
            yield " | ".join(cells)
    else:  # structured document tags, custom XML: whatever they hold
        for child in el:
            yield from _docx_block(child, rendered)


def _core_properties(
    zf: zipfile.ZipFile, source: str, limit: int
) -> tuple[str | None, str | None, str | None]:
    """(title, date, author) from docProps/core.xml."""
    core = _read_xml(zf, "docProps/core.xml", source, limit)
    if core is None:
        return None, None, None
    title = meta.clean_field(core.findtext(f"{_DC}title"))
    author = meta.clean_field(core.findtext(f"{_DC}creator"))
    stamp = core.findtext(f"{_DCTERMS}created") or core.findtext(f"{_DCTERMS}modified") or ""
    m = re.match(r"(\d{4})-(\d{2})-(\d{2})", stamp)
    return title, (meta.iso_date(*m.groups()) if m else None), author


def load_docx(path: Path, source: str, settings: Settings | None = None) -> Document:
    limit = (settings or Settings()).extraction.max_part_bytes
    with _open_zip(path, source, "Word") as zf:
        body_root = _read_xml(zf, "word/document.xml", source, limit)
        if body_root is None:
            raise LoadError(f"{source}: not a Word document (no word/document.xml); re-save it")
        body = body_root.find(f"{_W}body")
        if body is None:
            raise LoadError(f"{source}: Word document without a body; re-save it")
        rendered = body.find(f".//{_W}lastRenderedPageBreak") is not None
        paragraphs = [t for child in body for t in _docx_block(child, rendered)]
        title, date, author = _core_properties(zf, source, limit)
    return _finish(
        paragraphs, source, "docx", path.name, meta.usable_title(title, path.stem), date, author
    )


# ----------------------------------------------------------------------------- hwpx

_HWPX_SECTION = re.compile(r"Contents/section(\d+)\.xml$")
#: Controls whose text is page furniture or notes, not body text.
_HWPX_SKIP = frozenset({"header", "footer", "footNote", "endNote", "secPr", "ctrl"})


def _hwpx_text(t: ET.Element) -> str:
    """The text of an ``<hp:t>``, with its tabs and breaks."""
    parts = [t.text or ""]
    for child in t:
        name = _local(child.tag)
        if name in ("tab", "fwSpace", "nbSpace"):
            parts.append(" ")
        elif name == "lineBreak":
            parts.append("\n")
        elif name == "hyphen":
            parts.append("-")
        parts.append(child.tail or "")
    return "".join(parts)


def _hwpx_paragraph(p: ET.Element) -> Iterator[str]:
    """A paragraph's own text, then the rows of the tables it holds."""
    own: list[str] = []
    tables: list[ET.Element] = []

    def walk(el: ET.Element) -> None:
        for child in el:
            name = _local(child.tag)
            if name == "t":
                own.append(_hwpx_text(child))
            elif name == "tbl":
                tables.append(child)
            elif name not in _HWPX_SKIP and name != "p":
                walk(child)

    walk(p)
    yield "".join(own)
    for tbl in tables:
        for row in (el for el in tbl.iter() if _local(el.tag) == "tr"):
            cells = []
            for cell in (el for el in row if _local(el.tag) == "tc"):
                texts = [
                    t
                    for para in cell.iter()
                    if _local(para.tag) == "p"
                    for t in _hwpx_paragraph(para)
                    if t.strip()
                ]
                cells.append(" ".join(" ".join(texts).split()))
            yield " | ".join(cells)


def _hwpx_section(root: ET.Element) -> Iterator[str]:
    for child in root:
        if _local(child.tag) == "p":
            yield from _hwpx_paragraph(child)


def _hwpx_meta(
    zf: zipfile.ZipFile, source: str, limit: int
) -> tuple[str | None, str | None, str | None]:
    """(title, date, author) from Contents/content.hpf (an OPF package document)."""
    root = _read_xml(zf, "Contents/content.hpf", source, limit)
    if root is None:
        return None, None, None
    title = date = author = None
    for el in root.iter():
        name = _local(el.tag)
        if name == "title" and not title:
            title = meta.clean_field(el.text)
        elif name == "meta":
            key = (el.get("name") or "").lower()
            # Hangul writes the value as the element's text (content="text" names its type)
            value = el.text if el.text and el.text.strip() else el.get("content")
            if key in ("creator", "author") and not author:
                author = meta.clean_field(value)
            elif key in ("createddate", "date", "modifieddate") and not date and value:
                m = re.match(r"(\d{4})-(\d{2})-(\d{2})", value.strip())
                date = meta.iso_date(*m.groups()) if m else None
    return title, date, author


def load_hwpx(path: Path, source: str, settings: Settings | None = None) -> Document:
    limit = (settings or Settings()).extraction.max_part_bytes
    with _open_zip(path, source, "HWPX") as zf:
        sections = sorted(
            (int(m.group(1)), name) for name in zf.namelist() if (m := _HWPX_SECTION.search(name))
        )
        if not sections:
            raise LoadError(
                f"{source}: not an HWPX document (no Contents/section0.xml); re-save it"
            )
        paragraphs: list[str] = []
        for _, name in sections:
            root = _read_xml(zf, name, source, limit)
            if root is not None:
                paragraphs.extend(_hwpx_section(root))
        title, date, author = _hwpx_meta(zf, source, limit)
    return _finish(
        paragraphs, source, "hwpx", path.name, meta.usable_title(title, path.stem), date, author
    )
