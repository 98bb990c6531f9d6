// The panel types beyond charts and tables, as Grafana draws them: gauge,
// bar gauge, pie chart and heatmap, with Grafana's thresholds (named colours
// or CSS ones) and reducers (lastNotNull, last, mean, max, min, sum).

import type { Series } from "./chart";
import { hiDPICanvas, palette } from "./chart";
import { h } from "./state";
import { fmt } from "./units";

export interface ThresholdStep {
  color: string;
  value: number | null;
}

export interface Thresholds {
  mode?: "absolute" | "percentage";
  steps: ThresholdStep[];
}

// Grafana's named colours (its default theme's values); "text" is the page's.
const named: Record<string, string> = {
  green: "#73bf69", red: "#f2495c", yellow: "#fade2a", orange: "#ff9830", blue: "#5794f2", purple: "#b877d9",
  "super-light-green": "#c8f2c2", "light-green": "#96d98d", "semi-dark-green": "#56a64b", "dark-green": "#37872d",
  "super-light-red": "#ffa6b0", "light-red": "#ff7383", "semi-dark-red": "#e02f44", "dark-red": "#c4162a",
  "super-light-yellow": "#fff899", "light-yellow": "#ffee52", "semi-dark-yellow": "#f2cc0c", "dark-yellow": "#e0b400",
  "super-light-orange": "#ffcb7d", "light-orange": "#ffb357", "semi-dark-orange": "#fa6400", "dark-orange": "#e55400",
  "super-light-blue": "#c0d8ff", "light-blue": "#8ab8ff", "semi-dark-blue": "#3274d9", "dark-blue": "#1f60c4",
  "super-light-purple": "#deb6f2", "light-purple": "#ca95e5", "semi-dark-purple": "#a352cc", "dark-purple": "#8f3bb8",
  transparent: "transparent",
};

/** colorOf turns a Grafana colour (a name, hex, rgb()) into a CSS colour. */
export function colorOf(c: string | undefined): string {
  if (!c) return named.green;
  const k = c.trim().toLowerCase();
  if (k === "text") return "var(--fg)";
  if (named[k]) return named[k];
  if (/^#[0-9a-f]{3,8}$/.test(k) || /^(rgb|rgba|hsl|hsla)\([\d\s.,%]+\)$/.test(k)) return k;
  if (typeof CSS !== "undefined" && CSS.supports("color", k)) return k;
  return named.green;
}

/** thresholdColor is the colour of the last step whose value v reaches (percentage mode: of min..max). */
export function thresholdColor(th: Thresholds | undefined, v: number | null, min = 0, max = 100): string | undefined {
  if (!th || !th.steps?.length || v === null) return undefined;
  const x = th.mode === "percentage" ? (max > min ? ((v - min) / (max - min)) * 100 : 0) : v;
  let color = th.steps[0].color;
  for (const s of th.steps) if (s.value !== null && s.value !== undefined && x >= s.value) color = s.color;
  return colorOf(color);
}

/** reduce turns a series into one value, as Grafana's reducers do. */
export function reduce(values: (number | null)[], how = "lastNotNull"): number | null {
  const vs = values.filter((v): v is number => v !== null && v !== undefined);
  if (how === "last") return values.length ? values[values.length - 1] : null;
  if (!vs.length) return null;
  switch (how) {
    case "mean": return vs.reduce((a, b) => a + b, 0) / vs.length;
    case "sum": return vs.reduce((a, b) => a + b, 0);
    case "max": return Math.max(...vs);
    case "min": return Math.min(...vs);
    default: return vs[vs.length - 1];
  }
}

export interface Reduced {
  name: string;
  value: number | null;
}

export interface ValueOptions {
  unit?: string;
  decimals?: number;
  min?: number;
  max?: number;
  thresholds?: Thresholds;
}

/** range is min..max of a gauge: the panel's, else 0..100 for percent, 0..1 for percentunit, else 0..the largest value. */
function range(o: ValueOptions, items: Reduced[]): [number, number] {
  let max = o.max;
  if (max === undefined) {
    if (o.unit === "percent") max = 100;
    else if (o.unit === "percentunit") max = 1;
    else max = Math.max(0, ...items.map((i) => i.value ?? 0)) || 1;
  }
  const min = o.min ?? 0;
  return [min, max > min ? max : min + 1];
}

const svgNS = "http://www.w3.org/2000/svg";
function svg(tag: string, attrs: Record<string, string | number>): SVGElement {
  const el = document.createElementNS(svgNS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  return el;
}

function arc(cx: number, cy: number, r: number, a0: number, a1: number): string {
  const p = (a: number) => `${(cx + r * Math.cos(a)).toFixed(2)} ${(cy + r * Math.sin(a)).toFixed(2)}`;
  const large = Math.abs(a1 - a0) > Math.PI ? 1 : 0;
  return `M ${p(a0)} A ${r} ${r} 0 ${large} 1 ${p(a1)}`;
}

/** renderGauge draws one arc gauge per item, coloured by the thresholds, with the threshold bands outside it. */
export function renderGauge(body: HTMLElement, items: Reduced[], o: ValueOptions): void {
  const [min, max] = range(o, items);
  const box = h("div.gauges");
  const a0 = Math.PI * 0.75, a1 = Math.PI * 2.25; // 270 degrees, open at the bottom
  for (const it of items) {
    const s = svg("svg", { viewBox: "0 0 120 100", class: "gauge" });
    const frac = it.value === null ? 0 : Math.min(1, Math.max(0, (it.value - min) / (max - min)));
    s.append(svg("path", { d: arc(60, 58, 44, a0, a1), stroke: "var(--grid)", "stroke-width": 10, fill: "none" }));
    if (o.thresholds?.steps?.length) {
      const steps = o.thresholds.steps;
      steps.forEach((st, i) => {
        const from = st.value === null || st.value === undefined ? min : o.thresholds!.mode === "percentage" ? min + (st.value / 100) * (max - min) : st.value;
        const nv = steps[i + 1]?.value;
        const to = nv === null || nv === undefined ? max : o.thresholds!.mode === "percentage" ? min + (nv / 100) * (max - min) : nv;
        const f0 = Math.min(1, Math.max(0, (from - min) / (max - min))), f1 = Math.min(1, Math.max(0, (to - min) / (max - min)));
        if (f1 > f0) s.append(svg("path", { d: arc(60, 58, 52, a0 + (a1 - a0) * f0, a0 + (a1 - a0) * f1), stroke: colorOf(st.color), "stroke-width": 3, fill: "none" }));
      });
    }
    const color = thresholdColor(o.thresholds, it.value, min, max) ?? palette[0];
    if (frac > 0) s.append(svg("path", { d: arc(60, 58, 44, a0, a0 + (a1 - a0) * frac), stroke: color, "stroke-width": 10, fill: "none", class: "gauge-value" }));
    const t = svg("text", { x: 60, y: 64, "text-anchor": "middle", "font-size": 17, "font-weight": 600, fill: color, class: "gauge-text" });
    t.textContent = fmt(o.unit, it.value, o.decimals ?? 2);
    s.append(t);
    box.append(h("div.gauge-item", { "data-value": String(it.value), "data-color": color }, s, items.length > 1 ? h("div.stat-name", { text: it.name }) : null));
  }
  body.append(box);
}

/** renderBarGauge draws one bar per item, horizontal (default) or vertical, coloured by the thresholds. */
export function renderBarGauge(body: HTMLElement, items: Reduced[], o: ValueOptions & { orientation?: string }): void {
  const [min, max] = range(o, items);
  const vertical = o.orientation === "vertical";
  const box = h("div.bargauge" + (vertical ? ".vertical" : ""));
  for (const it of items) {
    const frac = it.value === null ? 0 : Math.min(1, Math.max(0, (it.value - min) / (max - min)));
    const color = thresholdColor(o.thresholds, it.value, min, max) ?? palette[0];
    const fill = h("div.bar-fill", { "data-color": color });
    fill.style.background = color;
    if (vertical) fill.style.height = (frac * 100).toFixed(1) + "%";
    else fill.style.width = (frac * 100).toFixed(1) + "%";
    box.append(h("div.bar-item", null,
      h("div.bar-name", { text: it.name, title: it.name }),
      h("div.bar-track", null, fill),
      h("div.bar-value", { text: fmt(o.unit, it.value, o.decimals ?? 2) })));
  }
  body.append(box);
}

/** renderPie draws a pie or donut of the items' values, with a legend of value and share. */
export function renderPie(body: HTMLElement, items: Reduced[], o: ValueOptions & { donut?: boolean }): number {
  const vals = items.map((i) => Math.max(0, i.value ?? 0));
  const total = vals.reduce((a, b) => a + b, 0);
  const s = svg("svg", { viewBox: "0 0 100 100", class: "pie" });
  let a = -Math.PI / 2;
  let slices = 0;
  items.forEach((it, i) => {
    if (total <= 0 || vals[i] <= 0) return;
    const color = palette[i % palette.length];
    const da = (vals[i] / total) * Math.PI * 2;
    let d: string;
    if (da >= Math.PI * 2 - 1e-6) d = "M 50 4 A 46 46 0 1 1 49.99 4 Z";
    else {
      const p = (x: number) => `${(50 + 46 * Math.cos(x)).toFixed(2)} ${(50 + 46 * Math.sin(x)).toFixed(2)}`;
      d = `M 50 50 L ${p(a)} A 46 46 0 ${da > Math.PI ? 1 : 0} 1 ${p(a + da)} Z`;
    }
    const path = svg("path", { d, fill: color, class: "slice" });
    const title = svg("title", {});
    title.textContent = `${it.name}: ${fmt(o.unit, it.value, o.decimals ?? 2)}`;
    path.append(title);
    s.append(path);
    a += da;
    slices++;
  });
  if (o.donut) s.append(svg("circle", { cx: 50, cy: 50, r: 26, fill: "var(--panel)" }));
  const legend = h("table.legend.pie-legend");
  const tb = (legend as HTMLTableElement).createTBody();
  items.forEach((it, i) => {
    const tr = tb.insertRow();
    const name = tr.insertCell();
    name.className = "name";
    const sw = document.createElement("i");
    sw.style.background = palette[i % palette.length];
    name.append(sw, document.createTextNode(it.name));
    tr.insertCell().textContent = fmt(o.unit, it.value, o.decimals ?? 2);
    tr.insertCell().textContent = total > 0 ? ((vals[i] / total) * 100).toFixed(1) + "%" : "–";
  });
  body.append(h("div.piechart", null, s, legend));
  return slices;
}

export interface Bucket {
  le: number;
  label: string;
  values: (number | null)[];
}

/**
 * decumulate turns classic histogram buckets (cumulative counts per le, one
 * series each) into the count of each bucket alone, sorted by le. A counter
 * reset between buckets (a later bucket below an earlier one) counts 0.
 */
export function decumulate(buckets: Bucket[]): Bucket[] {
  const sorted = buckets.slice().sort((a, b) => a.le - b.le);
  return sorted.map((b, i) => ({
    ...b,
    values: b.values.map((v, t) => {
      if (v === null) return null;
      const prev = i > 0 ? sorted[i - 1].values[t] ?? 0 : 0;
      return Math.max(0, v - prev);
    }),
  }));
}

/** parseLe reads an le label: a number or +Inf. */
export function parseLe(s: string | undefined): number {
  if (s === undefined) return NaN;
  if (/^\+?inf$/i.test(s)) return Infinity;
  return parseFloat(s);
}

/** renderHeatmap draws one cell per time step and bucket, darker the higher its count; returns the cells drawn. */
export function renderHeatmap(body: HTMLElement, xs: number[], buckets: Bucket[], height: number, unit?: string): number {
  const rows = decumulate(buckets);
  const width = Math.max(150, Math.floor(body.clientWidth || 600));
  const labelW = 56;
  const c = hiDPICanvas(width, height, "heatmap");
  const dpr = window.devicePixelRatio || 1;
  const ctx = c.getContext("2d");
  let cells = 0;
  let max = 0;
  for (const r of rows) for (const v of r.values) if (v !== null && v > max) max = v;
  if (ctx && rows.length && xs.length) {
    ctx.scale(dpr, dpr);
    const cw = (width - labelW) / xs.length, ch = (height - 4) / rows.length;
    const muted = getComputedStyle(document.documentElement).getPropertyValue("--muted").trim() || "#888";
    ctx.font = "10px system-ui, sans-serif";
    ctx.fillStyle = muted;
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    rows.forEach((r, j) => {
      const y = height - 2 - (j + 1) * ch;
      if (ch >= 10 || j % Math.ceil(10 / ch) === 0) {
        ctx.fillStyle = muted;
        ctx.fillText(isFinite(r.le) ? fmt(unit, r.le) : "+Inf", labelW - 4, y + ch / 2);
      }
      r.values.forEach((v, i) => {
        if (v === null || v <= 0) return;
        // Square root scale: a few busy buckets do not wash out the rest.
        const f = Math.sqrt(v / (max || 1));
        ctx.fillStyle = `hsl(${(30 - 30 * f).toFixed(0)}, 90%, ${(85 - 50 * f).toFixed(0)}%)`;
        ctx.fillRect(labelW + i * cw, y, Math.max(1, cw - 0.5), Math.max(1, ch - 0.5));
        cells++;
      });
    });
  }
  body.append(c);
  return cells;
}

/** seriesItems reduces series to one value each. */
export function seriesItems(series: Series[], how?: string): Reduced[] {
  return series.map((s) => ({ name: s.name, value: reduce(s.values, how || "lastNotNull") }));
}
