"""Turn a file into a Document: pages of extracted text with 1-based page numbers.

Plain text (.txt, .md) is one page with ``number=None``; its line numbers are the file's own.
PDFs are read with pypdfium2 (pdfplumber's own backend): measured on the corpus PDFs it
extracts about 460 pages/s against about 10 for ``pdfplumber.Page.extract_text`` and keeps
two-column pages in reading order (BENCHMARKS.md).
"""

from __future__ import annotations

import codecs
import re
import unicodedata
from pathlib import Path

from .errors import EncryptedFileError, LoadError
from .records import Document, Page

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+\n")
_DATE_LINE = re.compile(
    r"(?:발간일|발행일|작성일|公開日|発行日|抄訳記事公開日|Date|Published)\s*[:：]?\s*\n?\s*"
    r"(\d{4})[-./年]\s?(\d{1,2})[-./月]\s?(\d{1,2})"
)
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?:-(\d{2}))?(?!\d)")
_HEADING = re.compile(r"^#{1,3}\s+(.+?)\s*#*\s*$", re.MULTILINE)


def decode_text(data: bytes, source: str) -> str:
    """Decode UTF-8 (with or without BOM) or BOM-marked UTF-16/32."""
    for bom, encoding in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(encoding)
            except UnicodeDecodeError as exc:
                raise LoadError(f"{source}: damaged {encoding} text ({exc.reason})") from exc
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise LoadError(
            f"{source}: not UTF-8 text (byte {exc.start}); convert it to UTF-8 and index again"
        ) from exc


def clean_text(text: str, *, compatibility: bool = False) -> str:
    """Normalise line ends, Unicode form and stray control characters.

    Newlines are kept where they were so that line numbers stay those of the source.
    ``compatibility`` applies NFKC (ligatures, full-width Latin, circled digits) as PDFs need.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFKC" if compatibility else "NFC", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return text.rstrip() + "\n" if text.strip() else ""


def _date_from(text: str, name: str) -> str | None:
    head = text[:4000]
    m = _DATE_LINE.search(head)
    if m:
        y, mo, d = m.groups()
        return f"{y}-{int(mo):02d}-{int(d):02d}"
    m = _DATE_IN_NAME.search(name)
    if m:
        y, mo, d = m.groups()
        return f"{y}-{mo}-{d}" if d else f"{y}-{mo}"
    return None


def _front_matter_title(text: str) -> str | None:
    if not text.startswith("---\n"):
        return None
    end = text.find("\n---", 4)
    if end < 0:
        return None
    import yaml

    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError:
        return None
    title = meta.get("title") if isinstance(meta, dict) else None
    return " ".join(str(title).split()) if title else None


def _is_title_like(line: str) -> bool:
    letters = sum(ch.isalpha() for ch in line)
    return (
        letters >= 4
        and len(line) >= 8
        and not line.endswith((":", "："))
        and not (line.startswith("[") and line.endswith("]"))
    )


def _title_from(text: str) -> str | None:
    """Front-matter title, else an early Markdown heading, else a line that reads like one."""
    title = _front_matter_title(text)
    if title:
        return title[:200]
    head = [ln.strip() for ln in text[:4000].splitlines() if ln.strip()][:20]
    for line in head[:5]:
        m = _HEADING.match(line)
        if m:
            return m.group(1).strip()[:200]
    for line in head:
        if _is_title_like(line):
            return line.lstrip("# ")[:200]
    return None


def load_text(path: Path, source: str) -> Document:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{source}: cannot read ({exc.strerror}); check permissions") from exc
    if b"\x00" in data[:4096] and not data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        raise LoadError(f"{source}: binary data, not text; remove it or rename it")
    text = clean_text(decode_text(data, source))
    fmt = "markdown" if path.suffix.lower() == ".md" else "text"
    return Document(
        source=source,
        format=fmt,
        pages=(Page(None, text),),
        title=_title_from(text),
        date=_date_from(text, path.name),
    )


def _pdf_date(raw: str | None) -> str | None:
    if not raw:
        return None
    m = re.search(r"(\d{4})(\d{2})(\d{2})", raw)
    return f"{m.group(1)}-{m.group(2)}-{m.group(3)}" if m else None


def load_pdf(path: Path, source: str) -> Document:
    import pypdfium2 as pdfium

    try:
        pdf = pdfium.PdfDocument(str(path))
    except pdfium.PdfiumError as exc:
        msg = str(exc).lower()
        if "password" in msg:
            raise EncryptedFileError(
                f"{source}: PDF is encrypted with a password; save a decrypted copy and index that"
            ) from exc
        raise LoadError(f"{source}: damaged or not a PDF ({exc}); re-export it") from exc
    except OSError as exc:
        raise LoadError(f"{source}: cannot read ({exc}); check permissions") from exc
    try:
        pages = []
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            try:
                raw = textpage.get_text_range()
            finally:
                textpage.close()
                page.close()
            pages.append(Page(i + 1, clean_text(raw, compatibility=True)))
        meta = pdf.get_metadata_dict(skip_empty=True)
    except pdfium.PdfiumError as exc:
        raise LoadError(f"{source}: damaged PDF ({exc}); re-export it") from exc
    finally:
        pdf.close()
    text_head = "".join(p.text for p in pages[:2])
    title = (meta.get("Title") or "").strip() or _title_from(text_head)
    date = _pdf_date(meta.get("CreationDate")) or _date_from(text_head, path.name)
    return Document(source=source, format="pdf", pages=tuple(pages), title=title, date=date)


def load(path: Path, source: str) -> Document:
    """Load one file; raises LoadError (with the source and what to do) when it cannot."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return load_pdf(path, source)
    if suffix in (".txt", ".md"):
        return load_text(path, source)
    raise LoadError(f"{source}: unsupported file type {suffix or '(none)'}")
