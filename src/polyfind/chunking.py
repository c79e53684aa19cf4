"""Sentence splitting and token-bounded chunking of one page (or one file) of text.

``split_sentences`` finds sentence-like units: sentences proper (Japanese 。！？,
Korean ...다. / ...요. / ...까?, English . ! ? outside abbreviations and numbers),
report bullets (□ ㅇ - * ※ ■ ...), Markdown headings and list items. Hard-wrapped
lines are joined; a blank line always ends a unit. ``chunk_text`` packs consecutive
units into passages of at most ``max_tokens`` tokens of the embedder's tokenizer, with
an overlap of whole trailing units. ``fold_for_embedding`` turns a passage into the
text the embedder sees. How over-long sentences are cut and remnants packed is
``ChunkingSettings`` (``Settings.chunking``).
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Callable, Iterator, Sequence

from polyfind import scripts
from polyfind.cleaning import fold_for_search
from polyfind.language import detect_language
from polyfind.records import Span
from polyfind.scripts import is_japanese
from polyfind.settings import ChunkingSettings, LanguageSettings

__all__ = [
    "CountTokens",
    "chunk_text",
    "fold_for_embedding",
    "split_sentences",
    "table_context",
]

#: Tokenises a batch of strings and returns their token counts (no special tokens).
CountTokens = Callable[[Sequence[str]], list[int]]

# --------------------------------------------------------------------------- lines

# A line starting with one of these starts a new unit (it is a bullet or list item).
_BULLET_RE = re.compile(
    r"(?:[□■◦∙•▲△○●◎◆◇▪▫▶▷►➢➤✓✔❍❑※·ㆍ→]"
    r"|[ㅇ*+\-–—](?=\s)"
    r"|\d{1,3}[.)](?=\s)"
    r"|\(\d{1,3}\)"
    r"|[①-⑳]"
    r"|[가나다라마바사아자차카타파하][.)](?=\s)"
    r"|\|)"
)
# A line that is a unit on its own: a Markdown heading or a horizontal rule.
_HEADING_RE = re.compile(r"#{1,6}(?:\s|$)")
_RULE_RE = re.compile(r"(?:-{3,}|\*{3,}|_{3,}|={3,})\s*$")
# Section marks: a short line starting with one is a heading ("■量子科学技術"), not the
# first line of a wrapped paragraph.
_SECTION_MARKS = "■▣◆◈"
_SECTION_MAX_CHARS = 40
_CONTINUES = "、，,-–"

# ----------------------------------------------------------------------- sentences

_CLOSERS = "」』）)]］】〕〉》〗\"'”’»"
_OPENERS = "「『（([［【〔〈《〖\"'“‘«"
_STOP_RE = re.compile("[.!?。！？．]+[" + re.escape(_CLOSERS) + "]*")
_CJK_STOPS = frozenset("。！？")
# Particles that continue a sentence after a quotation closed by 」 or 』.
_QUOTATIVE = "とっ"

# Tokens after which a period does not end a sentence (compared in lower case).
_ABBREVIATION_WORDS = """
    mr mrs ms dr prof sr jr st mt messrs inc ltd co corp llc plc bros assn no nos fig
    figs vs v etc al cf approx dept est gov govt rep reps sen gen col lt sgt capt cmdr
    adm hon pres rev univ ave blvd vol vols ch chap sec secs para pp p ed eds op ibid
    jan feb mar apr jun jul aug sep sept oct nov dec e.g i.e u.s u.k u.n a.m p.m d.c
    ph.d
"""
_ABBREVIATIONS = frozenset(_ABBREVIATION_WORDS.split())
# Words after which a number followed by a period is a label, not a sentence end.
_LABEL_WORD_LIST = """
    section sec sec. article art. part chapter chap. title figure fig. table no. step phase
    appendix annex item
"""
_LABEL_WORDS = frozenset(_LABEL_WORD_LIST.split())
_INITIALS_RE = re.compile(r"(?:[a-z]\.)+[a-z]")
_NUMBER_LABEL_RE = re.compile(r"\d+(?:\.\d+)*|i{1,3}|iv|vi{0,3}|ix|xi{0,3}|[a-z]")


_CJK_LETTER_RE = re.compile(f"[{scripts.CJK}\u3041-\u30ff]")


def _is_cjk_letter(ch: str) -> bool:
    """Hangul, kana or Han."""
    return _CJK_LETTER_RE.match(ch) is not None


def _strip(text: str, start: int, end: int) -> tuple[int, int]:
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _line_starts(text: str) -> list[int]:
    starts = [0]
    find = text.find
    pos = find("\n")
    while pos != -1:
        starts.append(pos + 1)
        pos = find("\n", pos + 1)
    return starts


def _lines(text: str) -> Iterator[tuple[int, int]]:
    """(start, end) of every line of ``text``, newline excluded."""
    pos = 0
    while True:
        nl = text.find("\n", pos)
        if nl == -1:
            yield pos, len(text)
            return
        yield pos, nl
        pos = nl + 1


def _line_kind(text: str, s: int, e: int) -> str:
    """How the (stripped, non-empty) line ``text[s:e]`` relates to the lines around it.

    "alone": a unit by itself (heading, rule, short section title); "start": starts a
    new unit (bullet, list item); "more": continues the current unit (a hard wrap).
    """
    if _HEADING_RE.match(text, s, e) or _RULE_RE.match(text, s, e):
        return "alone"
    if _BULLET_RE.match(text, s, e):
        if (
            text[s] in _SECTION_MARKS
            and e - s <= _SECTION_MAX_CHARS
            and text[e - 1] not in _CONTINUES
        ):
            return "alone"
        return "start"
    return "more"


def _blocks(text: str) -> list[tuple[int, int]]:
    """Runs of lines that belong together (a paragraph, a bullet, a heading)."""
    blocks: list[tuple[int, int]] = []
    cur: list[int] = []  # [start, end] of the open block
    for line_start, line_end in _lines(text):
        s, e = _strip(text, line_start, line_end)
        kind = "blank" if s == e else _line_kind(text, s, e)
        if kind != "more" and cur:
            blocks.append((cur[0], cur[1]))
            cur = []
        if kind == "alone":
            blocks.append((s, e))
        elif kind == "start" or (kind == "more" and not cur):
            cur = [s, e]
        elif kind == "more":
            cur[1] = e
    if cur:
        blocks.append((cur[0], cur[1]))
    return blocks


def _token_before(text: str, lo: int, pos: int) -> tuple[str, int]:
    """The whitespace-delimited token ending at ``pos`` and where it starts."""
    start = pos
    while start > lo and not text[start - 1].isspace():
        start -= 1
    return text[start:pos], start


def _is_label_number(text: str, lo: int, token: str, token_start: int) -> bool:
    """``token`` ("1", "2.1", "iv", "a") is a list or section label, not a sentence."""
    if not _NUMBER_LABEL_RE.fullmatch(token.lower()):
        return False
    before = token_start
    while before > lo and text[before - 1] in " \t\u00a0\u3000":
        before -= 1
    if before == lo or text[before - 1] == "\n":
        return True  # first thing on its line
    previous, _ = _token_before(text, lo, before)
    return previous.lower() in _LABEL_WORDS


def _is_abbreviation(text: str, lo: int, dot: int) -> bool:
    token, token_start = _token_before(text, lo, dot)
    stripped = token.lstrip(_OPENERS)
    token_start += len(token) - len(stripped)
    if not stripped:
        return False
    lowered = stripped.lower()
    if lowered in _ABBREVIATIONS or _INITIALS_RE.fullmatch(lowered):
        return True
    if len(stripped) == 1 and stripped.isupper():
        return True  # an initial: "J. Smith"
    return _is_label_number(text, lo, stripped, token_start)


def _sentence_ends(text: str, lo: int, hi: int) -> list[int]:
    """Positions in ``text[lo:hi]`` right after a sentence (closing brackets included)."""
    ends: list[int] = []
    for m in _STOP_RE.finditer(text, lo, hi):
        stops = m.group().rstrip(_CLOSERS)
        end = m.end()
        if any(ch in _CJK_STOPS for ch in stops):
            # 「…終わりだ。」と言った: a quotation going on with a quotative particle.
            if not (len(stops) < len(m.group()) and end < hi and text[end] in _QUOTATIVE):
                ends.append(end)
            continue
        nxt = text[end] if end < hi else ""
        if stops[-1] == "．":
            if not nxt.isdigit():
                ends.append(end)
            continue
        if nxt and not nxt.isspace():
            continue  # 3.5, 1.2.3, U.S.-ROK, www.example.gov
        start = m.start()
        prev = text[start - 1] if start > lo else ""
        if prev and _is_cjk_letter(prev):
            ends.append(end)  # Korean "...다." / "...요?"
            continue
        if stops[-1] == "." and _is_abbreviation(text, lo, start):
            continue
        if not nxt:
            ends.append(end)
            continue
        follow = end
        newline = False
        while follow < hi and text[follow].isspace():
            newline = newline or text[follow] == "\n"
            follow += 1
        if newline or follow >= hi:
            ends.append(end)
            continue
        ch = text[follow]
        if ch.isupper() or ch.isdigit() or ch in _OPENERS or _is_cjk_letter(ch):
            ends.append(end)
    return ends


def split_sentences(text: str) -> list[tuple[int, int]]:
    """Sentence-like units of ``text`` as (start, end) offsets, whitespace excluded.

    Units never overlap, appear in order, and together cover every non-whitespace
    character of ``text``.
    """
    spans: list[tuple[int, int]] = []
    for lo, hi in _blocks(text):
        start = lo
        for end in _sentence_ends(text, lo, hi):
            s, e = _strip(text, start, end)
            if s < e:
                spans.append((s, e))
            start = end
        s, e = _strip(text, start, hi)
        if s < e:
            spans.append((s, e))
    return spans


# --------------------------------------------------------------------------- folding

_WS_RE = re.compile(r"\s+")
# A hyphen ending a line (not a spaced dash, not a rule), the next line going on with a
# letter or digit.
_HYPHEN_BREAK_RE = re.compile(r"(?<=[^\s-])-[ \t\u00a0]*\r?\n\s*(?=[^\W_])")


def _fold_space(m: re.Match[str]) -> str:
    run = m.group()
    if "\n" not in run and "\r" not in run:
        return " "
    text = m.string
    start, end = m.span()
    if start > 0 and end < len(text) and is_japanese(text[start - 1]) and is_japanese(text[end]):
        return ""
    return " "


def _join_hyphen(m: re.Match[str]) -> str:
    text = m.string
    start, end = m.span()
    if text[start - 1].islower() and text[end].islower():
        return ""  # "tech-\nnology": end-of-line hyphenation
    return "-"  # "U.S.-\nROK", "COVID-\n19": a compound broken after its hyphen


def fold_for_embedding(passage: str) -> str:
    """What the embedder sees: hard wraps joined, whitespace runs folded, stripped.

    A line break between two Japanese characters (kana, kanji, full-width punctuation)
    disappears, any other becomes a space. After a hyphen that ends a line,
    "tech-\\nnology" becomes "technology" (lower-case letters on both sides) and
    "U.S.-\\nROK" becomes "U.S.-ROK". Runs of whitespace (NBSP and the ideographic
    space included) become one space.
    """
    passage = fold_for_search(passage)
    if "-" in passage:
        passage = _HYPHEN_BREAK_RE.sub(_join_hyphen, passage)
    return _WS_RE.sub(_fold_space, passage).strip()


#: A table row as the extractors write it: cells joined by " | " (tables.py).
_CELL_SEP = " | "
#: A caption is the short line just above a table (one blank line between at most).
_CAPTION_MAX_CHARS = 80


def _line_at(text: str, pos: int) -> tuple[int, int]:
    """The line holding ``pos``: (start, end), the end without its newline."""
    lo = text.rfind("\n", 0, pos) + 1
    hi = text.find("\n", pos)
    return lo, len(text) if hi < 0 else hi


def table_context(text: str, start: int) -> str:
    """What a passage starting at ``start`` inside a table needs to be understood alone:
    the table's caption (the short line above it) and its first row (the header), each
    only where the passage does not already begin with it; "" outside tables.

    A row such as "캐나다 | 29.6 | 27.5 | 38.5" says which country but not which table or
    which year each number belongs to; the embedder sees the row after this context
    (``fold_for_embedding(context + passage)``), the stored passage stays as on the page.
    """
    lo, hi = _line_at(text, start)
    if _CELL_SEP not in text[lo:hi]:
        return ""
    first = lo  # walk up to the table's first row
    while first > 0:
        plo, phi = _line_at(text, first - 1)
        if _CELL_SEP not in text[plo:phi]:
            break
        first = plo
    parts: list[str] = []
    # the caption: the nearest non-blank line above, if short and not a row itself
    pos, blanks = first, 0
    while pos > 0 and blanks <= 1:
        plo, phi = _line_at(text, pos - 1)
        line = text[plo:phi].strip()
        if line:
            if _CELL_SEP not in line and len(line) <= _CAPTION_MAX_CHARS:
                parts.append(line)
            break
        blanks += 1
        pos = plo
    if first < lo:
        parts.append(text[first : _line_at(text, first)[1]].strip())
    return "\n".join(parts)


# -------------------------------------------------------------------------- chunking

_CLAUSE_RE = re.compile("[、，,;；:：]")
#: Tokens kept in reserve where two units meet without a space (see ``_seams``; part of the
#: bound ``chunk_text`` promises, not a tuning choice).
_TIGHT_JOIN_TOKENS = 1


def _best_cut(text: str, lo: int, hi: int) -> int:
    """Where to cut ``text[lo:...]`` at or before ``hi``: clause, line, word, or char."""
    floor = lo + max(1, (hi - lo) // 3)
    window = text[floor:hi]
    best = -1
    for m in _CLAUSE_RE.finditer(window):
        after = floor + m.end()
        # Cut after the punctuation only where a space or Japanese text follows: pieces
        # that meet inside a word ("현대자동차,삼성전자") tokenise differently joined.
        if after >= len(text) or text[after].isspace() or is_japanese(text[after]):
            best = m.end()
    if best > 0:
        return floor + best
    newline = window.rfind("\n")
    if newline > 0:
        return floor + newline
    for i in range(len(window) - 1, 0, -1):
        if window[i].isspace():
            return floor + i
    return hi


def _cut(
    text: str, start: int, end: int, n_tokens: int, max_tokens: int, fill: float
) -> list[tuple[int, int]]:
    """Split ``text[start:end]`` (``n_tokens`` long) into pieces estimated to hold ``fill``
    of ``max_tokens``."""
    length = end - start
    target = int(length * max_tokens * fill / max(n_tokens, 1))
    target = max(1, min(target, length - 1))
    pieces: list[tuple[int, int]] = []
    pos = start
    while end - pos > target:
        cut = _best_cut(text, pos, pos + target)
        s, e = _strip(text, pos, cut)
        if s < e:
            pieces.append((s, e))
        pos = cut
    s, e = _strip(text, pos, end)
    if s < e:
        pieces.append((s, e))
    return pieces


def _count_checked(count_tokens: CountTokens, texts: list[str]) -> list[int]:
    """``count_tokens(texts)``, making sure there is one count per text."""
    counts = count_tokens(texts) if texts else []
    if len(counts) != len(texts):
        raise ValueError(f"count_tokens returned {len(counts)} counts for {len(texts)} texts")
    return [int(n) for n in counts]


def _recount(
    text: str,
    units: list[tuple[int, int, int]],
    count_tokens: CountTokens,
    max_tokens: int,
    cut: Callable[[int, int, int], list[tuple[int, int]]],
) -> list[tuple[int, int, int]]:
    """Replace the units over ``max_tokens`` by ``cut`` pieces, counted in one batch."""
    pending: list[tuple[int, int]] = []
    plan: list[tuple[int, int, int] | None] = []
    for s, e, n in units:
        if n <= max_tokens or e - s <= 1:
            plan.append((s, e, n))
            continue
        for piece in cut(s, e, n):
            pending.append(piece)
            plan.append(None)
    counts = _count_checked(count_tokens, [fold_for_embedding(text[s:e]) for s, e in pending])
    fresh = iter(zip(pending, counts, strict=True))
    result: list[tuple[int, int, int]] = []
    for item in plan:
        if item is None:
            (s, e), n = next(fresh)
            result.append((s, e, n))
        else:
            result.append(item)
    return result


def _fit_units(
    text: str,
    units: list[tuple[int, int, int]],
    count_tokens: CountTokens,
    max_tokens: int,
    cfg: ChunkingSettings,
) -> list[tuple[int, int, int]]:
    """Cut units longer than ``max_tokens`` into pieces that fit.

    Each round estimates cut points by proportion and re-counts all new pieces in one
    batch; pieces still too long are cut again with their own proportion.
    """

    def by_estimate(s: int, e: int, n: int) -> list[tuple[int, int]]:
        return _cut(text, s, e, n, max_tokens, cfg.piece_fill)

    def blind(s: int, e: int, n: int) -> list[tuple[int, int]]:
        # Short enough for any tokenizer that emits at most four tokens per character.
        step = max(1, max_tokens // 4)
        pieces = (_strip(text, pos, min(pos + step, e)) for pos in range(s, e, step))
        return [(ps, pe) for ps, pe in pieces if ps < pe]

    for _ in range(cfg.max_rounds):
        if all(n <= max_tokens for _, _, n in units):
            return units
        units = _recount(text, units, count_tokens, max_tokens, by_estimate)
    if any(n > max_tokens for _, _, n in units):
        units = _recount(text, units, count_tokens, max_tokens, blind)
    return units


def _seams(text: str, units: list[tuple[int, int, int]]) -> tuple[list[int], list[bool]]:
    """Extra tokens to expect where unit k follows unit k-1, and which seams are risky.

    Counts of separate pieces add up to the count of the joined text when a space
    separates them. Without one (Japanese sentences, pieces cut inside a word) the
    tokenizer may segment the seam differently, so a token is kept in reserve. A seam
    inside a word or after punctuation glued to Korean or Latin text is "risky": a
    chunk holding one is counted again before it is trusted.
    """
    costs = [0] * len(units)
    risky = [False] * len(units)
    for k in range(1, len(units)):
        prev_end, start = units[k - 1][1], units[k][0]
        gap = text[prev_end:start]
        japanese = is_japanese(text[prev_end - 1]) and is_japanese(text[start])
        if not gap or (japanese and ("\n" in gap or "\r" in gap)):
            costs[k] = _TIGHT_JOIN_TOKENS
            risky[k] = not japanese
    return costs, risky


def _pack(
    units: list[tuple[int, int, int]],
    joins: list[int],
    max_tokens: int,
    overlap: int,
    stretch: float,
) -> list[tuple[int, int, int]]:
    """Greedy packing of units into (i, j, tokens) ranges with whole-unit overlap; a small
    trailing remnant joins the chunk before when that stays within ``stretch * max_tokens``."""
    count = len(units)
    sizes = [0]
    for _, _, n in units:
        sizes.append(sizes[-1] + n)
    seams = [0]
    for extra in joins:
        seams.append(seams[-1] + extra)

    def cost(i: int, j: int) -> int:
        """Tokens of units i..j-1 packed together (seams between them included)."""
        return sizes[j] - sizes[i] + seams[j] - seams[i + 1]

    groups: list[tuple[int, int]] = []
    i = 0
    while i < count:
        j = i + 1
        while j < count and cost(i, j + 1) <= max_tokens:
            j += 1
        groups.append((i, j))
        if j >= count:
            break
        # Carry whole trailing units (at most ``overlap`` tokens) into the next chunk,
        # leaving room there for the next unit, and always moving forward.
        k = j
        while k - 1 > i and cost(k - 1, j) <= overlap and cost(k - 1, j + 1) <= max_tokens:
            k -= 1
        i = k
    # A very small trailing remnant joins the previous chunk when that stays close to
    # the budget.
    if len(groups) >= 2:
        (pi, pj), (_, lj) = groups[-2], groups[-1]
        if cost(pj, lj) * 8 < max_tokens and cost(pi, lj) <= max_tokens * stretch:
            groups[-2:] = [(pi, lj)]
    return [(i, j, cost(i, j)) for i, j in groups]


def _pack_checked(
    text: str,
    units: list[tuple[int, int, int]],
    count_tokens: CountTokens,
    max_tokens: int,
    overlap: int,
    cfg: ChunkingSettings,
) -> list[tuple[int, int, int]]:
    """``_pack``, then make sure of the chunks that hold a risky seam.

    Those chunks are counted as the embedder will see them (one batch); where one is
    over its limit, the seam costs the difference and the text is packed again.
    """
    joins, risky = _seams(text, units)
    groups = _pack(units, joins, max_tokens, overlap, cfg.remnant_stretch)
    for _ in range(cfg.max_rounds):
        checked = [g for g in groups if any(risky[g[0] + 1 : g[1]])]
        if not checked:
            break
        real = _count_checked(
            count_tokens,
            [fold_for_embedding(text[units[i][0] : units[j - 1][1]]) for i, j, _ in checked],
        )
        # Only the last chunk may have taken in a remnant (and only if there are two).
        last_limit = int(max_tokens * cfg.remnant_stretch) if len(groups) > 1 else max_tokens
        over = [
            (g, n - (last_limit if g == groups[-1] else max_tokens))
            for g, n in zip(checked, real, strict=True)
        ]
        over = [(g, excess) for g, excess in over if excess > 0]
        if not over:
            break
        for (i, j, _), excess in over:
            seam = max(k for k in range(i + 1, j) if risky[k])
            joins[seam] += excess
        groups = _pack(units, joins, max_tokens, overlap, cfg.remnant_stretch)
    return groups


def chunk_text(
    text: str,
    *,
    count_tokens: CountTokens,
    max_tokens: int,
    overlap: int,
    lang_default: str,
    cfg: ChunkingSettings | None = None,
    language: LanguageSettings | None = None,
) -> list[Span]:
    """Cut ``text`` (one page or one file) into passages of at most ``max_tokens`` tokens.

    Sentences (``split_sentences``) are counted with ``count_tokens`` in one batch, on
    the folded text the embedder sees. Only in rare cases is it called again, each time
    with one batch: for the pieces of sentences longer than ``max_tokens`` (cut at
    clause punctuation, else at whitespace, else anywhere), and for chunks where two
    such pieces meet inside a word. Consecutive sentences are packed greedily;
    consecutive chunks share whole trailing sentences worth at most ``overlap`` tokens
    (none when the last sentence alone is bigger). A trailing remnant under
    ``max_tokens / 8`` tokens is merged into the chunk before it when the result stays
    within ``cfg.remnant_stretch * max_tokens`` (1.15): that last chunk is the only one that
    may pass ``max_tokens``.

    Each span's ``text[start:end]`` is the passage, stripped; ``line`` is the 1-based
    line of ``start``; ``lang`` is ``detect_language(passage, lang_default, language)``;
    ``n_tokens`` is the sum of the sentence counts plus a token of reserve per seam
    without a space, an upper bound of the count of ``fold_for_embedding(passage)``
    for the e5 (XLM-R) tokenizer.
    """
    if max_tokens < 1:
        raise ValueError(f"max_tokens must be positive, got {max_tokens}")
    cfg = cfg or ChunkingSettings()
    sentences = split_sentences(text)
    if not sentences:
        return []
    counts = _count_checked(count_tokens, [fold_for_embedding(text[s:e]) for s, e in sentences])
    units = [(s, e, n) for (s, e), n in zip(sentences, counts, strict=True)]
    units = _fit_units(text, units, count_tokens, max_tokens, cfg)
    groups = _pack_checked(text, units, count_tokens, max_tokens, max(0, overlap), cfg)
    line_starts = _line_starts(text)
    spans: list[Span] = []
    for i, j, n_tokens in groups:
        start = units[i][0]
        end = units[j - 1][1]
        spans.append(
            Span(
                start=start,
                end=end,
                line=bisect.bisect_right(line_starts, start),
                lang=detect_language(text[start:end], lang_default, language),
                n_tokens=n_tokens,
            )
        )
    return spans
