"""Real PDFs: the 57 third-party files in ../shared/pdfs and the corpus PDFs.

Every PDF ends loaded or refused with a one-line reason of the kind its manifest entry
predicts (encrypted, no text layer, garbage text layer); pages checked by hand read as
``tests/data/pdf-pages/*.txt`` says; one real ``index_paths`` run over a handful of them
shows the batch going through and the index answering. OCR is turned off here (it is tested
in ``test_loading_ocr.py``) so that outcomes do not depend on what is installed.
"""

from __future__ import annotations

import json
import re
import shutil
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

from polyfind.errors import EncryptedFileError, LoadError
from polyfind.loading import load as load_with
from polyfind.records import Document
from polyfind.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
PDFS = ROOT.parent / "shared" / "pdfs"
PAGES = Path(__file__).resolve().parent / "data" / "pdf-pages"
#: Added to the folder after the manifest was made (PROVENANCE.md, "Added").
BLUEPRINT = "en/us_ostp_2022-10_blueprint_ai_bill_of_rights_MODIFIED-COPY.pdf"

needs_pdfs = pytest.mark.skipif(not PDFS.is_dir(), reason="../shared/pdfs is not here")
#: PDFs that pdfium reads right only with a Japanese system font: vertical text in CID fonts
#: that are neither embedded nor mapped to Unicode (their pages checked by hand say
#: ``# needs: cjk-fonts``). The other PDFs with fonts not embedded read the same without one.
NEED_CJK_FONTS = {"ja/pdfminer.six__kampo.pdf", "ja/pdfminer.six__jo.pdf"}


#: OCR off, so that outcomes do not depend on what is installed.
NO_OCR = {"extraction.ocr.enabled": False}


def load(path: Path, source: str) -> Document:
    return load_with(path, source, Settings().with_(**NO_OCR))


# ------------------------------------------------------------------ expected outcomes


@dataclass(frozen=True)
class Expected:
    file: str
    outcome: str  # "text", "encrypted", "no-text", "garbage"
    pages: int | None
    first_text: str


def expectations() -> list[Expected]:
    """What each PDF should give, derived from manifest.json (and PROVENANCE.md for the
    file added later)."""
    if not PDFS.is_dir():
        return []
    manifest = json.loads((PDFS / "manifest.json").read_text(encoding="utf-8"))
    out = []
    for entry in manifest:
        note = entry.get("difficulty_note") or ""
        if entry.get("pymupdf_needs_pass"):
            outcome = "encrypted"
        elif not entry.get("text_extractable"):
            outcome = "no-text"
        elif "BROKEN extraction" in note or "garbage" in note.lower():
            outcome = "garbage"
        else:
            outcome = "text"
        out.append(
            Expected(entry["file"], outcome, entry.get("pages"), entry.get("first_text") or "")
        )
    out.append(Expected(BLUEPRINT, "text", 71, "The Blueprint for an AI Bill of Rights"))
    return out


def _bigrams(text: str) -> set[str]:
    flat = re.sub(r"\s+", "", unicodedata.normalize("NFKC", text))
    return {flat[i : i + 2] for i in range(len(flat) - 1)}


@needs_pdfs
def test_the_folder_holds_the_57_pdfs_the_manifest_describes() -> None:
    on_disk = sorted(str(p.relative_to(PDFS)) for p in PDFS.rglob("*.pdf"))
    assert on_disk == sorted(e.file for e in expectations())
    assert len(on_disk) == 57


@needs_pdfs
@pytest.mark.parametrize(
    "exp",
    [
        pytest.param(e, id=e.file, marks=pytest.mark.extra("cjk-fonts"))
        if e.file in NEED_CJK_FONTS
        else pytest.param(e, id=e.file)
        for e in expectations()
    ],
)
def test_each_pdf_is_loaded_or_refused_with_its_reason(exp: Expected) -> None:
    source = f"pdfs/{exp.file}"
    if exp.outcome == "text":
        doc = load(PDFS / exp.file, source)
        assert [p.number for p in doc.pages] == list(range(1, (exp.pages or 0) + 1))
        text = "".join(p.text for p in doc.pages)
        assert text.strip()
        # what other extractors found at the start of the file is found here too
        first = _bigrams(exp.first_text)
        if first:
            assert len(first & _bigrams(text)) >= 0.4 * len(first)
        assert "\ufffe" not in text and "\x00" not in text
        return
    error = EncryptedFileError if exp.outcome == "encrypted" else LoadError
    with pytest.raises(error) as info:
        load(PDFS / exp.file, source)
    message = str(info.value)
    assert message.startswith(f"{source}: ")
    assert "\n" not in message
    reason = message[len(source) + 2 :]
    if exp.outcome == "encrypted":
        assert reason.startswith("PDF is encrypted with a password;")
    elif exp.outcome == "no-text":
        assert reason.startswith("no text layer (a scanned or image-only PDF?) and OCR is")
    else:
        assert reason.startswith("the text layer is garbage (")
        assert "OCR is" in reason


@needs_pdfs
def test_pages_whose_letters_are_garbled_count_as_no_text() -> None:
    """In the re-saved Blueprint, some pages mix text with shifted letters ("8K^SYXKV" for
    "National") and substituted ones ("re[uire"): those pages are left out, the rest kept."""
    doc = load(PDFS / BLUEPRINT, "blueprint.pdf")
    empty = {p.number for p in doc.pages if not p.text.strip()}
    assert {1, 21, 53, 59, 61, 71} <= empty  # 1 and 53: "0ederal", "re[uirements", ...
    assert len(empty) <= 30
    text = "\n".join(p.text for p in doc.pages)
    assert "8K^SYXKV" not in text
    assert "ABOUT THIS FRAMEWORK" in doc.pages[2].text


@needs_pdfs
def test_freetext_annotations_are_read() -> None:
    doc = load(PDFS / "mixed/PyMuPDF-Utilities__freetext-annot-lang.pdf", "annots.pdf")
    text = doc.pages[0].text
    assert "This is a text of mixed languages" in text
    assert re.search("[\uac00-\ud7a3]", text) and re.search("[\u3040-\u30ff]", text)


@needs_pdfs
def test_characters_beyond_the_bmp_survive() -> None:
    doc = load(PDFS / "ja/pdf.js__issue5202.pdf", "issue5202.pdf")
    assert doc.pages[0].text == "𠮟る、𩸽、𠀋。\n"


@needs_pdfs
def test_metadata_is_read() -> None:
    doc = load(ROOT / "corpus" / "us_crs_r48694_federal_rd_funding_fy2026_2026-04.pdf", "crs.pdf")
    assert doc.title and doc.title.startswith("Federal Research and Development (R&D) Funding")
    assert doc.author and "Blevins" in doc.author
    assert doc.date and re.fullmatch(r"\d{4}-\d{2}-\d{2}", doc.date)
    placeholder = load(PDFS / "en/pdfplumber__scotus-transcript-p1.pdf", "scotus.pdf")
    assert placeholder.title != "10811.exe"  # a file name in the metadata is no title


# ------------------------------------------------------------- pages checked by hand


@dataclass(frozen=True)
class PageCheck:
    name: str
    source: Path
    page: int
    needs_fonts: bool
    excerpts: tuple[str, ...]
    absent: tuple[str, ...]


def page_checks() -> list[PageCheck]:
    checks = []
    for f in sorted(PAGES.glob("*.txt")):
        header: dict[str, str] = {}
        body: list[str] = []
        absent: list[str] = []
        for line in f.read_text(encoding="utf-8").splitlines():
            if line.startswith("# ") and ":" in line:
                key, _, value = line[2:].partition(":")
                header.setdefault(key.strip(), value.strip())
            elif line.startswith("!! "):
                absent.append(line[3:])
            else:
                body.append(line)
        excerpts = tuple(e.strip("\n") for e in "\n".join(body).split("\n...\n") if e.strip())
        where, _, rest = header["source"].partition("/")
        base = PDFS if where == "pdfs" else ROOT / "corpus"
        checks.append(
            PageCheck(
                f.stem,
                base / rest,
                int(header["page"]),
                header.get("needs") == "cjk-fonts",
                excerpts,
                tuple(absent),
            )
        )
    return checks


@pytest.mark.parametrize(
    "check",
    [
        pytest.param(c, id=c.name, marks=pytest.mark.extra("cjk-fonts"))
        if c.needs_fonts
        else pytest.param(c, id=c.name)
        for c in page_checks()
    ],
)
def test_page_reads_as_checked_by_hand(check: PageCheck) -> None:
    if not check.source.exists():
        pytest.skip(f"{check.source} is not here")
    doc: Document = load(check.source, check.source.name)
    # The stored text keeps an ideographic space where the page has one; excerpts are typed
    # with a plain space.
    text = next(p.text for p in doc.pages if p.number == check.page).replace("\u3000", " ")
    pos = 0
    for excerpt in check.excerpts:
        found = text.find(excerpt, pos)
        assert found >= 0, f"not found after position {pos}:\n{excerpt}\n--- page text ---\n{text}"
        pos = found + len(excerpt)
    for unwanted in check.absent:
        assert unwanted not in text


# ------------------------------------------------------------------ a real batch


@needs_pdfs
@pytest.mark.slow
def test_a_batch_of_real_pdfs_indexes_and_answers(tmp_path: Path, embedder) -> None:
    from polyfind import Searcher, Settings, index_paths

    folder = tmp_path / "pdfs"
    folder.mkdir()
    picked = [
        "en/unstructured__multi-column.pdf",
        "ko/unstructured__korean-text-with-tables.pdf",
        "ja/pdf.js__issue16063.pdf",
        "en/opendataloader-pdf__password-protected.pdf",
        "en/unstructured__loremipsum-flat.pdf",
        "ja/pdf.js__issue11768_reduced.pdf",
    ]
    for name in picked:
        shutil.copy(PDFS / name, folder / Path(name).name)
    (folder / "truncated.pdf").write_bytes((PDFS / picked[0]).read_bytes()[:3000])
    settings = Settings(index_dir=tmp_path / "index").with_(**NO_OCR)
    summary = index_paths([str(folder)], settings, embedder=embedder)
    skipped = {Path(s).name: r for s, r in summary.skipped}
    assert sorted(Path(s).name for s in summary.added) == sorted(Path(n).name for n in picked[:3])
    assert skipped["opendataloader-pdf__password-protected.pdf"].startswith("PDF is encrypted")
    assert skipped["unstructured__loremipsum-flat.pdf"].startswith("no text layer")
    assert skipped["pdf.js__issue11768_reduced.pdf"].startswith("the text layer is garbage")
    assert "damaged" in skipped["truncated.pdf"]
    assert all("\n" not in r for r in skipped.values())
    report = json.loads(json.dumps(summary.to_json()))
    assert {Path(item["source"]).name for item in report["skipped"]} == set(skipped)
    with Searcher(settings, encoder=embedder) as s:
        hits = s.search("dense passage retrieval for open-domain question answering", k=3)
        assert Path(hits[0].source).name == "unstructured__multi-column.pdf"
        hit = hits[0]
        assert hit.page is not None
        stored = s.store.chunks([hit.chunk_id])[hit.chunk_id]
        page_text = s.store.page_text(stored.doc_id, stored.page_seq)
        assert page_text[hit.start : hit.end] == hit.text  # the citation points at the passage


def test_a_page_whose_layout_fails_keeps_its_text(monkeypatch: pytest.MonkeyPatch) -> None:
    from polyfind.loaders import pdf

    real = pdf._layout
    calls = []

    def flaky(*args, **kwargs):  # type: ignore[no-untyped-def]
        calls.append(1)
        if len(calls) == 2:
            raise ValueError("NaN in a box")
        return real(*args, **kwargs)

    monkeypatch.setattr(pdf, "_layout", flaky)
    source = ROOT / "corpus" / "us_nist_ai-600-1_genai_profile_2024-07.pdf"
    doc = load(source, "nist.pdf")
    assert len(doc.pages) == 64
    assert doc.pages[1].text.strip()  # in PDF order, but there
