"""polyfind: index Korean, Japanese and English reports and search them across languages.

Python usage::

    from polyfind import Searcher, index_paths
    from polyfind.settings import resolve

    settings = resolve({"index_dir": "indexes/default"})  # defaults < POLYFIND_* < these
    summary = index_paths(["corpus"], settings)
    with Searcher(settings) as s:
        for hit in s.search("quantum computing cooperation", k=5):
            print(hit.citation, hit.score, hit.text[:80])
"""

from __future__ import annotations

from .errors import PolyfindError
from .pipeline import index_paths, relocate
from .records import Chunk, Document, Hit, IndexSummary, Page, Passage, RelocateSummary
from .search import Searcher, search
from .settings import DEFAULT_MODEL, Settings
from .status import IndexStatus, index_status

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_MODEL",
    "Chunk",
    "Document",
    "Hit",
    "IndexStatus",
    "IndexSummary",
    "Page",
    "Passage",
    "PolyfindError",
    "RelocateSummary",
    "Searcher",
    "Settings",
    "index_paths",
    "index_status",
    "relocate",
    "search",
]
