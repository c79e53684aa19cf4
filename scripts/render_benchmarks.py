"""Rewrite BENCHMARKS.md's generated blocks from the results in benchmarks/*.json.

    .venv/bin/python scripts/render_benchmarks.py          # rewrite BENCHMARKS.md
    .venv/bin/python scripts/render_benchmarks.py --check  # exit 1 if a block is out of date

The benchmark drivers (scripts/bench_*.py, scripts/measure_extraction.py) write the JSON;
the renderers are in ``polyfind.bench.tables``.
"""

from __future__ import annotations

import sys
from pathlib import Path

from polyfind.bench.render import RenderError, load_results, render, stale_blocks

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str]) -> int:
    path = ROOT / "BENCHMARKS.md"
    text = path.read_text(encoding="utf-8")
    results = load_results(ROOT / "benchmarks")
    try:
        if "--check" in argv:
            stale = stale_blocks(text, results)
            if stale:
                print(f"BENCHMARKS.md: out of date: {', '.join(stale)}; run {Path(__file__).name}")
            return 1 if stale else 0
        path.write_text(render(text, results), encoding="utf-8")
    except RenderError as exc:
        print(f"BENCHMARKS.md: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
