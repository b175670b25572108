// Fakes for the browser client's unit tests (node --test, no dependencies): a localStorage with a
// quota, Web Locks, a clock with timers, a service behind fetch, and a page (window, document).

export class QuotaExceededError extends Error {
  constructor() {
    super("The quota has been exceeded.");
    this.name = "QuotaExceededError";
  }
}

/** A Storage whose keys and values may hold ``quota`` characters in all (like Chromium: a replacement counts its growth). */
export class FakeStorage {
  constructor(quota = Infinity) {
    this.quota = quota;
    this.map = new Map();
    this.writes = 0;
    this.failures = 0;
  }

  get used() {
    let n = 0;
    for (const [key, value] of this.map) n += key.length + value.length;
    return n;
  }

  get length() { return this.map.size; }
  key(i) { return [...this.map.keys()][i] ?? null; }
  getItem(key) { return this.map.has(key) ? this.map.get(key) : null; }

  setItem(key, value) {
    value = String(value);
    const old = this.map.has(key) ? key.length + this.map.get(key).length : 0;
    if (this.used - old + key.length + value.length > this.quota) {
      this.failures += 1;
      throw new QuotaExceededError();
    }
    this.writes += 1;
    this.map.set(key, value);
  }

  removeItem(key) { this.map.delete(key); }
  clear() { this.map.clear(); }

  /** What the app's own code does: fill the storage up to ``leave`` characters below the quota. */
  fill(leave = 0) {
    let i = 0;
    while (this.quota - this.used - leave > 20) {
      const room = this.quota - this.used - leave - 20;
      this.map.set(`app:${i++}`.padEnd(10, "_"), "x".repeat(Math.min(room, 100000)));
    }
  }

  unfill() {
    for (const key of [...this.map.keys()]) if (key.startsWith("app:")) this.map.delete(key);
  }

  keys(part) { return [...this.map.keys()].filter((k) => k.includes(part)); }
}

/** navigator.locks: exclusive locks held while the callback's promise is pending. */
export class FakeLocks {
  constructor() {
    this.held = new Set();
    this.waiting = new Map();
  }

  request(name, options, callback) {
    if (typeof options === "function") [options, callback] = [{}, options];
    if (this.held.has(name)) {
      if (options.ifAvailable) return Promise.resolve().then(() => callback(null));
      return new Promise((resolve, reject) => {
        const queue = this.waiting.get(name) || [];
        queue.push(() => this.run(name, callback).then(resolve, reject));
        this.waiting.set(name, queue);
      });
    }
    return this.run(name, callback);
  }

  async run(name, callback) {
    this.held.add(name);
    try {
      return await callback({ name });
    } finally {
      this.held.delete(name);
      const next = (this.waiting.get(name) || []).shift();
      if (next) next();
    }
  }
}

export const settle = () => new Promise((resolve) => setImmediate(resolve));

/** performance.now(), Date.now() and timers under the test's control. */
export class FakeClock {
  constructor(wall = Date.UTC(2026, 11, 4, 12, 0, 0)) {
    this.mono = 1000;
    this.wallOffset = wall - this.mono;
    this.timers = new Map();
    this.next = 1;
    this.delays = [];
  }

  now = () => this.mono;
  wallNow = () => this.mono + this.wallOffset;

  setTimeout = (fn, ms) => {
    const id = this.next++;
    this.delays.push(ms);
    if (!(ms >= 0 && ms <= 2 ** 31 - 1)) throw new Error(`setTimeout(${ms}) would overflow`);
    this.timers.set(id, { at: this.mono + ms, fn });
    return id;
  };

  clearTimeout = (id) => { this.timers.delete(id); };

  setInterval = (fn, ms) => {
    const id = this.next++;
    const again = () => { this.timers.set(id, { at: this.mono + ms, fn: again, every: true }); fn(); };
    this.timers.set(id, { at: this.mono + ms, fn: again, every: true });
    return id;
  };

  clearInterval = (id) => { this.timers.delete(id); };

  /** Move time on by ``ms``, running each timer due on the way (and what its promises do). */
  async advance(ms) {
    const end = this.mono + ms;
    await settle();
    for (let guard = 0; guard < 100000; guard += 1) {
      let due = null;
      for (const [id, timer] of this.timers) if (timer.at <= end && (!due || timer.at < due[1].at)) due = [id, timer];
      if (!due) break;
      this.timers.delete(due[0]);
      this.mono = Math.max(this.mono, due[1].at);
      due[1].fn();
      for (let i = 0; i < 5; i += 1) await settle();
    }
    this.mono = end;
    for (let i = 0; i < 5; i += 1) await settle();
  }
}

function response(status, body, headers = {}) {
  const text = body == null ? "" : typeof body === "string" ? body : JSON.stringify(body);
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), String(v)]));
  return { status, headers: { get: (name) => lower[name.toLowerCase()] ?? null }, text: async () => text };
}

export function problem(status, code, extra = {}, headers = {}) {
  return response(status, { type: "about:blank", title: code, status, code, detail: code, ...extra },
    { "Content-Type": "application/problem+json", ...headers });
}

export function html(status, headers = {}) {
  return response(status, `<html><body><h1>${status}</h1>nginx</body></html>`, { "Content-Type": "text/html", ...headers });
}

export function empty(status) {
  return response(status, null, {});
}

/**
 * The service behind fetch: stores each action id once per session, answers each Idempotency-Key's
 * replay with its first answer. ``intercept(request)`` may answer instead (a proxy, an outage).
 */
export class FakeService {
  constructor() {
    this.requests = [];
    this.stored = new Map(); // `${user}\u0000${session}` -> Set(action id)
    this.answers = new Map();
    this.keysOfAction = new Map(); // action id -> Set(Idempotency-Key) of bodies that carried it
    this.intercept = null;
    this.hold = null; // a promise: requests wait for it (in flight)
  }

  fetch = async (url, init) => {
    const request = { url, ...init, key: init.headers["Idempotency-Key"], bytes: Buffer.byteLength(init.body) };
    request.logs = JSON.parse(init.body);
    this.requests.push(request);
    for (const log of request.logs) {
      for (const action of log.actions) {
        if (!this.keysOfAction.has(action.id)) this.keysOfAction.set(action.id, new Set());
        this.keysOfAction.get(action.id).add(request.key);
      }
    }
    if (this.hold) await this.hold;
    if (this.intercept) {
      const answer = this.intercept(request);
      if (answer instanceof Error) throw answer;
      if (answer) {
        request.status = answer.status;
        return answer;
      }
    }
    if (this.answers.has(request.key)) {
      request.status = 201;
      return response(201, this.answers.get(request.key), { "Content-Type": "application/json", "Idempotent-Replayed": "true" });
    }
    let actions = 0, duplicates = 0;
    for (const log of request.logs) {
      if (typeof log.userId !== "string" || !log.userId.length || log.userId.length > 256) {
        request.status = 400;
        return problem(400, "VALIDATION_FAILED", { errors: [{ pointer: `/${request.logs.indexOf(log)}/userId`, code: "INVALID_LENGTH" }] });
      }
    }
    for (const log of request.logs) {
      const id = `${log.userId}\u0000${log.sessionId}`;
      if (!this.stored.has(id)) this.stored.set(id, new Set());
      for (const action of log.actions) {
        if (this.stored.get(id).has(action.id)) duplicates += 1;
        else { this.stored.get(id).add(action.id); actions += 1; }
      }
    }
    const reply = { sessions: request.logs.length, actions, duplicates };
    this.answers.set(request.key, reply);
    request.status = 201;
    return response(201, reply, { "Content-Type": "application/json" });
  };

  storedIds() {
    return [...this.stored.values()].flatMap((set) => [...set]);
  }

  /** Lost: recorded, never stored; doubled: an action sent under two keys (two bodies). */
  check(ids) {
    const stored = new Set(this.storedIds());
    const lost = ids.filter((id) => !stored.has(id)).length;
    const doubled = ids.filter((id) => (this.keysOfAction.get(id)?.size || 0) > 1).length;
    return { lost, doubled, stored: stored.size };
  }
}

class FakeElement {
  constructor(tagName, { id = "", parent = null } = {}) {
    this.nodeType = 1;
    this.tagName = tagName.toUpperCase();
    this.id = id;
    this.parentElement = parent;
    this.children = [];
    this.textContent = "secret text";
    if (parent) parent.children.push(this);
  }
}

/** A page of the origin: its window (location, history), document and sessionStorage. */
export class FakePage {
  constructor({ path = "/", hidden = false } = {}) {
    this.window = new EventTarget();
    this.document = new EventTarget();
    this.document.visibilityState = hidden ? "hidden" : "visible";
    const url = new URL(path, "https://app.example.com");
    this.window.location = { pathname: url.pathname, hash: url.hash, search: url.search };
    const go = (to) => {
      const next = new URL(String(to), `https://app.example.com${this.window.location.pathname}${this.window.location.search}`);
      Object.assign(this.window.location, { pathname: next.pathname, hash: next.hash, search: next.search });
    };
    this.window.history = {
      pushState(state, title, to) { if (to != null) go(to); },
      replaceState(state, title, to) { if (to != null) go(to); },
    };
    this.go = go;
    this.html = new FakeElement("html");
    this.body = new FakeElement("body", { parent: this.html });
  }

  element(tag, options) {
    return new FakeElement(tag, options);
  }

  event(target, type, props = {}) {
    const event = new Event(type);
    for (const [name, value] of Object.entries(props)) Object.defineProperty(event, name, { value });
    target.dispatchEvent(event);
  }

  hide() {
    this.document.visibilityState = "hidden";
    this.event(this.document, "visibilitychange");
  }

  /** The page goes away (closed, reloaded) or into the back/forward cache (``persisted``). */
  leave(persisted = false) {
    this.hide();
    this.event(this.window, "pagehide", { persisted });
  }

  restore() {
    this.document.visibilityState = "visible";
    this.event(this.window, "pageshow", { persisted: true });
  }
}

/** A browser: one origin's localStorage, locks, clock and service; tabs made with ``tab()``. */
export class World {
  constructor({ quota = Infinity, locks = true } = {}) {
    this.local = new FakeStorage(quota);
    this.locks = locks ? new FakeLocks() : null;
    this.clock = new FakeClock();
    this.service = new FakeService();
    this.errors = [];
    this.retries = [];
    this.debug = [];
  }

  environment(page = new FakePage(), session = new FakeStorage()) {
    const { clock } = this;
    return {
      localStorage: this.local, sessionStorage: session, locks: this.locks, fetch: this.service.fetch,
      now: clock.now, wallNow: clock.wallNow, setTimeout: clock.setTimeout, clearTimeout: clock.clearTimeout,
      setInterval: clock.setInterval, clearInterval: clock.clearInterval,
      window: page.window, document: page.document, navigator: page.navigator || {},
      console: { debug: (...a) => this.debug.push(a), error: (...a) => this.debug.push(["error", ...a]), warn: () => {} },
      random: () => 0.5,
    };
  }

  options(extra = {}) {
    return {
      url: "https://logs.example.com", apiKey: "w", userId: "ann", flushIntervalMs: 100, minBackoffMs: 100,
      maxBackoffMs: 1000, adoptIntervalMs: 500, gzipMinBytes: Infinity,
      onError: (e) => this.errors.push(e), onRetry: (r) => this.retries.push(r), ...extra,
    };
  }
}
