"""Pinned pages of ../shared/reports-dev read by polyfind's PDF loader (BENCHMARKS.md,
"Citations"): excerpts found, in order, forbidden text present.

    .venv/bin/python scripts/pinned_pages.py [PAGES_DIR] [--verbose]
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyfind.eval.pages import check_page, load_pinned  # noqa: E402
from polyfind.loading import load  # noqa: E402


def main(argv: list[str]) -> int:
    verbose = "--verbose" in argv
    args = [a for a in argv if not a.startswith("--")]
    folder = Path(args[0]) if args else ROOT.parent / "shared" / "reports-dev" / "pages"
    found = total = present = forbidden = 0
    for pinned in load_pinned(folder):
        doc = load(pinned.pdf, pinned.pdf.name)
        text = next(p.text for p in doc.pages if p.number == pinned.page)
        result = check_page(pinned, text)
        found += result.found
        total += len(pinned.excerpts)
        present += len(result.present)
        forbidden += len(pinned.forbidden)
        order = "in order" if result.in_order else "OUT OF ORDER"
        print(
            f"{pinned.name}: {result.found}/{len(pinned.excerpts)} excerpts ({order}), "
            f"{len(result.present)}/{len(pinned.forbidden)} forbidden present"
        )
        if verbose:
            for line in result.missing:
                print(f"    missing: {line}")
            for line in result.present:
                print(f"    present: {line}")
    print(f"all pages: {found}/{total} excerpts, {present}/{forbidden} forbidden present")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
