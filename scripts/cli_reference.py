"""Write the command reference into README.md from the CLI's own help (``polyfind.clidoc``).

.venv/bin/python scripts/cli_reference.py          # rewrite README.md
.venv/bin/python scripts/cli_reference.py --check  # exit 1 if README.md is out of date
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyfind.clidoc import reference, splice  # noqa: E402


def main(argv: list[str]) -> int:
    readme = ROOT / "README.md"
    text = readme.read_text(encoding="utf-8")
    new = splice(text, reference())
    if "--check" in argv:
        if new != text:
            print("README.md: the command reference is out of date; run scripts/cli_reference.py")
            return 1
        return 0
    readme.write_text(new, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
