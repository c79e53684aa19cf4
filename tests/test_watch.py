"""`polyfind watch` as a user runs it: a real subprocess, real files copied in, Ctrl-C."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

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
