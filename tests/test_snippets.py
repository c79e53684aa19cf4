"""Snippets (``snippets.py``): the query's words found and marked in a passage."""

from __future__ import annotations

from polyfind.snippets import make_snippet, query_terms


def test_cjk_query_terms_use_the_script_classes() -> None:
    # 々 belongs to the word before it; extension-B kanji and half-width kana are letters;
    # the middle dot separates words.
    assert query_terms("人々の役割") == ["人々", "々の", "の役", "役割"]
    assert query_terms("𠮷野家") == ["𠮷野", "野家"]
    assert query_terms("ｶﾀｶﾅ") == ["ｶﾀ", "ﾀｶ", "ｶﾅ"]
    assert query_terms("日米・韓") == ["日米", "韓"]
    assert query_terms("AI 반도체") == ["AI", "반도", "도체"]


def test_a_japanese_word_with_an_iteration_mark_is_marked() -> None:
    snip = make_snippet("人々", "多くの人々が集まった。")
    assert snip.kind == "terms"
    assert [snip.text[s:e] for s, e in snip.highlights] == ["人々"]
