"""Country names across languages (countries.py): the names an English question gives,
in Korean and Japanese, as pycountry's ISO 3166-1 translations spell them."""

from __future__ import annotations

from polyfind.countries import foreign_names


def test_an_english_country_name_is_given_in_korean_and_japanese() -> None:
    question = "How much gross investment went to Canada in 2024?"
    assert foreign_names(question) == {"ko": ["캐나다"], "ja": ["カナダ"]}


def test_a_country_is_not_looked_for_in_its_own_language() -> None:
    assert foreign_names("What was Japan's redelivery rate?") == {"ko": ["일본"]}
    assert foreign_names("South Korea and Japan")["ko"] == ["일본"]  # no 대한민국


def test_whole_names_only_each_once_in_the_order_named() -> None:
    assert foreign_names("Canadian policy") == {}
    assert foreign_names("a question in 한국어 only") == {}
    found = foreign_names("Nigeria, then Niger, then Nigeria again")
    assert found["ko"] == ["나이지리아", "니제르"]
    # A translation's short form in parentheses is a name too (大韓民国 (韓国)).
    assert {"大韓民国", "韓国"} <= set(foreign_names("exports of South Korea")["ja"])
