"""OCR for PDF pages without a usable text layer: tesseract through pytesseract.

Installed with ``make install-ocr`` (Debian's tesseract-ocr with the kor, jpn and eng
models, and the pytesseract binding). Pages are rendered with pypdfium2 at 300 dpi and read
with page segmentation mode 6 (one uniform block of text), which Korean needs: in the
default automatic mode tesseract splits Hangul lines into fragments. Setting
``POLYFIND_OCR=0`` turns OCR off even where it is installed.
"""

from __future__ import annotations

import functools
import logging
import os
import shutil
from typing import Any

log = logging.getLogger(__name__)

#: Languages tried on a page when nothing else in the document says which one it is.
DEFAULT_LANGS = ("kor", "jpn", "eng")
RENDER_DPI = 300
#: Largest rendering, in pixels: an A4 page at 300 dpi is 8.7 million; a page declaring a
#: huge size is rendered at a lower resolution rather than exhausting memory.
MAX_RENDER_PIXELS = 40_000_000
CONFIG = "--psm 6"

INSTALL_HINT = "OCR is not installed (run `make install-ocr`)"


@functools.lru_cache(maxsize=1)
def _installed_langs() -> tuple[str, ...]:
    if shutil.which("tesseract") is None:
        return ()
    try:
        import pytesseract
    except ImportError:
        return ()
    try:
        return tuple(str(x) for x in pytesseract.get_languages(config=""))
    except Exception:  # a broken tesseract install is the same as none
        log.warning("tesseract is installed but does not run", exc_info=True)
        return ()


def enabled() -> bool:
    """OCR is installed (tesseract with at least one of kor/jpn/eng) and not turned off."""
    if os.environ.get("POLYFIND_OCR", "1").strip().lower() in ("0", "false", "no", "off"):
        return False
    return any(lang in _installed_langs() for lang in DEFAULT_LANGS)


def unavailable_note() -> str:
    """What to tell the user when a page needed OCR and did not get it."""
    if os.environ.get("POLYFIND_OCR", "1").strip().lower() in ("0", "false", "no", "off"):
        return "OCR is turned off (POLYFIND_OCR=0)"
    return INSTALL_HINT


def langs_for(doc_lang: str | None) -> str:
    """Tesseract's language list for a document language (English is always added)."""
    installed = _installed_langs()
    wanted = {"ko": ("kor", "eng"), "ja": ("jpn", "eng"), "en": ("eng",)}.get(
        doc_lang or "", DEFAULT_LANGS
    )
    langs = [lang for lang in wanted if lang in installed]
    return "+".join(langs or [lang for lang in DEFAULT_LANGS if lang in installed])


def image_to_text(image: Any, langs: str) -> str:
    """Text of a PIL image, lines as tesseract reads them."""
    import pytesseract

    return str(pytesseract.image_to_string(image, lang=langs, config=CONFIG))


def render_scale(width_pt: float, height_pt: float) -> float:
    """Scale for rendering a page of this size: ``RENDER_DPI``, or less when that would pass
    ``MAX_RENDER_PIXELS``."""
    scale = RENDER_DPI / 72
    pixels = max(width_pt, 1.0) * max(height_pt, 1.0) * scale * scale
    if pixels > MAX_RENDER_PIXELS:
        scale *= (MAX_RENDER_PIXELS / pixels) ** 0.5
    return scale


def page_to_text(page: Any, langs: str) -> str:
    """Render a pypdfium2 page at ``RENDER_DPI`` (at most ``MAX_RENDER_PIXELS``) and read it."""
    width, height = page.get_size()
    bitmap = page.render(scale=render_scale(width, height), grayscale=True)
    try:
        image = bitmap.to_pil()
        return image_to_text(image, langs)
    finally:
        bitmap.close()
