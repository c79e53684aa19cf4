"""Loading in worker processes: same documents as in-process, in order, failures isolated."""

from __future__ import annotations

import shutil
import threading
from pathlib import Path

from polyfind.discover import discover
from polyfind.loadpool import Failed, LoadLimits, _Worker, load_documents
from polyfind.pipeline import extract_workers
from polyfind.records import Document
from polyfind.settings import Settings

CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def _files(tmp_path: Path) -> list:
    folder = tmp_path / "mixed"
    folder.mkdir()
    for name in (
        "003_71a9f3b054dab845.txt",
        "us_crs_r48694_federal_rd_funding_fy2026_2026-04.pdf",
        "004_58bd91241ebf471b.txt",
    ):
        shutil.copy(CORPUS / name, folder / name)
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 not really a pdf")
    (folder / "zz_last.md").write_text("# Last\n\nThe last file, in English.\n", "utf-8")
    return [f for f in discover(str(folder)) if f.supported]


def test_workers_give_the_same_documents_in_order(tmp_path: Path) -> None:
    found = _files(tmp_path)
    here = list(load_documents(found, 0))
    pooled = list(load_documents(found, 2, window=2))
    assert [f.source for f, _ in pooled] == [f.source for f in found]
    for (_, a), (_, b) in zip(here, pooled, strict=True):
        assert type(a) is type(b)
        if isinstance(a, Document):
            assert a == b
    failed = {f.path.name: r.reason for f, r in pooled if isinstance(r, Failed)}
    assert list(failed) == ["broken.pdf"]
    assert "PDF" in failed["broken.pdf"]


def test_a_crashed_worker_costs_only_its_file(tmp_path: Path) -> None:
    found = _files(tmp_path)
    worker = _Worker(LoadLimits())
    try:
        assert isinstance(worker.load(found[0]), Document)
        worker.proc.kill()  # as if the reader had crashed on the next file
        result = worker.load(found[1])
        assert isinstance(result, Failed) and "crashed" in result.reason
    finally:
        worker.close()


def test_stopping_early_leaves_no_workers(tmp_path: Path) -> None:
    found = _files(tmp_path)
    gen = load_documents(found, 2)
    next(gen)
    gen.close()  # e.g. Ctrl-C in the indexer
    assert not [t for t in threading.enumerate() if t.name.startswith("polyfind-loader")]


def test_loading_starts_before_the_first_file_is_asked_for(tmp_path: Path) -> None:
    """The workers start when loading is set up (the indexer then loads the model), and
    closing before taking any file leaves none behind."""
    found = _files(tmp_path)
    loading = load_documents(found, 2)
    try:
        assert [t for t in threading.enumerate() if t.name.startswith("polyfind-loader")]
    finally:
        loading.close()
    assert not [t for t in threading.enumerate() if t.name.startswith("polyfind-loader")]


def test_workers_only_when_it_pays() -> None:
    s = Settings(index_dir=Path("x"))
    assert extract_workers(10_000, 5, s) == 1  # small files: one reader process, for the limits
    assert extract_workers(10_000, 5, s.with_(isolate_loaders=False)) == 0  # read here
    assert extract_workers(0, 0, s) == 0
    assert extract_workers(50 << 20, 1, s.with_(extract_workers=2)) == 1
    assert extract_workers(50 << 20, 7, s.with_(extract_workers=3)) == 3
    assert extract_workers(50 << 20, 7, s.with_(extract_workers=1)) == 1
    assert extract_workers(50 << 20, 7, s.with_(max_auto_workers=1)) == 1  # whatever the cores


def test_workers_die_with_a_killed_indexer(tmp_path: Path) -> None:
    """kill -9 of the indexer ends a worker busy on a file at once (Linux), rather than when it
    next writes to the closed pipe. The file is a FIFO whose writer stays open and silent, so
    the worker would wait on it forever: only the parent-death signal ends it."""
    import os
    import signal
    import subprocess
    import sys
    import time

    import pytest

    if not sys.platform.startswith("linux"):
        pytest.skip("parent-death signal is Linux only")
    fifo = tmp_path / "endless.txt"
    os.mkfifo(fifo)
    script = (
        "import time\n"
        "from pathlib import Path\n"
        "from polyfind.discover import FoundFile\n"
        "from polyfind.loadpool import LoadLimits, _Worker, _send\n"
        "w = _Worker(LoadLimits())\n"
        f"path = Path({str(fifo)!r})\n"
        "_send(w.proc.stdin, FoundFile('endless.txt', path, path.parent, 0, 0, True))\n"
        "print(w.proc.pid, flush=True)\n"
        "time.sleep(600)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    worker_pid = int(parent.stdout.readline())
    writer = None
    try:
        while writer is None:  # until the worker has the FIFO open: it is reading the file
            try:
                writer = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
            except OSError:  # ENXIO: no reader yet
                assert parent.poll() is None, "the parent ended before its worker read the file"
                time.sleep(0.05)
        os.kill(parent.pid, signal.SIGKILL)
        parent.wait()
        guard = time.monotonic() + 60  # a hang guard: without the signal it waits forever
        while time.monotonic() < guard:
            try:
                with open(f"/proc/{worker_pid}/stat") as fh:
                    if fh.read().split(")")[-1].split()[0] == "Z":  # dead, not yet reaped
                        return
            except FileNotFoundError:
                return
            time.sleep(0.1)
        os.kill(worker_pid, signal.SIGKILL)
        raise AssertionError(f"worker {worker_pid} outlived its killed parent")
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
        if writer is not None:
            os.close(writer)


def test_a_worker_loads_with_the_settings_it_is_given(tmp_path: Path) -> None:
    """An extraction knob (here the share of link text that makes a block a menu) set in the
    Settings changes what a loader process reads."""
    page = tmp_path / "page.html"
    page.write_text(
        "<html><body><main><p>The body text of this page, which is what gets indexed.</p>"
        "<ul><li><a href='/a'>Home</a></li><li><a href='/b'>News</a></li></ul>"
        "</main></body></html>",
        encoding="utf-8",
    )
    found = list(discover(str(page)))
    keep_menus = Settings().with_(**{"extraction.html_link_density": 1.0})
    [(_, default)] = load_documents(found, 1)
    [(_, kept)] = load_documents(found, 1, settings=keep_menus)
    assert isinstance(default, Document) and isinstance(kept, Document)
    assert "Home" not in default.pages[0].text
    assert "Home" in kept.pages[0].text
