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
