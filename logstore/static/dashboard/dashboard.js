// logstore dashboard: reads /logs/stats?groupBy=day,type and draws a stacked bar chart (SVG) and a table.
// Plain browser JavaScript, no build step and no library.
"use strict";
(function () {
  const TYPES = document.body.dataset.actionTypes.split(",");  // rendered by the server (action_types.py)
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#edc948"];
  const COLORS = Object.fromEntries(TYPES.map((type, i) => [type, PALETTE[i % PALETTE.length]]));
  const KEY_STORE = "logstore.apiKey";              // sessionStorage: this tab's session
  const REMEMBERED = "logstore.apiKey.remembered";  // localStorage: only when "remember" is ticked
  const SVG = "http://www.w3.org/2000/svg";
  const $ = (id) => document.getElementById(id);

  // The offset of a time zone on a day, as the API wants it in from/to: "+05:30" stays, a named zone
  // gets its offset at noon of that day (days in the zone begin at its midnight, DST aside).
  function offsetOn(tz, day) {
    const fixed = /^([+-])(\d{2}):?(\d{2})?$/.exec(tz);
    if (fixed) return `${fixed[1]}${fixed[2]}:${fixed[3] || "00"}`;
    if (tz === "Z" || tz === "UTC") return "Z";
    const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, timeZoneName: "longOffset" })
      .formatToParts(new Date(`${day}T12:00:00Z`));
    const name = parts.find((p) => p.type === "timeZoneName").value; // "GMT-07:00", or "GMT"
    return name === "GMT" ? "Z" : name.slice(3);
  }

  // The view: what the form holds and the address keeps. Days are YYYY-MM-DD in ``tz``; an empty
  // from/to leaves that end open. The API key is never part of it (nor of the address).
  const DAY = /^\d{4}-\d{2}-\d{2}$/;
  const DEFAULT_DAYS = 30;
  const URL_KEYS = ["from", "to", "userId", "types", "tz"];

  function browserZone() {
    return Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  }

  // The calendar day of an instant in a zone, as YYYY-MM-DD.
  function dayIn(tz, instant) {
    const parts = new Intl.DateTimeFormat("en-US", { timeZone: tz, year: "numeric", month: "2-digit",
                                                     day: "2-digit" }).formatToParts(instant);
    const get = (type) => parts.find((p) => p.type === type).value;
    return `${get("year")}-${get("month")}-${get("day")}`;
  }

  // The opening view: the last 30 days in the browser's zone, from the day of now - 30 days to today.
  function defaultView() {
    const tz = browserZone();
    const now = Date.now();
    return { from: dayIn(tz, new Date(now - DEFAULT_DAYS * 86400000)), to: dayIn(tz, new Date(now)),
             userId: "", types: TYPES.slice(), tz };
  }

  // The view an address asks for, or null when its query names none of the filters (the default then).
  function viewFromQuery(search) {
    const query = new URLSearchParams(search);
    if (!URL_KEYS.some((key) => query.has(key))) return null;
    const types = query.has("types")
      ? query.get("types").split(",").map((t) => t.trim().toUpperCase()).filter(Boolean) : TYPES.slice();
    return { from: query.get("from") || "", to: query.get("to") || "", userId: query.get("userId") || "",
             types, tz: query.get("tz") || browserZone() };
  }

  // The address's query for a view: from, to and tz always (so a shared link means the same days
  // anywhere), userId and types only when they narrow.
  function queryOfView(view) {
    const query = new URLSearchParams();
    query.set("from", view.from);
    query.set("to", view.to);
    if (view.userId) query.set("userId", view.userId);
    if (view.types.length !== TYPES.length || !TYPES.every((t) => view.types.includes(t))) {
      query.set("types", view.types.join(","));
    }
    query.set("tz", view.tz);
    return `?${query}`;
  }

  function viewFromForm() {
    return { from: $("from").value, to: $("to").value, userId: $("userId").value.trim(),
             types: [...document.querySelectorAll("input[name=types]:checked")].map((e) => e.value),
             tz: $("tz").value.trim() || "UTC" };
  }

  function showViewInForm(view) {
    // A date input drops a value that is not a day; checked in filterParams, so set it as given.
    $("from").value = view.from;
    $("to").value = view.to;
    $("userId").value = view.userId;
    for (const box of document.querySelectorAll("input[name=types]")) box.checked = view.types.includes(box.value);
    $("tz").value = view.tz;
  }

  // The API's query for a view (without groupBy/tz): errors here are the user's, shown as such.
  function filterParams(view) {
    const params = new URLSearchParams();
    if (view.userId) params.set("userId", view.userId);
    const unknown = view.types.filter((t) => !TYPES.includes(t));
    if (unknown.length) throw new Error(`unknown type ${unknown.join(", ")}; types are ${TYPES.join(", ")}`);
    if (view.types.length === 0) throw new Error("choose at least one type");
    if (view.types.length < TYPES.length) params.set("types", view.types.join(","));
    for (const end of ["from", "to"]) {
      if (view[end] && !DAY.test(view[end])) throw new Error(`${end} must be a day (YYYY-MM-DD), not "${view[end]}"`);
    }
    let zoneError = null;
    try {
      if (view.from) params.set("from", `${view.from}T00:00:00${offsetOn(view.tz, view.from)}`);
      if (view.to) params.set("to", `${view.to}T23:59:59.999999${offsetOn(view.tz, view.to)}`);
      if (!view.from && !view.to) offsetOn(view.tz, "2000-01-01");
    } catch (error) {
      zoneError = error;
    }
    if (zoneError) throw new Error(`unknown time zone "${view.tz}"`);
    return params;
  }

  function headers() {
    const key = $("apiKey").value;
    return key ? { "X-API-Key": key } : {};
  }

  // An error to show: a problem document's title, detail and code, or what went wrong otherwise.
  class Problem extends Error {
    constructor(title, detail, meta, code) {
      super(`${title}: ${detail}`);
      Object.assign(this, { title, detail, meta, code });
    }
  }

  async function problemOf(response) {
    const type = response.headers.get("Content-Type") || "";
    const retry = response.headers.get("Retry-After");
    let body = {};
    if (type.includes("json")) {
      try { body = await response.json(); } catch (ignored) { body = {}; }
    }
    const title = body.title || `HTTP ${response.status} ${response.statusText}`.trim();
    let detail = body.detail || "the service answered with an error";
    if (body.parameter) detail += ` (parameter ${body.parameter})`;
    if (Array.isArray(body.errors) && body.errors.length) {
      detail += ": " + body.errors.map((e) => e.detail || e.message || JSON.stringify(e)).join("; ");
    }
    const meta = [body.code || `status ${response.status}`];
    if (retry) meta.push(`retry after ${retry} s`);
    if (body.requestId) meta.push(`request ${body.requestId}`);
    return Object.assign(new Problem(title, detail, meta.join(" · "), body.code || ""), { retryAfter: retry });
  }

  // Loading: the status says so (with the seconds waited), the result is aria-busy and dimmed, and
  // Show is disabled until the answer or the error. A newer draw makes an older answer stale.
  let drawing = 0;
  let controller = null;
  let ticker = null;
  let progress = "";

  function setLoading(on, started) {
    $("show").disabled = on;
    $("result").setAttribute("aria-busy", String(on));
    $("filters").setAttribute("aria-busy", String(on));
    document.body.classList.toggle("loading", on);
    clearInterval(ticker);
    ticker = null;
    progress = "";
    if (on) {
      $("status").textContent = "Loading…";
      ticker = setInterval(() => {
        const waited = `${Math.round((performance.now() - started) / 1000)} s`;
        $("status").textContent = `Loading… ${progress ? progress + ", " : ""}${waited}`;
      }, 1000);
    }
  }

  function showError(error) {
    const problem = error instanceof Problem ? error : new Problem("Cannot show this view", error.message, "", "");
    $("error-title").textContent = problem.title;
    $("error-detail").textContent = problem.detail;
    $("error-meta").textContent = problem.meta;
    $("error").dataset.code = problem.code;
    $("error").hidden = false;
    $("status").textContent = "";
    $("result").hidden = true;
  }

  async function fetchStats(url, signal) {
    for (let attempt = 0; ; attempt++) {
      let response;
      try {
        response = await fetch(url, { headers: headers(), signal });
      } catch (error) {
        if (error.name === "AbortError") throw error;
        throw new Problem("The service cannot be reached", error.message, "", "NETWORK");
      }
      if (response.ok) return response.json();
      const problem = await problemOf(response);
      // Every heavy-read slot taken: wait as told once, then report it.
      const wait = Number(problem.retryAfter);
      if (problem.code === "READS_BUSY" && attempt === 0 && wait >= 0 && wait <= 5) {
        await new Promise((resolve) => setTimeout(resolve, wait * 1000));
        if (signal.aborted) throw new DOMException("aborted", "AbortError");
        continue;
      }
      throw problem;
    }
  }

  // A view of many days is asked for in parts of whole days (in its zone), newest first, two at a
  // time, and drawn as each part arrives: the latest days show while older ones load, and no one
  // request reads the whole range, so each stays inside the server's time limit
  // (LOGSTORE_QUERY_TIMEOUT_MS) on a slow database; a part stopped at that limit is asked for again
  // as two halves. Days do not straddle parts, so the parts' rows together are exactly the rows of
  // the whole range.
  const PART_DAYS = 3;
  const MAX_PARTS = 16;
  const PARALLEL = 2;

  function addDays(day, n) {
    return new Date(Date.parse(`${day}T00:00:00Z`) + n * 86400000).toISOString().slice(0, 10);
  }

  function partsOf(view) {
    if (!view.from || !view.to || !DAY.test(view.from) || !DAY.test(view.to) || view.from > view.to) {
      return [[view.from, view.to]];
    }
    const days = Math.round((Date.parse(view.to) - Date.parse(view.from)) / 86400000) + 1;
    const size = Math.max(PART_DAYS, Math.ceil(days / MAX_PARTS));
    const parts = [];
    for (let last = view.to; last >= view.from; last = addDays(last, -size)) {
      const first = addDays(last, -(size - 1));
      parts.push([first < view.from ? view.from : first, last]);
    }
    return parts;
  }

  function statsUrl(params, tz) {
    const stats = new URLSearchParams(params);
    stats.set("groupBy", "day,type");
    stats.set("tz", tz);
    return `/logs/stats?${stats}`;
  }

  // Draw a view: its stats by day and type. ``history``: "push" (a new entry, after Show),
  // "replace" (the opening view), or null (back/forward: the address already says it).
  async function draw(view, history) {
    const mine = ++drawing;
    if (controller) controller.abort();
    const ctrl = controller = new AbortController();
    const table = $("stats-table");
    for (const key of ["ready", "query", "drawMs", "firstDrawMs", "requests"]) delete table.dataset[key];
    $("error").hidden = true;
    if (history) {
      const address = `${location.pathname}${queryOfView(view)}`;
      if (history === "push" && address !== `${location.pathname}${location.search}`) {
        window.history.pushState(null, "", address);
      } else {
        window.history.replaceState(null, "", address);
      }
    }
    const started = performance.now();
    setLoading(true, started);
    try {
      const params = filterParams(view);
      // insights.js draws the first screen's insights for the same view.
      document.dispatchEvent(new CustomEvent("logstore:view", { detail: { params: String(params), tz: view.tz } }));
      const whole = statsUrl(params, view.tz);   // the one request the parts add up to
      table.dataset.query = whole;
      const parts = partsOf(view);
      table.dataset.requests = String(parts.length);
      const rows = [];
      let next = 0, done = 0, total = parts.length;   // total: parts to draw (a split one counts as its halves)
      const ask = async () => {
        while (next < parts.length && mine === drawing) {
          const [from, to] = parts[next++];
          const url = parts.length === 1 ? whole : statsUrl(filterParams({ ...view, from, to }), view.tz);
          let got;
          try {
            got = await fetchStats(url, ctrl.signal);
          } catch (error) {
            const days = from && to ? Math.round((Date.parse(to) - Date.parse(from)) / 86400000) + 1 : 0;
            if (error.code !== "QUERY_TIMEOUT" || days < 2 || mine !== drawing) throw error;
            const half = addDays(to, -Math.floor(days / 2) + 1);   // newest half first
            parts.splice(next, 0, [half, to], [from, addDays(half, -1)]);
            total += 1;
            table.dataset.requests = String(parts.length);
            continue;
          }
          if (mine !== drawing) return;
          rows.push(...got);
          done += 1;
          if (done === 1) table.dataset.firstDrawMs = String(Math.round(performance.now() - started));
          render(rows, params, whole, view, done === total);
          if (done < total) progress = `${done} of ${total} parts`;
        }
      };
      try {
        await Promise.all(Array.from({ length: Math.min(PARALLEL, parts.length) }, ask));
      } catch (error) {
        ctrl.abort();   // the other parts are of no use now
        throw error;
      }
      if (mine !== drawing) return;
      table.dataset.drawMs = String(Math.round(performance.now() - started));
      $("status").textContent += ` · drawn in ${((performance.now() - started) / 1000).toFixed(1)} s`;
    } catch (error) {
      if (mine !== drawing || error.name === "AbortError") return;
      showError(error);
    } finally {
      if (mine === drawing) setLoading(false);
    }
  }

  // The key lives for this tab's session (sessionStorage) unless "remember" is ticked, which keeps it
  // in localStorage until unticked; one store holds it at a time, and storage that throws is skipped.
  function keepKey(key, remember) {
    try {
      if (remember) sessionStorage.removeItem(KEY_STORE); else localStorage.removeItem(REMEMBERED);
      const [store, name] = remember ? [localStorage, REMEMBERED] : [sessionStorage, KEY_STORE];
      if (key) store.setItem(name, key); else store.removeItem(name);
    } catch (error) {
      // Storage unavailable (private mode, quota): the key stays in the field only.
    }
  }

  function keptKey() {
    try {
      // Earlier versions kept every key in localStorage under KEY_STORE, unasked: this tab only now.
      const legacy = localStorage.getItem(KEY_STORE);
      if (legacy !== null) {
        localStorage.removeItem(KEY_STORE);
        if (!sessionStorage.getItem(KEY_STORE)) sessionStorage.setItem(KEY_STORE, legacy);
      }
      const remembered = localStorage.getItem(REMEMBERED);
      if (remembered) return { key: remembered, remember: true };
      return { key: sessionStorage.getItem(KEY_STORE) || "", remember: false };
    } catch (error) {
      return { key: "", remember: false };
    }
  }

  function show(event) {
    event.preventDefault();
    keepKey($("apiKey").value, $("rememberKey").checked);
    draw(viewFromForm(), "push");
  }

  function showAddress() {
    const view = viewFromQuery(location.search) || defaultView();
    showViewInForm(view);
    return view;
  }

  // Every day from the first to the last row, so that a day without actions shows as a gap.
  function daysBetween(first, last) {
    const days = [];
    for (let t = Date.parse(`${first}T00:00:00Z`); t <= Date.parse(`${last}T00:00:00Z`); t += 86400000) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
    return days;
  }

  const MAX_SPAN_DAYS = 400;

  function render(rows, params, url, view, final) {
    const counts = {};
    let total = 0;
    for (const row of rows) {
      (counts[row.day] = counts[row.day] || {})[row.type] = row.count;
      total += row.count;
    }
    const present = Object.keys(counts).sort();
    let first = present[0], last = present[present.length - 1];
    if (view.from && view.to && Date.parse(view.to) - Date.parse(view.from) <= MAX_SPAN_DAYS * 86400000) {
      first = !first || view.from < first ? view.from : first;
      last = !last || view.to > last ? view.to : last;
    }
    const days = first ? daysBetween(first, last) : [];
    renderTable(days, counts);
    renderChart(days, counts);
    for (const format of ["csv", "ndjson"]) {
      const link = $(`export-${format}`);
      const query = new URLSearchParams(params);
      query.set("format", format);
      link.href = `/logs/export?${query}`;
    }
    $("query").textContent = decodeURIComponent(url);
    const span = view.from || view.to ? `${view.from || "the first"} to ${view.to || "the last"}` : "all days";
    $("result").hidden = false;
    if (!final) return;
    $("status").textContent = `${total} actions, ${span} (${view.tz})`;
    $("stats-table").dataset.ready = "true";
  }

  function cell(tr, text, attrs) {
    const td = document.createElement("td");
    td.textContent = String(text);
    for (const [name, value] of Object.entries(attrs || {})) td.dataset[name] = value;
    tr.appendChild(td);
  }

  function renderTable(days, counts) {
    const body = $("stats-table").tBodies[0];
    const foot = $("stats-table").tFoot;
    body.replaceChildren();
    foot.replaceChildren();
    const sums = Object.fromEntries(TYPES.map((type) => [type, 0]));
    for (const day of days) {
      const tr = document.createElement("tr");
      tr.dataset.day = day;
      cell(tr, day);
      let dayTotal = 0;
      for (const type of TYPES) {
        const n = (counts[day] || {})[type] || 0;
        cell(tr, n, { type, count: n });
        sums[type] += n;
        dayTotal += n;
      }
      cell(tr, dayTotal, { total: dayTotal });
      body.appendChild(tr);
    }
    const tr = document.createElement("tr");
    cell(tr, "all days");
    for (const type of TYPES) cell(tr, sums[type], { type, count: sums[type] });
    cell(tr, TYPES.reduce((a, t) => a + sums[t], 0));
    foot.appendChild(tr);
  }

  function el(name, attrs, parent) {
    const node = document.createElementNS(SVG, name);
    for (const [key, value] of Object.entries(attrs)) node.setAttribute(key, value);
    if (parent) parent.appendChild(node);
    return node;
  }

  function niceStep(max) {
    const rough = Math.max(max, 1) / 5;
    const power = 10 ** Math.floor(Math.log10(rough));
    return [1, 2, 5, 10].map((m) => m * power).find((s) => s >= rough);
  }

  function renderChart(days, counts) {
    const chart = $("chart");
    chart.replaceChildren();
    if (!days.length || !Object.keys(counts).length) {
      chart.textContent = "No matching actions.";
      return;
    }
    const W = 960, H = 300, left = 48, right = 120, top = 16, bottom = 40;
    const plotW = W - left - right, plotH = H - top - bottom;
    const totals = days.map((d) => TYPES.reduce((a, t) => a + ((counts[d] || {})[t] || 0), 0));
    const step = niceStep(Math.max(...totals));
    const yMax = Math.ceil(Math.max(...totals, 1) / step) * step;
    const y = (v) => top + plotH - (v / yMax) * plotH;
    const svg = el("svg", { viewBox: `0 0 ${W} ${H}`, width: W, height: H, role: "img",
                            "aria-label": "actions per day by type" }, chart);
    const axis = el("g", { class: "axis" }, svg);
    for (let v = 0; v <= yMax; v += step) {
      el("line", { x1: left, x2: left + plotW, y1: y(v), y2: y(v) }, axis);
      el("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, axis).textContent = v;
    }
    const band = plotW / days.length;
    const every = Math.ceil(days.length / 12);
    days.forEach((day, index) => {
      const x = left + index * band + band * 0.15;
      let base = 0;
      for (const type of TYPES) {
        const n = (counts[day] || {})[type] || 0;
        if (!n) continue;
        const rect = el("rect", { x, width: band * 0.7, y: y(base + n), height: y(base) - y(base + n),
                                  fill: COLORS[type], "data-day": day, "data-type": type, "data-count": n }, svg);
        el("title", {}, rect).textContent = `${day} ${type}: ${n}`;
        base += n;
      }
      if (index % every === 0) {
        el("text", { x: x + band * 0.35, y: top + plotH + 16, "text-anchor": "middle" }, axis).textContent = day;
      }
    });
    TYPES.forEach((type, index) => {
      el("rect", { x: W - right + 16, y: top + index * 20, width: 12, height: 12, fill: COLORS[type] }, svg);
      el("text", { x: W - right + 34, y: top + index * 20 + 11, class: "legend" }, svg).textContent = type;
    });
  }

  // With an API key, a plain link cannot send it: fetch the export with the header and save it.
  async function download(event) {
    if (!$("apiKey").value) return;
    event.preventDefault();
    const link = event.currentTarget;
    const response = await fetch(link.href, { headers: headers() });
    if (!response.ok) {
      const problem = await problemOf(response);
      problem.title = `Export failed: ${problem.title}`;
      showError(problem);
      $("result").hidden = false;
      return;
    }
    const url = URL.createObjectURL(await response.blob());
    const save = document.createElement("a");
    save.href = url;
    save.download = link.id === "export-csv" ? "logs.csv" : "logs.ndjson";
    save.click();
    URL.revokeObjectURL(url);
  }

  document.addEventListener("DOMContentLoaded", () => {
    const kept = keptKey();
    $("apiKey").value = kept.key;
    $("rememberKey").checked = kept.remember;
    $("filters").addEventListener("submit", show);
    window.addEventListener("popstate", () => draw(showAddress(), null));
    $("export-csv").addEventListener("click", download);
    $("export-ndjson").addEventListener("click", download);
    draw(showAddress(), "replace");
  });
})();
