// What frontends expect: autocapture, consent, memory persistence, beforeSend, global properties,
// debug, reset, and the stub that queues calls made before the module loaded.
import { test } from "node:test";
import assert from "node:assert/strict";
import { init, loadStub, STUB_METHODS, selectorOf } from "../../logstore/static/sdk/logstore.js";
import { World, FakePage, FakeStorage } from "./harness.mjs";

async function start(world, extra = {}, page, session) {
  const log = init({ ...world.options(extra), environment: world.environment(page, session) });
  await world.clock.advance(0);
  return log;
}

function sent(world) {
  return world.service.requests.flatMap((r) => r.logs.flatMap((l) => l.actions.map((a) => ({ ...a, userId: l.userId, sessionId: l.sessionId }))));
}

test("autocapture.navigation records a single-page app's route changes as NAVIGATE from the old path to the new", async () => {
  const world = new World();
  const page = new FakePage({ path: "/communities?token=secret" });
  const log = await start(world, { autocapture: { navigation: true } }, page);
  page.window.history.pushState({}, "", "/inventory?token=secret");
  page.window.history.replaceState({}, "", "/inventory/42");
  page.window.history.pushState({}, "", "/inventory/42"); // no change: nothing
  page.go("/communities"); page.event(page.window, "popstate");
  page.go("/communities#reviews"); page.event(page.window, "hashchange");
  await log.flush();
  await world.clock.advance(10);
  const moves = sent(world).map((a) => [a.type, a.properties.pageFrom, a.properties.pageTo]);
  assert.deepEqual(moves, [
    ["NAVIGATE", "/communities", "/inventory"],
    ["NAVIGATE", "/inventory", "/inventory/42"],
    ["NAVIGATE", "/inventory/42", "/communities"],
    ["NAVIGATE", "/communities", "/communities#reviews"],
  ]);
  assert.ok(!JSON.stringify(world.service.requests.map((r) => r.logs)).includes("secret"), "never the query string");
  log.close();
  const before = world.service.requests.length;
  page.window.history.pushState({}, "", "/after-close");
  assert.equal(world.service.requests.length, before);
  assert.equal(page.window.history.pushState.name, "pushState", "history restored on close()");
});

test("autocapture.clicks records CLICK with its position, the page and a selector, never the element's text", async () => {
  const world = new World();
  const page = new FakePage({ path: "/inventory" });
  const list = page.element("ul", { parent: page.body });
  page.element("li", { parent: list });
  const item = page.element("li", { parent: list });
  const button = page.element("button", { parent: item });
  const log = await start(world, { autocapture: { clicks: true } }, page);
  page.event(page.document, "click", { pageX: 52.4, pageY: 11, target: button });
  const saved = page.element("a", { id: "save", parent: page.body });
  page.event(page.document, "click", { pageX: 1, pageY: 2, target: saved });
  await log.flush();
  await world.clock.advance(10);
  const clicks = sent(world).map((a) => a.properties);
  assert.deepEqual(clicks.map(({ locationX, locationY, page: p, selector }) => ({ locationX, locationY, page: p, selector })), [
    { locationX: 52, locationY: 11, page: "/inventory", selector: "body > ul > li:nth-of-type(2) > button" },
    { locationX: 1, locationY: 2, page: "/inventory", selector: "#save" },
  ]);
  assert.ok(!JSON.stringify(clicks).includes("secret text"));
  assert.equal(selectorOf(button), "body > ul > li:nth-of-type(2) > button");
});

test("autocapture is off by default", async () => {
  const world = new World();
  const page = new FakePage();
  const log = await start(world, {}, page);
  const original = page.window.history.pushState;
  page.event(page.document, "click", { pageX: 1, pageY: 2, target: page.body });
  page.window.history.pushState({}, "", "/elsewhere");
  assert.equal(page.window.history.pushState, original);
  assert.equal(log.pending(), 0);
});

test("consent pending records and stores nothing until optIn()", async () => {
  const world = new World();
  const session = new FakeStorage();
  const page = new FakePage();
  const log = await start(world, { consent: "pending", userId: null, autocapture: { navigation: true } }, page, session);
  assert.equal(log.click(1, 2), null);
  page.window.history.pushState({}, "", "/next");
  await world.clock.advance(2000);
  assert.equal(world.local.map.size, 0, "nothing in localStorage");
  assert.equal(session.map.size, 0, "nothing in sessionStorage");
  assert.equal(world.service.requests.length, 0);
  assert.equal(world.locks.held.size, 0);
  log.optIn();
  await log.ready;
  const id = log.click(3, 4);
  await log.flush();
  await world.clock.advance(10);
  assert.deepEqual(sent(world).map((a) => a.id), [id]);
  assert.match(world.local.getItem("logstore:https://logs.example.com:anonymousId"), /^anonymous-/);
});

test("optOut() stops, empties the queue and forgets the anonymous id; the choice is kept", async () => {
  const world = new World();
  world.service.intercept = () => new TypeError("Failed to fetch");
  const session = new FakeStorage();
  const log = await start(world, { userId: null }, new FakePage(), session);
  const anonymous = log.userId;
  for (let i = 0; i < 5; i += 1) log.click(i, i);
  await world.clock.advance(500);
  const waiting = log.flush();
  log.optOut();
  assert.deepEqual({ ...(await waiting) }, { stored: 0, dropped: 5, pending: 0 });
  assert.equal(log.pending(), 0);
  assert.deepEqual([...world.local.map.keys()], ["logstore:https://logs.example.com:optOut"]);
  assert.equal(session.map.size, 0);
  assert.equal(log.click(1, 1), null);
  world.service.intercept = null;
  await world.clock.advance(3000);
  assert.equal(world.service.storedIds().length, 0, "nothing sent after optOut");
  const next = await start(world, { userId: null }, new FakePage(), new FakeStorage());
  assert.equal(next.click(1, 1), null, "remembered on the next page");
  next.optIn();
  await next.ready;
  next.click(1, 1);
  assert.notEqual(next.userId, anonymous, "a new anonymous id");
});

test("respectDoNotTrack records nothing when the browser asks not to be tracked", async () => {
  const world = new World();
  const page = new FakePage();
  page.navigator = { doNotTrack: "1" };
  const log = await start(world, { respectDoNotTrack: true }, page);
  assert.equal(log.click(1, 1), null);
  assert.equal(world.local.map.size, 0);
  const page2 = new FakePage();
  page2.navigator = { doNotTrack: "1" };
  const ignoring = await start(world, {}, page2);
  assert.ok(ignoring.click(1, 1), "off by default");
});

test('persistence: "memory" writes nothing to the browser', async () => {
  const world = new World();
  const session = new FakeStorage();
  const log = await start(world, { persistence: "memory", userId: null }, new FakePage(), session);
  log.click(1, 1);
  await log.flush();
  await world.clock.advance(10);
  assert.equal(world.local.map.size + session.map.size, 0);
  assert.equal(world.service.storedIds().length, 1);
  assert.ok(!world.errors.some((e) => e.kind === "storage"), "not a failure: asked for");
});

test("beforeSend may change or drop an action; a hook that throws loses nothing", async () => {
  const world = new World();
  const log = await start(world, {
    beforeSend: (action) => {
      if (action.properties.viewedId === "drop-me") return null;
      if (action.properties.viewedId === "throw") throw new Error("hook bug");
      return { ...action, properties: { ...action.properties, email: undefined, scrubbed: true } };
    },
  });
  assert.equal(log.view("drop-me"), null);
  const kept = log.view("keep", { email: "a@example.com" });
  const thrown = log.view("throw");
  await log.flush();
  await world.clock.advance(10);
  const actions = sent(world);
  assert.deepEqual(actions.map((a) => a.id), [kept, thrown]);
  assert.deepEqual(actions[0].properties, { viewedId: "keep", scrubbed: true });
  assert.ok(world.errors.some((e) => e.kind === "callback" && e.callback === "beforeSend"));
});

test("global properties are added to every action; the action's own win", async () => {
  const world = new World();
  const log = await start(world, { properties: { app: "shop", release: "1.2" } });
  log.click(1, 2, { release: "own" });
  log.setProperties({ plan: "pro", app: undefined });
  log.view("v1");
  await log.flush();
  await world.clock.advance(10);
  assert.deepEqual(sent(world).map((a) => a.properties), [
    { app: "shop", release: "own", locationX: 1, locationY: 2 },
    { release: "1.2", plan: "pro", viewedId: "v1" },
  ]);
});

test("debug: true logs each decision to the console; off, nothing", async () => {
  const world = new World();
  const log = await start(world, { debug: true });
  log.click(1, 1);
  await log.flush();
  await world.clock.advance(10);
  const said = world.debug.map(([message]) => message);
  for (const expected of ["logstore: init", "logstore: recorded", "logstore: answer"]) assert.ok(said.includes(expected), said);
  const quiet = new World();
  const other = await start(quiet);
  other.click(1, 1);
  assert.equal(quiet.debug.length, 0);
});

test("reset() for a logout: a new anonymous id and session; what was queued goes as recorded", async () => {
  const world = new World();
  const log = await start(world, { userId: "ann", properties: { app: "shop" } });
  log.setProperties({ plan: "pro" });
  const before = log.click(1, 1);
  const session = log.sessionId;
  log.reset();
  const after = log.click(2, 2);
  assert.match(log.userId, /^anonymous-/);
  assert.notEqual(log.sessionId, session);
  await log.flush();
  await world.clock.advance(10);
  const byId = Object.fromEntries(sent(world).map((a) => [a.id, a]));
  assert.equal(byId[before].userId, "ann");
  assert.equal(byId[after].userId, log.userId);
  assert.deepEqual(byId[after].properties, { app: "shop", locationX: 2, locationY: 2 }, "registered properties forgotten");
});

test("the stub queues calls made before the module loaded, with their time, and then calls the client", async () => {
  const world = new World();
  const stub = { q: [] };
  for (const method of ["init", ...STUB_METHODS]) stub[method] = (...args) => { stub.q.push([method, args, world.clock.wallNow()]); };
  stub.click(5, 6);
  stub.init({ ...world.options(), environment: world.environment() });
  const early = world.clock.wallNow();
  await world.clock.advance(60000);
  stub.view("queued");
  const log = loadStub(stub);
  await world.clock.advance(0);
  const later = stub.view("direct");
  assert.equal(typeof later, "string");
  await log.flush();
  await world.clock.advance(10);
  const actions = sent(world);
  assert.deepEqual(actions.map((a) => a.type), ["CLICK", "VIEW", "VIEW"]);
  assert.equal(Date.parse(actions[0].time), early, "the time of the call, not of the replay");
});
