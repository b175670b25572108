// logstore browser client: records clicks, views and navigation and POSTs them to a logstore
// service in batches, so that no action is lost or stored twice.
//
//   const logstore = await import("https://logs.example.com/sdk/2.0.0/logstore.js");
//   const log = logstore.init({ apiKey: "<a write key>", userId: "ABC123XYZ" });
//   log.click(52, 11); log.view("FDJKLHSLD"); log.navigate("communities", "inventory");
//
// How it keeps its promise (the README's "Browser client" section has the details):
// - every action gets an id and its time (RFC 3339 in the browser's own offset) when recorded, and
//   is written at once to localStorage: one key per batch, listed by an index key of the page that
//   owns them. A failed write drops nothing: the queue stays in memory, onError hears that the page
//   is not durable, and the write is tried again;
// - batches are sealed once and keep their Idempotency-Key across retries; the service stores an
//   action id once per session, so a replay after a lost answer stores nothing twice;
// - a batch leaves the queue only when the service itself has answered (a problem document of the
//   service, or a 201); anything else (a proxy's HTML page, an empty body, no answer) is retried;
// - the next page of the origin adopts the queues of pages that are gone (their Web Lock is free)
//   by taking over their index: the batches' keys stay where they are, nothing is copied.
//
// Plain ES module, no dependency, no build step. Types: logstore.d.ts beside this file.

export const VERSION = "2.0.0";

const DEFAULTS = {
  url: null,                 // the service; defaults to the one that served this file
  apiKey: null,              // a key of kind "write", sent as Authorization: Bearer <key>
  userId: null,              // null: an anonymous id kept in localStorage
  flushIntervalMs: 5000,     // send what is queued this long after the first unsent action
  flushAt: 50,               // ... or as soon as this many actions are queued
  maxBatchActions: 500,      // actions per POST
  maxBatchBytes: 500000,     // JSON characters per POST (the service takes 10 MB)
  maxQueueSize: 5000,        // actions kept while the service cannot be reached; oldest dropped first
  maxQueueBytes: 2000000,    // ... and JSON characters kept (localStorage holds about 5 million)
  sessionIdleMs: 30 * 60 * 1000, // a new session id after this long without an action
  gzipMinBytes: 16384,       // gzip bodies at least this large (where CompressionStream exists)
  minBackoffMs: 1000,        // first retry delay; doubles per attempt, with jitter
  maxBackoffMs: 60000,       // longest retry delay (Retry-After may ask for longer, up to an hour)
  requestTimeoutMs: 30000,   // a POST without an answer after this long is retried
  adoptIntervalMs: 5000,     // how often to look for queues left by closed pages (and retry storage)
  storageKey: "logstore",    // prefix of the localStorage and sessionStorage keys
  persistence: "localStorage", // or "memory": nothing is written to the browser's storage
  consent: "granted",        // or "pending": nothing recorded or stored until optIn()
  respectDoNotTrack: false,  // true: record nothing when the browser sends Do Not Track / GPC
  autocapture: null,         // {navigation: true, clicks: true}
  properties: null,          // added to every action's properties (the action's own win)
  beforeSend: null,          // (action) => action, a changed one, or null to drop it
  debug: false,              // log each decision to the console
  onError: (error) => console.warn("logstore:", error.message, error),
  onRetry: null,             // called as onRetry({status, code, attempt, delayMs}) before each wait
  environment: null,         // for tests: {localStorage, sessionStorage, locks, fetch, now, ...}
};

// Keepalive requests (page hidden or closing) may carry 64 KiB in all, per page; stay below it.
export const KEEPALIVE_BYTES = 60000;
// A fallback lease, for browsers without Web Locks: a page whose heartbeat is older is gone.
const LEASE_MS = 3 * 60 * 1000;
// Retry-After is honoured up to an hour; setTimeout itself cannot wait past 2^31 - 1 ms.
const MAX_RETRY_AFTER_MS = 60 * 60 * 1000;
const MAX_TIMER_MS = 2 ** 31 - 1;
const FORMAT = 2;
const HISTORY_METHODS = ["pushState", "replaceState"];

/** Start recording; returns the client. Throws a TypeError for an invalid option. */
export function init(options = {}) {
  return new Client({ ...DEFAULTS, ...options });
}

/**
 * Take over a stub (the README's snippet) that queued calls before this module loaded: its first
 * ``init`` call makes the client, every other call is replayed in order with the time it was made,
 * and the stub's methods then call the client directly. Returns the client.
 */
export function loadStub(stub) {
  const calls = (stub && stub.q) || [];
  const first = calls.find(([method]) => method === "init");
  const client = init((first && first[1][0]) || {});
  for (const [method, args, at] of calls) {
    if (method === "init") continue;
    client.replay(method, args || [], at);
  }
  for (const method of STUB_METHODS) stub[method] = (...args) => client[method](...args);
  stub.init = () => client;
  stub.client = client;
  stub.q = [];
  return client;
}

export const STUB_METHODS = ["click", "view", "navigate", "action", "setUser", "setProperties", "reset",
  "optIn", "optOut", "flush", "close"];

/** RFC 3339 in the browser's own offset, with milliseconds: 2026-12-02T09:15:03.123-06:00. */
export function formatTime(date = new Date()) {
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const offset = -date.getTimezoneOffset();
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}${offset < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

/** A userId or sessionId as the service takes it: a string of 1 to 256 characters. */
export function checkId(value, name = "userId") {
  if (typeof value !== "string" || [...value].length < 1 || [...value].length > 256) {
    throw new TypeError(`logstore: ${name} must be a string of 1 to 256 characters`);
  }
  return value;
}

function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

function environment(given) {
  const g = globalThis;
  const env = {
    localStorage: undefined, sessionStorage: undefined, locks: undefined,
    fetch: (...args) => g.fetch(...args),
    now: () => g.performance.now(),
    wallNow: () => Date.now(),
    setTimeout: (fn, ms) => g.setTimeout(fn, ms),
    clearTimeout: (t) => g.clearTimeout(t),
    setInterval: (fn, ms) => g.setInterval(fn, ms),
    clearInterval: (t) => g.clearInterval(t),
    document: g.document, window: g.window, navigator: g.navigator,
    console: g.console, random: Math.random,
    ...(given || {}),
  };
  // Reading localStorage itself may throw (storage disabled): only when asked for.
  const storage = (kind) => {
    if (given && kind in given) return given[kind];
    try {
      return g[kind] || null;
    } catch {
      return null;
    }
  };
  env.localStorage = storage("localStorage");
  env.sessionStorage = storage("sessionStorage");
  if (!(given && "locks" in given)) env.locks = g.navigator?.locks || null;
  return env;
}

/** Storage that never throws: a failed call returns ``fallback`` (null or false). */
class Guarded {
  constructor(storage) {
    this.storage = storage;
  }

  get(key) {
    try {
      return this.storage.getItem(key);
    } catch {
      return null;
    }
  }

  /** True when written; false when the storage refused (full, disabled). */
  set(key, value) {
    try {
      this.storage.setItem(key, value);
      return true;
    } catch {
      return false;
    }
  }

  remove(key) {
    try {
      this.storage.removeItem(key);
    } catch {
      // nothing to do: a key that stays is found again later
    }
  }

  keys(prefix) {
    const keys = [];
    try {
      for (let i = 0; i < this.storage.length; i += 1) {
        const key = this.storage.key(i);
        if (key && key.startsWith(prefix)) keys.push(key);
      }
    } catch {
      // a storage that cannot be listed holds nothing we can adopt
    }
    return keys;
  }

  json(key) {
    try {
      return JSON.parse(this.get(key));
    } catch {
      return undefined; // there, but not JSON
    }
  }
}

/** The body of a batch: consecutive actions of one user and session form one session log. */
function sessionLogs(records) {
  const logs = [], groups = [];
  for (const record of records) {
    const last = logs[logs.length - 1];
    if (last && last.userId === record.u && last.sessionId === record.s) {
      last.actions.push(record.a);
      groups[groups.length - 1].push(record);
    } else {
      logs.push({ userId: record.u, sessionId: record.s, actions: [record.a] });
      groups.push([record]);
    }
  }
  return { body: JSON.stringify(logs), groups };
}

/** Which records a list of problem pointers names: "/i/actions/k/..." one action, "/i/..." a session. */
function namedRecords(errors, groups) {
  const named = new Set();
  for (const { pointer } of errors || []) {
    const match = /^\/(\d+)(?:\/actions\/(\d+))?/.exec(pointer || "");
    const group = match && groups[Number(match[1])];
    if (!group) continue;
    if (match[2] === undefined) group.forEach((record) => named.add(record));
    else if (group[Number(match[2])]) named.add(group[Number(match[2])]);
  }
  return named;
}

function retryAfterMs(response, wallNow) {
  const value = response.headers.get("Retry-After");
  if (!value) return 0;
  const seconds = Number(value);
  let ms = 0;
  if (Number.isFinite(seconds)) ms = seconds * 1000;
  else if (!Number.isNaN(Date.parse(value))) ms = Date.parse(value) - wallNow;
  return Math.min(MAX_RETRY_AFTER_MS, Math.max(0, ms));
}

/**
 * What answered: the service (a 201 with its JSON reply, or a problem document whose status is the
 * response's), or something else on the way (a proxy's HTML page, an empty body): ``service`` false.
 */
async function readAnswer(response) {
  const type = (response.headers.get("Content-Type") || "").toLowerCase();
  let body = null;
  try {
    body = JSON.parse(await response.text());
  } catch {
    body = null;
  }
  const object = body !== null && typeof body === "object" && !Array.isArray(body);
  let service;
  if (response.status === 201) service = object && type.includes("json");
  else service = object && type.includes("application/problem+json") && typeof body.code === "string" &&
    body.status === response.status;
  return { status: response.status, body: object ? body : null, service, contentType: type };
}

async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** A CSS selector of an element (ids, tags and positions, never its text), at most five levels. */
export function selectorOf(element) {
  const parts = [];
  const escape = globalThis.CSS?.escape || ((s) => String(s).replace(/[^\w-]/g, "\\$&"));
  for (let el = element; el && el.nodeType === 1 && parts.length < 5; el = el.parentElement) {
    if (el.id) {
      parts.unshift(`#${escape(el.id)}`);
      break;
    }
    const tag = el.tagName.toLowerCase();
    const parent = el.parentElement;
    const same = parent ? [...parent.children].filter((c) => c.tagName === el.tagName) : [];
    parts.unshift(same.length > 1 ? `${tag}:nth-of-type(${same.indexOf(el) + 1})` : tag);
    if (tag === "body" || tag === "html") break;
  }
  return parts.join(" > ");
}

/** The service that served this file: its URL without /sdk/logstore.js or /sdk/<version>/logstore.js. */
function serviceOf(moduleUrl) {
  const url = new URL(moduleUrl);
  url.search = url.hash = "";
  return url.href.replace(/\/sdk\/(?:[^/]+\/)?logstore\.js$/, "");
}

const SIZES = new WeakMap();

/** The JSON length of a queued record (cached: records do not change once queued). */
function sizeOf(record) {
  let size = SIZES.get(record);
  if (size === undefined) {
    size = JSON.stringify(record).length;
    SIZES.set(record, size);
  }
  return size;
}

function clamp(ms) {
  return Math.min(MAX_TIMER_MS, Math.max(0, ms));
}

class Client {
  constructor(options) {
    this.options = options;
    this.env = environment(options.environment);
    if (options.userId != null) checkId(options.userId, "userId");
    if (!["localStorage", "memory"].includes(options.persistence)) {
      throw new TypeError('logstore: persistence must be "localStorage" or "memory"');
    }
    if (!["granted", "pending"].includes(options.consent)) {
      throw new TypeError('logstore: consent must be "granted" or "pending"');
    }
    this.url = String(options.url || serviceOf(import.meta.url)).replace(/\/+$/, "");
    this.prefix = `${options.storageKey}:${this.url}`;
    const memory = options.persistence === "memory";
    this.local = !memory && this.env.localStorage ? new Guarded(this.env.localStorage) : null;
    this.tabStorage = !memory && this.env.sessionStorage ? new Guarded(this.env.sessionStorage) : null;
    this.locks = memory ? null : this.env.locks || null; // null: a heartbeat lease instead
    this.newPage();
    this.batches = [];     // sealed, in order: [{id, key, records, attempt, notBefore, sending, dirty}]
    this.open = this.newBatch(null); // not yet sealed
    this.removed = new Set(); // ids of batch keys to remove from storage
    this.waiters = [];     // flush() promises: [{remaining: Set(id), stored, dropped, resolve}]
    this.counts = { stored: 0, duplicates: 0, dropped: 0, retries: 0, replayed: 0 };
    this.gzipOk = typeof CompressionStream === "function";
    this.keepaliveInflight = 0; // bytes of keepalive bodies without an answer yet (the page's budget)
    this.globals = { ...(options.properties || {}) };
    this.owned = false;
    this.closed = false;
    this.started = false;
    this.durable = true;
    this.listeners = [];
    this.consent = options.consent;
    const dnt = this.env.navigator && (this.env.navigator.doNotTrack === "1" || this.env.navigator.globalPrivacyControl === true);
    if (options.respectDoNotTrack && dnt) this.consent = "denied";
    if (this.local && this.local.get(`${this.prefix}:optOut`) === "1") this.consent = "denied";
    this.userId = options.userId == null ? null : options.userId;
    this.log("init", { version: VERSION, url: this.url, consent: this.consent, persistence: options.persistence });
    let startReady;
    this.ready = new Promise((resolve) => { startReady = resolve; });
    this.resolveReady = startReady;
    if (this.consent === "granted") this.start();
  }

  // --- recording ---------------------------------------------------------------------------------

  click(x, y, props = {}) {
    if (!Number.isFinite(x) || !Number.isFinite(y)) throw new TypeError("click(x, y): x and y must be numbers");
    return this.action("CLICK", { ...props, locationX: x, locationY: y });
  }

  view(viewedId, props = {}) {
    if (typeof viewedId !== "string" || !viewedId) throw new TypeError("view(viewedId): a non-empty string");
    return this.action("VIEW", { ...props, viewedId });
  }

  navigate(pageFrom, pageTo, props = {}) {
    if (typeof pageFrom !== "string" || !pageFrom || typeof pageTo !== "string" || !pageTo) {
      throw new TypeError("navigate(pageFrom, pageTo): non-empty strings");
    }
    return this.action("NAVIGATE", { ...props, pageFrom, pageTo });
  }

  /** Queue one action of any type; returns its id (null when not recorded: no consent, beforeSend). */
  action(type, properties = {}) {
    if (this.closed) throw new Error("logstore: this client was closed");
    // A copy, as JSON: what the caller changes later is not sent, and what JSON cannot hold
    // (a cycle, a BigInt) throws here rather than in a batch.
    const copy = JSON.parse(JSON.stringify({ ...this.globals, ...properties }));
    if (this.consent !== "granted") {
      this.log(`not recorded (consent ${this.consent})`, { type });
      return null;
    }
    const when = this.replayTime != null ? new Date(this.replayTime) : new Date(this.env.wallNow());
    let action = { id: newId(), time: formatTime(when), type: String(type), properties: copy };
    if (this.options.beforeSend) {
      const given = { ...action, properties: { ...action.properties } };
      let out;
      try {
        out = this.options.beforeSend(given);
      } catch (error) {
        this.callbackFailed("beforeSend", error);
        out = action; // a hook that fails loses nothing: the action goes as recorded
      }
      if (out == null || out === false) {
        this.log("dropped by beforeSend", { id: action.id, type: action.type });
        return null;
      }
      action = { id: action.id, time: action.time, type: String(out.type || action.type),
        properties: JSON.parse(JSON.stringify(out.properties || {})) };
    }
    const record = { u: this.userId, s: this.touchSession(), a: action };
    this.open.records.push(record);
    this.open.dirty = true;
    this.log("recorded", { id: action.id, type: action.type, pending: this.pending() });
    this.bound();
    this.save();
    this.schedule();
    return action.id;
  }

  /** Further actions belong to ``userId`` (null: the anonymous id), in a new session if it changed. */
  setUser(userId) {
    if (userId != null) checkId(userId, "userId");
    const next = userId == null ? this.anonymousId() : userId;
    if (next !== this.userId) {
      this.userId = next;
      this.newSession();
      this.log("user set", { userId: next });
    }
  }

  /** Properties added to every later action (``undefined`` removes one). */
  setProperties(properties) {
    for (const [name, value] of Object.entries(properties || {})) {
      if (value === undefined) delete this.globals[name];
      else this.globals[name] = value;
    }
  }

  /** Logout: a new anonymous id and a new session; what is queued is still sent, as recorded. */
  reset() {
    if (this.local) this.local.remove(`${this.prefix}:anonymousId`);
    this.anonymous = null;
    this.userId = null;
    this.globals = { ...(this.options.properties || {}) };
    if (this.consent === "granted") {
      this.userId = this.anonymousId();
      this.newSession();
    }
    this.log("reset", { userId: this.userId });
  }

  /** Consent given: start recording (and storing). */
  optIn() {
    if (this.closed) return;
    if (this.local) this.local.remove(`${this.prefix}:optOut`);
    this.consent = "granted";
    this.log("opted in");
    this.start();
  }

  /**
   * Consent withdrawn: stop, empty the queue (here and in storage), forget the anonymous id and
   * the session; the choice is remembered (one key) until optIn().
   */
  optOut() {
    const dropped = this.takeAll();
    const homes = [...this.homes.keys()];
    this.consent = "denied";
    this.stop();
    this.homes = new Map([[this.indexKey, { lastIndex: undefined, release: null }]]);
    if (this.local) {
      for (const batch of dropped.batches) this.local.remove(this.itemKey(batch.id));
      for (const home of homes) this.local.remove(home);
      this.local.remove(`${this.prefix}:anonymousId`);
      this.local.set(`${this.prefix}:optOut`, "1");
    }
    if (this.tabStorage) this.tabStorage.remove(`${this.prefix}:session`);
    this.anonymous = null;
    this.session = null;
    this.userId = this.options.userId == null ? null : this.options.userId;
    this.settle(dropped.records, "dropped");
    this.log("opted out", { dropped: dropped.records.length });
  }

  get sessionId() {
    return this.consent === "granted" ? this.readSession().id : null;
  }

  /** Counts so far: stored, duplicates (replays the service recognised), dropped, retries, pending. */
  stats() {
    return { ...this.counts, pending: this.pending(), durable: this.durable };
  }

  pending() {
    return this.open.records.length + this.batches.reduce((n, batch) => n + batch.records.length, 0);
  }

  /**
   * Send everything queued now; resolves once each of those actions is stored or dropped for good
   * (with {stored, dropped, pending}), or after ``timeoutMs`` if given, whichever comes first.
   * After close() it resolves at once.
   */
  flush({ timeoutMs } = {}) {
    if (!this.closed) this.seal();
    const remaining = new Set();
    if (!this.closed) for (const batch of this.batches) batch.records.forEach((r) => remaining.add(r.a.id));
    const waiter = { remaining, stored: 0, dropped: 0 };
    const done = new Promise((resolve) => {
      waiter.resolve = () => {
        waiter.resolved = true;
        resolve({ stored: waiter.stored, dropped: waiter.dropped, pending: remaining.size });
      };
    });
    if (!remaining.size) waiter.resolve();
    else this.waiters.push(waiter);
    if (timeoutMs != null && remaining.size) this.env.setTimeout(() => waiter.resolve(), clamp(timeoutMs));
    this.pump();
    return done;
  }

  /** Stop timers and listeners and release this page's queue (kept in localStorage for the next page). */
  close() {
    if (this.closed) return;
    this.stop();
    this.closed = true;
    for (const waiter of this.waiters) waiter.resolve();
    this.waiters = [];
    this.log("closed", { pending: this.pending() });
  }

  // --- starting and stopping ---------------------------------------------------------------------

  start() {
    if (this.started || this.closed || this.consent !== "granted") return;
    this.started = true;
    if (this.userId == null) this.userId = this.anonymousId();
    this.listen();
    if (!this.local && this.options.persistence !== "memory") this.durability(false, "localStorage is unavailable");
    this.own().then(() => {
      if (!this.started) return undefined;
      this.owned = true;
      this.save();
      return this.adopt();
    }).then(() => {
      this.schedule();
      this.resolveReady();
    });
  }

  stop() {
    this.started = false;
    this.owned = false; // from now on another page may adopt what is left: write no more
    this.env.clearTimeout(this.timer);
    this.timer = null;
    this.env.clearInterval(this.adoptTimer);
    this.releaseLock();
    for (const [target, type, handler, capture] of this.listeners) target.removeEventListener(type, handler, capture);
    this.listeners = [];
    this.unpatchHistory();
    if (this.wake) this.wake();
  }

  takeAll() {
    const batches = [...this.batches, this.open];
    const records = batches.flatMap((b) => b.records);
    this.batches = [];
    this.open = this.newBatch(null);
    return { batches, records };
  }

  replay(method, args, at) {
    this.replayTime = at;
    try {
      return this[method](...args);
    } catch (error) {
      this.report("stub", `a call queued before the module loaded failed: ${method}: ${error.message}`, { error });
      return undefined;
    } finally {
      this.replayTime = null;
    }
  }

  // --- identity and session ----------------------------------------------------------------------

  anonymousId() {
    if (this.anonymous) return this.anonymous;
    const key = `${this.prefix}:anonymousId`;
    let id = this.local && this.local.get(key);
    if (!id || id.length > 256) {
      id = `anonymous-${newId()}`;
      if (this.local && this.consent === "granted") this.local.set(key, id);
    }
    this.anonymous = id;
    return id;
  }

  /** The tab's session, kept in sessionStorage: the same tab and the same user, and not idle. */
  readSession() {
    if (!this.session && this.tabStorage) {
      const saved = this.tabStorage.json(`${this.prefix}:session`);
      if (saved && typeof saved.id === "string" && typeof saved.last === "number") this.session = saved;
    }
    const now = this.env.wallNow();
    if (!this.session || this.session.user !== this.userId || now - this.session.last > this.options.sessionIdleMs) {
      this.newSession();
    }
    return this.session;
  }

  newSession() {
    this.session = { id: newId(), last: this.env.wallNow(), user: this.userId };
    this.writeSession();
  }

  touchSession() {
    const session = this.readSession();
    session.last = this.env.wallNow();
    this.writeSession();
    return session.id;
  }

  writeSession() {
    // A full sessionStorage: the session lives in memory (a reload then starts a new one).
    if (this.tabStorage && this.consent === "granted") {
      this.tabStorage.set(`${this.prefix}:session`, JSON.stringify(this.session));
    }
  }

  // --- the queue in localStorage -----------------------------------------------------------------

  /** One owner per page load (and per return from the back/forward cache): its index key and lock. */
  newPage() {
    this.pageId = newId();
    this.indexKey = `${this.prefix}:p:${this.pageId}`;
    // The index keys this page owns: its own, and those of gone pages it adopted (their lock held).
    this.homes = new Map([[this.indexKey, { lastIndex: undefined, release: null }]]);
  }

  newBatch(key, home = this.indexKey) {
    return { id: newId(), key, home, records: [], attempt: 0, notBefore: 0, sending: 0, dirty: true };
  }

  itemKey(id) {
    return `${this.prefix}:b:${id}`;
  }

  all() {
    return this.open.records.length ? [...this.batches, this.open] : [...this.batches];
  }

  /**
   * Write the queue through to localStorage: removed batches first (that frees space), then the
   * index of each home (this page's, and those it adopted), which lists its batches, then each
   * changed batch under its own key. A write that fails drops nothing: the queue is in memory,
   * onError hears it once, and the next save retries. Returns whether every index was written.
   */
  save() {
    if (!this.owned || !this.local || this.closed) return false;
    let ok = true, indexes = true;
    for (const id of this.removed) this.local.remove(this.itemKey(id));
    this.removed.clear();
    const byHome = new Map([...this.homes.keys()].map((home) => [home, []]));
    for (const batch of this.all()) {
      if (!byHome.has(batch.home)) batch.home = this.indexKey;
      byHome.get(batch.home).push(batch);
    }
    for (const batch of [...this.batches, this.open]) if (!batch.records.length) batch.dirty = false;
    for (const [home, batches] of byHome) {
      const state = this.homes.get(home);
      if (state.legacy) { // a format-1 queue: never rewritten; removed with its heartbeat once all is sent
        if (!batches.length) {
          this.local.remove(home);
          this.local.remove(state.legacy);
          if (state.release) state.release();
          this.homes.delete(home);
        }
        continue;
      }
      if (!batches.length) {
        if (state.lastIndex !== null) this.local.remove(home);
        state.lastIndex = null;
        if (home !== this.indexKey) { // an adopted queue, all sent: its lock goes too
          if (state.release) state.release();
          this.homes.delete(home);
        }
        continue;
      }
      // Without Web Locks, the time says the page is alive (0: gone, adopt at once).
      const at = this.locks || this.leaving ? 0 : this.env.wallNow();
      const index = JSON.stringify({ v: FORMAT, at, batches: batches.map((b) => b.id) });
      if (index !== state.lastIndex) {
        if (this.local.set(home, index)) state.lastIndex = index;
        else ok = indexes = false;
      }
      for (const batch of batches) {
        if (!ok) break;
        if (!batch.dirty) continue;
        const item = JSON.stringify({ v: FORMAT, key: batch.key, records: batch.records });
        if (this.local.set(this.itemKey(batch.id), item)) batch.dirty = false;
        else ok = false;
      }
    }
    this.durability(ok, ok ? "" : "localStorage is full");
    return indexes;
  }

  durability(ok, why) {
    if (ok === this.durable) return;
    this.durable = ok;
    if (ok) {
      this.report("storage", "the queue is written to localStorage again: it survives a reload", { durable: true });
    } else {
      this.report("storage", `${why}: the queue is kept in memory (nothing is dropped) and written ` +
        "again as soon as storage allows; until then it is lost if the page closes before it is sent",
      { durable: false });
    }
  }

  /** Keep at most maxQueueSize actions and maxQueueBytes characters, dropping the oldest (not a batch on its way). */
  bound() {
    const { maxQueueSize, maxQueueBytes } = this.options;
    const over = this.pending() - maxQueueSize;
    if (over > 0) this.dropOldest(over, `more than maxQueueSize (${maxQueueSize}) actions waiting`);
    let bytes = 0;
    const sizes = [];
    for (const batch of this.all()) {
      for (const record of batch.records) {
        const size = sizeOf(record);
        bytes += size;
        if (!batch.sending) sizes.push(size);
      }
    }
    if (bytes > maxQueueBytes) {
      let count = 0;
      while (bytes > maxQueueBytes && count < sizes.length) bytes -= sizes[count++];
      if (count) this.dropOldest(count, `more than maxQueueBytes (${maxQueueBytes}) characters waiting`);
    }
  }

  dropOldest(count, why) {
    const dropped = [];
    for (const batch of this.batches) {
      if (dropped.length >= count) break;
      if (batch.sending) continue;
      const taken = batch.records.splice(0, count - dropped.length);
      if (taken.length) {
        batch.key = newId(); // another body: another key
        batch.dirty = true;
      }
      dropped.push(...taken);
    }
    if (dropped.length < count) {
      dropped.push(...this.open.records.splice(0, count - dropped.length));
      this.open.dirty = true;
    }
    for (const batch of this.batches) if (!batch.records.length) this.removed.add(batch.id);
    this.batches = this.batches.filter((batch) => batch.records.length);
    this.settle(dropped, "dropped");
    this.report("queue-full", `${dropped.length} oldest actions dropped: ${why}`,
      { count: dropped.length, actions: dropped.map((r) => r.a) });
  }

  // --- pages that are gone -----------------------------------------------------------------------

  /** Hold this page's lock while it lives (not while in the back/forward cache): no other page adopts its queue. */
  own() {
    if (!this.locks) return Promise.resolve();
    return new Promise((granted) => {
      let held;
      try {
        held = this.locks.request(`${this.prefix}:page:${this.pageId}`, () => {
          granted();
          return new Promise((release) => { this.homes.get(this.indexKey).release = release; });
        });
      } catch (error) {
        held = Promise.reject(error);
      }
      held.catch(() => { // e.g. a sandboxed frame: fall back to the lease
        this.locks = null;
        granted();
      });
    });
  }

  /** Release this page's lock and those of the queues it adopted (another page may adopt them now). */
  releaseLock() {
    for (const state of this.homes.values()) {
      if (state.release) state.release();
      state.release = null;
    }
  }

  /** Take over the queues of pages that are gone (closed, reloaded, crashed), and of format 1. */
  async adopt() {
    if (!this.local || this.closed || !this.owned || this.adopting) return;
    this.adopting = true;
    try {
      for (const key of this.local.keys(`${this.prefix}:p:`)) {
        if (this.homes.has(key)) continue;
        await this.underLock(key.slice(`${this.prefix}:p:`.length), (release) => this.takeOver(key, release), key);
      }
      for (const key of this.local.keys(`${this.prefix}:q:`)) {
          if (this.homes.has(key)) continue;
        await this.underLock(key.slice(`${this.prefix}:q:`.length), (release) => this.migrate(key, release), null);
      }
      if (!this.locks) this.sweepHeartbeats();
    } catch (error) {
      this.report("adopt", `could not look for the queues of closed pages: ${error.message}`, { error });
    } finally {
      this.adopting = false;
    }
  }

  /**
   * Run ``take(release)`` if the page ``pageId`` is gone: its Web Lock is free (then taken, and
   * kept while ``take`` returns true, until ``release`` is called), or without locks its lease ran out.
   */
  async underLock(pageId, take, indexKey) {
    if (this.locks) {
      let release;
      const kept = new Promise((resolve) => { release = resolve; });
      await new Promise((decided) => {
        this.locks.request(`${this.prefix}:page:${pageId}`, { ifAvailable: true }, (lock) => {
          const keep = Boolean(lock && this.owned && take(release));
          decided();
          return keep ? kept : undefined;
        }).catch(decided);
      });
      return;
    }
    let beat;
    if (indexKey) beat = Number(this.local.json(indexKey)?.at || 0);
    else beat = Number(this.local.get(`${this.prefix}:hb:${pageId}`) || 0);
    if (this.env.wallNow() - beat > LEASE_MS && this.owned) take(null);
  }

  /**
   * Adopt a gone page's queue by taking over its index: its key and its batches' keys stay where
   * they are (nothing is copied, so a full storage does not stop it), its lock is now ours
   * (without Web Locks: its lease, renewed by our heartbeat). Returns whether it was adopted.
   */
  takeOver(indexKey, release) {
    const index = this.local.json(indexKey);
    if (index === null) return false; // adopted meanwhile
    if (!index || index.v !== FORMAT || !Array.isArray(index.batches)) {
      this.reportFormat(indexKey, index);
      return false;
    }
    // Without Web Locks the lease is renewed (our heartbeat from now on). If storage is too full
    // for that, it is adopted all the same: another page may then send it too, stored once.
    if (!this.locks) this.local.set(indexKey, JSON.stringify({ ...index, at: this.env.wallNow() }));
    const taken = [];
    for (const id of index.batches) {
      const item = this.local.json(this.itemKey(id));
      if (item === null) continue; // sent and removed: nothing to adopt
      if (!item || item.v !== FORMAT || !Array.isArray(item.records)) {
        this.reportFormat(this.itemKey(id), item);
        continue; // left under its key, listed by no index any more, and reported
      }
      // A sealed batch keeps its key: one the page sent without seeing the answer is replayed.
      taken.push({ ...this.newBatch(item.key || newId(), indexKey), id, records: item.records, dirty: !item.key });
    }
    this.homes.set(indexKey, { lastIndex: undefined, release });
    this.batches = [...taken, ...this.batches];
    this.log("adopted", { from: indexKey, batches: taken.length, actions: taken.reduce((n, b) => n + b.records.length, 0) });
    this.bound();
    this.save();
    this.schedule();
    return true;
  }

  /**
   * A queue of format 1 (SDK 1.0), one key: taken over in place, like an index (its lock held,
   * nothing copied, so a full storage does not stop it); its batches keep their keys, and the key
   * is removed once everything in it is stored or dropped.
   */
  migrate(key, release) {
    const left = this.local.json(key);
    const pageId = key.slice(`${this.prefix}:q:`.length);
    if (left === null) return false;
    if (!left || left.v !== 1 || !Array.isArray(left.batches) || !Array.isArray(left.queue)) {
      this.reportFormat(key, left);
      return false;
    }
    const taken = left.batches.map((b) => ({ ...this.newBatch(b.key, key), records: b.records, dirty: false }));
    // Its unsealed queue gets a key of its own page's: whoever takes it over sends the same body under the same key.
    if (left.queue.length) taken.push({ ...this.newBatch(`${pageId}-queue`.slice(-200), key), records: left.queue, dirty: false });
    const heartbeat = `${this.prefix}:hb:${pageId}`;
    if (!this.locks) this.local.set(heartbeat, String(this.env.wallNow())); // the lease is ours (if it can be said)
    this.homes.set(key, { lastIndex: undefined, release, legacy: heartbeat });
    this.batches = [...taken, ...this.batches];
    this.log("took over a format-1 queue", { from: key, actions: taken.reduce((n, b) => n + b.records.length, 0) });
    this.bound();
    this.save();
    this.schedule();
    return true;
  }

  reportFormat(key, value) {
    if (!this.formatReported) this.formatReported = new Set();
    if (this.formatReported.has(key)) return;
    this.formatReported.add(key);
    this.report("storage-format", `a saved queue of another format (${value && value.v}) is left in ` +
      `localStorage under ${key}: this version cannot send it`, { key, version: value && value.v });
  }

  /** Without Web Locks: heartbeat keys of format 1 whose queue is gone and whose lease ran out. */
  sweepHeartbeats() {
    for (const key of this.local.keys(`${this.prefix}:hb:`)) {
      const pageId = key.slice(`${this.prefix}:hb:`.length);
      const beat = Number(this.local.get(key) || 0);
      if (this.local.get(`${this.prefix}:q:${pageId}`) === null && this.env.wallNow() - beat > LEASE_MS) {
        this.local.remove(key);
      }
    }
  }

  /**
   * Back from the back/forward cache. Its locks were free meanwhile, so another page may have
   * adopted its queues: it starts as a new page, keeps in memory only what storage does not hold,
   * and adopts again what no other page took (the batches keep their keys: nothing is doubled).
   */
  async resume() {
    if (!this.started || this.closed) return;
    this.owned = false;
    this.leaving = false;
    const before = this.all();
    const legacy = new Set([...this.homes].filter(([, state]) => state.legacy).map(([home]) => home));
    this.newPage();
    const open = this.open.records.length && this.local && this.local.get(this.itemKey(this.open.id)) !== null;
    if (open) this.open = this.newBatch(null);
    // What storage holds (a batch's key, or a format-1 queue's) is adopted again below, or by another page.
    const stored = (batch) => this.local && this.local.get(legacy.has(batch.home) ? batch.home : this.itemKey(batch.id)) !== null;
    this.batches = this.batches.filter((batch) => !stored(batch));
    for (const batch of this.all()) {
      batch.home = this.indexKey;
      batch.dirty = true;
    }
    this.open.home = this.indexKey;
    await this.own();
    if (!this.started || this.closed) return;
    this.owned = true;
    this.save();
    await this.adopt();
    const pending = new Set(this.all().flatMap((b) => b.records.map((r) => r.a.id)));
    const handed = before.flatMap((b) => b.records).filter((r) => !pending.has(r.a.id));
    for (const waiter of this.waiters) handed.forEach((r) => waiter.remaining.delete(r.a.id));
    this.settle([], "stored");
    this.log("resumed from the back/forward cache", { handedToAnotherPage: handed.length });
    this.schedule();
  }

  // --- when to send ------------------------------------------------------------------------------

  on(target, type, handler, capture = false) {
    if (!target || !target.addEventListener) return;
    target.addEventListener(type, handler, capture);
    this.listeners.push([target, type, handler, capture]);
  }

  listen() {
    const { document, window } = this.env;
    this.on(document, "visibilitychange", () => {
      if (document.visibilityState === "hidden") this.sendOnExit(false);
    });
    this.on(window, "pagehide", (event) => {
      this.sendOnExit(true);
      this.releaseLease();
      // Into the back/forward cache: a held Web Lock could keep the page out of it, and another
      // page may adopt the queue meanwhile (resume() sorts that out). A page that is unloading
      // keeps its lock to the end, to clear what the service answers before it goes.
      if (event.persisted) {
        this.owned = false;
        this.releaseLock();
      }
    });
    this.on(window, "pageshow", (event) => { if (event.persisted) this.resume(); });
    this.on(window, "online", () => {
      // Back online: batches that failed for want of a network need not wait out their backoff.
      for (const batch of this.batches) if (batch.lastStatus === 0) batch.notBefore = 0;
      if (this.wake) this.wake();
    });
    this.adoptTimer = this.env.setInterval(() => {
      if (!this.owned) return;
      if (!this.durable || !this.locks) {
        if (!this.durable) for (const state of this.homes.values()) state.lastIndex = undefined;
        this.save(); // persistence retried; without locks, the heartbeat
      }
      this.adopt();
    }, this.options.adoptIntervalMs);
    this.autocapture();
  }

  /** Without Web Locks, a page going away says so, for the next page not to wait out the lease. */
  releaseLease() {
    if (this.locks || !this.owned || !this.local) return;
    this.leaving = true; // and from now on, whatever this page writes says so
    for (const state of this.homes.values()) state.lastIndex = undefined;
    this.save();
  }

  /** Seal and send at once when flushAt actions wait, else once flushIntervalMs has passed. */
  schedule() {
    if (this.closed || !this.started) return;
    if (this.open.records.length >= this.options.flushAt) {
      this.env.clearTimeout(this.timer);
      this.timer = null;
      this.seal();
    } else if (this.open.records.length && !this.timer) {
      this.timer = this.env.setTimeout(() => {
        this.timer = null;
        this.seal();
        this.pump();
      }, clamp(this.options.flushIntervalMs));
    }
    this.pump();
  }

  /**
   * Move the open batch into sealed batches of at most maxBatchActions actions and maxBatchBytes
   * characters; the first keeps the open batch's storage key (rewritten in place, not copied).
   */
  seal() {
    const { maxBatchActions, maxBatchBytes } = this.options;
    if (!this.open.records.length) return;
    let current = null, chars = 0;
    const sealed = [];
    for (const record of this.open.records) {
      const size = sizeOf(record);
      if (!current || current.records.length >= maxBatchActions || chars + size > maxBatchBytes) {
        current = sealed.length ? this.newBatch(newId()) : { ...this.newBatch(newId()), id: this.open.id };
        sealed.push(current);
        chars = 0;
      }
      current.records.push(record);
      chars += size;
    }
    this.batches.push(...sealed);
    this.open = this.newBatch(null);
    this.save();
  }

  wait(ms) {
    return new Promise((resolve) => {
      const timer = this.env.setTimeout(resolve, clamp(ms));
      this.wake = () => { this.env.clearTimeout(timer); resolve(); };
    });
  }

  /** One batch at a time, in order, each retried until the service answers. */
  async pump() {
    if (this.pumping) {
      if (this.wake) this.wake(); // new work may be due sooner than what the loop waits for
      return;
    }
    if (!this.owned || this.closed) return;
    this.pumping = true;
    try {
      while (!this.closed && this.owned) {
        const batch = this.batches.find((b) => !b.sending);
        if (!batch) break;
        // In order: a later batch does not jump a Retry-After the service gave the one before it.
        const wait = batch.notBefore - this.env.now();
        if (wait > 0) {
          await this.wait(wait);
          this.wake = null;
          continue;
        }
        await this.send(batch, false);
      }
    } finally {
      this.pumping = false;
    }
  }

  /**
   * The page is hidden (it may never come back) or going away: send what we can with keepalive,
   * which outlives the page, within the page's one budget of 64 KiB across every keepalive request
   * still in flight. What does not fit stays queued (in localStorage) for the next page.
   */
  sendOnExit(leaving) {
    if (this.closed || !this.started) return;
    this.env.clearTimeout(this.timer);
    this.timer = null;
    this.seal();
    this.splitForKeepalive();
    let budget = KEEPALIVE_BYTES - this.keepaliveInflight;
    const now = this.env.now();
    for (const batch of [...this.batches]) {
      // Keepalive requests outlive the page. Leaving: the page's ordinary requests are about to be
      // cancelled, so those go again (same key); hidden: the page lives on, so Retry-After holds.
      if (batch.keepalive || (batch.sending && !leaving)) continue;
      if (!leaving && batch.notBefore > now) continue;
      const size = utf8Length(sessionLogs(batch.records).body);
      if (size > budget) continue; // a smaller one may still fit
      budget -= size;
      this.log("sent with keepalive", { key: batch.key, bytes: size, budgetLeft: budget });
      this.send(batch, true);
    }
  }

  /** Batches too large for a keepalive request become smaller ones (new keys: new bodies). */
  splitForKeepalive() {
    const batches = [];
    for (const batch of this.batches) {
      if (batch.sending || utf8Length(sessionLogs(batch.records).body) <= KEEPALIVE_BYTES) {
        batches.push(batch);
        continue;
      }
      let piece = null, size = 2;
      for (const record of batch.records) {
        const bytes = utf8Length(JSON.stringify(record)) + 64;
        if (!piece || size + bytes > KEEPALIVE_BYTES) {
          const first = !piece;
          piece = { ...this.newBatch(newId(), batch.home), attempt: batch.attempt, notBefore: batch.notBefore };
          if (first) piece.id = batch.id; // rewritten in place, not copied
          batches.push(piece);
          size = 2;
        }
        piece.records.push(record);
        size += bytes;
      }
    }
    this.batches = batches;
    this.save();
  }

  // --- sending -----------------------------------------------------------------------------------

  async send(batch, keepalive) {
    const { body, groups } = sessionLogs(batch.records);
    const headers = { "Content-Type": "application/json", "Idempotency-Key": batch.key };
    if (this.options.apiKey) headers.Authorization = `Bearer ${this.options.apiKey}`;
    let payload = body;
    batch.sending += 1;
    const bytes = keepalive ? utf8Length(body) : 0;
    if (keepalive) {
      batch.keepalive = true;
      this.keepaliveInflight += bytes;
    }
    let answer, response = null;
    try {
      // Gzip is asynchronous: not for a page on its way out, which sends small bodies anyway.
      if (!keepalive && this.gzipOk && body.length >= this.options.gzipMinBytes) {
        try {
          payload = await gzip(body);
          headers["Content-Encoding"] = "gzip";
          batch.gzipped = true;
        } catch {
          this.gzipOk = false;
          payload = body;
        }
      } else if (!keepalive) {
        batch.gzipped = false;
      }
      const controller = typeof AbortController === "function" ? new AbortController() : null;
      const timer = this.env.setTimeout(() => controller && controller.abort(), clamp(this.options.requestTimeoutMs));
      try {
        response = await this.env.fetch(`${this.url}/logs?partial=true`, {
          method: "POST", headers, body: payload, keepalive, signal: controller && controller.signal,
          credentials: "omit", mode: "cors",
        });
        answer = await readAnswer(response);
      } finally {
        this.env.clearTimeout(timer);
      }
    } catch (error) {
      response = null;
      answer = { status: 0, service: false, body: { code: error && error.name === "AbortError" ? "TIMEOUT" : "NETWORK_ERROR",
        detail: String(error) } };
    } finally {
      batch.sending -= 1;
      if (keepalive) {
        batch.keepalive = false;
        this.keepaliveInflight -= bytes;
      }
    }
    if (!this.batches.includes(batch) || this.closed) return; // settled meanwhile (by another attempt of it)
    this.handle(batch, response, answer, groups);
  }

  handle(batch, response, answer, groups) {
    const { status, service } = answer;
    const reply = answer.body;
    batch.lastStatus = status;
    this.log("answer", { key: batch.key, status, service, code: reply && reply.code });
    if (!service) {
      // Not the service's verdict (a proxy's page, an empty body, no answer): the same batch, again.
      if (status === 413 && batch.records.length > 1) this.bisect(batch);
      else this.retryLater(batch, answer, response);
    } else if (status === 201) {
      this.remove(batch);
      this.counts.duplicates += reply.duplicates || 0;
      if (response.headers.get("Idempotent-Replayed") === "true") this.counts.replayed += 1;
      // partial=true: the valid sessions are stored; of a rejected one, only the actions its
      // pointers name are dropped, and the rest of it is sent again as a new batch.
      const refused = [], again = [], errors = [];
      for (const { index, errors: problems } of reply.rejected || []) {
        const group = groups[index] || [];
        const named = namedRecords(problems, groups);
        const bad = named.size ? group.filter((r) => named.has(r)) : group;
        refused.push(...bad);
        again.push(...group.filter((r) => !bad.includes(r)));
        errors.push(...(problems || []));
      }
      this.settle(batch.records.filter((r) => !refused.includes(r) && !again.includes(r)), "stored");
      this.requeue(again);
      if (refused.length) this.reject(refused, errors, status, reply);
    } else if (status === 400) {
      const named = namedRecords(reply.errors, groups);
      if (named.size) {
        this.remove(batch);
        this.requeue(batch.records.filter((r) => !named.has(r)));
        this.reject([...named], reply.errors, status, reply);
      } else if (batch.records.length > 1) {
        this.bisect(batch); // the service's, with no pointer to go by: halve until the culprit is alone
      } else {
        this.remove(batch);
        this.reject(batch.records, reply.errors || [], status, reply);
      }
    } else if (status === 413) {
      if (batch.records.length > 1) this.bisect(batch);
      else {
        this.remove(batch);
        this.reject(batch.records, reply.errors || [], status, reply);
      }
    } else if (status === 415 && reply.code === "UNSUPPORTED_ENCODING" && batch.gzipped) {
      this.gzipOk = false; // something between us and the service does not pass gzip on: send it plain
    } else if (status === 422 && reply.code === "IDEMPOTENCY_KEY_REUSED") {
      batch.key = newId(); // the body changed under its key (it cannot, but ids make a new key safe)
      batch.dirty = true;
      this.save();
    } else {
      this.retryLater(batch, answer, response);
    }
    this.pump();
  }

  /** Wait and send the same batch, same key, again: back off with jitter, never sooner than Retry-After. */
  retryLater(batch, answer, response) {
    const { status, service } = answer;
    const reply = answer.body;
    const { minBackoffMs, maxBackoffMs } = this.options;
    batch.attempt += 1;
    const backoff = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(batch.attempt - 1, 20));
    let delay = backoff / 2 + this.env.random() * (backoff / 2);
    if (response && (status === 429 || status === 503 || status === 409)) {
      delay = Math.max(delay, retryAfterMs(response, this.env.wallNow()));
    }
    // Refusals that only a person can mend (a wrong key, a wrong URL): keep the actions, retry slowly.
    const permanent = service && status >= 400 && status < 500 && ![408, 409, 425, 429].includes(status);
    if (permanent) {
      delay = Math.max(delay, maxBackoffMs);
      this.report("refused", `the service refused a batch (${status} ${reply?.code || ""}); kept, retried in ` +
        `${Math.round(delay / 1000)} s`, { status, problem: reply, count: batch.records.length });
    } else if (!service && status !== 0) {
      this.report("unexpected-response", `an answer that is not the service's (${status}, ` +
        `${answer.contentType || "no content type"}): the batch is kept and retried in ${Math.round(delay / 1000)} s`,
      { status, contentType: answer.contentType, count: batch.records.length });
    } else if (status === 0 && batch.attempt === 1) {
      this.report("network", `no answer (${reply.code}: offline, a timeout, or CORS): kept and retried`,
        { status, code: reply.code, count: batch.records.length });
    }
    batch.notBefore = this.env.now() + delay;
    this.counts.retries += 1;
    this.log("retry later", { key: batch.key, status, attempt: batch.attempt, delayMs: Math.round(delay) });
    this.callback("onRetry", { status, code: reply?.code, attempt: batch.attempt, delayMs: Math.round(delay) });
  }

  /** Split a batch in two (new keys: new bodies); the first half keeps the batch's storage key. */
  bisect(batch) {
    const half = Math.ceil(batch.records.length / 2);
    const pieces = [batch.records.slice(0, half), batch.records.slice(half)]
      .map((records) => ({ ...this.newBatch(newId(), batch.home), records }));
    pieces[0].id = batch.id;
    this.batches.splice(this.batches.indexOf(batch), 1, ...pieces);
    this.log("split a batch in two", { actions: batch.records.length });
    this.save();
  }

  requeue(records) {
    if (!records.length) return;
    this.batches.unshift({ ...this.newBatch(newId()), records });
    this.save();
  }

  remove(batch) {
    this.batches = this.batches.filter((b) => b !== batch);
    this.removed.add(batch.id);
    this.save();
  }

  reject(records, errors, status, reply) {
    this.settle(records, "dropped");
    this.report("rejected", `the service refused ${records.length} invalid action(s); they are dropped`,
      { status, count: records.length, actions: records.map((r) => r.a), errors, problem: reply });
  }

  /** Count outcomes and resolve the flush() calls that waited for these actions. */
  settle(records, outcome) {
    if (outcome === "stored") this.counts.stored += records.length;
    else this.counts.dropped += records.length;
    for (const waiter of this.waiters) {
      for (const record of records) {
        if (waiter.remaining.delete(record.a.id)) waiter[outcome] += 1;
      }
    }
    this.waiters = this.waiters.filter((waiter) => {
      if (waiter.remaining.size && !waiter.resolved) return true;
      waiter.resolve();
      return false;
    });
  }

  // --- autocapture -------------------------------------------------------------------------------

  autocapture() {
    const options = this.options.autocapture || {};
    const { window, document } = this.env;
    if (options.navigation && window && window.history && window.location) {
      this.lastPath = this.path();
      const changed = () => {
        const path = this.path();
        if (path !== this.lastPath && this.consent === "granted" && !this.closed) {
          const from = this.lastPath;
          this.lastPath = path;
          this.guard(() => this.navigate(from, path, { autocaptured: true }));
        }
      };
      this.patched = {};
      for (const name of HISTORY_METHODS) {
        const original = window.history[name];
        const patched = function (...args) {
          const result = original.apply(this, args);
          changed();
          return result;
        };
        this.patched[name] = { original, patched };
        window.history[name] = patched;
      }
      this.on(window, "popstate", changed);
      this.on(window, "hashchange", changed);
    }
    if (options.clicks && document) {
      this.on(document, "click", (event) => {
        const { location } = this.env.window || {};
        this.guard(() => this.click(Math.round(event.pageX || 0), Math.round(event.pageY || 0), {
          page: location ? location.pathname : "", selector: selectorOf(event.target), autocaptured: true,
        }));
      }, true);
    }
  }

  /** The page as autocapture names it: the path and the hash (never the query, which may hold secrets). */
  path() {
    const { location } = this.env.window;
    return `${location.pathname}${location.hash}` || "/";
  }

  unpatchHistory() {
    const { window } = this.env;
    for (const [name, { original, patched }] of Object.entries(this.patched || {})) {
      if (window.history[name] === patched) window.history[name] = original;
    }
    this.patched = null;
  }

  guard(fn) {
    try {
      fn();
    } catch (error) {
      this.report("autocapture", `could not record an action: ${error.message}`, { error });
    }
  }

  // --- telling the page --------------------------------------------------------------------------

  callback(name, argument) {
    const fn = this.options[name];
    if (!fn) return;
    try {
      fn(argument);
    } catch (error) {
      this.callbackFailed(name, error);
    }
  }

  callbackFailed(name, error) {
    if (name === "onError") {
      this.env.console?.error("logstore: onError threw", error);
      return;
    }
    this.report("callback", `${name} threw: ${error && error.message}`, { callback: name, error });
  }

  report(kind, message, details) {
    this.log(`report ${kind}`, { message });
    const fn = this.options.onError;
    if (!fn) return;
    try {
      fn({ kind, message, ...details });
    } catch (error) {
      this.callbackFailed("onError", error);
    }
  }

  log(message, details) {
    if (this.options.debug) this.env.console?.debug(`logstore: ${message}`, details || "");
  }
}
