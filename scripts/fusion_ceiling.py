"""How far can fusing the dense and lexical rankings go on one set? (BENCHMARKS.md, "The
xquad-en goal".)

For each query of the set: the rank of its passage in the dense, lexical and hybrid rankings;
the ceiling is the MRR@10 of picking, per query, whichever ranking is best (no fusion of the
two can beat that pick by much: it would have to put a passage first that neither ranking
puts first). Then hybrid MRR@10 (nDCG@10 for ntrex-mixed) for a few lexical exponents on the
sets they trade off between. Uses the cached indexes of `make bench-quality`.

    .venv/bin/python scripts/fusion_ceiling.py [--set xquad-en] [--bench ../shared/bench]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from polyfind.eval import DEFAULT_CACHE_DIR, dedupe, evaluate, load_dataset, prepare_index
from polyfind.eval.runner import DEPTH, _QueryVectors
from polyfind.search import Searcher
from polyfind.settings import DEFAULT_PRECISION, Settings

ROOT = Path(__file__).resolve().parents[1]
TRADE_OFF = ("xquad-en", "jsquad-ja", "korquad-ko", "ntrex-mixed")


def dataset_path(bench: Path, name: str) -> Path:
    built = ROOT / ".bench" / name  # korquad-ko is materialised by build.py
    return built if (built / "corpus.jsonl").exists() else bench / name


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--set", default="xquad-en")
    ap.add_argument("--bench", type=Path, default=ROOT.parent / "shared" / "bench")
    ap.add_argument("--max-queries", type=int, default=300)
    ap.add_argument("--exponents", default="3,2,1")
    args = ap.parse_args()
    from polyfind.embedding import Embedder

    settings = Settings()
    passages = Embedder.load(settings.with_(precision=settings.precision or DEFAULT_PRECISION))
    queries_emb = Embedder.load(settings.with_(precision="fp32"))
    ds = load_dataset(dataset_path(args.bench, args.set))
    prepared = prepare_index(ds, settings, ROOT / DEFAULT_CACHE_DIR, lambda: passages)
    queries = ds.sample(args.max_queries)
    encoder = _QueryVectors(queries_emb, [q.text for q in queries], None)
    ranks: dict[str, list[int | None]] = {}
    with Searcher(prepared.settings, encoder=encoder) as searcher:
        for mode in ("dense", "lexical", "hybrid"):
            ranks[mode] = []
            for q in queries:
                hits = searcher.search(q.text, k=DEPTH * 3, mode=mode)
                ranking = dedupe(
                    [prepared.id_of_file.get(Path(h.source).name, h.source) for h in hits]
                )[:DEPTH]
                relevant = {pid for pid, grade in ds.qrels.get(q.id, {}).items() if grade > 0}
                ranks[mode].append(
                    next((i + 1 for i, pid in enumerate(ranking) if pid in relevant), None)
                )

    def rr(rank: int | None) -> float:
        return 0.0 if rank is None else 1.0 / rank

    n = len(queries)
    for mode, rs in ranks.items():
        print(f"{args.set} {mode}: MRR@10 {sum(map(rr, rs)) / n:.4f}")
    best = [max(rr(ranks[m][i]) for m in ranks) for i in range(n)]
    print(f"{args.set} ceiling (best of the three rankings per query): {sum(best) / n:.4f}")
    missed = [i for i in range(n) if ranks["hybrid"][i] != 1]
    print(f"hybrid misses: {len(missed)} of {n}; (dense, lexical, hybrid) ranks:")
    for i in missed:
        print(f"  {tuple(ranks[m][i] for m in ranks)}  {queries[i].text}")

    print("\nhybrid by lexical exponent (MRR@10; nDCG@10 for ntrex-mixed):")
    for exponent in (float(x) for x in args.exponents.split(",")):
        row = []
        for name in TRADE_OFF:
            (report,) = evaluate(
                [dataset_path(args.bench, name)],
                settings.with_(lexical_exponent=exponent),
                modes=["hybrid"],
                max_queries=args.max_queries,
            )
            metrics = report.results["hybrid"].metrics
            key = "ndcg@10" if name == "ntrex-mixed" else "mrr@10"
            row.append(f"{name} {metrics[key]:.3f}")
        print(f"  exponent {exponent:g}: " + ", ".join(row))


if __name__ == "__main__":
    main()
