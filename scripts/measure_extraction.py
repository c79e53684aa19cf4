"""Measure PDF extraction speed and OCR character error rate (BENCHMARKS.md, "Extraction").

    .venv/bin/python scripts/measure_extraction.py speed  # pages/s: corpus, reports-dev, the book
    .venv/bin/python scripts/measure_extraction.py cer    # OCR CER on pages drawn from corpus text

Speed: each set of PDFs is loaded three times with ``polyfind.loading.load`` (OCR off) and
with plain pypdfium2 text extraction; the best run counts, in CPU seconds of this process
(wall-clock time on a shared two-core machine moves with the load of the other processes).

CER: paragraphs of corpus text are drawn onto A4 pages at 300 dpi with Noto Sans CJK
(Debian fonts-noto-cjk), saved as image-only PDFs, loaded with ``load`` (which OCRs them with
tesseract, kor+jpn+eng, --psm 6) and compared with the drawn text: edit distance over the
reference length, whitespace ignored (the OCR's spacing is not judged).
"""

from __future__ import annotations

import sys
import tempfile
import time
import unicodedata
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
#: Face index in the collection: 0 Japanese, 1 Korean (the others are Chinese).
FACE = {"ja": 0, "ko": 1, "en": 0}
SAMPLES = {
    "ko": ("000_e733aa0cb703fbe8.txt", 40),
    "ja": ("004_58bd91241ebf471b.txt", 20),
    "en": ("us_wh_2024-08-09_chips_two_years_fact_sheet.md", 20),
}


def speed() -> None:
    import pypdfium2 as pdfium

    from polyfind.loading import load as load_with
    from polyfind.records import Document
    from polyfind.settings import Settings

    no_ocr = Settings().with_(**{"extraction.ocr.enabled": False})

    def load(p: Path, source: str) -> Document:
        return load_with(p, source, no_ocr)

    def plain(p: Path) -> int:
        pdf = pdfium.PdfDocument(str(p))
        for i in range(len(pdf)):
            page = pdf[i]
            tp = page.get_textpage()
            tp.get_text_range()
            tp.close()
            page.close()
        n = len(pdf)
        pdf.close()
        return n

    def polyfind(p: Path) -> int:
        return len(load(p, p.name).pages)

    from polyfind.loaders import pdf as pdf_loader

    with_tables = pdf_loader._ruled_tables

    def polyfind_no_tables(p: Path) -> int:
        """The same without reading ruled tables (what tables cost)."""
        pdf_loader._ruled_tables = lambda *args: []
        try:
            return polyfind(p)
        finally:
            pdf_loader._ruled_tables = with_tables

    groups = {
        "corpus/*.pdf": sorted((ROOT / "corpus").glob("*.pdf")),
        "reports-dev/*.pdf": sorted((ROOT.parent / "shared/reports-dev").glob("*.pdf")),
        "freeculture.pdf (352 p)": [ROOT.parent / "shared/pdfs/en/pdf.js__freeculture.pdf"],
    }
    for label, files in groups.items():
        files = [f for f in files if f.exists()]
        if not files:
            continue
        for name, fn in (
            ("pypdfium2 text only", plain),
            ("polyfind load", polyfind),
            ("polyfind, no tables", polyfind_no_tables),
        ):
            best = float("inf")
            pages = 0
            for _ in range(3):
                t = time.process_time()
                pages = sum(fn(f) for f in files)
                best = min(best, time.process_time() - t)
            print(f"{label:26s} {name:20s} {pages:4d} pages {pages / best:7.1f} pages/s")


def _levenshtein(a: str, b: str) -> int:
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


def cer(reference: str, hypothesis: str, *, letters_only: bool = False) -> float:
    """Character error rate, whitespace ignored; ``letters_only`` also ignores punctuation
    and symbols (tesseract reads the bullets □ △ and the middle dot ・ of Korean reports as
    look-alike Hangul: 디, 스, ㆍ)."""
    keep = (lambda ch: ch.isalnum()) if letters_only else (lambda ch: not ch.isspace())
    ref = "".join(filter(keep, unicodedata.normalize("NFKC", reference)))
    hyp = "".join(filter(keep, unicodedata.normalize("NFKC", hypothesis)))
    return _levenshtein(ref, hyp) / max(1, len(ref))


def render_pdf(text: str, lang: str, path: Path) -> str:
    """Draw ``text`` on one A4 page at 300 dpi; returns the text as laid out (what was drawn)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(FONT), 42, index=FACE[lang])  # about 10 pt at 300 dpi
    width, height, margin = 2480, 3508, 200
    image = Image.new("L", (width, height), 255)
    draw = ImageDraw.Draw(image)
    lines: list[str] = []
    for para in text.split("\n"):
        words = para.split(" ") if lang != "ja" else list(para)
        line = ""
        for w in words:
            candidate = (line + (" " if line and lang != "ja" else "") + w) if line else w
            if draw.textlength(candidate, font=font) > width - 2 * margin:
                lines.append(line)
                line = w
            else:
                line = candidate
        if line:
            lines.append(line)
    y = margin
    drawn = []
    for line in lines:
        if y > height - margin - 60:
            break
        draw.text((margin, y), line, font=font, fill=0)
        drawn.append(line)
        y += 64
    image.save(path, "PDF", resolution=300)
    return "\n".join(drawn)


def sample_text(lang: str) -> str:
    name, n_lines = SAMPLES[lang]
    lines = [
        ln.strip()
        for ln in (ROOT / "corpus" / name).read_text(encoding="utf-8").splitlines()
        if len(ln.strip()) > 15 and not ln.startswith(("---", "title:", "date:", "source"))
    ]
    return "\n".join(lines[:n_lines])


def measure_cer() -> None:
    from polyfind.loaders import ocr
    from polyfind.loading import load

    if not ocr.enabled():
        sys.exit(f"{ocr.unavailable_note()}: nothing to measure")
    if not FONT.exists():
        sys.exit(f"{FONT} is missing: apt-get install fonts-noto-cjk")
    with tempfile.TemporaryDirectory() as tmp:
        for lang in ("ko", "ja", "en"):
            pdf = Path(tmp) / f"{lang}.pdf"
            drawn = render_pdf(sample_text(lang), lang, pdf)
            t = time.perf_counter()
            doc = load(pdf, pdf.name)
            seconds = time.perf_counter() - t
            got = doc.pages[0].text
            print(
                f"{lang}: {len(''.join(drawn.split())):5d} characters drawn, "
                f"CER {cer(drawn, got):.3f}, letters and digits only "
                f"{cer(drawn, got, letters_only=True):.3f} "
                f"({ocr.langs_for(None)}, --psm 6, {seconds:.1f} s)"
            )


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "speed"
    if what == "speed":
        speed()
    elif what == "cer":
        measure_cer()
    else:
        sys.exit("usage: measure_extraction.py speed|cer")
