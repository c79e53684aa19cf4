"""Sino-Korean readings: Japanese kanji words read in Korean, a lexical bridge between the two.

Most of the vocabulary of Korean and Japanese reports is Sino-Xenic: 任期 is 임기, 理事会 is
이사회, 海外直接投資 is 해외직접투자. A Japanese query and a Korean passage share no character,
so BM25 cannot match them, and a small multilingual embedder often ranks the passage that
names the document (its title page) above the one that holds the answer. Reading the query's
kanji words as Hangul gives BM25 the Korean words (``Searcher`` searches the Korean passages
with them beside the query's own terms).

Readings come from the ``hanja`` package (its table of Hanja and word readings, with the
initial-sound rule for the words it knows: 理由 -> 이유). Only words of two or more Han
characters are read (one character alone has too many homophones to help), and a word is
dropped if any of its characters has no reading (Japanese-made kanji such as 働 in 働く).
The table loads once per process, the first time a query has a kanji word (about 0.2 s).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Any

from .scripts import HAN, has_hangul

__all__ = ["korean_reading"]

#: A run of two or more Han characters (a kanji word or compound).
_HAN_WORD = re.compile(f"[{HAN}]{{2,}}")


@lru_cache(maxsize=1)
def _hanja() -> Any:
    import hanja

    return hanja


def korean_reading(text: str) -> str:
    """The Hangul readings of ``text``'s kanji words, space-separated ("" if it has none).

    Text with Hangul in it is Korean already: its Han characters (Hanja in parentheses) are
    glosses of the Korean words beside them, so it gets no reading.

    >>> korean_reading("院長の任期と理事・監事の任期")
    '원장 임기 이사 감사 임기'
    """
    if has_hangul(text):
        return ""
    words = _HAN_WORD.findall(text)
    if not words:
        return ""
    hanja = _hanja()
    out = []
    for word in words:
        reading = hanja.translate(word, "substitution")
        if not any(hanja.is_hanja(ch) for ch in reading):
            out.append(reading)
    return " ".join(out)
