"""Passage encoders side by side: torch, OpenVINO, ONNX Runtime (issue 14, item 1).

    .venv/bin/python scripts/bench_engines.py [--repeat 3] [--chunks 192]
        [--only torch-bf16,ov-bf16,...] [--json out.json]

Encodes the same sample of corpus chunks (every n-th of the chunks ``polyfind index corpus``
makes, as scripts/bench_speed.py samples them) with each candidate and prints chunks/s,
tokens/s, GFLOP/s (``polyfind.bench.measure.flop_per_token`` at the mean length), its share
of the bf16 matmul peak measured in the same run, and the smallest and mean cosine to the
torch fp32 vectors. Candidates run in turns (one run of each, then the next turn), medians
of ``--repeat`` turns; the load average is printed at the start and the end.

Converted models (ONNX, OpenVINO IR) are made from the local sentence-transformers folder
of the default model and cached under /tmp/polyfind-engines (made again with --rebuild).
Every candidate includes tokenisation, padding to the longest text of its batch, mean
pooling and L2 normalisation, as ``Embedder.embed_passages`` does; texts are batched in
order of token length.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from polyfind.bench import speed
from polyfind.bench.measure import flop_per_token, load_average, machine, matmul_peak, versions
from polyfind.embedding import Embedder, apply_precision
from polyfind.openvino_engine import pooled_module
from polyfind.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path("/tmp/polyfind-engines")
PACKAGES = ("torch", "sentence-transformers", "onnxruntime", "openvino", "nncf")
Encode = Callable[[Sequence[str]], np.ndarray]


def log(msg: str) -> None:
    print(
        f"[{time.strftime('%H:%M:%S')}] {msg} (load {load_average()})", file=sys.stderr, flush=True
    )


# ------------------------------------------------------------------------------ shared
class Batcher:
    """Tokenises texts with the model's tokenizer (passage prompt), length-sorted batches."""

    def __init__(self, emb: Embedder, batch: int) -> None:
        self.emb = emb
        self.batch = batch
        self.tok = emb.model.tokenizer
        self.max_len = emb.max_tokens

    def run(
        self, texts: Sequence[str], infer: Callable[[np.ndarray, np.ndarray], np.ndarray]
    ) -> np.ndarray:
        n = len(texts)
        out = np.empty((n, self.emb.dim), dtype=np.float32)
        lengths = self.emb.count_tokens(texts)
        order = sorted(range(n), key=lambda i: lengths[i], reverse=True)
        for start in range(0, n, self.batch):
            idx = order[start : start + self.batch]
            enc = self.tok(
                [self.emb.passage_prompt + texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=self.max_len,
                return_tensors="np",
                return_token_type_ids=False,
            )
            ids = enc["input_ids"].astype(np.int64)
            mask = enc["attention_mask"].astype(np.int64)
            v = np.asarray(infer(ids, mask), dtype=np.float32)
            out[idx] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return out


def example(emb: Embedder) -> tuple[Any, Any]:
    enc = emb.model.tokenizer(
        ["passage: hello world", "passage: 안녕하세요 세계 여러분 日本語"],
        padding=True,
        return_tensors="pt",
        return_token_type_ids=False,
    )
    return enc["input_ids"], enc["attention_mask"]


def onnx_path(emb: Embedder, rebuild: bool) -> Path:
    import torch

    path = CACHE / "model.onnx"
    if path.exists() and not rebuild:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    log("exporting ONNX")
    with torch.no_grad():
        torch.onnx.export(
            pooled_module(emb.model[0].auto_model),
            example(emb),
            str(path),
            input_names=["input_ids", "attention_mask"],
            output_names=["embedding"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "seq"},
                "attention_mask": {0: "batch", 1: "seq"},
                "embedding": {0: "batch"},
            },
            opset_version=17,
            dynamo=False,
        )
    return path


def ov_path(emb: Embedder, rebuild: bool) -> Path:
    import openvino as ov
    import torch

    path = CACHE / "model.xml"
    if path.exists() and not rebuild:
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    log("converting to OpenVINO")
    ids, mask = example(emb)
    with torch.no_grad():
        model = ov.convert_model(
            pooled_module(emb.model[0].auto_model),
            example_input={"input_ids": ids, "attention_mask": mask},
        )
    ov.save_model(model, str(path), compress_to_fp16=False)
    return path


# ------------------------------------------------------------------------------ candidates
def torch_candidate(fp32: Embedder, precision: str, batch: int) -> Encode:
    import copy

    if precision == "fp32":
        e = fp32
    else:
        m = copy.deepcopy(fp32.model)
        apply_precision(m, precision)
        e = Embedder(m, fp32.identity, precision=precision)
    return lambda texts: e.embed_passages(texts, batch_size=batch)


def torch_compiled(fp32: Embedder, batch: int) -> Encode:
    import copy

    import torch

    m = copy.deepcopy(fp32.model[0].auto_model).to(torch.bfloat16)
    pooled = pooled_module(m)
    compiled = torch.compile(pooled, dynamic=True)
    b = Batcher(fp32, batch)

    def infer(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            out = compiled(torch.from_numpy(ids), torch.from_numpy(mask))
        return out.float().numpy()

    return lambda texts: b.run(texts, infer)


def polyfind_openvino(fp32: Embedder, precision: str) -> Encode:
    """polyfind's own openvino engine (``OpenVINOEmbedder``), as ``polyfind index`` runs it."""
    e = Embedder.load(Settings(precision=precision, engine="openvino"))
    return lambda texts: e.embed_passages(texts, batch_size=Settings().batch_size)


def ov_candidate(
    fp32: Embedder,
    precision: str,
    batch: int,
    rebuild: bool,
    int8: bool = False,
    hint: str = "LATENCY",
) -> Encode:
    import openvino as ov

    core = ov.Core()
    path = ov_path(fp32, rebuild)
    if int8:
        q = CACHE / "model-int8.xml"
        if not q.exists() or rebuild:
            import nncf

            log("quantising OpenVINO int8 (nncf, corpus sample as calibration)")
            model = core.read_model(str(path))
            calib = _calibration(fp32)
            quantized = nncf.quantize(
                model,
                nncf.Dataset(calib),
                model_type=nncf.ModelType.TRANSFORMER,
                subset_size=len(calib),
            )
            ov.save_model(quantized, str(q), compress_to_fp16=False)
        path = q
    config = {
        "INFERENCE_PRECISION_HINT": "bf16" if precision == "bf16" else "f32",
        "PERFORMANCE_HINT": hint,
        "INFERENCE_NUM_THREADS": 2,
    }
    if hint == "LATENCY":
        config["NUM_STREAMS"] = 1
    compiled = core.compile_model(str(path), "CPU", config)
    b = Batcher(fp32, batch)
    if hint == "LATENCY":
        req = compiled.create_infer_request()

        def infer(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
            req.infer({"input_ids": ids, "attention_mask": mask})
            return np.array(req.get_output_tensor(0).data)

        return lambda texts: b.run(texts, infer)

    # throughput: every batch an async request, as many in flight as the plugin suggests
    n_req = compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS")
    queue = ov.AsyncInferQueue(compiled, n_req)

    def run(texts: Sequence[str]) -> np.ndarray:
        results: dict[int, np.ndarray] = {}
        batches: list[list[int]] = []

        def done(request: Any, key: int) -> None:
            results[key] = np.array(request.get_output_tensor(0).data)

        queue.set_callback(done)
        n = len(texts)
        lengths = fp32.count_tokens(texts)
        order = sorted(range(n), key=lambda i: lengths[i], reverse=True)
        for k, start in enumerate(range(0, n, batch)):
            idx = order[start : start + batch]
            batches.append(idx)
            enc = b.tok(
                [fp32.passage_prompt + texts[i] for i in idx],
                padding=True,
                truncation=True,
                max_length=b.max_len,
                return_tensors="np",
                return_token_type_ids=False,
            )
            queue.start_async(
                {
                    "input_ids": enc["input_ids"].astype(np.int64),
                    "attention_mask": enc["attention_mask"].astype(np.int64),
                },
                k,
            )
        queue.wait_all()
        out = np.empty((n, fp32.dim), dtype=np.float32)
        for k, idx in enumerate(batches):
            v = results[k]
            out[idx] = v / np.maximum(np.linalg.norm(v, axis=1, keepdims=True), 1e-12)
        return out

    return run


def _calibration(fp32: Embedder) -> list[dict[str, np.ndarray]]:
    """Batches of corpus chunks other than the measured sample (odd positions)."""
    texts = speed.corpus_chunks(ROOT / "corpus", fp32)[1::7][:128]
    out = []
    for start in range(0, len(texts), 16):
        enc = fp32.model.tokenizer(
            [fp32.passage_prompt + t for t in texts[start : start + 16]],
            padding=True,
            truncation=True,
            max_length=512,
            return_tensors="np",
            return_token_type_ids=False,
        )
        out.append({k: v.astype(np.int64) for k, v in enc.items()})
    return out


def ort_candidate(fp32: Embedder, variant: str, batch: int, rebuild: bool) -> Encode:
    import onnxruntime as ort

    base = onnx_path(fp32, rebuild)
    path = base
    if variant in ("opt", "opt-int8", "opt-int8-ffn"):
        path = CACHE / "model-opt.onnx"
        if not path.exists() or rebuild:
            from onnxruntime.transformers import optimizer

            log("optimising ONNX (onnxruntime.transformers, bert)")
            opt = optimizer.optimize_model(
                str(base), model_type="bert", num_heads=12, hidden_size=384
            )
            opt.save_model_to_file(str(path))
    if variant in ("int8", "opt-int8", "opt-int8-ffn"):
        src = path
        path = CACHE / f"model-{variant}.onnx"
        if not path.exists() or rebuild:
            import onnx
            from onnxruntime.quantization import QuantType, quantize_dynamic

            log(f"quantising ONNX int8 ({variant})")
            exclude = []
            if variant.endswith("-ffn"):  # keep each feed-forward output projection in fp32
                model = onnx.load(str(src), load_external_data=False)
                exclude = [n.name for n in _ffn_output_matmuls(model)]
            quantize_dynamic(
                str(src),
                str(path),
                weight_type=QuantType.QInt8,
                per_channel=True,
                nodes_to_exclude=exclude,
            )
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 2
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
    b = Batcher(fp32, batch)

    def infer(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        return sess.run(None, {"input_ids": ids, "attention_mask": mask})[0]

    return lambda texts: b.run(texts, infer)


def _ffn_output_matmuls(model: Any) -> list[Any]:
    """MatMul nodes whose weight is (ffn, hidden): the feed-forward output projections."""
    shapes = {init.name: tuple(init.dims) for init in model.graph.initializer}
    return [
        n
        for n in model.graph.node
        if n.op_type == "MatMul" and any(shapes.get(i) == (1536, 384) for i in n.input)
    ]


# ------------------------------------------------------------------------------ end to end
def index_end_to_end(every: int, repeat: int, engines: Sequence[str]) -> dict[str, Any]:
    """``polyfind index`` from scratch (a child process: model load included) on every
    ``every``-th file of corpus/ with each engine at bf16, in turns: wall seconds, chunks and
    peak memory, medians of ``repeat``."""
    import shutil
    import tempfile

    from polyfind.bench.measure import run_child

    work = Path(tempfile.mkdtemp(prefix="polyfind-engines-"))
    folder = work / "corpus"
    folder.mkdir()
    files = sorted((ROOT / "corpus").iterdir())[::every]
    for f in files:
        shutil.copy(f, folder / f.name)
    runs: dict[str, list[dict[str, Any]]] = {e: [] for e in engines}
    for turn in range(repeat):
        for engine in engines:
            index = work / f"index-{engine}-{turn}"
            cmd = [sys.executable, "-m", "polyfind.cli", "index", str(folder), "--index"]
            cmd += [str(index), "--precision", "bf16", "--engine", engine, "--json", "--quiet"]
            time.sleep(0.3)
            child = run_child(cmd)
            if child.returncode != 0:
                raise RuntimeError(f"{' '.join(cmd)} failed ({child.returncode})")
            out = json.loads(child.stdout)
            chunks = out.get("chunks_added", out.get("chunks"))
            runs[engine].append(
                {
                    "seconds": round(child.seconds, 2),
                    "peak_mb": round(child.peak_rss_mb),
                    "out": chunks,
                }
            )
            shutil.rmtree(index, ignore_errors=True)
            log(f"index {engine} turn {turn + 1}: {child.seconds:.1f} s")
    shutil.rmtree(work, ignore_errors=True)
    return {
        "files": [f.name for f in files],
        "every": every,
        "runs": runs,
        "median_s": {e: statistics.median(r["seconds"] for r in runs[e]) for e in engines},
        "peak_mb": {e: max(r["peak_mb"] for r in runs[e]) for e in engines},
    }


# ------------------------------------------------------------------------------ main
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--chunks", type=int, default=192)
    ap.add_argument("--only", default="")
    ap.add_argument("--rebuild", action="store_true")
    ap.add_argument("--json", type=Path)
    ap.add_argument(
        "--index-every",
        type=int,
        default=0,
        help="instead: `polyfind index` of every n-th corpus file, torch vs openvino",
    )
    args = ap.parse_args()
    if args.index_every:
        load_start = load_average()
        r = index_end_to_end(args.index_every, args.repeat, ("torch", "openvino"))
        r.update(load_start=load_start, load_end=load_average(), machine=machine())
        print(json.dumps(r, indent=1))
        if args.json:
            args.json.write_text(json.dumps(r, indent=1) + "\n")
        return
    import torch

    torch.set_num_threads(2)
    log(f"start; {machine()}; {versions(PACKAGES)}")
    load_start = load_average()
    fp32 = Embedder.load(Settings(precision="fp32"))
    texts = speed.corpus_chunks(ROOT / "corpus", fp32)
    sample = texts[:: max(1, len(texts) // args.chunks)][: args.chunks]
    tokens = speed.passage_tokens(fp32, sample)
    mean_len = tokens / len(sample)
    flop = flop_per_token(mean_len)
    log(f"{len(sample)} of {len(texts)} chunks, {tokens} tokens (mean {mean_len:.1f})")

    makers: dict[str, Callable[[], Encode]] = {
        "torch fp32 b16": lambda: torch_candidate(fp32, "fp32", 16),
        "torch bf16 b64 (today)": lambda: torch_candidate(fp32, "bf16", 64),
        "torch bf16 b16": lambda: torch_candidate(fp32, "bf16", 16),
        "torch int8 b16": lambda: torch_candidate(fp32, "int8", 16),
        "torch.compile bf16 b64": lambda: torch_compiled(fp32, 64),
        "polyfind openvino bf16": lambda: polyfind_openvino(fp32, "bf16"),
        "ov fp32 b16": lambda: ov_candidate(fp32, "fp32", 16, args.rebuild),
        "ov bf16 b16": lambda: ov_candidate(fp32, "bf16", 16, args.rebuild),
        "ov bf16 b64": lambda: ov_candidate(fp32, "bf16", 64, args.rebuild),
        "ov bf16 b8": lambda: ov_candidate(fp32, "bf16", 8, args.rebuild),
        "ov bf16 b8 throughput": lambda: ov_candidate(
            fp32, "bf16", 8, args.rebuild, hint="THROUGHPUT"
        ),
        "ov bf16 b16 throughput": lambda: ov_candidate(
            fp32, "bf16", 16, args.rebuild, hint="THROUGHPUT"
        ),
        "ov bf16 b32 throughput": lambda: ov_candidate(
            fp32, "bf16", 32, args.rebuild, hint="THROUGHPUT"
        ),
        "ov int8 b16": lambda: ov_candidate(fp32, "bf16", 16, args.rebuild, int8=True),
        "ov int8 b16 throughput": lambda: ov_candidate(
            fp32, "bf16", 16, args.rebuild, int8=True, hint="THROUGHPUT"
        ),
        "ort fp32 b16": lambda: ort_candidate(fp32, "plain", 16, args.rebuild),
        "ort fp32-opt b16": lambda: ort_candidate(fp32, "opt", 16, args.rebuild),
        "ort int8 b16": lambda: ort_candidate(fp32, "int8", 16, args.rebuild),
        "ort int8-opt b16": lambda: ort_candidate(fp32, "opt-int8", 16, args.rebuild),
        "ort int8-opt-ffnfp32 b16": lambda: ort_candidate(fp32, "opt-int8-ffn", 16, args.rebuild),
    }
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    chosen = {k: v for k, v in makers.items() if not only or any(o in k for o in only)}
    reference = fp32.embed_passages(sample, batch_size=16)
    encoders: dict[str, Encode] = {}
    cosines: dict[str, tuple[float, float]] = {}
    setup: dict[str, float] = {}
    for name, make in chosen.items():
        t = time.perf_counter()
        try:
            enc = make()
            vec = enc(sample)  # warm-up (and shapes compiled) + cosine
        except Exception as exc:  # report and go on with the others
            log(f"{name}: failed: {type(exc).__name__}: {str(exc)[:300]}")
            continue
        setup[name] = time.perf_counter() - t
        cos = np.sum(vec * reference, axis=1)
        cosines[name] = (float(cos.min()), float(cos.mean()))
        encoders[name] = enc
        log(f"{name}: ready in {setup[name]:.1f} s, cosine min {cos.min():.4f}")
    walls: dict[str, list[float]] = {k: [] for k in encoders}
    cpus: dict[str, list[float]] = {k: [] for k in encoders}
    peaks: list[float] = []
    for turn in range(args.repeat):
        peaks.append(matmul_peak("bf16"))
        for name, enc in encoders.items():
            time.sleep(0.3)  # let the previous engine's spinning threads go idle
            w, c = time.perf_counter(), time.process_time()
            enc(sample)
            walls[name].append(time.perf_counter() - w)
            cpus[name].append(time.process_time() - c)
        log(f"turn {turn + 1} done")
    peaks.append(matmul_peak("bf16"))
    peak = statistics.median(peaks)
    rows = {}
    for name in encoders:
        wall = statistics.median(walls[name])
        rows[name] = {
            "chunks_per_s": round(len(sample) / wall, 2),
            "tokens_per_s": round(tokens / wall),
            "tokens_per_cpu_s": round(tokens / statistics.median(cpus[name])),
            "gflops": round(tokens / wall * flop / 1e9, 1),
            "of_bf16_peak": round(tokens / wall * flop / 1e9 / peak, 3),
            "min_cosine": round(cosines[name][0], 4),
            "mean_cosine": round(cosines[name][1], 5),
            "walls": [round(x, 3) for x in walls[name]],
            "setup_s": round(setup[name], 1),
        }
    result = {
        "command": ".venv/bin/python scripts/bench_engines.py " + " ".join(sys.argv[1:]),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "machine": machine(),
        "versions": versions(PACKAGES),
        "chunks": len(sample),
        "of_corpus_chunks": len(texts),
        "tokens": tokens,
        "mean_tokens": round(mean_len, 1),
        "flop_per_token": flop,
        "bf16_matmul_peak_gflops": round(peak, 1),
        "bf16_peaks": [round(p, 1) for p in peaks],
        "load_start": load_start,
        "load_end": load_average(),
        "rows": rows,
    }
    print(
        f"{len(sample)} of {len(texts)} chunks, {tokens} tokens (mean {mean_len:.1f}); "
        f"bf16 matmul peak {peak:.1f} GFLOP/s (per turn {result['bf16_peaks']}); "
        f"load {load_start} -> {result['load_end']}"
    )
    print("| encoder | chunks/s | tokens/s | tokens/CPU s | GFLOP/s | of bf16 peak | min cos |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, r in rows.items():
        print(
            f"| {name} | {r['chunks_per_s']} | {r['tokens_per_s']} | {r['tokens_per_cpu_s']} | "
            f"{r['gflops']} | {r['of_bf16_peak']:.0%} | {r['min_cosine']} |"
        )
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    main()
