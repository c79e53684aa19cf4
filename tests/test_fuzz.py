"""Hostile input: generated files never crash the loaders or the chunker.

Each case is either loaded into a Document or refused with a LoadError (a one-line reason);
nothing else may escape. Fixed seeds keep the cases reproducible; the count is printed so the
run records how many were tried. (The indexer's time limit per file is tested with a file that
never finishes in test_hostile_pdfs.py; speeds are for benchmarks.)
"""

from __future__ import annotations

import random
import threading
from itertools import pairwise
from pathlib import Path

import pytest

from polyfind.chunking import chunk_text, fold_for_embedding, split_sentences
from polyfind.errors import LoadError
from polyfind.language import detect_language
from polyfind.loading import load

SEED = 20261122
CASES = 150

_POOLS = [
    "\u0000\u0001\u0007\u001b\u007f\u0085\u2028\u2029\ufeff\ufffe\uffff",  # controls, separators
    "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f",  # bidi controls
    "😀🇰🇷🇯🇵👩‍👩‍👧‍👦🧬⚛️",  # emoji, ZWJ sequences, flags
    "가나다라마바사ㅇ□■※한국어문장입니다.",
    "日本語の文章です。全角！？「」『』漢字かなカナ",
    "English text. Mr. Smith went to Washington, D.C. e.g. 3.5 vs. 4.",
    "\ud7a3\u3131\u1100\u1161\u11a8",  # composed and conjoining jamo
    "\n\r\t  \u00a0\u3000",
]


def _random_text(rng: random.Random, n: int) -> str:
    pools = rng.sample(_POOLS, k=rng.randint(1, len(_POOLS)))
    chars = "".join(pools)
    out = [rng.choice(chars) for _ in range(n)]
    if rng.random() < 0.3:  # some raw code points from anywhere, surrogates excluded
        for _ in range(n // 10 + 1):
            cp = rng.randint(1, 0x10FFFF)
            if not 0xD800 <= cp <= 0xDFFF:
                out.insert(rng.randrange(len(out) + 1), chr(cp))
    return "".join(out)


def _cases(rng: random.Random) -> list[tuple[str, bytes]]:
    cases: list[tuple[str, bytes]] = [
        ("empty.txt", b""),
        ("empty.pdf", b""),
        ("nul.txt", b"\x00" * 4096),
        ("one-mb-line.txt", ("가나다 abc 日本 " * 70_000).encode("utf-8")[:1_048_576]),
        ("pdf-header-only.pdf", b"%PDF-1.7\n"),
        ("truncated.pdf", b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"),
        ("binary.pdf", bytes(rng.getrandbits(8) for _ in range(50_000))),
        ("zip-as.docx", b"PK\x03\x04" + bytes(rng.getrandbits(8) for _ in range(2000))),
        ("deep.html", b"<div>" * 20_000 + b"text" + b"</div>" * 20_000),
    ]
    for i in range(CASES - len(cases)):
        kind = rng.choice(["txt", "md", "txt-bytes", "pdf-bytes", "html"])
        if kind == "txt-bytes":
            cases.append(
                (f"c{i}.txt", bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 5000))))
            )
        elif kind == "pdf-bytes":
            body = bytes(rng.getrandbits(8) for _ in range(rng.randint(1, 5000)))
            cases.append((f"c{i}.pdf", b"%PDF-1.5\n" + body))
        else:
            text = _random_text(rng, rng.randint(0, 4000))
            encoding = rng.choice(["utf-8", "utf-16", "utf-8-sig"])
            suffix = "html" if kind == "html" else kind
            cases.append((f"c{i}.{suffix}", text.encode(encoding, errors="surrogatepass")))
    return cases


def test_generated_files_load_or_fail_cleanly(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    loaded = refused = 0
    for name, data in _cases(rng):
        path = tmp_path / name
        path.write_bytes(data)
        try:
            doc = load(path, name)
        except LoadError as exc:
            assert str(exc).startswith(name), exc
            assert "\n" not in str(exc)
            refused += 1
        else:
            loaded += 1
            for page in doc.pages:  # the generator puts NUL and noncharacters in: cleaned out
                assert "\x00" not in page.text and "\ufffe" not in page.text, name
        path.unlink()
    print(f"\nfuzz: {loaded + refused} files, {loaded} loaded, {refused} refused with a reason")
    assert loaded and refused


def _tokens(texts) -> list[int]:
    return [len(t.split()) + len(t) // 4 for t in texts]  # the chunker only needs a counter


@pytest.mark.parametrize("seed", range(40))
def test_chunker_and_language_survive_random_text(seed: int) -> None:
    rng = random.Random(SEED + seed)
    text = _random_text(rng, rng.randint(0, 20_000))
    for s, e in split_sentences(text):
        assert 0 <= s <= e <= len(text)
    spans = chunk_text(text, count_tokens=_tokens, max_tokens=128, overlap=16, lang_default="und")
    for sp in spans:
        assert 0 <= sp.start < sp.end <= len(text)
        fold_for_embedding(text[sp.start : sp.end])
    detect_language(text)


def test_one_megabyte_line_is_chunked() -> None:
    """A line with no place to cut is cut anywhere, in pieces within the budget. It takes
    about a second; the 300 s limit only keeps a quadratic regression from hanging the suite."""
    text = "x" * 1_048_576
    spans: list = []
    worker = threading.Thread(
        target=lambda: spans.extend(
            chunk_text(text, count_tokens=_tokens, max_tokens=200, overlap=40, lang_default="en")
        ),
        daemon=True,
    )
    worker.start()
    worker.join(timeout=300)
    assert not worker.is_alive(), "chunking a 1 MB line did not end (a hang?)"
    assert spans and spans[0].start == 0 and spans[-1].end == len(text)
    assert all(sp.n_tokens <= 200 * 1.15 for sp in spans)
    assert all(b.start <= a.end for a, b in pairwise(spans))  # no gap
