"""Citations: page-level questions about real reports, pinned pages, chunk sizes.

The question metrics (document@5, page@1, page@5, MRR@10) are ``polyfind.eval``'s, the
pinned-page rule ``polyfind.eval.pages``'; this module only runs them and keeps the numbers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..eval import QuestionReport, load_questions, run_questions
from ..eval.pages import check_page, load_pinned
from ..settings import Settings

if TYPE_CHECKING:
    from ..embedding import Embedder

#: Settings changed by ``variants``: without the language projection, without the
#: per-document limit, without either.
VARIANTS: dict[str, dict[str, Any]] = {
    "default": {},
    "no language projection": {"language_projection": False},
    "no per-document limit": {"max_per_doc": 0},
    "neither": {"language_projection": False, "max_per_doc": 0},
}


def summary(report: QuestionReport) -> dict[str, Any]:
    """Overall and per-language counts of a question run (no per-question details)."""
    data = report.overall.to_json()
    data["by_lang"] = {lang: s.to_json() for lang, s in report.by_lang().items()}
    data["mode"] = report.mode
    return data


def ask(
    questions_file: Path, settings: Settings, modes: Sequence[str | None] = (None,)
) -> dict[str, Any]:
    """Each question of ``questions_file`` asked of ``settings.index_dir`` in each mode
    (None: the settings' search mode): mode -> ``summary``."""
    questions = load_questions(questions_file)
    out = {}
    for mode in modes:
        report = run_questions(questions, settings, mode=mode)
        out[report.mode] = summary(report)
    return out


def variants(
    questions_file: Path, settings: Settings, changes: Mapping[str, dict[str, Any]] = VARIANTS
) -> dict[str, Any]:
    """The questions with each variant of the search settings: name -> ``summary``."""
    questions = load_questions(questions_file)
    return {
        name: summary(run_questions(questions, settings.with_(**change)))
        for name, change in changes.items()
    }


def chunk_sweep(
    corpus: Path,
    questions_file: Path,
    sizes: Sequence[tuple[int, int]],
    work: Path,
    modes: Sequence[str] = ("hybrid", "dense"),
    embedder: Embedder | None = None,
    settings: Settings | None = None,
) -> list[dict[str, Any]]:
    """``corpus`` indexed with each (tokens, overlap) into ``work/<tokens>-<overlap>``
    (reused when there), then the questions in each mode."""
    from .. import index_paths

    base = settings or Settings()
    rows = []
    for tokens, overlap in sizes:
        st = base.with_(
            index_dir=work / f"{tokens}-{overlap}", chunk_tokens=tokens, chunk_overlap=overlap
        )
        indexed = index_paths([str(corpus)], st, embedder=embedder)
        rows.append(
            {
                "tokens": tokens,
                "overlap": overlap,
                "chunks": indexed.chunks_total,
                "modes": ask(questions_file, st, modes),
            }
        )
    return rows


def pinned_pages(folder: Path) -> dict[str, Any]:
    """Every pinned page of ``folder`` read by ``polyfind.loading.load``: excerpts found (in
    order or not), forbidden text present, per page and in all."""
    from ..loading import load

    pages: list[dict[str, Any]] = []
    for pinned in load_pinned(folder):
        doc = load(pinned.pdf, pinned.pdf.name)
        text = next((p.text for p in doc.pages if p.number == pinned.page), "")
        result = check_page(pinned, text)
        pages.append(
            {
                "page": pinned.name,
                "excerpts": len(pinned.excerpts),
                "found": result.found,
                "in_order": result.in_order,
                "missing": list(result.missing),
                "forbidden": len(pinned.forbidden),
                "present": list(result.present),
            }
        )
    return {
        "excerpts": sum(p["excerpts"] for p in pages),
        "found": sum(p["found"] for p in pages),
        "in_order": all(p["in_order"] for p in pages),
        "forbidden": sum(p["forbidden"] for p in pages),
        "present": sum(len(p["present"]) for p in pages),
        "pages": pages,
    }
