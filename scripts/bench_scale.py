"""Scale: the vector index at 1,000,000 x 384 vectors (BENCHMARKS.md, "Scale").

    .venv/bin/python scripts/bench_scale.py [--n 1000000] [--queries 200]
        [--vectors-from indexes/default]
        [--variants ivf,ivf~0.8,flat,ivf-sq8,flat@100000,milvus-ivf,milvus-flat]
        [--nprobe 16,32,48,64] [--noise 0.55] [--quick] [--name scale]

Writes benchmarks/NAME.json (then scripts/render_benchmarks.py). `make bench-scale` runs the
variant ``milvus-server-ivf`` (a standalone Milvus server in a network namespace of its own:
root only) as a second run, ``--name scale-server``, and skips it where it cannot run.

The vectors are synthetic but shaped like the real chunk vectors of ``--vectors-from``; each
variant is built and searched in child processes (``polyfind.bench.scale``). A variant
"flat@100000" has another size, "ivf~0.8" another noise level (harder data). ``--quick``
checks the driver on 20,000 vectors and writes to /tmp.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from pathlib import Path

from polyfind.bench import scale
from polyfind.bench.measure import load_average, run_info
from polyfind.bench.render import git_commit, write_result

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--vectors-from", type=Path, default=Path("indexes/default"))
    ap.add_argument(
        "--variants",
        default="ivf,ivf~0.8,flat,ivf-sq8,flat@100000,milvus-ivf,milvus-flat",
    )
    ap.add_argument("--nprobe", default="16,32,48,64")
    ap.add_argument("--noise", type=float, default=scale.NOISE)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    ap.add_argument("--name", default="scale", help="results file name (NAME.json)")
    args = ap.parse_args()
    if "milvus-server-ivf" in args.variants.split(","):
        from polyfind.bench.milvus_server import standalone_unavailable

        reason = standalone_unavailable()
        if reason:
            print(f"skipped: the variant milvus-server-ivf {reason}")
            return
    block = scale.BLOCK
    if args.quick:
        args.n, args.queries, block = 20_000, 20, 10_000
        args.out = Path("/tmp/polyfind-bench-quick")
    command = ".venv/bin/python scripts/bench_scale.py " + shlex.join(sys.argv[1:])
    info = run_info(command.strip(), commit=git_commit(ROOT))
    info.update(n=args.n, dim=scale.DIM, queries=args.queries, noise=args.noise)
    info["vectors_from"] = str(args.vectors_from)
    info["clock"] = "Wall clock, one FAISS thread per query"
    nprobe = [int(x) for x in args.nprobe.split(",")]
    info["results"] = scale.run_all(
        args.variants.split(","), args.vectors_from, args.n, args.queries, nprobe, args.noise, block
    )
    info["load_end"] = load_average()
    print("wrote", write_result(args.out, args.name, info))


if __name__ == "__main__":
    main()
