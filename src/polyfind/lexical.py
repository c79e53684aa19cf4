"""Lexical retrieval: text analysers for Korean, Japanese and English, and BM25 over SQLite FTS5.

Passages are analysed in Python into space-separated terms and stored in an FTS5 table
(``lexical``) of the same SQLite database as the chunks, with the chunk id as rowid; the store
writes and deletes those rows in the same transactions as the chunks, so the lexical postings
can never disagree with the vectors. FTS5's ``ascii`` tokenizer splits the stored text on
spaces only (every non-ASCII character is a token character), so a term is exactly what the
analyser produced. Ranking is FTS5's built-in ``bm25()`` (k1 = 1.2, b = 0.75).

Analysers (measured against each other in BENCHMARKS.md, "Lexical analysers"); each line of
text goes to the Korean or Japanese method by its script (any Hangul: Korean; kana or Han:
Japanese), and all of them lower-case Latin-script words and Snowball-stem English ones, so an
English acronym in a Korean passage matches the same acronym in an English query:

``mixed`` (the default)
    Korean through Kiwi (kiwipiepy: content morphemes, i.e. nouns, verb and adjective stems,
    roots, numbers, foreign words; no particles or endings), Japanese as character bigrams.
``bigram``
    Korean and Japanese as overlapping character bigrams of runs of Hangul, kana and Han (a
    run of one character stays a unigram). No dictionary, no model.
``morph``
    Korean through Kiwi, Japanese through Sudachi (SudachiPy with sudachidict_core, split
    mode A, normalised forms, content words), an optional dependency (``.[morph]``).

Text is NFKC-normalised (full-width Latin, half-width kana) and case-folded first; a hard line
break between two Japanese characters is not a word boundary. On the query side a lone CJK
character ("米") becomes a prefix term, so one-character queries still match bigrams.
"""

from __future__ import annotations

import math
import re
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from . import korean, scripts
from .cleaning import fold_for_search
from .errors import PolyfindError

__all__ = [
    "ANALYZERS",
    "DEFAULT_ANALYZER",
    "Analyzer",
    "LexicalHit",
    "LexicalResult",
    "analyzer_for",
    "combine",
    "family",
    "lexical_search",
]

#: FTS5 table holding one row per chunk (rowid = chunk id): the chunk's analysed terms.
TABLE = "lexical"
#: fts5vocab view of it: document frequency per term.
VOCAB = "lexical_vocab"
#: Chunks committed without their row in ``TABLE`` yet (``wait``): the indexer writes their
#: terms after the embedding (``fill``), so the analysers and the encoder are not in memory
#: together. Every chunk is in exactly one of ``TABLE`` and this.
WAITING = "lexical_waiting"
WAITING_SCHEMA = f"CREATE TABLE IF NOT EXISTS {WAITING} (chunk_id INTEGER PRIMARY KEY);"

SCHEMA = f"""
CREATE VIRTUAL TABLE IF NOT EXISTS {TABLE} USING fts5(terms, tokenize='ascii');
CREATE VIRTUAL TABLE IF NOT EXISTS {VOCAB} USING fts5vocab({TABLE}, 'row');
{WAITING_SCHEMA}
"""

#: The analyser new indexes use (chosen by measurement, BENCHMARKS.md "Lexical analysers").
DEFAULT_ANALYZER = "mixed"

#: Longest term kept; longer letter runs are almost always junk (hashes, base64).
_MAX_TERM = 40
#: Longest query (in terms) sent to FTS5.
_MAX_QUERY_TERMS = 64

_WORD_RE = re.compile(r"[^\W_]+")
_CJK_SPLIT_RE = re.compile(f"([{scripts.CJK}]+)")
# A hard line break inside Japanese text is not a word boundary.
_JA_WRAP_RE = re.compile(
    f"(?<=[{scripts.JAPANESE}])[ \t\u3000]*\n[ \t\u3000]*(?=[{scripts.JAPANESE}])"
)
_JA_RE = re.compile(f"[{scripts.JAPANESE}]")


class LexicalUnavailableError(PolyfindError):
    """The analyser an index records cannot be loaded here."""


class Analyzer(Protocol):
    #: Recorded in the store's meta; a change rebuilds the lexical table.
    name: str

    def terms(self, text: str) -> list[str]:
        """Index terms of a passage, in order, repeats kept (BM25 counts them)."""
        ...

    def query_terms(self, text: str) -> list[tuple[str, bool]]:
        """Distinct terms of a query, each with whether it is a prefix (``True``)."""
        ...


def normalise(text: str) -> str:
    """NFKC (full-width Latin and half-width kana folded), case-folded, Japanese wraps joined."""
    text = fold_for_search(text).casefold()
    if "\n" in text:
        text = _JA_WRAP_RE.sub("", text)
    return text


def _words(text: str) -> Iterator[str]:
    """Letter-or-digit runs of normalised text."""
    for m in _WORD_RE.finditer(text):
        yield m.group()


_ASCII_WORD_RE = re.compile(r"[a-z]+")


@lru_cache(maxsize=1)
def _english_stemmer() -> Any:
    import snowballstemmer

    return snowballstemmer.stemmer("english")


@lru_cache(maxsize=200_000)
def _stem(word: str) -> str:
    return str(_english_stemmer().stemWord(word))


def _latin_terms(word: str, stem: bool = True) -> list[str]:
    """A non-CJK word as a term: Snowball-stemmed if it is ASCII letters (English)."""
    if len(word) > _MAX_TERM:
        return []
    if stem and len(word) > 3 and _ASCII_WORD_RE.fullmatch(word):
        return [_stem(word)]
    return [word]


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def _dedupe(terms: Iterable[tuple[str, bool]]) -> list[tuple[str, bool]]:
    seen: set[tuple[str, bool]] = set()
    out: list[tuple[str, bool]] = []
    for t in terms:
        if t not in seen:
            seen.add(t)
            out.append(t)
    return out


# Kiwi (Korean) tags kept: nouns, numerals, verb/adjective stems, roots, foreign words,
# hanja, numbers. Dropped: particles, endings, suffixes, bound nouns, pronouns, adverbs.
_KIWI_TAGS = frozenset({"NNG", "NNP", "NR", "VV", "VA", "XR", "SL", "SH", "SN", "MM"})
# Sudachi (Japanese) parts of speech kept (first level).
_SUDACHI_POS = frozenset({"名詞", "動詞", "形容詞", "形状詞", "接頭辞", "副詞", "代名詞"})
# Sudachi refuses input longer than this many bytes in one call.
_SUDACHI_MAX_BYTES = 40_000


def _kiwi() -> Any:
    try:
        return korean.kiwi()
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise LexicalUnavailableError(
            "Korean morphological analysis needs kiwipiepy: `pip install kiwipiepy`"
        ) from exc


@lru_cache(maxsize=1)
def _sudachi() -> Any:
    try:
        from sudachipy import Dictionary, SplitMode
    except ImportError as exc:  # pragma: no cover - an optional dependency
        raise LexicalUnavailableError(
            "Japanese morphological analysis needs sudachipy and sudachidict_core: "
            "`pip install sudachipy sudachidict_core`"
        ) from exc
    return Dictionary(dict="core").tokenizer(mode=SplitMode.A)


def _cjk_pieces(line: str) -> Iterator[tuple[str, bool]]:
    """(piece, is_cjk) for every letter-or-digit piece of normalised text."""
    for word in _words(line):
        if not _CJK_SPLIT_RE.search(word):
            yield word, False
            continue
        for i, part in enumerate(_CJK_SPLIT_RE.split(word)):
            if part:
                yield part, i % 2 == 1


def _bigram_terms(line: str, stem: bool, query: bool) -> Iterator[tuple[str, bool]]:
    for piece, cjk in _cjk_pieces(line):
        if not cjk:
            for t in _latin_terms(piece, stem):
                yield t, False
        elif query and len(piece) == 1:
            # One character ("米", "韓"): any bigram starting with it, or the unigram.
            yield piece, True
        else:
            for t in _bigrams(piece):
                yield t, False


#: An identifier in normalised (case-folded) text: ASCII letter-or-digit parts joined by
#: hyphens or slashes, with a digit ("10-2023-0087131", "covid-19"; "r&d/ai" has none).
_IDENTIFIER_RE = re.compile(
    r"(?<![0-9a-z])[0-9a-z]+(?:[-\u2010\u2011\u2013/][0-9a-z]+)+(?![0-9a-z])"
)
_SEPARATOR_RE = re.compile(r"[-\u2010\u2011\u2013/]")


def _identifier_terms(line: str) -> Iterator[tuple[str, bool]]:
    """Identifiers whole (separators dropped: "1020230087131"), besides their parts, which
    the line's analyser gives: a search for the whole number finds it, and so does one
    for a part."""
    for m in _IDENTIFIER_RE.finditer(line):
        ident = m.group()
        if any(c.isdigit() for c in ident):
            whole = _SEPARATOR_RE.sub("", ident)
            if len(whole) <= _MAX_TERM:
                yield whole, False


def _kiwi_terms(line: str, stem: bool, ja: str = "bigram") -> Iterator[tuple[str, bool]]:
    """Kiwi's content morphemes of a Korean line. Hanja in it ("슈토(首藤)",
    "국지 객관해석(局地客観解析)") are analysed as Japanese text is (``ja``: bigrams or
    Sudachi), so that they match the same words in Japanese passages and queries."""
    for tok in _kiwi().tokenize(line):
        if tok.tag == "SH":
            if ja == "morph":
                yield from _sudachi_terms(tok.form, stem)
            else:
                for t in _bigrams(tok.form):
                    yield t, False
        elif tok.tag in _KIWI_TAGS or tok.tag.startswith("W_"):  # W_SERIAL: "10-2023-0087131"
            for w in _words(tok.form.casefold()):
                for t in _latin_terms(w, stem):
                    yield t, False


def _sudachi_terms(line: str, stem: bool) -> Iterator[tuple[str, bool]]:
    pieces = [line]
    if len(line.encode("utf-8")) > _SUDACHI_MAX_BYTES:
        step = _SUDACHI_MAX_BYTES // 4
        pieces = [line[i : i + step] for i in range(0, len(line), step)]
    for piece in pieces:
        for m in _sudachi().tokenize(piece):
            surface = m.surface()
            if not _CJK_SPLIT_RE.search(surface):
                # Latin words and numbers as in any other text (Sudachi's normalised form
                # of "running" is "ランニング").
                words = list(_words(surface))
            elif m.part_of_speech()[0] in _SUDACHI_POS:
                words = list(_words(normalise(m.normalized_form())))
            else:
                continue
            for w in words:
                for t in _latin_terms(w, stem):
                    yield t, False


class ScriptAnalyzer:
    """Analyses each line by its script: Korean lines (any Hangul) by ``ko``, Japanese lines
    (kana or Han) by ``ja``, each "bigram" or "morph"; other lines are words. Latin-script
    words are lower-cased and, with ``stem``, Snowball-stemmed as English, whatever line they
    are on."""

    def __init__(self, name: str, ko: str, ja: str, stem: bool = True) -> None:
        self.name = name
        self.ko = ko
        self.ja = ja
        self.stem = stem

    def _line(self, line: str, query: bool) -> Iterator[tuple[str, bool]]:
        if scripts.has_hangul(line):
            if self.ko == "morph":
                yield from _kiwi_terms(line, self.stem, self.ja)
                return
        elif _JA_RE.search(line) and self.ja == "morph":
            yield from _sudachi_terms(line, self.stem)
            return
        yield from _bigram_terms(line, self.stem, query)

    def _all(self, text: str, query: bool) -> Iterator[tuple[str, bool]]:
        for line in normalise(text).split("\n"):
            if line.strip():
                yield from self._line(line, query)
                yield from _identifier_terms(line)

    def terms(self, text: str) -> list[str]:
        return [t for t, _ in self._all(text, False)]

    def query_terms(self, text: str) -> list[tuple[str, bool]]:
        return _dedupe(self._all(text, True))


#: name -> (version name, Korean lines, Japanese lines, stem English)
ANALYZERS: dict[str, tuple[str, str, str, bool]] = {
    "bigram": ("bigram-3", "bigram", "bigram", True),
    "morph": ("morph-6", "morph", "morph", True),
    "mixed": ("mixed-5", "morph", "bigram", True),
    "bigram_nostem": ("bigram_nostem-2", "bigram", "bigram", False),
}


def family(name: str) -> str:
    """The analyser family of a recorded name: "mixed-2" -> "mixed"."""
    return name.rsplit("-", 1)[0]


def analyzer_for(name: str) -> Analyzer:
    """The analyser called ``name`` ("bigram") or recorded as ``name`` ("bigram-2")."""
    for key, (version, ko, ja, stem) in ANALYZERS.items():
        if name in (key, version):
            return ScriptAnalyzer(version, ko, ja, stem)
    known = ", ".join(ANALYZERS)
    raise LexicalUnavailableError(f"unknown lexical analyser {name!r}; use one of {known}")


# ----------------------------------------------------------------------------------- search


@dataclass(frozen=True)
class LexicalHit:
    chunk_id: int
    score: float
    """BM25 (positive, higher is better)."""


@dataclass(frozen=True)
class LexicalResult:
    hits: list[LexicalHit]
    idf_total: float
    """Sum of the BM25 idf of the query's terms (terms missing from the index included):
    about the score of a passage of average length holding every query term once."""

    def matches(self, exponent: float = 1.0) -> list[tuple[int, float]]:
        """(chunk id, ``min(1, score / idf_total) ** exponent``) for every hit, best first:
        how much of the query (idf-weighted) a passage holds."""
        if self.idf_total <= 0:
            return [(h.chunk_id, 0.0) for h in self.hits]
        return [(h.chunk_id, min(1.0, h.score / self.idf_total) ** exponent) for h in self.hits]


def combine(results: Sequence[LexicalResult], k: int) -> LexicalResult:
    """Several searches as one result: each passage with the largest share of a query it
    holds (``matches(1.0)``, as a score with ``idf_total`` 1), the best ``k``."""
    share: dict[int, float] = {}
    for result in results:
        for cid, m in result.matches(1.0):
            share[cid] = max(share.get(cid, 0.0), m)
    best = sorted(share.items(), key=lambda kv: -kv[1])[:k]
    return LexicalResult([LexicalHit(cid, m) for cid, m in best], 1.0 if best else 0.0)


def _idf(n_docs: int, df: int) -> float:
    # FTS5's bm25() idf, with its floor for terms in more than half of the rows.
    return max(1e-6, math.log((n_docs - df + 0.5) / (df + 0.5)))


def _match_expression(terms: Sequence[tuple[str, bool]]) -> str:
    parts = []
    for term, prefix in terms:
        quoted = '"' + term.replace('"', '""') + '"'
        parts.append(quoted + " *" if prefix else quoted)
    return " OR ".join(parts)


def _document_frequencies(conn: sqlite3.Connection, terms: Sequence[tuple[str, bool]]) -> list[int]:
    """Rows holding each term (for a prefix term: rows holding any term it starts)."""
    exact = [t for t, prefix in terms if not prefix]
    found: dict[str, int] = {}
    if exact:
        marks = ",".join("?" * len(exact))
        sql = f"SELECT term, doc FROM {VOCAB} WHERE term IN ({marks})"
        found = {str(t): int(d) for t, d in conn.execute(sql, exact)}
    out = []
    for term, prefix in terms:
        if prefix:
            sql = f"SELECT COUNT(*) FROM {TABLE} WHERE {TABLE} MATCH ?"
            out.append(int(conn.execute(sql, (_match_expression([(term, True)]),)).fetchone()[0]))
        else:
            out.append(found.get(term, 0))
    return out


def lexical_search(
    conn: sqlite3.Connection,
    analyzer: Analyzer,
    query: str,
    k: int,
    *,
    langs: Sequence[str] | None = None,
) -> LexicalResult:
    """BM25 over the ``lexical`` table: the best ``k`` chunks for ``query``.

    ``langs`` restricts the chunks to those languages.
    """
    terms = analyzer.query_terms(query)[:_MAX_QUERY_TERMS]
    if not terms or k <= 0:
        return LexicalResult([], 0.0)
    n_docs = int(conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])
    if n_docs == 0:
        return LexicalResult([], 0.0)
    idf_total = sum(_idf(n_docs, df) for df in _document_frequencies(conn, terms))
    args: list[object] = [_match_expression(terms)]
    if langs:
        # The FTS match drives the join; each match looks its chunk up by primary key.
        marks = ",".join("?" * len(langs))
        sql = (
            f"SELECT {TABLE}.rowid, -bm25({TABLE}) FROM {TABLE}"
            f" JOIN chunks ON chunks.id = {TABLE}.rowid"
            f" WHERE {TABLE} MATCH ? AND chunks.lang IN ({marks})"
            f" ORDER BY bm25({TABLE})"
        )
        args.extend(langs)
    else:
        sql = f"SELECT rowid, -bm25({TABLE}) FROM {TABLE} WHERE {TABLE} MATCH ? ORDER BY rank"
    sql += " LIMIT ?"
    args.append(int(k))
    hits = [LexicalHit(int(cid), float(score)) for cid, score in conn.execute(sql, args)]
    return LexicalResult(hits, idf_total)


def posting(analyzer: Analyzer, text: str) -> str:
    """``text``'s terms as the lexical table (and Milvus's ``terms`` field) holds them."""
    return " ".join(analyzer.terms(text))


def rebuild(conn: sqlite3.Connection, analyzer: Analyzer) -> int:
    """Re-analyse every stored chunk text into the lexical table (inside the caller's
    transaction; none is left waiting); returns the number of chunks."""
    clear(conn)
    n = 0
    rows = conn.execute("SELECT id, text FROM chunks ORDER BY id").fetchall()
    batch: list[tuple[int, str]] = []
    for cid, text in rows:
        batch.append((int(cid), posting(analyzer, str(text))))
        if len(batch) >= 500:
            insert(conn, batch)
            n += len(batch)
            batch = []
    if batch:
        insert(conn, batch)
        n += len(batch)
    return n


def insert(conn: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
    """Add ``(chunk id, analysed terms)`` rows."""
    conn.executemany(f"INSERT INTO {TABLE} (rowid, terms) VALUES (?, ?)", rows)


def wait(conn: sqlite3.Connection, chunk_ids: Sequence[int]) -> None:
    """Record new chunks whose terms are written later (``fill``)."""
    conn.executemany(f"INSERT INTO {WAITING} (chunk_id) VALUES (?)", [(int(c),) for c in chunk_ids])


def waiting(conn: sqlite3.Connection, limit: int) -> list[tuple[int, str]]:
    """Up to ``limit`` waiting chunks, ``(chunk id, text)``, in id order."""
    rows = conn.execute(
        f"SELECT chunks.id, chunks.text FROM {WAITING}"
        f" JOIN chunks ON chunks.id = {WAITING}.chunk_id ORDER BY {WAITING}.chunk_id LIMIT ?",
        (limit,),
    )
    return [(int(cid), str(text)) for cid, text in rows]


def waiting_count(conn: sqlite3.Connection) -> int:
    return int(conn.execute(f"SELECT COUNT(*) FROM {WAITING}").fetchone()[0])


def fill(conn: sqlite3.Connection, rows: Sequence[tuple[int, str]]) -> None:
    """Write the terms of waiting chunks, ``(chunk id, analysed terms)``."""
    insert(conn, rows)
    _delete_ids(conn, WAITING, "chunk_id", [cid for cid, _ in rows])


def _delete_ids(conn: sqlite3.Connection, table: str, column: str, ids: Sequence[int]) -> None:
    for i in range(0, len(ids), 500):
        part = [int(x) for x in ids[i : i + 500]]
        conn.execute(f"DELETE FROM {table} WHERE {column} IN ({','.join('?' * len(part))})", part)


def delete(conn: sqlite3.Connection, chunk_ids: Sequence[int]) -> None:
    """Forget the terms of chunks (written or waiting)."""
    _delete_ids(conn, TABLE, "rowid", chunk_ids)
    _delete_ids(conn, WAITING, "chunk_id", chunk_ids)


def clear(conn: sqlite3.Connection) -> None:
    conn.execute(f"DELETE FROM {TABLE}")
    conn.execute(f"DELETE FROM {WAITING}")


#: Query terms searched at most (other search indexes analyse queries the same way).
MAX_QUERY_TERMS = _MAX_QUERY_TERMS


def document_frequencies(
    conn: sqlite3.Connection, terms: Sequence[tuple[str, bool]]
) -> tuple[int, list[int]]:
    """The rows of the lexical table, and the rows holding each of ``terms``."""
    n_docs = int(conn.execute(f"SELECT COUNT(*) FROM {TABLE}").fetchone()[0])
    return n_docs, _document_frequencies(conn, terms) if n_docs else [0] * len(terms)
