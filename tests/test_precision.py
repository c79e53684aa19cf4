"""Embedder precision (fp32, int8, bf16): what it does to the model, the vectors, the index."""

from __future__ import annotations

import copy
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from polyfind import Settings, index_paths
from polyfind.cli import app
from polyfind.embedding import FFN_OUTPUT, Embedder, apply_precision, choose_embedder
from polyfind.settings import resolve
from polyfind.store import Store

sys.path.insert(0, str(Path(__file__).parent))

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
PASSAGES = [
    "양자 기술 분야에서 동맹국과의 협력을 강화한다.",
    "全固体電池の特許をめぐる日米韓の競争が激しくなっている。",
    "The CHIPS Act funds advanced packaging manufacturing in the United States.",
    "미국과 한국은 바이오 경제 연구 협력에 최소 1천만 달러를 투자한다.",
]


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A folder holding one real Korean report."""
    target = tmp_path / "reports"
    target.mkdir()
    shutil.copy(CORPUS / "003_71a9f3b054dab845.txt", target)
    return target


def test_settings_check_precision() -> None:
    with pytest.raises(ValueError, match="precision"):
        Settings(precision="fp16")
    assert resolve(env={"POLYFIND_PRECISION": "int8"}).precision == "int8"
    assert resolve(env={}).precision is None  # the index's own, else the default


@pytest.mark.parametrize("precision", ["int8", "bf16"])
def test_real_model_vectors_stay_close(embedder: Embedder, precision: str) -> None:
    """The default model at reduced precision: same passages, nearly the same vectors."""
    import torch

    model = copy.deepcopy(embedder.model)
    apply_precision(model, precision)
    if precision == "int8":
        left = [n for n, m in model.named_modules() if type(m) is torch.nn.Linear]
        assert left and all(FFN_OUTPUT.search(n) for n in left)  # only the FFN outputs
        assert sum(1 for m in model.modules() if "quantized" in type(m).__module__) > len(left)
    else:
        assert {p.dtype for p in model.parameters()} == {torch.bfloat16}
    reduced = Embedder(model, embedder.identity, precision=precision)
    ref = embedder.embed_passages(PASSAGES, batch_size=4)
    got = reduced.embed_passages(PASSAGES, batch_size=4)
    assert got.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(got, axis=1), 1.0, atol=1e-4)
    cos = np.sum(ref * got, axis=1)
    assert cos.min() > 0.95, cos
    # and the passages' similarities to each other barely move
    assert np.abs(ref @ ref.T - got @ got.T).max() < 0.03


def test_index_records_and_reuses_its_precision(
    tiny_model: Path, tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(index_dir=tmp_path / "index", model=str(tiny_model))
    index_paths([str(folder)], settings.with_(precision="int8"))
    store = Store.open(settings.index_dir)
    try:
        assert store.get_meta("precision") == "int8"
    finally:
        store.close()

    # a later run without --precision embeds at the index's precision
    loaded: list[str] = []
    real_load = Embedder.load

    def spy(s: Settings) -> Embedder:
        emb = real_load(s)
        loaded.append(emb.precision)
        return emb

    shutil.copy(CORPUS / "004_58bd91241ebf471b.txt", folder)
    monkeypatch.setattr(Embedder, "load", staticmethod(spy))
    summary = index_paths([str(folder)], settings)
    assert loaded == ["int8"] and len(summary.added) == 1


def test_cli_precision_option(tiny_model: Path, tmp_path: Path, folder: Path) -> None:
    runner = CliRunner()
    bad = runner.invoke(app, ["index", str(CORPUS), "--precision", "fp16"])
    assert bad.exit_code == 2
    index = tmp_path / "index"
    args = ["index", str(folder), "--index", str(index), "--model", str(tiny_model)]
    ok = runner.invoke(app, [*args, "--precision", "bf16", "--json"])
    assert ok.exit_code == 0, ok.output
    store = Store.open(index)
    try:
        assert store.get_meta("precision") == "bf16"
    finally:
        store.close()


def test_default_precision_follows_the_cpu(
    tiny_model: Path, tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """bf16 only where the CPU multiplies it natively (torch emulates it about ten times
    slower than fp32 elsewhere); a new index records the precision it was embedded at, and
    later runs keep it whatever CPU they run on."""
    from polyfind import settings as settings_module

    real = settings_module.cpu_flags()
    assert real, "/proc/cpuinfo lists the CPU's flags on Linux"
    assert ("avx512_bf16" in real or "amx_bf16" in real) == (
        settings_module.default_precision() == "bf16"
    )
    for flags, expected in [
        ({"amx_bf16", "amx_tile"}, "bf16"),
        ({"avx512f", "avx512_vnni"}, "fp32"),  # AVX-512 without BF16: emulated
        (set(), "fp32"),  # no /proc/cpuinfo (not Linux)
    ]:
        monkeypatch.setattr(settings_module, "cpu_flags", lambda f=flags: frozenset(f))
        assert settings_module.default_precision() == expected
    # a new index records the precision it was embedded at
    for flags, expected in [
        ({"avx2", "avx512f", "avx512_bf16"}, "bf16"),
        ({"avx2", "fma"}, "fp32"),
    ]:
        monkeypatch.setattr(settings_module, "cpu_flags", lambda f=flags: frozenset(f))
        assert settings_module.default_precision() == expected
        index = tmp_path / f"index-{expected}-{len(flags)}"
        index_paths([str(folder)], Settings(index_dir=index, model=str(tiny_model)))
        store = Store.open(index)
        try:
            assert store.get_meta("precision") == expected
        finally:
            store.close()
    # an index keeps its precision on another CPU
    monkeypatch.setattr(settings_module, "cpu_flags", lambda: frozenset({"avx2"}))
    # OpenVINO's bf16 is a hint it computes in fp32 on such a CPU, from half the weights
    assert settings_module.default_precision("openvino") == "bf16"
    assert choose_embedder(Settings(model=str(tiny_model))) == ("fp32", "torch")
    assert choose_embedder(Settings(engine="torch")) == ("fp32", "torch")
    assert choose_embedder(Settings(precision="int8")) == ("int8", "torch")
    assert choose_embedder(Settings(), "bf16", "torch") == ("bf16", "torch")  # the index's
    shutil.copy(CORPUS / "004_58bd91241ebf471b.txt", folder)
    bf16_index = tmp_path / "index-bf16-3"
    summary = index_paths([str(folder)], Settings(index_dir=bf16_index, model=str(tiny_model)))
    assert len(summary.added) == 1
    store = Store.open(bf16_index)
    try:
        assert store.get_meta("precision") == "bf16"
    finally:
        store.close()


def test_idle_reindex_opens_neither_model_nor_vectors(
    tiny_model: Path, tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from polyfind.vectors import VectorIndex, index_file

    settings = Settings(index_dir=tmp_path / "index", model=str(tiny_model))
    index_paths([str(folder)], settings)

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("opened although there was nothing to do")

    with monkeypatch.context() as mp:
        mp.setattr(VectorIndex, "open", classmethod(refuse))
        mp.setattr(Embedder, "load", staticmethod(refuse))
        summary = index_paths([str(folder)], settings)
    assert summary.unchanged and not summary.added
    # a missing FAISS file is still put back by a run with nothing else to do
    store = Store.open(settings.index_dir)
    try:
        path = index_file(settings.index_dir, store.generation)
    finally:
        store.close()
    path.unlink()
    index_paths([str(folder)], settings)
    assert path.exists()
