"""Remove the language-identity directions from embeddings, so languages compete fairly.

A multilingual encoder places passages of one language slightly apart from the others: the
mean vectors of Korean, Japanese and English text differ, and a query scores a few hundredths
higher against passages of its own language whatever they say. Projecting out the subspace
spanned by the differences of the per-language means (2 dimensions for 3 languages, of 384)
removes most of that offset while keeping what the text is about (the idea of low-rank
language-subspace removal, Xie et al. 2022, "Discovering Low-rank Subspaces for
Language-agnostic Multilingual Representations").

The means for the default model are estimated by ``scripts/language_directions.py`` from
monolingual Wikipedia passages (passages only: no queries, no judgements) and shipped as
``data/language_means-<model>.json``. Other models get no projection.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from importlib import resources

import numpy as np

from .settings import DEFAULT_MODEL

_FILES = {DEFAULT_MODEL: "language_means-multilingual-e5-small.json"}


@dataclass(frozen=True)
class LanguageProjection:
    """``x -> normalise(x - U U^T x)`` with ``U`` an orthonormal (dim, r) basis."""

    name: str
    basis: np.ndarray

    def apply(self, x: np.ndarray) -> np.ndarray:
        x = np.asarray(x, dtype=np.float32)
        if self.basis.shape[1] == 0:
            return x
        y = x - (x @ self.basis) @ self.basis.T
        norm = np.linalg.norm(y, axis=-1, keepdims=True)
        out: np.ndarray = (y / np.maximum(norm, 1e-12)).astype(np.float32)
        return out


def basis_from_means(means: dict[str, list[float]], rank: int | None = None) -> np.ndarray:
    """Orthonormal basis of the span of the centred language means."""
    m = np.asarray([means[k] for k in sorted(means)], dtype=np.float64)
    m -= m.mean(axis=0)
    _, sv, vt = np.linalg.svd(m, full_matrices=False)
    r = rank if rank is not None else int((sv > 1e-6 * sv[0]).sum())
    basis: np.ndarray = vt[:r].T.astype(np.float32)
    return basis


def load_projection(model_name: str) -> LanguageProjection | None:
    """The shipped projection for ``model_name``, or None if there is none."""
    fname = _FILES.get(model_name)
    if fname is None:
        return None
    data = json.loads(resources.files("polyfind.data").joinpath(fname).read_text("utf-8"))
    return LanguageProjection(f"{fname}:{data['version']}", basis_from_means(data["means"]))
