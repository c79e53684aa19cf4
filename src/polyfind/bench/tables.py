"""The renderers of BENCHMARKS.md's generated blocks: block name -> lines of Markdown.

Each renderer reads only the results (``benchmarks/<name>.json``); a block starts with the
command, date and machine that produced its numbers.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..settings import Settings
from .render import Results

Lines = list[str]
BLOCKS: dict[str, Callable[[Results], Lines]] = {}


def block(name: str) -> Callable[[Callable[[Results], Lines]], Callable[[Results], Lines]]:
    def register(fn: Callable[[Results], Lines]) -> Callable[[Results], Lines]:
        BLOCKS[name] = fn
        return fn

    return register


# ------------------------------------------------------------------------------ helpers
def provenance(r: Mapping[str, Any]) -> str:
    """Where the numbers come from: "Measured DATE with `COMMAND` (machine; load). Note."."""
    text = f"Measured {r['date']} with `{r['command']}`"
    if r.get("commit"):
        text += f" at commit {r['commit']}"
    about = [r[k] for k in ("machine", "versions") if r.get(k)]
    if r.get("load_start") is not None and r.get("load_end") is not None:
        about.append(f"load average {r['load_start']} at the start, {r['load_end']} at the end")
    if about:
        text += " (" + "; ".join(about) + ")"
    text += "."
    for key in ("clock", "note"):
        if r.get(key):
            text += " " + str(r[key]).rstrip(".") + "."
    return text


def table(header: Sequence[str], rows: Iterable[Sequence[object]], align: str = "") -> Lines:
    """A Markdown table; ``align`` has one letter per column (l or r; default l)."""
    marks = ["---:" if a == "r" else "---" for a in align.ljust(len(header), "l")]
    out = ["| " + " | ".join(header) + " |", "|" + "|".join(marks) + "|"]
    out += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return out


def f3(x: float | None) -> str:
    return "-" if x is None else f"{x:.3f}"


def f4(x: float | None) -> str:
    return "-" if x is None else f"{x:.4f}"


def count(c: Mapping[str, Any] | None) -> str:
    return "-" if c is None else f"{c['hits']}/{c['total']}"


def thousands(x: float | None, digits: int = 0) -> str:
    return "-" if x is None else f"{x:,.{digits}f}"


def settings_line(r: Mapping[str, Any]) -> str:
    """The settings a quality result was measured with (``quality.settings_json``)."""
    st = r["settings"]
    fusion = ", ".join(f"{k}={st[k]:g}" for k in ("dense_weight", "lexical_exponent",
                                                     "feedback_weight") if k in st)  # fmt: skip
    text = f"Settings: chunks of {st['chunk_tokens']} tokens"
    if st.get("chunk_overlap") is not None:
        text += f" with {st['chunk_overlap']} of overlap"
    if st.get("precision"):
        text += f", passages in {st['precision']}"
    if fusion:
        text += f", fusion {fusion}"
    if st.get("max_queries"):
        text += f"; {st['max_queries']} queries a set"
    return text + "."


def question_cells(s: Mapping[str, Any]) -> list[str]:
    """document@5, page@1, page@5, MRR@10 of a question summary."""
    return [count(s.get(m)) for m in ("document@5", "page@1", "page@5")] + [f3(s.get("mrr@10"))]


QUESTION_HEADER = ["document@5", "page@1", "page@5", "MRR@10"]


# ------------------------------------------------------------------------------ extraction
@block("extraction-speed")
def extraction_speed(results: Results) -> Lines:
    r = results["extraction-speed"]
    names = {
        "pypdfium2": "pypdfium2 text only",
        "pdfplumber": "pdfplumber `extract_text`",
        "load": "polyfind `load`",
        "load_no_tables": "`load` without tables",
    }
    methods = list(r["groups"][0]["pages_per_cpu_s"])
    rows = [
        [f"`{g['label']}` ({g['about']})", g["pages"], g["ruled_pages"]]
        + [f"{g['pages_per_cpu_s'][m]:.1f}" for m in methods]
        for g in r["groups"]
    ]
    header = ["PDFs", "pages", "pages with a grid of rules"] + [names[m] for m in methods]
    return [
        provenance(r),
        "",
        "Pages per CPU second:",
        "",
        *table(header, rows, "lrr" + "r" * len(methods)),
    ]


LANG_NAMES = {"ko": "Korean", "ja": "Japanese", "en": "English"}


@block("extraction-ocr")
def extraction_ocr(results: Results) -> Lines:
    r = results["extraction-ocr"]
    settings = f"`{r['langs']}`, `{r['config']}`, {r['dpi']} dpi"
    header = ["page", "characters", "CER", "CER, letters and digits", "seconds", "CPU seconds"]

    def cells(p: Mapping[str, Any]) -> list[object]:
        return [p["characters"], f3(p["cer"]), f3(p["cer_letters"]), p["seconds"], p["cpu_seconds"]]

    rows = [[f"{LANG_NAMES[lang]} (`{p['source']}`)", *cells(p)] for lang, p in r["pages"].items()]
    out = [provenance(r), "", f"tesseract {r['tesseract']}, {settings}:", ""]
    out += table(header, rows, "lrrrrr")
    if r.get("variants"):
        vrows = [
            [f"{LANG_NAMES[v['lang']]}, {name}", *cells(v)] for name, v in r["variants"].items()
        ]
        out += ["", "The same page with one setting changed:", ""]
        out += table(["page, setting", *header[1:]], vrows, "lrrrrr")
    return out


# ------------------------------------------------------------------------------ citations
def _baseline(results: Results) -> Mapping[str, Any]:
    return results.get("citations-baseline", {})


@block("citations-reports-dev")
def citations_reports_dev(results: Results) -> Lines:
    r = results["citations"]
    s = next(iter(r["reports_dev"]["modes"].values()))
    rows = [[lang, *question_cells(b)] for lang, b in s["by_lang"].items()]
    rows.append(["all", *question_cells(s)])
    base = _baseline(results)
    if "reports_dev" in base:
        rows.append([f"all, at {base['commit']}", *question_cells(base["reports_dev"])])
    out = [provenance(r) + _index_note(r["reports_dev"]), ""]
    if base:
        out += [f"Baseline, commit {base['commit']}: {base['note']}.", ""]
    doc5, page1 = s["document@5"], s["page@1"]
    met = doc5["hits"] >= 35 and page1["hits"] >= 30
    goals = (
        f"Goals: the report in the top 5 for at least 35 of 36, page@1 for at least 30 of 36: "
        f"{doc5['hits']}/{doc5['total']} and {page1['hits']}/{page1['total']}, "
        + ("met." if met else "NOT met.")
    )
    return out + table(["query language", *QUESTION_HEADER], rows) + ["", goals]


def _index_note(part: Mapping[str, Any]) -> str:
    return f" Index `{part['index']}`, last written {part['index_written']}."


@block("citations-pinned")
def citations_pinned(results: Results) -> Lines:
    r = results["citations"]

    def row(label: str, p: Mapping[str, Any]) -> list[str]:
        order = " (in order)" if p.get("in_order") else ""
        return [label, f"{p['found']}/{p['excerpts']}{order}", f"{p['present']}/{p['forbidden']}"]

    rows = [row(f"{r['date']}", r["pinned"])]
    base = _baseline(results)
    if "pinned" in base:
        rows.append(row(f"{base['commit']}, same rule", base["pinned"]))
    missing = [f"`{m}` ({p['page']})" for p in r["pinned"]["pages"] for m in p["missing"]]
    out = [provenance(r), "", *table(["", "excerpts found", "forbidden text present"], rows)]
    if missing:
        out += ["", "Not found: " + "; ".join(missing) + "."]
    return out


@block("citations-corpus")
def citations_corpus(results: Results) -> Lines:
    r = results["citations"]
    s = r["corpus"]["modes"][r["corpus"]["default_mode"]]
    rows = [[r["date"], *question_cells(s)]]
    base = _baseline(results)
    if "corpus" in base:
        rows.append([f"{base['commit']} ({base['corpus_note']})", *question_cells(base["corpus"])])
    return [provenance(r) + _index_note(r["corpus"]), "", *table(["", *QUESTION_HEADER], rows)]


@block("citations-modes")
def citations_modes(results: Results) -> Lines:
    r = results["citations"]
    rows = [[mode, *question_cells(s)] for mode, s in r["corpus"]["modes"].items()]
    return [provenance(r), "", *table(["mode", *QUESTION_HEADER], rows, "lrrrr")]


@block("corpus-variants")
def corpus_variants(results: Results) -> Lines:
    r = results["corpus-variants"]
    langs = sorted({lang for s in r["variants"].values() for lang in s.get("by_lang", {})})
    rows = []
    for name, s in r["variants"].items():
        by_lang = [count(s.get("by_lang", {}).get(lang, {}).get("document@5")) for lang in langs]
        pages = [count(s.get(m)) for m in ("page@1", "page@5")]
        rows.append([name, count(s["document@5"]), *by_lang, *pages, f3(s["mrr@10"])])
    header = ["variant", "document@5", *(f"{lang} document@5" for lang in langs)]
    header += ["page@1", "page@5", "MRR@10"]
    return [provenance(r), f"Search mode: {r['mode']}.", "", *table(header, rows)]


@block("chunk-sweep")
def chunk_sweep(results: Results) -> Lines:
    r = results["chunk-sweep"]
    rows = [
        [row["tokens"], row["overlap"], row["chunks"], mode, *question_cells(s)]
        for row in r["rows"]
        for mode, s in row["modes"].items()
    ]
    header = ["tokens", "overlap", "chunks", "mode", *QUESTION_HEADER]
    return [provenance(r), "", *table(header, rows, "rrrl")]


# ------------------------------------------------------------------------------ quality
#: Reference MRR@10 of dense retrieval (../shared/bench/README.md).
REFERENCE = {"jsquad-ja": 0.875, "korquad-ko": 0.879, "xquad-en": 0.963}
QUALITY_KEYS = ("ndcg@10", "mrr@10", "recall@1", "recall@5", "recall@10", "recall@100")


def _mrr(s: Mapping[str, Any], mode: str) -> float | None:
    m = s["modes"].get(mode)
    return None if m is None else float(m["mrr@10"])


@block("quality-modes")
def quality_modes(results: Results) -> Lines:
    r = results["quality"]
    rows = []
    for name, s in r["sets"].items():
        dense, hybrid = _mrr(s, "dense"), _mrr(s, "hybrid")
        ref = f" (reference {REFERENCE[name]:.3f})" if name in REFERENCE else ""
        diff = "-" if dense is None or hybrid is None else f"{hybrid - dense:+.3f}"
        rows.append(
            [name, s["passages"], f3(dense) + ref, f3(_mrr(s, "lexical")), f3(hybrid), diff]
        )
    header = ["set", "passages", "dense", "lexical", "hybrid", "hybrid - dense"]
    return [provenance(r), "", settings_line(r), "", *table(header, rows, "lrrrrr")]


@block("quality-metrics")
def quality_metrics(results: Results) -> Lines:
    r = results["quality"]
    rows = [
        [name, mode, *(f3(m.get(k)) for k in QUALITY_KEYS), m["queries"]]
        for name, s in r["sets"].items()
        for mode, m in s["modes"].items()
    ]
    return table(["set", "mode", *QUALITY_KEYS, "queries"], rows, "ll" + "r" * 7)


@block("quality-fairness")
def quality_fairness(results: Results) -> Lines:
    r = results["quality"]
    views = [
        ("default", r["sets"][r["fairness"]["set"]]["modes"]),
        ("per language", r["fairness"]["per_lang"]),
    ]
    keys = ("recall@3", "all_relevant@3", "same_lang@10", "ndcg@10", "mrr@10")
    rows = [
        [view, mode, *(f3(m.get(k)) for k in keys)]
        for view, modes in views
        for mode, m in modes.items()
    ]
    header = [
        "view",
        "mode",
        "recall@3",
        "all three in top 3",
        "same language in top 10",
        "nDCG@10",
        "MRR@10",
    ]
    return table(header, rows, "llrrrrr")


@block("quality-analysers")
def quality_analysers(results: Results) -> Lines:
    a = results["quality"]["analyzers"]
    sets = list(a["embedding_chunks_per_cpu_s"])
    rows = []
    for name, row in a["rows"].items():
        cells: list[str] = []
        for s in sets:
            c = row.get(s)
            cells += (
                ["-"] * 3
                if c is None
                else [f3(c["lexical"]), f3(c["hybrid"]), thousands(c["chunks_per_cpu_s"])]
            )
        rows.append([name + (" (default)" if name == a["default"] else ""), *cells])
    rows.append(
        [
            f"embedding, {a.get('embedding_precision') or 'fp32'} (for scale)",
            *(c for s in sets for c in ("", "", thousands(a["embedding_chunks_per_cpu_s"][s], 1))),
        ]
    )
    header = [
        "analyser",
        *(f"{s} {c}" for s in sets for c in ("lexical MRR", "hybrid MRR", "chunks/s")),
    ]
    return table(header, rows, "l" + "r" * 3 * len(sets))


@block("quality-ceiling")
def quality_ceiling(results: Results) -> Lines:
    r = results["quality"]
    rows = [
        [
            name,
            f3(_mrr(s, "dense")),
            f3(_mrr(s, "lexical")),
            f3(_mrr(s, "hybrid")),
            f3(float(s["modes"]["dense"]["mrr@10"]) + 0.03),
            f3(s["ceiling"]),
            f"{s['hybrid_not_first']}/{s['modes']['hybrid']['queries']}",
        ]
        for name, s in r["sets"].items()
        if s.get("ceiling") is not None
    ]
    header = [
        "set",
        "dense",
        "lexical",
        "hybrid",
        "goal (dense + 0.03)",
        "best of the three per query",
        "hybrid not first",
    ]
    return table(header, rows, "lrrrrrr")


@block("quality-fusion")
def quality_fusion(results: Results) -> Lines:
    r = results["fusion-grid"]
    names = list(r["rows"][0]["mrr@10"])
    rows = []
    for row in r["rows"]:
        label = ", ".join(f"{k}={v:g}" for k, v in row["settings"].items())
        dev = row.get("dev_document@5")
        rows.append(
            [
                label,
                *(f3(row["mrr@10"][n]) for n in names),
                f3(row.get("ndcg@10")),
                f3(row.get("per_lang_recall@3")),
                count(dev),
            ]
        )
    header = ["settings", *names, "ntrex-mixed nDCG@10", "per-lang R@3", "dev document@5"]
    out = [provenance(r), "", settings_line(r) + " A row changes only the settings it names.", ""]
    return out + table(header, rows, "l" + "r" * (len(names) + 3))


@block("quality-chunks")
def quality_chunks(results: Results) -> Lines:
    small, base = results["quality-chunks100"], results["quality"]
    a, b = small["settings"]["chunk_tokens"], base["settings"]["chunk_tokens"]
    rows = []
    for name, s in small["sets"].items():
        other = base["sets"].get(name, {"modes": {}})
        rows.append(
            [
                name,
                s["chunks"],
                f4(_mrr(s, "hybrid")),
                f3(_mrr(other, "hybrid")),
                f4(_mrr(s, "dense")),
                f3(_mrr(other, "dense")),
            ]
        )
    header = [
        "set",
        f"chunks at {a}",
        f"hybrid MRR@10, {a} tokens",
        f"hybrid, {b} (tables above)",
        f"dense, {a}",
        f"dense, {b}",
    ]
    return [provenance(small), "", settings_line(small), "", *table(header, rows, "lrrrrr")]


# ------------------------------------------------------------------------------ speed
def _ratio(e: Mapping[str, Any], a: str, b: str, key: str = "tokens_per_s") -> float:
    return float(e["rows"][a][key]) / float(e["rows"][b][key])


@block("speed-goals")
def speed_goals(results: Results) -> Lines:
    s, rows = results["speed"], []

    def row(goal: str, value: str, met: bool, source: str) -> None:
        rows.append([goal, value, "met" if met else "NOT met", source])

    full = s["index"]["inprocess_full"]
    row(
        f"`index` embeds at >= 90% of {_encoder(full)}'s tokens/s",
        f"{full['ratio']:.0%} (whole corpus, wall clock)",
        full["ratio"] >= 0.9,
        "Indexing",
    )
    share = _encoder_share(s)
    if share:
        row(
            "the encoder `index` uses at >= 60% of the measured matmul peak "
            "(bf16 where the CPU computes bf16, else fp32)",
            f"{share[1]:.0%} of the {share[2]} peak ({share[0]:.1f} of {share[3]:.1f} GFLOP/s)",
            share[1] >= 0.6,
            "Indexing, Embedding",
        )
    peak = s["index"]["index_peak_rss_mb"]
    row("peak memory of `polyfind index corpus` < 1.8 GB", f"{peak} MB", peak < 1800, "Indexing")
    alone = s["index"].get("encoder_alone_peak_rss_mb")
    if alone:
        row(
            "peak memory of `polyfind index corpus` <= the encoder alone's + 300 MB",
            f"{peak} MB against {alone} MB ({peak - alone:+} MB)",
            peak - alone <= 300,
            "Indexing",
        )
    cli = s.get("cli")
    if cli:
        helped = cli["help"]["quick"]["wall_ms"]
        row("`polyfind --help` < 100 ms", f"{helped} ms", helped < 100, "Search")
        searches = {
            k.removeprefix("search_"): v["quick"]["wall_ms"]
            for k, v in cli.items()
            if k.startswith("search_")
        }
        own = {
            k.removeprefix("search_"): v["own"]["wall_ms"]
            for k, v in cli.items()
            if k.startswith("search_") and "own" in v
        }
        measured = ", ".join(f"{k} {v} ms" for k, v in searches.items())
        if own:
            measured += (
                " (answered by the resident searcher; each in its own process: "
                + ", ".join(f"{k} {v} ms" for k, v in own.items())
                + ")"
            )
        row(
            "`polyfind search --json` < 150 ms (warm file cache)",
            measured,
            max(searches.values()) < 150,
            "Search",
        )
    unchanged = s["index"]["unchanged_cli_s"]
    row("re-index of the unchanged corpus < 2 s (CLI)", f"{unchanged} s", unchanged < 2, "Indexing")
    e = s["embedding"]
    bs, big = e["batch_size"], e["batch_big"]
    bf, same, old = (
        f"polyfind bf16, batch {big}",
        f"polyfind fp32, batch {big}",
        f"polyfind fp32, batch {bs}",
    )
    if "precision" in results:
        res = results["precision"]["results"]
        drop = max(res["fp32"][n]["mrr@10"] - res["bf16"][n]["mrr@10"] for n in res["fp32"])
        wall, cpu = _ratio(e, bf, same), _ratio(e, bf, same, "tokens_per_cpu_s")
        row(
            "faster mode >= 1.8x fp32 tokens/s, MRR@10 within 0.01 on every set",
            f"bf16 vs fp32 at the same batch ({big}): {wall:.2f}x wall, {cpu:.2f}x per CPU s "
            f"(vs the fp32 default batch {bs}: {_ratio(e, bf, old):.2f}x, "
            f"{_ratio(e, bf, old, 'tokens_per_cpu_s'):.2f}x); MRR@10 at most {drop:.4f} lower",
            min(wall, cpu) >= 1.8 and drop <= 0.01,
            "Embedding, Precision",
        )
    if "extraction-speed" in results:
        g = results["extraction-speed"]["groups"][0]
        rate = g["pages_per_cpu_s"]["load"]
        row(
            f"PDF extraction >= 100 pages/s on {g['label']}",
            f"{rate} pages per CPU second",
            rate >= 100,
            "Extraction",
        )
    p95 = s["search"]["warm_p95_ms"]
    row("warm search p95 < 50 ms", f"{p95} ms", p95 < 50, "Search")
    return table(["goal", "measured", "", "table"], rows)


@block("speed-head")
def speed_head(results: Results) -> Lines:
    s = results["speed"]
    return [
        provenance(s) + f" Medians of {s['repeat']} runs unless said otherwise (whole-corpus "
        f"indexing: {s['heavy_repeat']})."
    ]


@block("speed-embedding")
def speed_embedding(results: Results) -> Lines:
    e = results["speed"]["embedding"]
    bs, big = e["batch_size"], e["batch_big"]
    out = [
        f"{e['chunks']} of the {e['of_corpus_chunks']} chunks `polyfind index corpus` makes, "
        f"{e['tokens']} tokens as the model sees them (mean {e['mean_tokens']}: prompt and "
        f"special tokens included), torch threads {e['torch_threads']}. Model FLOP per token "
        f"at the mean length: {e['flop_per_token'] / 1e6:.1f} M (`measure.flop_per_token`). "
        f"Matmul peak measured in the same run (2048^3 `torch.mm`, between the runs): fp32 "
        f"{e['fp32_matmul_peak_gflops']} GFLOP/s, bf16 {e['bf16_matmul_peak_gflops']}.",
        "",
    ]
    rows = [[*_rates(name, r), f"{r['of_fp32_peak']:.0%}"] for name, r in e["rows"].items()]
    out += table(
        ["embedder", "chunks/s", "tokens/s", "tokens per CPU s", "GFLOP/s", "of fp32 peak"],
        rows,
        "lrrrrr",
    )
    st, bf = f"sentence-transformers fp32, batch {bs}", f"polyfind bf16, batch {big}"
    fp, st_bf = f"polyfind fp32, batch {bs}", f"sentence-transformers bf16, batch {big}"
    cos = e["min_cosine_vs_fp32"]
    out += [
        "",
        f"polyfind fp32 / sentence-transformers fp32 (batch {bs}): {_ratio(e, fp, st):.2f}; "
        f"polyfind bf16 / sentence-transformers bf16 (batch {big}): {_ratio(e, bf, st_bf):.2f}. "
        f"Against fp32 at batch {bs}: int8 {_ratio(e, f'polyfind int8, batch {bs}', fp):.2f}x, "
        f"bf16 (batch {big}) {_ratio(e, bf, fp):.2f}x; at the same batch {big}, bf16 is "
        f"{_ratio(e, bf, f'polyfind fp32, batch {big}'):.2f}x fp32. Per CPU second: bf16 / "
        f"sentence-transformers bf16 {_ratio(e, bf, st_bf, 'tokens_per_cpu_s'):.2f}, bf16 / fp32 "
        f"at batch {bs} {_ratio(e, bf, fp, 'tokens_per_cpu_s'):.2f}x. Smallest cosine to the fp32 "
        f"vector over 32 chunks: int8 {cos['int8']}, bf16 {cos['bf16']}.",
    ]
    return out


@block("speed-threads")
def speed_threads(results: Results) -> Lines:
    t = results["speed"]["threads"]
    rows = [
        [name, f"{r['query_ms']} / {r['query_p95_ms']}", r.get("batch_tokens_per_s", "-")]
        for name, r in t.items()
    ]
    return table(["engine, threads", "one query p50 / p95 ms", "batch tokens/s"], rows)


@block("speed-precision")
def speed_precision(results: Results) -> Lines:
    p = results["precision"]
    res = p["results"]
    sets = list(res["fp32"])
    rows = []
    for name in sets:
        cells = []
        for prec, by_set in res.items():
            m = by_set[name]["mrr@10"]
            d = m - res["fp32"][name]["mrr@10"]
            cells.append(f"{m:.4f}" + ("" if prec == "fp32" else f" ({d:+.4f})"))
        rows.append([Path(name).name, *cells])
    worst = {q: min(res[q][n]["mrr@10"] - res["fp32"][n]["mrr@10"] for n in sets) for q in res}
    ok = [q for q in res if q != "fp32" and worst[q] >= -0.01]
    return [
        provenance(p),
        "",
        "Dense MRR@10 (difference to fp32):",
        "",
        *table(["set", *res], rows, "l" + "r" * len(res)),
        "",
        f"Within 0.01 of fp32 on every set: {', '.join(ok) or 'none'}. Worst difference: "
        + ", ".join(f"{q} {worst[q]:+.4f}" for q in res if q != "fp32")
        + ".",
    ]


def _rates(name: str, r: dict[str, Any]) -> list[object]:
    """An encoder's row of rates: name, chunks/s, tokens/s, tokens per CPU s, GFLOP/s."""
    return [name, r["chunks_per_s"], r["tokens_per_s"], r["tokens_per_cpu_s"], r["gflops"]]


@block("speed-engines")
def speed_engines(results: Results) -> Lines:
    x = results["engines"]
    e = x["encoders"]
    rows = [
        [*_rates(name, r), f"{r['of_bf16_peak']:.0%}", f"{r['min_cosine']:.4f}"]
        for name, r in e["rows"].items()
    ]
    out = [
        provenance(x),
        "",
        f"{e['chunks']} of the {e['of_corpus_chunks']} chunks `polyfind index corpus` makes, "
        f"{e['tokens']} tokens (mean {e['mean_tokens']}), "
        f"{e['flop_per_token'] / 1e6:.1f} M FLOP per token; bf16 matmul peak in the same run "
        f"{e['bf16_matmul_peak_gflops']} GFLOP/s (median of {e['bf16_peaks']}). Medians of "
        f"{len(next(iter(e['rows'].values()))['walls'])} turns; min cosine: the smallest to "
        "torch fp32 over the sample.",
        "",
        *table(
            [
                "encoder",
                "chunks/s",
                "tokens/s",
                "tokens per CPU s",
                "GFLOP/s",
                "of bf16 peak",
                "min cos",
            ],
            rows,
            "lrrrrrr",
        ),
    ]
    after = x.get("encoders_after")
    if after:
        out += [
            "",
            f"{after['note']} Same sample; bf16 matmul peak {after['bf16_matmul_peak_gflops']} "
            f"GFLOP/s (median of {after['bf16_peaks']}); load average {after['load_start']} at "
            f"the start, {after['load_end']} at the end:",
            "",
            *table(
                ["encoder", "chunks/s", "tokens/s", "tokens per CPU s", "GFLOP/s", "of bf16 peak"],
                [
                    [*_rates(name, r), f"{r['of_bf16_peak']:.0%}"]
                    for name, r in after["rows"].items()
                ],
                "lrrrrr",
            ),
        ]
    ix = x["index"]
    med = ix["median_s"]
    ratios = [
        round(t["seconds"] / o["seconds"], 2)
        for t, o in zip(ix["runs"]["torch"], ix["runs"]["openvino"], strict=True)
    ]
    chunks = ix["runs"]["openvino"][0]["out"]
    out += [
        "",
        f"`polyfind index` from scratch at bf16, whole process (model load included), on every "
        f"{ix['every']}nd file of corpus/ ({chunks} chunks), engines in turns: torch "
        f"{med['torch']} s, openvino {med['openvino']} s (medians of {len(ratios)}): "
        f"{med['torch'] / med['openvino']:.2f}x; per turn {ratios}. Peak memory torch "
        f"{ix['peak_mb']['torch']} MB, openvino {ix['peak_mb']['openvino']} MB."
        + (f" {ix['note']}" if ix.get("note") else ""),
    ]
    q = x["quality"]
    res = q["results"]
    ref = q["reference"]
    sets = list(res[ref])
    qrows = []
    for name in sets:
        cells = []
        for label, by_set in res.items():
            m = by_set.get(name)
            if m is None:
                cells.append("-")
                continue
            d = m - res[ref][name]
            cells.append(f"{m:.4f}" + ("" if label == ref else f" ({d:+.4f})"))
        qrows.append([name, *cells])
    worst = {
        label: min(by_set[n] - res[ref][n] for n in by_set if n in res[ref])
        for label, by_set in res.items()
        if label != ref
    }
    out += [
        "",
        f"Dense MRR@10 with the passages embedded by each (queries in torch fp32), "
        f"{q['queries']} sampled queries a set; difference to {ref}:",
        "",
        *table(["set", *res], qrows, "l" + "r" * len(res)),
        "",
        "Worst difference: " + ", ".join(f"{k} {v:+.4f}" for k, v in worst.items()) + ".",
    ]
    if q.get("note"):
        out += ["", str(q["note"])]
    return out


def _encoder_share(speed: Mapping[str, Any]) -> tuple[float, float, str, float] | None:
    """The encoder alone of the "Indexing" run: its GFLOP/s at the corpus's mean length
    (``measure.flop_per_token``), its share of the matmul peak measured in the same run
    ("Embedding") at the precision it computes in, which peak that is, and the peak. bf16 is
    computed as bf16 only on a CPU with AVX-512 BF16 or AMX (``settings.default_precision``;
    OpenVINO computes a bf16 hint in fp32 elsewhere). None: not measured in this run."""
    from .measure import flop_per_token

    full, e = speed.get("index", {}).get("inprocess_full"), speed.get("embedding")
    if not full or not e or "encoder_tokens_per_s" not in full:
        return None
    native_bf16 = any(flag in str(speed.get("machine", "")) for flag in ("avx512_bf16", "amx"))
    kind = "bf16" if speed["index"]["precision"] == "bf16" and native_bf16 else "fp32"
    peak = float(e[f"{kind}_matmul_peak_gflops"])
    gflops = full["encoder_tokens_per_s"] * flop_per_token(full["tokens"] / full["chunks"]) / 1e9
    return gflops, gflops / peak, kind, peak


def _encoder_share_lines(speed: Mapping[str, Any]) -> Lines:
    """The sentence of the "Indexing" block on ``_encoder_share`` (none if not measured)."""
    share = _encoder_share(speed)
    if share is None:
        return []
    gflops, part, kind, peak = share
    why = (
        ", the precision it computes in on this CPU, which has no bf16 instructions."
        if kind == "fp32" and speed["index"]["precision"] == "bf16"
        else "."
    )
    return [
        "",
        f"The encoder alone computes {gflops:.1f} GFLOP/s at the corpus's mean length "
        f"(`measure.flop_per_token`): {part:.0%} of the {kind} matmul peak measured in the "
        f'same run ({peak:.1f} GFLOP/s, "Embedding"){why}',
    ]


def _encoder(full: Mapping[str, Any]) -> str:
    """What indexing was compared with (older results: plain sentence-transformers)."""
    return str(full.get("encoder", "sentence-transformers `encode`"))


@block("speed-index")
def speed_index(results: Results) -> Lines:
    x = results["speed"]["index"]
    f = x["inprocess_full"]
    size = sum(x["size_bytes"].values())
    rows = [
        ["fresh index, `polyfind index` wall clock (model load included)", x["fresh_cli_s"]],
        ["fresh index, `index_paths` inside that command", x["fresh_index_s"]],
        ["nothing changed, `polyfind index` wall clock", x["unchanged_cli_s"]],
        ["nothing changed, `index_paths` in-process", x["unchanged_inprocess_s"]],
        [
            f"one file edited ({x['one_edit_chunks']} chunks re-embedded), "
            "`polyfind index` wall clock",
            x["one_edit_cli_s"],
        ],
    ]
    return [
        f"corpus/: {x['chunks']} chunks, precision {x['precision']}.",
        "",
        *table(["run", "seconds"], rows),
        "",
        f"Whole corpus in-process with the model loaded ({f['chunks']} chunks, {f['tokens']} "
        f"tokens): `index_paths` {f['index_s']} s = {f['index_tokens_per_s']} tokens/s for "
        f"everything (loading, chunking, embedding, storing); {_encoder(f)} on "
        f"the same chunk texts, same precision and batch size ({f['batch_size']}): "
        f"{f.get('encoder_s', f.get('st_encode_s'))} s = "
        f"{f.get('encoder_tokens_per_s', f.get('st_tokens_per_s'))} tokens/s. Indexing runs at "
        f"{f['ratio']:.0%} of the encoder alone (pairs index/encode s: {f['pairs']}).",
        *_encoder_share_lines(results["speed"]),
        "",
        f"Peak memory of `polyfind index` (fresh): {x['index_peak_rss_mb']} MB"
        + (
            f"; of a process that loads the model and runs the encoder alone on the same chunk "
            f"texts: {x['encoder_alone_peak_rss_mb']} MB"
            if "encoder_alone_peak_rss_mb" in x
            else ""
        )
        + f". Index size on disk: {size / 2**20:.1f} MB = "
        f"{size / x['chunks'] * 1000 / 2**20:.2f} MB per 1,000 chunks ("
        + ", ".join(f"{k} {v / 2**20:.2f} MB" for k, v in x["size_bytes"].items())
        + ").",
    ]


@block("speed-search")
def speed_search(results: Results) -> Lines:
    s, v = results["speed"]["search"], results["speed"].get("server")
    langs = ", ".join(f"{n} {k}" for k, n in s["by_lang"].items())
    rows = [
        [
            "warm, in-process `Searcher.search` (each query embedded)",
            s["warm_p50_ms"],
            s["warm_p95_ms"],
        ],
        [
            f"cold, `polyfind search ... --json` wall clock ({s['cold_runs']} runs)",
            s["cold_p50_ms"],
            s["cold_p95_ms"],
        ],
    ]
    if v:
        c = v["concurrent"]
        rows += [
            ["`polyfind serve`, one client", v["one_client"]["p50_ms"], v["one_client"]["p95_ms"]],
            [
                f"`polyfind serve`, {c['clients']} client threads at once "
                f"({c['requests']} requests, {c['requests_per_s']} requests/s)",
                c["p50_ms"],
                c["p95_ms"],
            ],
        ]
    memory = f"Peak memory of `polyfind search`: {s['search_peak_rss_mb']} MB"
    if v:
        memory += (
            f"; `polyfind serve` after the load test: {v['VmRSS']} MB resident (peak "
            f"{v['VmHWM']} MB), ready {v['start_s']} s after start"
        )
    return [
        f"{s['queries']} queries ({langs}), k=10, default mode ({s['mode']}).",
        "",
        *table(["", "p50 ms", "p95 ms"], rows),
        "",
        memory + ".",
        *_cli_start(results["speed"].get("cli")),
    ]


def _cli_start(c: dict[str, Any] | None) -> Lines:
    """Whole processes of the command line (``speed.cli_start``), where measured."""
    if not c:
        return []
    rows = []
    for name in [k for k in c if k == "help" or k.startswith("search_")]:
        what = (
            "`polyfind --help`"
            if name == "help"
            else f"`polyfind search QUERY --json`, {name.removeprefix('search_')} query"
        )
        q, t = c[name]["quick"], c[name]["typer"]
        own = c[name].get("own")
        own_cells = [own["wall_ms"], own["cpu_ms"]] if own else ["-", "-"]
        rows.append([what, q["wall_ms"], q["cpu_ms"], *own_cells, t["wall_ms"], t["cpu_ms"]])
    rss = c.get("resident_rss_mb")
    return [
        "",
        f"Whole processes, median of {c['runs']} runs each (warm file cache): the console "
        "script `polyfind` as installed (a search is answered by the resident searcher the "
        "first search started), the console script with POLYFIND_RESIDENT=0 (each search in "
        'its own process: "own"), and the same command line parsed by Typer '
        "(`python -m polyfind.cli`). Queries: "
        + "; ".join(f"{k}: {v}" for k, v in c["queries"].items())
        + "."
        + (f" The resident searcher's memory afterwards: {rss} MB resident." if rss else ""),
        "",
        *table(["", "ms", "CPU ms", "own ms", "own CPU ms", "Typer ms", "Typer CPU ms"], rows),
    ]


@block("speed-web")
def speed_web(results: Results) -> Lines:
    w = results["web"]
    b = w["browser"]
    by_page = b.get("timed_by") == "page"
    rows = [
        [
            f"search: last keystroke to {'the frame with the hits' if by_page else 'hits drawn'}"
            f" (includes the {b['debounce_ms']} ms debounce)",
            b["search_after_keystroke_p50_ms"],
            b["search_after_keystroke_p95_ms"],
        ],
        [
            "search: after the debounce (request, search, quick snippets, drawing)",
            b["search_after_debounce_p50_ms"],
            b["search_after_debounce_p95_ms"],
        ],
        [
            "PDF hit: click to "
            + (
                "the frame with its page and highlight"
                if by_page
                else "its page drawn with the highlight"
            )
            + ", first time "
            f"({b['pdf_pages_cold']} pages; p95: the slowest)",
            b["pdf_open_cold_p50_ms"],
            b["pdf_open_cold_max_ms"],
        ],
        [
            "PDF hit: the same page again (PNG cached; p95: the slowest)",
            b["pdf_open_cached_p50_ms"],
            b["pdf_open_cached_max_ms"],
        ],
    ]
    lines = [
        provenance(w) + f" Index: {w['index']}; {b['search_queries']} queries typed into the "
        "search box of Debian's chromium (Playwright)"
        + (
            ", timed by the page from the event's time stamp."
            if b.get("timed_by") == "page"
            else "."
        ),
        "",
        *table(["in the browser", "p50 ms", "p95 ms"], rows),
        "",
    ]
    names = {"this": "Starlette on uvicorn (this)", "compare": f"`{w.get('compare')}`"}
    api_rows = []
    for key, runs in w["api"].items():
        for i, r in enumerate(runs, 1):
            one, c = r["one_client"], r["concurrent"]
            api_rows.append(
                [
                    f"{names[key]}, run {i}",
                    f"{one['p50_ms']} / {one['p95_ms']}",
                    f"{c['p50_ms']} / {c['p95_ms']}",
                    c["requests_per_s"],
                ]
            )
    header = ["`polyfind serve`", "one client p50 / p95 ms", "4 clients p50 / p95 ms", "req/s"]
    return [*lines, *table(header, api_rows, "lrrr")]


def _scale_table(r: Mapping[str, Any]) -> Lines:
    """The rows of a `scripts/bench_scale.py` run: one per variant and nprobe."""
    rows = []
    for v in r["results"]:
        name = v["variant"] + (f" (nlist {v['nlist']})" if v["nlist"] else " (exact)")
        if v["variant"] == "milvus-server-ivf":
            name = name.replace(")", " per segment)")
        if v["n"] != r["n"]:
            name += f", {v['n']:,} vectors"
        if v["noise"] != r["noise"]:
            st = v["synthetic_stats_same_count"]
            name += (
                f", harder data (noise {v['noise']}: pairwise {st['pairwise']}, "
                f"nn1 {st['nn1']}, nn10 {st['nn10']})"
            )
        milvus = v["variant"].startswith("milvus")
        if milvus:  # memory of the server process; build: insert + wait for the index
            name = name.replace(" (exact)", " (FLAT: exact)") + ", server's memory"
            build = f"{v['build_s']} (insert {v['add_s']} + index {v['index_wait_s']})"
            memory = [v["build_peak_rss_mb"], f"{v['rss_mb_loaded']} / {v['server_peak_rss_mb']}"]
        else:
            build = f"{v['build_s']} ({v['train_s']} + {v['add_s']})"
            memory = [
                v["build_child_peak_rss_mb"],
                f"{v['rss_mb_loaded']} / {v['search_child_peak_rss_mb']}",
            ]
        for n, row in enumerate(v["rows"]):
            head = [name, build, v["file_mb"], *memory] if n == 0 else [""] * 5
            remove = ""
            if n == 0:
                remove = " / ".join(str(x) for x in v["remove_ms"])
                remove += "" if v["removed_still_found"] == 0 else " (NOT removed!)"
            rows.append(
                [
                    *head,
                    row["nprobe"] or "-",
                    f3(row["recall@10"]),
                    f"{row['p50_ms']} / {row['p95_ms']}",
                    f"{row['p50_ms_k100']} / {row['p95_ms_k100']}",
                    remove,
                ]
            )
    header = [
        "index",
        "build s (train + add)",
        "file MB",
        "build peak RSS MB",
        "search RSS MB (loaded / peak)",
        "nprobe",
        "recall@10",
        "p50 / p95 ms, k=10",
        "p50 / p95 ms, k=100",
        "remove 200 ids, ms",
    ]
    return table(header, rows)


def _scale_head(r: Mapping[str, Any]) -> Lines:
    """Where the numbers come from, the data, and the table."""
    return [
        provenance(r) + f" Latencies are medians (p50) and 95th percentiles (p95) over "
        f"{r['queries']} queries, one at a time.",
        "",
        _data_line(r),
        "",
        *_scale_table(r),
    ]


def _data_line(r: Mapping[str, Any]) -> str:
    first = r["results"][0]
    same, real, syn = (
        first["synthetic_stats_same_count"],
        first["real_stats"],
        first["synthetic_stats"],
    )
    return (
        f"Data: {r['n']:,} x {r['dim']} synthetic vectors made around the "
        f"{first['real_vectors']} real chunk vectors of `{r['vectors_from']}` (noise "
        f"{r['noise']}). As many synthetic points as there are real vectors: mean pairwise "
        f"cosine {same['pairwise']} vs {real['pairwise']} real, nearest neighbour {same['nn1']} "
        f"vs {real['nn1']}, 10th nearest {same['nn10']} vs {real['nn10']} (20,000 synthetic "
        f"points: {syn['pairwise']}, {syn['nn1']}, {syn['nn10']})."
    )


def _best_at(v: Mapping[str, Any], recall: float = 0.95) -> Mapping[str, Any] | None:
    """The row with the lowest p95 among those with recall@10 at least ``recall``."""
    return min(
        (x for x in v["rows"] if x["recall@10"] >= recall),
        key=lambda x: x["p95_ms"],
        default=None,
    )


def _ten_million(v: Mapping[str, Any], what: str) -> str:
    per_m = 1_000_000 / v["n"]
    best = _best_at(v)
    return (
        f"10,000,000 chunks in {what}, scaled from these rows: about "
        f"{v['file_mb'] * per_m * 10 / 1024:.0f} GB of data and "
        f"{v['rss_mb_loaded'] * per_m * 10 / 1024:.0f} GB of memory loaded "
        "(vectors alone: 15.4 GB); search time at that size was not measured"
        + (
            f" (here nprobe {best['nprobe']}: recall@10 {best['recall@10']:.3f}, "
            f"p95 {best['p95_ms']} ms at {v['n']:,})."
            if best
            else "."
        )
    )


@block("speed-scale")
def speed_scale(results: Results) -> Lines:
    r = results["scale"]
    out = _scale_head(r)
    if any(v["variant"].startswith("milvus") for v in r["results"]):
        out += [
            "",
            "Milvus rows: the same points in a Milvus server (milvus-lite's engine on "
            "127.0.0.1, as the tests start it) with the vector index `--store "
            "milvus://...?index=` makes; one query at a time through `MilvusClient.search`, "
            "gRPC and the server's consistency wait included; file MB is the server's data "
            "folder, memory the server process's (peak while building; loaded / peak while "
            "searching). milvus-lite's engine does not apply the search's nprobe (its rows "
            "differ by noise only; the same was reported of Milvus Lite in "
            "EverMind-AI/EverOS pull request 332), nor the number of lists (an earlier run "
            "with 1024 lists gave the same recall): it keeps every row in one growing "
            "segment (milvus-lite's segcore_wrapper.cpp makes only that one), which Milvus "
            "searches through the small IVF index it keeps for growing segments, with lists "
            "and probes set by the engine's own configuration. The standalone server below "
            "builds the index asked for on sealed segments.",
        ]
        for v in r["results"]:
            if v["variant"] == "milvus-ivf" and v["n"] >= 1_000_000:
                out += ["", _ten_million(v, "one such server")]
    return out


@block("speed-scale-server")
def speed_scale_server(results: Results) -> Lines:
    r = {**results["scale-server"], "clock": "Wall clock"}  # no FAISS in this run
    out = [
        *_scale_head(r),
        "",
        "The server: PyPI's `milvus` package, Milvus's own standalone server with an "
        "embedded etcd and local storage (`polyfind.bench.milvus_server.milvus_standalone`), "
        "started by each phase in a network namespace of its own whose only interface is "
        "loopback. IVF_FLAT as `--store milvus://...?index=ivf` asks for it "
        "(`milvus.vector_index_params`), built on each sealed segment; searches read with "
        "`Bounded` staleness, as polyfind's do once the index's last write is "
        "`milvus.FRESH_S` old. The points are made as for the Scale table above (same "
        "generator and seeds, around the corpus index's vectors at the time of the run).",
    ]
    for v in r["results"]:
        if v["variant"] == "milvus-server-ivf":
            best = _best_at(v)
            goal = "recall@10 at least 0.95 with p95 under 50 ms"
            if best is not None and best["p95_ms"] < 50:
                out += [
                    "",
                    f"Goal ({goal}): met at nprobe {best['nprobe']} (recall@10 "
                    f"{best['recall@10']:.3f}, p95 {best['p95_ms']} ms at {v['n']:,} vectors).",
                ]
            else:
                out += ["", f"Goal ({goal}): NOT met."]
            nprobe = Settings().milvus_nprobe
            at = [x for x in v["rows"] if x["nprobe"] == nprobe]
            out += [
                "",
                f"polyfind searches a Milvus IVF_FLAT index with nprobe {nprobe} "
                "(`Settings.milvus_nprobe`)"
                + (
                    f": recall@10 {at[0]['recall@10']:.3f}, p95 {at[0]['p95_ms']} ms here."
                    if at
                    else ", not measured here."
                ),
            ]
            if v["n"] >= 1_000_000:
                out += ["", _ten_million(v, "one such server")]
    return out


# ------------------------------------------------------------------------------ records
@block("reliability")
def reliability(results: Results) -> Lines:
    r = results["reliability"]
    return [provenance(r), "", *table(r["columns"], r["rows"])]


# ------------------------------------------------------------------------------ currency
@block("currency")
def currency(results: Results) -> Lines:
    r = results["currency"]
    ri, w = r["reindex"], r["watch"]
    runs = ", ".join(f"{s:.2f}" for s in ri["unchanged_seconds"])
    out = [
        provenance(r),
        "",
        *table(
            [
                "folder",
                "files indexed",
                "skipped",
                "first index, s",
                "unchanged re-index, s",
                "median, s",
                "read again",
            ],
            [
                [
                    Path(ri["folder"]).name,
                    ri["documents"],
                    ri["skipped"],
                    f"{ri['first_seconds']:.1f}",
                    runs,
                    f"{ri['unchanged_median']:.2f}",
                    ri["last_read_again"],
                ]
            ],
            "lrrrrrr",
        ),
        "",
        *table(
            [
                "file copied into the watched folder",
                "chunks",
                "searchable after, s",
                "its indexing, s",
                "waiting, s",
            ],
            [
                [
                    x["file"],
                    x["chunks"],
                    f"{x['latency']:.1f}",
                    f"{x['indexing']:.1f}",
                    f"{x['waiting']:.1f}",
                ]
                for x in w["files"]
            ],
            "lrrrr",
        ),
    ]
    return out


@block("scale-cluster")
def scale_cluster(results: Results) -> Lines:
    """Indexing on Dask workers (``polyfind.bench.cluster``), and what 10 million chunks
    would cost, computed from the same measurements."""
    r = results["cluster"]
    base = r["in_process"][0]  # one thread: one worker's share of the machine

    def rate(x: Mapping[str, Any]) -> float:
        return float(x["chunks"]) / float(x["seconds"])

    rows = []
    for x in r["in_process"]:
        threads = "1 thread" if x["threads"] == 1 else "every core"
        rows.append([f"in-process, embedder on {threads}", x["chunks"], x["seconds"], rate(x)])
    for x in r["dask"]:
        name = f"Dask, {x['workers']} worker{'s' if x['workers'] > 1 else ''} x 1 thread"
        rows.append([f"{name} (ready after {x['start_s']} s)", x["chunks"], x["seconds"], rate(x)])
    w = r["writer"]
    alone = "the writer alone (commits of embedded chunks)"
    rows.append([alone, w["chunks"], w["seconds"], rate(w)])
    body = [
        [name, chunks, seconds, f"{per_s:.1f}", f"{per_s / rate(base):.2f}x"]
        for name, chunks, seconds, per_s in rows
    ]
    dask = {x["workers"]: rate(x) for x in r["dask"]}
    out = [
        provenance(r) + f" Folder: {r['corpus']}.",
        "",
        *table(["run", "chunks", "seconds", "chunks/s", "vs 1 thread"], body, "lrrrr"),
        "",
    ]
    if 1 in dask and 2 in dask:
        out.append(
            f"2 workers / 1 worker: {dask[2] / dask[1]:.2f}x (goal: at least 1.8x). The writer "
            f"commits {rate(w):.0f} chunks/s, {rate(w) / dask[1]:.0f} times what one worker "
            "embeds: it is not the bottleneck below that many single-threaded workers (goal: "
            "not below 8)."
        )
        per_worker = dask[1]
        hours = [(n, 10_000_000 / min(n * per_worker, rate(w)) / 3600) for n in (8, 32, 128, 512)]
        out += [
            "",
            "10,000,000 chunks, from these rates (one worker: one core; the writer caps the "
            "total): "
            + "; ".join(f"{n} workers {h:.1f} h" for n, h in hours)
            + f". Their vectors alone are {10_000_000 * 384 * 4 / 1e9:.1f} GB (384 float32).",
        ]
    return out


@block("scale-store")
def scale_store(results: Results) -> Lines:
    """Milvus against the embedded store on the same chunks and vectors
    (``polyfind.bench.stores``)."""
    r = results["store"]
    modes = sorted({k.split("_", 1)[1] for s in r["sets"] for k in s if k.startswith("local_")})
    modes = [m for m in modes if m != "seconds"]
    rows = []
    worst = 0.0
    for s in r["sets"]:
        for mode in modes:
            a, b = s[f"local_{mode}"], s[f"milvus_{mode}"]
            diff = b["mrr@10"] - a["mrr@10"]
            worst = min(worst, diff)
            rows.append(
                [
                    s["set"],
                    mode,
                    s["queries"],
                    f"{a['mrr@10']:.4f}",
                    f"{b['mrr@10']:.4f}",
                    f"{diff:+.4f}",
                    f"{a['ndcg@10']:.4f} / {b['ndcg@10']:.4f}",
                    f"{a['recall@100']:.4f} / {b['recall@100']:.4f}",
                ]
            )
    out = [
        provenance(r) + f" Server: {r['server']}.",
        "",
        *table(
            [
                "set",
                "mode",
                "queries",
                "MRR@10 default",
                "MRR@10 Milvus",
                "difference",
                "nDCG@10 default / Milvus",
                "Recall@100 default / Milvus",
            ],
            rows,
            "llrrrrrr",
        ),
        "",
        f"Largest drop of MRR@10 through Milvus: {worst:+.4f} (goal: within 0.005).",
    ]
    q = r.get("corpus_questions")
    if q:
        qrows = []
        for mode, m in q["modes"].items():
            a, b = m["local"], m["milvus"]
            qrows.append(
                [
                    mode,
                    f"{m['identical_top10']} / {q['questions']}",
                    f"{m['same_chunks_top10']} / {q['questions']}",
                    f"{m['mean_overlap_top10']:.3f}",
                    f"{a['document@5']['hits']} / {b['document@5']['hits']}",
                    f"{a['page@1']['hits']} / {b['page@1']['hits']} of {a['with_page']}",
                    f"{a['mrr@10']:.4f} / {b['mrr@10']:.4f}",
                ]
            )
        out += [
            "",
            f"Corpus questions (`{r['corpus']}` indexed as `polyfind index` does, "
            f"{q['questions']} questions, 10 hits each, `polyfind search`'s defaults), "
            "through the index and through its copy moved to Milvus:",
            "",
            *table(
                [
                    "mode",
                    "identical top 10",
                    "same chunks in the top 10",
                    "mean overlap",
                    "document@5 default / Milvus",
                    "page@1 default / Milvus",
                    "MRR@10 default / Milvus",
                ],
                qrows,
                "lrrrrrr",
            ),
        ]
    return out
