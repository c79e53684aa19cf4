"""`polyfind watch` as a user runs it: a real subprocess, real files copied in, Ctrl-C."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from consistency import chunk_ids_by_file
from polyfind.settings import Settings
from polyfind.watch import relevant, wait_until_settled

CORPUS = Path(__file__).resolve().parents[1] / "corpus"
EN = "us_wh_2022-10-19_battery_manufacturing_fact_sheet.md"
JA = "004_58bd91241ebf471b.txt"
#: Bounded waits (seconds) for the watcher on a loaded 2-core machine; not timings under test.
WAIT = 240


def _polyfind(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "polyfind.cli", *args],
        capture_output=True,
        text=True,
        timeout=WAIT,
    )


def _found(index: Path, query: str, name: str) -> bool:
    done = _polyfind("search", query, "--index", str(index), "--json", "--mode", "lexical")
    return done.returncode == 0 and any(
        Path(h["source"]).name == name for h in json.loads(done.stdout)
    )


@pytest.mark.slow
def _interruptible() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def test_watch_indexes_a_new_report_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(CORPUS / JA, docs / JA)
    index = tmp_path / "index"
    proc = subprocess.Popen(
        [sys.executable, "-m", "polyfind.cli", "watch", str(docs), "--index", str(index), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # Ctrl-C as at a terminal, even where the test run itself ignores SIGINT (a shell
        # starts background commands with it ignored, and children inherit that)
        preexec_fn=_interruptible,
    )
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())  # the first batch: what was there
        assert first["batch"] == 1 and [Path(s).name for s in first["added"]] == [JA]
        # A new report and a damaged file arrive; the watcher survives the bad one.
        (docs / "broken.pdf").write_bytes(b"%PDF-1.4\nthis is not really a pdf\n")
        shutil.copy(CORPUS / EN, docs / "new.md")
        deadline = time.monotonic() + WAIT
        while not _found(index, "battery manufacturing", "new.md"):
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "the new report was not indexed in time"
            time.sleep(1)
        # Still watching after the bad file: one more report is picked up.
        shutil.copy(CORPUS / "us_wh_2024-08-09_chips_two_years_fact_sheet.md", docs / "chips.md")
        while not _found(index, "CHIPS and Science Act", "chips.md"):
            assert proc.poll() is None
            assert time.monotonic() < deadline, "the second report was not indexed in time"
            time.sleep(1)
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    batches = [json.loads(line) for line in out.splitlines()]
    assert all(b["error"] is None for b in batches)
    added = [Path(s).name for b in batches for s in b["added"]]
    assert sorted(added) == ["chips.md", "new.md"]  # none twice
    skipped = {Path(s["source"]).name for b in batches for s in b["skipped"]}
    assert skipped == {"broken.pdf"}
    status = json.loads(_polyfind("status", "--index", str(index), "--json").stdout)
    assert status["documents"] == 3 and status["changed"] == 0
    assert [r["path"] for r in status["roots"]] == [str(docs.resolve())]


def test_watch_errors_before_watching_exit_1(tmp_path: Path) -> None:
    done = _polyfind("watch", str(tmp_path / "nothing"), "--index", str(tmp_path / "index"))
    assert done.returncode == 1
    assert "no such file or folder" in done.stderr and len(done.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "index").exists()


def test_which_events_count(tmp_path: Path) -> None:
    root = tmp_path / "docs"
    index = root / "index"
    assert relevant(root / "a.pdf", [root], index)
    assert relevant(root / "sub" / "b.md", [root], index)
    assert relevant(root / ".polyfindignore", [root], index)
    assert not relevant(root / ".git" / "HEAD", [root], index)
    assert not relevant(root / ".~lock.a.docx#", [root], index)
    assert not relevant(index / "polyfind.sqlite-wal", [root], index)
    assert not relevant(tmp_path / "elsewhere.txt", [root], index)
    assert relevant(tmp_path / "one.txt", [tmp_path / "one.txt"], index)


def test_a_file_still_growing_is_waited_for(tmp_path: Path) -> None:
    """The settle wait returns only after the file stopped changing: a writer thread appends
    for a while; when the wait returns the writer must have finished."""
    import threading

    target = tmp_path / "growing.txt"
    target.write_text("", encoding="utf-8")
    finished = threading.Event()

    def writer() -> None:
        for i in range(8):
            with target.open("a", encoding="utf-8") as fh:
                fh.write(f"line {i}\n")
            time.sleep(0.1)
        finished.set()

    thread = threading.Thread(target=writer)
    thread.start()
    wait_until_settled([target], 0.5, 60.0, threading.Event())
    assert finished.is_set()
    thread.join()
    assert Settings().watch.settle_s > 0


# -- many files at once, kill -9, serve --watch ----------------------------------------------
WORDS = (
    "battery semiconductor quantum alliance supply chain export control research funding "
    "hydrogen shipbuilding satellite vaccine standard patent talent tariff grid reactor "
    "lithium cobalt wafer lithography packaging subsidy treaty summit ministry laboratory"
)


def _report_text(i: int, sentences: int) -> str:
    """A small English report of its own (no two alike: the embedding cache would otherwise
    skip the model), naming its number."""
    import random

    rng = random.Random(i)
    lines = [f"Report {i:03d} on cooperation, number {i}."]
    for _ in range(sentences):
        words = rng.sample(WORDS.split(), 8)
        lines.append(f"The {words[0]} {words[1]} plan links {' and '.join(words[2:])}.")
    return "\n".join(lines) + "\n"


def _make_reports(folder: Path, n: int, sentences: int) -> list[str]:
    folder.mkdir(parents=True, exist_ok=True)
    names = [f"report_{i:03d}.txt" for i in range(n)]
    for i, name in enumerate(names):
        (folder / name).write_text(_report_text(i, sentences), encoding="utf-8")
    return names


def _documents(index: Path) -> list[str]:
    """The file names of the indexed documents, one per document (read-only)."""
    import sqlite3

    from polyfind.store import DB_NAME

    conn = sqlite3.connect(f"file:{index / DB_NAME}?mode=ro", uri=True, timeout=30)
    try:
        return [Path(p).name for (p,) in conn.execute("SELECT path FROM documents")]
    finally:
        conn.close()


def _wait(condition, what: str, timeout: float = WAIT, proc=None) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if proc is not None and proc.poll() is not None:
            raise AssertionError(f"the process ended ({proc.returncode}) before {what}")
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)


@pytest.mark.slow
def test_200_files_copied_at_once_are_indexed_in_batches_once_each(
    tmp_path: Path, embedder
) -> None:
    """The watcher (on a thread, with the suite's model) sees 200 small reports copied in at
    once: each is indexed exactly once, none is lost, in one or a few batches."""
    from polyfind.watch import Watcher

    stage, docs = tmp_path / "stage", tmp_path / "docs"
    names = _make_reports(stage, 200, 2)
    docs.mkdir()
    settings = Settings(index_dir=tmp_path / "index")
    batches = []
    watcher = Watcher([str(docs)], settings, report=batches.append, embedder=embedder).start()
    try:
        _wait(lambda: len(batches) >= 1, "the first batch")
        for name in names:
            shutil.copy(stage / name, docs / name)
        _wait(
            lambda: (
                sum(len(b.summary.added) for b in batches if b.summary) >= len(names)
                or any(b.error for b in batches)
            ),
            "200 files indexed",
        )
        time.sleep(3 * settings.watch.debounce_ms / 1000)  # a late duplicate batch would show
    finally:
        assert watcher.stop(timeout=WAIT)
    assert [b.error for b in batches] == [None] * len(batches)
    added = [Path(s).name for b in batches if b.summary for s in b.summary.added]
    assert sorted(added) == names  # none twice, none lost
    working = [b for b in batches[1:] if b.summary and b.summary.added]
    assert 1 <= len(working) <= 20, [len(b.summary.added) for b in working if b.summary]
    assert sorted(_documents(settings.index_dir)) == names
    from polyfind import Searcher

    with Searcher(settings) as searcher:  # lexical: no query model needed
        hits = searcher.search("Report 137 on cooperation, number 137", k=1, mode="lexical")
    assert [Path(h.source).name for h in hits] == ["report_137.txt"]


@pytest.mark.slow
def test_watch_killed_with_sigkill_mid_batch_then_restarted_completes(
    tmp_path: Path, embedder
) -> None:
    """kill -9 of `polyfind watch` while it indexes 200 reports, after its first commit and
    before its last: a restarted `watch --quiet` finishes the work (each file indexed once,
    the committed ones not embedded again), prints nothing, and the index opens fine."""
    import sqlite3

    from polyfind import Searcher, index_paths
    from polyfind.store import DB_NAME

    stage, docs, index = tmp_path / "stage", tmp_path / "docs", tmp_path / "index"
    names = _make_reports(stage, 200, 8)  # 2 passages each: 2 commit groups
    docs.mkdir()
    cmd = [sys.executable, "-m", "polyfind.cli", "watch", str(docs), "--index", str(index)]
    proc = subprocess.Popen(
        [*cmd, "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout is not None
        assert json.loads(proc.stdout.readline())["batch"] == 1
        for name in names:
            shutil.copy(stage / name, docs / name)
        _wait(lambda: len(_documents(index)) > 0, "the first commit", proc=proc)
        proc.send_signal(signal.SIGKILL)
        proc.wait(WAIT)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(WAIT)
    committed = _documents(index)
    assert 0 < len(committed) < len(names), "killed too late: nothing left to finish"

    before = chunk_ids_by_file(index)
    restart = subprocess.Popen(
        [*cmd, "--quiet"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        _wait(lambda: len(_documents(index)) == len(names), "the restart", proc=restart)
    finally:
        restart.send_signal(signal.SIGTERM)
        out, err = restart.communicate(timeout=WAIT)
    assert restart.returncode == 0, err
    assert (out, err) == ("", "")  # --quiet: nothing but errors, and there were none
    assert sorted(_documents(index)) == names  # each file once, none lost
    after = chunk_ids_by_file(index)
    assert {n: after[n] for n in committed} == {n: before[n] for n in committed}
    conn = sqlite3.connect(index / DB_NAME)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    finally:
        conn.close()
    settings = Settings(index_dir=index)
    again = index_paths(None, settings, embedder=embedder)
    assert again.added == again.updated == again.removed == [] and again.chunks_added == 0
    assert len(again.unchanged) == len(names)
    with Searcher(settings) as searcher:
        hits = searcher.search("Report 042 on cooperation, number 42", k=1, mode="lexical")
    assert [Path(h.source).name for h in hits] == ["report_042.txt"]


@pytest.mark.slow
def test_serve_watch_keeps_the_api_current_and_stops_on_sigterm(tmp_path: Path, embedder) -> None:
    import re
    import urllib.parse
    import urllib.request

    from polyfind import index_paths

    docs = tmp_path / "docs"
    docs.mkdir()
    shutil.copy(CORPUS / JA, docs / JA)
    shutil.copy(CORPUS / EN, docs / EN)
    index = tmp_path / "index"
    index_paths([str(docs)], Settings(index_dir=index), embedder=embedder)
    proc = subprocess.Popen(
        [sys.executable, "-m", "polyfind.cli", "serve", "--watch", "--index", str(index),
         "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "COLUMNS": "500"},
    )  # fmt: skip

    def get(path: str) -> dict:
        with urllib.request.urlopen(url + path, timeout=60) as resp:
            return json.loads(resp.read())

    def sources(query: str) -> set[str]:
        q = urllib.parse.quote(query)
        return {Path(h["source"]).name for h in get(f"/search?q={q}&mode=lexical")["hits"]}

    try:
        assert proc.stderr is not None
        found = re.search(r" on (http://\S+) \(", proc.stderr.readline())
        assert found
        url = found.group(1)
        assert "chips.md" not in sources("CHIPS and Science Act")
        _wait(lambda: get("/status")["watch"]["batches"] >= 1, "the first batch", proc=proc)
        shutil.copy(CORPUS / "us_wh_2024-08-09_chips_two_years_fact_sheet.md", docs / "chips.md")
        _wait(lambda: "chips.md" in sources("CHIPS and Science Act"), "the new report", 120, proc)
        (docs / EN).unlink()
        _wait(lambda: EN not in sources("battery manufacturing"), "the deletion", 120, proc)
        status = get("/status")
        assert status["documents"] == 2
        assert status["watch"]["running"] and status["watch"]["error"] is None
    finally:
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=WAIT)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    assert "1 added" in err and "1 removed" in err  # the watcher's lines, on stderr
