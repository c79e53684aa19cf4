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

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufeff\ufffe]")
_TRAILING_SPACE = re.compile(r"[ \t\u00a0]+\n")

# ------------------------------------------------------------------------ characters


def is_hangul(ch: str) -> bool:
    o = ord(ch)
    return 0xAC00 <= o <= 0xD7A3 or 0x1100 <= o <= 0x11FF or 0x3130 <= o <= 0x318F


def is_japanese(ch: str) -> bool:
    """Kana, kanji, CJK punctuation or a full-width form (not Hangul)."""
    o = ord(ch)
    return (
        0x3000 <= o <= 0x30FF
        or 0x31F0 <= o <= 0x31FF
        or 0x3400 <= o <= 0x4DBF
        or 0x4E00 <= o <= 0x9FFF
        or 0xF900 <= o <= 0xFAFF
        or 0xFF00 <= o <= 0xFFEF
        or 0xFE30 <= o <= 0xFE4F
        or 0x20000 <= o <= 0x3134F
    )


def is_cjk(ch: str) -> bool:
    return is_japanese(ch) or is_hangul(ch)


# ------------------------------------------------------------------------- normalising


def normalize(text: str, *, compatibility: bool = False) -> str:
    """Normalise line ends, Unicode form and stray control characters.

    Newlines stay where they were so that line numbers stay those of the source.
    ``compatibility`` applies NFKC (ligatures, full-width Latin, circled digits, vertical
    presentation forms) as PDFs need.
    """
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    text = _CONTROL.sub("", text)
    text = unicodedata.normalize("NFKC" if compatibility else "NFC", text)
    text = _TRAILING_SPACE.sub("\n", text)
    return text.rstrip() + "\n" if text.strip() else ""


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


def join_lines(left: str, right: str, hyphens: HyphenWords | None = None) -> str:
    """Join a hard-wrapped line and the next one the way the text reads.

    Japanese on both sides (or Japanese next to Latin, with no Hangul): no space. A lower-case
    word broken with a hyphen at the end of the line: the hyphen goes ("tech-" + "nology"),
    unless the document writes that word with a hyphen elsewhere. Anything else: one space.
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
    return left + " " + right


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
    3) is furniture. Returns, per page, the indices (into ``pages[p]``) to drop.
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
        drop.append(
            {i for i, k in enumerate(page_keys) if k[1] and len(pages) > 1 and seen[k] >= min_pages}
        )
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
