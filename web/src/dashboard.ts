// Dashboards are data (web/dashboards/*.yaml, documented in
// web/dashboards/README.md): this renders one — its variables, then its
// panels (timeseries, stat, table, text, row) on a 24-column grid, each with
// its own error and no-data message.

import { api, APIError, queryInstant, queryRange, type Sample } from "./api";
import { TimeChart, sparkline, type PanelState } from "./chart";
import { align, countPoints, legendName, labelKey, num, regexEscape, stepGrid, substitute } from "./query";
import { autoStep, currentRoute, esc, h, loadScrapeInterval, onTimeChange, rateInterval, timeWindow, updateParams, zoomTo, type Window } from "./state";
import { fmt, parseDuration, promDuration } from "./units";

export interface Target {
  expr: string;
  legendFormat?: string;
  unit?: string;
  refId?: string;
}

export interface Panel {
  title: string;
  type: "timeseries" | "stat" | "table" | "text" | "row";
  description?: string;
  unit?: string;
  stack?: boolean;
  min?: number;
  max?: number;
  decimals?: number;
  gridPos?: { w?: number; h?: number };
  interval?: string;
  maxDataPoints?: number;
  targets?: Target[];
  labels?: string[];
  link?: string;
  text?: string;
}

export interface Variable {
  name: string;
  label?: string;
  type?: "query" | "custom" | "textbox" | "constant";
  query?: string;
  options?: string[];
  default?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  hide?: boolean;
}

export interface Dashboard {
  id: string;
  title: string;
  description?: string;
  variables?: Variable[];
  panels: Panel[];
}

interface Rendered {
  panel: Panel;
  el: HTMLElement;
  body: HTMLElement;
  state: PanelState;
  chart?: TimeChart;
  abort?: AbortController;
}

/** varValues resolves the choices of a query variable: label_values([selector,] label). */
async function varChoices(v: Variable, w: Window, vars: Record<string, string>): Promise<string[]> {
  if (v.type === "custom") return v.options || [];
  if (v.type === "textbox" || v.type === "constant") return v.default !== undefined ? [v.default] : [];
  const m = /^\s*label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$/s.exec(v.query || "");
  if (!m) throw new APIError(`variable ${v.name}: query must be label_values([selector,] label), got ${JSON.stringify(v.query)}`);
  const params: Record<string, string | string[]> = { start: String(Math.floor(w.start)), end: String(Math.ceil(w.end)) };
  if (m[1]) params["match[]"] = [substitute(m[1], vars)];
  const vals = await api<string[]>(`api/v1/label/${encodeURIComponent(m[2])}/values`, params);
  return vals.sort();
}

function promString(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
}

export class DashboardView {
  readonly el: HTMLElement;
  private panels: Rendered[] = [];
  private varBar: HTMLElement;
  private grid: HTMLElement;
  private vars: Record<string, string> = {};
  private unsubscribe: () => void;
  private generation = 0;

  constructor(private d: Dashboard) {
    this.varBar = h("div.vars");
    this.grid = h("div.grid");
    this.el = h("div.dashboard", null,
      h("div.page-head", null, h("h1", { text: d.title }), d.description ? h("p.desc", { text: d.description }) : null),
      this.varBar, this.grid);
    this.unsubscribe = onTimeChange(() => this.refresh());
    window.__panoptes.panels = [];
    for (const p of d.panels) this.panels.push(this.makePanel(p));
    void this.refresh();
  }

  private makePanel(p: Panel): Rendered {
    const state: PanelState = { title: p.title, kind: p.type, state: "loading" };
    if (p.type !== "row" && p.type !== "text") window.__panoptes.panels.push(state);
    const w = Math.min(24, Math.max(1, p.gridPos?.w ?? (p.type === "row" ? 24 : 12)));
    if (p.type === "row") {
      const el = h("h2.row-title", { text: p.title });
      el.style.gridColumn = "1 / -1";
      this.grid.append(el);
      return { panel: p, el, body: el, state };
    }
    const body = h("div.panel-body");
    const title = h("div.panel-title", { title: p.description || "" }, h("span", { text: p.title }));
    const el = h("section.panel", { "data-type": p.type, "data-title": p.title }, title, body);
    el.style.gridColumn = `span ${w}`;
    el.style.setProperty("--w", String(w));
    if (p.type === "text") body.innerHTML = "<p>" + esc(p.text || "").replace(/\n\n/g, "</p><p>") + "</p>";
    this.grid.append(el);
    return { panel: p, el, body, state };
  }

  /** refresh re-resolves variables, then reloads every panel. */
  async refresh(): Promise<void> {
    const gen = ++this.generation;
    window.__panoptes.ready = false;
    const w = timeWindow();
    try {
      await Promise.all([this.resolveVars(w), loadScrapeInterval()]);
    } catch (e: any) {
      this.varSignature = "";
      this.varBar.replaceChildren(h("div.error", { text: String(e.message || e) }));
    }
    if (gen !== this.generation) return;
    await Promise.all(this.panels.map((r) => this.load(r, w)));
    if (gen === this.generation) {
      window.__panoptes.ready = true;
      window.__panoptes.readyAt = performance.now();
    }
  }

  private async resolveVars(w: Window): Promise<void> {
    const params = currentRoute().params;
    const bar = h("div.vars");
    const vars: Record<string, string> = {};
    this.vars = vars;
    const sig: unknown[] = [];
    for (const v of this.d.variables || []) {
      const choices = await varChoices(v, w, vars);
      // A value the URL names stays selectable even when the range has no
      // series with it (a shared link to an older range, a pod gone since).
      for (const c of params.getAll("var-" + v.name)) if (c !== "$__all" && !choices.includes(c) && v.type !== "textbox") choices.push(c);
      const wanted = params.getAll("var-" + v.name);
      let chosen: string[] = wanted.length ? wanted : v.default !== undefined ? [v.default] : v.includeAll ? ["$__all"] : choices.slice(0, 1);
      if (v.type === "textbox") chosen = wanted.length ? wanted : [v.default || ""];
      const isAll = chosen.includes("$__all");
      let value: string;
      if (isAll) value = v.allValue ?? ".*";
      else if (chosen.length > 1) value = "(" + chosen.map(regexEscape).join("|") + ")";
      else value = promString(chosen[0] ?? "");
      vars[v.name] = value;
      sig.push(v.name, choices, chosen);
      if (v.hide) continue;
      let input: HTMLElement;
      if (v.type === "textbox") {
        input = h("input", { value: chosen[0] ?? "", onchange: (e: Event) => this.setVar(v.name, [(e.target as HTMLInputElement).value]) });
      } else {
        const sel = h("select", { multiple: !!v.multi, onchange: () => this.setVar(v.name, [...(sel as HTMLSelectElement).selectedOptions].map((o) => o.value)) }) as HTMLSelectElement;
        if (v.includeAll) sel.append(h("option", { value: "$__all", text: "All", selected: isAll }) as HTMLOptionElement);
        for (const c of choices) sel.append(h("option", { value: c, text: c, selected: chosen.includes(c) }) as HTMLOptionElement);
        if (!choices.length && !v.includeAll) sel.append(h("option", { value: "", text: "(none)" }));
        input = sel;
      }
      bar.append(h("label.var", null, h("span", { text: v.label || v.name }), input));
    }
    // An auto-refresh that finds the same choices leaves the selectors alone
    // (one that is open stays open).
    const signature = JSON.stringify(sig);
    if (signature !== this.varSignature) {
      this.varSignature = signature;
      this.varBar.replaceChildren(...bar.childNodes);
    }
  }

  private varSignature = "";

  private setVar(name: string, values: string[]): void {
    updateParams((p) => {
      p.delete("var-" + name);
      for (const v of values) p.append("var-" + name, v);
    }, true);
    void this.refresh();
  }

  private exprFor(t: Target, step: number, w: Window): string {
    return substitute(t.expr, {
      ...this.vars,
      __rate_interval: promDuration(rateInterval(step)),
      __interval: promDuration(step),
      __range: promDuration(Math.max(1, Math.round(w.end - w.start))),
    });
  }

  /** stepFor is Grafana's: about one point per pixel of the panel's width (maxDataPoints overrides), no finer than interval. */
  private stepFor(p: Panel, w: Window, width = 0): number {
    const min = p.interval ? parseDuration(p.interval) : NaN;
    const points = p.maxDataPoints || (p.type === "stat" ? 200 : Math.max(200, Math.min(1500, Math.round(width || 800))));
    return autoStep(w, points, isFinite(min) ? min : 1);
  }

  private async load(r: Rendered, w: Window): Promise<void> {
    const p = r.panel;
    if (p.type === "row" || p.type === "text") return;
    r.abort?.abort();
    const abort = new AbortController();
    r.abort = abort;
    r.el.classList.add("loading");
    try {
      if (p.type === "table") await this.loadTable(r, w, abort.signal);
      else await this.loadSeries(r, w, abort.signal);
    } catch (e: any) {
      if (e?.name === "AbortError") return;
      this.showError(r, String(e?.message || e));
    } finally {
      if (r.abort === abort) r.el.classList.remove("loading");
    }
  }

  private showError(r: Rendered, msg: string): void {
    r.chart?.destroy();
    r.chart = undefined;
    r.body.innerHTML = "";
    r.body.append(h("div.error", { text: msg }));
    Object.assign(r.state, { state: "error", error: msg, series: 0, points: 0, rows: 0 });
  }

  private showNoData(r: Rendered): void {
    r.chart?.destroy();
    r.chart = undefined;
    r.body.innerHTML = "";
    r.body.append(h("div.nodata", { text: "No data" }));
    Object.assign(r.state, { state: "nodata", error: undefined, series: 0, points: 0, rows: 0 });
  }

  private async loadSeries(r: Rendered, w: Window, signal: AbortSignal): Promise<void> {
    const p = r.panel;
    const step = this.stepFor(p, w, r.el.clientWidth);
    const targets = p.targets || [];
    const g = stepGrid(w.start, w.end, step);
    const exprs = targets.map((t) => this.exprFor(t, step, w));
    r.state.queries = exprs;
    const results = await Promise.all(exprs.map((e) => queryRange(e, g.start, g.end, step, signal)));
    if (signal.aborted) return;
    const xs = g.xs;
    const series = results.flatMap((res, i) => align(xs, res.result, targets[i].legendFormat));
    const points = countPoints(series);
    if (points === 0) return this.showNoData(r);
    Object.assign(r.state, { state: "ok", error: undefined, series: series.length, points });
    if (p.type === "stat") return this.renderStat(r, series);
    if (!r.chart) {
      r.body.innerHTML = "";
      const height = Math.max(120, (p.gridPos?.h ?? 8) * 30 - 40);
      r.chart = new TimeChart(r.body, { title: p.title, unit: p.unit, stacked: p.stack, height, min: p.min, max: p.max, onZoom: zoomTo });
    }
    r.chart.setData(xs, series);
  }

  private renderStat(r: Rendered, series: { name: string; values: (number | null)[] }[]): void {
    const p = r.panel;
    r.body.innerHTML = "";
    const box = h("div.stat");
    for (const s of series.slice(0, 6)) {
      let last: number | null = null;
      for (let i = s.values.length - 1; i >= 0 && last === null; i--) last = s.values[i];
      box.append(h("div.stat-item", null,
        h("div.stat-value", { text: fmt(p.unit, last, p.decimals ?? 2) }),
        series.length > 1 || (p.targets?.[0]?.legendFormat) ? h("div.stat-name", { text: s.name }) : null,
        sparkline(s.values, 120, 26)));
    }
    r.body.append(box);
  }

  private async loadTable(r: Rendered, w: Window, signal: AbortSignal): Promise<void> {
    const p = r.panel;
    const targets = p.targets || [];
    const step = this.stepFor(p, w);
    const results = await Promise.all(targets.map((t) => queryInstant(this.exprFor(t, step, w), w.end, signal)));
    if (signal.aborted) return;
    const rows = new Map<string, { labels: Record<string, string>; values: (number | null)[] }>();
    const labelNames = new Set<string>();
    results.forEach((res, i) => {
      const samples: Sample[] = res.resultType === "scalar" ? [{ metric: {}, value: res.result as any }] : res.result;
      for (const s of samples) {
        const key = labelKey(s.metric, p.labels);
        let row = rows.get(key);
        if (!row) {
          row = { labels: {}, values: new Array(targets.length).fill(null) };
          rows.set(key, row);
        }
        for (const [k, v] of Object.entries(s.metric)) {
          if (k === "__name__" || (p.labels && !p.labels.includes(k))) continue;
          row.labels[k] = v;
          labelNames.add(k);
        }
        row.values[i] = s.value ? num(s.value[1]) : null;
      }
    });
    if (rows.size === 0) return this.showNoData(r);
    Object.assign(r.state, { state: "ok", error: undefined, rows: rows.size });
    const cols = p.labels ? p.labels.filter((l) => labelNames.has(l)) : [...labelNames].sort();
    const data = [...rows.values()];
    const headers = [...cols, ...targets.map((t, i) => t.legendFormat || t.refId || `#${i + 1}`)];
    r.body.innerHTML = "";
    r.body.append(sortableTable(headers, data.map((row) => [
      ...cols.map((c) => ({ text: row.labels[c] ?? "", sort: row.labels[c] ?? "" })),
      ...row.values.map((v, i) => ({ text: fmt(targets[i].unit || p.unit, v, p.decimals ?? 2), sort: v ?? -Infinity, num: true })),
    ]), p.link ? (i) => {
      location.hash = substituteLink(p.link!, data[i].labels);
    } : undefined));
  }

  destroy(): void {
    this.generation++;
    this.unsubscribe();
    for (const r of this.panels) {
      r.abort?.abort();
      r.chart?.destroy();
    }
  }
}

function substituteLink(tpl: string, labels: Record<string, string>): string {
  return tpl.replace(/\{\{\s*(\w+)\s*\}\}/g, (_, l) => encodeURIComponent(labels[l] ?? ""));
}

export interface Cell {
  text: string;
  sort: string | number;
  num?: boolean;
  node?: Node;
}

/** sortableTable renders rows with headers that sort on click. */
export function sortableTable(headers: string[], rows: Cell[][], onRow?: (i: number) => void, initialSort = -1, desc = true): HTMLElement {
  const table = h("table.data") as HTMLTableElement;
  let sortCol = initialSort;
  let sortDesc = desc;
  const order = rows.map((_, i) => i);
  const render = () => {
    if (sortCol >= 0) {
      order.sort((a, b) => {
        const x = rows[a][sortCol].sort, y = rows[b][sortCol].sort;
        const c = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y), undefined, { numeric: true });
        return sortDesc ? -c : c;
      });
    }
    table.innerHTML = "";
    const head = table.createTHead().insertRow();
    headers.forEach((name, i) => {
      const th = h("th", { text: name + (i === sortCol ? (sortDesc ? " ▾" : " ▴") : ""), class: rows[0]?.[i]?.num ? "num" : "" });
      th.addEventListener("click", () => {
        if (sortCol === i) sortDesc = !sortDesc;
        else { sortCol = i; sortDesc = !!rows[0]?.[i]?.num; }
        render();
      });
      head.append(th);
    });
    const body = table.createTBody();
    for (const i of order) {
      const tr = body.insertRow();
      if (onRow) {
        tr.className = "link";
        tr.addEventListener("click", () => onRow(i));
      }
      for (const c of rows[i]) {
        const td = tr.insertCell();
        if (c.num) td.className = "num";
        if (c.node) td.append(c.node);
        else td.textContent = c.text;
      }
    }
  };
  render();
  return h("div.table-wrap", null, table);
}

/** loadDashboard fetches a dashboard by id from the server. */
export async function loadDashboard(id: string): Promise<Dashboard> {
  return api<Dashboard>(`api/ui/dashboards/${encodeURIComponent(id)}`);
}

export { legendName };
