"""Snippets for the result table: the part of a passage that answers the query, highlighted.

Where the query's own words occur in the passage (same-language hits), those are marked.
Where none do (typically a hit in another language), the sentence closest to the query in
embedding space is marked instead.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .chunking import fold_for_embedding, split_sentences
from .scripts import CJK

_LATIN = re.compile(r"[A-Za-z][A-Za-z0-9\-]*[A-Za-z0-9]|\d[\d,.]*\d|\d")
_CJK_RUN = re.compile(f"[{CJK}]+")
_STOP = frozenset(
    [
        "a",
        "an",
        "and",
        "are",
        "as",
        "at",
        "be",
        "by",
        "for",
        "from",
        "has",
        "have",
        "how",
        "in",
        "is",
        "it",
        "its",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "were",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "with",
        "about",
        "into",
        "does",
        "did",
        "do",
        "than",
    ]
)


@dataclass(frozen=True)
class Snippet:
    text: str
    highlights: tuple[tuple[int, int], ...]
    """(start, end) offsets into ``text``."""
    kind: str
    """"terms" (query words found), "sentence" (closest sentence) or "start"."""


def query_terms(query: str) -> list[str]:
    """Words to look for: Latin words and numbers, and CJK runs cut into bigrams."""
    terms: list[str] = []
    for m in _LATIN.finditer(query):
        w = m.group(0)
        if w.lower() not in _STOP and (len(w) > 1 or w.isdigit()):
            terms.append(w)
    for m in _CJK_RUN.finditer(query):
        run = m.group(0)
        if len(run) <= 2:
            terms.append(run)
        else:
            terms.extend(run[i : i + 2] for i in range(len(run) - 1))
    return list(dict.fromkeys(terms))


def find_terms(text: str, terms: Sequence[str]) -> list[tuple[int, int]]:
    """Merged spans of ``text`` where any term occurs (case-insensitive for Latin)."""
    spans: list[tuple[int, int]] = []
    lower = text.lower()
    for t in terms:
        tl = t.lower()
        latin = tl.isascii()
        pos = lower.find(tl)
        while pos >= 0:
            end = pos + len(tl)
            boundary = not latin or (
                (pos == 0 or not lower[pos - 1].isalnum())
                and (end >= len(lower) or not lower[end].isalnum() or len(tl) > 3)
            )
            if boundary:
                spans.append((pos, end))
            pos = lower.find(tl, pos + 1)
    spans.sort()
    merged: list[tuple[int, int]] = []
    for s, e in spans:
        if merged and s <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(e, merged[-1][1]))
        else:
            merged.append((s, e))
    return merged


def _window(text: str, spans: Sequence[tuple[int, int]], width: int) -> tuple[int, int]:
    if len(text) <= width:
        return 0, len(text)
    best, best_count = 0, -1
    for s, _ in spans:
        lo = max(0, s - width // 4)
        count = sum(1 for a, b in spans if a >= lo and b <= lo + width)
        if count > best_count:
            best, best_count = lo, count
    return best, min(len(text), best + width)


def _shift(spans: Sequence[tuple[int, int]], lo: int, hi: int) -> tuple[tuple[int, int], ...]:
    return tuple((max(s, lo) - lo, min(e, hi) - lo) for s, e in spans if e > lo and s < hi)


def make_snippet(
    query: str,
    text: str,
    *,
    width: int = 240,
    closest: Callable[[list[str]], int] | None = None,
) -> Snippet:
    """A window of ``text`` of about ``width`` characters with what matches ``query`` marked.

    ``closest`` picks, among candidate sentences, the index of the one nearest the query; it
    is used only when no query word occurs in the text.
    """
    spans = find_terms(text, query_terms(query))
    if spans:
        lo, hi = _window(text, spans, width)
        return _folded(text, lo, hi, _shift(spans, lo, hi), "terms")
    sentences = [(s, e) for s, e in split_sentences(text) if e - s > 3]
    if closest is not None and len(sentences) > 1:
        i = closest([fold_for_embedding(text[s:e]) for s, e in sentences])
        s, e = sentences[i]
        lo, hi = _window(text, [(s, e)], width)
        return _folded(text, lo, hi, _shift([(s, e)], lo, hi), "sentence")
    return _folded(text, 0, min(len(text), width), (), "start")


def _folded(text: str, lo: int, hi: int, spans: tuple[tuple[int, int], ...], kind: str) -> Snippet:
    """Cut ``text[lo:hi]``, fold each run of whitespace into one space, keep marks aligned."""
    out: list[str] = ["…"] if lo > 0 else []
    pos_map: list[int] = []  # output offset for each input offset of the cut
    for ch in text[lo:hi]:
        pos_map.append(len(out))
        if ch.isspace():
            if out and out[-1] != " ":
                out.append(" ")
        else:
            out.append(ch)
    pos_map.append(len(out))
    if hi < len(text):
        out.append("…")
    marks = tuple((pos_map[s], pos_map[e]) for s, e in spans if pos_map[e] > pos_map[s])
    return Snippet("".join(out), marks, kind)


def closest_sentence_picker(
    query_vector: np.ndarray, embed: Callable[[list[str]], np.ndarray]
) -> Callable[[list[str]], int]:
    """Build a ``closest`` function for make_snippet from an embedding function."""

    def pick(sentences: list[str]) -> int:
        vecs = embed(sentences)
        return int(np.argmax(vecs @ query_vector))

    return pick
