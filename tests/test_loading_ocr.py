"""OCR of PDF pages without a text layer (tesseract, kor+jpn+eng, --psm 6).

The tests that run tesseract skip where it is not installed (``make install-ocr``; see
``tests/extras.py``); the message a user gets without it is tested everywhere.
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import pytest

from extras import noto_cjk
from polyfind.discover import discover
from polyfind.errors import LoadError
from polyfind.loaders import ocr
from polyfind.loading import load
from polyfind.loadpool import Failed, load_documents
from polyfind.settings import Settings

OCR_OFF = {"extraction.ocr.enabled": False}

ROOT = Path(__file__).resolve().parents[1]
FLAT = ROOT.parent / "shared" / "pdfs" / "en" / "unstructured__loremipsum-flat.pdf"


def _image_pdf(path: Path, lines: list[str], face: int) -> None:
    """An image-only PDF of ``lines`` drawn at 300 dpi with Noto Sans CJK (face 0 JP, 1 KR)."""
    from PIL import Image, ImageDraw, ImageFont

    font = ImageFont.truetype(str(noto_cjk()), 42, index=face)
    image = Image.new("L", (2480, 120 + 64 * len(lines)), 255)
    draw = ImageDraw.Draw(image)
    for i, line in enumerate(lines):
        draw.text((120, 60 + 64 * i), line, font=font, fill=0)
    image.save(path, "PDF", resolution=300)


def _cer(reference: str, hypothesis: str) -> float:
    ref = "".join(ch for ch in unicodedata.normalize("NFKC", reference) if not ch.isspace())
    hyp = "".join(ch for ch in unicodedata.normalize("NFKC", hypothesis) if not ch.isspace())
    prev = list(range(len(hyp) + 1))
    for i, a in enumerate(ref, 1):
        cur = [i]
        for j, b in enumerate(hyp, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a != b)))
        prev = cur
    return prev[-1] / max(1, len(ref))


def _blank_scan(path: Path) -> Path:
    """An image-only PDF of a blank page."""
    from PIL import Image

    Image.new("L", (800, 600), 255).save(path, "PDF", resolution=100)
    return path


def test_without_ocr_the_reason_says_how_to_get_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    pdf = _blank_scan(tmp_path / "scan.pdf")
    monkeypatch.setattr(ocr, "_installed_langs", lambda: ())
    with pytest.raises(LoadError) as info:
        load(pdf, "scan.pdf")
    assert str(info.value) == (
        "scan.pdf: no text layer (a scanned or image-only PDF?) and OCR is not installed "
        "(run `make install-ocr`)"
    )
    with pytest.raises(LoadError, match=r"OCR is turned off \(POLYFIND_OCR=0\)"):
        load(pdf, "scan.pdf", Settings().with_(**OCR_OFF))


def test_ocr_off_in_the_settings_reaches_the_loader_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A loader process takes OCR on or off from the Settings it is sent, not from the
    environment it inherits from this process."""
    found = list(discover(str(_blank_scan(tmp_path / "scan.pdf"))))
    monkeypatch.setenv("POLYFIND_OCR", "1")
    [(_, off)] = load_documents(found, 1, settings=Settings().with_(**OCR_OFF))
    assert isinstance(off, Failed) and "OCR is turned off" in off.reason
    monkeypatch.setenv("POLYFIND_OCR", "0")
    [(_, on)] = load_documents(found, 1, settings=Settings())
    assert isinstance(on, Failed) and "OCR is turned off" not in on.reason  # not installed,
    # or installed and finding nothing on the blank page


class _NoEmbedder:
    """Enough of an Embedder for a batch in which no file gets to be embedded."""

    identity = "none"
    dim = 8
    precision = "fp32"

    def count_tokens(self, texts: list[str]) -> list[int]:
        raise AssertionError("nothing to chunk")

    def embed_passages(self, texts: list[str], *, batch_size: int) -> None:
        raise AssertionError("nothing to embed")


def test_index_paths_hands_its_ocr_setting_to_the_loader_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polyfind import index_paths

    folder = tmp_path / "scans"
    folder.mkdir()
    _blank_scan(folder / "scan.pdf")
    monkeypatch.setenv("POLYFIND_OCR", "1")
    settings = Settings(index_dir=tmp_path / "index").with_(**OCR_OFF)
    assert settings.isolate_loaders  # the file is read in a loader process
    summary = index_paths([str(folder)], settings, embedder=_NoEmbedder())  # type: ignore[arg-type]
    [(_, reason)] = summary.skipped
    assert "OCR is turned off" in reason


@pytest.mark.extra("tesseract")
@pytest.mark.skipif(not FLAT.exists(), reason="../shared/pdfs is not here")
def test_a_flattened_page_is_read_by_ocr() -> None:
    doc = load(FLAT, "loremipsum-flat.pdf")
    assert [p.number for p in doc.pages] == [1]
    text = doc.pages[0].text
    assert text.startswith("Lorem ipsum dolor sit amet, consectetur adipiscing elit.")
    assert "\n\n" in text  # paragraphs kept, lines within them joined


@pytest.mark.extra("tesseract", "noto-cjk")
@pytest.mark.parametrize(
    ("lines", "face", "limit"),
    [
        (
            [
                "미국과 일본은 양자 기술과 인공지능 분야에서 공동 연구를 확대하고 있다.",
                "한국은 첨단 패키징과 배터리 재활용 기술의 협력 방안을 검토하고 있다.",
            ],
            1,
            0.15,
        ),
        (
            [
                "日米韓は次世代の重要新興技術について協力を深めることで合意した。",
                "量子技術と人工知能の共同研究を拡大する。",
            ],
            0,
            0.05,
        ),
    ],
    ids=["korean", "japanese"],
)
def test_a_scanned_page_of_corpus_text_is_read(
    tmp_path: Path, lines: list[str], face: int, limit: float
) -> None:
    pdf = tmp_path / "scan.pdf"
    _image_pdf(pdf, lines, face)
    doc = load(pdf, "scan.pdf")
    assert _cer("\n".join(lines), doc.pages[0].text) <= limit
