"""What an index holds, and what has changed on disk since it was built."""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path

from .discover import discover
from .settings import Settings
from .store import Store


@dataclass
class IndexStatus:
    index_dir: str
    documents: int
    chunks: int
    languages: dict[str, int]
    """Chunks per language code."""
    document_languages: dict[str, int]
    model: str | None
    dim: int | None
    size_bytes: int
    created_at: float | None
    updated_at: float | None
    chunk_tokens: int | None
    chunk_overlap: int | None
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    new: list[str] = field(default_factory=list)

    @property
    def changed(self) -> int:
        return len(self.modified) + len(self.deleted) + len(self.new)

    def to_json(self) -> dict[str, object]:
        data = asdict(self)
        data["changed"] = self.changed
        return data


def _float(value: str | None) -> float | None:
    return None if value is None else float(value)


def _int(value: str | None) -> int | None:
    return None if value is None else int(value)


def index_status(settings: Settings) -> IndexStatus:
    """Counts, model and size of the index, and the files changed since it was built."""
    index_dir = settings.index_dir
    store = Store.open(index_dir)
    try:
        meta = store.meta()
        docs = store.documents()
        status = IndexStatus(
            index_dir=str(index_dir),
            documents=len(docs),
            chunks=store.chunk_count(),
            languages=store.languages(),
            document_languages=store.document_languages(),
            model=meta.get("model"),
            dim=_int(meta.get("dim")),
            size_bytes=sum(p.stat().st_size for p in Path(index_dir).iterdir() if p.is_file()),
            created_at=_float(meta.get("created_at")),
            updated_at=_float(meta.get("updated_at")),
            chunk_tokens=_int(meta.get("chunk_tokens")),
            chunk_overlap=_int(meta.get("chunk_overlap")),
        )
    finally:
        store.close()
    known = {d.path for d in docs}
    for d in docs:
        p = Path(d.path)
        try:
            st = p.stat()
        except OSError:
            status.deleted.append(d.source)
            continue
        if st.st_size != d.size or st.st_mtime_ns != d.mtime_ns:
            status.modified.append(d.source)
    for root in sorted({d.root for d in docs}):
        if not Path(root).is_dir():
            continue
        for f in discover(root):
            if f.supported and str(f.path) not in known:
                status.new.append(os.path.relpath(f.path))
    return status
