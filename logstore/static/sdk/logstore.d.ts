// TypeScript declarations of the logstore browser client (logstore.js beside this file).
// Served at /sdk/logstore.d.ts and /sdk/<version>/logstore.d.ts.

export declare const VERSION: string;
/** Keepalive bodies (page hidden or closing) the page may have in flight at once, in bytes. */
export declare const KEEPALIVE_BYTES: number;
/** The methods a stub (the README's snippet) queues before the module has loaded. */
export declare const STUB_METHODS: readonly StubMethod[];

export type StubMethod =
  | "click" | "view" | "navigate" | "action" | "setUser" | "setProperties" | "reset"
  | "optIn" | "optOut" | "flush" | "close";

/** A JSON value, as an action's properties may hold. */
export type Json = string | number | boolean | null | Json[] | { [key: string]: Json };
export type Properties = { [key: string]: Json | undefined };

/** An action as recorded (and as beforeSend sees it). */
export interface Action {
  id: string;
  /** RFC 3339 in the browser's own offset, with milliseconds. */
  time: string;
  type: string;
  properties: { [key: string]: Json };
}

export interface RetryInfo {
  /** 0: no answer (offline, a timeout, a CORS failure). */
  status: number;
  code?: string;
  attempt: number;
  delayMs: number;
}

export type ErrorKind =
  | "storage" | "storage-format" | "queue-full" | "rejected" | "refused" | "unexpected-response"
  | "network" | "callback" | "adopt" | "autocapture" | "stub";

export interface LogstoreError {
  kind: ErrorKind;
  message: string;
  /** kind "storage": whether the queue is written to localStorage again (true) or lives in memory (false). */
  durable?: boolean;
  count?: number;
  actions?: Action[];
  status?: number;
  problem?: { [key: string]: unknown } | null;
  errors?: { pointer?: string; code?: string; detail?: string }[];
  callback?: string;
  key?: string;
  [detail: string]: unknown;
}

export interface Options {
  url?: string | null;
  apiKey?: string | null;
  /** A string of 1 to 256 characters; null: an anonymous id. */
  userId?: string | null;
  flushIntervalMs?: number;
  flushAt?: number;
  maxBatchActions?: number;
  maxBatchBytes?: number;
  maxQueueSize?: number;
  maxQueueBytes?: number;
  sessionIdleMs?: number;
  gzipMinBytes?: number;
  minBackoffMs?: number;
  maxBackoffMs?: number;
  requestTimeoutMs?: number;
  adoptIntervalMs?: number;
  storageKey?: string;
  persistence?: "localStorage" | "memory";
  consent?: "granted" | "pending";
  respectDoNotTrack?: boolean;
  autocapture?: { navigation?: boolean; clicks?: boolean } | null;
  properties?: Properties | null;
  beforeSend?: ((action: Action) => Action | { type?: string; properties?: Properties } | null | false | undefined) | null;
  debug?: boolean;
  onError?: ((error: LogstoreError) => void) | null;
  onRetry?: ((info: RetryInfo) => void) | null;
  /** For tests: the browser's objects to use instead of the globals. */
  environment?: { [name: string]: unknown } | null;
}

export interface FlushResult {
  stored: number;
  dropped: number;
  pending: number;
}

export interface Stats {
  stored: number;
  duplicates: number;
  dropped: number;
  retries: number;
  replayed: number;
  pending: number;
  durable: boolean;
}

export interface Client {
  readonly options: Required<Options>;
  /** Resolves once the queue is this page's and older queues are adopted (with consent pending: once given). */
  readonly ready: Promise<void>;
  readonly userId: string | null;
  readonly sessionId: string | null;
  /** Each returns the action's id, or null when not recorded (no consent, dropped by beforeSend). */
  click(x: number, y: number, props?: Properties): string | null;
  view(viewedId: string, props?: Properties): string | null;
  navigate(pageFrom: string, pageTo: string, props?: Properties): string | null;
  action(type: string, properties?: Properties): string | null;
  setUser(userId: string | null): void;
  setProperties(properties: Properties): void;
  reset(): void;
  optIn(): void;
  optOut(): void;
  flush(options?: { timeoutMs?: number }): Promise<FlushResult>;
  pending(): number;
  stats(): Stats;
  close(): void;
}

export interface Stub {
  q: [method: "init" | StubMethod, args: unknown[], at: number][];
  client?: Client;
  [method: string]: unknown;
}

export declare function init(options?: Options): Client;
export declare function loadStub(stub: Stub): Client;
export declare function formatTime(date?: Date): string;
export declare function checkId(value: unknown, name?: string): string;
export declare function selectorOf(element: Element): string;
