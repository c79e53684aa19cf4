"""Plain text in the encodings Korean and Japanese reports come in, from the corpus files."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from polyfind.errors import LoadError
from polyfind.loaders.text import decode_text
from polyfind.loading import load

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
KOREAN = CORPUS / "000_e733aa0cb703fbe8.txt"
JAPANESE = CORPUS / "004_58bd91241ebf471b.txt"
ENGLISH = CORPUS / "us_wh_2024-08-09_chips_two_years_fact_sheet.md"


def _encodable(text: str, encoding: str) -> str:
    """``text`` without the few characters ``encoding`` has no code for."""
    return "".join(ch for ch in text if ch.encode(encoding, errors="ignore") or ch == "")


def _write(tmp_path: Path, name: str, text: str, encoding: str, bom: bytes = b"") -> Path:
    f = tmp_path / name
    f.write_bytes(bom + text.encode(encoding))
    return f


CASES = [
    (KOREAN, "cp949", "cp949"),
    (KOREAN, "euc_kr", "cp949"),
    (JAPANESE, "shift_jis", "cp932"),
    (JAPANESE, "cp932", "cp932"),
    (JAPANESE, "euc_jp", "euc_jp"),
]


@pytest.mark.parametrize(("source", "encoding", "detected"), CASES)
def test_legacy_encodings_are_detected(
    tmp_path: Path, source: Path, encoding: str, detected: str
) -> None:
    original = _encodable(source.read_text(encoding="utf-8"), encoding)
    f = _write(tmp_path, f"{encoding}.txt", original, encoding)
    text, name = decode_text(f.read_bytes(), f.name)
    assert name == detected
    assert text == original
    reference = _write(tmp_path, "utf8.txt", original, "utf-8")
    assert load(f, f.name).pages == load(reference, reference.name).pages


@pytest.mark.parametrize("source", [KOREAN, JAPANESE])
@pytest.mark.parametrize(
    ("encoding", "bom"),
    [
        ("utf-16-le", codecs.BOM_UTF16_LE),
        ("utf-16-be", codecs.BOM_UTF16_BE),
        ("utf-8", codecs.BOM_UTF8),
        ("utf-32-le", codecs.BOM_UTF32_LE),
    ],
)
def test_unicode_with_a_byte_order_mark(
    tmp_path: Path, source: Path, encoding: str, bom: bytes
) -> None:
    original = source.read_text(encoding="utf-8")
    f = _write(tmp_path, "bom.txt", original, encoding, bom)
    assert decode_text(f.read_bytes(), f.name)[0] == original


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
def test_utf16_without_a_byte_order_mark(tmp_path: Path, encoding: str) -> None:
    original = ENGLISH.read_text(encoding="utf-8")
    f = _write(tmp_path, "nobom.md", original, encoding)
    assert decode_text(f.read_bytes(), f.name) == (original, encoding)


@pytest.mark.parametrize(
    ("sentence", "encoding", "detected"),
    [
        ("양자 기술 협력을 강화한다.", "euc_kr", "cp949"),
        ("日米の研究協力を進める。", "shift_jis", "cp932"),
        ("日米の研究協力を進める。", "euc_jp", "euc_jp"),
        ("半導体とＡＩの新興技術", "cp932", "cp932"),
    ],
)
def test_short_texts_are_told_apart(sentence: str, encoding: str, detected: str) -> None:
    """Legacy encodings overlap: a short line decodes in several; the likely one wins."""
    assert decode_text(sentence.encode(encoding), "x.txt") == (sentence, detected)


def test_the_locale_plays_no_part(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LANG", "ko_KR.EUC-KR")
    monkeypatch.setenv("LC_ALL", "ko_KR.EUC-KR")
    original = JAPANESE.read_text(encoding="utf-8")
    f = _write(tmp_path, "ja.txt", original, "utf-8")
    assert "\n国・地域名:\n米国\n" in load(f, f.name).pages[0].text


def test_undecodable_bytes_say_what_was_tried(tmp_path: Path) -> None:
    f = tmp_path / "latin1.txt"
    f.write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    with pytest.raises(LoadError, match=r"not UTF-8 .*CP949/EUC-KR, Shift_JIS or EUC-JP; convert"):
        load(f, "latin1.txt")


def test_binary_data_is_refused(tmp_path: Path) -> None:
    f = tmp_path / "blob.txt"
    f.write_bytes(bytes(range(256)) * 4)
    with pytest.raises(LoadError, match="binary data"):
        load(f, "blob.txt")
