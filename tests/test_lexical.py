"""Lexical retrieval: analysers on real sentences, FTS5 postings kept in step with the chunks,
fusion, the per-language view and short queries. Real model, real files."""

from __future__ import annotations

import sqlite3
import sys
import weakref
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from polyfind import Searcher, Settings, index_paths, korean, lexical
from polyfind.cli import app
from polyfind.embedding import Embedder
from polyfind.lexical import LexicalHit, LexicalResult, analyzer_for
from polyfind.pipeline import Indexer
from polyfind.search import fuse
from polyfind.status import index_status
from polyfind.store import LEXICAL_META, Store

sys.path.insert(0, str(Path(__file__).parent))
from reports import CORPUS, SMALL

KO = "한미 양국은 양자 기술 협력을 강화하기로 합의했으며, NIST와 반도체 연구를 함께 추진한다."
JA = "全固体電池の特許をめぐる日米韓の競争が激しくなっている。ＮＩＳＴも評価を公表した。"
EN = "The Department of Energy announced grants for battery recycling programs."


# ------------------------------------------------------------------------------ analysers


def test_mixed_analyser_takes_korean_content_morphemes() -> None:
    terms = analyzer_for("mixed").terms(KO)
    for word in ("양자", "기술", "협력", "강화", "합의", "반도체", "연구", "nist"):
        assert word in terms, (word, terms)
    # particles and endings are not terms
    for particle in ("은", "을", "와", "며"):
        assert particle not in terms


def test_bigram_analyser_on_korean_and_japanese() -> None:
    a = analyzer_for("bigram")
    ko = a.terms(KO)
    assert {"양자", "기술", "반도", "도체", "nist"} <= set(ko)
    ja = a.terms(JA)
    assert {"固体", "電池", "特許", "日米", "競争", "nist"} <= set(ja)
    # full-width Latin is folded, so "ＮＩＳＴ" matches an English "NIST"
    assert "ｎｉｓｔ" not in ja


def test_japanese_is_bigrams_in_the_default_analyser_and_wraps_are_joined() -> None:
    a = analyzer_for("mixed")
    assert a.name == analyzer_for(Settings().lexical_analyzer).name
    terms = a.terms("半導\n体の供給網")
    assert "導体" in terms and "供給" in terms


def test_english_words_are_lowercased_and_stemmed_everywhere() -> None:
    a = analyzer_for("mixed")
    assert {"batteri", "recycl", "program", "energi"} <= set(a.terms(EN))
    # an English word inside Korean text is analysed the same way
    assert "recycl" in a.terms("배터리 Recycling 정책")
    assert a.query_terms("Battery recycling") == [("batteri", False), ("recycl", False)]


def test_single_cjk_character_query_is_a_prefix_term() -> None:
    a = analyzer_for("mixed")
    assert a.query_terms("米") == [("米", True)]
    assert ("韓国", False) in a.query_terms("韓国")
    assert a.query_terms("   ") == []


@pytest.mark.parametrize("name", ["mixed", "bigram"])
def test_identifiers_are_terms_whole_and_by_their_parts(name: str) -> None:
    analyzer = analyzer_for(name)
    passage = set(analyzer.terms("출원번호 제10-2023-0087131호 (특허) 特許 JP2023-123456A"))
    assert {"1020230087131", "10", "2023", "0087131", "jp2023123456a"} <= passage
    whole = {t for t, _ in analyzer.query_terms("10-2023-0087131")}
    assert "1020230087131" in whole
    assert {t for t, _ in analyzer.query_terms("0087131")} <= passage


def test_search_folding_maps_radicals_and_full_width_but_keeps_jamo_bullets() -> None:
    analyzer = analyzer_for("mixed")
    assert analyzer.terms("国⺠の成⻑") == analyzer.terms("国民の成長")
    assert analyzer.terms("ＳＮＳ　２０２４年") == analyzer.terms("SNS 2024年")
    assert "ᄋ" not in "".join(analyzer.terms("ㅇ 연구개발ㆍ혁신"))


@pytest.mark.extra("sudachi")
def test_morph_analyser_uses_sudachi_for_japanese() -> None:
    terms = analyzer_for("morph").terms(JA)
    assert {"固体", "電池", "特許", "競争", "nist"} <= set(terms)
    assert "の" not in terms


# ------------------------------------------------------------------ postings and the store


def _postings(index_dir: Path) -> tuple[int, int, set[int], set[int]]:
    conn = sqlite3.connect(index_dir / "polyfind.sqlite")
    try:
        chunks = {r[0] for r in conn.execute("SELECT id FROM chunks")}
        rows = {r[0] for r in conn.execute("SELECT rowid FROM lexical")}
        return len(chunks), len(rows), chunks, rows
    finally:
        conn.close()


def test_postings_follow_added_changed_and_removed_files(
    small_corpus: Path, tmp_path: Path, embedder
) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    index_paths([str(small_corpus)], settings, embedder=embedder)
    n_chunks, n_rows, chunks, rows = _postings(settings.index_dir)
    assert n_chunks == n_rows > 0 and chunks == rows

    battery = small_corpus / SMALL[2]
    battery.write_text(
        battery.read_text(encoding="utf-8")
        + "\nThe zebra-striped flywheel programme stores energy in spinning carbon rotors.\n",
        encoding="utf-8",
    )
    (small_corpus / SMALL[1]).unlink()
    index_paths([str(small_corpus)], settings, embedder=embedder)
    _, _, chunks, rows = _postings(settings.index_dir)
    assert chunks == rows

    with Searcher(settings, encoder=embedder) as s:
        found = s.search("zebra-striped flywheel", k=3, mode="lexical")
        assert found and "zebra-striped flywheel" in found[0].text
        # the Japanese report is gone from the lexical table as from the vectors
        assert not s.search("全固体電池の特許", k=5, mode="lexical", langs="ja")

    index_paths([str(small_corpus)], settings, embedder=embedder, rebuild=True)
    _, _, chunks, rows = _postings(settings.index_dir)
    assert chunks == rows and chunks


def _terms(index_dir: Path) -> tuple[dict[int, str], dict[int, str], int]:
    """Each chunk's text, each written row of terms, and the chunks waiting for theirs."""
    conn = sqlite3.connect(index_dir / "polyfind.sqlite")
    try:
        texts = dict(conn.execute("SELECT id, text FROM chunks"))
        rows = dict(conn.execute(f"SELECT rowid, terms FROM {lexical.TABLE}"))
        waiting = conn.execute(f"SELECT COUNT(*) FROM {lexical.WAITING}").fetchone()[0]
        return texts, rows, waiting
    finally:
        conn.close()


def test_the_terms_are_written_after_the_encoder_the_run_loaded_is_let_go(
    small_corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The run loads the default encoder itself, as `polyfind index` does; the Korean
    # analyser must not be asked for while that encoder is alive.
    loaded: list[weakref.ref[Any]] = []
    real_load = Indexer.load_embedder

    def load_embedder(self: Indexer) -> Any:
        embedder = real_load(self)
        loaded.append(weakref.ref(embedder))
        return embedder

    alive_at_analysis: list[bool] = []
    real_kiwi = korean.kiwi

    def kiwi() -> Any:
        alive_at_analysis.append(any(ref() is not None for ref in loaded))
        return real_kiwi()

    monkeypatch.setattr(Indexer, "load_embedder", load_embedder)
    monkeypatch.setattr(korean, "kiwi", kiwi)
    settings = Settings(index_dir=tmp_path / "index")
    index_paths([str(small_corpus)], settings)
    assert loaded and alive_at_analysis and not any(alive_at_analysis)

    texts, rows, waiting = _terms(settings.index_dir)
    analyzer = analyzer_for(lexical.DEFAULT_ANALYZER)
    assert waiting == 0 and texts and rows.keys() == texts.keys()
    # the same terms as analysing each chunk at its commit would have written
    assert all(rows[cid] == lexical.posting(analyzer, text) for cid, text in texts.items())


def test_terms_left_waiting_by_a_stopped_run_are_written_by_the_next(
    small_corpus: Path, tmp_path: Path, embedder: Embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(index_dir=tmp_path / "index")

    def stopped(self: Indexer) -> None:
        raise KeyboardInterrupt  # the user pressed Ctrl-C once the vectors were saved

    with monkeypatch.context() as m:
        m.setattr(Indexer, "write_waiting_terms", stopped)
        with pytest.raises(KeyboardInterrupt):
            index_paths([str(small_corpus)], settings, embedder=embedder)
    texts, rows, waiting = _terms(settings.index_dir)
    assert texts and not rows and waiting == len(texts)
    st = index_status(settings)
    assert st.terms_waiting == len(texts) and st.stale and st.changed == 0
    out = CliRunner().invoke(app, ["status", "--index", str(settings.index_dir)]).output
    assert f"keyword terms waiting: {len(texts)} chunks" in out
    with Searcher(settings, encoder=embedder) as s:
        # the passages are searched by meaning; keyword search misses them meanwhile
        assert s.search("양자 기술 협력", k=3, mode="dense")
        assert not s.search("양자 기술 협력", k=3, mode="lexical")

    summary = index_paths([str(small_corpus)], settings, embedder=embedder)
    assert not summary.added and not summary.updated  # nothing embedded again
    texts, rows, waiting = _terms(settings.index_dir)
    assert waiting == 0 and rows.keys() == texts.keys()
    assert index_status(settings).terms_waiting == 0
    with Searcher(settings, encoder=embedder) as s:
        hits = s.search("양자 기술 협력", k=3, mode="lexical")
        assert hits and hits[0].lang == "ko"


def test_changing_the_analyser_rebuilds_the_table(
    small_corpus: Path, tmp_path: Path, embedder
) -> None:
    settings = Settings(index_dir=tmp_path / "index")
    index_paths([str(small_corpus)], settings, embedder=embedder)
    store = Store.open(settings.index_dir)
    assert store.get_meta(LEXICAL_META) == analyzer_for("mixed").name
    store.close()

    bigram = settings.with_(lexical_analyzer="bigram")
    # a search asking for another analyser reads the index as it is: nothing on disk changes
    db = settings.index_dir / "polyfind.sqlite"
    before = db.read_bytes()
    with Searcher(bigram, encoder=embedder) as s:
        assert s.store.get_meta(LEXICAL_META) == analyzer_for("mixed").name
        hits = s.search("양자 기술 협력", k=3, mode="lexical")
        assert hits and hits[0].lang == "ko"
    assert db.read_bytes() == before
    # `polyfind index` with the other analyser rebuilds the table
    index_paths([str(small_corpus)], bigram, embedder=embedder)
    with Searcher(bigram, encoder=embedder) as s:
        assert s.store.get_meta(LEXICAL_META) == analyzer_for("bigram").name
        hits = s.search("양자 기술 협력", k=3, mode="lexical")
        assert hits and hits[0].lang == "ko"
    _, _, chunks, rows = _postings(settings.index_dir)
    assert chunks == rows
    # an unknown version recorded (e.g. by an older polyfind) is searched as it is, with
    # the family's current analyser, then rebuilt with the default by the next writer
    store = Store.open(settings.index_dir)
    store.set_meta(LEXICAL_META, "mixed-0")
    store.close()
    with Searcher(settings, encoder=embedder) as s:
        hits = s.search("양자 기술 협력", k=3, mode="lexical")
        assert hits and hits[0].lang == "ko"
        assert s.store.get_meta(LEXICAL_META) == "mixed-0"
    store = Store.open(settings.index_dir, write=True)
    assert store.get_meta(LEXICAL_META) == analyzer_for("mixed").name
    store.close()


# ------------------------------------------------------------------------------ fusion


def test_fusion_strong_lexical_match_wins_weak_one_does_not_reorder() -> None:
    settings = Settings(index_dir=Path("unused"))
    dense = [(1, 0.90), (2, 0.88), (3, 0.86)] + [(10 + i, 0.80 - i * 0.001) for i in range(97)]
    # chunk 3 holds the whole query (bm25 about the query's idf total): it comes first
    strong = LexicalResult([LexicalHit(3, 20.0)], idf_total=20.0)
    assert fuse(dense, strong, settings)[0][0] == 3
    # chunk 2 shares one rare-ish term (a tenth of the query): dense order is kept
    weak = LexicalResult([LexicalHit(2, 2.0)], idf_total=20.0)
    assert [c for c, _ in fuse(dense, weak, settings)[:3]] == [1, 2, 3]
    # no lexical match: exactly the dense order
    none = LexicalResult([], idf_total=20.0)
    assert [c for c, _ in fuse(dense, none, settings)] == [c for c, _ in dense]
    # a lexical-only candidate beyond the dense list still gets its lexical part
    only = LexicalResult([LexicalHit(999, 20.0)], idf_total=20.0)
    order = [c for c, _ in fuse(dense, only, settings)]
    assert order.index(999) < order.index(2)


def test_search_modes_and_per_language_view(searcher: Searcher) -> None:
    query = "advanced packaging manufacturing program"
    for mode in ("dense", "lexical", "hybrid"):
        hits = searcher.search(query, k=6, mode=mode)
        assert 0 < len(hits) <= 6
        assert [h.rank for h in hits] == list(range(1, len(hits) + 1))
    view = searcher.search(query, per_lang=2)
    langs = [h.lang for h in view]
    assert sorted(langs) == ["en", "en", "ja", "ja", "ko", "ko"]
    assert set(langs[:3]) == {"ko", "ja", "en"}  # every language's best comes first
    only = searcher.search(query, per_lang=3, langs="ko,en")
    assert sorted({h.lang for h in only}) == ["en", "ko"] and len(only) == 6


def test_hybrid_feedback_vector_only_for_confident_matches(searcher: Searcher) -> None:
    # an exact sentence of the Japanese report: feedback applies
    q = "趙泰永国家安保室長"
    v = searcher.feedback_vector(q)
    assert not np.allclose(v, searcher.query_vector(q))
    # words found nowhere in the corpus: plain query vector
    q = "zzqx wibble frobnicate"
    assert np.allclose(searcher.feedback_vector(q), searcher.query_vector(q))


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("NIST", "us_nist_ai-600-1_genai_profile_2024-07.pdf"),
        ("CHIPS", "us_wh_2024-08-09_chips_two_years_fact_sheet.md"),
        ("양자", "002_9946d1ed990a9a11.txt"),
        # the US-Japan cooperation analysis (000) lists Japan's bio products passage by passage,
        # the CES/US policy note (001) has a section on biotechnology: either is a right answer
        ("바이오", "000_e733aa0cb703fbe8.txt|001_7ef68bdc3449b5ba.txt"),
        ("量子", "004_58bd91241ebf471b.txt"),
        ("趙泰永", "004_58bd91241ebf471b.txt"),
    ],
)
def test_short_queries_in_three_languages(searcher: Searcher, query: str, expected: str) -> None:
    hits = searcher.search(query, k=3)
    assert Path(hits[0].source).name in expected.split("|"), [Path(h.source).name for h in hits]
    if query.isalpha():
        assert query.lower() in hits[0].text.lower()


# ------------------------------------------------ the Japanese-Korean bridge (sino.py)


def test_kanji_words_are_read_in_korean() -> None:
    from polyfind.sino import korean_reading

    assert korean_reading("院長の任期と理事・監事の任期") == "원장 임기 이사 감사 임기"
    assert korean_reading("海外直接投資が減少した理由") == "해외직접투자 감소 이유"
    # one character alone is not read (too many homophones); kana are dropped
    assert korean_reading("米国の株が下がった") == "미국"
    # a Korean question's Hanja are glosses of the Korean words beside them
    assert korean_reading("국토교통백서의 슈토(首藤) 교수") == ""
    assert korean_reading("the board of directors") == ""


def test_kanji_with_other_readings_are_read_as_korean_words_use_them() -> None:
    """The hanja table reads 率 as 솔 and 画 as 화; Kiwi chooses, per word, the reading that
    is a Korean word, and keeps the table's where that one is (映画, 率先)."""
    from polyfind.sino import best_reading, korean_reading, read_word

    assert read_word("合格率") == "합격솔" and read_word("計画") == "계화"
    chosen = {
        "合格率": "합격률",
        "比率": "비율",
        "業務計画": "업무계획",
        "省略": "생략",
        "自転車": "자전거",
        "不動産": "부동산",
        "映画": "영화",
        "画像": "화상",
        "率先": "솔선",
        "変更": "변경",
        "回復": "회복",
    }
    assert {w: best_reading(w) for w in chosen} == chosen
    assert korean_reading("業務計画の合格率") == "업무계획 합격률"


def test_combined_lexical_results_keep_each_passages_best_share() -> None:
    from polyfind.lexical import combine

    own = LexicalResult([LexicalHit(1, 4.0), LexicalHit(2, 1.0)], 8.0)  # shares 0.5, 0.125
    bridge = LexicalResult([LexicalHit(3, 3.0), LexicalHit(2, 1.5)], 2.0)  # 1.0 (capped), 0.75
    both = combine([own, bridge], 10)
    assert both.matches(1.0) == [(3, 1.0), (2, 0.75), (1, 0.5)]
    assert combine([own, bridge], 1).matches(1.0) == [(3, 1.0)]
    assert combine([], 5).hits == []


def test_hanja_in_a_korean_line_are_analysed_as_japanese_text_is() -> None:
    """A Korean question's "국지 객관해석(局地客観解析)" matches 局地客観解析 in a Japanese
    passage: both are character bigrams (Sudachi words with the morph analyser)."""
    mixed = analyzer_for("mixed")
    korean = {t for t, _ in mixed.query_terms("국지 객관해석(局地客観解析) 데이터")}
    japanese = set(mixed.terms("局地客観解析データのＸ軸に沿った格子点数"))
    assert {"국지", "객관", "局地", "客観", "解析"} <= korean | japanese
    assert {"局地", "客観", "解析"} <= korean & japanese


def test_kanji_readings_are_the_hanja_packages() -> None:
    """``sino`` reads the hanja package's table itself (its own import parses the table
    with PyYAML, ~0.6 s); every kanji word of the Japanese corpus reports, and every
    character of the table, reads as ``hanja.translate`` reads it."""
    import hanja

    from polyfind.sino import _HAN_WORD, _table, read_word

    table, _ = _table()
    assert len(table) > 20_000
    words: set[str] = set()
    for path in sorted(CORPUS.glob("*.txt")) + sorted(CORPUS.glob("*.md")):
        words.update(_HAN_WORD.findall(path.read_text(encoding="utf-8")))
    assert len(words) > 100
    words.update("".join(sorted(table)[i : i + 3]) for i in range(0, len(table), 3))
    for word in sorted(words):
        assert read_word(word) == hanja.translate(word, "substitution"), word
