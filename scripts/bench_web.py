"""The web page's speed, measured in Debian's chromium (Playwright), and the JSON API under
load (``polyfind.bench.speed.serve``, the measure of BENCHMARKS.md "Search").

    .venv/bin/python scripts/bench_web.py --index indexes/default \
        [--compare OTHER/.venv/bin/polyfind] [--runs 2]   # -> benchmarks/web.json

- search: for each query typed into the search box, the time from the last keystroke to the
  frame with the hits drawn (it includes the page's debounce, ``DEBOUNCE_MS`` in app.js),
  and the part after the debounce (request, search, quick snippets, drawing); both timed by
  the page itself from the input event's time stamp (``window.polyfind.lastKeyMs``,
  ``lastSearchMs``), so that the driver's own round trips are not counted;
- PDF page: the time from the click on a PDF hit (the click event's time stamp) to the
  frame with its page drawn and the highlight on it (``lastRenderMs``), the first time
  (rendered by PDFium) and again (cached);
- API: ``polyfind serve`` with one client, then 4 client threads at once; with
  ``--compare``, another polyfind's ``serve`` over the same index too, the two run in turns
  (``--runs`` each), so that both see the same load of a shared machine.

``scripts/render_benchmarks.py`` then renders BENCHMARKS.md's "Web page" block.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from polyfind.bench import speed  # noqa: E402
from polyfind.bench.render import write_result  # noqa: E402
from polyfind.eval import load_questions  # noqa: E402
from polyfind.server import make_server, serve_in_thread  # noqa: E402
from polyfind.settings import resolve  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
POLYFIND = list(speed.POLYFIND)


def pct(values: list[float], p: float) -> float:
    return round(speed.percentile(values, p), 1)


def browser_timings(url: str, queries: list[str], pdf_query: str) -> dict[str, object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1400, "height": 900})
        page.goto(url + "/")
        debounce = page.evaluate("window.polyfind.debounceMs")
        total: list[float] = []
        after: list[float] = []
        for q in queries:
            before = page.evaluate("window.polyfind.searches")
            page.fill("#q", "")
            page.type("#q", q)  # key by key, as a user types
            while page.evaluate("window.polyfind.searches") == before:
                page.wait_for_timeout(2)
            total.append(page.evaluate("window.polyfind.lastKeyMs"))
            after.append(page.evaluate("window.polyfind.lastSearchMs"))
        # PDF pages: each PDF hit of one query, opened twice
        page.fill("#q", pdf_query)
        page.keyboard.press("Enter")
        page.wait_for_selector("#hits li.hit")
        page.wait_for_timeout(500)
        nodes = page.locator("#hits li.hit", has_text=".pdf")
        cold: list[float] = []
        warm: list[float] = []
        seen: set[str] = set()
        for i in range(nodes.count()):
            node = nodes.nth(i)
            citation = node.locator(".citation").text_content() or ""
            pdf_page = citation.split(":")[1]
            for times in (cold, warm):
                if page.is_visible("#r-close"):
                    page.click("#r-close")
                node.click()
                chunk = node.get_attribute("data-chunk-id")
                page.wait_for_selector(f"#reader[data-chunk-id='{chunk}'][data-ready='1']")
                ms = page.evaluate("window.polyfind.lastRenderMs")
                if times is cold and pdf_page in seen:
                    continue  # the page was drawn before: not a cold one
                times.append(ms)
            seen.add(pdf_page)
        browser.close()
    return {
        "search_queries": len(queries),
        "timed_by": "page",
        "debounce_ms": debounce,
        "search_after_keystroke_p50_ms": pct(total, 50),
        "search_after_keystroke_p95_ms": pct(total, 95),
        "search_after_debounce_p50_ms": pct(after, 50),
        "search_after_debounce_p95_ms": pct(after, 95),
        "pdf_pages_cold": len(cold),
        "pdf_open_cold_p50_ms": pct(cold, 50),
        "pdf_open_cold_max_ms": round(max(cold), 1) if cold else None,
        "pdf_open_cached_p50_ms": pct(warm, 50),
        "pdf_open_cached_max_ms": round(max(warm), 1) if warm else None,
    }


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--index", default="indexes/default")
    ap.add_argument("--out", default=str(ROOT / "benchmarks"))
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--compare", help="another polyfind executable whose serve to measure too")
    ap.add_argument("--runs", type=int, default=2)
    args = ap.parse_args()
    questions = load_questions(ROOT / "bench/corpus-questions/questions.jsonl")
    queries = [q.text for q in questions] + [q for _, q in speed.extra_queries()]
    settings = resolve({"index_dir": Path(args.index)})
    load_start = round(os.getloadavg()[0], 1)
    server = make_server(settings, port=0)
    thread = serve_in_thread(server)
    try:
        status = server.service.status()
        result: dict[str, object] = {
            "command": "scripts/bench_web.py " + " ".join(sys.argv[1:]),
            "date": time.strftime("%Y-%m-%d"),
            "machine": f"{os.cpu_count()} cores, shared",
            "index": f"{status['documents']} documents, {status['chunks']} passages",
            "browser": browser_timings(server.url, queries, "federal R&D funding agencies"),
        }
    finally:
        server.shutdown()
        server.server_close()
        thread.join(10)
    servers = [("this", POLYFIND)] + ([("compare", [args.compare])] if args.compare else [])
    api: dict[str, list[dict[str, object]]] = {name: [] for name, _ in servers}
    for _ in range(args.runs):
        for name, exe in servers:
            speed.POLYFIND = tuple(exe)
            api[name].append(speed.serve(Path(args.index), queries, args.seconds))
    result["api"] = api
    result["compare"] = args.compare
    result["load_start"], result["load_end"] = load_start, round(os.getloadavg()[0], 1)
    print(json.dumps(result, indent=1))
    write_result(Path(args.out), "web", result)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
