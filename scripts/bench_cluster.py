"""Indexing on Dask workers against in-process, and the writer's commit rate (BENCHMARKS.md,
"Scale"; issue 13).

    .venv/bin/python scripts/bench_cluster.py [--corpus corpus] [--workers 1,2] [--quick]

Writes benchmarks/cluster.json (then scripts/render_benchmarks.py). The measuring code is
``polyfind.bench.cluster``. ``--quick`` checks the driver on two corpus files and writes to
/tmp.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from polyfind.bench import cluster
from polyfind.bench.measure import load_average, run_info, versions
from polyfind.bench.render import git_commit, write_result

ROOT = Path(__file__).resolve().parents[1]
QUICK_FILES = ("us_wh_2024-08-09_chips_two_years_fact_sheet.md", "000_e733aa0cb703fbe8.txt")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="polyfind-bench-cluster-"))
    if args.quick:
        args.out = Path("/tmp/polyfind-bench-quick")
        args.corpus = work / "small"
        args.corpus.mkdir()
        for name in QUICK_FILES:
            shutil.copy(ROOT / "corpus" / name, args.corpus / name)
    command = ".venv/bin/python scripts/bench_cluster.py " + shlex.join(sys.argv[1:])
    names = ("openvino", "dask", "distributed")
    info = run_info(command.strip(), commit=git_commit(ROOT), versions=versions(names))
    info["corpus"] = str(args.corpus.relative_to(ROOT)) if not args.quick else "two files"
    info["clock"] = "Wall clock; model loads and cluster start excluded"
    try:
        workers = [int(n) for n in args.workers.split(",")]
        info.update(cluster.run_all(args.corpus, work, workers))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info["load_end"] = load_average()
    print("wrote", write_result(args.out, "cluster", info))


if __name__ == "__main__":
    main()
