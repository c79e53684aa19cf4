"""Keeping an index current (BENCHMARKS.md, "Keeping an index current").

    .venv/bin/python scripts/bench_currency.py [--folder ../shared/pdfs] [--repeat 3]
        [--watch-files corpus/a.pdf,corpus/b.txt]

Writes benchmarks/currency.json (then scripts/render_benchmarks.py): the wall clock of an
unchanged re-index of ``--folder`` (whole processes), and how soon a file copied into a
folder that `polyfind watch` watches is searchable (``polyfind.bench.currency``).
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from polyfind.bench import currency
from polyfind.bench.measure import load_average, run_info
from polyfind.bench.render import git_commit, write_result

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--folder", type=Path, default=SHARED / "pdfs")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--watch-files", default="")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args()
    files = (
        [Path(f) for f in args.watch_files.split(",") if f]
        if args.watch_files
        else sorted((ROOT / "corpus").glob("*.pdf"))[:3]
    )
    command = ".venv/bin/python scripts/bench_currency.py " + shlex.join(sys.argv[1:])
    info = run_info(command.strip(), commit=git_commit(ROOT))
    info["clock"] = "Wall clock of whole processes (interpreter start and imports included)"
    info["reindex"] = currency.reindex(args.folder, args.repeat)
    info["watch"] = currency.watch_latency(files)
    info["load_end"] = load_average()
    print("wrote", write_result(args.out, "currency", info))


if __name__ == "__main__":
    main()
