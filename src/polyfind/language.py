"""Language identification for passages, queries and whole documents.

Scripts are counted first (Hangul, kana, Han, Latin, other letters); that alone settles
Korean and Japanese, including mixed lines such as a Korean sentence with English
acronyms. Han-only text (kanji headings, queries like "半導体") is ambiguous between
Japanese, Chinese and Korean hanja: the document's language (``default``) decides, and
otherwise it is Japanese unless it carries clear Chinese markers (simplified-only
characters, Chinese function characters). ``langdetect`` is used only to tell
Latin-script (and other alphabetic) languages apart, after a quick English check that
also makes short English queries ("NIST", "battery recycling") come out right. The weights
and thresholds are ``LanguageSettings`` (``Settings.language``), passed as ``cfg``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from langdetect import DetectorFactory, detect_langs
from langdetect.lang_detect_exception import LangDetectException

from . import scripts
from .settings import LanguageSettings

DetectorFactory.seed = 0

__all__ = ["UNDETERMINED", "detect_document_language", "detect_language"]

UNDETERMINED = "und"

_HANGUL_RE = re.compile(f"[{scripts.HANGUL}]")
# Hiragana, katakana (without the middle dot U+30FB that Korean text uses too),
# katakana extensions, half-width katakana, and the iteration marks 々 〆.
_KANA_RE = re.compile(f"[{scripts.KANA}\u3005\u3006]")
_HAN_RE = re.compile(f"[{scripts.HAN}]")
_LATIN_RE = re.compile(
    "[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff\uff21-\uff3a\uff41-\uff5a]"
)
_LETTER_RE = re.compile(r"[^\W\d_]")

# Characters that only simplified Chinese uses (Japanese writes 這/们-free text with
# its own shinjitai forms: 経 済 術 業 産 開 関 ...), plus a few traditional-only
# function characters that modern Japanese does not use.
_ZH_STRONG = (
    "这们个说对时发经济术业产开关门进长东车电动过还么应资员问题间级导华网络计划兴务"
    "标边见话让认识设论证无从为于样书报图实现处头乐义专两严丰举习买亚亲亿仅众优传价"
    "这們說這"
)
# Common Chinese function characters; each is weak evidence on its own because Japanese
# compounds use some of them (経済的, 存在, 平和).
_ZH_WEAK = "的了是在和有我他也就吗呢吧很把"
_ZH_STRONG_RE = re.compile("[" + "".join(sorted(set(_ZH_STRONG))) + "]")
_ZH_WEAK_RE = re.compile("[" + _ZH_WEAK + "]")

_URL_RE = re.compile(r"(?:https?://|www\.)\S+", re.IGNORECASE)
_LATIN_WORD_RE = re.compile(
    "[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]+(?:['\u2019][A-Za-z]+)?"
)
_NON_ASCII_LATIN_RE = re.compile("[\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f\u1e00-\u1eff]")

# Words that are frequent in English and rare as words of other Latin-script languages.
_EN_WORD_LIST = """
    the and of with that this for from which will are were has have been their its our
    is be by to an as at on or not can should would these those into about than also
    they we it who what how more such other may must shall including through between
"""
_EN_WORDS = frozenset(_EN_WORD_LIST.split())

# Languages whose documents give Han-only text their reading.
_HAN_LANGUAGES = frozenset({"ja", "ko", "zh"})


@dataclass
class _Counts:
    hangul: int = 0
    kana: int = 0
    han: int = 0
    latin: int = 0
    other: int = 0
    zh_strong: int = 0
    zh_weak: int = 0

    @property
    def letters(self) -> int:
        return self.hangul + self.kana + self.han + self.latin + self.other

    def add(self, other: _Counts) -> None:
        self.hangul += other.hangul
        self.kana += other.kana
        self.han += other.han
        self.latin += other.latin
        self.other += other.other
        self.zh_strong += other.zh_strong
        self.zh_weak += other.zh_weak


def _count(text: str) -> _Counts:
    hangul = len(_HANGUL_RE.findall(text))
    kana = len(_KANA_RE.findall(text))
    han = len(_HAN_RE.findall(text))
    latin = len(_LATIN_RE.findall(text))
    letters = len(_LETTER_RE.findall(text))
    other = max(0, letters - hangul - kana - han - latin)
    zh_strong = zh_weak = 0
    if han:
        zh_strong = len(_ZH_STRONG_RE.findall(text))
        zh_weak = len(_ZH_WEAK_RE.findall(text))
    return _Counts(hangul, kana, han, latin, other, zh_strong, zh_weak)


def _normalise_default(default: str | None) -> str | None:
    if not default:
        return None
    code = default.strip().lower().replace("_", "-").split("-")[0]
    if not code or code == UNDETERMINED:
        return None
    return code


def _looks_chinese(counts: _Counts) -> bool:
    score = 2 * counts.zh_strong + counts.zh_weak
    return score >= 2 and score * 25 >= counts.han


def _decide_han(counts: _Counts, default: str | None) -> str:
    """Han-only (possibly with some Latin) text."""
    if _looks_chinese(counts):
        return "zh"
    if default in _HAN_LANGUAGES:
        return default
    return "ja"


def _decide_cjk(counts: _Counts, default: str | None) -> str:
    if counts.hangul == 0 and counts.kana == 0:
        return _decide_han(counts, default)
    if counts.kana == 0:
        # Korean with hanja, or a Chinese title quoted in a Korean report.
        if counts.han > 2 * counts.hangul and _looks_chinese(counts):
            return "zh"
        return "ko"
    if counts.hangul == 0:
        return "ja"
    # Both: Korean text rarely carries kana, Japanese text carries much Han.
    return "ko" if counts.hangul > counts.kana + counts.han / 2 else "ja"


def _langdetect(text: str) -> str | None:
    try:
        guesses = detect_langs(text)
    except LangDetectException:
        return None
    if not guesses:
        return None
    code = str(guesses[0].lang)
    return code.split("-")[0].lower()


def _latin_default(default: str | None) -> str:
    """The document's language if it is written in Latin script, else English."""
    if default is not None and default not in _HAN_LANGUAGES:
        return default
    return "en"


def _decide_latin(text: str, default: str | None, cfg: LanguageSettings) -> str:
    sample = _URL_RE.sub(" ", text[: cfg.sample_chars])
    words = _LATIN_WORD_RE.findall(sample)
    if not words:  # only URLs
        return _latin_default(default)
    english = sum(1 for w in words if w.lower() in _EN_WORDS)
    if len(words) < cfg.short_words:
        if english:
            return "en"
        if _NON_ASCII_LATIN_RE.search(sample) is None:
            # Too short for langdetect (it calls "NIST" Vietnamese).
            return _latin_default(default)
    elif english * 8 >= len(words):
        return "en"
    guess = _langdetect(" ".join(words))
    if guess != "en" and len(words) < cfg.trusted_words and default is not None:
        # langdetect guesses wildly on a few abbreviations and units ("kWh MW t-CO2" as
        # Norwegian); in a document of another language, they are its own.
        return _latin_default(default)
    return guess or _latin_default(default)


def _decide(counts: _Counts, text: str, default: str | None, cfg: LanguageSettings) -> str:
    cjk = cfg.cjk_weight * (counts.hangul + counts.kana + counts.han)
    if cjk == 0 and counts.latin == 0 and counts.other == 0:
        return UNDETERMINED
    if cjk >= counts.latin and cjk >= counts.other:
        return _decide_cjk(counts, default)
    if counts.latin >= counts.other:
        return _decide_latin(text, default, cfg)
    guess = _langdetect(_URL_RE.sub(" ", text[: cfg.sample_chars]))
    return guess or UNDETERMINED


def _mostly_numbers(counts: _Counts, text: str) -> bool:
    """Text with at least as many digits as letters, none of them Hangul or kana (a row
    of a number table, whose script says nothing)."""
    if counts.hangul or counts.kana:
        return False
    letters = counts.letters
    return letters > 0 and sum(c.isdigit() for c in text) >= letters


def _only_numbers(counts: _Counts, text: str) -> bool:
    """Digits and no letter at all (a row of figures)."""
    return counts.letters == 0 and any(c.isdigit() for c in text)


def detect_language(
    text: str, default: str | None = None, cfg: LanguageSettings | None = None
) -> str:
    """ISO 639-1 code of ``text``: "ko", "ja", "en", "zh", another code, or "und".

    ``default`` is the language of the surrounding document; it decides Han-only text
    (a kanji heading in a Japanese report, hanja in a Korean one) and very short
    Latin-script text in a document written in another Latin-script language.
    Text that is mostly numbers (a table row) takes ``default`` when there is one.
    "und" is returned when ``text`` has neither a letter nor (with a ``default``) a digit.
    """
    counts = _count(text)
    default = _normalise_default(default)
    if default is not None and (_mostly_numbers(counts, text) or _only_numbers(counts, text)):
        return default  # labels of a number table say little; the document says more
    return _decide(counts, text, default, cfg or LanguageSettings())


def detect_document_language(texts: Iterable[str], cfg: LanguageSettings | None = None) -> str:
    """Language of a whole document given its pages or passages.

    Scripts are counted over all of ``texts`` and the weighted majority wins; when Latin
    script wins, the language is read from a sample of the text.
    """
    cfg = cfg or LanguageSettings()
    total = _Counts()
    sample: list[str] = []
    sampled = 0
    for text in texts:
        counts = _count(text)
        total.add(counts)
        if sampled < cfg.sample_chars and counts.latin:
            sample.append(text[: cfg.sample_chars - sampled])
            sampled += len(sample[-1])
    return _decide(total, "\n".join(sample), None, cfg)
