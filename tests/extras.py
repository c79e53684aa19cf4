"""Optional system packages and Python extras some tests need, checked in one place.

A test (or one case of a parametrized test) that needs one is marked
``@pytest.mark.extra("tesseract")``; conftest.py skips it with the reason below where the extra
is missing, so ``make test`` passes on a machine with nothing but Python and no root. With
``POLYFIND_REQUIRE_EXTRAS=1`` (``.ci/run`` sets it after installing them) a missing extra fails
the test instead: CI runs everything.
"""

from __future__ import annotations

import functools
import importlib.util
import os
import shutil
import subprocess
from pathlib import Path

REQUIRE_ENV = "POLYFIND_REQUIRE_EXTRAS"
#: The languages ``make install-ocr`` installs and the OCR tests read.
TESSERACT_LANGS = ("kor", "jpn", "eng")


@functools.cache
def _missing_tesseract() -> str | None:
    if importlib.util.find_spec("pytesseract") is None:
        return "needs pytesseract (make install-ocr)"
    exe = shutil.which("tesseract")
    if exe is None:
        return "needs tesseract (make install-ocr installs tesseract-ocr)"
    out = subprocess.run([exe, "--list-langs"], capture_output=True, text=True, check=False)
    langs = set(out.stdout.split())
    missing = [lang for lang in TESSERACT_LANGS if lang not in langs]
    if missing:
        return f"needs tesseract languages {', '.join(missing)} (make install-ocr)"
    return None


def noto_cjk() -> Path | None:
    """The Noto Sans CJK collection (Japanese face 0, Korean face 1), where installed."""
    for base in (Path("/usr/share/fonts"), Path("/usr/local/share/fonts")):
        if base.is_dir():
            for found in sorted(base.glob("**/NotoSansCJK-Regular.tt[cf]")):
                return found
    return None


@functools.cache
def _missing_cjk_fonts() -> str | None:
    """pdfium needs a Japanese system font for PDFs that neither embed their Japanese fonts nor
    map them to Unicode; it finds one through fontconfig."""
    if shutil.which("fc-list"):
        out = subprocess.run(
            ["fc-list", ":lang=ja", "family"], capture_output=True, text=True, check=False
        )
        found = bool(out.stdout.strip())
    else:
        found = any(Path("/usr/share/fonts").glob("**/*CJK*"))
    return None if found else "needs a CJK system font (make install-ocr installs fonts-noto-cjk)"


def _missing_noto_cjk() -> str | None:
    if noto_cjk() is None:
        return "needs Noto Sans CJK to draw pages (make install-ocr installs fonts-noto-cjk)"
    return None


@functools.cache
def _missing_sudachi() -> str | None:
    for module in ("sudachipy", "sudachidict_core"):
        if importlib.util.find_spec(module) is None:
            return f"needs {module} (pip install -e '.[morph]')"
    return None


#: The browser the web page's tests drive (Debian's chromium, ``make install-browser``).
CHROMIUM = os.environ.get("POLYFIND_CHROMIUM", "/usr/bin/chromium")


@functools.cache
def _missing_browser() -> str | None:
    if importlib.util.find_spec("playwright") is None:
        return "needs playwright (make install-browser)"
    if not os.access(CHROMIUM, os.X_OK):
        return f"needs chromium at {CHROMIUM} (make install-browser installs Debian's chromium)"
    return None


@functools.cache
def _missing_dask() -> str | None:
    if importlib.util.find_spec("distributed") is None:
        return "needs dask's distributed (pip install -e '.[dask]')"
    return None


@functools.cache
def _missing_milvus() -> str | None:
    for module in ("pymilvus", "milvus_lite"):
        if importlib.util.find_spec(module) is None:
            return f"needs {module} (pip install -e '.[scale]')"
    return None


@functools.cache
def _missing_milvus_server() -> str | None:
    from polyfind.bench.milvus_server import standalone_unavailable

    return standalone_unavailable()


CHECKS = {
    "dask": _missing_dask,
    "milvus": _missing_milvus,
    "milvus-server": _missing_milvus_server,
    "browser": _missing_browser,
    "tesseract": _missing_tesseract,
    "cjk-fonts": _missing_cjk_fonts,
    "noto-cjk": _missing_noto_cjk,
    "sudachi": _missing_sudachi,
}


def missing(name: str) -> str | None:
    """Why the extra ``name`` is not usable here, or None when it is."""
    return CHECKS[name]()


def required() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip() not in ("", "0")
