"""Load files (extract, clean, detect the document language) in worker processes.

``load_documents(files, workers)`` yields ``(file, Document | Failed)`` in the order given,
whichever worker finishes first. The workers are plain child processes running ``serve()``
(``python -c "from polyfind.loadpool import serve; serve()"``), fed one file at a time over
a pipe, rather than a ``multiprocessing`` pool, because:

- they inherit no open files (a forked child would keep the index's write lock, and a copy
  of torch's threads once the model is loaded), and they never re-import the caller's
  ``__main__`` (so a script calling ``index_paths`` needs no ``if __name__`` guard);
- a worker holds one file at a time, so when a reader crashes the process, that file is
  known: it is reported as failed and a fresh worker takes the next one;
- a worker exits when its pipe closes, so a killed indexer leaves no workers behind.

Each worker keeps at most ``window`` files loaded ahead of the consumer in memory.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import struct
import subprocess
import sys
import threading
from collections.abc import Generator, Sequence
from dataclasses import dataclass, replace
from typing import IO

from .discover import FoundFile
from .errors import LoadError, PolyfindError
from .language import detect_document_language
from .loading import load
from .records import Document

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class Failed:
    """A file that could not be loaded: the reason for the summary (``fatal``: stop the run)."""

    reason: str
    detail: str = ""
    fatal: bool = False


def load_document(found: FoundFile) -> Document:
    """Load a file and give it its document language."""
    doc = load(found.path, found.source)
    return replace(doc, lang=detect_document_language(p.text for p in doc.pages))


def load_safely(found: FoundFile) -> Document | Failed:
    """``load_document`` with failures turned into ``Failed`` (plain data, whatever the
    exception was, so it crosses a pipe)."""
    try:
        return load_document(found)
    except LoadError as exc:
        msg, prefix = str(exc), f"{found.source}: "
        return Failed(msg[len(prefix) :] if msg.startswith(prefix) else msg)
    except PolyfindError as exc:
        return Failed(str(exc), fatal=True)
    except Exception as exc:  # one bad file never stops a batch
        import traceback

        return Failed(
            f"could not be read ({type(exc).__name__}: {exc})", detail=traceback.format_exc()
        )


# -- framing ----------------------------------------------------------------------------------
def _send(stream: IO[bytes], obj: object) -> None:
    data = pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(data)) + data)
    stream.flush()


def _receive(stream: IO[bytes]) -> object:
    """The next object on ``stream``; EOFError when it closed (the other side is gone)."""
    head = stream.read(_HEADER.size)
    if len(head) < _HEADER.size:
        raise EOFError
    size = _HEADER.unpack(head)[0]
    data = stream.read(size)
    if len(data) < size:
        raise EOFError
    return pickle.loads(data)


# -- the pool ---------------------------------------------------------------------------------
class _Worker:
    """One child process; ``load`` sends it a file and waits for the answer."""

    def __init__(self) -> None:
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from polyfind.loadpool import serve; serve()"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
        )

    def load(self, found: FoundFile) -> Document | Failed:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            _send(self.proc.stdin, found)
            result = _receive(self.proc.stdout)
        except (EOFError, BrokenPipeError, OSError):
            code = self.proc.wait()
            return Failed(
                f"the reader crashed on this file (exit status {code}); a damaged or unusual file?"
            )
        assert isinstance(result, Document | Failed)
        return result

    @property
    def alive(self) -> bool:
        return self.proc.poll() is None

    def close(self) -> None:
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()  # the worker exits at end of input
        try:
            self.proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class _Pool:
    """Worker threads, one per process, each taking the next file in order; results are
    handed out in order."""

    def __init__(self, found: Sequence[FoundFile], workers: int, window: int) -> None:
        self.found = list(found)
        self.window = window
        self.results: dict[int, Document | Failed] = {}
        self.next_index = 0
        self.consumed = 0
        self.stopping = False
        self.workers: list[_Worker] = []
        self.cond = threading.Condition()
        self.threads = [
            threading.Thread(target=self._run, name=f"polyfind-loader-{i}", daemon=True)
            for i in range(workers)
        ]
        for t in self.threads:
            t.start()

    def _take(self) -> int | None:
        """The index of the next file to load, waiting while too far ahead of the consumer."""
        with self.cond:
            while not self.stopping and self.next_index >= self.consumed + self.window:
                self.cond.wait()
            if self.stopping or self.next_index >= len(self.found):
                return None
            i = self.next_index
            self.next_index += 1
            return i

    def _run(self) -> None:
        worker: _Worker | None = None
        try:
            while (i := self._take()) is not None:
                try:
                    if worker is None or not worker.alive:
                        if worker is not None:
                            worker.close()  # it died on the previous file
                        worker = _Worker()
                        with self.cond:
                            self.workers.append(worker)
                    result = worker.load(self.found[i])
                except Exception as exc:  # the pool must never lose a file's answer
                    result = Failed(f"could not be loaded ({type(exc).__name__}: {exc})")
                with self.cond:
                    self.results[i] = result
                    self.cond.notify_all()
        finally:
            if worker is not None:
                worker.close()

    def get(self, i: int) -> Document | Failed:
        with self.cond:
            while i not in self.results:
                self.cond.wait()
            self.consumed = i + 1
            self.cond.notify_all()
            return self.results.pop(i)

    def close(self) -> None:
        """Stop: idle workers exit at once; busy ones (stopped early) are killed."""
        with self.cond:
            self.stopping = True
            busy = self.next_index > len(self.results) + self.consumed
            workers = list(self.workers)
            self.cond.notify_all()
        if busy:
            for w in workers:
                if w.alive:
                    w.proc.kill()
        for t in self.threads:
            t.join()


def load_documents(
    found: Sequence[FoundFile], workers: int, *, window: int | None = None
) -> Generator[tuple[FoundFile, Document | Failed], None, None]:
    """Load ``found`` in order with ``workers`` processes (1: in this process).

    At most ``window`` files (default: 3 per worker) are loaded ahead of the consumer.
    """
    if workers <= 1 or len(found) == 0:
        for f in found:
            yield f, load_safely(f)
        return
    pool = _Pool(found, min(workers, len(found)), window or 3 * workers)
    try:
        for i, f in enumerate(found):
            yield f, pool.get(i)
    finally:
        pool.close()


def serve() -> None:
    """Worker main loop: a file in, a Document or Failed out, until the input closes."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the indexer's to handle
    stdin = sys.stdin.buffer
    # Answers go to a private copy of stdout; anything else printed (by Python or by a C
    # library) goes to stderr and cannot corrupt them.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    while True:
        try:
            found = _receive(stdin)
        except EOFError:
            return
        assert isinstance(found, FoundFile)
        try:
            _send(stdout, load_safely(found))
        except BrokenPipeError:  # the indexer is gone
            return
