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
from collections.abc import Iterable, Iterator
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


def ensure_converted(source: Path) -> Path:
    """The OpenVINO model (``model.xml``) made from ``source``, converting it on first use."""
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
        ov.save_model(model, str(tmp / "model.xml"), compress_to_fp16=False)
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


def load_tokenizer(folder: Path, max_tokens: int) -> Any:
    """The folder's fast tokenizer with truncation at ``max_tokens`` and padding to the
    longest text of a batch."""
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(folder / "tokenizer.json"))
    tok.enable_truncation(max_length=max_tokens)
    pad_id = tok.token_to_id("<pad>")
    tok.enable_padding(pad_id=0 if pad_id is None else pad_id, pad_token="<pad>")
    return tok


def default_threads(settings: Settings) -> int:
    return settings.threads if settings.threads > 0 else 0
