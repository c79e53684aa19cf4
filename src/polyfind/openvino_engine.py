"""The bundled default model on OpenVINO: the passage encoder ``polyfind index`` uses.

OpenVINO's CPU plugin runs the model in bfloat16 on AVX-512 BF16 (or AMX) with fused
attention and layer kernels, about twice as fast as torch's bf16 on the same chunks with
vectors at cosine >= 0.9999 to torch fp32 (BENCHMARKS.md, "Speed"; scripts/bench_engines.py
compared it with ONNX Runtime and torch.compile). On a CPU without bf16 instructions the plugin
runs fp32 instead.

The OpenVINO model is converted offline from the local sentence-transformers folder of the
default model (``model_build``), once, into ``<model cache>/<model folder>-openvino``:
the transformer with mean pooling, inputs ``input_ids`` and ``attention_mask``, output the
pooled (not yet normalised) vector. The conversion traces the torch model (``torch`` and
``sentence-transformers`` are needed then, not afterwards) and writes into a temporary folder
renamed into place, so an interrupted conversion leaves nothing half-written. Tokenisation
uses the tokenizer transformers makes of the folder, saved beside the model and run
through ``tokenizers``: no torch or transformers is loaded to embed.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
import threading
import time
import warnings
from collections.abc import Iterable, Iterator, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from polyfind.errors import ModelUnavailableError
from polyfind.model_build import MARKER_FILE, read_marker, swap_in
from polyfind.settings import Settings

log = logging.getLogger(__name__)

#: Bumped when the converted graph changes (inputs, outputs, pooling), so caches are redone.
CONVERT_FORMAT = 2
#: Written last into a converted folder; its presence means the conversion is complete.
OV_MARKER = "polyfind_openvino.json"
#: OpenVINO inference precision hint for each polyfind precision it runs.
PRECISION_HINTS = {"fp32": "f32", "bf16": "bf16"}
#: The model file each precision runs from. bf16 runs from weights stored in fp16
#: (OpenVINO's own weight compression, ``save_model(compress_to_fp16=True)``): every weight
#: becomes bf16 when compiled either way, but the mapped file is half the size and the word
#: embeddings (most of the model's weights) are read only for the tokens a batch holds, so the
#: process's peak memory drops by about the fp32 file's size (BENCHMARKS.md "Engines"). fp32
#: runs from the fp32 weights, as converted.
MODEL_FILES = {"fp32": "model.xml", "bf16": "model-f16.xml"}
#: Texts per inference request. With the throughput hint, every request runs on its own
#: stream (one core each), so small batches keep all cores busy on a few chunks;
#: BENCHMARKS.md, "Speed" (scripts/bench_engines.py) measured 8-32.
BATCH = 16

_INSTALL_HINT = (
    "The openvino engine needs the openvino package: `pip install openvino` "
    "(or `make install`), or choose the torch engine (--engine torch, POLYFIND_ENGINE=torch)."
)


def openvino_available() -> bool:
    """True when the ``openvino`` package is installed (without importing it)."""
    try:
        metadata.version("openvino")
    except metadata.PackageNotFoundError:
        return False
    return True


def _import_openvino() -> Any:
    try:
        import openvino
    except ImportError as exc:
        raise ModelUnavailableError(f"openvino is not importable ({exc}). {_INSTALL_HINT}") from exc
    return openvino


def converted_path(source: Path) -> Path:
    """Where the OpenVINO conversion of the sentence-transformers folder ``source`` goes."""
    return source.parent / f"{source.name}-openvino"


def _expected_marker(source: Path) -> dict[str, Any]:
    marker = read_marker(source) or {}
    return {
        "format": CONVERT_FORMAT,
        "source": marker.get("name", source.name),
        "source_sha256": marker.get("source_sha256"),
        "source_build_format": marker.get("build_format"),
    }


def model_file(converted: Path, precision: str) -> Path:
    """The model file of the converted folder ``converted`` that ``precision`` runs; made
    from the fp32 file on first use where a folder converted before it existed lacks it."""
    path = converted / MODEL_FILES.get(precision, MODEL_FILES["fp32"])
    if not path.is_file():
        _compressed_copy(converted / MODEL_FILES["fp32"], path)
    return path


def _compressed_copy(source: Path, target: Path) -> None:
    """``source`` saved again with fp16 weights as ``target`` (its .bin renamed into place
    first, then its .xml: the .xml's presence means the copy is complete)."""
    ov = _import_openvino()
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.stem}.building-", dir=target.parent))
    try:
        ov.save_model(ov.Core().read_model(str(source)), str(tmp / target.name))
        os.replace(tmp / target.with_suffix(".bin").name, target.with_suffix(".bin"))
        os.replace(tmp / target.name, target)
    except (OSError, RuntimeError) as exc:
        if not target.is_file():  # else another process made the same copy first
            raise ModelUnavailableError(
                f"Cannot write the OpenVINO model {target}: {exc}; check that its folder "
                "is writable, or run `polyfind model build --force`"
            ) from exc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def ensure_converted(source: Path) -> Path:
    """The OpenVINO model (``model.xml``, fp32) made from ``source``, converting it on first
    use; ``model_file`` names the file of each precision in the same folder."""
    target = converted_path(source)
    expected = _expected_marker(source)
    try:
        found = json.loads((target / OV_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        found = None
    if isinstance(found, dict) and all(found.get(k) == v for k, v in expected.items()):
        return target / "model.xml"
    log.warning(
        "Converting the embedding model at %s for OpenVINO into %s "
        "(first use only, takes about 10-20 s)",
        source,
        target,
    )
    return convert(source, target, expected) / "model.xml"


def convert(source: Path, target: Path, marker: dict[str, Any] | None = None) -> Path:
    """Convert the sentence-transformers folder ``source`` (a BERT-like encoder with mean
    pooling) to an OpenVINO model in ``target``; returns ``target``."""
    ov = _import_openvino()
    try:
        import torch
        from sentence_transformers import SentenceTransformer
    except ImportError as exc:
        raise ModelUnavailableError(
            f"Converting the model for OpenVINO needs torch and sentence-transformers ({exc})."
        ) from exc
    if not (source / MARKER_FILE).is_file() and not (source / "modules.json").is_file():
        raise ModelUnavailableError(f"{source} is not a sentence-transformers folder")
    started = time.perf_counter()
    with warnings.catch_warnings():  # tracing warns about every shape-dependent branch
        warnings.simplefilter("ignore")
        return _convert(ov, torch, SentenceTransformer, source, target, marker, started)


def _convert(
    ov: Any,
    torch: Any,
    sentence_transformer: Any,
    source: Path,
    target: Path,
    marker: dict[str, Any] | None,
    started: float,
) -> Path:
    st = sentence_transformer(str(source), device="cpu", local_files_only=True)
    st.eval()
    pooled = pooled_module(st[0].auto_model)
    enc = st.tokenizer(
        ["passage: hello world", "passage: 안녕하세요 세계 日本語の文"],
        padding=True,
        return_tensors="pt",
        return_token_type_ids=False,
    )
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.building-", dir=target.parent))
    try:
        with torch.no_grad():
            model = ov.convert_model(
                pooled,
                example_input={
                    "input_ids": enc["input_ids"],
                    "attention_mask": enc["attention_mask"],
                },
            )
        for precision, name in MODEL_FILES.items():
            ov.save_model(model, str(tmp / name), compress_to_fp16=precision != "fp32")
        # the tokenizer as transformers builds it from the folder (for XLM-R vocabularies it
        # splits on whitespace first, unlike the folder's tokenizer.json): the same token ids
        # as the torch engine and the chunker's counts
        backend = st.tokenizer.backend_tokenizer
        (tmp / "tokenizer.json").write_text(backend.to_str(), encoding="utf-8")
        info = {
            **(marker or _expected_marker(source)),
            "openvino": metadata.version("openvino"),
            "dim": int(st.get_embedding_dimension() or 0),
            "max_tokens": int(st.max_seq_length or 512),
            "prompts": {"query": "query: ", "passage": "passage: "},
        }
        (tmp / OV_MARKER).write_text(json.dumps(info, indent=1), encoding="utf-8")
        os.chmod(tmp, 0o755)
        swap_in(tmp, target)
    except OSError as exc:
        if (target / OV_MARKER).is_file():
            return target  # another process finished the same conversion first
        raise ModelUnavailableError(f"Cannot write the OpenVINO model {target}: {exc}") from exc
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    log.info("converted %s for OpenVINO in %.1f s", source, time.perf_counter() - started)
    return target


def pooled_module(bert: Any) -> Any:
    """The transformer plus mean pooling as one torch module: (input_ids, attention_mask) ->
    (batch, hidden). Built on call: torch is heavy."""
    import torch

    class Pooled(torch.nn.Module):
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any) -> Any:
            out = self.inner(input_ids=input_ids, attention_mask=attention_mask)
            hidden = out.last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
            return (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)

    return Pooled(bert).eval()


class OpenVINOModel:
    """A compiled OpenVINO model: token ids in batches -> pooled, L2-normalised vectors."""

    def __init__(self, xml: Path, precision: str, threads: int = 0) -> None:
        if precision not in PRECISION_HINTS:
            raise ModelUnavailableError(
                f"the openvino engine runs {' or '.join(PRECISION_HINTS)}, not {precision}; "
                "use the torch engine (--engine torch) for it"
            )
        ov = _import_openvino()
        core = ov.Core()
        config: dict[str, Any] = {
            "INFERENCE_PRECISION_HINT": PRECISION_HINTS[precision],
            "PERFORMANCE_HINT": "THROUGHPUT",
        }
        if threads > 0:
            config["INFERENCE_NUM_THREADS"] = threads
            # Several processes, each given a share of the cores (Dask workers of one
            # thread each), must not all pin their threads to the same first cores: two
            # single-thread processes ran at 18 chunks/s each pinned, 25 unpinned.
            config["ENABLE_CPU_PINNING"] = False
        self._ov = ov
        self.compiled = core.compile_model(str(xml), "CPU", config)
        self._single = self.compiled.create_infer_request()
        self._queue = ov.AsyncInferQueue(
            self.compiled, int(self.compiled.get_property("OPTIMAL_NUMBER_OF_INFER_REQUESTS"))
        )

    def infer_one(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Pooled vectors of one batch, in this thread (one stream)."""
        self._single.infer({"input_ids": ids, "attention_mask": mask})
        return np.array(self._single.get_output_tensor(0).data, dtype=np.float32)

    def infer_stream(
        self, batches: Iterable[tuple[np.ndarray, np.ndarray]]
    ) -> Iterator[tuple[int, np.ndarray]]:
        """(position, pooled vectors) of each batch as it finishes, in this thread.

        Batches are handed to the plugin's streams as they come: while the streams compute,
        the caller tokenises the next batch (``start_async`` waits while every request is
        busy), so the cores never wait for Python between batches.
        """
        finished: list[tuple[int, np.ndarray]] = []
        lock = threading.Lock()

        def done(request: Any, k: int) -> None:
            vecs = np.array(request.get_output_tensor(0).data, dtype=np.float32)
            with lock:
                finished.append((k, vecs))

        def drain() -> list[tuple[int, np.ndarray]]:
            with lock:
                ready = finished[:]
                finished.clear()
            return ready

        self._queue.set_callback(done)
        for k, (ids, mask) in enumerate(batches):
            self._queue.start_async({"input_ids": ids, "attention_mask": mask}, k)
            yield from drain()
        self._queue.wait_all()
        yield from drain()


def load_tokenizer(folder: Path) -> Any:
    """The folder's fast tokenizer as saved (no padding, no truncation). It takes about
    300 MB (the XLM-R vocabulary), so one copy serves counting and batching alike:
    ``batch_ids`` pads and truncates its output."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.no_padding()  # the saved file may carry the padding and truncation it was used with
    tok.no_truncation()
    return tok


def batch_ids(
    tokenizer: Any, texts: Sequence[str], max_tokens: int, pad_id: int
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and attention mask of ``texts`` padded to the longest, each cut to
    ``max_tokens`` as the tokenizer's own truncation cuts it for a single text framed by one
    special token at each end (XLM-R's ``<s> ... </s>``): the text's tokens are cut and the
    closing token kept."""
    rows = [e.ids for e in tokenizer.encode_batch(list(texts))]
    rows = [r if len(r) <= max_tokens else r[: max_tokens - 1] + r[-1:] for r in rows]
    width = max((len(r) for r in rows), default=0)
    ids = np.full((len(rows), width), pad_id, dtype=np.int64)
    mask = np.zeros((len(rows), width), dtype=np.int64)
    for i, r in enumerate(rows):
        ids[i, : len(r)] = r
        mask[i, : len(r)] = 1
    return ids, mask


def default_threads(settings: Settings) -> int:
    return settings.threads if settings.threads > 0 else 0
