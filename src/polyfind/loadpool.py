"""Load files (extract, clean, detect the document language) in worker processes.

``load_documents(files, workers)`` gives ``(file, Document | Failed)`` in the order given,
whichever worker finishes first; its workers start at once. They are plain child processes
running ``serve()`` (``python -c "from polyfind.loadpool import serve; serve()"``), fed one
file at a time over a pipe, rather than a ``multiprocessing`` pool, because:

- they inherit no open files (a forked child would keep the index's write lock, and a copy
  of torch's threads once the model is loaded), and they never re-import the caller's
  ``__main__`` (so a script calling ``index_paths`` needs no ``if __name__`` guard);
- a worker holds one file at a time, so when a reader crashes the process, that file is
  known: it is reported as failed and a fresh worker takes the next one;
- a worker exits when its pipe closes or (on Linux) when the indexer dies, so a killed
  indexer leaves no workers behind;
- a worker is bounded: its address space is capped (``LoadLimits.memory_mb``, so a
  decompression bomb ends in MemoryError, not in the machine swapping), and a file that takes
  longer than ``LoadLimits.timeout_for`` its size has its worker (and any OCR child) killed.
  Either way that file is reported as failed with the reason and the batch goes on.

Each worker keeps at most ``window`` files loaded ahead of the consumer in memory. A worker's
first message is the ``Settings`` its loaders use (OCR on or off, the extraction knobs): it
reads nothing from the environment.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import IO

from .discover import FoundFile
from .errors import LoadError, PolyfindError
from .language import detect_document_language
from .loading import load
from .records import Document
from .settings import Settings

log = logging.getLogger(__name__)

_HEADER = struct.Struct("<Q")


@dataclass(frozen=True)
class Failed:
    """A file that could not be loaded: the reason for the summary (``fatal``: stop the run)."""

    reason: str
    detail: str = ""
    fatal: bool = False


@dataclass(frozen=True)
class LoadLimits:
    """What one worker may spend on one file (``None``: no limit)."""

    timeout_s: float | None = None
    #: Added to ``timeout_s`` for each MB of the file (a scanned book needs OCR time per page).
    timeout_per_mb_s: float = 0.0
    memory_mb: int | None = None

    def timeout_for(self, size: int) -> float | None:
        if self.timeout_s is None:
            return None
        return self.timeout_s + self.timeout_per_mb_s * size / (1 << 20)


def load_document(found: FoundFile, settings: Settings | None = None) -> Document:
    """Load a file and give it its document language (``settings``: the defaults when None)."""
    settings = settings or Settings()
    doc = load(found.path, found.source, settings)
    lang = detect_document_language((p.text for p in doc.pages), settings.language)
    return replace(doc, lang=lang)


def load_safely(
    found: FoundFile, settings: Settings | None = None, memory_mb: int | None = None
) -> Document | Failed:
    """``load_document`` with failures turned into ``Failed`` (plain data, whatever the
    exception was, so it crosses a pipe). ``memory_mb``: the cap this process runs under,
    named in the reason when it was not enough."""
    try:
        return load_document(found, settings)
    except MemoryError:
        cap = f"the {memory_mb} MB a reader may use" if memory_mb else "the memory available"
        return Failed(
            f"needs more than {cap} to read (a huge or damaged file?); raise the limit with "
            "POLYFIND_LOAD_MEMORY_MB if the file is sound"
        )
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

    def __init__(self, limits: LoadLimits, settings: Settings | None = None) -> None:
        self.limits = limits
        env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
        memory = limits.memory_mb or 0
        self.proc = subprocess.Popen(
            [sys.executable, "-c", f"from polyfind.loadpool import serve; serve({memory})"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env=env,
            start_new_session=True,  # its own process group: a stopped reader takes OCR with it
        )
        assert self.proc.stdin is not None
        with contextlib.suppress(OSError):  # a worker dead already: its first file says so
            _send(self.proc.stdin, settings or Settings())

    def load(self, found: FoundFile) -> Document | Failed:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        try:
            _send(self.proc.stdin, found)
            limit = self.limits.timeout_for(found.size)
            if not self._wait_for_answer(limit):
                self.kill()
                return Failed(
                    f"took more than {limit:.3g} s to read and was stopped (a huge or damaged "
                    "file?); raise the limit with POLYFIND_LOAD_TIMEOUT if it is sound"
                )
            result = _receive(self.proc.stdout)
        except (EOFError, BrokenPipeError, OSError):
            return Failed(self._crash_reason(self.proc.wait()))
        assert isinstance(result, Document | Failed)
        return result

    def _crash_reason(self, code: int) -> str:
        how = f"exit status {code}"
        if code < 0:
            with contextlib.suppress(ValueError):
                how = signal.Signals(-code).name
        reason = f"the reader crashed on this file ({how}); a damaged or unusual file?"
        if self.limits.memory_mb and code in (-signal.SIGABRT, -signal.SIGSEGV, -signal.SIGKILL):
            reason += (
                f" It may have needed more than the {self.limits.memory_mb} MB a reader may "
                "use: raise POLYFIND_LOAD_MEMORY_MB if the file is sound"
            )
        return reason

    def _wait_for_answer(self, limit: float | None) -> bool:
        """Wait until the answer starts to arrive (True) or ``limit`` seconds pass (False).
        The worker writes an answer in one piece, so once it starts it is there."""
        assert self.proc.stdout is not None
        if limit is None:
            return True
        deadline = time.monotonic() + limit
        while (left := deadline - time.monotonic()) > 0:
            ready, _, _ = select.select([self.proc.stdout], [], [], min(left, 1.0))
            if ready:
                return True
        return False

    def kill(self) -> None:
        """Kill the worker and whatever it started (tesseract)."""
        with contextlib.suppress(OSError):
            os.killpg(self.proc.pid, signal.SIGKILL)
        with contextlib.suppress(OSError):
            self.proc.kill()
        self.proc.wait()

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
            self.kill()
        if self.proc.stdout is not None:
            self.proc.stdout.close()


class _Pool:
    """Worker threads, one per process, each taking the next file in order; results are
    handed out in order."""

    def __init__(
        self,
        found: Sequence[FoundFile],
        workers: int,
        window: int,
        limits: LoadLimits,
        settings: Settings,
    ) -> None:
        self.found = list(found)
        self.limits = limits
        self.settings = settings
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
                        worker = _Worker(self.limits, self.settings)
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
                    w.kill()
        for t in self.threads:
            t.join()


class Loading:
    """``(file, Document | Failed)`` in the order the files were given. The workers start
    when it is made, so files load while the caller gets ready (the model loads);
    ``close()`` stops them, also before the first file is taken."""

    def __init__(
        self,
        found: Sequence[FoundFile],
        get: Callable[[int], Document | Failed],
        stop: Callable[[], None] | None = None,
    ) -> None:
        self._found = list(found)
        self._get = get
        self._stop = stop
        self._next = 0

    def __iter__(self) -> Loading:
        return self

    def __next__(self) -> tuple[FoundFile, Document | Failed]:
        if self._next >= len(self._found):
            self.close()
            raise StopIteration
        i = self._next
        self._next += 1
        return self._found[i], self._get(i)

    def close(self) -> None:
        stop, self._stop = self._stop, None
        if stop is not None:
            stop()


def load_documents(
    found: Sequence[FoundFile],
    workers: int,
    *,
    window: int | None = None,
    limits: LoadLimits | None = None,
    settings: Settings | None = None,
) -> Loading:
    """Load ``found`` in order with ``workers`` processes (0: in this process, unbounded,
    each file when it is asked for), their loaders given ``settings`` (the defaults when
    None). Close the result when done with it (``contextlib.closing``).

    At most ``window`` files (default: 3 per worker) are loaded ahead of the consumer.
    """
    settings = settings or Settings()
    if workers <= 0 or len(found) == 0:
        here = settings
        return Loading(found, lambda i: load_safely(found[i], here))
    pool = _Pool(
        found, min(workers, len(found)), window or 3 * workers, limits or LoadLimits(), settings
    )
    return Loading(pool.found, pool.get, pool.close)


def _cap_memory(memory_mb: int) -> None:
    """Cap this process's address space (a hard bound, unlike a watch on its RSS)."""
    if memory_mb <= 0:
        return
    try:
        import resource
    except ImportError:  # not on this platform: the time limit still applies
        return
    cap = memory_mb << 20
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        cap = min(cap, hard)
    with contextlib.suppress(ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_AS, (cap, hard))


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when the indexer dies (even by SIGKILL), so that a
    worker stuck on a hostile file does not outlive it; elsewhere the closed pipe ends it
    after the current file."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))
        if os.getppid() == 1:  # the parent died before the request took effect
            os._exit(0)


def serve(memory_mb: int = 0) -> None:
    """Worker main loop: the Settings first, then a file in, a Document or Failed out, until
    the input closes."""
    _die_with_parent()
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the indexer's to handle
    stdin = sys.stdin.buffer
    # Answers go to a private copy of stdout; anything else printed (by Python or by a C
    # library) goes to stderr and cannot corrupt them.
    stdout = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    _cap_memory(memory_mb)
    try:
        settings = _receive(stdin)
    except EOFError:
        return
    assert isinstance(settings, Settings)
    while True:
        try:
            found = _receive(stdin)
        except EOFError:
            return
        assert isinstance(found, FoundFile)
        try:
            _send(stdout, load_safely(found, settings, memory_mb or None))
        except BrokenPipeError:  # the indexer is gone
            return
