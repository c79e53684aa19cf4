"""Title, date and author of a document, from its metadata or its first lines.

Dates are ISO strings: ``YYYY-MM-DD`` where the day is known, ``YYYY-MM`` where only the
month is.
"""

from __future__ import annotations

import re
from datetime import date

_DATE_LINE = re.compile(
    r"(?:발간일|발행일|작성일|게시일|등록일|(?<!元記事)公開日|発行日|発表日|掲載日|作成日"
    r"|Date|Published|Issued|Release date)\s*[:：]?\s*\n?\s*"
    r"(\d{4})\s?[-./年]\s?(\d{1,2})\s?[-./月]\s?(\d{1,2})"
)
_DATE_IN_NAME = re.compile(r"(?<!\d)(\d{4})-(\d{2})(?:-(\d{2}))?(?!\d)")
_PDF_DATE = re.compile(r"(?:D:)?(\d{4})(\d{2})?(\d{2})?")
_AUTHOR_LINE = re.compile(
    r"^[ \t]*(?:작성자|저자|집필자?|연구책임자|著者|執筆者?|作成者|Authors?|Written by|Prepared by)"
    r"[ \t]*[:：][ \t]*(\S[^\n]{0,150}?)[ \t]*$",
    re.MULTILINE | re.IGNORECASE,
)
_HEADING = re.compile(r"^#{1,3}\s+(.+?)\s*#*\s*$", re.MULTILINE)
_FILE_NAME = re.compile(r"\.\w{2,4}$")
_JUNK_TITLES = frozenset({"untitled", "title", "document", "slide 1", "no title", "無題", "제목"})


def iso_date(y: str | int, m: str | int | None = None, d: str | int | None = None) -> str | None:
    """``YYYY-MM-DD`` (or ``YYYY-MM``) when the parts make a real date, else None."""
    try:
        year = int(y)
        if m is None:
            return None
        month = int(m)
        if d is None:
            date(year, month, 1)
            return f"{year:04d}-{month:02d}"
        day = int(d)
        date(year, month, day)
    except ValueError:
        return None
    if not 1900 <= year <= 2100:
        return None
    return f"{year:04d}-{month:02d}-{day:02d}"


def date_from_text(text: str) -> str | None:
    """A publication date stated near the top ("발간일 2023-12-22", "公開日：2024年1月24日")."""
    m = _DATE_LINE.search(text[:4000])
    return iso_date(*m.groups()) if m else None


def date_from_name(name: str) -> str | None:
    m = _DATE_IN_NAME.search(name)
    return iso_date(*m.groups()) if m else None


def pdf_date(raw: str | None) -> str | None:
    """A PDF date string (``D:20231222093000+09'00'``) as an ISO date."""
    if not raw:
        return None
    m = _PDF_DATE.search(raw)
    if not m or not m.group(2):
        return None
    return iso_date(m.group(1), m.group(2), m.group(3))


def author_from_text(text: str) -> str | None:
    """An author named on a header line ("작성자: 홍길동", "Author: J. Smith")."""
    m = _AUTHOR_LINE.search(text[:4000])
    return clean_field(m.group(1)) if m else None


def clean_field(value: object) -> str | None:
    """A metadata value on one line, at most 200 characters, or None when empty."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    return text[:200] if text else None


def usable_title(title: str | None, file_stem: str) -> str | None:
    """A metadata title unless it is a placeholder ("untitled", a file name, the stem)."""
    title = clean_field(title)
    if not title:
        return None
    for prefix in ("Microsoft Word - ", "Microsoft PowerPoint - ", "Microsoft Excel - "):
        if title.startswith(prefix):
            title = _FILE_NAME.sub("", title[len(prefix) :]).strip()
    lowered = title.lower()
    if (
        lowered in _JUNK_TITLES
        or _FILE_NAME.search(title)
        or lowered == file_stem.lower()
        or not any(ch.isalpha() for ch in title)
    ):
        return None
    return title


def _front_matter(text: str) -> dict[str, object]:
    if not text.startswith("---\n"):
        return {}
    end = text.find("\n---", 4)
    if end < 0:
        return {}
    import yaml

    try:
        meta = yaml.safe_load(text[4:end])
    except yaml.YAMLError:
        return {}
    return meta if isinstance(meta, dict) else {}


def _is_title_like(line: str) -> bool:
    letters = sum(ch.isalpha() for ch in line)
    return (
        letters >= 4
        and len(line) >= 8
        and not line.endswith((":", "："))
        and not (line.startswith("[") and line.endswith("]"))
    )


def title_from_text(text: str) -> str | None:
    """Front-matter title, else an early Markdown heading, else a line that reads like one."""
    meta = _front_matter(text)
    title = clean_field(meta.get("title"))
    if title:
        return title
    head = [ln.strip() for ln in text[:4000].splitlines() if ln.strip()][:20]
    for line in head[:5]:
        m = _HEADING.match(line)
        if m:
            return m.group(1).strip()[:200]
    for line in head:
        if _is_title_like(line):
            return line.lstrip("# ")[:200]
    return None


def front_matter_field(text: str, *names: str) -> str | None:
    meta = _front_matter(text)
    for name in names:
        value = meta.get(name)
        if isinstance(value, list):
            value = ", ".join(str(v) for v in value)
        if isinstance(value, date):
            return value.isoformat()
        field = clean_field(value)
        if field:
            return field
    return None
