"""Keep an index current while files arrive: ``polyfind watch``.

The watcher first brings the index up to date (what changed while nothing watched, or what a
killed run left), then waits for file-system events under the roots (the watchfiles library,
inotify on Linux). Events are gathered into a batch (``WatchSettings.debounce_ms``); the files
they name are then watched until their size and time stop changing (``settle_s``: a report
still being copied is not read half-written), and the batch is indexed by the same library call
as ``polyfind index`` (``index_paths``: the write lock, one transaction per group of files, so
a crash or kill at any moment loses at most the group under way and the next run finishes it).
Nothing is read twice: unchanged files are recognised by size and time, as in ``index``.

A bad file is skipped with its reason, as in ``index``; an error of the whole batch (another
writer holds the lock, the disk is full) is reported and the next event tries again. The
embedder is loaded once, before the first batch.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from .discover import root_argument
from .errors import InputMissingError, PolyfindError
from .pipeline import DEFAULT_PATH, index_paths
from .records import IndexSummary
from .settings import DEFAULT_MODEL, Settings
from .store import DB_NAME, Store, check_model, model_key

if TYPE_CHECKING:
    from .embedding import Embedder

log = logging.getLogger(__name__)


@dataclass
class Batch:
    """One indexing run of the watcher: what it did, or the error that stopped it."""

    number: int
    summary: IndexSummary | None
    error: str | None = None
    """The one-line message of an error that stopped the whole batch (then no summary)."""
    changed: int = 0
    """File-system events that started it (0 for the first run)."""

    def to_json(self) -> dict[str, object]:
        data: dict[str, object] = {
            "batch": self.number,
            "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "changed": self.changed,
        }
        if self.summary is not None:
            data.update(self.summary.to_json())
        data["error"] = self.error
        return data


def load_embedder(settings: Settings) -> Embedder:
    """The embedder ``index`` would use for this index (its model, precision and engine)."""
    from .embedding import load_for_index

    model = model_key(settings.model or DEFAULT_MODEL)
    recorded_precision = recorded_engine = None
    if (settings.index_dir / DB_NAME).exists():
        store = Store.open(settings.index_dir)
        try:
            model = check_model(store, settings.model, settings.index_dir)
            recorded_precision = store.get_meta("precision")
            recorded_engine = store.get_meta("engine")
        finally:
            store.close()
    return load_for_index(settings.with_(model=model), recorded_precision, recorded_engine)


def watched_roots(paths: Sequence[str] | None, settings: Settings) -> list[Path]:
    """The existing files and folders to watch: ``paths``, else the index's roots."""
    if paths:
        given = [Path(p).expanduser() for p in paths]
    elif not (settings.index_dir / DB_NAME).exists():
        given = [Path(DEFAULT_PATH)]
    else:
        store = Store.open(settings.index_dir)
        try:
            given = [Path(root_argument(r.path, r.given)) for r in store.roots()]
        finally:
            store.close()
    return [p.resolve() for p in given if p.exists()]


def _inside(path: Path, root: Path) -> bool:
    return path == root or root in path.parents


def relevant(path: Path, roots: Iterable[Path], index_dir: Path) -> bool:
    """An event worth indexing for: under a root (or a root file itself), not inside the
    index folder, not hidden below the root (a ``.polyfindignore`` counts: it decides what
    is indexed)."""
    if _inside(path, index_dir):
        return False
    for root in roots:
        if not _inside(path, root):
            continue
        hidden = [part for part in path.relative_to(root).parts if part.startswith(".")]
        if not hidden or hidden == [".polyfindignore"] == [path.name]:
            return True
    return False


def _stamp(paths: Iterable[Path]) -> dict[Path, tuple[int, int] | None]:
    out: dict[Path, tuple[int, int] | None] = {}
    for p in paths:
        try:
            st = p.stat()
            out[p] = (st.st_size, st.st_mtime_ns)
        except OSError:
            out[p] = None
    return out


def wait_until_settled(
    paths: Iterable[Path], settle_s: float, max_s: float, stop: threading.Event
) -> None:
    """Return once none of ``paths`` has changed size or time for ``settle_s`` (a file still
    being written keeps changing), or after ``max_s``, or when ``stop`` is set."""
    files = list(paths)
    last = _stamp(files)
    deadline = time.monotonic() + max_s
    while not stop.wait(settle_s):
        now = _stamp(files)
        if now == last or time.monotonic() >= deadline:
            return
        last = now


def watch(
    paths: Sequence[str] | None,
    settings: Settings,
    *,
    report: Callable[[Batch], None],
    stop: threading.Event | None = None,
    embedder: Embedder | None = None,
) -> None:
    """Index ``paths`` (None: the index's roots) now and again whenever files under them
    change, until ``stop`` is set (or KeyboardInterrupt). ``report`` gets every batch."""
    import watchfiles

    cfg = settings.watch
    stop = stop or threading.Event()
    targets = list(paths) if paths else None
    index_dir = settings.index_dir.resolve()
    number = 0

    def run(changed: int) -> None:
        nonlocal number, embedder
        number += 1
        try:
            if embedder is None:
                embedder = load_embedder(settings)
            summary = index_paths(targets, settings, embedder=embedder)
        except PolyfindError as exc:
            report(Batch(number, None, str(exc), changed))
            return
        report(Batch(number, summary, None, changed))

    roots = watched_roots(targets, settings)
    if not roots:  # nothing exists to watch: the one-line error of `index`
        index_paths(targets, settings, embedder=embedder)
        raise InputMissingError("nothing to watch: none of the paths exists")
    embedder = embedder or load_embedder(settings)
    folders = sorted({r if r.is_dir() else r.parent for r in roots})
    log.info("watching %s", ", ".join(map(str, folders)))
    first = True
    for changes in watchfiles.watch(
        *folders,
        stop_event=stop,
        debounce=cfg.debounce_ms,
        step=cfg.step_ms,
        rust_timeout=cfg.idle_ms,
        yield_on_timeout=True,
        raise_interrupt=True,
    ):
        if first:
            # The first run, once the watcher is listening (events during it come next):
            # what changed while nothing watched. An error here ends the watch.
            first = False
            number += 1
            report(Batch(number, index_paths(targets, settings, embedder=embedder)))
            continue
        changed = {Path(p) for _, p in changes}
        changed = {p for p in changed if relevant(p, roots, index_dir)}
        if not changed:
            continue
        wait_until_settled(changed, cfg.settle_s, cfg.max_settle_s, stop)
        if stop.is_set():
            break
        run(len(changed))


class Watcher:
    """``watch`` on a background thread, for a program that does something else meanwhile
    (``polyfind serve --watch``): ``start()``, then ``stop()`` (it finishes the batch under
    way, or is left to the crash guarantees after ``timeout``). ``report`` gets every batch,
    on the watcher's thread; an error that ends the watch (nothing to watch) is reported as
    a batch with ``error`` and kept in ``error``."""

    def __init__(
        self,
        paths: Sequence[str] | None,
        settings: Settings,
        *,
        report: Callable[[Batch], None],
        embedder: Embedder | None = None,
    ) -> None:
        self.paths = paths
        self.settings = settings
        self.embedder = embedder
        self.batches = 0
        self.error: str | None = None
        self._report = report
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="polyfind-watch", daemon=True)

    def _seen(self, batch: Batch) -> None:
        self.batches += 1
        self._report(batch)

    def _run(self) -> None:
        try:
            watch(
                self.paths,
                self.settings,
                report=self._seen,
                stop=self._stop,
                embedder=self.embedder,
            )
        except PolyfindError as exc:
            self.error = str(exc)
            self._report(Batch(self.batches + 1, None, self.error))
        except Exception as exc:  # the server goes on answering; the watch is over
            log.exception("the watcher stopped")
            self.error = f"the watcher stopped ({type(exc).__name__}: {exc})"
            self._report(Batch(self.batches + 1, None, self.error))

    @property
    def running(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> Watcher:
        self._thread.start()
        return self

    def stop(self, timeout: float = 30.0) -> bool:
        """Ask the watcher to stop and wait up to ``timeout`` s; False if it is still busy."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout)
        return not self._thread.is_alive()
