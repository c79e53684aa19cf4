"""Retrieval quality on the shared benchmark sets (BENCHMARKS.md, "Retrieval quality").

    .venv/bin/python scripts/bench_quality.py [--bench ../shared/bench]
        [--korquad .bench/korquad-ko] [--sets jsquad-ja,xquad-en] [--modes dense,lexical,hybrid]
        [--chunks 100:20]
        [--max-queries 300] [--cache-dir .bench/eval-cache] [--no-analyzers] [--name quality]
    .venv/bin/python scripts/bench_quality.py --fusion-grid [--dev-index .bench/corpus-index]
    .venv/bin/python scripts/bench_quality.py --precision
    .venv/bin/python scripts/bench_quality.py --quick          # a check: xquad-en, 20 queries

`make bench-quality` runs the first form (after `make bench-data`, which materialises
korquad-ko) and writes benchmarks/quality.json: every set in every mode with the same
sampled queries (seed 0), ntrex-mixed also in the per-language view, the lexical analysers
on the monolingual sets. ``--fusion-grid`` writes benchmarks/fusion-grid.json (a sweep of
fusion settings; with ``--dev-index``, an index of corpus/, also the development questions'
document@5), ``--precision`` benchmarks/precision.json (dense retrieval with the passages
at fp32, bf16 and int8). Datasets are indexed once into ``--cache-dir`` and reused. Then
scripts/render_benchmarks.py updates BENCHMARKS.md. The sweep is ``polyfind.bench.quality``.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from polyfind.bench import quality
from polyfind.bench.measure import load_average, run_info
from polyfind.bench.render import git_commit, write_result
from polyfind.eval import load_dataset
from polyfind.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
DEV_QUESTIONS = ROOT / "bench/corpus-questions/questions.jsonl"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared/bench")
    ap.add_argument("--korquad", type=Path, default=ROOT / ".bench/korquad-ko")
    ap.add_argument("--sets", default="", help="comma-separated set names (default: all)")
    ap.add_argument("--modes", default=",".join(quality.MODES))
    ap.add_argument("--chunks", default=None, help="tokens:overlap (default: the settings')")
    ap.add_argument("--max-queries", type=int, default=300)
    ap.add_argument("--cache-dir", type=Path, default=ROOT / ".bench/eval-cache")
    ap.add_argument("--no-analyzers", action="store_true")
    ap.add_argument("--fusion-grid", action="store_true")
    ap.add_argument("--dev-index", type=Path, default=None)
    ap.add_argument("--precision", action="store_true")
    ap.add_argument("--quick", action="store_true", help="xquad-en, 20 queries, to /tmp")
    ap.add_argument("--name", default=None, help="result name (default: quality)")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args()
    if args.quick:
        args.sets, args.max_queries, args.no_analyzers = "xquad-en", 20, True
        args.out = Path("/tmp/polyfind-bench-quick")
    command = ".venv/bin/python scripts/bench_quality.py " + shlex.join(sys.argv[1:])
    info = run_info(command.strip(), commit=git_commit(ROOT))
    settings = Settings()
    if args.chunks:
        tokens, overlap = (int(x) for x in args.chunks.split(":"))
        settings = settings.with_(chunk_tokens=tokens, chunk_overlap=overlap)
    sets = quality.find_sets(args.bench, [args.korquad], filter(None, args.sets.split(",")))
    for path in sets:
        load_dataset(path)  # fail early on a broken set
    sweep = quality.Sweep(settings, args.max_queries, args.cache_dir, log=log)
    info["settings"] = quality.settings_json(settings, args.max_queries)
    started = time.perf_counter()
    if args.fusion_grid:
        dev = (DEV_QUESTIONS, args.dev_index) if args.dev_index else None
        info["rows"] = quality.fusion_grid(sweep, sets, dev=dev)
        name = "fusion-grid"
    elif args.precision:
        info["results"] = quality.precisions(sweep, sets)
        name = "precision"
    else:
        info["sets"] = quality.by_mode(sweep, sets, args.modes.split(","))
        mixed = next((p for p in sets if p.name == quality.FAIRNESS_SET), None)
        if mixed is not None:
            per_lang = quality.per_language(sweep, mixed)
            info["fairness"] = {"set": mixed.name, "per_lang": per_lang}
        mono = [p for p in sets if p.name in quality.MONOLINGUAL]
        if mono and not args.no_analyzers:
            info["analyzers"] = quality.analyzers(sweep, mono)
        name = "quality"
    info["minutes"] = round((time.perf_counter() - started) / 60, 1)
    info["load_end"] = load_average()
    log(f"wrote {write_result(args.out, args.name or name, info)}")


if __name__ == "__main__":
    main()
