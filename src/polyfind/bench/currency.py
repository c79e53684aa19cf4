"""Keeping an index current: unchanged re-index and `watch` latency, as whole processes.

1. ``reindex``: ``polyfind index FOLDER --json`` once into a fresh index (files skipped for
   a reason included), then ``repeat`` more times with nothing changed; wall clock of each
   whole process (interpreter start and imports included), and what the last run reported.
2. ``watch_latency``: ``polyfind watch FOLDER --json`` on an empty folder; after its first
   batch (the catch-up run: it is listening by then) each file is copied in and the time
   until the batch that adds it is printed (committed: searchable) is taken, together with
   that batch's own indexing time. The difference is the watcher's waiting: events gathered
   until the file stops growing, the debounce, the model already loaded.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from .measure import median, run_child

POLYFIND = [sys.executable, "-m", "polyfind.cli"]


def _index(folder: Path, index: Path, *extra: str) -> tuple[float, dict[str, Any]]:
    run = run_child([*POLYFIND, "index", str(folder), "--index", str(index), "--json", *extra])
    if run.returncode not in (0, 3):
        raise RuntimeError(f"polyfind index {folder} exited {run.returncode}")
    return run.seconds, json.loads(run.stdout)


def reindex(folder: Path, repeat: int = 3) -> dict[str, Any]:
    """First index of ``folder``, then ``repeat`` unchanged re-indexes (whole processes)."""
    with tempfile.TemporaryDirectory(prefix="polyfind-currency-") as tmp:
        index = Path(tmp) / "index"
        first, summary = _index(folder, index)
        runs = [_index(folder, index) for _ in range(repeat)]
    last = runs[-1][1]
    return {
        "folder": str(folder),
        "first_seconds": round(first, 2),
        "documents": len(summary.get("added", [])),
        "skipped": len(summary.get("skipped", [])),
        "unchanged_seconds": [round(s, 3) for s, _ in runs],
        "unchanged_median": round(median([s for s, _ in runs]), 3),
        "last_unchanged": len(last.get("unchanged", [])),
        "last_still_skipped": len(last.get("still_skipped", [])),
        "last_read_again": len(last.get("added", []))
        + len(last.get("updated", []))
        + len(last.get("skipped", [])),
    }


def _lines(stream: Any, out: queue.Queue[tuple[float, dict[str, Any]]]) -> None:
    for line in stream:
        line = line.strip()
        if line.startswith("{"):
            out.put((time.perf_counter(), json.loads(line)))


def watch_latency(files: Sequence[Path], timeout: float = 300.0) -> dict[str, Any]:
    """Copy each of ``files`` into a watched folder in turn; latency of each."""
    with tempfile.TemporaryDirectory(prefix="polyfind-watch-") as tmp:
        folder, index = Path(tmp) / "inbox", Path(tmp) / "index"
        folder.mkdir()
        cmd = [*POLYFIND, "watch", str(folder), "--index", str(index), "--json"]
        proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=os.environ
        )
        lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        reader = threading.Thread(target=_lines, args=(proc.stdout, lines), daemon=True)
        reader.start()
        rows: list[dict[str, Any]] = []
        waits: list[float] = []
        try:
            lines.get(timeout=timeout)  # the catch-up batch: listening from now on
            for src in files:
                started = time.perf_counter()
                shutil.copy(src, folder / src.name)
                while True:
                    at, batch = lines.get(timeout=timeout)
                    if any(Path(a).name == src.name for a in batch.get("added", [])):
                        break
                seconds = float(batch.get("seconds", 0.0))
                latency = at - started
                waits.append(latency - seconds)
                rows.append(
                    {
                        "file": src.name,
                        "chunks": batch.get("chunks_added"),
                        "latency": round(latency, 2),
                        "indexing": round(seconds, 2),
                        "waiting": round(latency - seconds, 2),
                    }
                )
        finally:
            proc.terminate()
            proc.wait(timeout=60)
    return {"files": rows, "waiting_max": round(max(waits), 2) if waits else None}
