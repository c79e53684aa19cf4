"""PDF extraction: pages per CPU second, ruled-table pages, OCR character error rate.

Speed is counted in CPU seconds of this process, best of ``repeat`` runs: wall-clock time on
a shared machine moves with the other processes' load.

The character error rate: paragraphs of corpus text are drawn onto A4 pages at 300 dpi with
Noto Sans CJK, saved as image-only PDFs, read back through ``polyfind.loading.load`` (which
OCRs pages without a text layer) and compared with the drawn text: edit distance over the
reference length, whitespace ignored (the OCR's spacing is not judged).
"""

from __future__ import annotations

import contextlib
import tempfile
import time
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from unittest import mock

from .measure import best_cpu, cpu_seconds

if TYPE_CHECKING:
    from ..settings import Settings

#: Extraction methods compared, in table order.
METHODS = ("pypdfium2", "pdfplumber", "load", "load_no_tables")
#: Noto Sans CJK face in the collection: 0 Japanese, 1 Korean.
FACE = {"ja": 0, "ko": 1, "en": 0}
#: The corpus file (name without its suffix) each OCR page is drawn from, and how many of
#: its lines.
OCR_SAMPLES = {
    "ko": ("000_e733aa0cb703fbe8", 40),
    "ja": ("004_58bd91241ebf471b", 20),
    "en": ("us_wh_2024-08-09_chips_two_years_fact_sheet", 20),
}
#: OCR settings tried on the Korean page besides the defaults (ocr.py).
OCR_VARIANTS: dict[str, dict[str, Any]] = {
    "kor+eng": {"langs": "kor+eng"},
    "--psm 4": {"config": "--psm 4"},
    "200 dpi": {"dpi": 200},
}


# ------------------------------------------------------------------------------ speed
def pypdfium2_pages(path: Path) -> int:
    """Plain pypdfium2 text of every page (no layout); the page count."""
    import pypdfium2 as pdfium

    pdf = pdfium.PdfDocument(str(path))
    try:
        for i in range(len(pdf)):
            page = pdf[i]
            textpage = page.get_textpage()
            textpage.get_text_range()
            textpage.close()
            page.close()
        return len(pdf)
    finally:
        pdf.close()


def pdfplumber_pages(path: Path) -> int:
    """pdfplumber's own ``extract_text`` of every page; the page count."""
    import pdfplumber

    with pdfplumber.open(str(path)) as pdf:
        for page in pdf.pages:
            page.extract_text()
            page.close()
        return len(pdf.pages)


def load_pages(path: Path, tables: bool = True) -> int:
    """``polyfind.loading.load`` with OCR off (without reading ruled tables when not
    ``tables``: what tables cost); the page count."""
    from ..loaders import pdf as pdf_loader
    from ..loading import load
    from ..settings import Settings

    no_ocr = Settings().with_(**{"extraction.ocr.enabled": False})
    with contextlib.ExitStack() as stack:
        if not tables:
            stack.enter_context(mock.patch.object(pdf_loader, "_ruled_tables", lambda *a: []))
        return len(load(path, path.name, no_ocr).pages)


EXTRACTORS: dict[str, Callable[[Path], int]] = {
    "pypdfium2": pypdfium2_pages,
    "pdfplumber": pdfplumber_pages,
    "load": load_pages,
    "load_no_tables": lambda p: load_pages(p, tables=False),
}


def ruled_page_count(paths: Sequence[Path]) -> int:
    """Pages whose path objects form a grid of rules (``tables.ruled_pages``): the pages
    whose tables ``load`` reads."""
    import pypdfium2 as pdfium

    from ..loaders.tables import ruled_pages

    total = 0
    for path in paths:
        pdf = pdfium.PdfDocument(str(path), password="")
        try:
            total += len(ruled_pages(pdf))
        finally:
            pdf.close()
    return total


def _all_pages(extract: Callable[[Path], int], paths: Sequence[Path]) -> Callable[[], int]:
    return lambda: sum(extract(p) for p in paths)


def pdf_speed(
    paths: Sequence[Path], repeat: int = 3, methods: Sequence[str] = METHODS
) -> dict[str, Any]:
    """Pages per CPU second of each method over ``paths`` (best of ``repeat``)."""
    pages = 0
    rates: dict[str, float] = {}
    for name in methods:
        pages, seconds = best_cpu(_all_pages(EXTRACTORS[name], paths), repeat)
        rates[name] = round(pages / max(seconds, 1e-9), 1)
    return {
        "files": len(paths),
        "pages": pages,
        "ruled_pages": ruled_page_count(paths),
        "pages_per_cpu_s": rates,
    }


def table_finders(path: Path) -> dict[str, Any]:
    """The ruled-table pre-check (best of three, page load included) and the two table
    finders on the pages that pass it, in CPU seconds: pdfplumber with pdfminer
    (``find_tables``) and on pypdfium2's edges and characters (``find_tables_pdfium``)."""
    import pypdfium2 as pdfium

    from ..loaders.tables import find_tables, find_tables_pdfium, ruled_pages

    def check() -> tuple[int, list[int]]:
        pdf = pdfium.PdfDocument(str(path), password="")
        try:
            return len(pdf), ruled_pages(pdf)
        finally:
            pdf.close()

    (pages, ruled), check_s = best_cpu(check, 3)
    started = cpu_seconds()
    plumber = find_tables(path, ruled)
    plumber_s = cpu_seconds() - started
    pdf = pdfium.PdfDocument(str(path), password="")
    try:
        started = cpu_seconds()
        fast = find_tables_pdfium(pdf, ruled)
        pdfium_s = cpu_seconds() - started
    finally:
        pdf.close()
    return {
        "file": path.name,
        "pages": pages,
        "ruled_pages": len(ruled),
        "check_s": check_s,
        "pdfplumber_s": plumber_s,
        "pdfplumber_tables": sum(len(v) for v in plumber.values()),
        "pdfium_s": pdfium_s,
        "pdfium_tables": sum(len(v) for v in fast.values()),
    }


# ------------------------------------------------------------------------------ OCR
def levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str, *, letters_only: bool = False) -> float:
    """Character error rate after NFKC, whitespace ignored; ``letters_only`` also ignores
    punctuation and symbols (tesseract reads the bullets □ △ and the middle dot ・ of Korean
    reports as look-alike Hangul)."""

    def keep(ch: str) -> bool:
        return ch.isalnum() if letters_only else not ch.isspace()

    ref = "".join(filter(keep, unicodedata.normalize("NFKC", reference)))
    hyp = "".join(filter(keep, unicodedata.normalize("NFKC", hypothesis)))
    return levenshtein(ref, hyp) / max(1, len(ref))


def draw_page(text: str, lang: str, path: Path, font: Path) -> str:
    """Draw ``text`` on one A4 page at 300 dpi (about 10 pt), save it as an image-only PDF;
    the text as drawn (lines that fit)."""
    from PIL import Image, ImageDraw, ImageFont

    face = ImageFont.truetype(str(font), 42, index=FACE[lang])
    width, height, margin = 2480, 3508, 200
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    sep = "" if lang == "ja" else " "
    lines: list[str] = []
    for para in text.split("\n"):
        line = ""
        for word in list(para) if lang == "ja" else para.split(" "):
            candidate = line + sep + word if line else word
            if line and draw.textlength(candidate, font=face) > width - 2 * margin:
                lines.append(line)
                line = word
            else:
                line = candidate
        if line:
            lines.append(line)
    drawn = []
    y = margin
    for line in lines:
        if y > height - margin - 60:
            break
        draw.text((margin, y), line, font=face, fill=0)
        drawn.append(line)
        y += 64
    image.save(path, "PDF", resolution=300)
    return "\n".join(drawn)


def sample_text(corpus: Path, lang: str) -> str:
    """The first lines (over 15 characters, front matter skipped) of ``OCR_SAMPLES[lang]``."""
    stem, n_lines = OCR_SAMPLES[lang]
    (path,) = (p for p in corpus.glob(f"{stem}.*") if p.suffix in (".txt", ".md"))
    lines = [
        line.strip()
        for line in path.read_text(encoding="utf-8").splitlines()
        if len(line.strip()) > 15 and not line.startswith(("---", "title:", "date:", "source"))
    ]
    return "\n".join(lines[:n_lines])


def ocr_settings(
    langs: str | None = None, config: str | None = None, dpi: int | None = None
) -> Settings:
    """Settings that OCR with other languages, tesseract options or dpi than the defaults."""
    from ..settings import Settings

    changes: dict[str, object] = {}
    if langs is not None:
        changes["extraction.ocr.languages"] = tuple(langs.split("+"))
    if config is not None:
        changes["extraction.ocr.tesseract_config"] = config
    if dpi is not None:
        changes["extraction.ocr.render_dpi"] = dpi
    return Settings().with_(**changes)


def ocr_page(pdf: Path, drawn: str, **settings: Any) -> dict[str, Any]:
    """Read an image-only PDF through ``load`` and score it against ``drawn``."""
    from ..loading import load

    chosen = ocr_settings(**settings)
    wall, cpu = time.perf_counter(), cpu_seconds()
    text = load(pdf, pdf.name, chosen).pages[0].text
    wall, cpu = time.perf_counter() - wall, cpu_seconds() - cpu
    return {
        "characters": len("".join(drawn.split())),
        "cer": round(cer(drawn, text), 3),
        "cer_letters": round(cer(drawn, text, letters_only=True), 3),
        "seconds": round(wall, 1),
        "cpu_seconds": round(cpu, 1),
    }


def ocr_cer(
    corpus: Path,
    font: Path,
    langs: Sequence[str] = ("ko", "ja", "en"),
    variants: Mapping[str, dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """CER of one drawn page per language with ocr.py's settings; ``variants`` (name ->
    ``ocr_settings`` arguments) are also run on the first language's page."""
    from ..loaders import ocr

    if not ocr.enabled():
        raise RuntimeError(f"{ocr.unavailable_note()}: nothing to measure")
    import pytesseract

    out: dict[str, Any] = {
        "tesseract": str(pytesseract.get_tesseract_version()),
        "langs": ocr.langs_for(None),
        "config": ocr_settings().extraction.ocr.tesseract_config,
        "dpi": ocr_settings().extraction.ocr.render_dpi,
        "pages": {},
        "variants": {},
    }
    with tempfile.TemporaryDirectory() as tmp:
        for n, lang in enumerate(langs):
            pdf = Path(tmp) / f"{lang}.pdf"
            drawn = draw_page(sample_text(corpus, lang), lang, pdf, font)
            out["pages"][lang] = {"source": OCR_SAMPLES[lang][0], **ocr_page(pdf, drawn)}
            if n == 0:
                for name, settings in (variants or {}).items():
                    out["variants"][name] = {"lang": lang, **ocr_page(pdf, drawn, **settings)}
    return out
