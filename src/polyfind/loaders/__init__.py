"""Turn a file into a Document: pages of extracted text, with title, date and author.

One module per family of formats: ``text`` (.txt, .md), ``pdf`` (.pdf, with ``layout`` for
reading order and ``ocr`` for pages without text), ``html`` (.html, .htm), ``office``
(.docx, .hwpx). Every loader raises LoadError (or EncryptedFileError) with a message
"<source>: what happened; what to do" when a file cannot be read. Loaders read their knobs
from the ``Settings`` they are given (``Settings.extraction``), never from the environment.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import LoadError
from ..records import Document
from ..settings import Settings
from .html import load_html
from .office import load_docx, load_hwpx
from .pdf import load_pdf
from .text import decode_text, load_text

__all__ = ["decode_text", "load"]


def load(path: Path, source: str, settings: Settings | None = None) -> Document:
    """Load one file; raises LoadError (with the source and what to do) when it cannot.
    ``settings``: the defaults when None."""
    suffix = path.suffix.lower()
    if suffix == ".pdf":
        return load_pdf(path, source, settings)
    if suffix in (".txt", ".md"):
        return load_text(path, source, settings)
    if suffix in (".html", ".htm"):
        return load_html(path, source, settings)
    if suffix == ".docx":
        return load_docx(path, source, settings)
    if suffix == ".hwpx":
        return load_hwpx(path, source, settings)
    raise LoadError(f"{source}: unsupported file type {suffix or '(none)'}")
