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

import os
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
