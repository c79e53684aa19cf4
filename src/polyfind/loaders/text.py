"""Plain text and Markdown: encoding detection, cleaning, metadata from the first lines.

The encoding is read from the bytes, never from the locale: a byte-order mark (UTF-8,
UTF-16, UTF-32), UTF-16 without one (NUL bytes in every other place), strict UTF-8, and
otherwise the legacy encodings of Korean and Japanese text (CP949, a superset of EUC-KR;
CP932, a superset of Shift_JIS; EUC-JP). Several legacy encodings often decode the same bytes
without error, so each decoding is scored on how much it reads like the language that
encoding is for: common Hangul (the 2,350 syllables of KS X 1001) for CP949, kana for the
Japanese encodings; jamo, half-width katakana and rare syllables count against.

A file that was extracted from a PDF (wrapped lines each followed by a blank line, page
numbers on lines of their own) is reflowed into paragraphs (``cleaning.reflow_extracted_text``);
line numbers then refer to the cleaned text, which is what ``polyfind show`` displays.
"""

from __future__ import annotations

import codecs
from pathlib import Path

from .. import cleaning
from ..errors import LoadError
from ..records import Document, Page
from ..settings import ExtractionSettings, Settings
from . import meta

_BOMS = (
    (codecs.BOM_UTF32_LE, "utf-32"),
    (codecs.BOM_UTF32_BE, "utf-32"),
    (codecs.BOM_UTF8, "utf-8-sig"),
    (codecs.BOM_UTF16_LE, "utf-16"),
    (codecs.BOM_UTF16_BE, "utf-16"),
)
#: Legacy encodings tried when the bytes are not UTF-8, in order of preference on a tie.
LEGACY_ENCODINGS = ("cp949", "cp932", "euc_jp")

_NAMES = {"cp949": "CP949/EUC-KR", "cp932": "Shift_JIS/CP932", "euc_jp": "EUC-JP"}


def _utf16_without_bom(data: bytes) -> str | None:
    """``utf-16-le``/``-be`` when NUL bytes sit in every other place (ASCII-heavy UTF-16)."""
    head = data[:4096]
    if len(head) < 4:
        return None
    even = head[0::2].count(0)
    odd = head[1::2].count(0)
    half = len(head) // 2
    if odd > 0.3 * half and even < 0.05 * half:
        return "utf-16-le"
    if even > 0.3 * half and odd < 0.05 * half:
        return "utf-16-be"
    return None


def _is_kana(o: int) -> bool:
    return 0x3041 <= o <= 0x30FF


def _common_hangul(ch: str) -> bool:
    """One of the 2,350 syllables of KS X 1001 (two bytes in EUC-KR; Python's codec spells
    any other syllable as an eight-byte jamo sequence)."""
    try:
        return len(ch.encode("euc_kr")) == 2
    except UnicodeEncodeError:
        return False


def score(text: str, encoding: str) -> float:
    """How much ``text`` reads like the language ``encoding`` is for (higher is better).

    For CP949: common Hangul syllables count for, loose jamo (kana bytes read as Korean) and
    rare syllables against. For the Japanese encodings: kana count for, kanji half (Korean
    EUC bytes read as EUC-JP are all kanji), Hangul against. Half-width katakana, private
    use and C1 controls count against every encoding.
    """
    nonascii = 0
    good = 0.0
    bad = 0
    for ch in text:
        o = ord(ch)
        if o < 0x80:
            continue
        nonascii += 1
        if 0xFF61 <= o <= 0xFF9F or 0xE000 <= o <= 0xF8FF or o < 0xA0:
            bad += 1
        elif encoding == "cp949":
            if 0xAC00 <= o <= 0xD7A3:
                if _common_hangul(ch):
                    good += 1
                else:
                    bad += 1
            elif 0x3131 <= o <= 0x318E:
                bad += 1
        elif _is_kana(o):
            good += 1
        elif 0x4E00 <= o <= 0x9FFF:
            good += 0.5
        elif 0xAC00 <= o <= 0xD7A3:
            bad += 1
    if nonascii == 0:
        return 0.0
    return (good - 2 * bad) / nonascii


def _decode_sample(data: bytes, encoding: str, size: int) -> str | None:
    sample = data[:size]
    try:
        return sample.decode(encoding)
    except UnicodeDecodeError as exc:
        if len(sample) < len(data) and exc.start >= len(sample) - 3:
            try:
                return sample[: exc.start].decode(encoding)
            except UnicodeDecodeError:
                return None
        return None


def decode_text(data: bytes, source: str, sample_bytes: int | None = None) -> tuple[str, str]:
    """The text of a file and the name of its encoding; a legacy encoding is chosen on the
    first ``sample_bytes`` (``ExtractionSettings.encoding_sample_bytes`` when None).

    Raises LoadError (saying which encodings were tried) when none decodes the bytes.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), encoding.replace("-sig", "")
            except UnicodeDecodeError as exc:
                raise LoadError(
                    f"{source}: damaged {encoding} text ({exc.reason} at byte {exc.start}); "
                    "re-save it as UTF-8"
                ) from exc
    if b"\x00" in data[:4096]:
        utf16 = _utf16_without_bom(data)
        if utf16 is None:
            raise LoadError(f"{source}: binary data, not text; remove it or rename it")
        try:
            return data.decode(utf16), utf16
        except UnicodeDecodeError as exc:
            raise LoadError(f"{source}: damaged UTF-16 text; re-save it as UTF-8") from exc
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        utf8_error = exc.start
    size = sample_bytes or ExtractionSettings().encoding_sample_bytes
    scored: list[tuple[float, int, str]] = []
    for rank, encoding in enumerate(LEGACY_ENCODINGS):
        sample = _decode_sample(data, encoding, size)
        if sample is not None:
            scored.append((score(sample, encoding), -rank, encoding))
    for _, _, encoding in sorted(scored, reverse=True):
        try:
            return data.decode(encoding), encoding
        except UnicodeDecodeError:
            continue
    raise LoadError(
        f"{source}: not UTF-8 text (byte {utf8_error}), nor UTF-16, CP949/EUC-KR, "
        "Shift_JIS or EUC-JP; convert it to UTF-8 and index again"
    )


def encoding_name(codec: str) -> str:
    return _NAMES.get(codec, codec.upper())


def _date(text: str, name: str) -> str | None:
    """Front-matter date, else a date line near the top, else a date in the file name."""
    stated = meta.front_matter_field(text, "date", "published")
    from_front = meta.date_from_text(f"Date: {stated}") if stated else None
    return from_front or meta.date_from_text(text) or meta.date_from_name(name)


def load_text(path: Path, source: str, settings: Settings | None = None) -> Document:
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{source}: cannot read ({exc.strerror}); check permissions") from exc
    raw, _ = decode_text(data, source, (settings or Settings()).extraction.encoding_sample_bytes)
    text = cleaning.normalize(raw)
    if cleaning.looks_extracted(text):
        text = cleaning.normalize(cleaning.reflow_extracted_text(text))
    fmt = "markdown" if path.suffix.lower() == ".md" else "text"
    return Document(
        source=source,
        format=fmt,
        pages=(Page(None, text),),
        title=meta.title_from_text(text),
        date=_date(text, path.name),
        author=meta.front_matter_field(text, "author", "authors") or meta.author_from_text(text),
    )
