// logstore dashboard, first screen: the overview's figures (against the previous period), top pages
// and viewed items, page paths, a funnel builder and a click map, for the view dashboard.js draws.
// dashboard.js announces each view it draws with a "logstore:view" event ({params, tz}); this file
// asks /logs/overview, /logs/top, /logs/paths, /logs/funnel and /logs/clicks for it. Plain browser
// JavaScript, no build step and no library, no inline style or handler (the page's CSP).
"use strict";
(function () {
  const $ = (id) => document.getElementById(id);
  const SVG = "http://www.w3.org/2000/svg";
  const TYPES = document.body.dataset.actionTypes.split(",");  // rendered by the server (action_types.py)
  const FIGURES = [
    ["users", "Users"], ["sessions", "Sessions"], ["actions", "Actions"],
    ["bounceRate", "Bounce rate"], ["medianSessionSeconds", "Median session"],
  ];
  const HEAT = { width: 480, height: 300, radius: 14 };
  let current = null;       // {params: URLSearchParams, tz}
  let asked = 0;            // the latest view's number: answers for an older one are dropped

  function el(name, attrs, parent, text) {
    const node = name === "svg" || name === "rect" || name === "text" || name === "g"
      ? document.createElementNS(SVG, name) : document.createElement(name);
    for (const [key, value] of Object.entries(attrs || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    if (parent) parent.appendChild(node);
    return node;
  }

  // Each insight is a heavy read for the service (a slot of LOGSTORE_HEAVY_READS per worker, two by
  // default): they are asked one at a time, after the chart's own requests, and one refused with
  // READS_BUSY is asked again after its Retry-After.
  let queue = Promise.resolve();
  const BUSY_RETRIES = 5;

  function chartDone() {
    return new Promise((resolve) => {
      if (!document.body.classList.contains("loading")) return resolve();
      const watch = new MutationObserver(() => {
        if (!document.body.classList.contains("loading")) {
          watch.disconnect();
          resolve();
        }
      });
      watch.observe(document.body, { attributes: true, attributeFilter: ["class"] });
    });
  }

  function getJson(path, extra) {
    const query = new URLSearchParams(current.params);
    for (const [key, value] of extra || []) query.append(key, value);
    const mine = asked;
    // A request still waiting when another view is asked for is dropped, not sent.
    const turn = queue.then(chartDone).then(() => {
      if (mine !== asked) throw new Error("superseded by a newer view");
      return fetchJson(`${path}?${query}`, path);
    });
    queue = turn.catch(() => undefined);
    return turn;
  }

  async function fetchJson(url, path) {
    const key = $("apiKey").value;
    let response;
    for (let attempt = 0; ; attempt++) {
      response = await fetch(url, { headers: key ? { "X-API-Key": key } : {} });
      if (response.status !== 503 || attempt === BUSY_RETRIES) break;
      const problem = await response.clone().json().catch(() => null);
      if (!problem || problem.code !== "READS_BUSY") break;
      const wait = Number(response.headers.get("Retry-After")) || 2;
      await new Promise((resolve) => setTimeout(resolve, wait * 1000));
    }
    let body = null;
    try {
      body = await response.json();
    } catch (error) {
      body = null;
    }
    if (!response.ok) {
      const detail = body && body.detail ? body.detail : `HTTP ${response.status}`;
      throw new Error(`${path}: ${detail}${body && body.code ? ` (${body.code})` : ""}`);
    }
    return body;
  }

  function failed(section, error) {
    section.dataset.ready = "error";
    const note = section.querySelector(".insight-error") || el("p", { class: "insight-error", role: "alert" }, section);
    note.textContent = error.message;
  }

  // ---- overview figures --------------------------------------------------------------------

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "–";
    const s = Math.round(seconds);
    if (s < 60) return `${s}s`;
    if (s < 3600) return `${Math.floor(s / 60)}m ${s % 60}s`;
    return `${Math.floor(s / 3600)}h ${Math.floor((s % 3600) / 60)}m`;
  }

  function figureText(key, value) {
    if (value === null || value === undefined) return "–";
    if (key === "bounceRate") return `${(value * 100).toFixed(1)}%`;
    if (key === "medianSessionSeconds") return duration(value);
    return value.toLocaleString("en-US");
  }

  // The change against the previous period: percentage points for the bounce rate, else relative.
  function changeText(key, value, previous) {
    if (previous === undefined) return "";
    if (value === null || previous === null) return "no previous figure";
    if (key === "bounceRate") {
      const points = (value - previous) * 100;
      return `${points >= 0 ? "+" : ""}${points.toFixed(1)} pp`;
    }
    if (previous === 0) return value === 0 ? "±0%" : "new";
    const change = ((value - previous) / previous) * 100;
    return `${change >= 0 ? "+" : ""}${change.toFixed(0)}%`;
  }

  function renderOverview(data) {
    const section = $("overview");
    section.textContent = "";
    for (const [key, label] of FIGURES) {
      const value = data[key];
      const previous = data.previous ? data.previous[key] : undefined;
      const card = el("div", { class: "figure", "data-figure": key, "data-value": String(value) }, section);
      if (previous !== undefined) card.dataset.previous = String(previous);
      el("span", { class: "label" }, card, label);
      el("strong", { class: "value" }, card, figureText(key, value));
      const change = changeText(key, value, previous);
      const good = key === "bounceRate" ? value < previous : value > previous;
      el("small", { class: `change ${previous === undefined || value === previous ? "" : good ? "up" : "down"}` },
         card, change ? `${change} vs previous period` : "");
    }
    section.hidden = false;
    section.dataset.ready = "true";
  }

  // ---- tables ------------------------------------------------------------------------------

  function table(parent, id, title, heads, rows) {
    const box = el("div", { class: "insight-table" }, parent);
    el("h3", {}, box, title);
    const t = el("table", { id }, box);
    const tr = el("tr", {}, el("thead", {}, t));
    for (const head of heads) el("th", {}, tr, head);
    const body = el("tbody", {}, t);
    if (!rows.length) el("td", { colspan: String(heads.length) }, el("tr", {}, body), "No matching actions.");
    for (const row of rows) {
      const line = el("tr", {}, body);
      row.forEach((cell, k) => el("td", k ? {} : { class: "name" }, line, typeof cell === "string" ? cell
        : cell === null || cell === undefined ? "–" : typeof cell === "number" ? String(cell) : JSON.stringify(cell)));
    }
    return t;
  }

  function renderTop(pages, items) {
    const box = $("insights-top");
    box.textContent = "";
    table(box, "top-pages", "Top pages (NAVIGATE pageTo)", ["page", "navigations", "users"],
          pages.map((r) => [r.value, r.count, r.users]));
    table(box, "top-items", "Top viewed items (VIEW viewedId)", ["item", "views", "users"],
          items.map((r) => [r.value, r.count, r.users]));
    box.dataset.ready = "true";
  }

  function renderPaths(data) {
    const box = $("insights-paths");
    box.textContent = "";
    table(box, "paths-transitions", "Page paths", ["from → to", "navigations", "sessions"],
          data.transitions.map((r) => [`${r.pageFrom} → ${r.pageTo}`, r.count, r.sessions]));
    table(box, "paths-entries", "Entry pages", ["page", "sessions"], data.entries.map((r) => [r.page, r.sessions]));
    table(box, "paths-exits", "Exit pages", ["page", "sessions"], data.exits.map((r) => [r.page, r.sessions]));
    box.dataset.ready = "true";
  }

  // ---- funnel builder ----------------------------------------------------------------------

  function addStep(text) {
    const list = $("funnel-steps");
    if (list.children.length >= 10) return;
    const [type, condition] = (text || "NAVIGATE").split(/:(.*)/s);
    const row = el("li", { class: "funnel-step" }, list);
    const select = el("select", { "aria-label": "type" }, row);
    for (const t of TYPES) {
      const option = el("option", { value: t }, select, t);
      if (t === type) option.selected = true;
    }
    el("input", { "aria-label": "property=value", placeholder: "property=value (optional)", size: "22",
                  value: condition || "" }, row);
    const remove = el("button", { type: "button", class: "remove", title: "remove this step" }, row, "×");
    remove.addEventListener("click", () => { if (list.children.length > 2) row.remove(); });
  }

  // The funnel (its steps, per and within) is kept in the address beside the view's filters, as
  // step=…&step=…&per=…&within=…, the funnel endpoint's own parameters: a reload, a shared link or
  // the back button shows the same funnel. dashboard.js writes the address of each view it draws
  // (without these); each funnel run then puts them back into that entry (replaceState).
  // The builder's opening funnel is not written: an address holds a funnel only once one was built.
  const FUNNEL_KEYS = ["step", "per", "within"];
  let openingFunnel = null;   // the opening steps as the endpoint takes them (set when the builder is drawn)

  function funnelOfAddress() {
    const query = new URLSearchParams(location.search);
    const steps = query.getAll("step").filter((s) => s.trim());
    if (!steps.length) return null;
    return { steps: steps.slice(0, 10), per: query.get("per") === "user" ? "user" : "session",
             within: query.get("within") || "" };
  }

  function showFunnelOfAddress() {
    const funnel = funnelOfAddress();
    if (!funnel) return;
    if (stepsOfBuilder().join("\n") !== funnel.steps.join("\n")) {
      $("funnel-steps").replaceChildren();
      funnel.steps.forEach(addStep);
    }
    $("funnel-per").value = funnel.per;
    $("funnel-within").value = funnel.within;
  }

  function keepFunnelInAddress(extra) {
    const query = new URLSearchParams(location.search);
    for (const key of FUNNEL_KEYS) query.delete(key);
    for (const [key, value] of extra) query.append(key, value);
    const address = `${location.pathname}?${query}`;
    if (address !== `${location.pathname}${location.search}`) window.history.replaceState(null, "", address);
  }

  function stepsOfBuilder() {
    return [...$("funnel-steps").children].map((row) => {
      const type = row.querySelector("select").value;
      const condition = row.querySelector("input").value.trim();
      return condition ? `${type}:${condition}` : type;
    });
  }

  async function runFunnel() {
    if (!current) return;
    const box = $("funnel-chart");
    const mine = asked;
    box.dataset.ready = "false";
    const extra = stepsOfBuilder().map((s) => ["step", s]);
    extra.push(["per", $("funnel-per").value]);
    if ($("funnel-within").value.trim()) extra.push(["within", $("funnel-within").value.trim()]);
    const opening = extra.length === openingFunnel.length + 1 && $("funnel-per").value === "session"
      && openingFunnel.every((step, i) => extra[i][1] === step);
    keepFunnelInAddress(opening ? [] : extra);
    try {
      const data = await getJson("/logs/funnel", extra);
      if (mine === asked) renderFunnel(data.steps);
    } catch (error) {
      if (mine === asked) failed(box, error);
    }
  }

  function renderFunnel(steps) {
    const box = $("funnel-chart");
    box.textContent = "";
    const width = 640, bar = 26, gap = 10, label = 230;
    const svg = el("svg", { width: String(width), height: String(steps.length * (bar + gap)), role: "img",
                            "aria-label": "funnel" }, box);
    const first = steps.length ? steps[0].count : 0;
    steps.forEach((step, k) => {
      const y = k * (bar + gap);
      const share = first ? step.count / first : 0;
      el("text", { x: "0", y: String(y + bar * 0.7), class: "step-name" }, svg, `${k + 1}. ${step.step}`);
      el("rect", { x: String(label), y: String(y), height: String(bar), width: String(Math.max(1, share * (width - label - 150))),
                   fill: "#4e79a7", "data-step": step.step, "data-count": String(step.count) }, svg);
      const median = step.medianSecondsFromPrevious;
      el("text", { x: String(label + share * (width - label - 150) + 6), y: String(y + bar * 0.7), class: "step-count" },
         svg, `${step.count} (${(share * 100).toFixed(0)}%)${median === null ? "" : ` · ${duration(median)}`}`);
    });
    box.dataset.ready = "true";
  }

  // ---- click map ---------------------------------------------------------------------------

  async function loadClicks(page) {
    const box = $("clickmap");
    const mine = asked;
    box.dataset.ready = "false";
    try {
      const data = await getJson("/logs/clicks", page ? [["page", page]] : []);
      if (mine === asked) renderClicks(data);
    } catch (error) {
      if (mine === asked) failed(box, error);
    }
  }

  function renderClicks(data) {
    const box = $("clickmap");
    const select = $("click-page");
    select.textContent = "";
    for (const row of data.pages) {
      const option = el("option", { value: row.page }, select, `${row.page} (${row.clicks} clicks)`);
      if (row.page === data.page) option.selected = true;
    }
    const points = data.points.filter((p) => typeof p.x === "number" && typeof p.y === "number");
    const canvas = $("heatmap");
    const maxX = Math.max(1, ...points.map((p) => p.x));
    const maxY = Math.max(1, ...points.map((p) => p.y));
    const maxCount = Math.max(1, ...points.map((p) => p.count));
    drawHeat(canvas, points, maxX, maxY, maxCount);
    Object.assign(canvas.dataset, { page: data.page === null ? "" : String(data.page), points: String(points.length),
                                    maxX: String(maxX), maxY: String(maxY), radius: String(HEAT.radius) });
    $("clickmap-note").textContent = data.page === null ? "No clicks on any page in this view."
      : `${points.reduce((n, p) => n + p.count, 0)} clicks on ${data.page}; x from 0 to ${maxX}, y from 0 to ${maxY}`;
    box.dataset.ready = "true";
  }

  // Where a click at (x, y) is drawn: 0..maxX and 0..maxY onto the canvas, a radius in from its edges.
  function spot(x, y, maxX, maxY) {
    const r = HEAT.radius;
    return [r + (x / maxX) * (HEAT.width - 2 * r), r + (y / maxY) * (HEAT.height - 2 * r)];
  }

  // Each position adds a soft disc of heat; the heat is then coloured blue → yellow → red on white.
  function drawHeat(canvas, points, maxX, maxY, maxCount) {
    const ctx = canvas.getContext("2d");
    ctx.clearRect(0, 0, canvas.width, canvas.height);
    for (const p of points) {
      const [cx, cy] = spot(p.x, p.y, maxX, maxY);
      const strength = 0.25 + 0.75 * (p.count / maxCount);
      const gradient = ctx.createRadialGradient(cx, cy, 0, cx, cy, HEAT.radius);
      gradient.addColorStop(0, `rgba(0,0,0,${strength})`);
      gradient.addColorStop(1, "rgba(0,0,0,0)");
      ctx.fillStyle = gradient;
      ctx.fillRect(cx - HEAT.radius, cy - HEAT.radius, 2 * HEAT.radius, 2 * HEAT.radius);
    }
    const image = ctx.getImageData(0, 0, canvas.width, canvas.height);
    const px = image.data;
    for (let i = 0; i < px.length; i += 4) {
      const heat = px[i + 3] / 255;
      const [r, g, b] = heat === 0 ? [255, 255, 255] : ramp(heat);
      px[i] = r; px[i + 1] = g; px[i + 2] = b; px[i + 3] = 255;
    }
    ctx.putImageData(image, 0, 0);
  }

  function ramp(heat) {
    const mix = (a, b, t) => Math.round(a + (b - a) * t);
    if (heat < 0.5) {
      const t = heat / 0.5;     // white-blue to yellow
      return [mix(200, 255, t), mix(220, 220, t), mix(255, 60, t)];
    }
    const t = (heat - 0.5) / 0.5; // yellow to red
    return [255, mix(220, 0, t), mix(60, 0, t)];
  }

  // ---- the screen --------------------------------------------------------------------------

  function build() {
    const section = $("insights");
    el("div", { id: "insights-top", class: "insight-row" }, section);
    el("div", { id: "insights-paths", class: "insight-row" }, section);
    const funnel = el("div", { id: "funnel", class: "insight-block" }, section);
    el("h3", {}, funnel, "Funnel");
    el("ol", { id: "funnel-steps" }, funnel);
    const controls = el("p", { class: "funnel-controls" }, funnel);
    el("button", { type: "button", id: "funnel-add" }, controls, "Add step");
    const per = el("select", { id: "funnel-per", "aria-label": "per" }, controls);
    el("option", { value: "session" }, per, "within a session");
    el("option", { value: "user" }, per, "across a user's sessions");
    el("input", { id: "funnel-within", placeholder: "within seconds (optional)", size: "22", inputmode: "decimal",
                  "aria-label": "within seconds" }, controls);
    el("button", { type: "button", id: "funnel-run" }, controls, "Show funnel");
    el("div", { id: "funnel-chart" }, funnel);
    ["NAVIGATE", "CLICK"].forEach(addStep);
    openingFunnel = stepsOfBuilder();
    showFunnelOfAddress();    // before dashboard.js writes the first view's address (without them)
    $("funnel-add").addEventListener("click", () => addStep("VIEW"));
    $("funnel-run").addEventListener("click", runFunnel);
    const clicks = el("div", { id: "clickmap", class: "insight-block" }, section);
    el("h3", {}, clicks, "Click map");
    const pick = el("label", {}, clicks, "Page ");
    el("select", { id: "click-page" }, pick).addEventListener("change", (e) => loadClicks(e.target.value));
    el("canvas", { id: "heatmap", width: String(HEAT.width), height: String(HEAT.height) }, clicks);
    el("p", { id: "clickmap-note", class: "note" }, clicks);
    section.hidden = false;
  }

  async function showView(detail) {
    current = { params: new URLSearchParams(detail.params), tz: detail.tz };
    const mine = ++asked;
    const overview = [["tz", detail.tz]];
    if (current.params.has("from") && current.params.has("to")) overview.push(["compare", "previous"]);
    for (const id of ["overview", "insights-top", "insights-paths"]) $(id).dataset.ready = "false";
    showFunnelOfAddress();
    const jobs = [
      getJson("/logs/overview", overview).then((d) => mine === asked && renderOverview(d))
        .catch((e) => mine === asked && failed($("overview"), e)),
      Promise.all([getJson("/logs/top", [["field", "pageTo"]]), getJson("/logs/top", [["field", "viewedId"]])])
        .then(([p, i]) => mine === asked && renderTop(p, i)).catch((e) => mine === asked && failed($("insights-top"), e)),
      getJson("/logs/paths", [["limit", "10"]]).then((d) => mine === asked && renderPaths(d))
        .catch((e) => mine === asked && failed($("insights-paths"), e)),
      loadClicks(null),
      runFunnel(),
    ];
    await Promise.all(jobs);
  }

  build();   // this script comes after the page's markup, and before dashboard.js draws its first view
  document.addEventListener("logstore:view", (event) => showView(event.detail));
})();
