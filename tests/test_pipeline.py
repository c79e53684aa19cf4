"""Incremental indexing, bad files, model refusal: real files, real model."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from polyfind import Searcher, Settings, index_paths
from polyfind.errors import IndexBusyError, ModelMismatchError
from polyfind.pipeline import write_lock
from polyfind.store import Store

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
sys.path.insert(0, str(Path(__file__).parent))
from reports import SMALL  # noqa: E402


def _settings(tmp_path: Path) -> Settings:
    return Settings(index_dir=tmp_path / "index")


def test_incremental_modify_delete_add(small_corpus: Path, tmp_path: Path, embedder) -> None:
    settings = _settings(tmp_path)
    first = index_paths([str(small_corpus)], settings, embedder=embedder)
    assert sorted(Path(s).name for s in first.added) == sorted(SMALL)
    assert first.chunks_added == first.chunks_total > 0

    again = index_paths([str(small_corpus)], settings, embedder=embedder)
    assert again.added == again.updated == again.removed == []
    assert len(again.unchanged) == 3
    assert again.chunks_added == 0
    assert again.chunks_total == first.chunks_total

    # a reader kept open (as `serve` keeps one) sees each committed change of languages
    reader = Store.open(settings.index_dir)
    assert set(reader.languages()) == {"ko", "ja", "en"}

    # modify one file, delete one, add one
    battery = small_corpus / SMALL[2]
    battery.write_text(
        battery.read_text(encoding="utf-8")
        + "\nThe zebra-striped flywheel programme stores energy in spinning carbon rotors.\n",
        encoding="utf-8",
    )
    (small_corpus / SMALL[0]).unlink()
    shutil.copy(CORPUS / "us_wh_2024-08-09_chips_two_years_fact_sheet.md", small_corpus)
    third = index_paths([str(small_corpus)], settings, embedder=embedder)
    assert [Path(s).name for s in third.updated] == [SMALL[2]]
    assert [Path(s).name for s in third.removed] == [SMALL[0]]
    assert [Path(s).name for s in third.added] == ["us_wh_2024-08-09_chips_two_years_fact_sheet.md"]
    assert [Path(s).name for s in third.unchanged] == [SMALL[1]]
    assert set(reader.languages()) == {"ja", "en"}  # the only Korean report is gone
    reader.close()

    with Searcher(settings, encoder=embedder) as s:
        hits = s.search("flywheel with spinning carbon rotors", k=3)
        assert Path(hits[0].source).name == SMALL[2]
        assert "zebra-striped flywheel" in hits[0].text
        names = {Path(h.source).name for h in s.search("全固体電池 特許", k=50)}
        assert SMALL[0] not in names
        # no duplicates, no orphans: every vector has its chunk and vice versa
        assert s.vectors.ntotal == s.store.chunk_count() == third.chunks_total


def test_unchanged_content_with_new_mtime_is_not_reembedded(
    small_corpus: Path, tmp_path: Path, embedder
) -> None:
    settings = _settings(tmp_path)
    index_paths([str(small_corpus)], settings, embedder=embedder)
    f = small_corpus / SMALL[1]
    f.write_bytes(f.read_bytes())  # same bytes, new modification time
    summary = index_paths([str(small_corpus)], settings, embedder=embedder)
    assert summary.updated == [] and summary.chunks_added == 0


def test_bad_files_are_skipped_with_reasons_and_the_rest_indexed(
    small_corpus: Path, tmp_path: Path, embedder
) -> None:
    (small_corpus / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
    (small_corpus / "latin1.txt").write_bytes("caf\xe9 cr\xe8me".encode("latin-1"))
    (small_corpus / "empty.md").write_text("   \n", encoding="utf-8")
    (small_corpus / "table.xlsx").write_bytes(b"PK\x03\x04")
    summary = index_paths([str(small_corpus)], _settings(tmp_path), embedder=embedder)
    reasons = {Path(s).name: r for s, r in summary.skipped}
    assert sorted(Path(s).name for s in summary.added) == sorted(SMALL)
    assert "damaged" in reasons["broken.pdf"]
    assert "UTF-8" in reasons["latin1.txt"]
    assert "no extractable text" in reasons["empty.md"]
    assert "unsupported" in reasons["table.xlsx"]


def test_missing_path_is_reported_not_fatal(small_corpus: Path, tmp_path: Path, embedder) -> None:
    summary = index_paths(
        [str(small_corpus), str(tmp_path / "nope")], _settings(tmp_path), embedder=embedder
    )
    assert len(summary.added) == 3
    assert summary.skipped == [(str(tmp_path / "nope"), "no such file or folder")]


def test_model_mismatch_is_refused(small_corpus: Path, tmp_path: Path, embedder) -> None:
    settings = _settings(tmp_path)
    index_paths([str(small_corpus)], settings, embedder=embedder)
    other = settings.with_(model="sentence-transformers/paraphrase-multilingual-MiniLM-L12-v2")
    with pytest.raises(ModelMismatchError, match="--rebuild"):
        index_paths([str(small_corpus)], other, embedder=embedder)
    with pytest.raises(ModelMismatchError, match="--rebuild"):
        Searcher(other)


def test_second_writer_is_refused(tmp_path: Path) -> None:
    settings = _settings(tmp_path)
    with write_lock(settings.index_dir), pytest.raises(IndexBusyError, match="wait"):
        index_paths(["corpus"], settings)


def test_rebuild_starts_over(small_corpus: Path, tmp_path: Path, embedder) -> None:
    settings = _settings(tmp_path)
    first = index_paths([str(small_corpus)], settings, embedder=embedder)
    again = index_paths([str(small_corpus)], settings, embedder=embedder, rebuild=True)
    assert len(again.added) == 3 and again.chunks_total == first.chunks_total


def test_indexer_plans_without_loading_a_model(tmp_path: Path) -> None:
    """The indexer's first step sorts files into work, skipped and removed; no model yet."""
    from polyfind.pipeline import Indexer

    folder = tmp_path / "docs"
    folder.mkdir()
    (folder / "a.txt").write_text("The first document.\n", encoding="utf-8")
    (folder / "b.csv").write_text("x,y\n", encoding="utf-8")
    with Indexer.open(_settings(tmp_path)) as indexer:
        work, removed = indexer.plan([str(folder), str(tmp_path / "missing")])
        assert [w.found.path.name for w in work] == ["a.txt"]
        assert removed == []
        assert indexer.embedder is None and indexer.dim == 0
        assert [reason for _, reason in indexer.summary.skipped] == [
            "unsupported file type .csv",
            "no such file or folder",
        ]


def test_embedding_overlaps_chunking(
    small_corpus: Path, tmp_path: Path, embedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A group's embedding runs while the next file is chunked: the first group's
    embedding waits until the second file's chunking has begun (it would wait in vain if
    the two ran one after the other), and the index is the same as ever."""
    import threading

    from polyfind import pipeline

    second_chunked = threading.Event()
    calls = {"chunk": 0, "embed": 0}
    real_make_chunks = pipeline.make_chunks

    def make_chunks(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls["chunk"] += 1
        if calls["chunk"] == 2:
            second_chunked.set()
        return real_make_chunks(*args, **kwargs)

    class Waiting:
        def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
            return getattr(embedder, name)

        def embed_passages(self, texts, *, batch_size):  # type: ignore[no-untyped-def]
            calls["embed"] += 1
            if calls["embed"] == 1:
                assert second_chunked.wait(60), "the next file was not chunked meanwhile"
            return embedder.embed_passages(texts, batch_size=batch_size)

    monkeypatch.setattr(pipeline, "make_chunks", make_chunks)
    settings = _settings(tmp_path).with_(group_chunks=1)  # a group per file
    summary = index_paths([str(small_corpus)], settings, embedder=Waiting())
    assert calls["chunk"] == 3 and calls["embed"] == 3
    assert sorted(Path(s).name for s in summary.added) == sorted(SMALL)
    with Searcher(settings, encoder=embedder) as s:
        assert s.vectors.ntotal == s.store.chunk_count() == summary.chunks_total > 0


def test_each_passage_stores_the_typicality_the_searcher_would_compute(corpus_index) -> None:
    """The indexer stores each passage's typicality (``chunks.typicality``), so a search
    reads one number per candidate instead of its document's vectors: the same numbers."""
    import numpy as np

    from polyfind.language_bias import load_projection
    from polyfind.typicality import typicality

    settings, _ = corpus_index
    store = Store.open(settings.index_dir)
    try:
        assert store.get_meta("typicality") == "complete"
        projection = load_projection(store.get_meta("model_name") or "")
        assert projection is not None  # the default model's: applied, as the searcher does
        dim = int(store.get_meta("dim") or 0)
        for doc in store.documents():
            ids, vecs = store.document_vectors(doc.id, dim)
            stored = store.chunk_typicality(ids.tolist())
            assert sorted(stored) == sorted(ids.tolist())
            computed = typicality(vecs, projection)
            assert np.array_equal([stored[i] for i in ids.tolist()], computed), doc.source
    finally:
        store.close()
