"""OCR for PDF pages without a usable text layer: tesseract through pytesseract.

Installed with ``make install-ocr`` (Debian's tesseract-ocr with the kor, jpn and eng
models, and the pytesseract binding). Pages are rendered with pypdfium2 and read as
``OcrSettings`` says (300 dpi, page segmentation mode 6: one uniform block of text, which
Korean needs; in the default automatic mode tesseract splits Hangul lines into fragments).
``OcrSettings.enabled=False`` (``POLYFIND_OCR=0``) turns OCR off even where it is installed.
"""

from __future__ import annotations

import functools
import logging
import shutil
from typing import Any

from ..settings import OcrSettings

log = logging.getLogger(__name__)

INSTALL_HINT = "OCR is not installed (run `make install-ocr`)"
OFF_NOTE = "OCR is turned off (POLYFIND_OCR=0)"


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


def enabled(cfg: OcrSettings | None = None) -> bool:
    """OCR is turned on and installed (tesseract with at least one of ``cfg.languages``)."""
    cfg = cfg or OcrSettings()
    return cfg.enabled and any(lang in _installed_langs() for lang in cfg.languages)


def unavailable_note(cfg: OcrSettings | None = None) -> str:
    """What to tell the user when a page needed OCR and did not get it."""
    cfg = cfg or OcrSettings()
    return INSTALL_HINT if cfg.enabled else OFF_NOTE


def langs_for(doc_lang: str | None, cfg: OcrSettings | None = None) -> str:
    """Tesseract's language list for a document language (English is always added)."""
    cfg = cfg or OcrSettings()
    installed = _installed_langs()
    wanted = {"ko": ("kor", "eng"), "ja": ("jpn", "eng"), "en": ("eng",)}.get(
        doc_lang or "", cfg.languages
    )
    langs = [lang for lang in wanted if lang in installed]
    return "+".join(langs or [lang for lang in cfg.languages if lang in installed])


def image_to_text(image: Any, langs: str, cfg: OcrSettings | None = None) -> str:
    """Text of a PIL image, lines as tesseract reads them."""
    import pytesseract

    config = (cfg or OcrSettings()).tesseract_config
    return str(pytesseract.image_to_string(image, lang=langs, config=config))


def render_scale(width_pt: float, height_pt: float, cfg: OcrSettings | None = None) -> float:
    """Scale for rendering a page of this size: ``cfg.render_dpi``, or less when that would
    pass ``cfg.max_render_pixels``."""
    cfg = cfg or OcrSettings()
    scale = cfg.render_dpi / 72
    pixels = max(width_pt, 1.0) * max(height_pt, 1.0) * scale * scale
    if pixels > cfg.max_render_pixels:
        scale *= (cfg.max_render_pixels / pixels) ** 0.5
    return scale


def page_to_text(page: Any, langs: str, cfg: OcrSettings | None = None) -> str:
    """Render a pypdfium2 page (``render_scale``) and read it."""
    width, height = page.get_size()
    bitmap = page.render(scale=render_scale(width, height, cfg), grayscale=True)
    try:
        image = bitmap.to_pil()
        return image_to_text(image, langs, cfg)
    finally:
        bitmap.close()
