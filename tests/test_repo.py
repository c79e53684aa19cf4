"""The repository keeps its promises to readers: files named in messages and docs exist."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: A repository file named in code or messages ("docs/model.md", "BENCHMARKS.md").
_NAMED = re.compile(r"(?<![/.\w])((?:docs/)?[A-Za-z_][\w-]*\.md)\b")


def test_every_markdown_file_named_in_the_code_exists() -> None:
    named: dict[str, list[str]] = {}
    for f in sorted((ROOT / "src" / "polyfind").rglob("*.py")):
        for m in _NAMED.finditer(f.read_text(encoding="utf-8")):
            named.setdefault(m.group(1), []).append(f.name)
    assert "docs/model.md" in named
    missing = {name: files for name, files in named.items() if not (ROOT / name).exists()}
    assert not missing, missing


def test_benchmarks_md_tables_are_the_rendering_of_the_committed_results() -> None:
    """Every table of BENCHMARKS.md is generated from benchmarks/*.json (with the command and
    date that measured it): a number edited by hand fails here. scripts/render_benchmarks.py
    rewrites the tables."""
    from polyfind.bench.render import block_names, load_results, render, stale_blocks
    from polyfind.bench.tables import BLOCKS

    text = (ROOT / "BENCHMARKS.md").read_text(encoding="utf-8")
    results = load_results(ROOT / "benchmarks")
    assert stale_blocks(text, results) == [], "run scripts/render_benchmarks.py"
    assert render(text, results) == text
    assert sorted(block_names(text)) == sorted(BLOCKS), "each renderer has one block"
    for name, data in results.items():
        assert {"command", "date"} <= set(data), f"benchmarks/{name}.json: how was it measured?"
    # no table outside the generated blocks
    outside = re.sub(r"<!-- begin: ([\w.-]+) -->.*?<!-- end: \1 -->", "", text, flags=re.S)
    assert not re.search(r"^\|.*\|$", outside, re.M)
