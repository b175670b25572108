// The browser client when storage fails: no action lost, adoption without copying, ids checked.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init } from "../../logstore/static/sdk/logstore.js";
import { World, FakePage, FakeStorage, settle, problem } from "./harness.mjs";

async function start(world, extra = {}, page, session) {
  const log = init({ ...world.options(extra), environment: world.environment(page, session) });
  await world.clock.advance(0);
  await log.ready;
  return log;
}

function clicks(log, n, from = 0) {
  const ids = [];
  for (let i = from; i < from + n; i += 1) ids.push(log.click(i, i));
  return ids;
}

test("a full localStorage mid-session drops nothing, says so once, and is written again when it can be", async () => {
  const world = new World({ quota: 200000 });
  const log = await start(world, { flushIntervalMs: 60000 });
  const ids = [log.click(1, 1)];
  world.local.fill(50); // the app's own code fills the origin's storage
  ids.push(...clicks(log, 10));
  const storage = world.errors.filter((e) => e.kind === "storage");
  assert.deepEqual(storage.map((e) => e.durable), [false], "told once that the page is not durable");
  assert.equal(log.stats().durable, false);
  const result = await Promise.race([log.flush(), world.clock.advance(1000).then(() => "timeout")]);
  assert.deepEqual({ ...result }, { stored: 11, dropped: 0, pending: 0 });
  assert.deepEqual(world.service.check(ids), { lost: 0, doubled: 0, stored: 11 });

  // Service down and storage full: the queue lives in memory; once the app frees space, it is written.
  world.service.intercept = () => new TypeError("Failed to fetch");
  const later = clicks(log, 5, 100);
  world.local.unfill();
  await world.clock.advance(600); // the next persistence retry
  // durable again once the 11 were stored (nothing at risk), not durable for the next 5, then durable
  assert.deepEqual(world.errors.filter((e) => e.kind === "storage").map((e) => e.durable), [false, true, false, true]);
  const stored = world.local.keys(":b:").map((k) => JSON.parse(world.local.getItem(k)).records).flat();
  assert.deepEqual(stored.map((r) => r.a.id).sort(), [...later].sort(), "the memory queue reached localStorage");
  assert.equal(world.errors.filter((e) => e.kind === "queue-full").length, 0);
});

test("adopting a closed tab's queue at the quota needs no second copy and loses nothing", async () => {
  const world = new World({ quota: 1300000 });
  world.service.intercept = () => new TypeError("Failed to fetch");
  const page = new FakePage();
  const first = await start(world, { flushAt: 100000, flushIntervalMs: 600000 }, page);
  const ids = clicks(first, 3000);
  first.flush();
  await world.clock.advance(10);
  first.close(); // the tab is gone: its lock is free, its queue in localStorage
  assert.ok(world.local.used > 200000);
  world.local.fill(300); // the origin's storage is now full but for 300 characters
  world.service.intercept = null;
  const second = await start(world, {}, new FakePage(), new FakeStorage());
  const result = await Promise.race([second.flush(), world.clock.advance(5000).then(() => "timeout")]);
  await world.clock.advance(2000);
  assert.deepEqual(world.service.check(ids), { lost: 0, doubled: 0, stored: 3000 });
  assert.notEqual(result, "timeout");
  assert.equal(second.pending(), 0);
  assert.deepEqual(world.local.keys(":b:"), [], "the adopted batches' keys are gone once stored");
});

test("adoption with not a character of storage left writes nothing and leaves the keys as they were", async () => {
  const world = new World({ quota: 400000 });
  world.service.intercept = () => new TypeError("Failed to fetch");
  const first = await start(world, { flushIntervalMs: 600000 });
  const ids = clicks(first, 200);
  first.flush();
  await world.clock.advance(20);
  first.close();
  world.local.fill(0);
  const before = new Map(world.local.map);
  const failures = world.local.failures;
  const second = await start(world, { flushIntervalMs: 600000 }, new FakePage(), new FakeStorage());
  await world.clock.advance(1500); // adoption rounds, and retries that fail (offline)
  assert.equal(second.pending(), 200, "adopted");
  assert.equal(world.local.failures, failures, "no write was even tried");
  assert.deepEqual(new Map(world.local.map), before, "the closed tab's keys are untouched");
  const third = await start(world, {}, new FakePage(), new FakeStorage());
  await world.clock.advance(1500);
  assert.equal(third.pending(), 0, "a queue adopted by a living page is not adopted again");
  world.service.intercept = null;
  await world.clock.advance(3000);
  assert.deepEqual(world.service.check(ids), { lost: 0, doubled: 0, stored: 200 });
  assert.deepEqual(world.local.keys(":p:").concat(world.local.keys(":b:")), []);
});

test("a full sessionStorage does not throw into the app", async () => {
  const world = new World();
  const session = new FakeStorage(10);
  const log = await start(world, {}, new FakePage(), session);
  assert.doesNotThrow(() => log.click(1, 2));
  assert.match(log.sessionId, /^[0-9a-f-]{36}$/);
  const broken = { getItem() { throw new Error("SecurityError"); }, setItem() { throw new Error("SecurityError"); },
    removeItem() { throw new Error("SecurityError"); }, key() { throw new Error("x"); }, get length() { throw new Error("x"); } };
  const other = init({ ...world.options(), environment: { ...world.environment(), localStorage: broken, sessionStorage: broken } });
  await world.clock.advance(0);
  assert.doesNotThrow(() => other.click(1, 2));
  assert.ok(world.errors.some((e) => e.kind === "storage" && e.durable === false));
});

test("the session is kept per tab and user: a logout by reload starts a new one", async () => {
  const world = new World();
  const session = new FakeStorage();
  const ann = await start(world, { userId: "ann" }, new FakePage(), session);
  ann.click(1, 1);
  const annSession = ann.sessionId;
  ann.close();
  const again = await start(world, { userId: "ann" }, new FakePage(), session);
  assert.equal(again.sessionId, annSession, "a reload of the same user continues the session");
  again.close();
  const anonymous = await start(world, { userId: null }, new FakePage(), session);
  anonymous.click(2, 2);
  assert.notEqual(anonymous.sessionId, annSession);
  assert.match(anonymous.userId, /^anonymous-/);
});

test("ids are checked at init and setUser as the service checks them", async () => {
  const world = new World();
  for (const bad of ["", "x".repeat(257), 42, {}]) {
    assert.throws(() => init({ ...world.options({ userId: bad }), environment: world.environment() }), TypeError);
  }
  assert.doesNotThrow(() => init({ ...world.options({ userId: "é".repeat(256) }), environment: world.environment() }));
  const log = await start(world);
  assert.throws(() => log.setUser(""), TypeError);
  assert.throws(() => log.setUser("x".repeat(257)), TypeError);
  assert.equal(log.userId, "ann");
});

test("maxQueueSize gains a byte bound: maxQueueBytes drops the oldest and says so", async () => {
  const world = new World();
  world.service.intercept = () => new TypeError("Failed to fetch");
  const log = await start(world, { maxQueueBytes: 20000, flushIntervalMs: 600000, flushAt: 100000 });
  const ids = [];
  for (let i = 0; i < 100; i += 1) ids.push(log.action("VIEW", { viewedId: `v${i}`, pad: "p".repeat(400) }));
  const dropped = world.errors.filter((e) => e.kind === "queue-full").flatMap((e) => e.actions.map((a) => a.id));
  assert.ok(dropped.length > 40 && dropped.length < 100, `${dropped.length} dropped`);
  assert.deepEqual(dropped, ids.slice(0, dropped.length), "the oldest first");
  assert.equal(log.pending(), 100 - dropped.length);
});

test("a queue of format 1 (SDK 1.0) is migrated with its keys; another format is reported and kept", async () => {
  const world = new World();
  const prefix = "logstore:https://logs.example.com";
  const record = (id) => ({ u: "ann", s: "s-1", a: { id, time: "2026-12-04T12:00:00.000+00:00", type: "VIEW", properties: { viewedId: "v" } } });
  world.local.setItem(`${prefix}:q:old-page`, JSON.stringify({ v: 1, batches: [{ key: "key-1", records: [record("a1"), record("a2")] }], queue: [record("a3")] }));
  world.local.setItem(`${prefix}:q:future-page`, JSON.stringify({ v: 7, whatever: true }));
  world.local.setItem(`${prefix}:p:future-index`, JSON.stringify({ v: 9, batches: [] }));
  const log = await start(world);
  await world.clock.advance(3000);
  assert.deepEqual(world.service.check(["a1", "a2", "a3"]), { lost: 0, doubled: 0, stored: 3 });
  assert.ok(world.service.requests.some((r) => r.key === "key-1"), "the sealed batch kept its Idempotency-Key");
  assert.equal(world.local.getItem(`${prefix}:q:old-page`), null);
  assert.ok(world.local.getItem(`${prefix}:q:future-page`), "a format it cannot read is never deleted");
  assert.ok(world.local.getItem(`${prefix}:p:future-index`));
  const reported = world.errors.filter((e) => e.kind === "storage-format").map((e) => e.key).sort();
  assert.deepEqual(reported, [`${prefix}:p:future-index`, `${prefix}:q:future-page`], "each reported once");
  log.close();
});

test("without Web Locks no key is left behind per page load, and a closed page's queue is adopted", async () => {
  const world = new World({ locks: false });
  for (let i = 0; i < 5; i += 1) {
    const page = new FakePage();
    const log = await start(world, {}, page);
    log.click(i, i);
    await world.clock.advance(1000);
    page.leave();
    log.close();
  }
  assert.deepEqual(world.local.keys(":p:").concat(world.local.keys(":b:"), world.local.keys(":hb:")), []);
  // A page closed offline: its lease is released on pagehide, and the next page sends its queue.
  world.service.intercept = () => new TypeError("Failed to fetch");
  const page = new FakePage();
  const log = await start(world, {}, page);
  const ids = clicks(log, 7);
  await world.clock.advance(500);
  page.leave();
  log.close();
  world.service.intercept = null;
  const next = await start(world, {}, new FakePage(), new FakeStorage());
  await world.clock.advance(3000);
  assert.equal(world.service.check(ids).lost, 0);
  assert.equal(next.pending(), 0);
  assert.deepEqual(world.local.keys(":p:").concat(world.local.keys(":b:")), []);
  // A format-1 heartbeat key whose queue is gone is swept once its lease ran out.
  world.local.setItem("logstore:https://logs.example.com:hb:stale", "1");
  await world.clock.advance(1000);
  assert.equal(world.local.getItem("logstore:https://logs.example.com:hb:stale"), null);
});

test("three tabs started and closed at once: 0 lost, 0 doubled", async () => {
  const world = new World();
  world.service.intercept = () => new TypeError("Failed to fetch");
  const pages = [new FakePage(), new FakePage(), new FakePage()];
  const tabs = await Promise.all(pages.map((p) => start(world, {}, p, new FakeStorage())));
  const ids = tabs.flatMap((tab, i) => clicks(tab, 40, i * 100));
  await world.clock.advance(300);
  pages.forEach((p) => p.leave());
  tabs.forEach((t) => t.close());
  world.service.intercept = null;
  const survivors = await Promise.all([0, 1].map(() => start(world, {}, new FakePage(), new FakeStorage())));
  await world.clock.advance(5000);
  assert.deepEqual(world.service.check(ids), { lost: 0, doubled: 0, stored: 120 });
  assert.equal(survivors[0].pending() + survivors[1].pending(), 0);
  await settle();
});

test("without Web Locks, what a page writes after pagehide still says it is gone", async () => {
  const world = new World({ locks: false });
  world.service.intercept = () => new TypeError("Failed to fetch");
  const page = new FakePage();
  const log = await start(world, {}, page);
  const ids = [log.click(1, 1)];
  page.leave();
  ids.push(log.click(2, 2)); // an app's own pagehide handler records one more
  await world.clock.advance(50);
  const indexes = world.local.keys(":p:").map((k) => JSON.parse(world.local.getItem(k)));
  assert.deepEqual(indexes.map((i) => i.at), [0]);
  world.service.intercept = null;
  const next = await start(world, {}, new FakePage(), new FakeStorage());
  await world.clock.advance(2000);
  assert.equal(world.service.check(ids).lost, 0, "adopted at once, not after the 3-minute lease");
  next.close();
  log.close();
});

test("a format-1 queue is taken over in place: a full storage does not stop it, its key goes once all is stored", async () => {
  const world = new World({ quota: 100000 });
  const prefix = "logstore:https://logs.example.com";
  const record = (id) => ({ u: "ann", s: "s-1", a: { id, time: "2026-12-04T12:00:00.000+00:00", type: "VIEW", properties: { viewedId: "v" } } });
  const saved = JSON.stringify({ v: 1, batches: [{ key: "key-1", records: [record("a1"), record("a2")] }, { key: "key-2", records: [record("a3")] }], queue: [record("a4")] });
  world.local.setItem(`${prefix}:q:old-page`, saved);
  world.local.fill(0);
  let answered = 0;
  world.service.intercept = (request) => (request.key === "key-2" && answered++ < 3 ? problem(503, "DATABASE_BUSY") : null);
  const log = await start(world);
  await world.clock.advance(250);
  assert.equal(world.local.getItem(`${prefix}:q:old-page`), saved, "kept as it was while some of it waits");
  await world.clock.advance(10000);
  assert.deepEqual(world.service.check(["a1", "a2", "a3", "a4"]), { lost: 0, doubled: 0, stored: 4 });
  assert.equal(world.local.getItem(`${prefix}:q:old-page`), null, "removed once everything in it was stored");
  assert.equal(log.pending(), 0);
});

test("without Web Locks, a gone page's queue is adopted even when storage is too full to renew its lease", async () => {
  const world = new World({ locks: false, quota: 200000 });
  world.service.intercept = () => new TypeError("Failed to fetch");
  const page = new FakePage();
  const first = await start(world, {}, page);
  const ids = [];
  for (let i = 0; i < 20; i += 1) ids.push(first.click(i, i));
  await world.clock.advance(500);
  page.leave();
  first.close();
  world.local.fill(0);
  world.service.intercept = null;
  const next = await start(world, {}, new FakePage(), new FakeStorage());
  await world.clock.advance(3000);
  assert.deepEqual(world.service.check(ids), { lost: 0, doubled: 0, stored: 20 });
  assert.equal(next.pending(), 0);
});
