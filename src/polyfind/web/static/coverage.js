// polyfind's coverage page: the index's documents and skipped files, filterable. Text from
// the index is written with textContent only.
"use strict";

(function () {
  const $ = (id) => document.getElementById(id);
  let data = null;

  function cell(row, text) {
    const td = document.createElement("td");
    td.textContent = text === null || text === undefined ? "" : String(text);
    row.appendChild(td);
    return td;
  }

  function when(ts) {
    return ts ? new Date(ts * 1000).toISOString().slice(0, 16).replace("T", " ") : "";
  }

  function render() {
    const words = $("filter").value.trim().toLowerCase();
    const lang = $("filter-lang").value;
    const match = (...fields) =>
      !words || fields.some((f) => f && String(f).toLowerCase().includes(words));
    const docs = $("documents").querySelector("tbody");
    docs.replaceChildren();
    let shown = 0;
    for (const d of data.document_list) {
      if (lang && d.lang !== lang) continue;
      if (!match(d.source, d.title, d.format)) continue;
      const tr = document.createElement("tr");
      tr.dataset.lang = d.lang;
      cell(tr, d.source + (d.missing ? " (file missing)" : ""));
      cell(tr, d.lang);
      cell(tr, d.format);
      cell(tr, d.pages);
      cell(tr, d.chunks);
      cell(tr, d.title);
      cell(tr, d.date);
      cell(tr, when(d.indexed_at));
      docs.appendChild(tr);
      shown += 1;
    }
    const skipped = $("skipped").querySelector("tbody");
    skipped.replaceChildren();
    for (const s of data.skipped) {
      if (!match(s.source, s.reason)) continue;
      const tr = document.createElement("tr");
      cell(tr, s.source);
      cell(tr, s.reason);
      skipped.appendChild(tr);
    }
    $("summary").textContent =
      data.documents + " documents, " + data.chunks + " passages (" +
      Object.entries(data.languages).map(([k, v]) => k + " " + v).join(", ") + "); " +
      data.skipped.length + " files skipped; showing " + shown;
  }

  async function init() {
    $("filter").addEventListener("input", () => data && render());
    $("filter-lang").addEventListener("change", () => data && render());
    $("filter-form").addEventListener("submit", (ev) => ev.preventDefault());
    const resp = await fetch("/status?documents=1");
    const body = await resp.json();
    if (!resp.ok) {
      $("summary").textContent = body.error;
      return;
    }
    data = body;
    render();
    document.body.dataset.ready = "1";
  }

  init();
})();
