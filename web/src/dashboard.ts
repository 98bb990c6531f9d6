// Dashboards are data (web/dashboards/*.yaml, documented in
// web/dashboards/README.md, and Grafana's JSON, imported by the server into
// the same model): this renders one — its variables, links and import
// summary, then its panels (timeseries, stat, gauge, bargauge, table, text,
// heatmap, piechart, placeholder; rows that fold) on a 24-column grid, each
// with its own error and no-data message. Panels are queried when they come
// into view, and a collapsed row's when it is opened; repeated panels and
// rows are drawn once per value of their variable.

import { api, APIError, metricNames, queryInstant, queryRange, type RangeResult, type Sample } from "./api";
import { TimeChart, sparkline, type PanelState, type Series } from "./chart";
import { parseLe, renderBarGauge, renderGauge, renderHeatmap, renderPie, seriesItems, thresholdColor, type Bucket, type Thresholds } from "./panels";
import { align, countPoints, legendName, labelKey, num, regexEscape, stepGrid, substitute } from "./query";
import { autoStep, currentRoute, scrapeInterval, esc, h, loadScrapeInterval, onTimeChange, rateInterval, timeWindow, updateParams, zoomTo, type Window } from "./state";
import { fmt, parseDuration, promDuration } from "./units";

export interface Target {
  expr: string;
  legendFormat?: string;
  unit?: string;
  refId?: string;
  format?: "time_series" | "table" | "heatmap";
  instant?: boolean;
  hide?: boolean;
}

export interface Link {
  title?: string;
  url: string;
}

export interface Panel {
  title: string;
  type: "timeseries" | "stat" | "gauge" | "bargauge" | "table" | "text" | "row" | "heatmap" | "piechart" | "placeholder";
  description?: string;
  unit?: string;
  stack?: boolean;
  min?: number;
  max?: number;
  decimals?: number;
  gridPos?: { x?: number; y?: number; w?: number; h?: number };
  interval?: string;
  maxDataPoints?: number;
  targets?: Target[];
  labels?: string[];
  link?: string;
  links?: Link[];
  text?: string;
  thresholds?: Thresholds;
  reduce?: string;
  pieType?: "pie" | "donut";
  orientation?: string;
  repeat?: string;
  repeatDirection?: "h" | "v";
  maxPerRow?: number;
  collapsed?: boolean;
  panels?: Panel[];
  originalType?: string;
}

export interface Variable {
  name: string;
  label?: string;
  type?: "query" | "custom" | "textbox" | "constant" | "interval";
  query?: string;
  regex?: string;
  options?: string[];
  default?: string;
  multi?: boolean;
  includeAll?: boolean;
  allValue?: string;
  hide?: boolean;
}

export interface ImportSummary {
  format: string;
  panels: number;
  rendered: number;
  placeholders?: { panel: string; type: string }[];
  unresolvedVariables?: { name: string; reason: string }[];
  ignored?: string[];
}

export interface Dashboard {
  id: string;
  title: string;
  description?: string;
  tags?: string[];
  links?: Link[];
  folder?: string;
  import?: ImportSummary;
  variables?: Variable[];
  panels: Panel[];
}

/** A row header on the page: its panels show and load only while it is open. */
interface RowBlock {
  el: HTMLElement;
  open: boolean;
  members: Rendered[];
}

interface Rendered {
  panel: Panel;
  /** The repeat variables' values of this copy of a repeated panel or row. */
  scope: Record<string, string>;
  el: HTMLElement;
  body: HTMLElement;
  state: PanelState;
  chart?: TimeChart;
  abort?: AbortController;
  row?: RowBlock;
  /** Queried for the current range and variables; false until it comes into view. */
  fresh: boolean;
}

/** variableRegex compiles a Grafana variable regex, /re/flags or a bare one. */
export function variableRegex(s: string): RegExp {
  const m = /^\/(.*)\/([gimsuy]*)$/s.exec(s);
  return m ? new RegExp(m[1], m[2].replace("g", "")) : new RegExp(s);
}

/** applyRegex keeps the values the regex matches; with a capture group the value is its first group. */
export function applyRegex(values: string[], re?: string): string[] {
  if (!re) return values;
  const r = variableRegex(re);
  const out: string[] = [];
  for (const v of values) {
    const m = r.exec(v);
    if (!m) continue;
    const x = m.groups?.value ?? m[1] ?? v;
    if (!out.includes(x)) out.push(x);
  }
  return out;
}

/** queryResultText is a query_result() result as Grafana's variable sees it: `metric{labels} value timestampMs`. */
function queryResultText(res: RangeResult): string[] {
  if (res.resultType === "scalar" || res.resultType === "string") {
    const v = res.result as unknown as [number, string];
    return [`${res.resultType} ${v[1]} ${Math.round(v[0] * 1000)}`];
  }
  return (res.result as Sample[]).map((s) => {
    const name = s.metric.__name__ || "";
    const rest = Object.keys(s.metric).filter((k) => k !== "__name__").map((k) => `${k}="${s.metric[k]}"`);
    return `${name}{${rest.join(",")}} ${s.value?.[1] ?? ""} ${Math.round((s.value?.[0] ?? 0) * 1000)}`;
  });
}

/** varChoices resolves the choices of a variable: custom and interval options, or a query's values, filtered by its regex. */
async function varChoices(v: Variable, w: Window, vars: Record<string, string>): Promise<string[]> {
  if (v.type === "custom" || v.type === "interval") return v.options || [];
  if (v.type === "textbox" || v.type === "constant") return v.default !== undefined ? [v.default] : [];
  const q = (v.query || "").trim();
  const range = { start: String(Math.floor(w.start)), end: String(Math.ceil(w.end)) };
  let vals: string[];
  let m: RegExpExecArray | null;
  if ((m = /^label_values\(\s*(?:(.+?)\s*,\s*)?([a-zA-Z_][a-zA-Z0-9_]*)\s*\)$/s.exec(q))) {
    const params: Record<string, string | string[]> = { ...range };
    if (m[1]) params["match[]"] = [substitute(m[1], vars)];
    vals = (await api<string[]>(`api/v1/label/${encodeURIComponent(m[2])}/values`, params)).sort();
  } else if (/^label_names\(\s*\)$/.test(q)) {
    vals = (await api<string[]>("api/v1/labels", range)).sort();
  } else if ((m = /^metrics\((.*)\)$/s.exec(q))) {
    const re = new RegExp(m[1].trim() || ".*");
    vals = (await metricNames()).filter((n) => re.test(n)).sort();
  } else if ((m = /^query_result\((.+)\)$/s.exec(q))) {
    vals = queryResultText(await queryInstant(substitute(m[1], vars), w.end));
  } else {
    throw new APIError(`variable ${v.name}: query must be label_values([selector,] label), label_names(), metrics(regex) or query_result(expr), got ${JSON.stringify(v.query)}`);
  }
  return applyRegex(vals, v.regex);
}

function promString(s: string): string {
  return s.replace(/\\/g, "\\\\").replace(/"/g, '\\"');
}

/** isPanelWithQueries: the types that query the server. */
function queries(p: Panel): boolean {
  return !["row", "text", "placeholder"].includes(p.type);
}

function linkList(links: Link[] | undefined, vars: Record<string, string>, cls: string): HTMLElement | null {
  if (!links?.length) return null;
  return h("span." + cls, null, ...links.map((l) => {
    const url = substitute(l.url, vars);
    return h("a", { href: url, text: l.title || url, title: url, target: /^https?:/.test(url) ? "_blank" : undefined, rel: "noopener" });
  }));
}

function importSummary(s: ImportSummary): HTMLElement {
  const ph = s.placeholders || [];
  const un = s.unresolvedVariables || [];
  let line = `Imported from ${s.format === "grafana" ? "Grafana" : s.format}: ${s.panels} panels, ${s.rendered} drawn`;
  if (ph.length) line += `, ${ph.length} placeholder${ph.length > 1 ? "s" : ""} (${[...new Set(ph.map((p) => p.type))].join(", ")})`;
  if (un.length) line += `; unresolved variables: ${un.map((u) => u.name).join(", ")}`;
  return h("details.import-summary", null, h("summary", { text: line }),
    h("ul", null,
      ...ph.map((p) => h("li", { text: `Panel “${p.panel}”: type ${p.type} is not supported, shown as a placeholder` })),
      ...un.map((u) => h("li", { text: `Variable ${u.name}: ${u.reason}` })),
      ...(s.ignored || []).map((i) => h("li", { text: `Ignored: ${i}` }))));
}

// How far outside the viewport a panel is queried before it is scrolled to.
const lookahead = "50% 0px 50% 0px";
// A dashboard of at most this many panels that query loads them all at once
// (a page that is whole when printed or shared; 24 queries are quick); a
// larger one queries those in view and the others as they come into view.
// Either way a collapsed row's panels wait until it is opened.
const eagerPanels = 24;

export class DashboardView {
  readonly el: HTMLElement;
  private panels: Rendered[] = [];
  private varBar: HTMLElement;
  private grid: HTMLElement;
  private vars: Record<string, string> = {};
  /** The selected values of each variable (All: every choice), for repeats. */
  private selected: Record<string, string[]> = {};
  private unsubscribe: () => void;
  private generation = 0;
  private layoutSig = "";
  private observer: IntersectionObserver;
  private byEl = new Map<Element, Rendered>();
  private pending = 0;
  private varsDone = false;
  private window: Window = timeWindow();

  constructor(private d: Dashboard) {
    this.varBar = h("div.vars");
    this.grid = h("div.grid");
    this.el = h("div.dashboard", null,
      h("div.page-head", null, h("h1", { text: d.title }),
        d.tags?.length ? h("span.tags", null, ...d.tags.map((t) => h("span.tag", { text: t }))) : null,
        linkList(d.links, {}, "dash-links"),
        d.description ? h("p.desc", { text: d.description }) : null,
        d.import ? importSummary(d.import) : null),
      this.varBar, this.grid);
    this.observer = new IntersectionObserver((entries) => {
      for (const e of entries) {
        const r = this.byEl.get(e.target);
        if (r && e.isIntersecting && !r.fresh && this.varsDone) void this.load(r, this.window);
      }
    }, { rootMargin: lookahead });
    this.unsubscribe = onTimeChange(() => this.refresh());
    window.__panoptes.panels = [];
    window.__panoptes.sent = window.__panoptes.sent || [];
    void this.refresh();
  }

  /** layout draws the panels afresh: rows, repeats (by the selected values) and placeholders. */
  private layout(): void {
    for (const r of this.panels) {
      r.abort?.abort();
      r.chart?.destroy();
    }
    this.observer.disconnect();
    this.byEl.clear();
    this.panels = [];
    this.grid.replaceChildren();
    window.__panoptes.panels = [];
    window.__panoptes.charts.length = 0;
    const list = this.d.panels;
    for (let i = 0; i < list.length; i++) {
      const p = list[i];
      if (p.type !== "row") {
        this.addRepeated(p, {}, undefined);
        continue;
      }
      // An open row's panels follow it up to the next row; a collapsed one holds them.
      let children: Panel[];
      if (p.collapsed) children = p.panels || [];
      else {
        children = [];
        while (i + 1 < list.length && list[i + 1].type !== "row") children.push(list[++i]);
      }
      const values = p.repeat ? this.selected[p.repeat] || [] : [undefined];
      for (const v of values) {
        const scope: Record<string, string> = p.repeat && v !== undefined ? { [p.repeat]: v } : {};
        const row = this.addRow(p, scope);
        for (const c of children) this.addRepeated(c, scope, row);
      }
    }
    for (const r of this.panels) if (queries(r.panel)) this.observer.observe(r.el);
  }

  private addRow(p: Panel, scope: Record<string, string>): RowBlock {
    const row: RowBlock = { el: h("div"), open: !p.collapsed, members: [] };
    const title = substitute(p.title, { ...this.vars, ...this.scopeVars(scope) });
    const el = h("h2.row-title" + (row.open ? "" : ".collapsed"), { "data-title": title, role: "button", tabindex: "0", title: "Show or hide this row's panels" },
      h("span.caret", { text: row.open ? "▾ " : "▸ " }), title, h("small.row-count", null));
    el.style.gridColumn = "1 / -1";
    el.addEventListener("click", () => this.toggleRow(row));
    el.addEventListener("keydown", (e) => { if ((e as KeyboardEvent).key === "Enter") this.toggleRow(row); });
    row.el = el;
    this.grid.append(el);
    return row;
  }

  private toggleRow(row: RowBlock): void {
    row.open = !row.open;
    row.el.classList.toggle("collapsed", !row.open);
    row.el.querySelector(".caret")!.textContent = row.open ? "▾ " : "▸ ";
    for (const m of row.members) m.el.hidden = !row.open;
    // Opened members come into view and the observer queries them.
  }

  private scopeVars(scope: Record<string, string>): Record<string, string> {
    const out: Record<string, string> = {};
    for (const [k, v] of Object.entries(scope)) out[k] = promString(v);
    return out;
  }

  /** addRepeated adds p, or one copy per selected value of its repeat variable. */
  private addRepeated(p: Panel, scope: Record<string, string>, row?: RowBlock): void {
    if (!p.repeat || scope[p.repeat] !== undefined) {
      this.addPanel(p, scope, row);
      return;
    }
    const values = this.selected[p.repeat] || [];
    const n = values.length;
    if (p.repeatDirection === "v") {
      for (const v of values) this.addPanel(p, { ...scope, [p.repeat]: v }, row, p.gridPos?.w ?? 12, true);
      return;
    }
    const per = p.maxPerRow ? Math.min(n, p.maxPerRow) : 0;
    const w = per ? Math.max(1, Math.floor(24 / per)) : p.gridPos?.w ?? 12;
    for (const v of values) this.addPanel(p, { ...scope, [p.repeat]: v }, row, w);
  }

  private addPanel(p: Panel, scope: Record<string, string>, row?: RowBlock, width?: number, ownLine = false): void {
    const vars = { ...this.vars, ...this.scopeVars(scope) };
    const title = substitute(p.title, vars);
    const kind = p.type === "placeholder" ? "placeholder" : p.type;
    const state: PanelState = { title, kind, state: queries(p) ? "idle" : "ok" };
    if (p.type !== "text") window.__panoptes.panels.push(state);
    const w = Math.min(24, Math.max(1, width ?? p.gridPos?.w ?? 12));
    const body = h("div.panel-body");
    const links = [...(p.links || [])];
    const titleEl = h("div.panel-title", { title: p.description || "" }, h("span", { text: title }), linkList(links, vars, "panel-links"));
    const el = h("section.panel", { "data-type": p.type, "data-title": title }, titleEl, body);
    if (ownLine) el.style.gridColumn = `1 / span ${w}`;
    else if (p.gridPos?.x !== undefined && !p.repeat) el.style.gridColumn = `${Math.min(p.gridPos.x, 24 - w) + 1} / span ${w}`;
    else el.style.gridColumn = `span ${w}`;
    el.style.setProperty("--w", String(w));
    if (p.type === "text") body.innerHTML = "<p>" + esc(substitute(p.text || "", vars)).replace(/\n\n/g, "</p><p>") + "</p>";
    // The panel holds its grid height before its data comes, so that what
    // is in view is known before anything is drawn.
    if (queries(p) && p.gridPos?.h) body.style.minHeight = Math.max(40, p.gridPos.h * 30 - 40) + "px";
    else if (queries(p) && ["timeseries", "heatmap"].includes(p.type)) body.style.minHeight = "200px";
    if (p.type === "placeholder") {
      body.append(h("div.placeholder", { text: `Panel type ${p.originalType || "unknown"} is not supported` }));
      if (p.gridPos?.h) body.style.minHeight = Math.max(60, p.gridPos.h * 30 - 40) + "px";
    }
    const r: Rendered = { panel: { ...p, title }, scope, el, body, state, row, fresh: false };
    if (row) {
      row.members.push(r);
      el.hidden = !row.open;
    }
    this.grid.append(el);
    this.byEl.set(el, r);
    this.panels.push(r);
  }

  /** refresh re-resolves variables, then reloads the panels in view; the others load when they come into view. */
  async refresh(): Promise<void> {
    const gen = ++this.generation;
    window.__panoptes.ready = false;
    this.varsDone = false;
    const w = timeWindow();
    this.window = w;
    try {
      await Promise.all([this.resolveVars(w), loadScrapeInterval()]);
    } catch (e: any) {
      this.varSignature = "";
      this.varBar.replaceChildren(h("div.error", { text: String(e.message || e) }));
    }
    if (gen !== this.generation) return;
    const sig = JSON.stringify([this.selected, this.vars]);
    if (sig !== this.layoutSig) {
      this.layoutSig = sig;
      this.layout();
    }
    this.varsDone = true;
    const loads: Promise<void>[] = [];
    const eager = this.panels.filter((r) => queries(r.panel)).length <= eagerPanels;
    for (const r of this.panels) {
      r.fresh = false;
      if (queries(r.panel) && (eager ? !r.el.hidden : this.inView(r.el))) loads.push(this.load(r, w));
    }
    this.settled();
    await Promise.all(loads);
  }

  /** inView: shown (not in a closed row) and within the lookahead of the viewport. */
  private inView(el: HTMLElement): boolean {
    if (el.hidden || !el.isConnected) return false;
    const b = el.getBoundingClientRect();
    if (b.width === 0 && b.height === 0) return false;
    const vh = window.innerHeight || 800;
    return b.bottom >= -vh / 2 && b.top <= vh * 1.5;
  }

  private settled(): void {
    if (this.pending === 0 && this.varsDone) {
      window.__panoptes.ready = true;
      window.__panoptes.readyAt = performance.now();
    }
  }

  private async resolveVars(w: Window): Promise<void> {
    const params = currentRoute().params;
    const bar = h("div.vars");
    const vars: Record<string, string> = {};
    const selected: Record<string, string[]> = {};
    const sig: unknown[] = [];
    const builtins = this.builtins(w, autoStep(w, 800));
    for (const v of this.d.variables || []) {
      const choices = await varChoices(v, w, { ...builtins, ...vars });
      // A value the URL names stays selectable even when the range has no
      // series with it (a shared link to an older range, a pod gone since).
      for (const c of params.getAll("var-" + v.name)) if (c !== "$__all" && !choices.includes(c) && v.type !== "textbox") choices.push(c);
      const wanted = params.getAll("var-" + v.name);
      // As Grafana: a query variable's saved value that its refreshed
      // choices no longer hold (an exported dashboard's host) falls back to
      // the first choice; custom, interval and constant ones keep theirs.
      const stale = (v.type === undefined || v.type === "query") && v.default !== undefined && choices.length > 0 && !choices.includes(v.default);
      let chosen: string[] = wanted.length ? wanted : v.default !== undefined && !stale ? [v.default] : v.includeAll ? ["$__all"] : choices.slice(0, 1);
      if (v.type === "textbox") chosen = wanted.length ? wanted : [v.default || ""];
      const isAll = chosen.includes("$__all");
      let value: string;
      if (isAll) value = v.allValue ?? (v.type === "custom" && choices.length ? "(" + choices.map(regexEscape).join("|") + ")" : ".*");
      else if (chosen.length > 1) value = "(" + chosen.map(regexEscape).join("|") + ")";
      else if (v.type === "interval") value = chosen[0] === "auto" ? promDuration(autoStep(w, 30)) : chosen[0] ?? "";
      else value = promString(chosen[0] ?? "");
      vars[v.name] = value;
      selected[v.name] = isAll ? choices.slice() : chosen.slice();
      sig.push(v.name, choices, chosen);
      if (v.hide) continue;
      let input: HTMLElement;
      if (v.type === "textbox") {
        input = h("input", { value: chosen[0] ?? "", onchange: (e: Event) => this.setVar(v.name, [(e.target as HTMLInputElement).value]) });
      } else {
        const sel = h("select", { name: "var-" + v.name, multiple: !!v.multi, onchange: () => this.setVar(v.name, [...(sel as HTMLSelectElement).selectedOptions].map((o) => o.value)) }) as HTMLSelectElement;
        if (v.includeAll) sel.append(h("option", { value: "$__all", text: "All", selected: isAll }) as HTMLOptionElement);
        for (const c of choices) sel.append(h("option", { value: c, text: c, selected: chosen.includes(c) }) as HTMLOptionElement);
        if (!choices.length && !v.includeAll) sel.append(h("option", { value: "", text: "(none)" }));
        input = sel;
      }
      bar.append(h("label.var", null, h("span", { text: v.label || v.name }), input));
    }
    this.vars = vars;
    this.selected = selected;
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

  /** builtins are Grafana's global variables for a range and step. */
  private builtins(w: Window, step: number): Record<string, string> {
    const ri = rateInterval(step);
    const span = Math.max(1, Math.round(w.end - w.start));
    // As Grafana: $__interval is never below the scrape interval (the data
    // source's), or rate(x[$__interval]) over a short range has no two samples.
    const iv = Math.max(step, scrapeInterval());
    return {
      __rate_interval: promDuration(ri), __rate_interval_ms: String(ri * 1000),
      __interval: promDuration(iv), __interval_ms: String(Math.round(iv * 1000)),
      __range: promDuration(span), __range_s: String(span), __range_ms: String(span * 1000),
      __from: String(Math.round(w.start * 1000)), __to: String(Math.round(w.end * 1000)),
      __dashboard: this.d.title,
    };
  }

  private exprFor(r: Rendered, t: Target, step: number, w: Window): string {
    return substitute(t.expr, { ...this.vars, ...this.scopeVars(r.scope), ...this.builtins(w, step) });
  }

  /** stepFor is Grafana's: about one point per pixel of the panel's width (maxDataPoints overrides), no finer than interval. */
  private stepFor(r: Rendered, w: Window, width = 0): number {
    const p = r.panel;
    const iv = p.interval ? substitute(p.interval, { ...this.vars, ...this.scopeVars(r.scope) }) : "";
    const min = iv ? parseDuration(iv) : NaN;
    const single = ["stat", "gauge", "bargauge", "piechart"].includes(p.type);
    const points = p.maxDataPoints || (single ? 200 : Math.max(200, Math.min(1500, Math.round(width || 800))));
    return autoStep(w, points, isFinite(min) ? min : 1);
  }

  private async load(r: Rendered, w: Window): Promise<void> {
    const p = r.panel;
    if (!queries(p)) return;
    r.fresh = true;
    r.abort?.abort();
    const abort = new AbortController();
    r.abort = abort;
    r.el.classList.add("loading");
    if (r.state.state === "idle") r.state.state = "loading";
    this.pending++;
    window.__panoptes.ready = false;
    try {
      const targets = (p.targets || []).filter((t) => !t.hide);
      if (p.type === "table" || targets.some((t) => t.format === "table")) await this.loadTable(r, w, abort.signal);
      else if (p.type === "heatmap") await this.loadHeatmap(r, w, abort.signal);
      else await this.loadSeries(r, w, abort.signal);
    } catch (e: any) {
      if (e?.name !== "AbortError") this.showError(r, String(e?.message || e));
    } finally {
      if (r.abort === abort) r.el.classList.remove("loading");
      // For bench/ui.sh: when the page drew its first panel (ms since navigation).
      if (window.__panoptes.firstPanelAt === undefined && r.state.state !== "loading") window.__panoptes.firstPanelAt = performance.now();
      this.pending--;
      this.settled();
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

  /** query runs a target as a range query, or an instant one whose value is placed at the grid's last slot. */
  private async query(r: Rendered, t: Target, g: { start: number; end: number; xs: number[] }, step: number, w: Window, signal: AbortSignal): Promise<Sample[]> {
    const expr = this.exprFor(r, t, step, w);
    window.__panoptes.sent?.push(expr);
    if (!t.instant) return (await queryRange(expr, g.start, g.end, step, signal)).result;
    const res = await queryInstant(expr, w.end, signal);
    const last = g.xs[g.xs.length - 1];
    const samples: Sample[] = res.resultType === "scalar" ? [{ metric: {}, value: res.result as any }] : res.result;
    return samples.map((s) => ({ metric: s.metric, values: s.value ? [[last, s.value[1]]] : [] }));
  }

  /** queryTargets runs a panel's visible targets on one step grid; null when aborted. */
  private async queryTargets(r: Rendered, w: Window, signal: AbortSignal) {
    const step = this.stepFor(r, w, r.el.clientWidth);
    const targets = (r.panel.targets || []).filter((t) => !t.hide);
    const g = stepGrid(w.start, w.end, step);
    r.state.queries = targets.map((t) => this.exprFor(r, t, step, w));
    const results = await Promise.all(targets.map((t) => this.query(r, t, g, step, w, signal)));
    return signal.aborted ? null : { g, targets, results };
  }

  private async loadSeries(r: Rendered, w: Window, signal: AbortSignal): Promise<void> {
    const p = r.panel;
    const q = await this.queryTargets(r, w, signal);
    if (!q) return;
    const { targets, results } = q;
    const xs = q.g.xs;
    const series = results.flatMap((res, i) => align(xs, res, targets[i].legendFormat ? substitute(targets[i].legendFormat!, this.scopeVars(r.scope)) : undefined));
    const points = countPoints(series);
    if (points === 0) return this.showNoData(r);
    Object.assign(r.state, { state: "ok", error: undefined, series: series.length, points });
    const vo = { unit: p.unit, decimals: p.decimals, min: p.min, max: p.max, thresholds: p.thresholds };
    switch (p.type) {
      case "stat":
        return this.renderStat(r, series);
      case "gauge":
        r.body.innerHTML = "";
        return renderGauge(r.body, seriesItems(series, p.reduce), vo);
      case "bargauge":
        r.body.innerHTML = "";
        return renderBarGauge(r.body, seriesItems(series, p.reduce), { ...vo, orientation: p.orientation });
      case "piechart":
        r.body.innerHTML = "";
        renderPie(r.body, seriesItems(series, p.reduce), { ...vo, donut: p.pieType === "donut" });
        return;
    }
    if (!r.chart) {
      r.body.innerHTML = "";
      const height = Math.max(120, (p.gridPos?.h ?? 8) * 30 - 40);
      r.chart = new TimeChart(r.body, { title: p.title, unit: p.unit, stacked: p.stack, height, min: p.min, max: p.max, onZoom: zoomTo });
    }
    r.chart.setData(xs, series);
  }

  /** loadHeatmap draws classic histogram buckets: the series of each le summed, de-cumulated, one cell per step and bucket. */
  private async loadHeatmap(r: Rendered, w: Window, signal: AbortSignal): Promise<void> {
    const p = r.panel;
    const q = await this.queryTargets(r, w, signal);
    if (!q) return;
    const { g, results } = q;
    const byLe = new Map<string, Bucket>();
    for (const res of results) {
      for (const s of res) {
        const le = s.metric.le;
        const lev = parseLe(le);
        if (isNaN(lev)) continue;
        const [aligned] = align(g.xs, [s]);
        let b = byLe.get(String(lev));
        if (!b) {
          b = { le: lev, label: le!, values: new Array(g.xs.length).fill(null) };
          byLe.set(String(lev), b);
        }
        aligned.values.forEach((v, i) => {
          if (v !== null) b!.values[i] = (b!.values[i] ?? 0) + v;
        });
      }
    }
    const buckets = [...byLe.values()];
    const points = countPoints(buckets.map((b) => ({ name: b.label, values: b.values })));
    if (!buckets.length || points === 0) {
      if (results.some((res) => res.length)) return this.showError(r, "A heatmap needs series with an le label (classic histogram buckets), as `sum by (le) (rate(x_bucket[$__rate_interval]))` gives");
      return this.showNoData(r);
    }
    r.body.innerHTML = "";
    const height = Math.max(120, (p.gridPos?.h ?? 8) * 30 - 40);
    const cells = renderHeatmap(r.body, g.xs, buckets, height, p.unit);
    Object.assign(r.state, { state: "ok", error: undefined, series: buckets.length, points: cells });
  }

  private renderStat(r: Rendered, series: Series[]): void {
    const p = r.panel;
    r.body.innerHTML = "";
    const box = h("div.stat");
    for (const it of seriesItems(series.slice(0, 6), p.reduce)) {
      const s = series.find((x) => x.name === it.name)!;
      const color = thresholdColor(p.thresholds, it.value, p.min ?? 0, p.max ?? 100);
      const value = h("div.stat-value", { text: fmt(p.unit, it.value, p.decimals ?? 2) });
      if (color) {
        value.style.color = color;
        value.dataset.color = color;
      }
      box.append(h("div.stat-item", null,
        value,
        series.length > 1 || (p.targets?.[0]?.legendFormat) ? h("div.stat-name", { text: s.name }) : null,
        sparkline(s.values, 120, 26)));
    }
    r.body.append(box);
  }

  private async loadTable(r: Rendered, w: Window, signal: AbortSignal): Promise<void> {
    const p = r.panel;
    const targets = (p.targets || []).filter((t) => !t.hide);
    const step = this.stepFor(r, w);
    const exprs = targets.map((t) => this.exprFor(r, t, step, w));
    r.state.queries = exprs;
    window.__panoptes.sent?.push(...exprs);
    const results = await Promise.all(exprs.map((e) => queryInstant(e, w.end, signal)));
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
      ...row.values.map((v, i) => {
        const color = thresholdColor(p.thresholds, v, p.min ?? 0, p.max ?? 100);
        const node = color ? h("span", { text: fmt(targets[i].unit || p.unit, v, p.decimals ?? 2), style: `color:${color}` }) : undefined;
        return { text: fmt(targets[i].unit || p.unit, v, p.decimals ?? 2), sort: v ?? -Infinity, num: true, node };
      }),
    ]), p.link ? (i) => {
      location.hash = substituteLink(p.link!, data[i].labels);
    } : undefined));
  }

  destroy(): void {
    this.generation++;
    this.unsubscribe();
    this.observer.disconnect();
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
