"""Measure the ruled-table pre-check and pdfplumber's table finder (loaders/tables.py).

    .venv/bin/python scripts/measure_tables.py                 # corpus/*.pdf
    .venv/bin/python scripts/measure_tables.py ../shared/reports-dev/*.pdf

Prints, per file and in total: pages, pages that pass the pre-check (``ruled_pages``), the
pre-check's speed in pages/s (page load included, best of three runs, CPU seconds of this
process: wall-clock time on a shared machine moves with the other processes' load), and
pdfplumber's time per page that passed (``find_tables``, one run) with the tables found, and
the same for ``find_tables_pdfium`` (pdfplumber's table geometry on pypdfium2's edges and
characters, no pdfminer). The first Korean table with a wrapped cell also pays for loading
Kiwi (a few seconds, once per process).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))


def main(argv: list[str]) -> None:
    import pypdfium2 as pdfium

    from polyfind.loaders.tables import find_tables, find_tables_pdfium, ruled_pages

    paths = [Path(a) for a in argv] or sorted((ROOT / "corpus").glob("*.pdf"))
    total_pages = total_ruled = total_tables = 0
    total_check = total_plumber = total_pdfium = 0.0
    for path in paths:
        best = float("inf")
        ruled: list[int] = []
        for _ in range(3):
            start = time.process_time()
            pdf = pdfium.PdfDocument(str(path), password="")
            n = len(pdf)
            ruled = ruled_pages(pdf)
            pdf.close()
            best = min(best, time.process_time() - start)
        start = time.process_time()
        found = find_tables(path, ruled)
        plumber = time.process_time() - start
        tables = sum(len(v) for v in found.values())
        pdf = pdfium.PdfDocument(str(path), password="")
        start = time.process_time()
        fast = find_tables_pdfium(pdf, ruled)
        in_pdfium = time.process_time() - start
        pdf.close()
        fast_tables = sum(len(v) for v in fast.values())
        total_pdfium += in_pdfium
        total_pages += n
        total_ruled += len(ruled)
        total_tables += tables
        total_check += best
        total_plumber += plumber
        per_page = plumber / len(ruled) if ruled else 0.0
        print(
            f"{path.name}: {n} pages, {len(ruled)} pass the pre-check, "
            f"pre-check {n / max(best, 1e-9):.0f} pages/s, "
            f"pdfplumber {per_page:.3f} s per page that passed, {tables} tables; "
            f"pdfium backend {in_pdfium / max(len(ruled), 1):.3f} s, {fast_tables} tables"
        )
    if len(paths) > 1:
        per_page = total_plumber / total_ruled if total_ruled else 0.0
        print(
            f"total: {total_pages} pages, {total_ruled} pass the pre-check, "
            f"pre-check {total_pages / max(total_check, 1e-9):.0f} pages/s, "
            f"pdfplumber {per_page:.3f} s per page that passed ({total_plumber:.1f} s), "
            f"{total_tables} tables; pdfium backend "
            f"{total_pdfium / max(total_ruled, 1):.3f} s per page ({total_pdfium:.1f} s)"
        )


if __name__ == "__main__":
    main(sys.argv[1:])
