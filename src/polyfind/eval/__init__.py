"""Retrieval evaluation: ``polyfind eval``.

- ``datasets``: BEIR-layout folders and page-level question files.
- ``metrics``: passage-ranking metrics (nDCG, MRR, Recall) and the page-level question
  metrics (document@5, page@1, page@5), defined once here for the CLI and the scripts.
- ``cache``: a BEIR set's index, built through the pipeline and cached between runs.
- ``runner``: evaluating datasets and question files with the library's ``Searcher``.
"""

from __future__ import annotations

from ..search import MODES
from .cache import DEFAULT_CACHE_DIR, clear_cache, passage_file_text, prepare_index
from .datasets import Dataset, DatasetError, Question, load_dataset, load_questions
from .metrics import (
    QUESTION_METRICS,
    Count,
    QuestionResult,
    QuestionSummary,
    dedupe,
    first_relevant_rank,
    ranking_metrics,
    score_question,
    summarize,
)
from .runner import (
    DEFAULT_MAX_QUERIES,
    METRIC_KEYS,
    QUESTION_DEPTH,
    DatasetReport,
    ModeResult,
    QuestionReport,
    evaluate,
    run_questions,
)

__all__ = [
    "DEFAULT_CACHE_DIR",
    "DEFAULT_MAX_QUERIES",
    "METRIC_KEYS",
    "MODES",
    "QUESTION_DEPTH",
    "QUESTION_METRICS",
    "Count",
    "Dataset",
    "DatasetError",
    "DatasetReport",
    "ModeResult",
    "Question",
    "QuestionReport",
    "QuestionResult",
    "QuestionSummary",
    "clear_cache",
    "dedupe",
    "evaluate",
    "first_relevant_rank",
    "load_dataset",
    "load_questions",
    "passage_file_text",
    "prepare_index",
    "ranking_metrics",
    "run_questions",
    "score_question",
    "summarize",
]
