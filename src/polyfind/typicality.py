"""How typical of its document each passage is: the passage's cosine with its document's mean
vector, minus the document's average of that cosine.

High for the passages that say what the whole document says (title page, contents, revision
history, summary), low for those that hold a particular fact. The searcher lowers the
typical passages within a document (``Searcher._less_typical``), so that the passage that
matches the query rather than the document comes first.

The indexer stores each passage's value with it (``chunks.typicality``, schema 4), so a
search reads one number per candidate instead of every vector of each candidate document.
The vectors are taken as the search index holds them (the language projection applied).
"""

from __future__ import annotations

import numpy as np

from .language_bias import LanguageProjection


def typicality(vectors: np.ndarray, projection: LanguageProjection | None) -> np.ndarray:
    """The typicality of each of one document's passages (``vectors``: all of them, in
    the order of their ids)."""
    vecs = np.ascontiguousarray(vectors, dtype=np.float32)
    if len(vecs) == 0:
        return np.zeros(0, dtype=np.float64)
    if projection is not None:
        vecs = projection.apply(vecs)
    centre = vecs.mean(axis=0)
    centre /= max(float(np.linalg.norm(centre)), 1e-12)
    cos = vecs @ centre
    out: np.ndarray = (cos - cos.mean()).astype(np.float64)
    return out
