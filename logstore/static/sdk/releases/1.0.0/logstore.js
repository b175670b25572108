// logstore browser client: records clicks, views and navigation and POSTs them to a logstore
// service in batches, so that no action is lost or stored twice.
//
//   import * as logstore from "https://logs.example.com/sdk/logstore.js";
//   const log = logstore.init({ apiKey: "<a write key>", userId: "ABC123XYZ" });
//   log.click(52, 11); log.view("FDJKLHSLD"); log.navigate("communities", "inventory");
//
// How it keeps its promise (the README's "Browser client" section has the details):
// - every action gets an id and its time (RFC 3339 in the browser's own offset) when recorded, and
//   is written at once to localStorage, under a key owned by this page (a Web Lock held for the
//   page's life says it is alive);
// - batches are sealed once and keep their Idempotency-Key across retries; the service stores an
//   action id once per session, so a replay after a lost answer stores nothing twice;
// - a batch leaves the queue only when the service has answered 201 (or, for the actions it names
//   as invalid, 400), so a reload or a crash loses nothing: the next page of the origin adopts the
//   queues of pages that are gone (their lock is free) and sends them.
//
// Plain ES module, no dependency, no build step.

export const VERSION = "1.0.0";

const DEFAULTS = {
  url: null,                 // the service; defaults to the one that served this file
  apiKey: null,              // a key of kind "write", sent as Authorization: Bearer <key>
  userId: null,              // null: an anonymous id kept in localStorage
  flushIntervalMs: 5000,     // send what is queued this long after the first unsent action
  flushAt: 50,               // ... or as soon as this many actions are queued
  maxBatchActions: 500,      // actions per POST
  maxBatchBytes: 500000,     // JSON characters per POST (the service takes 10 MB)
  maxQueueSize: 5000,        // actions kept while the service cannot be reached; oldest dropped first
  sessionIdleMs: 30 * 60 * 1000, // a new session id after this long without an action
  gzipMinBytes: 16384,       // gzip bodies at least this large (where CompressionStream exists)
  minBackoffMs: 1000,        // first retry delay; doubles per attempt, with jitter
  maxBackoffMs: 60000,       // longest retry delay (Retry-After may ask for longer)
  requestTimeoutMs: 30000,   // a POST without an answer after this long is retried
  adoptIntervalMs: 5000,     // how often to look for queues left by closed pages
  storageKey: "logstore",    // prefix of the localStorage and sessionStorage keys
  onError: (error) => console.warn("logstore:", error.message, error),
  onRetry: null,             // called as onRetry({status, code, attempt, delayMs}) before each wait
};

// Keepalive requests (page hidden or closing) may carry 64 KiB in all; stay below it.
const KEEPALIVE_BYTES = 60000;
// A fallback lease, for browsers without Web Locks: a page whose heartbeat is older is gone.
const LEASE_MS = 3 * 60 * 1000;

/** Start recording; returns the client. */
export function init(options = {}) {
  return new Client({ ...DEFAULTS, ...options });
}

/** RFC 3339 in the browser's own offset, with milliseconds: 2026-12-02T09:15:03.123-06:00. */
export function formatTime(date = new Date()) {
  const pad = (n, width = 2) => String(n).padStart(width, "0");
  const offset = -date.getTimezoneOffset();
  const abs = Math.abs(offset);
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}` +
    `T${pad(date.getHours())}:${pad(date.getMinutes())}:${pad(date.getSeconds())}` +
    `.${pad(date.getMilliseconds(), 3)}${offset < 0 ? "-" : "+"}${pad(Math.floor(abs / 60))}:${pad(abs % 60)}`;
}

function newId() {
  if (globalThis.crypto && crypto.randomUUID) return crypto.randomUUID();
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
}

function utf8Length(text) {
  return new TextEncoder().encode(text).length;
}

// Storage that may be missing (storage disabled, private modes) or full: never throws.
function safeStorage(kind) {
  try {
    const storage = globalThis[kind];
    const probe = "logstore:probe";
    storage.setItem(probe, "1");
    storage.removeItem(probe);
    return storage;
  } catch {
    return null;
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

function retryAfterMs(response) {
  const value = response.headers.get("Retry-After");
  if (!value) return 0;
  const seconds = Number(value);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? 0 : Math.max(0, date - Date.now());
}

async function readJson(response) {
  try {
    return await response.json();
  } catch {
    return null;
  }
}

async function gzip(text) {
  const stream = new Blob([text]).stream().pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

class Client {
  constructor(options) {
    this.options = options;
    this.url = String(options.url || new URL("..", import.meta.url)).replace(/\/+$/, "");
    this.prefix = `${options.storageKey}:${this.url}`;
    this.local = safeStorage("localStorage");
    this.tabStorage = safeStorage("sessionStorage");
    this.locks = globalThis.navigator?.locks || null; // null: a heartbeat lease instead
    this.pageId = newId(); // one owner per page load: a reload's queue is adopted like a closed tab's
    this.queueKey = `${this.prefix}:q:${this.pageId}`;
    this.batches = [];     // sealed: [{key, records, attempt, notBefore, inflight}]
    this.queue = [];       // not yet sealed: [{u, s, a}]
    this.waiters = [];     // flush() promises: [{remaining: Set(id), stored, dropped, resolve}]
    this.counts = { stored: 0, duplicates: 0, dropped: 0, retries: 0, replayed: 0 };
    this.gzipOk = typeof CompressionStream === "function";
    this.owned = false;
    this.closed = false;
    this.userId = options.userId == null ? this.anonymousId() : String(options.userId);
    this.ready = this.own().then(() => {
      this.owned = true;
      this.save();
      return this.adopt();
    }).then(() => this.schedule());
    this.listen();
    if (!this.local) this.storageFailed();
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

  /** Queue one action of any type; returns its id. */
  action(type, properties = {}) {
    if (this.closed) throw new Error("logstore: this client was closed");
    const record = {
      u: this.userId,
      s: this.touchSession(),
      // A copy, as JSON: what the caller changes later is not sent, and what JSON cannot hold
      // (a cycle, a BigInt) throws here rather than in a batch.
      a: { id: newId(), time: formatTime(), type: String(type), properties: JSON.parse(JSON.stringify(properties)) },
    };
    this.queue.push(record);
    this.bound();
    this.save();
    this.schedule();
    return record.a.id;
  }

  /** Further actions belong to ``userId`` (null: the anonymous id), in a new session if it changed. */
  setUser(userId) {
    const next = userId == null ? this.anonymousId() : String(userId);
    if (next !== this.userId) {
      this.userId = next;
      this.newSession();
    }
  }

  get sessionId() {
    return this.readSession().id;
  }

  /** Counts so far: stored, duplicates (replays the service recognised), dropped, retries, pending. */
  stats() {
    return { ...this.counts, pending: this.pending() };
  }

  pending() {
    return this.queue.length + this.batches.reduce((n, batch) => n + batch.records.length, 0);
  }

  /**
   * Send everything queued now; resolves once each of those actions is stored or dropped for good
   * (with {stored, dropped, pending}), or after ``timeoutMs`` if given, whichever comes first.
   */
  flush({ timeoutMs } = {}) {
    this.seal(this.options.maxBatchActions, this.options.maxBatchBytes);
    const remaining = new Set();
    for (const batch of this.batches) batch.records.forEach((r) => remaining.add(r.a.id));
    const waiter = { remaining, stored: 0, dropped: 0 };
    const done = new Promise((resolve) => {
      waiter.resolve = () => resolve({ stored: waiter.stored, dropped: waiter.dropped, pending: remaining.size });
    });
    if (!remaining.size) waiter.resolve();
    else this.waiters.push(waiter);
    if (timeoutMs != null) setTimeout(() => waiter.resolve(), timeoutMs);
    this.pump();
    return done;
  }

  /** Stop timers and listeners and release this page's queue (kept in localStorage for the next page). */
  close() {
    this.closed = true;
    this.owned = false; // from now on another page may adopt what is left: write no more
    clearTimeout(this.timer);
    clearInterval(this.adoptTimer);
    if (this.releaseLock) this.releaseLock();
    for (const [target, type, handler] of this.listeners) target.removeEventListener(type, handler);
    if (this.wake) this.wake();
  }

  // --- identity and session ----------------------------------------------------------------------

  anonymousId() {
    const key = `${this.prefix}:anonymousId`;
    let id = this.local && this.local.getItem(key);
    if (!id) {
      id = `anonymous-${newId()}`;
      if (this.local) this.local.setItem(key, id);
    }
    return id;
  }

  readSession() {
    if (!this.session && this.tabStorage) {
      try {
        this.session = JSON.parse(this.tabStorage.getItem(`${this.prefix}:session`));
      } catch {
        this.session = null;
      }
    }
    if (!this.session || Date.now() - this.session.last > this.options.sessionIdleMs) this.newSession();
    return this.session;
  }

  newSession() {
    this.session = { id: newId(), last: Date.now() };
    this.writeSession();
  }

  touchSession() {
    const session = this.readSession();
    session.last = Date.now();
    this.writeSession();
    return session.id;
  }

  writeSession() {
    if (this.tabStorage) this.tabStorage.setItem(`${this.prefix}:session`, JSON.stringify(this.session));
  }

  // --- the queue in localStorage -----------------------------------------------------------------

  snapshot() {
    return JSON.stringify({ v: 1, batches: this.batches.map((b) => ({ key: b.key, records: b.records })),
                            queue: this.queue });
  }

  /** Write this page's queue through to localStorage; on a full storage, drop oldest and say so. */
  save() {
    if (!this.owned || !this.local) return;
    for (let tries = 0; tries < 8; tries += 1) {
      try {
        if (this.pending()) this.local.setItem(this.queueKey, this.snapshot());
        else this.local.removeItem(this.queueKey);
        this.heartbeat();
        return;
      } catch {
        this.dropOldest(Math.max(1, Math.ceil(this.pending() / 4)), "localStorage is full");
      }
    }
    this.storageFailed();
  }

  storageFailed() {
    if (!this.storageReported) {
      this.report("storage", "localStorage is unavailable or full: the queue is kept in memory only, " +
        "and lost if the page closes before it is sent", {});
    }
    this.storageReported = true;
  }

  /** Without Web Locks, a page going away says so, for the next page not to wait out the lease. */
  releaseLease() {
    if (!this.locks && this.owned && this.local) {
      try {
        this.local.setItem(`${this.prefix}:hb:${this.pageId}`, "0");
      } catch {
        // the lease then runs out by itself
      }
    }
  }

  /** Without Web Locks, a page says it is alive by the time it last wrote here. */
  heartbeat() {
    if (!this.locks && this.owned && this.local) {
      try {
        this.local.setItem(`${this.prefix}:hb:${this.pageId}`, String(Date.now()));
      } catch {
        // a full storage: the queue's own write reports it
      }
    }
  }

  /** Keep at most maxQueueSize actions, dropping the oldest (but not a batch on its way: it may be stored). */
  bound() {
    const over = this.pending() - this.options.maxQueueSize;
    if (over > 0) this.dropOldest(over, `more than maxQueueSize (${this.options.maxQueueSize}) actions waiting`);
  }

  dropOldest(count, why) {
    const dropped = [];
    for (const batch of this.batches) {
      if (dropped.length >= count) break;
      if (batch.inflight) continue;
      const taken = batch.records.splice(0, count - dropped.length);
      if (taken.length) batch.key = newId(); // another body: another key
      dropped.push(...taken);
    }
    if (dropped.length < count) dropped.push(...this.queue.splice(0, count - dropped.length));
    this.batches = this.batches.filter((batch) => batch.records.length);
    this.settle(dropped, "dropped");
    this.report("queue-full", `${dropped.length} oldest actions dropped: ${why}`,
      { count: dropped.length, actions: dropped.map((r) => r.a) });
  }

  // --- pages that are gone -----------------------------------------------------------------------

  /** Hold this page's lock for its life: while held, no other page adopts its queue. */
  own() {
    if (!this.locks) return Promise.resolve();
    return new Promise((granted) => {
      const held = this.locks.request(`${this.prefix}:page:${this.pageId}`, () => {
        granted();
        return new Promise((release) => { this.releaseLock = release; });
      });
      held.catch(() => { // e.g. a sandboxed frame: fall back to the lease
        this.locks = null;
        granted();
      });
    });
  }

  /** Take over the queues of pages that are gone (closed, reloaded, crashed): oldest first. */
  async adopt() {
    if (!this.local || this.closed || !this.owned || this.adopting) return;
    this.adopting = true;
    try {
      await this.adoptEach();
    } catch (error) {
      console.warn("logstore: could not look for the queues of closed pages", error);
    } finally {
      this.adopting = false;
    }
  }

  async adoptEach() {
    const marker = `${this.prefix}:q:`;
    const keys = [];
    for (let i = 0; i < this.local.length; i += 1) {
      const key = this.local.key(i);
      if (key && key.startsWith(marker) && key !== this.queueKey) keys.push(key);
    }
    for (const key of keys) {
      const pageId = key.slice(marker.length);
      if (this.locks) {
        await this.locks.request(`${this.prefix}:page:${pageId}`, { ifAvailable: true },
          (lock) => { if (lock) this.takeOver(key, pageId); });
      } else {
        const beat = Number(this.local.getItem(`${this.prefix}:hb:${pageId}`) || 0);
        if (Date.now() - beat > LEASE_MS) this.takeOver(key, pageId);
      }
    }
  }

  takeOver(key, pageId) {
    let left;
    try {
      left = JSON.parse(this.local.getItem(key));
    } catch {
      left = null;
    }
    if (left && left.v === 1) {
      // Its sealed batches keep their keys: a batch it sent without seeing the answer is replayed.
      const batches = left.batches.map((b) => ({ key: b.key, records: b.records, attempt: 0, notBefore: 0 }));
      this.batches = [...batches, ...this.batches];
      this.queue = [...left.queue, ...this.queue];
    }
    this.bound();
    this.save(); // ours first, then remove theirs: a crash in between sends twice, stores once
    this.local.removeItem(key);
    this.local.removeItem(`${this.prefix}:hb:${pageId}`);
    this.schedule();
  }

  // --- when to send ------------------------------------------------------------------------------

  listen() {
    this.listeners = [];
    const on = (target, type, handler) => {
      if (!target) return;
      target.addEventListener(type, handler);
      this.listeners.push([target, type, handler]);
    };
    on(globalThis.document, "visibilitychange", () => {
      if (document.visibilityState === "hidden") this.sendOnExit(false);
    });
    on(globalThis.window, "pagehide", () => {
      this.sendOnExit(true);
      this.releaseLease();
    });
    on(globalThis.window, "pageshow", (event) => { if (event.persisted) this.heartbeat(); });
    on(globalThis.window, "online", () => {
      // Back online: batches that failed for want of a network need not wait out their backoff.
      for (const batch of this.batches) if (batch.lastStatus === 0) batch.notBefore = 0;
      if (this.wake) this.wake();
    });
    this.adoptTimer = setInterval(() => {
      this.heartbeat();
      this.adopt();
    }, this.options.adoptIntervalMs);
  }

  /** Seal and send at once when flushAt actions wait, else once flushIntervalMs has passed. */
  schedule() {
    if (this.closed) return;
    if (this.queue.length >= this.options.flushAt) {
      clearTimeout(this.timer);
      this.timer = null;
      this.seal(this.options.maxBatchActions, this.options.maxBatchBytes);
    } else if (this.queue.length && !this.timer) {
      this.timer = setTimeout(() => {
        this.timer = null;
        this.seal(this.options.maxBatchActions, this.options.maxBatchBytes);
        this.pump();
      }, this.options.flushIntervalMs);
    }
    this.pump();
  }

  /** Move the queue into batches of at most ``maxActions`` actions and ``maxChars`` characters. */
  seal(maxActions, maxChars) {
    let current = null, chars = 0;
    for (const record of this.queue) {
      const size = JSON.stringify(record).length;
      if (!current || current.records.length >= maxActions || chars + size > maxChars) {
        current = { key: newId(), records: [], attempt: 0, notBefore: 0 };
        this.batches.push(current);
        chars = 0;
      }
      current.records.push(record);
      chars += size;
    }
    this.queue = [];
    this.save();
  }

  /** One batch at a time, in order, each retried until the service answers. */
  async pump() {
    if (this.pumping) {
      if (this.wake) this.wake(); // new work may be due sooner than what the loop waits for
      return;
    }
    if (!this.owned) return;
    this.pumping = true;
    try {
      while (!this.closed) {
        const batch = this.batches.find((b) => !b.inflight);
        if (!batch) break;
        // In order: a later batch does not jump a Retry-After the service gave the one before it.
        const wait = batch.notBefore - Date.now();
        if (wait > 0) {
          await new Promise((resolve) => {
            const timer = setTimeout(resolve, wait);
            this.wake = () => { clearTimeout(timer); resolve(); };
          });
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
   * which outlives the page, within the browser's 64 KiB. What does not fit stays in localStorage.
   */
  sendOnExit(leaving) {
    if (this.closed) return;
    clearTimeout(this.timer);
    this.timer = null;
    this.seal(this.options.maxBatchActions, this.options.maxBatchBytes);
    this.splitForKeepalive();
    let budget = KEEPALIVE_BYTES;
    for (const batch of [...this.batches]) {
      // Keepalive requests outlive the page. Leaving: the page's ordinary requests are about to be
      // cancelled, so those go again (same key); hidden: the page lives on, so Retry-After holds.
      if (batch.inflight === "keepalive" || (batch.inflight && !leaving)) continue;
      if (!leaving && batch.notBefore > Date.now()) continue;
      const size = utf8Length(sessionLogs(batch.records).body);
      if (size > budget) break;
      budget -= size;
      this.send(batch, true);
    }
  }

  /** Batches too large for a keepalive request become smaller ones (new keys: new bodies). */
  splitForKeepalive() {
    const batches = [];
    for (const batch of this.batches) {
      if (batch.inflight || utf8Length(sessionLogs(batch.records).body) <= KEEPALIVE_BYTES) {
        batches.push(batch);
        continue;
      }
      let piece = null, size = 2;
      for (const record of batch.records) {
        const bytes = utf8Length(JSON.stringify(record)) + 64;
        if (!piece || size + bytes > KEEPALIVE_BYTES) {
          piece = { key: newId(), records: [], attempt: batch.attempt, notBefore: batch.notBefore };
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
    batch.inflight = keepalive ? "keepalive" : "fetch";
    batch.gzipped = false;
    let response, problem = null;
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
      }
      const controller = new AbortController();
      const timer = setTimeout(() => controller.abort(), this.options.requestTimeoutMs);
      try {
        response = await fetch(`${this.url}/logs?partial=true`, {
          method: "POST", headers, body: payload, keepalive, signal: controller.signal,
          credentials: "omit", mode: "cors",
        });
      } finally {
        clearTimeout(timer);
      }
      problem = await readJson(response);
    } catch (error) {
      response = null;
      problem = { code: error.name === "AbortError" ? "TIMEOUT" : "NETWORK_ERROR", detail: String(error) };
    } finally {
      batch.inflight = false;
    }
    if (!this.batches.includes(batch)) return; // settled meanwhile (by another attempt of it)
    this.handle(batch, response, problem, groups);
  }

  handle(batch, response, reply, groups) {
    const status = response ? response.status : 0;
    batch.lastStatus = status;
    if (status === 201) {
      this.remove(batch);
      this.counts.duplicates += reply?.duplicates || 0;
      if (response.headers.get("Idempotent-Replayed") === "true") this.counts.replayed += 1;
      // partial=true: the valid sessions are stored; of a rejected one, only the actions its
      // pointers name are dropped, and the rest of it is sent again as a new batch.
      const refused = [], again = [], errors = [];
      for (const { index, errors: problems } of reply?.rejected || []) {
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
      const named = namedRecords(reply?.errors, groups);
      if (named.size) {
        this.remove(batch);
        this.requeue(batch.records.filter((r) => !named.has(r)));
        this.reject([...named], reply.errors, status);
      } else {
        this.bisect(batch, status, reply); // no pointer to go by: halve until the culprit is alone
      }
    } else if (status === 413) {
      this.bisect(batch, status, reply);
    } else if (status === 415 && reply?.code === "UNSUPPORTED_ENCODING" && batch.gzipped) {
      this.gzipOk = false; // something between us and the service does not pass gzip on: send it plain
    } else if (status === 422 && reply?.code === "IDEMPOTENCY_KEY_REUSED") {
      batch.key = newId(); // the body changed under its key (it cannot, but ids make a new key safe)
      this.save();
    } else {
      this.retryLater(batch, status, reply, response);
    }
    this.pump();
  }

  /** Wait and send the same batch, same key, again: back off with jitter, never sooner than Retry-After. */
  retryLater(batch, status, reply, response) {
    const { minBackoffMs, maxBackoffMs } = this.options;
    batch.attempt += 1;
    const backoff = Math.min(maxBackoffMs, minBackoffMs * 2 ** Math.min(batch.attempt - 1, 20));
    let delay = backoff / 2 + Math.random() * (backoff / 2);
    if (response && (status === 429 || status === 503 || status === 409)) delay = Math.max(delay, retryAfterMs(response));
    // Refusals that only a person can mend (a wrong key, a wrong URL): keep the actions, retry slowly.
    const permanent = status >= 400 && status < 500 && ![408, 409, 425, 429].includes(status);
    if (permanent) {
      delay = Math.max(delay, maxBackoffMs);
      this.report("refused", `the service refused a batch (${status} ${reply?.code || ""}); kept, retried in ` +
        `${Math.round(delay / 1000)} s`, { status, problem: reply, count: batch.records.length });
    }
    batch.notBefore = Date.now() + delay;
    this.counts.retries += 1;
    if (this.options.onRetry) {
      this.options.onRetry({ status, code: reply?.code, attempt: batch.attempt, delayMs: Math.round(delay) });
    }
  }

  /** Split a batch in two (new keys: new bodies); a single action that still fails is dropped. */
  bisect(batch, status, reply) {
    if (batch.records.length === 1) {
      this.remove(batch);
      this.reject(batch.records, reply?.errors || [], status, reply);
      return;
    }
    const half = Math.ceil(batch.records.length / 2);
    const pieces = [batch.records.slice(0, half), batch.records.slice(half)]
      .map((records) => ({ key: newId(), records, attempt: 0, notBefore: 0 }));
    this.batches.splice(this.batches.indexOf(batch), 1, ...pieces);
    this.save();
  }

  requeue(records) {
    if (!records.length) return;
    this.batches.unshift({ key: newId(), records, attempt: 0, notBefore: 0 });
    this.save();
  }

  remove(batch) {
    this.batches = this.batches.filter((b) => b !== batch);
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
      if (waiter.remaining.size) return true;
      waiter.resolve();
      return false;
    });
  }

  report(kind, message, details) {
    try {
      if (this.options.onError) this.options.onError({ kind, message, ...details });
    } catch (error) {
      console.error("logstore: onError threw", error);
    }
  }
}
