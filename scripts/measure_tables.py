"""Measure the ruled-table pre-check and the two table finders (loaders/tables.py).

    .venv/bin/python scripts/measure_tables.py                 # corpus/*.pdf
    .venv/bin/python scripts/measure_tables.py ../shared/reports-dev/*.pdf

Per file and in total, in CPU seconds of this process: pages, pages that pass the pre-check
(``ruled_pages``) and its speed (page load included, best of three), pdfplumber's
``find_tables`` and ``find_tables_pdfium`` per page that passed, with the tables found
(``polyfind.bench.extraction.table_finders``). The first Korean table with a wrapped cell
also pays for loading Kiwi, once per process.
"""

from __future__ import annotations

import sys
from pathlib import Path

from polyfind.bench.extraction import table_finders

ROOT = Path(__file__).resolve().parents[1]


def report(label: str, r: dict[str, float]) -> str:
    ruled = max(r["ruled_pages"], 1)
    return (
        f"{label}: {r['pages']} pages, {r['ruled_pages']} pass the pre-check, pre-check "
        f"{r['pages'] / max(r['check_s'], 1e-9):.0f} pages/s, pdfplumber "
        f"{r['pdfplumber_s'] / ruled:.3f} s per page that passed, {r['pdfplumber_tables']} "
        f"tables; pdfium backend {r['pdfium_s'] / ruled:.3f} s, {r['pdfium_tables']} tables"
    )


def main(argv: list[str]) -> None:
    paths = [Path(a) for a in argv] or sorted((ROOT / "corpus").glob("*.pdf"))
    total: dict[str, float] = {}
    for path in paths:
        r = table_finders(path)
        print(report(path.name, r), flush=True)
        for key, value in r.items():
            if key != "file":
                total[key] = total.get(key, 0) + value
    if len(paths) > 1:
        print(report("total", total))


if __name__ == "__main__":
    main(sys.argv[1:])
