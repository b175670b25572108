// The browser client's sending: answers that are not the service's, callbacks that throw, the
// monotonic clock, Retry-After, the keepalive budget, the back/forward cache, flush after close.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, KEEPALIVE_BYTES } from "../../logstore/static/sdk/logstore.js";
import { World, FakePage, FakeStorage, problem, html, empty } from "./harness.mjs";

async function start(world, extra = {}, page, session) {
  const log = init({ ...world.options(extra), environment: world.environment(page, session) });
  await world.clock.advance(0);
  await log.ready;
  return log;
}

function views(log, n, pad = "") {
  const ids = [];
  for (let i = 0; i < n; i += 1) ids.push(log.view(`v${i}${pad}`));
  return ids;
}

for (const [name, answer] of [
  ["a proxy's HTML 400", () => html(400)],
  ["an HTML 502", () => html(502)],
  ["an empty 400", () => empty(400)],
  ["a JSON 400 that is not a problem document", () => ({ status: 400, headers: { get: (h) => (h === "Content-Type" ? "application/json" : null) }, text: async () => '{"error":"blocked"}' })],
  ["an HTML 413", () => html(413)],
  ["a CORS failure", () => new TypeError("Failed to fetch")],
]) {
  test(`${name} is retried with backoff and reported, never a verdict on the actions`, async () => {
    const world = new World();
    let left = 6;
    world.service.intercept = () => (left-- > 0 ? answer() : null);
    const log = await start(world);
    const ids = views(log, 16);
    const result = await Promise.race([log.flush(), world.clock.advance(30000).then(() => "timeout")]);
    assert.deepEqual({ ...result }, { stored: 16, dropped: 0, pending: 0 });
    const { lost, stored, doubled } = world.service.check(ids);
    assert.deepEqual({ lost, stored }, { lost: 0, stored: 16 });
    if (!name.includes("413")) assert.equal(doubled, 0); // a 413 halves the batch: new bodies, new keys
    assert.equal(log.stats().dropped, 0);
    assert.ok(world.errors.length >= 1, "reported");
    assert.ok(!world.errors.some((e) => e.kind === "rejected"), "nothing taken as invalid");
    const first = world.service.requests[0].key;
    if (!name.includes("413")) assert.ok(world.service.requests.every((r) => r.key === first), "the same batch, same key");
    const delays = world.retries.map((r) => r.delayMs);
    if (name.includes("413")) assert.ok(delays.length >= 1); // halved first, then each half backs off
    else assert.ok(delays.length >= 6 && delays[3] > delays[0], `backoff: ${delays}`);
  });
}

test("the service's own 400 with a pointer still drops only the action it names", async () => {
  const world = new World();
  world.service.intercept = (request) => (request.logs[0].actions.length === 3
    ? problem(400, "VALIDATION_FAILED", { errors: [{ pointer: "/0/actions/1/properties", code: "INVALID_KEY" }] }) : null);
  const log = await start(world);
  const ids = views(log, 3);
  const result = await Promise.race([log.flush(), world.clock.advance(5000).then(() => "timeout")]);
  assert.deepEqual({ ...result }, { stored: 2, dropped: 1, pending: 0 });
  assert.deepEqual(world.errors.map((e) => [e.kind, e.actions?.map((a) => a.id)]), [["rejected", [ids[1]]]]);
});

test("callbacks that throw are reported and do not stop sending", async () => {
  const world = new World();
  let fails = 3;
  world.service.intercept = () => (fails-- > 0 ? problem(503, "DATABASE_BUSY") : null);
  const log = await start(world, { onRetry: () => { throw new Error("app bug"); } });
  const ids = views(log, 5);
  const result = await Promise.race([log.flush(), world.clock.advance(10000).then(() => "timeout")]);
  assert.deepEqual({ ...result }, { stored: 5, dropped: 0, pending: 0 });
  assert.equal(world.errors.filter((e) => e.kind === "callback" && e.callback === "onRetry").length, 3);
  assert.equal(world.service.check(ids).lost, 0);

  const other = new World();
  other.service.intercept = () => html(502);
  const quiet = await start(other, { onError: () => { throw new Error("also a bug"); } });
  quiet.click(1, 1);
  await other.clock.advance(3000);
  other.service.intercept = null;
  await other.clock.advance(3000);
  assert.equal(quiet.pending(), 0, "an onError that throws stops nothing");
  assert.ok(other.debug.some(([what]) => what === "error"), "written to console.error");
});

test("retries are timed on the monotonic clock: the wall clock going back an hour changes nothing", async () => {
  const world = new World();
  let fails = 1;
  world.service.intercept = () => (fails-- > 0 ? problem(503, "DATABASE_BUSY", {}, { "Retry-After": "2" }) : null);
  const log = await start(world);
  log.click(1, 1);
  await world.clock.advance(150); // sent, refused with Retry-After: 2
  assert.equal(world.service.requests.length, 1);
  world.clock.wallOffset -= 3600 * 1000;
  await world.clock.advance(2100);
  assert.equal(world.service.requests.length, 2, "retried after 2 s of page time");
  assert.equal(log.pending(), 0);
});

test("Retry-After is capped: 30 days waits an hour, never an overflowing setTimeout", async () => {
  const world = new World();
  let fails = 1;
  world.service.intercept = () => (fails-- > 0 ? problem(429, "RATE_LIMITED", {}, { "Retry-After": String(30 * 86400) }) : null);
  const log = await start(world);
  log.click(1, 1);
  await world.clock.advance(150);
  assert.equal(world.retries[0].delayMs, 3600 * 1000);
  assert.ok(Math.max(...world.clock.delays) <= 3600 * 1000, "no timer longer than an hour");
  await world.clock.advance(3600 * 1000 + 10);
  assert.equal(log.pending(), 0);
});

test("flush() after close() resolves at once", async () => {
  const world = new World();
  world.service.intercept = () => new TypeError("Failed to fetch");
  const log = await start(world);
  log.click(1, 1);
  const before = log.flush();
  log.close();
  const after = log.flush();
  let settled = 0;
  before.then(() => { settled += 1; });
  after.then(() => { settled += 1; });
  await world.clock.advance(0);
  assert.equal(settled, 2);
  assert.equal((await after).pending, 0);
});

test("one keepalive budget per page, across every request in flight; the rest stays queued", async () => {
  const world = new World();
  let release;
  world.service.hold = new Promise((resolve) => { release = resolve; }); // answers take their time
  const page = new FakePage();
  const log = await start(world, { flushIntervalMs: 600000, flushAt: 100000, maxBatchBytes: 20000 }, page);
  views(log, 300, "-".repeat(150)); // about 80 kB
  page.hide(); // keepalive requests for what fits
  page.leave(); // and again on the way out: nothing more fits while those are in flight
  const keepalive = world.service.requests.filter((r) => r.keepalive);
  const inFlight = keepalive.reduce((n, r) => n + r.bytes, 0);
  assert.ok(inFlight <= KEEPALIVE_BYTES && inFlight > 40000, `${inFlight} bytes in flight`);
  assert.equal(new Set(keepalive.map((r) => r.key)).size, keepalive.length, "no batch sent twice");
  const queued = world.local.keys(":b:").map((k) => JSON.parse(world.local.getItem(k)).records.length).reduce((a, b) => a + b, 0);
  assert.equal(queued, 300, "all of it still in localStorage for the next page");
  release();
});

test("a large batch in flight does not stop the exit flush sending the others", async () => {
  const world = new World();
  let release;
  world.service.hold = new Promise((resolve) => { release = resolve; });
  const page = new FakePage();
  const log = await start(world, { flushIntervalMs: 600000, flushAt: 100000 }, page);
  views(log, 500, "-".repeat(200)); // one ordinary POST of over 100 kB, in flight
  log.flush();
  await world.clock.advance(0);
  const small = views(log, 3);
  page.leave();
  const keepalive = world.service.requests.filter((r) => r.keepalive);
  assert.equal(keepalive.length, 1);
  assert.deepEqual(keepalive[0].logs[0].actions.map((a) => a.id), small);
  release();
});

test("the Web Lock is released on pagehide (the back/forward cache) and taken again on pageshow", async () => {
  const world = new World();
  world.service.intercept = () => new TypeError("Failed to fetch");
  const page = new FakePage();
  const log = await start(world, {}, page);
  const ids = views(log, 10);
  await world.clock.advance(200);
  assert.equal(world.locks.held.size, 1);
  page.leave(true);
  await world.clock.advance(0);
  assert.equal(world.locks.held.size, 0, "no lock held in the cache");
  page.restore();
  await world.clock.advance(10);
  assert.ok(world.locks.held.size >= 1, "locks again: its own (and its old queue's, adopted again)");
  assert.equal(log.pending(), 10);
  // In the cache a second time, another tab adopts the queue: restored, the page sends nothing twice.
  page.leave(true);
  await world.clock.advance(0);
  const other = await start(world, {}, new FakePage(), new FakeStorage());
  assert.equal(other.pending(), 10);
  page.restore();
  await world.clock.advance(10);
  assert.equal(log.pending(), 0, "the other tab owns it now");
  world.service.intercept = null;
  await world.clock.advance(5000);
  assert.deepEqual(world.service.check(ids), { lost: 0, doubled: 0, stored: 10 });
  assert.ok(log.stats().pending === 0 && other.stats().pending === 0);
  log.click(1, 1); // the restored page records and sends as before
  await world.clock.advance(500);
  assert.equal(world.service.storedIds().length, 11);
});

test("a format-1 queue taken over, then the page in the back/forward cache: restored, it sends nothing twice", async () => {
  const world = new World();
  const prefix = "logstore:https://logs.example.com";
  const record = (id) => ({ u: "ann", s: "s-1", a: { id, time: "2026-12-04T12:00:00.000+00:00", type: "VIEW", properties: { viewedId: "v" } } });
  world.local.setItem(`${prefix}:q:old-page`, JSON.stringify({ v: 1, batches: [], queue: [record("a1"), record("a2")] }));
  world.service.intercept = () => new TypeError("Failed to fetch");
  const page = new FakePage();
  const log = await start(world, {}, page);
  assert.equal(log.pending(), 2);
  page.leave(true);
  await world.clock.advance(0);
  page.restore();
  await world.clock.advance(10);
  assert.equal(log.pending(), 2, "taken over again, not kept twice");
  world.service.intercept = null;
  await world.clock.advance(3000);
  assert.deepEqual(world.service.check(["a1", "a2"]), { lost: 0, doubled: 0, stored: 2 });
  assert.equal(world.local.getItem(`${prefix}:q:old-page`), null);
});
