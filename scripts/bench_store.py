"""Milvus against the embedded store on the same chunks and vectors (BENCHMARKS.md, "Scale";
issue 13).

    .venv/bin/python scripts/bench_store.py [--sets jsquad-ja,...] [--modes dense,hybrid]
        [--korquad .bench/korquad-ko] [--questions bench/corpus-questions/questions.jsonl]
        [--quick]

Starts a Milvus server on 127.0.0.1 (milvus-lite's engine, as the tests do), then compares
(``polyfind.bench.stores``) the ../shared/bench sets' `polyfind eval` metrics and the corpus
questions' top-10 hits through the default store and through a copy of the same index moved
to Milvus. Writes benchmarks/store.json (then scripts/render_benchmarks.py). ``--quick``
checks the driver on one set and writes to /tmp.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from polyfind import index_paths
from polyfind.bench import quality, stores
from polyfind.bench.measure import load_average, run_info, versions
from polyfind.bench.milvus_server import milvus_server
from polyfind.bench.render import git_commit, write_result
from polyfind.settings import resolve

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--korquad", type=Path, default=ROOT / ".bench/korquad-ko")
    ap.add_argument("--sets", default="")
    ap.add_argument("--modes", default="dense,hybrid")
    ap.add_argument("--max-queries", type=int, default=300)
    ap.add_argument("--cache-dir", type=Path, default=ROOT / ".bench/eval-cache")
    ap.add_argument(
        "--questions", type=Path, default=ROOT / "bench/corpus-questions/questions.jsonl"
    )
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args()
    if args.quick:
        args.sets, args.max_queries = "ntrex-ko-ja", 50
        args.out = Path("/tmp/polyfind-bench-quick")
    modes = args.modes.split(",")
    command = ".venv/bin/python scripts/bench_store.py " + shlex.join(sys.argv[1:])
    info = run_info(command.strip(), commit=git_commit(ROOT), versions=versions(["pymilvus"]))
    info["clock"] = "Wall clock"
    settings = resolve()
    sets = quality.find_sets(args.bench, [args.korquad], filter(None, args.sets.split(",")))
    work = Path(tempfile.mkdtemp(prefix="polyfind-bench-store-"))
    try:
        with milvus_server(work / "milvus") as uri:
            info["server"] = "milvus-lite's engine on 127.0.0.1 (polyfind.bench.milvus_server)"
            info["sets"] = stores.compare_sets(
                sets, settings, uri, modes, args.cache_dir, args.max_queries
            )
            if not args.quick:
                idx = settings.with_(index_dir=work / "corpus-index")
                index_paths([str(args.corpus)], idx)
                info["corpus"] = str(args.corpus.relative_to(ROOT))
                info["corpus_questions"] = stores.compare_questions(args.questions, idx, uri, modes)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    info["load_end"] = load_average()
    print("wrote", write_result(args.out, "store", info))


if __name__ == "__main__":
    main()
