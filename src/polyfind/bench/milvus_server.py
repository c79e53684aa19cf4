"""A real Milvus server for the tests and `make bench-scale`: milvus-lite's engine serving
gRPC on 127.0.0.1.

Why milvus-lite 2.5.1 (checked here on 2026-12-01 with `pip index versions`): it ships the
C++ Milvus engine as a binary (``milvus_lite/lib/milvus``) that pymilvus 2.5 normally starts
on a unix socket; given ``HOST:PORT`` instead it serves plain gRPC on that address, so the
tests talk to it exactly as to a standalone server, over TCP, through ``milvus://``. It
answers BM25 full-text search on a VARCHAR field analysed with ``{"tokenizer":
"whitespace"}`` (what polyfind's pre-analysed terms need) and offers FLAT and IVF_FLAT vector
indexes (not HNSW: "local mode only support FLAT IVF_FLAT AUTOINDEX"). milvus-lite 3.x is a
pure-Python reimplementation whose analysers we saw were only ``standard`` and ``jieba``;
the ``milvus`` 2.3 server package has neither BM25 nor sparse vectors. No database other
than ``default`` exists in milvus-lite (``list_databases`` is unimplemented), so the tests
use ``milvus://127.0.0.1:PORT``.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

REASON = "needs milvus-lite and pymilvus (pip install 'polyfind[scale]')"


def available() -> bool:
    try:
        import milvus_lite  # noqa: F401
        import pymilvus  # noqa: F401
    except ImportError:
        return False
    return True


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def milvus_server(data_dir: Path) -> Iterator[str]:
    """A Milvus server on a free port of 127.0.0.1 keeping its data in ``data_dir``; yields
    its ``milvus://`` URI and stops it (SIGTERM, then SIGKILL) afterwards."""
    with milvus_process(data_dir) as (uri, _):
        yield uri


@contextmanager
def milvus_process(data_dir: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """``milvus_server``, yielding the server's process too (for its memory)."""
    import milvus_lite
    from pymilvus import MilvusClient

    from ..milvus import _quiet_pymilvus

    _quiet_pymilvus()  # its ERROR line for each try while the server starts

    bin_dir = Path(milvus_lite.__file__).parent / "lib"
    port = free_port()
    env = dict(os.environ, LD_LIBRARY_PATH=str(bin_dir))
    data_dir.mkdir(parents=True, exist_ok=True)
    log = open(data_dir / "server.log", "wb")  # noqa: SIM115 (closed below)
    proc = subprocess.Popen(
        [str(bin_dir / "milvus"), str(data_dir / "milvus.db"), f"127.0.0.1:{port}", "ERROR"],
        env=env,
        cwd=data_dir,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"milvus exited with {proc.returncode}; see {log.name}")
            try:
                MilvusClient(uri=f"http://127.0.0.1:{port}", timeout=2).close()
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.3)
        yield f"milvus://127.0.0.1:{port}", proc
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        log.close()


# -- a standalone Milvus server, for `make bench-scale` ------------------------------------------
#: The standalone server: PyPI's ``milvus`` package (2.3.5, the newest there, checked on
#: 2026-12-02 with `pip index versions milvus`) ships Milvus's own server binary with an
#: embedded etcd and local storage. Unlike milvus-lite's engine, it builds a vector index on
#: each sealed segment and applies the search's nprobe (IVF_FLAT) or ef (HNSW). It predates
#: Milvus's BM25 function, so polyfind's ``--store milvus://`` cannot run on it (the tests use
#: milvus-lite); `make bench-scale` measures its vector index alone.
STANDALONE_REASON = (
    "needs PyPI's milvus server package (pip install 'polyfind[scale]'), and root for a "
    "network namespace of its own (unshare, ip)"
)


def standalone_unavailable() -> str | None:
    """Why the standalone server cannot run here, or None if it can."""
    if any(importlib.util.find_spec(m) is None for m in ("milvus", "pymilvus")):
        return STANDALONE_REASON
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return STANDALONE_REASON
    return None


def in_private_network(cmd: list[str]) -> list[str]:
    """``cmd`` in a network namespace of its own whose only interface is loopback (brought
    up first). The standalone server listens on every interface it sees; there it sees only
    127.0.0.1, and only processes in that namespace (``cmd`` and its children) reach it."""
    return ["unshare", "--net", "--", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *cmd]


def _only_loopback() -> bool:
    return [name for _, name in socket.if_nameindex()] == ["lo"]


@contextmanager
def milvus_standalone(
    data_dir: Path, *, authorization: bool = False, stop_wait: float = 60.0
) -> Iterator[tuple[str, int]]:
    """A standalone Milvus server keeping its data in ``data_dir``, started inside a private
    network namespace (``in_private_network``; refused anywhere else); yields its
    ``milvus://`` URI and process id, and stops it (SIGTERM, then SIGKILL after
    ``stop_wait`` seconds). ``authorization``: the server asks for a user and password (its
    own default user, root with password Milvus)."""
    from milvus import MilvusServer

    if not _only_loopback():
        raise RuntimeError(
            "the standalone Milvus server listens on every interface: start it only inside "
            "a network namespace of its own (in_private_network)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    server = MilvusServer()
    server.set_base_dir(str(data_dir))
    server.listen_port = free_port()
    if authorization:
        server.config.set("authorization_enabled", True)
    server.start()  # waits until it answers
    proc = server.server_proc
    try:
        yield f"milvus://127.0.0.1:{server.listen_port}", proc.pid
    finally:
        proc.terminate()
        try:
            proc.wait(stop_wait)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)
        server.stop()
