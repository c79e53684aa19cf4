"""BENCHMARKS.md's generated blocks, rendered from the JSON results in benchmarks/.

Every benchmark driver writes its numbers and how it got them (command, date, machine,
clock) to ``benchmarks/<name>.json`` (``write_result``). BENCHMARKS.md holds blocks

    <!-- begin: NAME -->
    ...
    <!-- end: NAME -->

whose contents are ``tables.BLOCKS[NAME]`` applied to those results. ``render`` rewrites every
block of a text; ``scripts/render_benchmarks.py`` applies it to BENCHMARKS.md and a test
checks that the committed file is its own rendering, so a number edited by hand fails.
"""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from ..errors import PolyfindError

Results = Mapping[str, Mapping[str, Any]]

_BLOCK = re.compile(
    r"(?P<begin><!-- begin: (?P<name>[\w.-]+) -->\n)(?P<body>.*?)(?P<end><!-- end: (?P=name) -->)",
    re.S,
)
_BEGIN = re.compile(r"<!-- begin: ([\w.-]+) -->")


class RenderError(PolyfindError):
    """A block without a renderer, a result file missing, or markers that do not pair."""


def load_results(folder: Path) -> dict[str, dict[str, Any]]:
    """Every ``<name>.json`` of ``folder``, by name."""
    return {
        p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("*.json"))
    }


def write_result(folder: Path, name: str, data: Mapping[str, Any]) -> Path:
    """Write one driver's results as ``folder/<name>.json`` (stable formatting)."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def git_commit(root: Path) -> str | None:
    """The short commit of the working tree at ``root``, with "+" when the code measured
    (src/, scripts/) has changes."""
    try:
        head = subprocess.run(
            ["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        dirty = subprocess.run(
            ["git", "-C", str(root), "status", "--porcelain", "--", "src", "scripts"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return None
    return head + ("+" if dirty else "")


def block_names(text: str) -> list[str]:
    return [m.group("name") for m in _BLOCK.finditer(text)]


def render_block(name: str, results: Results) -> str:
    """The body of block ``name`` (between its markers)."""
    from .tables import BLOCKS

    renderer = BLOCKS.get(name)
    if renderer is None:
        raise RenderError(f"BENCHMARKS.md block {name!r} has no renderer (polyfind.bench.tables)")
    try:
        lines = renderer(results)
    except KeyError as exc:
        raise RenderError(f"block {name!r}: result or field {exc} missing") from exc
    return "\n" + "\n".join(lines).strip("\n") + "\n\n"


def render(text: str, results: Results) -> str:
    """``text`` with every generated block rewritten from ``results``."""
    begun = _BEGIN.findall(text)
    paired = block_names(text)
    if begun != paired:
        unpaired = sorted(set(begun) - set(paired)) or begun
        raise RenderError(f"block markers do not pair: {', '.join(unpaired)}")
    return _BLOCK.sub(
        lambda m: m.group("begin") + render_block(m.group("name"), results) + m.group("end"), text
    )


def stale_blocks(text: str, results: Results) -> list[str]:
    """Names of the blocks of ``text`` that differ from their rendering."""
    return [
        m.group("name")
        for m in _BLOCK.finditer(text)
        if m.group("body") != render_block(m.group("name"), results)
    ]
