"""The resident searcher (``polyfind.resident``): `polyfind search` through the console script
is answered by a process that keeps the index and the query encoder loaded, with the output,
messages and exit status of a search run in its own process, and what it answers follows
the index as it changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from polyfind import resident
from polyfind.settings import resolve

CONSOLE = str(Path(sys.executable).with_name("polyfind"))

_PROBE = """
import atexit, json, sys
def report():
    sys.stderr.write("\\nLOADED " + json.dumps(sorted(m for m in ("numpy", "polyfind.search")
                                                        if m in sys.modules)) + "\\n")
atexit.register(report)
sys.argv = ["polyfind", *{args}]
from polyfind.quick import run
run()
"""


class Run:
    def __init__(self, proc: subprocess.CompletedProcess[str], loaded: list[str]) -> None:
        self.returncode = proc.returncode
        self.stdout = proc.stdout
        self.stderr = proc.stderr
        self.here = "polyfind.search" in loaded
        """Whether the search ran in the command's own process (not the resident's)."""


def _polyfind(args: list[str], env: dict[str, str], cwd: Path | None = None) -> Run:
    """The console script's way in (``quick.run``) in a child process, and where it searched."""
    proc = subprocess.run(
        [sys.executable, "-c", _PROBE.format(args=args)],
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=env,
        cwd=cwd,
        timeout=300,
    )
    head, _, tail = proc.stderr.rpartition("\nLOADED ")
    proc.stderr = head
    return Run(proc, json.loads(tail))


@pytest.fixture
def run_dir():
    folder = Path(tempfile.mkdtemp(prefix="pf-"))  # short: a socket's path is limited
    yield folder
    resident.stop_all(folder)
    shutil.rmtree(folder, ignore_errors=True)


def _envs(run_dir: Path, **extra: str) -> tuple[dict[str, str], dict[str, str]]:
    """(the default environment with its own resident folder, the same with
    POLYFIND_RESIDENT=0)."""
    env = {**os.environ, "POLYFIND_RUN_DIR": str(run_dir), **extra}
    env.pop("POLYFIND_RESIDENT", None)
    return env, {**env, "POLYFIND_RESIDENT": "0"}


def _wait_for_resident(run_dir: Path, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not list(run_dir.glob("*.sock")):
        assert time.monotonic() < deadline, "no resident searcher started"
        time.sleep(0.1)


def _deleted_files_held(run_dir: Path, index: Path) -> list[str]:
    """Files of ``index`` the resident searcher holds open although they were deleted."""
    pid = int(next(run_dir.glob("*.lock")).read_text().split()[0])
    held = [
        line.split(None, 5)[-1]
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines()
        if str(index) in line and line.endswith("(deleted)")
    ]  # memory-mapped (the vectors)
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith(str(index)) and target.endswith("(deleted)"):
            held.append(target)
    return held


def _same(run: Run, own: Run) -> None:
    assert (run.returncode, run.stdout, run.stderr) == (own.returncode, own.stdout, own.stderr)


def test_searches_are_answered_by_the_resident_as_by_their_own_process(
    corpus_index, run_dir: Path
) -> None:
    """On the corpus: the first search runs in its own process and starts the resident
    searcher; the next ones (three languages, JSON and the table, a filter, an error) are
    answered by it, byte for byte as their own process answers them."""
    settings, _ = corpus_index
    index = str(settings.index_dir)
    env, own_env = _envs(run_dir, COLUMNS="110")
    first = _polyfind(["search", "semiconductor supply chain", "--index", index, "--json"], env)
    assert first.returncode == 0 and first.here, first.stderr
    _wait_for_resident(run_dir)
    cases = [
        ["search", "semiconductor supply chain", "--index", index, "--json", "-k", "5"],
        ["search", "반도체 공급망 협력", "--index", index, "--json"],
        ["search", "半導体のサプライチェーン", "--index", index, "--json", "--lang", "ko"],
        ["search", "量子技術の協力", "--index", index],  # the table, as wide as COLUMNS
        ["search", "battery", "--index", index, "--lang", "xx"],  # a usage error: exit 1
        ["search", "battery", "--index", str(run_dir / "none"), "--json"],  # no index
    ]
    for args in cases:
        run, own = _polyfind(args, env), _polyfind(args, own_env)
        assert not run.here and own.here, args
        _same(run, own)
    assert json.loads(_polyfind(cases[0], env).stdout)[0]["rank"] == 1


def test_the_resident_follows_the_index(tmp_path: Path, run_dir: Path) -> None:
    """A report indexed after the resident searcher opened the index is found by the next
    search, and a new index made at the same path replaces the old one."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "fusion.txt").write_text(
        "The fusion reactor reached a plasma temperature of 100 million degrees.\n"
    )
    index = tmp_path / "index"
    env, own_env = _envs(run_dir)

    def index_now(*paths: Path) -> None:
        proc = subprocess.run(
            [CONSOLE, "index", *map(str, paths), "--index", str(index)],
            capture_output=True,
            text=True,
            env=own_env,
        )
        assert proc.returncode == 0, proc.stderr

    index_now(docs)
    args = ["search", "ocean research vessel", "--index", str(index), "--json"]
    assert _polyfind(args, env).here
    _wait_for_resident(run_dir)
    before = _polyfind(args, env)
    assert not before.here and before.returncode == 0
    assert {h["source"] for h in json.loads(before.stdout)} == {str(docs / "fusion.txt")}

    (docs / "ocean.txt").write_text("해양 연구선이 남극 바다의 수온을 측정했다.\n")
    index_now(docs)
    after, own = _polyfind(args, env), _polyfind(args, own_env)
    assert not after.here
    _same(after, own)
    assert str(docs / "ocean.txt") in {h["source"] for h in json.loads(after.stdout)}

    shutil.rmtree(index)
    deadline = time.monotonic() + 30  # the resident looks every 5 s while idle
    while _deleted_files_held(run_dir, index):
        assert time.monotonic() < deadline, "the resident keeps the deleted index open"
        time.sleep(0.5)
    other = tmp_path / "other"
    other.mkdir()
    (other / "moon.txt").write_text("月面基地の建設計画が発表された。\n")
    index_now(other)
    replaced, own = _polyfind(args, env), _polyfind(args, own_env)
    assert not replaced.here
    _same(replaced, own)
    assert {h["source"] for h in json.loads(replaced.stdout)} == {str(other / "moon.txt")}


def test_the_resident_leaves_when_idle_and_can_be_turned_off(tmp_path: Path, run_dir: Path) -> None:
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("A short report about rice harvests in 2024.\n")
    index = tmp_path / "index"
    env, own_env = _envs(run_dir, POLYFIND_RESIDENT_IDLE="2")
    proc = subprocess.run(
        [CONSOLE, "index", str(docs), "--index", str(index)], capture_output=True, env=own_env
    )
    assert proc.returncode == 0
    args = ["search", "rice", "--index", str(index), "--json"]
    assert _polyfind(args, own_env).returncode == 0
    time.sleep(1.0)
    assert not list(run_dir.iterdir()), "POLYFIND_RESIDENT=0 started a resident searcher"
    assert _polyfind(args, env).here
    _wait_for_resident(run_dir)
    deadline = time.monotonic() + 60
    while list(run_dir.glob("*.sock")):  # loading, then 2 s without a search
        assert time.monotonic() < deadline, "the resident searcher did not leave when idle"
        time.sleep(0.2)
    assert _polyfind(args, env).here  # and the next search runs in its own process


def test_a_folder_open_to_others_is_not_used(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    folder.mkdir(mode=0o700)
    assert resident.place(folder, "k") is not None
    folder.chmod(0o777)
    assert resident.place(folder, "k") is None
    assert resident.place(tmp_path / ("x" * 120), "k", make=True) is None  # path too long


@pytest.mark.parametrize(
    "env",
    [
        {},
        {"POLYFIND_RUN_DIR": "~/run-here"},
        {"XDG_RUNTIME_DIR": "/run/user/1000"},
        {"XDG_RUNTIME_DIR": "/run/user/1000", "POLYFIND_RUN_DIR": "/tmp/r"},
        {"POLYFIND_CACHE": "/data/cache"},
        {"XDG_CACHE_HOME": "/data/xdg"},
        {"XDG_CACHE_HOME": "/data/xdg", "POLYFIND_CACHE": "/data/cache", "POLYFIND_RUN_DIR": " "},
    ],
)
def test_the_command_finds_the_folder_the_settings_name(env: dict[str, str]) -> None:
    """A search finds the resident's folder without loading the settings: the same one."""
    assert resident._env_run_dir(env) == resident.run_dir(resolve(env=env))


def test_the_key_follows_what_shapes_a_search() -> None:
    base = {"HOME": "/root", "PATH": "/usr/bin"}
    assert resident.key(base) == resident.key({**base, "PATH": "/bin", "COLUMNS": "80"})
    for changed in ({"POLYFIND_MODEL": "x"}, {"OMP_NUM_THREADS": "1"}, {"HOME": "/home/a"}):
        assert resident.key({**base, **changed}) != resident.key(base)
