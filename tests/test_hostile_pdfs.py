"""Generated hostile PDFs: each loads or fails alone with a reason, in bounded time and memory.

The files come from tests/pdfgen.py (thousands of pages, a page tree 3,000 deep or in a loop,
200,000 nested arrays, a page 200 inches wide, a stream inflating to 1 GB). They are read the way
`polyfind index` reads files: in a worker process under ``LoadLimits`` (an address-space cap
and a time limit per file).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from polyfind import Settings, index_paths
from polyfind.discover import discover
from polyfind.loaders.ocr import render_scale
from polyfind.loadpool import Failed, LoadLimits, _Worker, load_documents
from polyfind.records import Document
from polyfind.settings import OcrSettings

sys.path.insert(0, str(Path(__file__).parent))
from consistency import check_consistent, sha256
from pdfgen import doubling_page_tree, inflating_page, pdf, text_content

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
GOOD = "004_58bd91241ebf471b.txt"
LINES = [f"Line {k}: solar cells and battery storage in the national grid plan." for k in range(30)]


def _many_pages(n: int) -> bytes:
    return pdf(
        [text_content([f"Page {i}. {line}" for line in LINES]) for i in range(n)], compress=True
    )


HOSTILE = {
    "a_inflates_to_1gb.pdf": lambda: inflating_page(1000),
    "b_deep_tree.pdf": lambda: pdf(
        [text_content(["At the bottom of a deep tree."])], tree_depth=3000
    ),
    "c_tree_loop.pdf": lambda: pdf(
        [text_content(["A page in a tree that loops."])], tree_loop=True
    ),
    "d_nested_arrays.pdf": lambda: pdf(
        [b"BT /F1 12 Tf 72 700 Td " + b"[" * 200_000 + b"(x)" + b"]" * 200_000 + b" TJ ET"]
    ),
    "e_huge_page.pdf": lambda: pdf(
        [text_content(["A page 200 inches wide."])], media_box=(14400, 14400)
    ),
    "f_1000_pages.pdf": lambda: _many_pages(1000),
}


@pytest.fixture(scope="module")
def hostile(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("hostile")
    for name, make in HOSTILE.items():
        (folder / name).write_bytes(make())
    shutil.copy(CORPUS / GOOD, folder / ("z_" + GOOD))
    return folder


def test_each_hostile_pdf_loads_or_fails_alone_with_a_reason(hostile: Path) -> None:
    found = [f for f in discover(str(hostile)) if f.supported]
    limits = LoadLimits(timeout_s=300, memory_mb=768)
    results = {f.path.name: r for f, r in load_documents(found, 1, limits=limits)}
    assert list(results) == [*HOSTILE, "z_" + GOOD]  # every file answered, in order

    bomb = results["a_inflates_to_1gb.pdf"]
    assert isinstance(bomb, Failed) and "768 MB" in bomb.reason  # stopped by the cap, named
    assert isinstance(results["b_deep_tree.pdf"], Failed)
    assert "PDF" in results["b_deep_tree.pdf"].reason
    loop = results["c_tree_loop.pdf"]
    assert isinstance(loop, Document) and "tree that loops" in loop.pages[0].text
    assert isinstance(results["d_nested_arrays.pdf"], Failed)
    assert "no text" in results["d_nested_arrays.pdf"].reason
    huge = results["e_huge_page.pdf"]
    assert isinstance(huge, Document) and "200 inches wide" in huge.pages[0].text
    book = results["f_1000_pages.pdf"]
    assert isinstance(book, Document) and len(book.pages) == 1000
    assert "Page 999." in book.pages[-1].text
    assert isinstance(results["z_" + GOOD], Document)  # the batch went on


def test_workers_run_under_the_memory_cap(hostile: Path) -> None:
    worker = _Worker(LoadLimits(memory_mb=700))
    try:
        (found,) = [f for f in discover(str(hostile)) if f.path.name.startswith("z_")]
        assert isinstance(worker.load(found), Document)
        limits = Path(f"/proc/{worker.proc.pid}/limits").read_text()
        line = next(li for li in limits.splitlines() if li.startswith("Max address space"))
        assert line.split()[3] == str(700 << 20)
    finally:
        worker.close()


def test_a_file_over_the_time_limit_is_stopped_and_the_batch_goes_on(
    tmp_path: Path, embedder
) -> None:
    """The slow file has 262,144 pages (a page tree doubling 18 times): no machine reads it
    in 10 s, and any reads the small text file (worker start included) in 10 s, so the outcome
    does not depend on how fast or busy this one is."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "slow.pdf").write_bytes(doubling_page_tree(18, text_content(LINES)))
    shutil.copy(CORPUS / GOOD, docs / GOOD)
    settings = Settings(index_dir=tmp_path / "index", load_timeout_s=10, load_timeout_per_mb_s=0)
    summary = index_paths([str(docs)], settings, embedder=embedder)
    assert [Path(s).name for s in summary.added] == [GOOD], summary.skipped
    (skipped,) = summary.skipped
    assert skipped[0].endswith("slow.pdf") and "took more than 10 s" in skipped[1]
    history = {str((docs / n).resolve()): {sha256(docs / n)} for n in (GOOD, "slow.pdf")}
    assert check_consistent(settings.index_dir, None, history, encoder=embedder)["documents"] == 1


def test_ocr_renders_huge_pages_at_a_bounded_size() -> None:
    cfg = OcrSettings()
    assert render_scale(595, 842, cfg) == cfg.render_dpi / 72  # A4 at full resolution
    scale = render_scale(14400, 14400, cfg)
    assert (14400 * scale) ** 2 <= cfg.max_render_pixels * 1.0001
    small = OcrSettings(render_dpi=150, max_render_pixels=1_000_000)
    assert render_scale(595, 842, small) < 150 / 72  # an A4 page at 150 dpi is 2.2 million
