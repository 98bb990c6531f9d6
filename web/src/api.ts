// The Prometheus HTTP API v1, as the server serves it, and the detection of
// a server that went away (a banner, then a refresh once it is back).

export class APIError extends Error {
  constructor(
    message: string,
    public errorType = "",
    public status = 0,
  ) {
    super(message);
  }
}

/** ServerDown is thrown when the server cannot be reached at all. */
export class ServerDown extends APIError {}

export interface Sample {
  metric: Record<string, string>;
  value?: [number, string];
  values?: [number, string][];
  /** A range answer's points in the server's compact encoding (decodeMatrix): timestamps in seconds and values. */
  points?: { ts: Float64Array; vs: Float64Array };
}

type Listener = (down: boolean) => void;
const listeners: Listener[] = [];
let down = false;
let probe: number | undefined;

/** onServerState calls fn with true when the server goes away and false when it is back. */
export function onServerState(fn: Listener): void {
  listeners.push(fn);
}

function setDown(d: boolean): void {
  if (d === down) return;
  down = d;
  for (const l of listeners) l(d);
  if (d && probe === undefined) {
    // Poll health until it answers, then tell everyone to refresh.
    probe = window.setInterval(async () => {
      try {
        const r = await fetch("-/healthy", { cache: "no-store" });
        if (r.ok) {
          window.clearInterval(probe);
          probe = undefined;
          setDown(false);
        }
      } catch {
        /* still down */
      }
    }, 2000);
  }
}

export function isDown(): boolean {
  return down;
}

/** MATRIX is the server's compact encoding of range answers (internal/server/matrixcodec.go). */
const MATRIX = "application/vnd.panoptes.matrix";

/** reach fetches, and tells the listeners whether the server could be reached. */
async function reach(input: string, init: RequestInit): Promise<Response> {
  let resp: Response;
  try {
    resp = await fetch(input, init);
  } catch (e: any) {
    if (e && e.name === "AbortError") throw e;
    setDown(true);
    throw new ServerDown("The Panoptes server cannot be reached.");
  }
  setDown(false);
  return resp;
}

/** unwrap is an API v1 JSON answer's data, or its error as an APIError. */
function unwrap(json: any, status: number, statusText: string): any {
  if (json && json.status === "error") {
    throw new APIError(json.error || "unknown error", json.errorType || "", status);
  }
  if (status < 200 || status > 299) throw new APIError(`${status} ${statusText}`, "", status);
  return json && "data" in json ? json.data : json;
}

/** get fetches a path relative to the UI (which is served at the server's root) and returns data. */
export async function api<T = any>(path: string, params?: Record<string, string | string[] | number | undefined>, signal?: AbortSignal, accept?: string): Promise<T> {
  const body = new URLSearchParams();
  for (const [k, v] of Object.entries(params || {})) {
    if (v === undefined) continue;
    if (Array.isArray(v)) v.forEach((x) => body.append(k, x));
    else body.append(k, String(v));
  }
  const qs = body.toString();
  // Long queries go as POST forms, as Prometheus's UI does, to stay under URL limits.
  const post = qs.length > 1500 && /^api\/v1\/(query|query_range|series|labels|format_query)$/.test(path);
  const headers: Record<string, string> = {};
  if (post) headers["Content-Type"] = "application/x-www-form-urlencoded";
  if (accept) headers["Accept"] = accept;
  const resp = await reach(post || !qs ? path : path + "?" + qs, {
    method: post ? "POST" : "GET",
    body: post ? body : undefined,
    headers,
    signal,
  });
  if (resp.ok && (resp.headers.get("Content-Type") || "").startsWith(MATRIX)) return decodeMatrix(await resp.arrayBuffer()) as T;
  let json: any;
  if (/json/.test(resp.headers.get("Content-Type") || "")) {
    // JSON answers are parsed from the body's bytes: no copy of a large
    // answer as a string first (a 24 h range at 15 s is 200 KB a series).
    try {
      json = await resp.json();
    } catch (e: any) {
      if (e && e.name === "AbortError") throw e;
      throw new APIError(`${resp.status} ${resp.statusText}: the answer is not valid JSON`, "", resp.status);
    }
  } else {
    const text = await resp.text();
    try {
      json = JSON.parse(text);
    } catch {
      throw new APIError(`${resp.status} ${resp.statusText}: ${text.slice(0, 300) || "empty answer"}`, "", resp.status);
    }
  }
  return unwrap(json, resp.status, resp.statusText);
}

export interface RangeResult {
  resultType: string;
  result: Sample[];
}

/**
 * decodeMatrix reads a compact range answer (internal/server/matrixcodec.go):
 * "PNM2", the length of a JSON header naming each series, its number of
 * points and, for a series without gaps, its grid [first ms, step ms]; the
 * header; zero bytes to a multiple of 8; then per series its timestamps
 * (only when it has no grid) and its values as little-endian float64s,
 * which the series' arrays view in place: no JSON to parse and no string
 * to convert per point.
 */
export function decodeMatrix(buf: ArrayBuffer, base = 0, length = buf.byteLength - base): RangeResult {
  // base is a multiple of 8 (a batch's parts are), so the arrays stay aligned.
  const dv = new DataView(buf, base, length);
  if (length < 8 || dv.getUint32(0) !== 0x504e4d32) throw new APIError("the server's compact answer is malformed");
  const n = dv.getUint32(4, true);
  if (8 + n > length) throw new APIError("the server's compact answer is truncated");
  const head: { series: { metric: Record<string, string>; points: number; grid?: [number, number] }[] } = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, base + 8, n)));
  let off = base + ((8 + n + 7) & ~7);
  const end = base + length;
  const result = head.series.map((s): Sample => {
    const k = s.points;
    const words = s.grid ? k : 2 * k;
    if (off + 8 * words > end) throw new APIError("the server's compact answer is truncated");
    let ts: Float64Array;
    if (s.grid) {
      // The same division as the server's timestamps: exact ms, then seconds.
      const [t0, dt] = s.grid;
      ts = new Float64Array(k);
      for (let i = 0; i < k; i++) ts[i] = (t0 + i * dt) / 1000;
    } else {
      ts = new Float64Array(buf, off, k);
      off += 8 * k;
    }
    const vs = new Float64Array(buf, off, k);
    off += 8 * k;
    return { metric: s.metric, points: { ts, vs } };
  });
  return { resultType: "matrix", result };
}

const RANGE_ACCEPT = `${MATRIX}, application/json;q=0.5`;

/** BATCH is internal/server/batchrange.go's path and the most queries it takes at once. */
const BATCH = "api/ui/query_range";
const BATCH_MAX = 64;

interface Waiting {
  query: string;
  resolve: (r: RangeResult) => void;
  reject: (e: unknown) => void;
}

interface Batch {
  form: Record<string, string>;
  signal?: AbortSignal;
  items: Waiting[];
}

const batches = new Map<string, Batch>();
const signalIDs = new WeakMap<AbortSignal, number>();
let lastSignalID = 0;
/** noBatch: the server has no batch endpoint (an older one, behind a proxy): one request a query from then on. */
let noBatch = false;

/**
 * queryRange asks for the compact encoding; a server without it (or an
 * answer it cannot encode) answers JSON. The range queries asked for in the
 * same task with the same window and abort signal (a panel's targets) go
 * to the server as one request: in a browser each request costs more than
 * drawing its answer.
 */
export function queryRange(query: string, start: number, end: number, step: number, signal?: AbortSignal): Promise<RangeResult> {
  const form = { start: start.toFixed(3), end: end.toFixed(3), step: String(step) };
  let sid = 0;
  if (signal) {
    sid = signalIDs.get(signal) ?? ++lastSignalID;
    signalIDs.set(signal, sid);
  }
  const key = `${sid} ${form.start} ${form.end} ${form.step}`;
  return new Promise((resolve, reject) => {
    let b = batches.get(key);
    if (!b) {
      const nb: Batch = { form, signal, items: [] };
      batches.set(key, nb);
      queueMicrotask(() => {
        batches.delete(key);
        void sendBatch(nb);
      });
      b = nb;
    }
    b.items.push({ query, resolve, reject });
  });
}

function sendOne(b: Batch, w: Waiting): Promise<void> {
  return api<RangeResult>("api/v1/query_range", { query: w.query, ...b.form }, b.signal, RANGE_ACCEPT).then(w.resolve, w.reject);
}

async function sendBatch(b: Batch): Promise<void> {
  for (let i = 0; i < b.items.length; i += BATCH_MAX) {
    const chunk = b.items.slice(i, i + BATCH_MAX);
    if (chunk.length === 1 || noBatch) {
      chunk.forEach((w) => void sendOne(b, w));
      continue;
    }
    const body = new URLSearchParams(b.form);
    for (const w of chunk) body.append("query", w.query);
    let parts: (() => RangeResult)[];
    try {
      const resp = await reach(BATCH, { method: "POST", body, signal: b.signal });
      if (resp.status === 404 || resp.status === 405) {
        noBatch = true;
        chunk.forEach((w) => void sendOne(b, w));
        continue;
      }
      if (!resp.ok) throw new APIError(`${resp.status} ${resp.statusText}: ${(await resp.text()).slice(0, 300)}`, "", resp.status);
      parts = decodeBatch(await resp.arrayBuffer());
      if (parts.length !== chunk.length) throw new APIError(`the server answered ${parts.length} queries of ${chunk.length}`);
    } catch (e) {
      chunk.forEach((w) => w.reject(e));
      continue;
    }
    chunk.forEach((w, j) => {
      try {
        w.resolve(parts[j]());
      } catch (e) {
        w.reject(e);
      }
    });
  }
}

/**
 * decodeBatch reads a batch answer: "PNB1", the length of a JSON header
 * with each query's status, content type, offset and length, the header,
 * then the answers at their offsets (multiples of 8). Each is read when
 * its caller takes it, as api() reads a single answer.
 */
export function decodeBatch(buf: ArrayBuffer): (() => RangeResult)[] {
  const dv = new DataView(buf);
  if (buf.byteLength < 8 || dv.getUint32(0) !== 0x504e4231) throw new APIError("the server's batch answer is malformed");
  const n = dv.getUint32(4, true);
  if (8 + n > buf.byteLength) throw new APIError("the server's batch answer is truncated");
  const head: { status: number; type: string; offset: number; length: number }[] = JSON.parse(new TextDecoder().decode(new Uint8Array(buf, 8, n)));
  return head.map((p) => () => {
    if (p.offset % 8 !== 0 || p.offset + p.length > buf.byteLength) throw new APIError("the server's batch answer is truncated");
    if (p.status >= 200 && p.status < 300 && p.type.startsWith(MATRIX)) return decodeMatrix(buf, p.offset, p.length);
    const text = new TextDecoder().decode(new Uint8Array(buf, p.offset, p.length));
    let json: any;
    try {
      json = JSON.parse(text);
    } catch {
      throw new APIError(`${p.status}: ${text.slice(0, 300) || "empty answer"}`, "", p.status);
    }
    return unwrap(json, p.status, "");
  });
}

export function queryInstant(query: string, time?: number, signal?: AbortSignal): Promise<RangeResult> {
  return api<RangeResult>("api/v1/query", { query, time: time === undefined ? undefined : time.toFixed(3) }, signal);
}

/** Position of a parse error in a query, from Prometheus's "1:18: parse error: ..." messages. */
export interface ParsePosition {
  line: number;
  col: number;
  message: string;
}

export function parseErrorPosition(msg: string): ParsePosition | null {
  const m = /(?:^|: )(\d+):(\d+): parse error: (.*)$/s.exec(msg);
  if (!m) return null;
  return { line: parseInt(m[1], 10), col: parseInt(m[2], 10), message: m[3] };
}

/** checkSyntax asks the server to parse a query; it resolves to null when it parses. */
export async function checkSyntax(query: string, signal?: AbortSignal): Promise<string | null> {
  try {
    await api("api/v1/format_query", { query }, signal);
    return null;
  } catch (e: any) {
    if (e instanceof ServerDown || e?.name === "AbortError") return null;
    return String(e.message || e).replace(/^invalid parameter "query": /, "");
  }
}

let namesCache: { at: number; names: Promise<string[]> } | undefined;

/** metricNames lists every metric name (cached for a minute). */
export function metricNames(): Promise<string[]> {
  if (!namesCache || Date.now() - namesCache.at > 60000) {
    const names = api<string[]>("api/v1/label/__name__/values").catch((e) => {
      namesCache = undefined;
      throw e;
    });
    namesCache = { at: Date.now(), names };
  }
  return namesCache.names;
}
