"""Measure the default model: build time and fp32 passage-embedding speed by batch size.

    .venv/bin/python scripts/measure_embed_batch.py [--passages 200] [--tokens 200]
        [--batch-sizes 8,16,32] [--threads 0] [--repeat 3] [--corpus corpus]

Passages are cut from the ``.txt``/``.md`` files under ``--corpus`` (Korean, Japanese and
English mixed) at lengths spread around ``--tokens`` (0.5x to 1.5x), so that length sorting
has something to gain. Each batch size runs twice: in the given (shuffled) order, and through
``Embedder.embed_passages``, which sorts by length. Every configuration runs ``--repeat``
times, interleaved, and the fastest run is reported (the machine is shared). Tokens/s
counts the tokens the model sees (prompt and special tokens included). The build is timed
into a temporary folder, so the cached model is left alone.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

from polyfind.embedding import Embedder  # noqa: E402
from polyfind.model_build import build_default_model  # noqa: E402
from polyfind.settings import DEFAULT_MODEL, Settings  # noqa: E402


def make_passages(embedder: Embedder, corpus: Path, n: int, mean_tokens: int) -> list[str]:
    """``n`` passages cut from the corpus files, lengths uniform in [0.5, 1.5] x mean."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_str(embedder._tokenizer.backend_tokenizer.to_str())
    tok.no_padding()
    tok.no_truncation()
    rng = random.Random(1234)
    files = sorted(p for p in corpus.rglob("*") if p.suffix in (".txt", ".md") and p.is_file())
    if not files:
        raise SystemExit(f"no .txt/.md files under {corpus}")
    pools = []
    for f in files:
        text = f.read_text(encoding="utf-8", errors="replace")
        enc = tok.encode(text, add_special_tokens=False)
        if len(enc.offsets) > 2 * mean_tokens:
            pools.append((text, enc.offsets))
    out: list[str] = []
    while len(out) < n:
        text, offsets = pools[len(out) % len(pools)]
        length = rng.randint(mean_tokens // 2, mean_tokens * 3 // 2)
        start = rng.randrange(0, max(1, len(offsets) - length))
        a = offsets[start][0]
        b = offsets[min(start + length, len(offsets)) - 1][1]
        passage = text[a:b].strip()
        if passage:
            out.append(passage)
    rng.shuffle(out)
    return out


def unsorted_embed(embedder: Embedder, texts: list[str], batch_size: int) -> np.ndarray:
    parts = [
        embedder._encode(texts[i : i + batch_size], embedder.passage_prompt)
        for i in range(0, len(texts), batch_size)
    ]
    return np.concatenate(parts)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--passages", type=int, default=200)
    ap.add_argument("--tokens", type=int, default=200)
    ap.add_argument("--batch-sizes", default="8,16,32")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--corpus", type=Path, default=ROOT / "corpus")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the best is reported")
    ap.add_argument("--skip-build", action="store_true")
    args = ap.parse_args()

    import torch

    settings = Settings(model=DEFAULT_MODEL, threads=args.threads)
    if not args.skip_build:
        with tempfile.TemporaryDirectory(dir=settings.model_cache_dir.parent) as tmp:
            t = time.perf_counter()
            build_default_model(Path(tmp) / "m")
            print(f"build (parse + dequantise + write 466 MB): {time.perf_counter() - t:.2f} s")

    t = time.perf_counter()
    embedder = Embedder.load(settings)
    print(f"Embedder.load (import torch/ST + load weights): {time.perf_counter() - t:.2f} s")
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")

    texts = make_passages(embedder, args.corpus, args.passages, args.tokens)
    seen = [c + embedder.passage_overhead for c in embedder.count_tokens(texts)]
    total = sum(seen)
    print(
        f"{len(texts)} passages, tokens seen by the model: mean {total / len(texts):.0f}, "
        f"min {min(seen)}, max {max(seen)}, total {total}"
    )
    embedder.embed_passages(texts[:8], batch_size=8)  # warm-up

    # Rounds run every configuration once, in turn, so that load from other processes
    # spreads over all of them; the best round is the least disturbed one.
    configs = [(int(x), mode) for x in args.batch_sizes.split(",") for mode in ("given", "sorted")]
    times: dict[tuple[int, str], list[float]] = {c: [] for c in configs}
    reference = None
    for r in range(args.repeat):
        for bs, mode in configs:
            t = time.perf_counter()
            if mode == "sorted":
                vecs = embedder.embed_passages(texts, batch_size=bs)
            else:
                vecs = unsorted_embed(embedder, texts, bs)
            dt = time.perf_counter() - t
            times[(bs, mode)].append(dt)
            if reference is None:
                reference = vecs
            else:
                assert float((vecs * reference).sum(axis=1).min()) > 0.9999
            print(f"  round {r + 1}: batch {bs:>2} {mode:>6} {dt:6.1f} s", flush=True)

    print(f"{'batch':>5} {'order':>8} {'best s':>7} {'passages/s':>11} {'tokens/s':>9} all runs s")
    for bs, mode in configs:
        dt = min(times[(bs, mode)])
        runs = " ".join(f"{x:.1f}" for x in times[(bs, mode)])
        print(f"{bs:>5} {mode:>8} {dt:>7.1f} {len(texts) / dt:>11.2f} {total / dt:>9.0f} {runs}")

    q = "반도체 공급망 협력"
    embedder.embed_query(q)
    embedder.query_threads = 0  # measure with the thread count set below
    for threads in (1, torch.get_num_threads()):
        torch.set_num_threads(threads)
        t = time.perf_counter()
        for _ in range(20):
            embedder.embed_query(q)
        print(f"one query, {threads} thread(s): {(time.perf_counter() - t) / 20 * 1000:.0f} ms")


if __name__ == "__main__":
    main()
