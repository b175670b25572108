// logstore dashboard: reads /logs/stats?groupBy=day,type and draws a stacked bar chart (SVG) and a table.
// Plain browser JavaScript, no build step and no library.
"use strict";
(function () {
  const TYPES = ["CLICK", "VIEW", "NAVIGATE"];
  const COLORS = { CLICK: "#4e79a7", VIEW: "#f28e2b", NAVIGATE: "#59a14f" };
  const KEY_STORE = "logstore.apiKey";
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

  function filterParams() {
    const params = new URLSearchParams();
    const user = $("userId").value.trim();
    if (user) params.set("userId", user);
    const types = [...document.querySelectorAll("input[name=types]:checked")].map((e) => e.value);
    if (types.length === 0) throw new Error("choose at least one type");
    if (types.length < TYPES.length) params.set("types", types.join(","));
    const tz = $("tz").value.trim() || "UTC";
    let zoneError = null;
    try {
      if ($("from").value) params.set("from", `${$("from").value}T00:00:00${offsetOn(tz, $("from").value)}`);
      if ($("to").value) params.set("to", `${$("to").value}T23:59:59.999999${offsetOn(tz, $("to").value)}`);
    } catch (error) {
      zoneError = error;
    }
    if (zoneError) throw new Error(`unknown time zone "${tz}"`);
    return { params, tz };
  }

  function headers() {
    const key = $("apiKey").value;
    return key ? { "X-API-Key": key } : {};
  }

  async function show(event) {
    event.preventDefault();
    const table = $("stats-table");
    delete table.dataset.ready;
    $("error").hidden = true;
    try {
      localStorage.setItem(KEY_STORE, $("apiKey").value);
      const { params, tz } = filterParams();
      const stats = new URLSearchParams(params);
      stats.set("groupBy", "day,type");
      stats.set("tz", tz);
      const url = `/logs/stats?${stats}`;
      $("status").textContent = "Loading…";
      const response = await fetch(url, { headers: headers() });
      const body = await response.json();
      if (!response.ok) throw new Error(`${body.title || response.status}: ${body.detail || ""}`);
      render(body, params, url);
    } catch (error) {
      $("status").textContent = "";
      $("error").textContent = error.message;
      $("error").hidden = false;
      $("result").hidden = true;
    }
  }

  // Every day from the first to the last row, so that a day without actions shows as a gap.
  function daysBetween(first, last) {
    const days = [];
    for (let t = Date.parse(`${first}T00:00:00Z`); t <= Date.parse(`${last}T00:00:00Z`); t += 86400000) {
      days.push(new Date(t).toISOString().slice(0, 10));
    }
    return days;
  }

  function render(rows, params, url) {
    const counts = {};
    let total = 0;
    for (const row of rows) {
      (counts[row.day] = counts[row.day] || {})[row.type] = row.count;
      total += row.count;
    }
    const present = Object.keys(counts).sort();
    const days = present.length ? daysBetween(present[0], present[present.length - 1]) : [];
    renderTable(days, counts);
    renderChart(days, counts);
    for (const format of ["csv", "ndjson"]) {
      const link = $(`export-${format}`);
      const query = new URLSearchParams(params);
      query.set("format", format);
      link.href = `/logs/export?${query}`;
    }
    $("query").textContent = decodeURIComponent(url);
    $("status").textContent = `${total} actions over ${days.length} day(s)`;
    $("result").hidden = false;
    $("stats-table").dataset.query = url;
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
    const sums = { CLICK: 0, VIEW: 0, NAVIGATE: 0 };
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
    if (!days.length) {
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
      $("error").textContent = `export failed: ${response.status}`;
      $("error").hidden = false;
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
    $("apiKey").value = localStorage.getItem(KEY_STORE) || "";
    if (!$("tz").value) $("tz").value = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
    $("filters").addEventListener("submit", show);
    $("export-csv").addEventListener("click", download);
    $("export-ndjson").addEventListener("click", download);
  });
})();
