"""HTML pages: the main text, without navigation, page header and footer, scripts or forms.

Parsed with lxml (libxml2's HTML parser: fast, and lenient with the broken markup real pages
have). The main text is the page's ``<main>`` (or ``role="main"``), else its longest
``<article>``, else its ``<body>``; inside it, elements that are navigation or page
furniture by tag (nav, header, footer, aside, form, ...), by ARIA role, or by a class or id
such as ``menu``, ``breadcrumb`` or ``cookie`` are dropped, and so are lists and blocks that
are mostly links (menus written as plain lists). Block elements become paragraphs separated
by blank lines, list items start with "- ", table rows are one line with cells separated by
`` | ``. The page is one Page without a number.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from .. import cleaning
from ..errors import LoadError
from ..records import Document, Page
from ..settings import Settings
from . import meta
from .text import decode_text

_CHARSET = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_\-]+)""", re.IGNORECASE)
_DROP_TAGS = frozenset(
    {
        "script",
        "style",
        "noscript",
        "template",
        "svg",
        "canvas",
        "nav",
        "header",
        "footer",
        "aside",
        "form",
        "button",
        "select",
        "option",
        "textarea",
        "iframe",
        "object",
        "embed",
        "dialog",
        "menu",
        "input",
        "label",
    }
)
_DROP_ROLES = frozenset(
    {
        "navigation",
        "banner",
        "contentinfo",
        "complementary",
        "search",
        "menu",
        "menubar",
        "toolbar",
        "dialog",
    }
)
_BOILERPLATE = re.compile(
    r"(?:^|[\s_-])(?:nav|navbar|navigation|menu|breadcrumbs?|sidebar|side-bar|footer|header|"
    r"masthead|cookie|consent|banner|share|sharing|social|related|comments?|advert|ads?|"
    r"promo|subscribe|newsletter|skip-link|pagination|pager|toolbar)(?:$|[\s_-])",
    re.IGNORECASE,
)
_BLOCK_TAGS = frozenset(
    {
        "p",
        "div",
        "section",
        "article",
        "main",
        "li",
        "ul",
        "ol",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "blockquote",
        "pre",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "figure",
        "figcaption",
        "address",
        "hr",
        "br",
        "caption",
        "details",
        "summary",
    }
)
_SPACE = re.compile(r"[ \t\r\n\f\u00a0]+")


def _decode(data: bytes, source: str, sample_bytes: int) -> str:
    """The page as text: a BOM, a ``<meta charset>``, else the plain-text detection."""
    m = _CHARSET.search(data[:4096])
    if m and not data.startswith((b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode(m.group(1).decode("ascii").lower().replace("_", "-"))
        except (LookupError, UnicodeDecodeError):
            pass
    text, _ = decode_text(data, source, sample_bytes)
    return text


def _text_len(el: Any) -> int:
    return len("".join(el.itertext()).strip())


def _is_furniture(el: Any) -> bool:
    tag = el.tag if isinstance(el.tag, str) else ""
    if tag.lower() in _DROP_TAGS:
        return True
    if (el.get("role") or "").lower() in _DROP_ROLES:
        return True
    if el.get("hidden") is not None or el.get("aria-hidden") == "true":
        return True
    marks = f"{el.get('class') or ''} {el.get('id') or ''}"
    return bool(marks.strip()) and _BOILERPLATE.search(marks) is not None


def _link_heavy(el: Any, link_density: float) -> bool:
    """More than ``link_density`` of the element's text is link text (a menu)."""
    total = _text_len(el)
    if total == 0:
        return False
    linked = sum(_text_len(a) for a in el.iter("a"))
    return linked > link_density * total


def _main_root(doc: Any) -> Any:
    for xpath in ("//main", "//*[@role='main']"):
        found = doc.xpath(xpath)
        if found:
            return max(found, key=_text_len)
    articles = doc.xpath("//article")
    if articles:
        best = max(articles, key=_text_len)
        body = doc.find(".//body")
        if body is None or _text_len(best) >= 0.3 * _text_len(body):
            return best
    body = doc.find(".//body")
    return body if body is not None else doc


def _prune(root: Any, link_density: float) -> None:
    """Drop furniture and menus from ``root`` (the tail text of a dropped element stays)."""
    for el in list(root.iter()):
        if el is root or not isinstance(el.tag, str):
            continue
        parent = el.getparent()
        if parent is None:
            continue
        drop = _is_furniture(el)
        if not drop and el.tag in ("ul", "ol", "div", "table", "section", "dl"):
            drop = _link_heavy(el, link_density) and _text_len(el) < 2000
        if drop:
            el.drop_tree()


def _paragraphs(root: Any) -> list[str]:
    """Block structure of ``root`` as paragraphs (list items, table rows, headings, ...)."""
    out: list[str] = []
    current: list[str] = []

    def flush() -> None:
        text = _SPACE.sub(" ", "".join(current)).strip()
        if text:
            out.append(text)
        current.clear()

    def walk(el: Any, in_pre: bool) -> None:
        tag = el.tag if isinstance(el.tag, str) else ""
        if not tag:  # comments, processing instructions
            if el.tail:
                current.append(el.tail)
            return
        if tag == "tr":
            flush()
            cells = [
                _SPACE.sub(" ", "".join(c.itertext())).strip()
                for c in el
                if isinstance(c.tag, str) and c.tag in ("td", "th")
            ]
            row = " | ".join(c for c in cells if c)
            if row:
                out.append(row)
        elif tag == "pre":
            flush()
            text = "".join(el.itertext()).strip("\n")
            if text.strip():
                out.append(text)
        else:
            block = tag in _BLOCK_TAGS
            if block:
                flush()
            if tag == "li":
                current.append("- ")
            if el.text:
                current.append(el.text)
            for child in el:
                walk(child, in_pre)
            if block:
                flush()
        if el.tail:
            current.append(el.tail)

    walk(root, False)
    flush()
    return out


def _meta_content(doc: Any, *names: str) -> str | None:
    for name in names:
        for el in doc.xpath(f"//meta[@name='{name}' or @property='{name}' or @itemprop='{name}']"):
            value = meta.clean_field(el.get("content"))
            if value:
                return value
    return None


def _html_date(doc: Any) -> str | None:
    raw = _meta_content(
        doc,
        "article:published_time",
        "date",
        "dc.date",
        "DC.date",
        "dcterms.created",
        "datePublished",
        "citation_publication_date",
        "pubdate",
    )
    if raw is None:
        times = doc.xpath("//time[@datetime]")
        raw = times[0].get("datetime") if times else None
    if not raw:
        return None
    m = re.match(r"\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})", raw)
    return meta.iso_date(*m.groups()) if m else None


def load_html(path: Path, source: str, settings: Settings | None = None) -> Document:
    import lxml.html
    from lxml import etree

    cfg = (settings or Settings()).extraction
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise LoadError(f"{source}: cannot read ({exc.strerror}); check permissions") from exc
    markup = _decode(data, source, cfg.encoding_sample_bytes)
    markup = re.sub(r"^\s*<\?xml[^>]*>", "", markup)
    if not markup.strip():
        raise LoadError(f"{source}: empty HTML file; remove it")
    try:
        doc = lxml.html.document_fromstring(markup)
    except (etree.ParserError, ValueError) as exc:
        raise LoadError(f"{source}: not readable as HTML ({exc}); check the file") from exc
    title_el = doc.find(".//title")
    page_title = meta.clean_field(title_el.text_content()) if title_el is not None else None
    title = _meta_content(doc, "og:title", "citation_title", "dc.title", "DC.title") or page_title
    author = _meta_content(doc, "author", "article:author", "citation_author", "dc.creator")
    date = _html_date(doc)
    root = _main_root(doc)
    _prune(root, cfg.html_link_density)
    text = cleaning.normalize("\n\n".join(_paragraphs(root)))
    if not title:
        h1 = doc.xpath("//h1")
        title = meta.clean_field(h1[0].text_content()) if h1 else None
    return Document(
        source=source,
        format="html",
        pages=(Page(None, text),),
        title=title or meta.title_from_text(text),
        date=date or meta.date_from_text(text) or meta.date_from_name(path.name),
        author=author or meta.author_from_text(text),
    )
