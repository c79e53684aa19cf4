// polyfind's search page. Plain JavaScript, no dependencies. Document text, titles and file
// names are untrusted: they are only ever written with textContent (never innerHTML).
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  const DEBOUNCE_MS = 150;
  const FLAT_K = 20;
  const PER_LANG = 6;
  const LANGS = ["ko", "ja", "en"];

  const state = {
    seq: 0,
    controller: null,
    hits: [],
    selected: -1,
    open: null, // the passage in the reader (JSON of /reader)
    page: null, // the PDF page shown
    zoom: 1.5,
    shown: 0, // counts the PDF pages asked for: a late image of an earlier one is ignored
    keyAt: null, // when the last key was typed into the search box (performance.now() time)
  };
  // What the browser tests read.
  // lastKeyMs: from the last keystroke to the frame with the hits drawn; lastSearchMs: the
  // part after the debounce; lastRenderMs: from the click on a hit to the frame with its
  // page (and highlight) drawn.
  window.polyfind = {
    debounceMs: DEBOUNCE_MS,
    searches: 0,
    lastKeyMs: null,
    lastSearchMs: null,
    lastRenderMs: null,
    snippetsDone: 0,
  };

  // Runs fn in the next frame, after what the caller changed is laid out: the time taken
  // then is the time to what the user sees.
  function whenDrawn(fn) {
    requestAnimationFrame(() => fn(performance.now()));
  }

  function el(tag, cls, text) {
    const node = document.createElement(tag);
    if (cls) node.className = cls;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function pageCitation(page, label, prefix) {
    if (label === null || label === undefined || label === String(page)) return prefix + page;
    return prefix + page + " (printed " + label + ")";
  }

  // As Passage.display_citation: source:p5 (printed 3):12, or source:12.
  function displayCitation(h) {
    if (h.page !== null && h.page !== undefined) {
      return h.source + ":" + pageCitation(h.page, h.page_label, "p") + ":" + h.line;
    }
    return h.source + ":" + h.line;
  }

  function params() {
    const langs = Array.from(document.querySelectorAll("input[name=lang]:checked")).map(
      (x) => x.value
    );
    return {
      q: $("q").value,
      langs: langs.length === LANGS.length ? [] : langs,
      mode: $("mode").value,
      view: $("view").value,
    };
  }

  function searchUrl(p, extra) {
    const u = new URLSearchParams();
    u.set("q", p.q);
    if (p.langs.length) u.set("lang", p.langs.join(","));
    u.set("mode", p.mode);
    if (p.view === "lang") u.set("per_lang", String(PER_LANG));
    else u.set("k", String(FLAT_K));
    for (const [k, v] of Object.entries(extra || {})) u.set(k, v);
    return "/search?" + u.toString();
  }

  function pageUrl(p) {
    const u = new URLSearchParams();
    if (p.q) u.set("q", p.q);
    if (p.langs.length) u.set("lang", p.langs.join(","));
    if (p.mode !== "hybrid") u.set("mode", p.mode);
    if (p.view !== "flat") u.set("view", p.view);
    const s = u.toString();
    return s ? "/?" + s : "/";
  }

  function notice(text, isError) {
    const n = $("notice");
    n.textContent = text || "";
    n.classList.toggle("error", Boolean(isError));
  }

  async function getJson(url, signal) {
    const resp = await fetch(url, { signal: signal, headers: { Accept: "application/json" } });
    const body = await resp.json();
    if (!resp.ok) throw new Error(body.error || "HTTP " + resp.status);
    return body;
  }

  // -- search ---------------------------------------------------------------------------
  let timer = null;
  function schedule(ev) {
    state.keyAt = ev ? ev.timeStamp : performance.now();
    clearTimeout(timer);
    timer = setTimeout(runSearch, DEBOUNCE_MS);
  }

  async function runSearch() {
    clearTimeout(timer);
    const p = params();
    history.replaceState(null, "", pageUrl(p));
    $("export-csv").href = p.q.trim() ? searchUrl(p, { format: "csv" }) : "#";
    $("export-json").href = p.q.trim() ? searchUrl(p, { format: "json" }) : "#";
    if (!p.q.trim()) {
      renderHits([], p.view);
      notice("");
      return;
    }
    if (state.controller) state.controller.abort();
    const controller = new AbortController();
    state.controller = controller;
    const seq = ++state.seq;
    const started = performance.now();
    const keyAt = state.keyAt;
    state.keyAt = null; // a search run by Enter or a chip has no keystroke to time
    try {
      // quick snippets first (no closest sentence: that embeds sentences), the rest after
      const body = await getJson(searchUrl(p, { snippets: "quick" }), controller.signal);
      if (seq !== state.seq) return;
      renderHits(body.hits, p.view);
      const ms = performance.now() - started;
      whenDrawn((now) => {
        window.polyfind.lastSearchMs = now - started;
        window.polyfind.lastKeyMs = keyAt === null ? null : now - keyAt;
        window.polyfind.searches += 1;
      });
      notice(
        body.hits.length
          ? body.hits.length + " passages (" + body.mode + ", " + Math.round(ms) + " ms)"
          : "no passages found"
      );
      await fillSentences(p.q, body.hits, seq, controller.signal);
    } catch (err) {
      if (err.name === "AbortError") return;
      if (seq === state.seq) notice(err.message, true);
    }
  }

  // Passages in which no query word occurs: mark the sentence closest to the query.
  async function fillSentences(q, hits, seq, signal) {
    const ids = hits.filter((h) => h.snippet && h.snippet.kind === "start").map((h) => h.chunk_id);
    if (ids.length) {
      const u = new URLSearchParams({ q: q, ids: ids.join(",") });
      const body = await getJson("/snippets?" + u.toString(), signal);
      if (seq !== state.seq) return;
      for (const node of hitNodes()) {
        const snip = body.snippets[node.dataset.chunkId];
        if (snip) node.querySelector(".snippet").replaceWith(snippetNode(snip));
      }
    }
    window.polyfind.snippetsDone = seq;
  }

  function snippetNode(snip) {
    const p = el("p", "snippet");
    let at = 0;
    for (const [a, b] of snip.highlights) {
      if (a > at) p.appendChild(document.createTextNode(snip.text.slice(at, a)));
      p.appendChild(el("mark", snip.kind, snip.text.slice(a, b)));
      at = b;
    }
    if (at < snip.text.length) p.appendChild(document.createTextNode(snip.text.slice(at)));
    return p;
  }

  function hitNode(h, index) {
    const li = el("li", "hit");
    li.tabIndex = 0;
    li.dataset.index = String(index);
    li.dataset.chunkId = String(h.chunk_id);
    li.dataset.lang = h.lang;
    const head = el("div", "hit-head");
    head.appendChild(el("span", "rank", "#" + h.rank));
    head.appendChild(el("span", "score", Number(h.score).toFixed(3)));
    head.appendChild(el("span", "lang lang-" + h.lang, h.lang));
    head.appendChild(el("span", "citation", displayCitation(h)));
    if (h.missing) head.appendChild(el("span", "missing", "file missing"));
    li.appendChild(head);
    if (h.title) li.appendChild(el("p", "title", h.title));
    li.appendChild(
      h.snippet ? snippetNode(h.snippet) : el("p", "snippet", h.text.slice(0, 240))
    );
    li.addEventListener("click", (ev) => select(index, true, ev.timeStamp));
    return li;
  }

  function renderHits(hits, view) {
    state.hits = hits;
    state.selected = -1;
    const flat = $("hits");
    flat.replaceChildren();
    const columns = $("columns");
    for (const col of columns.querySelectorAll(".column ol")) col.replaceChildren();
    const langs = params().langs; // empty: all three
    for (const col of columns.querySelectorAll(".column")) {
      col.hidden = langs.length > 0 && !langs.includes(col.dataset.lang);
    }
    const perLang = view === "lang";
    flat.hidden = perLang;
    columns.hidden = !perLang;
    hits.forEach((h, i) => {
      const node = hitNode(h, i);
      if (perLang) {
        const col = columns.querySelector('.column[data-lang="' + h.lang + '"] ol');
        (col || flat).appendChild(node);
      } else {
        flat.appendChild(node);
      }
    });
  }

  function hitNodes() {
    return Array.from(document.querySelectorAll("#results li.hit"));
  }

  function select(index, open, startedAt) {
    const nodes = hitNodes();
    if (!nodes.length) return;
    index = Math.max(0, Math.min(nodes.length - 1, index));
    const order = nodes.map((n) => Number(n.dataset.index));
    const node = nodes[order.indexOf(index)] || nodes[0];
    for (const n of nodes) n.classList.remove("selected");
    node.classList.add("selected");
    node.focus();
    state.selected = Number(node.dataset.index);
    if (open) openPassage(Number(node.dataset.chunkId), startedAt);
  }

  // Arrow keys move in the order the hits are shown (columns: top to bottom, left to right).
  function move(step) {
    const nodes = hitNodes();
    if (!nodes.length) return;
    const at = nodes.findIndex((n) => n.classList.contains("selected"));
    const next = nodes[Math.max(0, Math.min(nodes.length - 1, at + step))];
    select(Number(next.dataset.index), false);
  }

  document.addEventListener("keydown", (ev) => {
    const inBox = ev.target === $("q");
    if (ev.key === "ArrowDown") {
      ev.preventDefault();
      if (inBox || state.selected < 0) select(0, false);
      else move(1);
    } else if (ev.key === "ArrowUp") {
      if (inBox) return;
      ev.preventDefault();
      move(-1);
    } else if (ev.key === "Enter" && !inBox && ev.target.classList.contains("hit")) {
      ev.preventDefault();
      openPassage(Number(ev.target.dataset.chunkId), ev.timeStamp);
    }
  });

  // -- reader ---------------------------------------------------------------------------
  async function openPassage(chunkId, startedAt) {
    const started = startedAt === undefined ? performance.now() : startedAt;
    let body;
    try {
      body = await getJson("/reader?id=" + encodeURIComponent(chunkId));
    } catch (err) {
      notice(err.message, true);
      return;
    }
    state.open = body;
    const reader = $("reader");
    reader.hidden = false;
    reader.dataset.chunkId = String(body.chunk_id);
    reader.dataset.ready = "0";
    $("r-citation").textContent = displayCitation(body) + (body.missing ? "  (file missing)" : "");
    $("r-title").textContent = (body.title || "") + (body.date ? " (" + body.date + ")" : "");
    $("r-meta").textContent =
      "lines " + body.line + "-" + body.line_end + ", characters " + body.start + "-" +
      body.end + ", language " + body.lang + ", passage " + body.chunk_id;
    // a PDF whose file is gone: its stored text, as for other formats
    const isPdf = body.document.format === "pdf" && body.page !== null && !body.missing;
    $("r-pdf").hidden = !isPdf;
    const text = $("r-text");
    text.replaceChildren();
    if (isPdf) {
      // the passage with the context `show` prints, under the page image
      text.appendChild(el("span", "context", body.before));
      text.appendChild(el("mark", "passage", body.text));
      text.appendChild(el("span", "context", body.after));
      showPdfPage(body.page, started);
    } else {
      const page = body.page_text;
      text.appendChild(document.createTextNode(page.slice(0, body.start)));
      const mark = el("mark", "passage", page.slice(body.start, body.end));
      text.appendChild(mark);
      text.appendChild(document.createTextNode(page.slice(body.end)));
      mark.scrollIntoView({ block: "center" });
      whenDrawn((now) => {
        window.polyfind.lastRenderMs = now - started;
        reader.dataset.ready = "1";
      });
    }
    loadOthers(body);
  }

  function showPdfPage(page, started) {
    const body = state.open;
    state.page = page;
    $("reader").dataset.ready = "0"; // until the image is drawn
    const doc = body.document;
    const label = doc.page_labels[page - 1];
    $("r-pageno").textContent =
      pageCitation(page, label === undefined ? null : label, "page ") + " of " + doc.pages;
    $("r-zoom").textContent = Math.round((state.zoom / 1.5) * 100) + "%";
    $("r-prev").disabled = page <= 1;
    $("r-next").disabled = page >= doc.pages;
    const wrap = $("r-pagewrap");
    for (const box of wrap.querySelectorAll(".hl")) box.remove();
    const img = $("r-img");
    wrap.style.width = (state.zoom / 1.5) * 100 + "%"; // 100%: the reader's width
    const shown = ++state.shown;
    img.onload = async () => {
      try {
        await img.decode(); // drawn decoded, not decoded while the frame is painted
      } catch (err) {
        // the image changed meanwhile: the newer call draws it
      }
      if (shown !== state.shown) return;
      if (page === body.page) {
        for (const [x0, y0, x1, y1] of body.boxes || []) {
          const box = el("div", "hl");
          box.style.left = x0 * 100 + "%";
          box.style.top = y0 * 100 + "%";
          box.style.width = (x1 - x0) * 100 + "%";
          box.style.height = (y1 - y0) * 100 + "%";
          wrap.appendChild(box);
        }
        const first = wrap.querySelector(".hl");
        if (first) first.scrollIntoView({ block: "center" });
      }
      whenDrawn((now) => {
        if (started) window.polyfind.lastRenderMs = now - started;
        $("reader").dataset.ready = "1";
      });
    };
    const scale = Math.min(4, Math.max(0.5, state.zoom));
    img.src = "/page.png?doc=" + doc.id + "&page=" + page + "&scale=" + scale;
    wrap.dataset.page = String(page);
  }

  async function loadOthers(body) {
    const box = $("r-others");
    box.replaceChildren();
    for (const lang of LANGS.filter((l) => l !== body.lang)) {
      const group = el("div", "other-lang");
      group.dataset.lang = lang;
      group.appendChild(el("h4", "", lang));
      const list = el("ol", "hits small");
      group.appendChild(list);
      box.appendChild(group);
      try {
        const found = await getJson("/similar?id=" + body.chunk_id + "&k=3&lang=" + lang);
        if (state.open !== body) return;
        for (const h of found.hits) list.appendChild(smallHit(h));
        if (!found.hits.length) list.appendChild(el("li", "none", "no passages"));
      } catch (err) {
        list.appendChild(el("li", "error", err.message));
      }
    }
  }

  function smallHit(h) {
    const li = el("li", "other");
    li.tabIndex = 0;
    li.dataset.chunkId = String(h.chunk_id);
    li.appendChild(el("span", "score", Number(h.score).toFixed(3)));
    li.appendChild(el("span", "citation", displayCitation(h)));
    li.appendChild(el("p", "snippet", h.text.slice(0, 200)));
    const go = () => openPassage(h.chunk_id);
    li.addEventListener("click", go);
    li.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter") go();
    });
    return li;
  }

  async function moreLikeThis() {
    const body = state.open;
    if (!body) return;
    const p = params();
    const lang = p.langs.length ? "&lang=" + p.langs.join(",") : "";
    try {
      const found = await getJson("/similar?id=" + body.chunk_id + "&k=" + FLAT_K + lang);
      renderHits(found.hits, "flat");
      notice("passages like " + displayCitation(body) + " (from other documents)");
    } catch (err) {
      notice(err.message, true);
    }
  }

  // -- wiring ---------------------------------------------------------------------------
  function init() {
    const url = new URLSearchParams(location.search);
    if (url.has("q")) $("q").value = url.get("q");
    if (url.get("lang")) {
      const wanted = url.get("lang").split(",");
      for (const box of document.querySelectorAll("input[name=lang]")) {
        box.checked = wanted.includes(box.value);
      }
    }
    if (url.get("mode")) $("mode").value = url.get("mode");
    if (url.get("view") === "lang") $("view").value = "lang";
    $("search-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      runSearch();
    });
    $("q").addEventListener("input", schedule);
    for (const input of document.querySelectorAll("input[name=lang], #mode, #view")) {
      input.addEventListener("change", runSearch);
    }
    $("r-close").addEventListener("click", () => {
      $("reader").hidden = true;
      state.open = null;
    });
    $("r-copy").addEventListener("click", async () => {
      if (!state.open) return;
      const b = state.open;
      const text = displayCitation(b) + (b.title ? " — " + b.title : "");
      try {
        await navigator.clipboard.writeText(text);
        $("r-copy").textContent = "copied";
      } catch (err) {
        $("r-copy").textContent = "copy failed";
      }
      $("r-copy").dataset.copied = text;
      setTimeout(() => ($("r-copy").textContent = "copy citation"), 1500);
    });
    $("r-more").addEventListener("click", moreLikeThis);
    $("r-prev").addEventListener("click", () => showPdfPage(state.page - 1));
    $("r-next").addEventListener("click", () => showPdfPage(state.page + 1));
    $("r-zoom-in").addEventListener("click", () => {
      state.zoom = Math.min(4, state.zoom * 1.25);
      showPdfPage(state.page);
    });
    $("r-zoom-out").addEventListener("click", () => {
      state.zoom = Math.max(0.75, state.zoom / 1.25);
      showPdfPage(state.page);
    });
    if ($("q").value.trim()) runSearch();
  }

  init();
})();
