"""Turn a file into a Document (kept for ``from polyfind.loading import load``).

The loaders live in the ``polyfind.loaders`` package, one module per family of formats.
"""

from __future__ import annotations

from .loaders import decode_text, load

__all__ = ["decode_text", "load"]
