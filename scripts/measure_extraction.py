"""PDF extraction speed and OCR character error rate (BENCHMARKS.md, "Extraction").

    .venv/bin/python scripts/measure_extraction.py speed [--repeat 3] [--quick]
    .venv/bin/python scripts/measure_extraction.py cer [--no-variants]      # make install-ocr

``speed`` writes benchmarks/extraction-speed.json: pages per CPU second of pypdfium2's plain
text, pdfplumber's ``extract_text``, polyfind's ``load`` and ``load`` without ruled tables,
best of ``--repeat`` runs, on corpus/, ../shared/reports-dev and the 352-page book of
../shared/pdfs. ``cer`` writes benchmarks/extraction-ocr.json: pages of corpus text drawn
with Noto Sans CJK and read back by tesseract (``polyfind.bench.extraction``). Then
scripts/render_benchmarks.py updates BENCHMARKS.md. ``--quick``: one run of the corpus PDFs
only, printed, nothing written.
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
from pathlib import Path

from polyfind.bench import extraction
from polyfind.bench.measure import load_average, run_info
from polyfind.bench.render import git_commit, write_result

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"
FONT = Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc")
#: label, what the PDFs are, the files.
GROUPS = [
    ("corpus/*.pdf", "CRS R48694, NIST AI 600-1", sorted((ROOT / "corpus").glob("*.pdf"))),
    (
        "../shared/reports-dev/*.pdf",
        "Hwp exports, white paper, judgment",
        sorted((SHARED / "reports-dev").glob("*.pdf")),
    ),
    (
        "../shared/pdfs/en/pdf.js__freeculture.pdf",
        "book",
        [SHARED / "pdfs/en/pdf.js__freeculture.pdf"],
    ),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("what", choices=["speed", "cer"])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-variants", action="store_true", help="cer: the default settings only")
    ap.add_argument("--quick", action="store_true", help="speed: a check; nothing is written")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks")
    args = ap.parse_args()
    command = ".venv/bin/python scripts/measure_extraction.py " + shlex.join(sys.argv[1:])
    info = run_info(command, commit=git_commit(ROOT))
    if args.what == "speed":
        groups = GROUPS[:1] if args.quick else GROUPS
        info["clock"] = (
            f"CPU seconds of the measuring process, best of {1 if args.quick else args.repeat} "
            "runs (the machine is shared: wall-clock time moves with the other jobs' load)"
        )
        info["groups"] = []
        for label, about, files in groups:
            files = [f for f in files if f.exists()]
            if files:
                speed = extraction.pdf_speed(files, 1 if args.quick else args.repeat)
                info["groups"].append({"label": label, "about": about, **speed})
                print(label, json.dumps(speed), file=sys.stderr, flush=True)
        name = "extraction-speed"
    else:
        variants = None if args.no_variants else extraction.OCR_VARIANTS
        info["clock"] = "Seconds: wall clock; CPU seconds include tesseract's (a child process)"
        info.update(extraction.ocr_cer(ROOT / "corpus", FONT, variants=variants))
        name = "extraction-ocr"
    info["load_end"] = load_average()
    if args.quick:
        print(json.dumps(info, indent=1, ensure_ascii=False))
    else:
        print("wrote", write_result(args.out, name, info))


if __name__ == "__main__":
    main()
