"""The resident searcher: a process of the user's own that keeps indexes, the query encoder
and the query analysers loaded, so that `polyfind search` answers without loading them again.

A search command line pays, in a process of its own, for Python's numeric libraries, FAISS,
the query encoder and (for Korean and Japanese) Kiwi before it searches: hundreds of
milliseconds to seconds, for a search that takes tens. So:

- The console script's plain `search` (``quick.run``) first asks the resident process
  (``ask``). It hands over its standard streams (the file descriptors themselves, over a Unix
  socket), its working folder and its environment; the resident process runs the very
  function the command runs (``commands.search``) with them as its own, and sends back the
  exit status. What is printed, where, and the exit status are those of the command run in
  its own process (tests/test_resident.py compares them).
- When none answers, the command searches itself and then starts one (``start``), unless
  ``POLYFIND_RESIDENT=0``. It loads the index just searched, and the Korean and Japanese
  query analysers when the index holds those languages, then waits for searches; it exits
  after ``ResidentSettings.idle_s`` without one.
- One resident process per user and *key* (``key``): the interpreter, polyfind's own files
  and the environment variables that shape what a loaded library computes. Another version
  of polyfind, or other thread counts, start another process; the old one idles out.
- An index is reopened when it changed since it was opened (a new generation, or another
  database file at the same path), so a search sees what a new process would see. At most
  ``keep_indexes`` are kept open.
- The socket lives in a folder only its user may enter (``run_dir``); the process also
  checks the peer's user id. A folder that others can write to is not used.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import socket
import struct
import sys
import time
from collections import OrderedDict
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, cast

if TYPE_CHECKING:
    from .search import QueryEncoder, Searcher
    from .settings import Settings

#: Environment variables that shape what a loaded library does (threads, paths, offline
#: switches) or how polyfind runs: processes that differ in them do not share a resident.
KEY_ENV_PREFIXES = (
    "POLYFIND_",
    "PYTHON",
    "OMP_",
    "OPENBLAS_",
    "MKL_",
    "KMP_",
    "LD_",
    "OV_",
    "TORCH",
    "HF_",
    "TRANSFORMERS_",
    "SENTENCE_TRANSFORMERS_",
    "VIRTUAL_ENV",
)
KEY_ENV = ("HOME", "XDG_CACHE_HOME", "XDG_RUNTIME_DIR")
#: The byte the resident process sends when it takes a search (before it prints anything).
TAKEN = b"T"
#: A search waits this long for the resident process to take it (it may be answering
#: another, or still loading) before it runs in its own process.
TAKE_WAIT_S = 20.0
#: Longest path a Unix socket address may have here (108 bytes with the final NUL on Linux).
_SOCKET_PATH_MAX = 100
_HEADER = struct.Struct("!I")
_MAX_REQUEST = 1 << 22
_STREAMS = (0, 1, 2)
#: While idle, the resident process looks this often whether its socket is still there.
_LOOK_S = 5.0


class ResidentGone(Exception):
    """The resident process took a search and stopped before it finished answering."""


# -- where and which -----------------------------------------------------------------------------
def _code_stamp() -> list[tuple[str, int, int]]:
    """Every file of the polyfind package: an upgrade or an edit makes another key."""
    from .quick import file_stamps

    return file_stamps([Path(__file__).parent], recursive=True)


def key(env: Mapping[str, str] | None = None) -> str:
    """Which resident process may answer for a process with environment ``env`` (see the
    module's notes)."""
    env = os.environ if env is None else env
    shaping = sorted(
        (name, value)
        for name, value in env.items()
        if name in KEY_ENV or name.startswith(KEY_ENV_PREFIXES)
    )
    parts = [sys.executable, sys.version, shaping, _code_stamp()]
    return hashlib.sha256(repr(parts).encode("utf-8", "surrogateescape")).hexdigest()[:20]


def run_dir(settings: Settings) -> Path:
    """The folder of resident sockets: ``resident.run_dir``, else ``run`` in the cache."""
    return settings.resident.run_dir or settings.cache_dir / "run"


def _env_run_dir(env: Mapping[str, str]) -> Path:
    """``run_dir(settings.resolve(env=env))`` without loading the settings (a search answered
    by the resident process has no other use for them); tests/test_resident.py compares."""

    def given(name: str) -> Path | None:
        value = env.get(name, "").strip()
        return Path(value).expanduser() if value else None

    folder = given("POLYFIND_RUN_DIR")
    if folder is not None:
        return folder
    runtime = given("XDG_RUNTIME_DIR")
    if runtime is not None:
        return runtime / "polyfind"
    from .quick import cache_base

    return cache_base(env) / "run"


class Place(NamedTuple):
    """A resident process's socket and lock file (its pid inside)."""

    socket: Path
    lock: Path


def place(folder: Path, env_key: str, *, make: bool = False) -> Place | None:
    """Where the resident process of ``env_key`` listens in ``folder`` (made if ``make``);
    None when it cannot be used: not the user's own, open to others, or the path too long."""
    try:
        if make:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        st = folder.stat()
    except OSError:
        return None
    if st.st_uid != os.getuid() or st.st_mode & 0o077:
        return None
    sock = folder / f"{env_key}.sock"
    if len(os.fsencode(sock)) > _SOCKET_PATH_MAX:
        return None
    return Place(socket=sock, lock=folder / f"{env_key}.lock")


# -- the search command's side ------------------------------------------------------------------
def _resolved(params: dict[str, Any], env: Mapping[str, str]) -> Settings | None:
    from .errors import PolyfindError
    from .settings import resolve

    flags = {"index_dir": params["index_dir"], "model": params["model"] or None}
    try:
        return resolve(flags, env)
    except PolyfindError:
        return None  # the command reports it, as it always does


def _stream_info(stream: Any) -> dict[str, Any]:
    return {
        "encoding": getattr(stream, "encoding", None) or "utf-8",
        "errors": getattr(stream, "errors", None) or "strict",
        "line_buffering": bool(getattr(stream, "line_buffering", False)),
    }


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    payload = json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogateescape")
    data = _HEADER.pack(len(payload)) + payload
    sent = socket.send_fds(sock, [data], fds) if fds else sock.send(data)
    sock.sendall(data[sent:])


def _receive(sock: socket.socket, *, with_fds: bool) -> tuple[dict[str, Any], list[int]]:
    if with_fds:
        data, fds, _flags, _addr = socket.recv_fds(sock, 1 << 16, len(_STREAMS))
    else:
        data, fds = sock.recv(1 << 16), []
    while len(data) < _HEADER.size or len(data) < _HEADER.size + _HEADER.unpack_from(data)[0]:
        if len(data) >= _HEADER.size and _HEADER.unpack_from(data)[0] > _MAX_REQUEST:
            raise ValueError("request too long")
        more = sock.recv(1 << 16)
        if not more:
            raise ValueError("request cut short")
        data += more
    (length,) = _HEADER.unpack_from(data)
    body = data[_HEADER.size : _HEADER.size + length]
    return json.loads(body.decode("utf-8", "surrogateescape")), list(fds)


def ask(params: dict[str, Any], which: str) -> int | None:
    """Have the resident process of key ``which`` (``key()`` of this process's environment)
    run `polyfind search` with ``params`` (``quick.parse_search``'s) on this process's
    streams; its exit status, or None when no resident process took it (none runs for this
    key, it is off, or it stayed busy ``TAKE_WAIT_S``): then search here.
    (POLYFIND_RESIDENT=0 is part of the key, and no process is started for it.)"""
    where = place(_env_run_dir(os.environ), which)
    if where is None or not where.socket.exists():
        return None
    try:
        for fd in _STREAMS:
            os.fstat(fd)
    except OSError:
        return None  # a closed standard stream: the command deals with it itself
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.settimeout(TAKE_WAIT_S)
        try:
            sock.connect(str(where.socket))
            request = {
                "params": {
                    name: str(value) if isinstance(value, Path) else value
                    for name, value in params.items()
                },
                "cwd": os.getcwd(),
                "env": dict(os.environ),
                "streams": [_stream_info(sys.stdout), _stream_info(sys.stderr)],
            }
            sys.stdout.flush()
            sys.stderr.flush()
            _send(sock, request, list(_STREAMS))
            if sock.recv(1) != TAKEN:
                return None
        except OSError:
            return None  # no resident process, a stale socket, or it stayed busy
        sock.settimeout(None)
        reply = b""
        while chunk := sock.recv(4096):
            reply += chunk
        try:
            return int(json.loads(reply)["exit"])
        except (ValueError, KeyError, TypeError):
            raise ResidentGone from None
    except KeyboardInterrupt:
        sys.stderr.write("interrupted; the index keeps its last committed state\n")
        raise SystemExit(130) from None
    finally:
        sock.close()


def start(params: dict[str, Any], env: dict[str, str], which: str) -> None:
    """Start a resident process for key ``which`` (``key(env)``; ``env``: this process's
    environment as it started) unless it is off or cannot be placed, loading the index
    ``params`` searched. Returns at once."""
    settings = _resolved(params, env)
    if settings is None or not settings.resident.enabled:
        return
    if place(run_dir(settings), which, make=True) is None:
        return
    import subprocess

    command = [sys.executable, "-m", "polyfind.resident", "--cwd", os.getcwd()]
    if params["index_dir"] is not None:
        command += ["--index", str(params["index_dir"])]
    if params["model"]:
        command += ["--model", str(params["model"])]
    with contextlib.suppress(OSError):
        subprocess.Popen(
            command,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            cwd="/",
            env=env,
            start_new_session=True,
            close_fds=True,
        )


def stop(sock_path: Path, timeout_s: float = 10.0) -> bool:
    """Ask the resident process listening at ``sock_path`` to exit; whether it said it will."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    sock.settimeout(timeout_s)
    try:
        sock.connect(str(sock_path))
        _send(sock, {"stop": True})
        return sock.recv(1) == TAKEN
    except OSError:
        return False
    finally:
        sock.close()


def stop_all(folder: Path) -> int:
    """Stop every resident process with a socket in ``folder``; how many were asked."""
    stopped = 0
    for path in sorted(folder.glob("*.sock")):
        stopped += stop(path)
    return stopped


# -- the resident process -------------------------------------------------------------------------
class _Open(NamedTuple):
    searcher: Searcher
    identity: tuple[int, int] | None
    generation: int


def _identity(index_dir: Path) -> tuple[int, int] | None:
    """The database file's (device, inode): another file at the same path is another index."""
    from .store import DB_NAME

    try:
        st = os.stat(index_dir / DB_NAME)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class Searchers:
    """Open Searchers by settings, reopened when their index changed, the least recently
    used closed beyond ``keep``; query encoders shared by the indexes of one model."""

    def __init__(self, keep: int) -> None:
        self.keep = keep
        self._open: OrderedDict[tuple[Settings, str], _Open] = OrderedDict()
        self._encoders: dict[tuple[str, Path], QueryEncoder] = {}

    @contextlib.contextmanager
    def open(self, settings: Settings) -> Iterator[Searcher]:
        from .search import Searcher

        # Settings hold the index folder as given (messages name it so): with its absolute
        # path, for relative folders searched from other working folders.
        slot = (settings, os.path.abspath(settings.index_dir))
        entry = self._open.pop(slot, None)
        identity = _identity(settings.index_dir)
        if entry is not None and (
            entry.identity != identity or entry.searcher.store.generation != entry.generation
        ):
            entry.searcher.close()
            entry = None
        if entry is None:
            searcher = Searcher(settings)
            encoder = self._encoders.get((searcher.model_name, settings.cache_dir))
            if encoder is not None:
                searcher.use_encoder(encoder)
            entry = _Open(searcher, identity, searcher.store.generation)
        try:
            yield entry.searcher
        except BaseException:
            entry.searcher.close()
            raise
        loaded = entry.searcher.loaded_encoder
        if loaded is not None:
            self._encoders[(entry.searcher.model_name, settings.cache_dir)] = loaded
        self._open[slot] = entry
        while len(self._open) > self.keep:
            _, old = self._open.popitem(last=False)
            old.searcher.close()

    def prune(self) -> None:
        """Close the indexes whose database is gone or another file now (a deleted index's
        files then give their space back)."""
        for slot, entry in list(self._open.items()):
            if _identity(Path(slot[1])) != entry.identity:
                del self._open[slot]
                entry.searcher.close()

    def close(self) -> None:
        for entry in self._open.values():
            entry.searcher.close()
        self._open.clear()


class _Streams:
    """The client's standard streams as this process's own (file descriptors 0-2 and
    ``sys.stdin/stdout/stderr``) for one search, then /dev/null again."""

    def __init__(self, infos: list[dict[str, Any]]) -> None:
        self.fds: list[int] = []
        """Set once the search is taken (until then the caller owns ``fds``)."""
        self.infos = infos

    def __enter__(self) -> None:
        for target, fd in zip(_STREAMS, self.fds, strict=True):
            os.dup2(fd, target)
        self.release()
        out_info, err_info = self.infos
        sys.stdout = io.TextIOWrapper(
            io.FileIO(1, "w", closefd=False),
            encoding=out_info["encoding"],
            errors=out_info["errors"],
            line_buffering=out_info["line_buffering"],
            write_through=False,
        )
        sys.stderr = io.TextIOWrapper(
            io.FileIO(2, "w", closefd=False),
            encoding=err_info["encoding"],
            errors=err_info["errors"],
            line_buffering=True,
        )

    def release(self) -> None:
        """Close the received descriptors (once they are 0-2, or when never used)."""
        for fd in self.fds:
            os.close(fd)
        self.fds = []

    def __exit__(self, *exc: object) -> None:
        for stream in (sys.stdout, sys.stderr):
            with contextlib.suppress(OSError, ValueError):
                stream.flush()
        sys.stdout = sys.__stdout__
        sys.stderr = sys.__stderr__
        devnull = os.open(os.devnull, os.O_RDWR)
        for target in _STREAMS:
            os.dup2(devnull, target)
        os.close(devnull)


@contextlib.contextmanager
def _as_client(request: dict[str, Any]) -> Iterator[None]:
    """The client's environment and working folder for one search."""
    saved = dict(os.environ)
    os.environ.clear()
    os.environ.update(request["env"])
    try:
        os.chdir(request["cwd"])
        yield
    finally:
        os.environ.clear()
        os.environ.update(saved)
        os.chdir("/")


def _search(request: dict[str, Any], searchers: Searchers) -> int:
    """Run the command's search function as the client would have; its exit status."""
    import traceback
    import warnings

    from . import commands

    params = dict(request["params"])
    if params.get("index_dir") is not None:
        params["index_dir"] = Path(params["index_dir"])
    commands.err.cache_clear()  # a console is made for the client's stderr
    commands.configure_logging(False, again=True)
    saved_filters = list(warnings.filters)
    warnings.resetwarnings()  # a warning shown to an earlier client is shown again
    cast(list[Any], warnings.filters)[:] = saved_filters
    try:
        commands.search(**params, open_searcher=searchers.open)
    except SystemExit as exc:
        if exc.code is None or isinstance(exc.code, int):
            return exc.code or 0
        sys.stderr.write(f"{exc.code}\n")
        return 1
    except BrokenPipeError:  # `polyfind search ... | head`: as the command does, quietly
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 1)
        os.close(devnull)
        return 1
    except Exception:
        traceback.print_exc()
        return 1
    return 0


def _peer_uid(conn: socket.socket) -> int:
    creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
    return int(struct.unpack("3i", creds)[1])


def _answer(conn: socket.socket, searchers: Searchers) -> bool:
    """Answer one connection; False when asked to stop."""
    conn.settimeout(10.0)
    request, fds = _receive(conn, with_fds=True)
    streams = _Streams(request.get("streams", []))
    try:
        if _peer_uid(conn) != os.getuid():
            return True
        if request.get("stop"):
            conn.sendall(TAKEN)
            return False
        if len(fds) != len(_STREAMS) or len(streams.infos) != 2:
            return True
        conn.sendall(TAKEN)  # OSError: the client gave up waiting
        streams.fds, fds = fds, []
    finally:
        for fd in fds:
            os.close(fd)
    try:
        with _as_client(request), streams:
            code = _search(request, searchers)
    finally:
        streams.release()
    with contextlib.suppress(OSError):
        conn.sendall(json.dumps({"exit": code}).encode() + b"\n")
    return True


def _warm(searchers: Searchers, index: str | None, model: str | None, cwd: str) -> None:
    """Open the index the starting search used and load what its searches need."""
    from .search import warm_query_analysers
    from .settings import resolve

    with contextlib.suppress(Exception):  # a search that fails the same way says why
        os.chdir(cwd)
        settings = resolve({"index_dir": index, "model": model})
        with searchers.open(settings) as searcher:
            searcher.search("warm up", k=1)
            if {"ko", "ja"} & set(searcher.store.languages()):
                warm_query_analysers(settings)
    os.chdir("/")


def _still_ours(path: Path, inode: int) -> bool:
    """Whether ``path`` is still this process's socket (not removed with its folder)."""
    try:
        return os.stat(path).st_ino == inode
    except OSError:
        return False


def serve(index: str | None, model: str | None, cwd: str) -> None:
    """Listen for searches until ``idle_s`` pass without one (or another process of the same
    key listens already)."""
    import fcntl

    from .settings import resolve

    settings = resolve()
    where = place(run_dir(settings), key())  # made by ``start``; gone: not wanted any more
    if where is None:
        return
    # Searches only, as the search command's own process (quick.run): the same OpenBLAS.
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    lock = os.open(where.lock, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # another one runs
    os.ftruncate(lock, 0)
    os.write(lock, f"{os.getpid()}\n".encode())
    with contextlib.suppress(FileNotFoundError):
        where.socket.unlink()
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(str(where.socket))
    os.chmod(where.socket, 0o600)
    listener.listen(16)
    mine = os.stat(where.socket).st_ino
    searchers = Searchers(settings.resident.keep_indexes)
    try:
        _warm(searchers, index, model, cwd)
        listener.settimeout(min(_LOOK_S, settings.resident.idle_s))
        last = time.monotonic()
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                if time.monotonic() - last >= settings.resident.idle_s or not _still_ours(
                    where.socket, mine
                ):
                    break
                searchers.prune()
                continue
            last = time.monotonic()
            with conn:
                try:
                    if not _answer(conn, searchers):
                        break
                except (OSError, ValueError):
                    continue  # a client that went away or sent nonsense
    finally:
        with contextlib.suppress(OSError):
            if _still_ours(where.socket, mine):
                where.socket.unlink()
        listener.close()
        searchers.close()
        os.close(lock)


def main(argv: list[str] | None = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m polyfind.resident", description=__doc__)
    parser.add_argument("--cwd", default="/")
    parser.add_argument("--index")
    parser.add_argument("--model")
    args = parser.parse_args(argv)
    devnull = os.open(os.devnull, os.O_RDWR)
    for target in _STREAMS:
        os.dup2(devnull, target)
    os.close(devnull)
    serve(args.index, args.model, args.cwd)


if __name__ == "__main__":
    main()
