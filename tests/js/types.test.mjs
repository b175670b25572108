// logstore.d.ts declares what logstore.js exports, and every member of its Client exists.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as logstore from "../../logstore/static/sdk/logstore.js";
import { World } from "./harness.mjs";

const declarations = readFileSync(new URL("../../logstore/static/sdk/logstore.d.ts", import.meta.url), "utf8");

test("the declarations name exactly the module's exports", () => {
  const declared = [...declarations.matchAll(/^export declare (?:const|function) (\w+)/gm)].map((m) => m[1]).sort();
  assert.deepEqual(declared, Object.keys(logstore).sort());
});

test("every member the declared Client has is on a client", () => {
  const body = /export interface Client \{([\s\S]*?)\n\}/.exec(declarations)[1];
  const members = [...body.matchAll(/^\s+(?:readonly )?(\w+)[(:?]/gm)].map((m) => m[1]);
  assert.ok(members.length > 15, members.join());
  const world = new World();
  const log = logstore.init({ ...world.options(), environment: world.environment() });
  for (const member of members) assert.ok(member in log, `${member} is declared but missing`);
  const methods = members.filter((m) => new RegExp(`^\\s+${m}\\(`, "m").test(body));
  for (const method of methods) assert.equal(typeof log[method], "function", method);
  log.close();
});

test("the declared options are the module's options", () => {
  const body = /export interface Options \{([\s\S]*?)\n\}/.exec(declarations)[1];
  const declared = [...body.matchAll(/^\s+(\w+)\?:/gm)].map((m) => m[1]).sort();
  const world = new World();
  const log = logstore.init({ ...world.options(), environment: world.environment() });
  assert.deepEqual(declared, Object.keys(log.options).sort()); // the defaults: every option there is
  log.close();
});
