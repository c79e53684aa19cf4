"""Country names across languages: a lexical bridge for a question that names a country.

An English question about a Korean or Japanese report shares no word with the passage that
answers it, and within the report the dense similarities of its passages differ by a few
hundredths, so the passage that names what the question names is the best clue there is:
"Canada" is 캐나다 in a Korean table and カナダ in a Japanese one. The names come from
``pycountry`` (the ISO 3166-1 list with its translations, maintained with Debian's
iso-codes; its data files are read, the package is not imported); ``Searcher`` looks for
them in the passages of the other languages when it orders a document's passages
(``Settings.country_names``).

A country is not looked for in its own language: a Japanese report names Japan in passing on
any page, so "Japan's" in a question says nothing about which of its pages answers it.
English names only, for now: a Korean or Japanese name is often part of a longer word
(인도 in 인도네시아), which a plain match would take for the country.
"""

from __future__ import annotations

import importlib.util
import re
from functools import lru_cache
from pathlib import Path

__all__ = ["foreign_names"]

#: The languages names are given in, and each one's countries (not looked for in it).
LANGUAGES = ("ko", "ja")
_HOME = {"ko": frozenset({"KR", "KP"}), "ja": frozenset({"JP"})}
#: A translation's note in parentheses ("大韓民国 (韓国)").
_NOTE = re.compile(r"\s*[(（][^)）]*[)）]")
_NOTE_TEXT = re.compile(r"[(（]([^)）]*)[)）]")


def _package_folder() -> Path:
    """pycountry's folder, found without importing it: its data files (``databases/``, the
    ISO lists, and ``locales/``, their gettext translations; ``pycountry.DATABASE_DIR`` and
    ``LOCALES_DIR``) are all this module reads, and importing the package costs a search
    run in its own process about 55 ms (most of it ``importlib.metadata``)."""
    spec = importlib.util.find_spec("pycountry")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("country names need pycountry: `pip install pycountry`")
    return Path(spec.submodule_search_locations[0])


@lru_cache(maxsize=1)
def _table() -> tuple[re.Pattern[str], dict[str, dict[str, list[str]]]]:
    """A pattern of every country's English names (official and common, whole words) and,
    for each name in lower case, the country's names in each of ``LANGUAGES`` (the
    translation, and the short form it gives in parentheses: 大韓民国 and 韓国)."""
    import gettext
    import json

    folder = _package_folder()
    translations = {
        lang: gettext.translation("iso3166-1", str(folder / "locales"), languages=[lang])
        for lang in LANGUAGES
    }
    with open(folder / "databases" / "iso3166-1.json", encoding="utf-8") as fh:
        countries = json.load(fh)["3166-1"]
    table: dict[str, dict[str, list[str]]] = {}
    for country in countries:
        english = str(country["name"])
        given: dict[str, list[str]] = {}
        for lang, tr in translations.items():
            translated = tr.gettext(english)
            if country["alpha_2"] in _HOME[lang] or translated == english:
                continue
            forms = [_NOTE.sub("", translated).strip(), *_NOTE_TEXT.findall(translated)]
            given[lang] = [f.strip() for f in forms if f.strip()]
        for english_name in (english, country.get("common_name")):
            if english_name:
                table[str(english_name).casefold()] = given
    alternatives = sorted(table, key=len, reverse=True)  # "Niger" after "Nigeria"
    pattern = re.compile(r"\b(" + "|".join(map(re.escape, alternatives)) + r")\b", re.IGNORECASE)
    return pattern, table


def foreign_names(text: str) -> dict[str, list[str]]:
    """The names, in each of ``LANGUAGES``, of the countries ``text`` names in English,
    each once, in the order named: ``{"ko": ["캐나다"], "ja": ["カナダ"]}`` for a question
    about Canada; ``{}`` when it names none (or only its own country in every language)."""
    if not re.search(r"[A-Za-z]{4}", text):  # every English name has four letters or more
        return {}
    pattern, table = _table()
    out: dict[str, list[str]] = {}
    for m in pattern.finditer(text):
        for lang, forms in table[m.group(1).casefold()].items():
            for name in forms:
                if name not in out.setdefault(lang, []):
                    out[lang].append(name)
    return {lang: found for lang, found in out.items() if found}
