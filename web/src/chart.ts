// Time-series charts on uPlot: one cursor synced across a page's charts, drag
// to zoom, a legend with min/max/avg/last, lines or stacked areas, values in
// human units. Every chart registers itself in window.__panoptes.charts so
// that the browser tests can check series and points, not only the DOM.

import uPlot from "uplot";
import { fmt } from "./units";

export const palette = [
  "#3b82f6", "#f59e0b", "#10b981", "#ef4444", "#8b5cf6", "#06b6d4", "#ec4899", "#84cc16",
  "#f97316", "#6366f1", "#14b8a6", "#e11d48", "#a855f7", "#0ea5e9", "#eab308", "#22c55e",
];

export interface Series {
  name: string;
  values: (number | null)[];
}

export interface ChartOptions {
  title: string;
  unit?: string;
  stacked?: boolean;
  height?: number;
  /** Called with a new absolute range (seconds) after a drag selection. */
  onZoom?: (from: number, to: number) => void;
  /** Sync key of the cursor; charts of one page share it. */
  sync?: string;
  min?: number;
  max?: number;
}

export interface Stats {
  min: number | null;
  max: number | null;
  avg: number | null;
  last: number | null;
}

export function stats(values: (number | null)[]): Stats {
  let min = Infinity, max = -Infinity, sum = 0, n = 0;
  let last: number | null = null;
  for (const v of values) {
    if (v === null || v === undefined) continue;
    if (v < min) min = v;
    if (v > max) max = v;
    sum += v;
    n++;
    last = v;
  }
  return n === 0 ? { min: null, max: null, avg: null, last: null } : { min, max, avg: sum / n, last };
}

declare global {
  interface Window {
    __panoptes: {
      charts: uPlot[];
      panels: PanelState[];
      ready: boolean;
      renders: number;
      firstChartAt?: number;
      readyAt?: number;
      firstPanelAt?: number;
      /** The dashboard queries sent since the page loaded, for the browser tests (lazy loading, folded rows). */
      sent?: string[];
    };
  }
}

export interface PanelState {
  title: string;
  kind: string;
  /** idle: not queried yet, out of view or in a closed row. */
  state: "idle" | "loading" | "ok" | "nodata" | "error";
  error?: string;
  rows?: number;
  series?: number;
  points?: number;
  /** The queries last sent, variables and $__rate_interval substituted. */
  queries?: string[];
}

window.__panoptes = window.__panoptes || { charts: [], panels: [], ready: false, renders: 0 };

function pad(n: number): string {
  return n < 10 ? "0" + n : String(n);
}

/** timeTicks labels the time axis: 24-hour clock, seconds only when ticks are that close, the date where the day changes. */
function timeTicks(u: uPlot, splits: number[], _axis: number, _space: number, incr: number): string[] {
  const span = (u.scales.x.max ?? 0) - (u.scales.x.min ?? 0);
  return splits.map((s, i) => {
    const d = new Date(s * 1000);
    const day = `${d.getMonth() + 1}/${d.getDate()}`;
    if (incr >= 86400) return day;
    const hm = `${pad(d.getHours())}:${pad(d.getMinutes())}` + (incr < 60 ? ":" + pad(d.getSeconds()) : "");
    const prev = i > 0 ? new Date(splits[i - 1] * 1000) : null;
    if (span > 86400 && (!prev || prev.getDate() !== d.getDate())) return `${day} ${hm}`;
    return hm;
  });
}

/** timeLabel formats a cursor's time. */
export function timeLabel(s: number): string {
  const d = new Date(s * 1000);
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())} ${pad(d.getHours())}:${pad(d.getMinutes())}:${pad(d.getSeconds())}`;
}

/** axisLabels formats ticks with the fewest decimals that keep them distinct. */
function axisLabels(unit: string | undefined, splits: number[]): string[] {
  let labels: string[] = [];
  for (let d = 1; d <= 4; d++) {
    labels = splits.map((v) => fmt(unit, v, d));
    if (new Set(labels).size === labels.length) break;
  }
  return labels;
}

function binaryUnit(unit?: string): boolean {
  return unit === "bytes" || unit === "Bps" || unit === "binBps";
}

// Tick steps in powers of 1024 times 1, 2, 2.5, 5: byte axes read 0, 512 MiB, 1 GiB.
const binaryIncrs: number[] = [];
for (let k = 0; k <= 6; k++) for (const m of [1, 2, 2.5, 5, 10, 20, 25, 50, 100, 200, 250, 500]) binaryIncrs.push(m * 1024 ** k);

function unitFloor(unit?: string): number {
  if (binaryUnit(unit)) return 1024;
  if (unit === "percentunit") return 0.01;
  return 1;
}

// The theme's colours, read once per theme: getComputedStyle forces a style
// recalculation, and a dashboard that builds 20 charts one after another,
// each adding DOM, paid for 40 of them on load.
let cssCache: { theme: string | undefined; vars: Map<string, string> } | undefined;

function cssVar(name: string): string {
  const theme = document.documentElement.dataset.theme;
  if (!cssCache || cssCache.theme !== theme) cssCache = { theme, vars: new Map() };
  let v = cssCache.vars.get(name);
  if (v === undefined) {
    v = getComputedStyle(document.documentElement).getPropertyValue(name).trim();
    cssCache.vars.set(name, v);
  }
  return v;
}

function alpha(hex: string, a: number): string {
  const n = parseInt(hex.slice(1), 16);
  return `rgba(${(n >> 16) & 255},${(n >> 8) & 255},${n & 255},${a})`;
}

/** TimeChart is one uPlot chart and its legend in el. */
export class TimeChart {
  private u: uPlot | null = null;
  private legend: HTMLTableElement;
  private plotEl: HTMLDivElement;
  private series: Series[] = [];
  private stacked: (number | null)[][] | number[][] = [];
  private ro: ResizeObserver;
  private cursorCells: HTMLTableCellElement[] = [];
  private cursorHead?: HTMLTableCellElement;
  private hidden = new Set<string>();

  constructor(
    private el: HTMLElement,
    private opts: ChartOptions,
  ) {
    this.plotEl = document.createElement("div");
    this.plotEl.className = "plot";
    this.legend = document.createElement("table");
    this.legend.className = "legend";
    el.append(this.plotEl, this.legend);
    this.ro = new ResizeObserver(() => this.resize());
    this.ro.observe(el);
  }

  private size(): { width: number; height: number } {
    const width = Math.max(150, Math.floor(this.el.clientWidth));
    return { width, height: this.opts.height || 200 };
  }

  private resize(): void {
    if (!this.u) return;
    const s = this.size();
    if (s.width !== this.u.width || s.height !== this.u.height) this.u.setSize(s);
  }

  setOptions(o: Partial<ChartOptions>): void {
    Object.assign(this.opts, o);
    this.rebuild();
  }

  /** setData shows xs (Unix seconds) and the series. */
  setData(xs: number[], series: Series[]): void {
    const sameShape = this.u !== null && series.length === this.series.length && series.every((s, i) => s.name === this.series[i].name);
    this.series = series;
    this.xs = xs;
    if (sameShape) {
      this.u!.setData(this.plotData(), true);
      this.fillLegend();
      return;
    }
    this.rebuild();
  }

  private xs: number[] = [];

  private plotData(): uPlot.AlignedData {
    if (!this.opts.stacked) return [this.xs, ...this.series.map((s) => s.values)] as uPlot.AlignedData;
    // Stack the visible series: each is drawn at the sum of itself and those before it.
    // A missing sample stays a gap (nothing to draw before a series starts)
    // and adds nothing to the series above it.
    const acc = new Array<number>(this.xs.length).fill(0);
    this.stacked = this.series.map((s) => {
      const out: (number | null)[] = new Array(acc.length).fill(null);
      if (this.hidden.has(s.name)) return out;
      for (let i = 0; i < acc.length; i++) {
        const v = s.values[i];
        if (v === null || v === undefined) continue;
        acc[i] += v;
        out[i] = acc[i];
      }
      return out;
    }) as number[][];
    return [this.xs, ...this.stacked] as uPlot.AlignedData;
  }

  private rebuild(): void {
    if (this.u) {
      const i = window.__panoptes.charts.indexOf(this.u);
      if (i >= 0) window.__panoptes.charts.splice(i, 1);
      this.u.destroy();
      this.u = null;
    }
    const opts = this.makeOpts();
    this.u = new uPlot(opts, this.plotData(), this.plotEl);
    (this.u as any).__title = this.opts.title;
    (this.u as any).__raw = this.series;
    // For bench/ui.sh: the same chart drawn again elsewhere, from scratch.
    (this.u as any).__remake = (el: HTMLElement) => new uPlot(this.makeOpts(), this.plotData(), el);
    window.__panoptes.charts.push(this.u);
    window.__panoptes.renders++;
    // For bench/ui.sh: when the page drew its first chart (ms since navigation).
    if (window.__panoptes.firstChartAt === undefined) window.__panoptes.firstChartAt = performance.now();
    this.fillLegend();
  }

  private makeOpts(): uPlot.Options {
    const unit = this.opts.unit;
    const axisColor = cssVar("--muted") || "#888";
    const gridColor = cssVar("--grid") || "rgba(128,128,128,.15)";
    const stacked = !!this.opts.stacked;
    const seriesOpts: uPlot.Series[] = [{}];
    const bands: uPlot.Band[] = [];
    this.series.forEach((s, i) => {
      const color = palette[i % palette.length];
      seriesOpts.push({
        label: s.name,
        stroke: color,
        width: 1.25,
        fill: stacked ? alpha(color, 0.35) : undefined,
        points: { show: false },
        show: !this.hidden.has(s.name),
        value: (_u, v) => fmt(unit, v),
      });
      if (stacked && i > 0) bands.push({ series: [i + 1, i] });
    });
    const onZoom = this.opts.onZoom;
    const opts: uPlot.Options = {
      ...this.size(),
      legend: { show: false },
      cursor: {
        sync: { key: this.opts.sync || "panoptes", setSeries: false },
        drag: { x: true, y: false, setScale: false },
        points: { size: 5 },
      },
      select: { show: true, left: 0, top: 0, width: 0, height: 0 },
      bands,
      scales: {
        x: { time: true },
        y: {
          range: (_u, min, max) => {
            let lo = this.opts.min ?? Math.min(0, min);
            let hi = this.opts.max ?? max;
            if (!isFinite(lo) || !isFinite(hi)) return [0, 1];
            // A flat zero line still gets a sensible scale in its unit.
            if (hi === lo) hi = lo + (Math.abs(lo) || unitFloor(unit));
            const [a, b] = uPlot.rangeNum(lo, hi, 0.1, true);
            return [this.opts.min ?? (lo >= 0 ? Math.max(0, a ?? 0) : a ?? 0), this.opts.max ?? b ?? 1];
          },
        },
      },
      axes: [
        { stroke: axisColor, grid: { stroke: gridColor, width: 1 }, ticks: { stroke: gridColor, width: 1 }, space: 70, values: timeTicks },
        {
          stroke: axisColor,
          grid: { stroke: gridColor, width: 1 },
          ticks: { stroke: gridColor, width: 1 },
          values: (_u, splits) => axisLabels(unit, splits),
          incrs: binaryUnit(unit) ? binaryIncrs : undefined,
          size: (_u, values) => {
            if (!values) return 50;
            const w = Math.max(...values.map((v) => (v ? v.length : 0)));
            return Math.max(40, Math.ceil(w * 7.5) + 18);
          },
        },
      ],
      series: seriesOpts,
      hooks: {
        setSelect: [
          (u) => {
            if (u.select.width > 4 && onZoom) {
              const from = u.posToVal(u.select.left, "x");
              const to = u.posToVal(u.select.left + u.select.width, "x");
              onZoom(from, to);
            }
            u.setSelect({ left: 0, top: 0, width: 0, height: 0 }, false);
          },
        ],
        setCursor: [(u) => this.showCursor(u.cursor.idx)],
      },
    };
    return opts;
  }

  private fillLegend(): void {
    if (this.u) (this.u as any).__raw = this.series;
    const unit = this.opts.unit;
    const rows: string[] = [];
    this.legend.innerHTML = "";
    this.cursorCells = [];
    if (this.series.length === 0) return;
    const head = this.legend.createTHead().insertRow();
    for (const h of ["", "", "min", "max", "avg", "last"]) {
      const th = document.createElement("th");
      th.textContent = h;
      head.append(th);
    }
    this.cursorHead = head.cells[1] as HTMLTableCellElement;
    const body = this.legend.createTBody();
    this.series.forEach((s, i) => {
      const st = stats(s.values);
      const tr = body.insertRow();
      tr.className = this.hidden.has(s.name) ? "off" : "";
      const name = tr.insertCell();
      name.className = "name";
      const sw = document.createElement("i");
      sw.style.background = palette[i % palette.length];
      name.append(sw, document.createTextNode(s.name));
      name.title = s.name + " (click: show only this one; ctrl-click: toggle)";
      const cur = tr.insertCell();
      cur.className = "cur";
      this.cursorCells.push(cur);
      for (const v of [st.min, st.max, st.avg, st.last]) tr.insertCell().textContent = fmt(unit, v);
      tr.addEventListener("click", (ev) => this.toggle(s.name, ev.ctrlKey || ev.metaKey));
    });
    void rows;
  }

  private toggle(name: string, single: boolean): void {
    if (single) {
      if (this.hidden.has(name)) this.hidden.delete(name);
      else this.hidden.add(name);
    } else {
      const onlyThis = this.series.every((s) => s.name === name || this.hidden.has(s.name)) && !this.hidden.has(name);
      this.hidden.clear();
      if (!onlyThis) for (const s of this.series) if (s.name !== name) this.hidden.add(s.name);
    }
    this.rebuild();
  }

  private showCursor(idx: number | null | undefined): void {
    const unit = this.opts.unit;
    if (this.cursorHead) this.cursorHead.textContent = idx === null || idx === undefined ? "" : timeLabel(this.xs[idx]);
    this.cursorCells.forEach((c, i) => {
      const v = idx === null || idx === undefined ? null : this.series[i].values[idx];
      c.textContent = idx === null || idx === undefined ? "" : fmt(unit, v);
    });
  }

  /** uplot is the chart, for tests and the benchmark. */
  get uplot(): uPlot | null {
    return this.u;
  }

  destroy(): void {
    this.ro.disconnect();
    if (this.u) {
      const i = window.__panoptes.charts.indexOf(this.u);
      if (i >= 0) window.__panoptes.charts.splice(i, 1);
      this.u.destroy();
      this.u = null;
    }
  }
}

/** hiDPICanvas is a canvas of width x height CSS pixels at the screen's pixel density. */
export function hiDPICanvas(width: number, height: number, className: string): HTMLCanvasElement {
  const c = document.createElement("canvas");
  const dpr = window.devicePixelRatio || 1;
  c.width = width * dpr;
  c.height = height * dpr;
  c.style.width = width + "px";
  c.style.height = height + "px";
  c.className = className;
  return c;
}

/** sparkline draws values on a small canvas (a table row's trend). */
export function sparkline(values: (number | null)[], width = 100, height = 22, color = palette[0]): HTMLCanvasElement {
  const c = hiDPICanvas(width, height, "spark");
  const dpr = window.devicePixelRatio || 1;
  const ctx = c.getContext("2d");
  if (!ctx) return c;
  ctx.scale(dpr, dpr);
  let max = -Infinity, min = Infinity;
  for (const v of values) if (v !== null) { if (v > max) max = v; if (v < min) min = v; }
  if (!isFinite(max)) return c;
  min = Math.min(0, min);
  const span = max - min || 1;
  ctx.strokeStyle = color;
  ctx.fillStyle = alpha(color, 0.2);
  ctx.lineWidth = 1.2;
  ctx.beginPath();
  let started = false;
  const n = Math.max(1, values.length - 1);
  values.forEach((v, i) => {
    if (v === null) { started = false; return; }
    const x = (i / n) * (width - 2) + 1;
    const y = height - 1 - ((v - min) / span) * (height - 3);
    if (!started) { ctx.moveTo(x, y); started = true; } else ctx.lineTo(x, y);
  });
  ctx.stroke();
  return c;
}
