"""Locating a passage among a PDF page's characters, and its boxes on the page as drawn."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pypdfium2 as pdfium
import pytest

from polyfind.pageview import PageRenderer, locate

PDF = Path(__file__).resolve().parents[1] / "corpus" / "us_nist_ai-600-1_genai_profile_2024-07.pdf"


def test_locate_ignores_spacing_hyphens_and_punctuation() -> None:
    page = "Intro line.\nThe quick brown fox jumps over\nthe la-\nzy dog. Next sentence here."
    indices, coverage = locate(page, "the quick  brown fox jumps over the lazy dog")
    assert coverage == 1.0
    assert page[indices[0] : indices[-1] + 1] == "The quick brown fox jumps over\nthe la-\nzy dog"
    assert locate(page, "xyzzy plugh") == ([], 0.0)


def test_locate_finds_parts_the_layout_put_elsewhere() -> None:
    """Two columns read in the other order, and a cell the passage does not have."""
    page = "Right column: cathode supply. Left column: lithium refining capacity grew."
    passage = "Left column: lithium refining capacity grew. Right column: cathode supply."
    indices, coverage = locate(page, passage)
    assert coverage == 1.0 and len(indices) == len([c for c in passage if c.isalnum()])
    partial = "Left column: lithium refining capacity grew. Something else entirely here."
    indices, coverage = locate(page, partial)
    assert 0.5 < coverage < 0.8
    assert "".join(page[i] for i in indices) == "Leftcolumnlithiumrefiningcapacitygrew"


@pytest.mark.parametrize("rotation", [0, 90, 180, 270])
def test_passage_boxes_lie_on_the_passage_ink_at_every_rotation(
    tmp_path: Path, rotation: int
) -> None:
    """On the page as PDFium draws it (turned by its /Rotate), the character boxes of a
    passage cover ink; the page as a whole is mostly paper."""
    pdf = pdfium.PdfDocument(str(PDF))
    out = pdfium.PdfDocument.new()
    out.import_pages(pdf, [4])
    out[0].set_rotation(rotation)
    path = tmp_path / f"page-{rotation}.pdf"
    out.save(str(path))
    text = out[0].get_textpage().get_text_range()
    renderer = PageRenderer()
    found = renderer.passage_boxes(path, 1, text[400:700])
    assert found.coverage == 1.0
    gray = np.asarray(renderer_image(renderer, path), dtype=float)
    height, width = gray.shape
    assert (width > height) == (rotation in (90, 270))

    def ink(box: object) -> float:
        x0, y0, x1, y1 = box.x0 * width, box.y0 * height, box.x1 * width, box.y1 * height
        region = gray[int(y0) : max(int(y1), int(y0) + 1), int(x0) : max(int(x1), int(x0) + 1)]
        return float((region < 128).mean())

    assert np.mean([ink(b) for b in found.chars]) > 0.25
    assert float((gray < 128).mean()) < 0.1
    for line in found.boxes:  # each line box holds some of the characters
        assert any(
            line.x0 - 1e-6 <= c.x0 and c.x1 <= line.x1 + 1e-6 and line.y0 - 1e-6 <= c.y0
            for c in found.chars
        )


def renderer_image(renderer: PageRenderer, path: Path) -> object:
    """The page as the reader shows it (``render``'s PNG), in gray."""
    import io

    from PIL import Image

    return Image.open(io.BytesIO(renderer.render(path, 1, scale=1.0))).convert("L")
