"""Embedder engines (torch, openvino): choice, the index's record, the OpenVINO vectors."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from polyfind import Searcher, Settings, index_paths
from polyfind.cli import app
from polyfind.embedding import (
    Embedder,
    OpenVINOEmbedder,
    choose_embedder,
    choose_engine,
    engine_runs,
)
from polyfind.errors import ModelUnavailableError
from polyfind.openvino_engine import (
    MODEL_FILES,
    OpenVINOModel,
    converted_path,
    ensure_converted,
    model_file,
)
from polyfind.settings import DEFAULT_ENGINE, DEFAULT_MODEL, default_precision, resolve
from polyfind.store import Store

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PASSAGES = [
    "양자 기술 분야에서 동맹국과의 협력을 강화한다.",
    "全固体電池の特許をめぐる日米韓の競争が激しくなっている。",
    "The CHIPS Act funds advanced packaging manufacturing in the United States. " * 40,
    "미국과 한국은 바이오 경제 연구 협력에 최소 1천만 달러를 투자한다.",
    "x",
]


def test_settings_check_engine() -> None:
    with pytest.raises(ValueError, match="engine"):
        Settings(engine="onnx")
    assert resolve(env={"POLYFIND_ENGINE": "torch"}).engine == "torch"
    assert resolve(env={}).engine is None  # the index's own where it runs, else the default


def test_choose_engine(monkeypatch: pytest.MonkeyPatch) -> None:
    import polyfind.openvino_engine as ove

    monkeypatch.setattr(ove, "openvino_available", lambda: True)
    assert DEFAULT_ENGINE == "openvino"
    assert choose_engine(None, None, None, "bf16") == "openvino"
    assert choose_engine(None, None, DEFAULT_MODEL, "fp32") == "openvino"
    assert choose_engine("torch", "openvino", None, "bf16") == "torch"  # asked for wins
    assert choose_engine(None, "torch", None, "bf16") == "torch"  # the index's own
    # openvino runs the default model at fp32 or bf16 only: else torch, whatever was recorded
    assert choose_engine(None, "openvino", None, "int8") == "torch"
    assert choose_engine(None, None, "/some/other/model", "bf16") == "torch"
    assert not engine_runs("openvino", "/some/other/model", "bf16")
    # no precision named: the engine's default (OpenVINO's bf16 hint runs on any CPU)
    assert choose_embedder(Settings()) == ("bf16", "openvino")
    assert choose_embedder(Settings(), None, "torch") == (default_precision("torch"), "torch")
    monkeypatch.setattr(ove, "openvino_available", lambda: False)
    assert choose_engine(None, None, None, "bf16") == "torch"
    assert choose_embedder(Settings()) == (default_precision("torch"), "torch")
    assert choose_engine(None, "openvino", None, "bf16") == "torch"
    with pytest.raises(ValueError, match="engine"):
        choose_engine("onnx", None, None, "bf16")


def test_openvino_missing_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "openvino", None)  # import openvino raises ImportError
    with pytest.raises(ModelUnavailableError, match="pip install openvino"):
        OpenVINOModel(Path("model.xml"), "bf16")


def test_openvino_refuses_other_models_and_int8(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError, match="default model only"):
        Embedder.load(Settings(model=str(tmp_path), engine="openvino"))
    with pytest.raises(ModelUnavailableError, match="int8"):
        Embedder.load(Settings(precision="int8", engine="openvino"))


def test_cli_engine_option() -> None:
    bad = CliRunner().invoke(app, ["index", str(CORPUS), "--engine", "onnx"])
    assert bad.exit_code == 2


# -------------------------------------------------------------------------- the real model
@pytest.fixture(scope="module")
def openvino_embedder() -> OpenVINOEmbedder:
    emb = Embedder.load(Settings(precision="bf16", engine="openvino"))
    assert isinstance(emb, OpenVINOEmbedder)
    return emb


@pytest.mark.slow
def test_openvino_vectors_match_torch(embedder: Embedder, openvino_embedder: Embedder) -> None:
    """Same tokens, same vectors as the torch fp32 model (cosine >= 0.9999 at bf16)."""
    ov = openvino_embedder
    assert (ov.engine, ov.precision, ov.identity) == ("openvino", "bf16", embedder.identity)
    assert (ov.dim, ov.max_tokens) == (embedder.dim, embedder.max_tokens)
    assert ov.passage_overhead == embedder.passage_overhead
    assert (ov.query_prompt, ov.passage_prompt) == (embedder.query_prompt, embedder.passage_prompt)
    assert ov.count_tokens(PASSAGES) == embedder.count_tokens(PASSAGES)
    enc = embedder.model.tokenizer(
        [ov.passage_prompt + p for p in PASSAGES],
        padding=True,
        truncation=True,
        max_length=embedder.max_tokens,
        return_tensors="np",
    )
    ids, mask = ov._batch_ids(PASSAGES, ov.passage_prompt)  # type: ignore[attr-defined]
    np.testing.assert_array_equal(ids, enc["input_ids"])
    np.testing.assert_array_equal(mask, enc["attention_mask"])

    ref = embedder.embed_passages(PASSAGES, batch_size=4)
    for batch in (1, 2, 16):  # one text a request, several requests at once, one request
        got = ov.embed_passages(PASSAGES, batch_size=batch)
        assert got.dtype == np.float32 and got.shape == ref.shape
        np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-5)
        assert np.sum(ref * got, axis=1).min() > 0.9999
    seen: list[int] = []
    ov.embed_passages(PASSAGES * 10, batch_size=16, progress=seen.append)
    assert sum(seen) == len(PASSAGES) * 10
    assert ov.embed_passages([], batch_size=16).shape == (0, ov.dim)
    q = "반도체 공급망 협력"
    assert float(ov.embed_query(q) @ embedder.embed_query(q)) > 0.9999


@pytest.mark.slow
def test_conversion_is_cached(openvino_embedder: OpenVINOEmbedder) -> None:
    xml = converted_path(openvino_embedder.folder) / "model.xml"
    before = xml.stat().st_mtime_ns
    assert ensure_converted(openvino_embedder.folder) == xml
    assert xml.stat().st_mtime_ns == before  # not converted again


@pytest.mark.slow
def test_bf16_runs_from_fp16_weights(openvino_embedder: OpenVINOEmbedder, tmp_path: Path) -> None:
    """bf16 compiles the fp16-weight file (half the mapped memory); a folder converted before
    that file existed gets it made from the fp32 one, complete or not at all."""
    folder = converted_path(openvino_embedder.folder)
    assert MODEL_FILES == {"fp32": "model.xml", "bf16": "model-f16.xml"}
    f16 = model_file(folder, "bf16")
    assert f16 == folder / "model-f16.xml" and f16.with_suffix(".bin").is_file()
    fp32_bin = (folder / "model.xml").with_suffix(".bin").stat().st_size
    assert f16.with_suffix(".bin").stat().st_size < 0.6 * fp32_bin
    old = tmp_path / "converted-before"
    old.mkdir()
    for name in ("model.xml", "model.bin"):
        (old / name).symlink_to(folder / name)
    made = model_file(old, "bf16")
    assert sorted(p.name for p in old.iterdir()) == [
        "model-f16.bin",
        "model-f16.xml",
        "model.bin",
        "model.xml",
    ]
    ids, mask = openvino_embedder._batch_ids(PASSAGES, "passage: ")  # type: ignore[attr-defined]
    vecs = [OpenVINOModel(xml, "bf16").infer_one(ids, mask) for xml in (made, folder / "model.xml")]
    a, b = (v / np.linalg.norm(v, axis=1, keepdims=True) for v in vecs)
    assert np.sum(a * b, axis=1).min() > 0.9999


@pytest.mark.slow
def test_index_records_its_engine(openvino_embedder: OpenVINOEmbedder, tmp_path: Path) -> None:
    """A new index records openvino; one built by torch (or before engines were recorded)
    keeps working, and is searched and updated with compatible vectors."""
    folder = tmp_path / "reports"
    folder.mkdir()
    shutil.copy(CORPUS / "003_71a9f3b054dab845.txt", folder)
    settings = Settings(index_dir=tmp_path / "index")
    index_paths([str(folder)], settings)

    def meta() -> tuple[str | None, str | None]:
        store = Store.open(settings.index_dir)
        try:
            return store.get_meta("precision"), store.get_meta("engine")
        finally:
            store.close()

    assert meta() == ("bf16", "openvino")

    # an index from before engines were recorded (torch): searched as it is
    torch_index = Settings(index_dir=tmp_path / "torch")
    index_paths([str(folder)], torch_index.with_(engine="torch"))
    store = Store.open(torch_index.index_dir, write=True)
    try:
        assert store.get_meta("engine") == "torch"
        with store.transaction():
            store.conn.execute("DELETE FROM meta WHERE key = 'engine'")
    finally:
        store.close()
    query = "양자 기술 동맹국 협력"
    with Searcher(torch_index) as old, Searcher(settings) as new:
        a = [r.chunk_id for r in old.search(query, k=5, mode="dense")]
        b = [r.chunk_id for r in new.search(query, k=5, mode="dense")]
    assert a and len(a) == len(b)

    # updated: new passages with the default engine, recorded from now on
    shutil.copy(CORPUS / "004_58bd91241ebf471b.txt", folder)
    summary = index_paths([str(folder)], torch_index)
    assert len(summary.added) == 1
    store = Store.open(torch_index.index_dir)
    try:
        assert store.get_meta("engine") == "openvino"
    finally:
        store.close()
