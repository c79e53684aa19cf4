"""Korean word spacing where a PDF's lines break: inside a word or between two words.

Hwp and Hancom Office wrap Korean lines at any syllable, and a PDF's text layer rarely says
whether a line ended between words (a real space before the line end) or inside one
("비상임" / "이사", "추천" / "이나", "줄면" / "서"). The PDF loader joins such lines with
``WRAP`` where the text layer has no space, and ``resolve_wraps`` then decides each one from
Kiwi's morphological analysis of the two halves read together:

- a morpheme runs across the break: one word ("줄면서");
- the left half ends with a particle, an ending, an adverb, a determiner or a numeral
  ("141.5억" / "달러"), and the right
  half does not start with a particle, an ending or a suffix: two words ("장관이 임명한다",
  "의한 공공기관");
- anything else (a noun followed by a noun, a particle or a suffix): one word, as a
  compound or an inflection ("비상임이사", "추천이나", "순이며").

Kiwi (kiwipiepy, a dependency for the lexical analyser) loads once per process, on the
first document that needs it.
"""

from __future__ import annotations

import re
import threading
from functools import lru_cache
from typing import Any

#: Stands for a line break between two Hangul syllables whose spacing is not known yet.
WRAP = "\u2063"

_AROUND = re.compile(f"(\\S*){WRAP}(\\S*)")
_LEFT_ENDS_WORD = ("J", "E")
_LEFT_WORD_TAGS = frozenset({"MAG", "MAJ", "MM", "IC", "NR"})
_RIGHT_GOES_ON = ("J", "E", "XS", "VCP", "VCN")


_KIWI_LOCK = threading.Lock()


@lru_cache(maxsize=2)
def _make_kiwi(default_dict: bool) -> Any:
    from kiwipiepy import Kiwi

    # Without the multi-word dictionary (multi.dict: names and titles of several words) Kiwi
    # starts in less than half the time and analyses about twice as fast; the lexical terms
    # of the Korean bench passages differ in 0.4% of cases and no page of reports-dev or
    # corpus/ reads differently (measured when the analysers became mixed-4 and morph-5).
    kiwi = Kiwi(load_multi_dict=False, load_default_dict=default_dict)
    kiwi.tokenize("한국어")  # Kiwi builds its language model at the first analysis
    return kiwi


def kiwi() -> Any:
    """The Kiwi analyser of lexical terms, Korean queries and kanji readings (its model
    ships in kiwipiepy_model), made once per process: threads asking for it meanwhile wait
    for that one.

    It goes without Kiwi's default dictionary (default.dict, extra single words) too: ready
    in about 1.2 s instead of 2.1 s (a whole process: import, load, first analysis), which
    every Korean or Japanese query waits for, and 265 MB instead of 333; passages analyse
    at the same rate. korquad-ko lexical MRR@10 went up by 0.002, hybrid down by 0.002 (the
    analysers mixed-5 and morph-6; CHANGELOG)."""
    with _KIWI_LOCK:
        return _make_kiwi(False)


def spacing_kiwi() -> Any:
    """The Kiwi analyser that decides spaces in extracted text (``resolve_wraps``, table
    cells), with its default dictionary: names such as 「도로교통법」 stay one word across a
    wrap. Extraction runs in worker processes, so indexing Korean PDFs seldom loads both."""
    with _KIWI_LOCK:
        return _make_kiwi(True)


def _space_between(tokens: Any, pos: int) -> bool:
    ending = [t for t in tokens if t.start + t.len == pos]
    starting = [t for t in tokens if t.start == pos]
    if not ending or not starting:
        return False  # a morpheme runs across the break
    left, right = ending[-1].tag, starting[0].tag
    if right.startswith(_RIGHT_GOES_ON):
        return False
    return left.startswith(_LEFT_ENDS_WORD) or left in _LEFT_WORD_TAGS


def resolve_wraps(text: str) -> str:
    """``text`` with every ``WRAP`` replaced by a space or by nothing (see the module)."""
    if WRAP not in text:
        return text
    spots = list(_AROUND.finditer(text))
    words = [m.group(1) + m.group(2) for m in spots]
    analysed = spacing_kiwi().tokenize(words)
    out: list[str] = []
    pos = 0
    for m, tokens in zip(spots, analysed, strict=True):
        out.append(text[pos : m.start()])
        out.append(m.group(1))
        out.append(" " if _space_between(tokens, len(m.group(1))) else "")
        out.append(m.group(2))
        pos = m.end()
    out.append(text[pos:])
    return "".join(out).replace(WRAP, " ")
