"""Citations: questions about real reports, pinned pages (BENCHMARKS.md, "Citations").

    .venv/bin/python scripts/bench_citations.py [--reports-dev-index .bench/reports-dev-index]
        [--corpus-index .bench/corpus-index] [--variants] [--chunk-sweep 100:20,200:40]

Writes benchmarks/citations.json: ../shared/reports-dev/questions.jsonl asked of an index of
../shared/reports-dev (default mode), bench/corpus-questions/questions.jsonl asked of an
index of corpus/ in each search mode, and the pinned pages of ../shared/reports-dev/pages.
An index that does not exist is built first (``polyfind index``); an existing one is used
as it is. ``--variants`` also writes benchmarks/corpus-variants.json (the corpus questions
without the language projection and without the per-document limit); ``--chunk-sweep``
writes benchmarks/chunk-sweep.json (corpus/ indexed at each tokens:overlap into
.bench/chunk-sweep/, the corpus questions in hybrid and dense mode). Then
scripts/render_benchmarks.py. The metrics are ``polyfind eval``'s.
"""

from __future__ import annotations

import argparse
import shlex
import sys
import time
from pathlib import Path

from polyfind import Settings, index_paths
from polyfind.bench import questions
from polyfind.bench.measure import load_average, run_info
from polyfind.bench.render import git_commit, write_result
from polyfind.store import DB_NAME

ROOT = Path(__file__).resolve().parents[1]
REPORTS_DEV = ROOT.parent / "shared" / "reports-dev"
CORPUS_QUESTIONS = ROOT / "bench" / "corpus-questions" / "questions.jsonl"


def index(folder: Path, index_dir: Path) -> Settings:
    settings = Settings(index_dir=index_dir)
    if not (index_dir / DB_NAME).exists():
        print(f"indexing {folder} into {index_dir}", file=sys.stderr, flush=True)
        index_paths([str(folder)], settings)
    return settings


def shown(path: Path) -> str:
    """``path`` relative to the repository when it is inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def built(index_dir: Path) -> str:
    """When the index was last written (an existing one is used as it is)."""
    return time.strftime("%Y-%m-%d %H:%M", time.localtime((index_dir / DB_NAME).stat().st_mtime))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reports-dev-index", type=Path, default=ROOT / ".bench/reports-dev-index")
    ap.add_argument("--corpus-index", type=Path, default=ROOT / ".bench/corpus-index")
    ap.add_argument("--variants", action="store_true")
    ap.add_argument("--chunk-sweep", metavar="SIZES", help="tokens:overlap,...")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args()
    command = ".venv/bin/python scripts/bench_citations.py " + shlex.join(sys.argv[1:])
    info = run_info(command.strip(), commit=git_commit(ROOT))
    reports = index(REPORTS_DEV, args.reports_dev_index)
    corpus = index(ROOT / "corpus", args.corpus_index)
    result = {
        **info,
        "reports_dev": {
            "index": shown(args.reports_dev_index),
            "index_written": built(args.reports_dev_index),
            "modes": questions.ask(REPORTS_DEV / "questions.jsonl", reports),
        },
        "corpus": {
            "index": shown(args.corpus_index),
            "index_written": built(args.corpus_index),
            "default_mode": corpus.search_mode,
            "modes": questions.ask(CORPUS_QUESTIONS, corpus, ("dense", "lexical", "hybrid")),
        },
        "pinned": questions.pinned_pages(REPORTS_DEV / "pages"),
    }
    result["load_end"] = load_average()
    print("wrote", write_result(args.out, "citations", result))
    if args.variants:
        variants = questions.variants(CORPUS_QUESTIONS, corpus)
        data = {**info, "mode": corpus.search_mode, "variants": variants}
        print("wrote", write_result(args.out, "corpus-variants", data))
    if args.chunk_sweep:
        sizes = [tuple(int(x) for x in s.split(":")) for s in args.chunk_sweep.split(",")]
        rows = questions.chunk_sweep(
            ROOT / "corpus",
            CORPUS_QUESTIONS,
            sizes,
            ROOT / ".bench/chunk-sweep",  # type: ignore[arg-type]
        )
        print("wrote", write_result(args.out, "chunk-sweep", {**info, "rows": rows}))


if __name__ == "__main__":
    main()
