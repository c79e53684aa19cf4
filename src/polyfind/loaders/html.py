from __future__ import annotations

from pathlib import Path

from ..errors import LoadError
from ..records import Document


def load_html(path: Path, source: str) -> Document:
    raise LoadError(f"{source}: not yet")
