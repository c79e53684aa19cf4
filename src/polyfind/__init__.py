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

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import PolyfindError

if TYPE_CHECKING:
    from .pipeline import index_paths, relocate
    from .records import Chunk, Document, Hit, IndexSummary, Page, Passage, RelocateSummary
    from .search import Searcher, search
    from .settings import DEFAULT_MODEL, Settings
    from .status import IndexStatus, index_status

__version__ = "0.1.0"

#: Imported when first used (PEP 562), so that a command imports only what it runs:
#: `polyfind search` never loads the indexing pipeline, and one answered by the resident
#: searcher not even the settings (their dataclasses take about 20 ms to make).
_LAZY = {
    "DEFAULT_MODEL": "settings",
    "Settings": "settings",
    "Chunk": "records",
    "Document": "records",
    "Hit": "records",
    "IndexSummary": "records",
    "Page": "records",
    "Passage": "records",
    "RelocateSummary": "records",
    "IndexStatus": "status",
    "index_status": "status",
    "index_paths": "pipeline",
    "relocate": "pipeline",
    "Searcher": "search",
    "search": "search",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'polyfind' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *_LAZY])


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
