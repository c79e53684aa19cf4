from __future__ import annotations

from pathlib import Path

from ..errors import LoadError
from ..records import Document


def load_docx(path: Path, source: str) -> Document:
    raise LoadError(f"{source}: not yet")


def load_hwpx(path: Path, source: str) -> Document:
    raise LoadError(f"{source}: not yet")
