// A frontend's typed use of the browser client: tsc --noEmit checks it against logstore.d.ts, and
// tests/js/types.test.mjs checks that logstore.d.ts declares exactly what logstore.js exports.
import * as logstore from "../../logstore/static/sdk/logstore.js";
import type { Action, Client, FlushResult, LogstoreError, Options } from "../../logstore/static/sdk/logstore.js";

const options: Options = {
  apiKey: "write-key",
  userId: "ABC123XYZ",
  consent: "pending",
  persistence: "localStorage",
  autocapture: { navigation: true, clicks: true },
  properties: { app: "shop", release: 3 },
  beforeSend: (action: Action) => (action.type === "CLICK" && action.properties.secret ? null : action),
  debug: false,
  onError: (error: LogstoreError) => { if (error.kind === "storage" && !error.durable) console.warn(error.message); },
  onRetry: ({ status, delayMs }) => console.debug(status, delayMs),
};

const log: Client = logstore.init(options);
log.optIn();
const id: string | null = log.click(52, 11, { target: "buy" });
log.view("FDJKLHSLD");
log.navigate("communities", "inventory");
log.action("VIEW", { viewedId: "FDJKLHSLD", list: "recommended" });
log.setUser("NEW456");
log.setProperties({ plan: "pro", app: undefined });
log.reset();
const done: Promise<FlushResult> = log.flush({ timeoutMs: 1000 });
done.then(({ stored, dropped, pending }) => stored + dropped + pending);
const durable: boolean = log.stats().durable;
const version: string = logstore.VERSION;
log.optOut();
log.close();

const stub = { q: [["init", [options], Date.now()], ["click", [1, 2], Date.now()]] } as logstore.Stub;
const adopted: Client = logstore.loadStub(stub);

// @ts-expect-error: x and y are numbers
log.click("52", 11);
// @ts-expect-error: consent is "granted" or "pending"
logstore.init({ consent: "maybe" });
// @ts-expect-error: persistence is "localStorage" or "memory"
logstore.init({ persistence: "cookie" });

export { id, durable, version, adopted };
