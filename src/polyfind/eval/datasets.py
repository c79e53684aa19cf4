"""Evaluation inputs: BEIR-layout dataset folders and page-level question files.

A BEIR dataset folder holds ``corpus.jsonl`` (``_id``, ``title``, ``text``, optional
``metadata.lang``), ``queries.jsonl`` (``_id``, ``text``, optional ``metadata.lang``) and
``qrels/test.tsv`` (``query-id``, ``corpus-id``, ``score``, with a header line).

A question file (``*.jsonl``, like ``../shared/reports-dev/questions.jsonl`` and
``bench/corpus-questions/questions.jsonl``) holds one question per line: ``id``, ``q`` (the
question), ``lang`` (its language), ``expect`` (substrings of the file name of the document
that answers it; any one of them identifies it) and ``page`` (the 1-based PDF page that
answers it, or null where the question is about a whole document or one without pages).
Other fields (``answer``, ``note``) are kept for reading, not scored.
"""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import PolyfindError

__all__ = [
    "Dataset",
    "DatasetError",
    "Passage",
    "Query",
    "Question",
    "load_dataset",
    "load_questions",
]


class DatasetError(PolyfindError):
    """A dataset folder or question file is missing or holds malformed lines."""


@dataclass(frozen=True)
class Query:
    id: str
    text: str
    lang: str | None


@dataclass(frozen=True)
class Passage:
    id: str
    title: str
    text: str
    lang: str | None


@dataclass
class Dataset:
    name: str
    path: Path
    passages: list[Passage]
    queries: list[Query]
    qrels: dict[str, dict[str, int]]
    """query id -> passage id -> graded relevance (> 0 relevant)."""

    def judged_queries(self) -> list[Query]:
        """Queries with at least one relevant passage in the corpus, in file order."""
        ids = {p.id for p in self.passages}
        return [
            q
            for q in self.queries
            if any(s > 0 and pid in ids for pid, s in self.qrels.get(q.id, {}).items())
        ]

    def sample(self, max_queries: int | None, seed: int = 0) -> list[Query]:
        """``max_queries`` judged queries drawn with ``seed`` (all when None or 0), in file
        order."""
        judged = self.judged_queries()
        if not max_queries or max_queries >= len(judged):
            return judged
        picked = set(random.Random(seed).sample(range(len(judged)), max_queries))
        return [q for i, q in enumerate(judged) if i in picked]


def _json_lines(path: Path, what: str) -> Iterator[tuple[int, dict[str, Any]]]:
    if not path.is_file():
        raise DatasetError(f"{path} is missing; {what} needs it")
    with path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DatasetError(f"{path}:{n}: not a JSON line ({exc.msg})") from exc
            if not isinstance(row, dict):
                raise DatasetError(f"{path}:{n}: a line must be a JSON object")
            yield n, row


def _jsonl(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    for n, row in _json_lines(path, "a BEIR dataset folder"):
        if "_id" not in row:
            raise DatasetError(f"{path}:{n}: a line needs an '_id'")
        yield n, row


def _lang(row: dict[str, Any]) -> str | None:
    meta = row.get("metadata")
    if isinstance(meta, dict) and isinstance(meta.get("lang"), str):
        return str(meta["lang"])
    return None


def load_dataset(path: str | Path) -> Dataset:
    """Read a BEIR-layout folder (see the module docstring)."""
    folder = Path(path)
    if not folder.is_dir():
        raise DatasetError(f"{folder} is not a folder; give a BEIR dataset folder")
    passages = [
        Passage(str(r["_id"]), str(r.get("title") or ""), str(r.get("text") or ""), _lang(r))
        for _, r in _jsonl(folder / "corpus.jsonl")
    ]
    queries = [
        Query(str(r["_id"]), str(r.get("text") or ""), _lang(r))
        for _, r in _jsonl(folder / "queries.jsonl")
    ]
    qrels_path = folder / "qrels" / "test.tsv"
    if not qrels_path.is_file():
        raise DatasetError(f"{qrels_path} is missing; a BEIR dataset folder needs it")
    qrels: dict[str, dict[str, int]] = {}
    with qrels_path.open(encoding="utf-8") as fh:
        for n, line in enumerate(fh, 1):
            parts = line.rstrip("\n").split("\t")
            if n == 1 and parts[0] in ("query-id", "query_id", "qid"):
                continue
            if not line.strip():
                continue
            if len(parts) < 2:
                raise DatasetError(f"{qrels_path}:{n}: expected query-id, corpus-id, score")
            try:
                score = int(float(parts[2])) if len(parts) > 2 else 1
            except ValueError as exc:
                raise DatasetError(f"{qrels_path}:{n}: score {parts[2]!r} is not a number") from exc
            qrels.setdefault(parts[0], {})[parts[1]] = score
    if not passages:
        raise DatasetError(f"{folder / 'corpus.jsonl'} holds no passage")
    name = folder.resolve().name
    return Dataset(name, folder, passages, queries, qrels)


# ---------------------------------------------------------------------------- question files


@dataclass(frozen=True)
class Question:
    """One page-level question (see the module docstring)."""

    id: str
    text: str
    lang: str
    expect: tuple[str, ...]
    """File-name substrings; a source whose file name contains any of them is the document."""
    page: int | None
    """1-based PDF page that answers the question; None: any page of the document."""

    def is_document(self, source: str) -> bool:
        """Whether ``source`` (a hit's path) is the expected document, by its file name."""
        name = Path(source).name
        return any(s in name for s in self.expect)


def load_questions(path: str | Path) -> list[Question]:
    """Read a question file (see the module docstring); errors name the file and line."""
    file = Path(path)
    if file.is_dir():
        raise DatasetError(f"{file} is a folder; give a question file (.jsonl)")
    if not file.is_file():
        raise DatasetError(f"{file} does not exist; give a question file (.jsonl)")
    questions: list[Question] = []
    seen: set[str] = set()
    for n, row in _json_lines(file, "a question file"):
        where = f"{file}:{n}"
        for key in ("id", "q", "lang", "expect"):
            if key not in row:
                raise DatasetError(f"{where}: a question needs {key!r} (id, q, lang, expect, page)")
        qid, text, lang, expect = row["id"], row["q"], row["lang"], row["expect"]
        if isinstance(expect, str):
            expect = [expect]
        if (
            not isinstance(expect, list)
            or not expect
            or not all(isinstance(s, str) and s for s in expect)
        ):
            raise DatasetError(f"{where}: 'expect' must be a list of file-name substrings")
        if not isinstance(text, str) or not text.strip():
            raise DatasetError(f"{where}: 'q' must be a non-empty string")
        if not isinstance(lang, str) or not lang:
            raise DatasetError(f"{where}: 'lang' must be a language code such as ko, ja, en")
        page = row.get("page")
        if page is not None and (isinstance(page, bool) or not isinstance(page, int) or page < 1):
            raise DatasetError(f"{where}: 'page' must be a 1-based page number or null")
        if str(qid) in seen:
            raise DatasetError(f"{where}: id {qid!r} appears twice")
        seen.add(str(qid))
        questions.append(Question(str(qid), text, lang, tuple(expect), page))
    if not questions:
        raise DatasetError(f"{file} holds no question")
    return questions
