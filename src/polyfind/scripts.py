"""Writing systems: the character classes every stage uses, defined once.

Each constant is the inside of a regular-expression character class (``f"[{KANA}]"``);
the predicates test one character. Hangul covers syllables, conjoining jamo and the
compatibility jamo; Han covers the unified ideographs with extension A and B-F, the
compatibility ideographs and the radicals; kana includes the half-width forms.
"""

from __future__ import annotations

import re

#: The precomposed Hangul syllables (가-힣): the letters of running Korean text.
HANGUL_SYLLABLES = "\uac00-\ud7a3"
#: The compatibility jamo (ㄱ-ㆎ): letters written alone, the bullet ㅇ, the middle dot ㆍ.
HANGUL_COMPAT_JAMO = "\u3131-\u318e"
#: Syllables, conjoining jamo (with extensions A and B) and compatibility jamo.
HANGUL = "\u1100-\u11ff" + HANGUL_COMPAT_JAMO + "\ua960-\ua97f" + HANGUL_SYLLABLES + "\ud7b0-\ud7ff"
#: Hiragana and katakana (without the middle dot U+30FB, which Korean text uses too), their
#: extensions and the half-width forms.
KANA = "\u3041-\u3096\u309d-\u309f\u30a1-\u30fa\u30fc-\u30ff\u31f0-\u31ff\uff66-\uff9f"
#: The iteration and closing marks 々 〆 〇, which go with kanji.
ITERATION = "\u3005-\u3007"
#: Radicals, unified ideographs with extension A and B-F, compatibility ideographs.
HAN = "\u2e80-\u2fdf\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff\U00020000-\U0003134f"
#: CJK punctuation and symbols, full-width forms, vertical forms (not letters).
CJK_PUNCT = "\u3000-\u3004\u3008-\u303f\u30fb\ufe30-\ufe4f\uff01-\uff65"
JAPANESE = KANA + ITERATION + HAN
CJK = HANGUL + KANA + ITERATION + HAN
#: What Japanese text is written with (``is_japanese``): kana, kanji, CJK punctuation and
#: full-width forms, the kana marks (゛ ゜ ゠ ・) and full-width signs (￥ ￡) included.
JAPANESE_TEXT = JAPANESE + CJK_PUNCT + "\u3000-\u30ff\uffe0-\uffef"

_JAPANESE_CHAR = re.compile(f"[{JAPANESE_TEXT}]")
_HANGUL_CHAR = re.compile(f"[{HANGUL}]")


def has_hangul(text: str) -> bool:
    """Whether ``text`` holds any Hangul (syllables or jamo)."""
    return _HANGUL_CHAR.search(text) is not None


def is_hangul(ch: str) -> bool:
    return _HANGUL_CHAR.match(ch) is not None


def is_japanese(ch: str) -> bool:
    """Kana, kanji, CJK punctuation or a full-width form (not Hangul)."""
    return _JAPANESE_CHAR.match(ch) is not None


def is_cjk(ch: str) -> bool:
    return is_japanese(ch) or is_hangul(ch)
