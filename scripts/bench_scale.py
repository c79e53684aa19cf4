"""Scale: the FAISS index at 1,000,000 x 384 vectors (BENCHMARKS.md, "Speed" / "Scale").

    .venv/bin/python scripts/bench_scale.py [--n 1000000] [--queries 200]
        [--vectors-from indexes/default] [--variants ivf,flat,ivf-sq8] [--write BENCHMARKS.md]

The vectors are synthetic but shaped like the real ones: every point starts from a real
chunk vector of the corpus index (``--vectors-from``; half of them blended with a second
real vector), plus noise drawn from the principal components of the real vectors'
residuals, L2-normalised (see ``Generator``). The script prints how close their similarity
statistics come to the real vectors'. Queries come from the same process (other seeds) and
are not in the index; the exact top 10 of each is computed by brute force as the points are
made.

Each variant runs in two child processes, so that their memory can be told apart:

1. build: train (for IVF) on a sample of the points, add all of them in blocks of 100,000,
   save the file. Reported: seconds, peak RSS.
2. search: load the saved file (as ``polyfind search``/``serve`` do), then one query at a
   time through ``VectorIndex.search``: p50/p95 latency for k=10 and k=100 (the Searcher
   asks for 4k+20 dense candidates), recall@10 against the exact top 10, for several
   nprobe; then remove 200 consecutive ids (one file's worth of chunks) and check they are
   gone. Reported: RSS after loading, peak RSS, seconds.

Variants: ``ivf`` is what vectors.py builds above ``Settings.exact_max_vectors``
(IndexIVFFlat, nlist from ``nlist_for``); ``flat`` is the exact index polyfind uses below the
threshold; ``ivf-sq8`` (8-bit scalar quantised lists, 4x smaller, approximate scores) is
measured for comparison. HNSW is not a candidate: FAISS's HNSW indexes cannot remove ids.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from polyfind.vectors import VectorIndex, nlist_for  # noqa: E402

BLOCK = 100_000
DIM = 384
REMOVE = 200
NOISE = 0.55


# --------------------------------------------------------------------------- data
def real_vectors(index_dir: Path) -> np.ndarray:
    """The chunk vectors of an index, with the index's language projection applied (FAISS
    holds projected vectors, so the synthetic ones imitate those)."""
    from polyfind.language_bias import load_projection
    from polyfind.store import Store

    store = Store.open(index_dir)
    try:
        dim = int(store.get_meta("dim") or 0)
        _, vecs = store.all_vectors(dim)
        projection = load_projection(store.get_meta("model_name") or "")
    finally:
        store.close()
    if len(vecs) < 100:
        raise SystemExit(f"{index_dir} holds only {len(vecs)} vectors; index corpus/ first")
    if projection is not None:
        vecs = projection.apply(vecs)
    return np.unique(vecs.astype(np.float32), axis=0)


class Generator:
    """Points around real vectors: ``normalise(base + noise)``.

    ``base`` is a real vector, or for half the points a blend ``w r_i + (1 - w) r_j``
    (w uniform in [0.5, 1]) so that the space between topics is populated too. ``noise`` is
    Gaussian with the covariance of the real vectors around their mean (their principal
    components), scaled by ``noise``.
    """

    def __init__(self, real: np.ndarray, noise: float = 0.55) -> None:
        # 0.55: then as many synthetic points as there are real vectors have the real ones'
        # similarity statistics (mean pairwise cosine, 1st and 10th nearest neighbour)
        self.real = real.astype(np.float64)
        centred = self.real - self.real.mean(axis=0)
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        self.components = (s[:, None] / math.sqrt(len(real))) * vt  # (r, dim)
        self.noise = noise

    def points(self, seed: int, n: int) -> np.ndarray:
        rng = np.random.default_rng(seed)
        out = np.empty((n, self.real.shape[1]), dtype=np.float32)
        for start in range(0, n, 10_000):  # in slices: the noise draw is (m, rank) float64
            m = min(10_000, n - start)
            i = rng.integers(0, len(self.real), size=m)
            j = rng.integers(0, len(self.real), size=m)
            w = np.where(rng.random(m) < 0.5, 1.0, rng.uniform(0.5, 1.0, size=m))[:, None]
            base = w * self.real[i] + (1 - w) * self.real[j]
            base /= np.linalg.norm(base, axis=1, keepdims=True)
            z = rng.standard_normal((m, len(self.components))) @ self.components
            x = base + self.noise * z
            out[start : start + m] = x / np.linalg.norm(x, axis=1, keepdims=True)
        return out

    def block(self, b: int) -> np.ndarray:
        return self.points(1000 + b, BLOCK)

    def queries(self, n: int) -> np.ndarray:
        return self.points(7, n)


def similarity_stats(x: np.ndarray, sample: int = 1000) -> dict[str, float]:
    """Mean pairwise cosine and mean cosine to the 1st and 10th nearest neighbour."""
    idx = np.random.default_rng(0).choice(len(x), min(sample, len(x)), replace=False)
    c = x[idx] @ x.T
    c[np.arange(len(idx)), idx] = -2.0
    top = -np.sort(-c, axis=1)
    return {
        "pairwise": round(float(c[c > -2].mean()), 3),
        "nn1": round(float(top[:, 0].mean()), 3),
        "nn10": round(float(top[:, 9].mean()), 3),
    }


def rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


# --------------------------------------------------------------------------- children
class Truth:
    """The exact top 10 of each query, kept up to date block by block."""

    def __init__(self, queries: np.ndarray) -> None:
        self.queries = queries
        self.scores = np.full((len(queries), 10), -2.0, dtype=np.float32)
        self.ids = np.full((len(queries), 10), -1, dtype=np.int64)

    def update(self, ids: np.ndarray, x: np.ndarray) -> None:
        s = self.queries @ x.T
        top = np.argpartition(-s, 9, axis=1)[:, :10]
        cand_s = np.concatenate([self.scores, np.take_along_axis(s, top, axis=1)], axis=1)
        cand_i = np.concatenate([self.ids, ids[top]], axis=1)
        order = np.argsort(-cand_s, axis=1)[:, :10]
        self.scores = np.take_along_axis(cand_s, order, axis=1)
        self.ids = np.take_along_axis(cand_i, order, axis=1)


def build(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    gen = Generator(real_vectors(args.vectors_from), args.noise)
    queries = gen.queries(args.queries)
    truth = Truth(queries)

    gone = np.arange(args.n // 2, args.n // 2 + REMOVE, dtype=np.int64)  # removed later
    removed: list[np.ndarray] = []

    def blocks(update_truth: bool) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        for b in range(math.ceil(args.n / BLOCK)):
            x = gen.block(b)[: args.n - b * BLOCK]
            ids = np.arange(b * BLOCK, b * BLOCK + len(x), dtype=np.int64)
            if update_truth:
                truth.update(ids, x)
                removed.append(x[np.isin(ids, gone)])
            yield ids, x

    started = time.perf_counter()
    train_s = 0.0
    nlist = nlist_for(args.n)
    if args.variant == "flat":
        vi = VectorIndex.empty(DIM)
    else:
        need = 40 * nlist
        sample = np.concatenate([gen.block(b) for b in range(math.ceil(need / BLOCK))])[:need]
        t = time.perf_counter()
        if args.variant == "ivf":
            vi = VectorIndex.trained(sample, args.n)
        else:  # ivf-sq8, for comparison
            index = faiss.IndexIVFScalarQuantizer(
                faiss.IndexFlatIP(DIM),
                DIM,
                nlist,
                faiss.ScalarQuantizer.QT_8bit,
                faiss.METRIC_INNER_PRODUCT,
            )
            index.cp.spherical = True
            index.cp.niter = 10
            index.train(sample)
            vi = VectorIndex(index, DIM, None)
        train_s = time.perf_counter() - t
        del sample
    t = time.perf_counter()
    if args.variant == "ivf":  # as VectorIndex.from_store builds it: two passes
        passes = iter([True, False])
        vi.fill(lambda: blocks(next(passes)))
    else:
        for ids, x in blocks(True):
            vi.add(ids, x)
    add_s = time.perf_counter() - t
    out = Path(args.dir)
    t = time.perf_counter()
    path = vi.save(out, 1)
    save_s = time.perf_counter() - t
    np.save(out / "queries.npy", queries)
    np.save(out / "truth.npy", truth.ids)
    np.save(out / "removed.npy", np.concatenate(removed))
    return {
        "variant": args.variant,
        "noise": args.noise,
        "n": vi.ntotal,
        "nlist": vi.nlist,
        "train_s": round(train_s, 1),
        "add_s": round(add_s, 1),
        "build_s": round(time.perf_counter() - started, 1),
        "save_s": round(save_s, 1),
        "file_mb": round(path.stat().st_size / 2**20, 1),
        "build_rss_mb": round(rss_mb()),
        "build_peak_rss_mb": round(peak_rss_mb()),
        "synthetic_stats": similarity_stats(gen.points(99, 20_000)),
        "synthetic_stats_same_count": similarity_stats(gen.points(98, len(gen.real))),
        "real_stats": similarity_stats(gen.real.astype(np.float32)),
        "real_vectors": len(gen.real),
    }


def _latencies(vi: VectorIndex, queries: np.ndarray, k: int) -> tuple[list[float], list[Any]]:
    times, results = [], []
    for q in queries:
        t = time.perf_counter()
        _, ids = vi.search(q, k)
        times.append((time.perf_counter() - t) * 1000)
        results.append(ids)
    return times, results


def search(args: argparse.Namespace) -> dict[str, Any]:
    import faiss

    out = Path(args.dir)
    queries = np.load(out / "queries.npy")
    truth = np.load(out / "truth.npy")
    rss_before = rss_mb()
    t = time.perf_counter()
    vi = VectorIndex(faiss.read_index(str(out / "vectors-1.faiss")), DIM, None)
    load_s = time.perf_counter() - t
    rss_loaded = rss_mb()
    _latencies(vi, queries[:10], 10)  # warm up
    rows = []
    for nprobe in args.nprobe if vi.kind == "ivf" else [0]:
        vi.nprobe = nprobe or vi.nprobe
        times10, found = _latencies(vi, queries, 10)
        times100, _ = _latencies(vi, queries, 100)
        recall = np.mean(
            [len(set(f.tolist()) & set(t.tolist())) / 10 for f, t in zip(found, truth, strict=True)]
        )
        rows.append(
            {
                "nprobe": nprobe,
                "recall@10": round(float(recall), 4),
                "p50_ms": round(float(np.percentile(times10, 50)), 2),
                "p95_ms": round(float(np.percentile(times10, 95)), 2),
                "p50_ms_k100": round(float(np.percentile(times100, 50)), 2),
                "p95_ms_k100": round(float(np.percentile(times100, 95)), 2),
            }
        )
    # removal of one file's worth of chunks (their vectors were saved by the build)
    gone = np.arange(args.n // 2, args.n // 2 + REMOVE, dtype=np.int64)
    removed_vectors = np.load(out / "removed.npy")
    times = []
    for attempt in range(2):
        ids = gone if attempt == 0 else gone + REMOVE
        t = time.perf_counter()
        n = vi.remove(ids)
        times.append((time.perf_counter() - t) * 1000)
        assert n == REMOVE, n
    still_found = 0
    for v in removed_vectors[:50]:
        _, ids = vi.search(v, 10)
        still_found += int(np.isin(ids, gone).any())
    return {
        "load_s": round(load_s, 1),
        "rss_mb_before_load": round(rss_before),
        "rss_mb_loaded": round(rss_loaded),
        "search_peak_rss_mb": round(peak_rss_mb()),
        "rows": rows,
        "remove_ms": [round(x, 1) for x in times],
        "removed_still_found": still_found,
        "ntotal_after_remove": vi.ntotal,
        "threads": faiss.omp_get_max_threads(),
    }


# --------------------------------------------------------------------------- driver
def _child(args: argparse.Namespace, phase: str, variant: str, folder: Path) -> dict[str, Any]:
    cmd = [
        sys.executable, __file__, "--phase", phase, "--variant", variant, "--dir", str(folder),
        "--n", str(args.n), "--queries", str(args.queries),
        "--vectors-from", str(args.vectors_from),
        "--nprobe", ",".join(str(x) for x in args.nprobe), "--noise", str(args.noise),
    ]  # fmt: skip
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    output = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{phase} {variant} failed ({proc.returncode})")
    result: dict[str, Any] = json.loads(output.strip().splitlines()[-1])
    result[f"{phase}_child_peak_rss_mb"] = round(usage.ru_maxrss / 1024)
    result[f"{phase}_wall_s"] = round(time.perf_counter() - started, 1)
    print(f"  {phase} {variant}: {json.dumps(result)}", file=sys.stderr, flush=True)
    return result


def markdown(results: list[dict[str, Any]], args: argparse.Namespace, meta: dict[str, Any]) -> str:
    first = results[0]
    same, real = first["synthetic_stats_same_count"], first["real_stats"]
    syn = first["synthetic_stats"]
    lines = [
        "### Scale",
        "",
        f"`{meta['command']}`, {meta['when']}. {meta['machine']}; load average "
        f"{meta['load_start']} at the start, {meta['load_end']} at the end. One query at a "
        "time through `VectorIndex.search` (one FAISS thread per query); latencies are "
        f"medians (p50) and 95th percentiles (p95) over {args.queries} queries.",
        "",
        f"Data: {args.n:,} x {DIM} synthetic vectors made around the "
        f"{first['real_vectors']} real chunk vectors of `{args.vectors_from}` (language "
        "projection applied, as FAISS holds them): a real vector, or for half of the points a "
        "blend of two, plus noise drawn from the real vectors' principal components "
        f"(scripts/bench_scale.py, `Generator`, noise {args.noise}). The noise is set so that "
        "as many synthetic points as there are real vectors have the real vectors' "
        "similarity statistics: mean pairwise cosine "
        f"{same['pairwise']} vs {real['pairwise']} real, nearest neighbour {same['nn1']} vs "
        f"{real['nn1']}, 10th nearest {same['nn10']} vs {real['nn10']} (20,000 synthetic "
        f"points: {syn['pairwise']}, {syn['nn1']}, {syn['nn10']}). Queries: "
        f"{args.queries} other points from the same process, not in the index; truth: their "
        "exact top 10 by brute force. IVF lists are filled in two passes "
        "(`VectorIndex.fill`), as `VectorIndex.from_store` does.",
        "",
        "| index | build s (train + add) | file MB | build peak RSS MB | search RSS MB "
        "(loaded / peak) | nprobe | recall@10 | p50 / p95 ms, k=10 | p50 / p95 ms, k=100 | "
        f"remove {REMOVE} ids, ms |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        name = r["variant"] + (f" (nlist {r['nlist']})" if r["nlist"] else " (exact)")
        if r["n"] != args.n:
            name += f", {r['n']:,} vectors"
        if r["noise"] != args.noise:
            st = r["synthetic_stats_same_count"]
            name += (
                f", harder data (noise {r['noise']}: pairwise {st['pairwise']}, nn1 "
                f"{st['nn1']}, nn10 {st['nn10']})"
            )
        for n, row in enumerate(r["rows"]):
            head = (
                [
                    name,
                    f"{r['build_s']} ({r['train_s']} + {r['add_s']})",
                    str(r["file_mb"]),
                    str(r["build_child_peak_rss_mb"]),
                    f"{r['rss_mb_loaded']} / {r['search_child_peak_rss_mb']}",
                ]
                if n == 0
                else ["", "", "", "", ""]
            )
            remove = (
                " / ".join(str(x) for x in r["remove_ms"])
                + ("" if r["removed_still_found"] == 0 else " (NOT removed!)")
                if n == 0
                else ""
            )
            lines.append(
                "| "
                + " | ".join(
                    [
                        *head,
                        str(row["nprobe"] or "-"),
                        f"{row['recall@10']:.3f}",
                        f"{row['p50_ms']} / {row['p95_ms']}",
                        f"{row['p50_ms_k100']} / {row['p95_ms_k100']}",
                        remove,
                    ]
                )
                + " |"
            )
    lines.append("")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--queries", type=int, default=200)
    ap.add_argument("--vectors-from", type=Path, default=ROOT / "indexes/default")
    ap.add_argument("--variants", default="ivf,ivf~0.8,flat,ivf-sq8,flat@100000")
    ap.add_argument("--nprobe", default="16,32,48,64")
    ap.add_argument("--noise", type=float, default=NOISE, help="see Generator")
    ap.add_argument("--write", type=Path, default=None, help="BENCHMARKS.md to update")
    ap.add_argument("--phase", choices=["build", "search"], help=argparse.SUPPRESS)
    ap.add_argument("--variant", help=argparse.SUPPRESS)
    ap.add_argument("--dir", help=argparse.SUPPRESS)
    args = ap.parse_args()
    args.nprobe = [int(x) for x in str(args.nprobe).split(",")]
    if args.phase:
        result = build(args) if args.phase == "build" else search(args)
        print(json.dumps(result))
        return

    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_speed import machine, replace_section

    meta = {
        "command": "make bench-scale (" + " ".join(["scripts/bench_scale.py", *sys.argv[1:]]) + ")",
        "when": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "load_start": f"{os.getloadavg()[0]:.1f}",
    }
    results = []
    for spec in args.variants.split(","):
        # "flat@100000": another size; "ivf~0.8": another noise level (harder data)
        spec, _, noise = spec.partition("~")
        variant, _, size = spec.partition("@")
        run = argparse.Namespace(
            **{**vars(args), "n": int(size or args.n), "noise": float(noise or args.noise)}
        )
        folder = Path(tempfile.mkdtemp(prefix=f"polyfind-scale-{variant}-"))
        try:
            r = _child(run, "build", variant, folder)
            r.update(_child(run, "search", variant, folder))
            results.append(r)
        finally:
            shutil.rmtree(folder, ignore_errors=True)
    meta["load_end"] = f"{os.getloadavg()[0]:.1f}"
    text = markdown(results, args, meta)
    print(text)
    if args.write:
        replace_section(args.write, "## Speed", text, subsection="### Scale")


if __name__ == "__main__":
    main()
