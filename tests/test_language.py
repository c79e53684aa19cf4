"""Language identification: scripts first, langdetect only for Latin-script languages."""

from __future__ import annotations

from pathlib import Path

import pytest

from polyfind.language import detect_document_language, detect_language

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

# Korean report bullets, verbatim from corpus/000_e733aa0cb703fbe8.txt.
KOREAN_BULLETS = [
    "- 주제분류 과학기술국제화",
    "- 발간일 2023-12-22",
    "□ 미국과 중국은 1979년 국교 정상화를 계기로 「과학기술 협정」을 체결하여 과학기술 협력을 "
    "추진하여 왔으나 2023년 8월 미국연방의회가 협정의 파기를 요구하는 등 파행을 겪고 있음",
    "* 2020년 기준 미국의 국제공동연구 중 대상국 비중을 보면 중국 26%, 영국 13%, 일본 5%, "
    "인도 3%임",
    "ㅇ 2023년 6월 내각부는 「통합이노베이션전략 2023」에서 민관협력으로 추진해야 할 첨단 "
    "과학기술분야로서 △AI기술 △바이오테크놀로지 △양자기술 △소재 △핵융합에너지 △건강・의료 "
    "△우주 △해양 △식량・농림수산업 등 9개 분야를 특정",
]

# Korean with English acronyms and names (000, 002).
KOREAN_WITH_LATIN = [
    "ㅇ 미국 내에서 중국과의 과학기술 협정 파기에 대한 요구가 거세지고 있는 것은 최근 "
    "인공지능(AI)이나 바이오테크놀로지, 양자기술 등 소위 이중용도(dual-use)기술이 중국의 군사 "
    "개발에 전용되고 있다는 우려가 확산되고 있기 때문임",
    "* 한국은 국가전략기술, 미국은 핵심・신흥기술(CETs: Critical & Emerging Technologies), "
    "일본은 특정중요기술(特定重要技術)로 지칭",
    "* (CHIPS Program Office) 390억 달러 규모 인센티브 프로그램 관리 ▲(CHIPS R&D office) "
    "110억 달러",
    "NAPMP의 비전",
    "CES의 개요",
]

# Japanese from corpus/004_58bd91241ebf471b.txt, including English names.
JAPANESE = [
    "(2023年12月8日付、大統領府の標記発表の概要は以下のとおり)",
    "パシフィック・ノースウェスト国立研究所と韓国の浦項産業科学研究院(Research Institute of "
    "Industrial Science and Technology)は、エネルギー貯蔵に関する共同研究を行う。",
    "米国量子経済開発コンソーシアム(Quantum Economic Development Consortium)と韓国量子産業協会"
    "(Korea Quantum Industry Association)との協力を含め、多国間の場における政府および産業界の"
    "協力を強化する。",
    "NISTと韓国技術標準院(KATS)との間で技術標準に関するMOUを締結する。",
    "元記事の言語:",
]

# Kanji-heavy Japanese with little or no kana (langdetect alone calls these zh or ko).
KANJI_HEAVY = [
    "第1回米韓次世代重要・新興技術対話の開催",
    "■量子科学技術",
    "■人工知能と標準化",
    "国・地域名:",
    "大統領府",
    "抄訳記事公開日:",
    "経済安全保障推進法",
    "経済的繁栄",  # 的 alone is not a Chinese marker
    "半導体",
]

# English from the fact sheets (.md).
ENGLISH = [
    "Today, U.S. National Security Advisor Jake Sullivan and the Republic of Korea (ROK) "
    "National Security Advisor Cho Tae-yong chaired the inaugural U.S.-ROK Next Generation "
    "Critical and Emerging Technologies (CET) Dialogue in Seoul.",
    "**Semiconductor Supply Chains and Technology:**",
    "JOINT FACT SHEET: Launching the U.S.-ROK Next Generation Critical and Emerging "
    "Technologies Dialogue",
]


@pytest.mark.parametrize("text", KOREAN_BULLETS + KOREAN_WITH_LATIN)
@pytest.mark.parametrize("default", [None, "ko", "en", "ja"])
def test_korean(text: str, default: str | None) -> None:
    assert detect_language(text, default=default) == "ko"


@pytest.mark.parametrize("text", JAPANESE)
@pytest.mark.parametrize("default", [None, "ja", "en", "ko"])
def test_japanese(text: str, default: str | None) -> None:
    assert detect_language(text, default=default) == "ja"


@pytest.mark.parametrize("text", KANJI_HEAVY)
def test_kanji_heavy_japanese(text: str) -> None:
    assert detect_language(text) == "ja"
    assert detect_language(text, default="ja") == "ja"
    assert detect_language(text, default="en") == "ja"  # English gives Han no reading
    assert detect_language(text, default="und") == "ja"


def test_han_only_follows_the_document_language() -> None:
    assert detect_language("特定重要技術", default="ko") == "ko"  # hanja in a Korean report
    assert detect_language("半導体", default="zh") == "zh"
    # Kana settles it whatever the document says.
    assert detect_language("第1回米韓次世代重要・新興技術対話の開催", default="ko") == "ja"


@pytest.mark.parametrize(
    "text",
    [
        "这是我们的技术",
        "半导体",
        "上海市促进商业航天发展打造空间信息产业高地行动计划",
        # A Chinese reference inside a Korean report (002): mostly Chinese.
        "(참고 : 上海市人民政府, 上海市促进商业航天发展打造空间信息产业高地行动计划（2023—2025年）"
        "2023.11.20.)",
    ],
)
def test_clearly_chinese(text: str) -> None:
    assert detect_language(text) == "zh"
    assert detect_language(text, default="ja") == "zh"


@pytest.mark.parametrize("text", ENGLISH)
@pytest.mark.parametrize("default", [None, "en", "ja", "ko"])
def test_english(text: str, default: str | None) -> None:
    assert detect_language(text, default=default) == "en"


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("NIST", "en"),
        ("AI", "en"),
        ("battery recycling", "en"),
        ("quantum computer", "en"),
        ("export controls", "en"),
        ("양자 컴퓨터", "ko"),
        ("양자", "ko"),
        ("전기차 배터리 재활용", "ko"),
        ("半導体", "ja"),
        ("量子コンピュータ", "ja"),
        ("半导体", "zh"),
    ],
)
def test_short_queries(query: str, expected: str) -> None:
    assert detect_language(query) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("La politique scientifique de la France vise l'excellence de la recherche.", "fr"),
        ("Künstliche Intelligenz für Deutschland", "de"),
        ("Das Bundesministerium (BMBF) hat den Aktionsplan Robotikforschung vorgestellt", "de"),
        ("El gobierno anunció una nueva estrategia nacional de inteligencia artificial.", "es"),
    ],
)
def test_other_latin_languages(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_short_latin_text_follows_a_latin_document() -> None:
    assert detect_language("Robotikforschung", default="de") == "de"
    assert detect_language("Robotikforschung", default="ko") == "en"


@pytest.mark.parametrize("text", ["", "   \n\u00a0", "2023-12-22", "1,000 %", "❚ 2", "—"])
def test_no_letters(text: str) -> None:
    assert detect_language(text) == "und"
    # figures take the language of their document; text with no digit either stays "und"
    expected = "ko" if any(c.isdigit() for c in text) else "und"
    assert detect_language(text, default="ko") == expected


def test_deterministic() -> None:
    texts = KOREAN_BULLETS + JAPANESE + KANJI_HEAVY + ENGLISH
    texts += ["Künstliche Intelligenz für Deutschland", "NIST", "quantum computer"]
    first = [detect_language(t) for t in texts]
    for _ in range(3):
        assert [detect_language(t) for t in texts] == first
    german = "Die Bundesregierung fördert die Robotikforschung mit einem Aktionsplan."
    assert {detect_language(german) for _ in range(10)} == {"de"}


def _expected_document_language(path: Path) -> str:
    if path.name.startswith("004_"):
        return "ja"
    if path.name[:3] in {"000", "001", "002", "003"}:
        return "ko"
    return "en"


CORPUS_FILES = sorted(p for p in CORPUS.glob("*") if p.suffix in {".txt", ".md"})


@pytest.mark.parametrize("path", CORPUS_FILES, ids=lambda p: p.name)
def test_document_language_of_the_corpus(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    expected = _expected_document_language(path)
    assert detect_document_language([text]) == expected
    # The same when given page by page (blank-line separated paragraphs here).
    assert detect_document_language(text.split("\n\n")) == expected


def test_document_language_is_the_weighted_majority() -> None:
    ja = (CORPUS / "004_58bd91241ebf471b.txt").read_text(encoding="utf-8")
    en_title = "JOINT FACT SHEET: Launching the U.S.-ROK Next Generation Dialogue"
    assert detect_document_language([en_title, ja]) == "ja"
    assert detect_document_language([en_title] * 3 + ["半導体"]) == "en"
    assert detect_document_language(["第1回米韓次世代重要・新興技術対話", "半導体"]) == "ja"


def test_document_language_without_letters() -> None:
    assert detect_document_language([]) == "und"
    assert detect_document_language(["", "12 34", "\u00a0"]) == "und"


def test_a_50_kb_document_is_identified_whole() -> None:
    """A long document is identified like a short one (how fast is a benchmark's question,
    not a test's)."""
    text = (CORPUS / "002_9946d1ed990a9a11.txt").read_text(encoding="utf-8")
    text = (text * 2)[: 50 * 1024]
    assert detect_document_language([text]) == "ko"
    assert detect_language(text) == "ko"
    english = (CORPUS / "us_wh_2024-04-10_japan_official_visit_fact_sheet.md").read_text(
        encoding="utf-8"
    )[: 50 * 1024]
    assert len(english) == 50 * 1024
    assert detect_document_language([english]) == "en"


@pytest.mark.parametrize(
    ("text", "default"),
    [
        ("総投資 | 182.6 | 161.1 | 150.6 | 165.8", "ja"),
        ("kWh | MW | 2020 | 2021 | 2022 | 12.5 | 13.4", "ja"),
        ("GDP CPI 2.1 3.4 5.6 7.8", "ko"),
    ],
)
def test_number_table_rows_take_the_document_language(text: str, default: str) -> None:
    assert detect_language(text, default=default) == default


def test_a_few_latin_abbreviations_in_a_japanese_document_are_not_norwegian() -> None:
    assert detect_language("Mt CO2eq NDC GX ETS", default="ja") in ("ja", "en")
    assert detect_language("t-CO2 kWh MW GW", default="ko") in ("ko", "en")
