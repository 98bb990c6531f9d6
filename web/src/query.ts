// Turning the API's answers into chart series and table rows.

import type { Sample } from "./api";
import type { Series } from "./chart";

/** legendName applies a Grafana legend template ({{label}}) to a series's labels. */
export function legendName(metric: Record<string, string>, template?: string): string {
  if (template) {
    return template.replace(/\{\{\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\}\}/g, (_, l) => metric[l] ?? "");
  }
  const name = metric.__name__ || "";
  const rest = Object.keys(metric)
    .filter((k) => k !== "__name__")
    .sort()
    .map((k) => `${k}="${metric[k]}"`);
  if (rest.length === 0) return name || "{}";
  return `${name}{${rest.join(", ")}}`;
}

export function num(s: string): number | null {
  const v = parseFloat(s);
  // uPlot cannot draw infinities; NaN is a gap.
  return isFinite(v) ? v : null;
}

/**
 * stepGrid is a range query's window aligned to its step, as Grafana aligns
 * it: start and end rounded down to multiples of step. The server evaluates
 * at start, start+step, ..., so with an aligned start its timestamps are
 * exactly the grid's slots. With the window's own, unaligned start, align()
 * rounded every sample into the next slot about half of the time (each chart
 * drawn a step late) and the newest sample fell off the end: a stat panel of
 * a young server, whose only point is the newest, said "No data".
 */
export function stepGrid(start: number, end: number, step: number): { start: number; end: number; xs: number[] } {
  const s = Math.floor(start / step) * step;
  const e = Math.max(s, Math.floor(end / step) * step);
  const xs: number[] = [];
  const n = Math.round((e - s) / step);
  // Multiplying, not adding, keeps a fractional step from drifting off the
  // server's timestamps over many slots.
  for (let i = 0; i <= n; i++) xs.push(s + i * step);
  return { start: s, end: e, xs };
}

/** align places the samples of each series of a range result on xs. */
export function align(xs: number[], result: Sample[], template?: string): Series[] {
  const start = xs[0];
  const step = xs.length > 1 ? xs[1] - xs[0] : 1;
  return result.map((r) => {
    // A series of the compact encoding (float64 arrays) or of JSON ([t, "v"] pairs), read alike.
    const p = r.points;
    const vs = r.values || [];
    const n = p ? p.ts.length : vs.length;
    const t = p ? (i: number) => p.ts[i] : (i: number) => vs[i][0];
    // uPlot cannot draw infinities; NaN is a gap (as num).
    const v = p ? (i: number) => (isFinite(p.vs[i]) ? p.vs[i] : null) : (i: number) => num(vs[i][1]);
    // The common case, a sample at every step (as many samples as slots, the
    // first in the first, the last in the last; the API's timestamps are
    // increasing multiples of step apart): sample i is slot i.
    if (n === xs.length && n > 0 && Math.round((t(0) - start) / step) === 0 && Math.round((t(n - 1) - start) / step) === xs.length - 1) {
      const values = new Array<number | null>(n);
      for (let i = 0; i < n; i++) values[i] = v(i);
      return { name: legendName(r.metric, template), values };
    }
    const values: (number | null)[] = new Array(xs.length).fill(null);
    for (let j = 0; j < n; j++) {
      const i = Math.round((t(j) - start) / step);
      if (i >= 0 && i < xs.length) values[i] = v(j);
    }
    return { name: legendName(r.metric, template), values };
  });
}

export function countPoints(series: Series[]): number {
  let n = 0;
  for (const s of series) for (const v of s.values) if (v !== null) n++;
  return n;
}

/** labelKey identifies a series by its labels, without the metric name. */
export function labelKey(metric: Record<string, string>, only?: string[]): string {
  const keys = (only || Object.keys(metric).filter((k) => k !== "__name__")).slice().sort();
  return keys.map((k) => `${k}=${metric[k] ?? ""}`).join(",");
}

/** substitute replaces $var, ${var} and [[var]] with values. */
export function substitute(expr: string, vars: Record<string, string>): string {
  return expr.replace(/\$\{(\w+)\}|\$(\w+)|\[\[(\w+)\]\]/g, (m, a, b, c) => {
    const k = a || b || c;
    return k in vars ? vars[k] : m;
  });
}

/** regexEscape quotes a label value for use in a =~ matcher (RE2 within a PromQL string). */
export function regexEscape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&").replace(/\\/g, "\\\\").replace(/"/g, '\\"');
}
