"""Text cleaning shared by the loaders: Unicode form, hard wraps, page furniture, garbage.

- ``normalize``: line ends, stray control characters, NFC (NFKC for PDFs: ligatures,
  full-width Latin, compatibility forms such as vertical punctuation).
- ``join_lines``: a hard-wrapped line and the next one become one: Korean and English with a
  space, Japanese without, an English end-of-line hyphen removed ("tech-" + "nology").
- ``repeated_margin_lines``: running headers, footers and page numbers, found because they
  repeat in the top or bottom margin of several pages.
- ``garbage_reason``: a text layer that decodes to garbage (``(cid:NNN)``, private-use
  characters, shifted or substituted letters) is not text.
- ``reflow_extracted_text``: plain text that was extracted from a PDF (lines wrapped at the
  page width, a blank line after each, page numbers on lines of their own) read back as
  paragraphs.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence

from .scripts import HANGUL_COMPAT_JAMO, JAPANESE, KANA, is_cjk, is_hangul, is_japanese

__all__ = ["is_cjk", "is_hangul", "is_japanese"]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+\n")

# ------------------------------------------------------------------------ characters


# ------------------------------------------------------------------------- normalising


#: Presentation forms a PDF's text layer may carry where the page shows ordinary text:
#: Latin ligatures (U+FB00-FB06) and vertical punctuation (U+FE10-FE19, U+FE30-FE4F). They
#: are replaced by what they stand for even in the stored text; everything else (full-width
#: digits and letters, circled numbers, ideographic spaces, radicals) stays as printed.
_PRESENTATION = re.compile("[\ufb00-\ufb06\ufe10-\ufe19\ufe30-\ufe4f]")

#: CJK Radicals Supplement characters that PDFs (fonts with radical glyphs) put where the
#: page shows the unified ideograph, with that ideograph. NFKC does not map this block;
#: the pairs are those of Unicode's EquivalentUnifiedIdeograph.txt.
_RADICALS = str.maketrans(
    {
        "\u2e85": "亻",
        "\u2e96": "忄",
        "\u2e97": "心",
        "\u2e98": "扌",
        "\u2e9c": "日",
        "\u2e9d": "月",
        "\u2e9f": "母",
        "\u2ea0": "民",
        "\u2ea1": "氵",
        "\u2ea3": "灬",
        "\u2ea4": "爫",
        "\u2ea8": "犭",
        "\u2ea9": "王",
        "\u2eab": "罒",
        "\u2eac": "示",
        "\u2ead": "礻",
        "\u2eae": "竹",
        "\u2eaf": "糸",
        "\u2eb2": "罒",
        "\u2eb9": "耂",
        "\u2ebc": "月",
        "\u2ebd": "臼",
        "\u2ebe": "艹",
        "\u2ec1": "虎",
        "\u2ec2": "衤",
        "\u2ec4": "西",
        "\u2ec5": "见",
        "\u2ec6": "角",
        "\u2ec8": "讠",
        "\u2ec9": "贝",
        "\u2ecb": "车",
        "\u2ecc": "辶",
        "\u2ecd": "辶",
        "\u2ecf": "阝",
        "\u2ed0": "钅",
        "\u2ed1": "長",
        "\u2ed3": "长",
        "\u2ed4": "门",
        "\u2ed6": "阝",
        "\u2ed7": "雨",
        "\u2ed8": "青",
        "\u2eda": "页",
        "\u2edb": "风",
        "\u2edc": "飞",
        "\u2edd": "食",
        "\u2ee0": "饣",
        "\u2ee2": "马",
        "\u2ee3": "骨",
        "\u2ee4": "鬼",
        "\u2ee5": "鱼",
        "\u2ee6": "鸟",
        "\u2ee8": "麦",
        "\u2ee9": "黄",
        "\u2eeb": "斉",
        "\u2eed": "歯",
        "\u2eef": "竜",
        "\u2ef0": "龙",
        "\u2ef2": "亀",
        "\u2ef3": "龟",
    }
)
#: Hangul compatibility jamo (the bullet ㅇ, the middle dot ㆍ) stay as they are under the
#: search folding: NFKC would turn them into conjoining jamo, which combine with the next
#: syllable. ㆍ (ARAEA, typed for a middle dot) folds to the middle dot.
_COMPAT_JAMO = re.compile(f"[{HANGUL_COMPAT_JAMO}]+")
_ARAEA = str.maketrans({"\u318d": "\u00b7"})


def normalize(text: str, *, presentation: bool = False) -> str:
    """Normalise line ends, Unicode form (NFC) and stray control characters.

    Newlines stay where they were so that line numbers stay those of the source.
    ``presentation`` replaces presentation forms (ligatures, vertical punctuation) with the
    characters they stand for, as PDFs need. Compatibility characters (full-width forms,
    circled numbers, radicals) are kept as printed, so that the stored text cites the page
    faithfully; ``fold_for_search`` folds them for indexing and queries.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    if presentation:
        text = _PRESENTATION.sub(lambda m: unicodedata.normalize("NFKC", m.group()), text)
    text = unicodedata.normalize("NFC", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return text.rstrip() + "\n" if text.strip() else ""


def fold_for_search(text: str) -> str:
    """The form that embedding and lexical analysis see: NFKC (full-width digits and Latin,
    circled numbers, compatibility ideographs, half-width kana), radicals mapped to their
    unified ideographs, Hangul compatibility jamo kept (ㆍ read as a middle dot)."""
    text = text.translate(_RADICALS)
    if not _COMPAT_JAMO.search(text):
        return unicodedata.normalize("NFKC", text)
    out: list[str] = []
    pos = 0
    for m in _COMPAT_JAMO.finditer(text):
        out.append(unicodedata.normalize("NFKC", text[pos : m.start()]))
        out.append(m.group().translate(_ARAEA))
        pos = m.end()
    out.append(unicodedata.normalize("NFKC", text[pos:]))
    return "".join(out)


# ------------------------------------------------------------------------- hard wraps

#: A line starting with one of these starts a new item (bullet, numbered or lettered item).
BULLET_RE = re.compile(
    r"\s*(?:[□■◦∙•▲△○●◎◆◇▪▫▶▷►➢➤✓✔❍❑※·ㆍ→◼▸❖◉⦁]"
    r"|[ㅇ*+\-–—](?=\s)"
    r"|\d{1,3}[.)](?=\s)"
    r"|\(\d{1,3}\)|（\d{1,3}）"
    r"|[①-⑳]|[⑴-⒇]"
    r"|[가나다라마바사아자차카타파하][.)](?=\s)"
    r"|[a-zA-Z][.)](?=\s)"
    r"|\([a-zA-Z가-하ivx]{1,3}\)(?=\s)"
    r"|第[0-9一二三四五六七八九十百]+[章条節項]"
    r"|注\s?\d{1,3}(?=\s)"
    r"|제\s?\d+\s?[편장절조항호관]"
    r"|[0-9]+\.[0-9]+(?:\.[0-9]+)*\s"
    r"|[(（][가-힣ぁ-んァ-ヶ一-龥·ㆍ ]{1,12}[)）]\s)"
)
_SENTENCE_END = re.compile(r"(?:[.!?。！？]|다\.|요\.)[\"'”’)」』）]*$")
_WORD_HYPHEN = re.compile(r"([A-Za-z]+)-$")
_WORD_START = re.compile(r"^([a-z]+)")
#: A line ending with one of these goes on with the next without a space.
_GLUE = "·ㆍ/"


def starts_item(line: str) -> bool:
    return BULLET_RE.match(line) is not None


def ends_sentence(line: str) -> bool:
    return _SENTENCE_END.search(line.rstrip()) is not None


class HyphenWords:
    """Which words a document writes with a hyphen, to keep "state-of-the-" + "art" whole."""

    def __init__(self, texts: Iterable[str] = ()) -> None:
        self.counts: Counter[str] = Counter()
        for t in texts:
            self.counts.update(w.lower() for w in re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)*", t))

    def keeps_hyphen(self, left: str, right: str) -> bool:
        """Whether ``left-`` + ``right`` is a hyphenated word rather than a broken one."""
        hyphenated = f"{left}-{right}".lower()
        joined = f"{left}{right}".lower()
        return self.counts[hyphenated] > self.counts[joined]


def join_lines(
    left: str, right: str, hyphens: HyphenWords | None = None, *, korean_break: str = " "
) -> str:
    """Join a hard-wrapped line and the next one the way the text reads.

    Japanese on both sides (or Japanese next to Latin, with no Hangul): no space. A lower-case
    word broken with a hyphen at the end of the line: the hyphen goes ("tech-" + "nology"),
    unless the document writes that word with a hyphen elsewhere. Two Hangul syllables:
    ``korean_break`` (``korean.WRAP`` where the caller cannot tell a break inside a word from
    one between words). Anything else: one space.
    """
    left = left.rstrip()
    right = right.lstrip()
    if not left:
        return right
    if not right:
        return left
    a, b = left[-1], right[0]
    if a == "-" and len(left) >= 2 and not left[-2].isspace():
        m = _WORD_HYPHEN.search(left)
        n = _WORD_START.match(right)
        if m and n and m.group(1)[-1].islower():
            if hyphens is not None and hyphens.keeps_hyphen(m.group(1), n.group(1)):
                return left + right
            return left[:-1] + right
        return left + right  # "U.S.-" + "ROK", "COVID-" + "19"
    if (is_japanese(a) or is_japanese(b)) and not (is_hangul(a) or is_hangul(b)):
        return left + right
    if a in _GLUE:
        return left + right  # "산업·" + "기술", "R&D/" + "AI"
    if is_hangul(a) and (is_hangul(b) or b == "("):
        return left + korean_break + right  # korean.WRAP: decided later from the words
    return left + " " + right


_KANA_RE = re.compile(f"[{KANA}]")
_JA_LATIN_SPACE = re.compile(
    f"(?<=[{JAPANESE}])[ \u00a0]+(?=[A-Za-z0-9])|(?<=[A-Za-z0-9%])[ \u00a0]+(?=[{JAPANESE}])"
    # One space between two Japanese letters: a gap between family and given name
    # ("首藤 若菜氏") or a layout gap; an ideographic space (U+3000) is kept.
    f"|(?<=[{JAPANESE}])[ \u00a0](?=[{JAPANESE}])"
)


#: An item label opening a line ("注31", "第２", "(1)", "1.", "a)", "第１節"): the space after
#: it is a word space, also before Japanese text (``tighten_japanese``, pdf.py's made-up
#: spaces).
ITEM_LABEL = re.compile(
    r"\s*(?:注\s?\d{1,3}|第?[(（]?\d{1,3}[)）.]?|[A-Za-z][.)]"
    r"|第\s?[0-9０-９一二三四五六七八九十]{1,3}\s?[編章節条款項部])"
)


def tighten_japanese(text: str) -> str:
    """Japanese text without the spaces typesetting leaves between Japanese and Latin
    letters or digits ("拡大する EC 市場" -> "拡大するEC市場", "2024 年度" -> "2024年度")
    or between two Japanese letters ("首藤 若菜氏" -> "首藤若菜氏").

    Only where the text has kana (a Japanese passage, not Korean with hanja); spaces next to
    full-width forms and between Latin words stay."""
    if len(_KANA_RE.findall(text)) < 10:
        return text

    def fold(m: re.Match[str]) -> str:
        line_start = text.rfind("\n", 0, m.start()) + 1
        if ITEM_LABEL.fullmatch(text, line_start, m.start()):
            return m.group()  # "注31 本白書...", "(1) 原告は": the label's own space
        return ""

    return _JA_LATIN_SPACE.sub(fold, text)


# ---------------------------------------------------------------- page furniture

_ROMAN = re.compile(r"\b[ivxlc]{1,6}\b")
_DIGITS = re.compile(r"\d+")
_SPACES = re.compile(r"\s+")


def margin_key(line: str) -> str:
    """A margin line with its numbers blanked: "Page 5 of 48" and "Page 6 of 48" match."""
    key = _DIGITS.sub("#", line.lower())
    key = _ROMAN.sub("#", key)
    return _SPACES.sub(" ", key).strip()


def repeated_margin_lines(
    pages: Sequence[Sequence[tuple[str, str]]], *, min_pages: int | None = None
) -> list[set[int]]:
    """Which margin lines of each page repeat on other pages (headers, footers, page numbers).

    ``pages[p]`` lists ``(zone, text)`` for the lines of page ``p`` that lie in its top or
    bottom margin (``zone`` says which). A line whose ``margin_key`` appears in the same
    zone on at least ``min_pages`` pages (default: 2 for documents of up to 3 pages, else
    3) is furniture, provided that in the "top" and "bottom" zones (listed from the page
    edge inwards) every line between it and the edge is furniture too. Other zones (side
    tabs) have no order. Returns, per page, the indices (into ``pages[p]``) to drop.
    """
    if min_pages is None:
        min_pages = 2 if len(pages) <= 3 else 3
    seen: Counter[tuple[str, str]] = Counter()
    keys: list[list[tuple[str, str]]] = []
    for lines in pages:
        page_keys = [(zone, margin_key(text)) for zone, text in lines]
        keys.append(page_keys)
        seen.update(set(page_keys))
    drop: list[set[int]] = []
    for page_keys in keys:
        repeated = {
            i for i, k in enumerate(page_keys) if k[1] and len(pages) > 1 and seen[k] >= min_pages
        }
        # Furniture lies outside the body: in the top and bottom zones, a repeated line goes
        # only when every line further out goes too (a heading such as "제1조(목적)" that
        # opens every page under a changing title stays).
        kept: set[int] = set()
        for zone in ("top", "bottom"):
            for i, k in enumerate(page_keys):
                if k[0] != zone:
                    continue
                if i not in repeated:
                    break
                kept.add(i)
        drop.append(kept | {i for i in repeated if page_keys[i][0] not in ("top", "bottom")})
    return drop


# ------------------------------------------------------------------------ garbage

_CID = re.compile(r"\(cid:\d+\)")
_GLUED_SYMBOL = re.compile(r"[A-Za-z][\[\]\\^_`{}|~<>=@#$][A-Za-z]")
_DIGIT_WORD = re.compile(r"(?<![\w.,])\d[a-z]{4,}\b")
_VOWEL = re.compile(r"[aeiouAEIOU]")
_ASCII_LETTER = re.compile(r"[A-Za-z]")
_LETTER = re.compile(r"[^\W\d_]")
_UNKNOWN = re.compile("[\ue000-\uf8ff\ufffd\U000f0000-\U0010ffff]")


def _broken_words(words: Sequence[str]) -> int:
    """Words with letters replaced by symbols or digits ("re[uire", "0ederal"); links excluded."""
    broken = 0
    for w in words:
        if (_GLUED_SYMBOL.search(w) or _DIGIT_WORD.search(w)) and not (
            "://" in w or "www." in w or "@" in w
        ):
            broken += 1
    return broken


def garbage_reason(text: str, *, map_errors: float = 0.0) -> str | None:
    """Why a page's text layer is not usable text, or None when it reads as text.

    ``map_errors`` is the share of characters the PDF gave no Unicode for; that alone is no
    proof (pdfium often recovers the text from the font's CMap), only together with text
    that is mostly not letters. Signs of garbage: ``(cid:NNN)`` codes, private-use or
    replacement characters, Latin "words" with too few vowels (letters shifted by a broken
    font encoding: "7KHTXLFN" for "The quick"), or letters replaced by symbols and digits
    inside words ("re[uire", "0ederal").
    """
    words = text.split()
    n = sum(map(len, words))
    if n == 0:
        return None
    if map_errors > 0.5 and len(_LETTER.findall(text)) < 0.5 * n:
        return "the fonts have no Unicode mapping"
    cids = len(_CID.findall(text))
    if cids and cids * 8 > n * 0.1:
        return "(cid:NNN) codes instead of text"
    if len(_UNKNOWN.findall(text)) > 0.1 * n:
        return "private-use or unknown characters instead of text"
    letters = len(_ASCII_LETTER.findall(text))
    if letters >= 40 and letters > 0.5 * n:
        if len(_VOWEL.findall(text)) < 0.2 * letters:
            return "letters that do not form words (a broken font encoding)"
        broken = _broken_words(words)
        if len(words) >= 30 and broken >= 3 and broken > 0.02 * len(words):
            return "letters replaced by other characters inside words"
    return None


# -------------------------------------------------------- text extracted from PDFs

_PAGE_MARK = re.compile(
    r"(?:[-–—]?\s*\d{1,4}\s*[-–—]?|[ivxlcIVXLC]{1,6}|\S{0,2}\s*❚\s*\S{0,4}|\S{0,4}\s*❚\s*\S{0,2}"
    r"|(?:page|p\.)\s*\d{1,4}(?:\s*(?:of|/)\s*\d{1,4})?|\d{1,4}\s*/\s*\d{1,4})",
    re.IGNORECASE,
)


def looks_extracted(text: str) -> bool:
    """Plain text that came out of a PDF: short lines, nearly every one followed by a blank.

    Such files (a common export of PDF text) separate every wrapped line of the page with an
    empty line, so blank lines say nothing about paragraphs.
    """
    lines = text.split("\n")
    nonblank = [i for i, ln in enumerate(lines) if ln.strip()]
    if len(nonblank) < 20:
        return False
    followed = sum(1 for i in nonblank if i + 1 < len(lines) and not lines[i + 1].strip())
    return followed >= 0.6 * len(nonblank)


def reflow_extracted_text(text: str) -> str:
    """Paragraphs of a text extracted from a PDF, one per line, separated by blank lines.

    Page numbers on lines of their own go. A line is joined to the next when it ends with the
    space the extractor leaves at a wrap, or when it is long (near the page width) and
    neither ends a sentence nor is followed by a new item; short lines (headings, table
    cells, the last line of a paragraph) end their paragraph.
    """
    raw = [ln for ln in text.split("\n") if ln.strip()]
    lines = [ln for ln in raw if not _PAGE_MARK.fullmatch(ln.strip())]
    if not lines:
        return ""
    widths = sorted(len(ln.strip()) for ln in lines)
    full = widths[int(len(widths) * 0.9)]
    hyphens = HyphenWords(lines)
    paragraphs: list[str] = []
    current = ""
    for i, line in enumerate(lines):
        stripped = line.strip()
        current = join_lines(current, stripped, hyphens) if current else stripped
        nxt = lines[i + 1].strip() if i + 1 < len(lines) else ""
        wrapped = (
            line.endswith((" ", "\t")) or len(stripped) >= 0.75 * full or stripped[-1] in _GLUE
        )
        if nxt and wrapped and not starts_item(nxt) and not ends_sentence(stripped):
            continue
        paragraphs.append(current)
        current = ""
    if current:
        paragraphs.append(current)
    return "\n\n".join(paragraphs) + "\n"
