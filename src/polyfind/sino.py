"""Sino-Korean readings: Japanese kanji words read in Korean, a lexical bridge between the two.

Most of the vocabulary of Korean and Japanese reports is Sino-Xenic: 任期 is 임기, 理事会 is
이사회, 海外直接投資 is 해외직접투자. A Japanese query and a Korean passage share no character,
so BM25 cannot match them, and a small multilingual embedder often ranks the passage that
names the document (its title page) above the one that holds the answer. Reading the query's
kanji words as Hangul gives BM25 the Korean words (``Searcher`` searches the Korean passages
with them beside the query's own terms).

Readings come from the ``hanja`` package: its table of each character's reading, and its
initial-sound rule (理由 -> 이유, 労働 -> 노동). That table holds one reading a character, and
for a few characters it is not the one most compounds use (計画 is 계획, not 계화; 合格率 is
합격률, not 합격솔): for words with such a character, each combination of readings is scored by
Kiwi's language model and the likeliest Korean word is kept (``best_reading``). Only words of
two or more Han characters are read (one character alone has too many homophones to help),
and a word is dropped if any of its characters has no reading (a few characters added to
Unicode late, such as 龦).
The table loads once per process, the first time a query has a kanji word (``_table``).
"""

from __future__ import annotations

import importlib.util
import itertools
import json
import re
from collections.abc import Callable, Sequence
from functools import lru_cache
from pathlib import Path
from typing import cast

from .scripts import HAN, has_hangul

__all__ = ["best_reading", "korean_reading"]

#: A run of two or more Han characters (a kanji word or compound).
_HAN_WORD = re.compile(f"[{HAN}]{{2,}}")
_HAN_CHAR = re.compile(f"[{HAN}]")

#: Other readings of characters whose reading in the ``hanja`` table is not the one many
#: compounds use (率: 확률, 비율; 画: 계획; 省: 생략; 車: 자전거; 北: 패배; 復: 부활; 不: 부정;
#: 更: 갱신; 易: 용이; 便: 변); ``best_reading`` lets Kiwi choose. Left out are readings that
#: make common words of their own from other words (識 as 지 turns 지식 into 지지).
OTHER_READINGS: dict[str, str] = {
    "率": "률율",
    "律": "율",
    "列": "열",
    "烈": "열",
    "裂": "열",
    "劣": "열",
    "画": "획",
    "畫": "획",
    "省": "생",
    "車": "거",
    "北": "배",
    "復": "부",
    "不": "부",
    "洞": "통",
    "殺": "쇄",
    "更": "갱",
    "易": "이",
    "便": "변",
    "切": "체",
    "暴": "포",
    "茶": "차",
    "降": "항",
    "宅": "댁",
}
#: Most reading combinations scored for one word.
_MAX_CANDIDATES = 16


@lru_cache(maxsize=1)
def _table() -> tuple[dict[str, str], Callable[[str, str], str]]:
    """The ``hanja`` package's table (Han character -> Hangul reading) and its initial-sound
    rule (``dooeum``).

    Importing ``hanja.table`` parses its 27,000-line ``table.yml`` with PyYAML, about 0.6 s
    here. Every line of that file is a pair of JSON strings (``"\\u4E00": "\\uC77C"``), so it
    is read as JSON instead (about 20 ms); if a line is not, the package's own loader runs.
    """
    from hanja.hangul import dooeum

    spec = importlib.util.find_spec("hanja")
    table: object = None
    if spec is not None and spec.origin is not None:
        path = Path(spec.origin).with_name("table.yml")
        try:
            lines = [x for x in path.read_text(encoding="utf-8").splitlines() if x.strip()]
            table = json.loads("{" + ",".join(lines) + "}")
        except (OSError, ValueError):
            table = None
    if not isinstance(table, dict):
        from hanja.table import hanja_table

        table = hanja_table
    return cast(dict[str, str], table), dooeum


def _spell(word: str, readings: Sequence[str | None], dooeum: Callable[[str, str], str]) -> str:
    """``word`` with each character replaced by its reading in ``readings`` (None: the
    character stays), the initial-sound rule applied against the syllable before."""
    out: list[str] = []
    previous = " "
    for ch, reading in zip(word, readings, strict=True):
        if reading is not None:
            ch = dooeum(previous, reading)
        out.append(ch)
        previous = ch
    return "".join(out)


def read_word(word: str) -> str:
    """``word`` with each Han character replaced by its Hangul reading, as
    ``hanja.translate(word, "substitution")`` reads it (the initial-sound rule applied
    against the character before, read); characters without a reading stay."""
    table, dooeum = _table()
    return _spell(word, [table.get(ch) for ch in word], dooeum)


def _readings(word: str) -> list[str]:
    """``word``'s possible Hangul readings, the table's own first (``read_word``), then
    those with characters of ``OTHER_READINGS`` read otherwise (at most ``_MAX_CANDIDATES``
    in all)."""
    table, dooeum = _table()
    choices = [[table.get(ch), *OTHER_READINGS.get(ch, "")] for ch in word]
    combos = itertools.islice(itertools.product(*choices), _MAX_CANDIDATES)
    return [_spell(word, combo, dooeum) for combo in combos]


def best_reading(word: str) -> str:
    """``read_word(word)``, unless a character of ``word`` has other readings
    (``OTHER_READINGS``): then the reading Kiwi's language model finds likeliest as Korean
    (the table's own on a tie). 合格率 -> 합격률, 計画 -> 계획, 映画 -> 영화."""
    if not any(ch in OTHER_READINGS for ch in word):
        return read_word(word)
    from .korean import kiwi

    analyser = kiwi()
    best, best_score = "", float("-inf")
    for reading in _readings(word):
        score = float(analyser.analyze(reading)[0][1])
        if score > best_score:
            best, best_score = reading, score
    return best


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
    out = []
    for word in words:
        reading = best_reading(word)
        if not _HAN_CHAR.search(reading):
            out.append(reading)
    return " ".join(out)
