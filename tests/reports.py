"""Small sets of real reports from corpus/ that several tests index."""

from __future__ import annotations

from pathlib import Path

CORPUS = Path(__file__).resolve().parents[1] / "corpus"

#: One report per language: Korean, Japanese, English.
SMALL = [
    "003_71a9f3b054dab845.txt",  # ko
    "004_58bd91241ebf471b.txt",  # ja
    "us_wh_2022-10-19_battery_manufacturing_fact_sheet.md",  # en
]
