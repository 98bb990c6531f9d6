// Explore: PromQL queries drawn together on one graph or listed as tables,
// with metric-name and label autocompletion from the API, syntax errors
// shown under the query at their position, and the whole state in the URL.

import { api, checkSyntax, metricNames, parseErrorPosition, queryInstant, queryRange, type Sample } from "./api";
import { TimeChart, type PanelState } from "./chart";
import { sortableTable } from "./dashboard";
import { align, countPoints, legendName, num, stepGrid } from "./query";
import { autoStep, currentRoute, h, onTimeChange, timeWindow, updateParams, zoomTo } from "./state";
import { fmt, parseDuration } from "./units";

const FUNCS = ["abs", "absent", "absent_over_time", "avg_over_time", "ceil", "changes", "clamp", "clamp_max", "clamp_min", "count_over_time", "day_of_month", "day_of_week", "delta", "deriv", "exp", "floor", "histogram_quantile", "holt_winters", "idelta", "increase", "irate", "label_join", "label_replace", "last_over_time", "ln", "log10", "log2", "max_over_time", "min_over_time", "predict_linear", "present_over_time", "quantile_over_time", "rate", "resets", "round", "scalar", "sort", "sort_desc", "sqrt", "stddev_over_time", "sum_over_time", "time", "timestamp", "vector"];
const AGGS = ["sum", "avg", "min", "max", "count", "count_values", "group", "stddev", "stdvar", "topk", "bottomk", "quantile", "by", "without", "on", "ignoring", "group_left", "group_right", "offset", "bool", "and", "or", "unless"];

interface QueryBox {
  el: HTMLElement;
  input: HTMLTextAreaElement;
  legend: HTMLInputElement;
  error: HTMLElement;
  check?: AbortController;
  timer?: number;
}

export class ExplorePage {
  readonly el: HTMLElement;
  private boxes: QueryBox[] = [];
  private list = h("div.queries");
  private result = h("div.panel-body");
  private chart?: TimeChart;
  private view: "graph" | "table";
  private stack: HTMLInputElement;
  private step: HTMLInputElement;
  private unsub: () => void;
  private complete = new Completer();
  private state: PanelState = { title: "explore", kind: "explore", state: "loading" };
  private abort?: AbortController;

  constructor() {
    const p = currentRoute().params;
    this.view = p.get("view") === "table" ? "table" : "graph";
    this.stack = h("input", { type: "checkbox", checked: p.get("stack") === "1", onchange: () => this.run() }) as HTMLInputElement;
    this.step = h("input.step", { placeholder: "auto", value: p.get("step") || "", title: "Resolution step, e.g. 15s (empty: automatic)", onchange: () => this.run() }) as HTMLInputElement;
    const qs = p.getAll("q");
    const ls = p.getAll("l");
    for (let i = 0; i < Math.max(1, qs.length); i++) this.addQuery(qs[i] || "", ls[i] || "");
    const tab = (v: "graph" | "table") => h("button.tab" + (this.view === v ? ".on" : ""), {
      text: v === "graph" ? "Graph" : "Table", "data-view": v,
      onclick: (e: Event) => {
        this.view = v;
        (e.target as HTMLElement).parentElement!.querySelectorAll(".tab").forEach((b) => b.classList.toggle("on", (b as HTMLElement).dataset.view === v));
        this.run();
      },
    });
    this.el = h("div.explore", null,
      h("div.page-head", null, h("h1", { text: "Explore" })),
      this.list,
      h("div.toolbar", null,
        h("button.primary", { text: "Run", title: "Shift+Enter", id: "run", onclick: () => this.run() }),
        h("button", { text: "+ Query", id: "add-query", onclick: () => { this.addQuery("", "").input.focus(); } }),
        h("span.tabs", null, tab("graph"), tab("table")),
        h("label.check", null, this.stack, " stacked"),
        h("label.check", null, "step ", this.step)),
      h("section.panel.wide.result", null, this.result),
      this.complete.el);
    window.__panoptes.panels = [this.state];
    this.unsub = onTimeChange(() => this.run());
    if (qs.some((q) => q.trim())) this.run();
    else {
      this.result.append(h("div.nodata", { text: "Type a PromQL expression and press Run (Shift+Enter)." }));
      window.__panoptes.ready = true;
    }
  }

  private addQuery(q: string, legend: string): QueryBox {
    const input = h("textarea.promql", { rows: 1, spellcheck: false, placeholder: "PromQL expression, e.g. rate(node_cpu_seconds_total[5m])", autocapitalize: "off" }) as HTMLTextAreaElement;
    input.value = q;
    const legendIn = h("input.legend-in", { placeholder: "legend, e.g. {{instance}}", value: legend, onchange: () => this.run() }) as HTMLInputElement;
    const error = h("div.query-error");
    const box: QueryBox = { el: h("div.query"), input, legend: legendIn, error };
    const remove = h("button.icon", { text: "×", title: "Remove this query", onclick: () => {
      if (this.boxes.length === 1) { input.value = ""; return; }
      this.boxes.splice(this.boxes.indexOf(box), 1);
      box.el.remove();
      this.run();
    } });
    box.el.append(h("div.query-row", null, input, legendIn, remove), error);
    input.addEventListener("input", () => {
      this.autosize(input);
      this.scheduleCheck(box);
      void this.complete.update(input);
    });
    input.addEventListener("keydown", (e) => {
      if (this.complete.key(e, input)) return;
      if (e.key === "Enter" && (e.shiftKey || e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        this.run();
      }
    });
    input.addEventListener("blur", () => setTimeout(() => this.complete.hide(), 150));
    this.boxes.push(box);
    this.list.append(box.el);
    requestAnimationFrame(() => this.autosize(input));
    return box;
  }

  private autosize(t: HTMLTextAreaElement): void {
    t.style.height = "auto";
    t.style.height = t.scrollHeight + 2 + "px";
  }

  private scheduleCheck(box: QueryBox): void {
    window.clearTimeout(box.timer);
    box.timer = window.setTimeout(async () => {
      box.check?.abort();
      const a = new AbortController();
      box.check = a;
      const q = box.input.value;
      const err = q.trim() ? await checkSyntax(q, a.signal) : null;
      if (!a.signal.aborted) showQueryError(box, err);
    }, 300);
  }

  private saveState(): void {
    updateParams((p) => {
      p.delete("q");
      p.delete("l");
      for (const b of this.boxes) {
        p.append("q", b.input.value);
        p.append("l", b.legend.value);
      }
      p.set("view", this.view);
      if (this.stack.checked) p.set("stack", "1"); else p.delete("stack");
      if (this.step.value.trim()) p.set("step", this.step.value.trim()); else p.delete("step");
    });
  }

  refresh(): void {
    if (this.boxes.some((b) => b.input.value.trim())) void this.run();
  }

  async run(): Promise<void> {
    this.saveState();
    this.complete.hide();
    this.abort?.abort();
    const abort = new AbortController();
    this.abort = abort;
    window.__panoptes.ready = false;
    const boxes = this.boxes.filter((b) => b.input.value.trim());
    const w = timeWindow();
    const stepS = parseDuration(this.step.value.trim());
    const step = isFinite(stepS) && stepS > 0 ? stepS : autoStep(w);
    const grid = stepGrid(w.start, w.end, step);
    this.result.classList.add("loading");
    try {
      if (!boxes.length) {
        this.showMessage("nodata", "No query to run.");
        return;
      }
      const settled = await Promise.allSettled(boxes.map((b) =>
        this.view === "graph" ? queryRange(b.input.value, grid.start, grid.end, step, abort.signal) : queryInstant(b.input.value, w.end, abort.signal)));
      if (abort.signal.aborted) return;
      let failed = 0;
      settled.forEach((s, i) => {
        if (s.status === "rejected") {
          failed++;
          showQueryError(boxes[i], String(s.reason?.message || s.reason));
        } else showQueryError(boxes[i], null);
      });
      if (failed === boxes.length) {
        const first = settled.find((s) => s.status === "rejected") as PromiseRejectedResult;
        this.showMessage("error", String(first.reason?.message || first.reason));
        return;
      }
      if (this.view === "graph") {
        const xs = grid.xs;
        const series = settled.flatMap((s, i) => (s.status === "fulfilled" ? align(xs, s.value.result, boxes[i].legend.value || undefined) : []));
        const points = countPoints(series);
        if (!points) return this.showMessage("nodata", "No data: the queries returned no series in this range.");
        Object.assign(this.state, { state: "ok", series: series.length, points, error: undefined, rows: undefined });
        if (!this.chart) {
          this.result.innerHTML = "";
          this.chart = new TimeChart(this.result, { title: "explore", height: 320, stacked: this.stack.checked, onZoom: zoomTo });
        } else this.chart.setOptions({ stacked: this.stack.checked });
        this.chart.setData(xs, series);
      } else {
        this.chart?.destroy();
        this.chart = undefined;
        this.result.innerHTML = "";
        let rows = 0;
        settled.forEach((s, i) => {
          if (s.status !== "fulfilled") return;
          const res = s.value;
          const samples: Sample[] = res.resultType === "scalar" || res.resultType === "string" ? [{ metric: {}, value: res.result as any }] : res.result;
          rows += samples.length;
          this.result.append(h("h3", { text: boxes[i].input.value }),
            samples.length ? sortableTable(["Series", "Value"], samples.map((x) => {
              const v = x.value ? num(x.value[1]) : null;
              return [{ text: legendName(x.metric, boxes[i].legend.value || undefined), sort: legendName(x.metric) }, { text: x.value ? x.value[1] : "", sort: v ?? -Infinity, num: true, node: h("span", { title: fmt("short", v), text: x.value ? x.value[1] : "" }) }];
            })) : h("div.nodata", { text: "No data" }));
        });
        Object.assign(this.state, { state: rows ? "ok" : "nodata", rows, error: undefined, series: undefined, points: undefined });
      }
    } catch (e: any) {
      if (e?.name !== "AbortError") this.showMessage("error", String(e?.message || e));
    } finally {
      if (this.abort === abort) {
        this.result.classList.remove("loading");
        window.__panoptes.ready = true;
      }
    }
  }

  private showMessage(kind: "error" | "nodata", msg: string): void {
    this.chart?.destroy();
    this.chart = undefined;
    this.result.innerHTML = "";
    this.result.append(h("div." + kind, { text: msg }));
    Object.assign(this.state, { state: kind, error: kind === "error" ? msg : undefined, series: 0, points: 0, rows: 0 });
  }

  destroy(): void {
    this.unsub();
    this.abort?.abort();
    this.chart?.destroy();
    this.complete.el.remove();
  }
}

/** showQueryError shows err under the query, with a caret at the parser's position. */
function showQueryError(box: QueryBox, err: string | null): void {
  box.error.innerHTML = "";
  box.input.classList.toggle("bad", !!err);
  if (!err) return;
  const msg = err.replace(/^invalid parameter "query": /, "");
  const pos = parseErrorPosition(msg);
  if (pos) {
    const line = box.input.value.split("\n")[pos.line - 1] ?? "";
    const col = Math.max(1, Math.min(pos.col, line.length + 1));
    box.error.append(
      h("div.pos", { text: `line ${pos.line}, column ${pos.col}: ${pos.message}` }),
      h("pre.caret", null, line + "\n" + " ".repeat(col - 1) + "^"));
    box.error.dataset.line = String(pos.line);
    box.error.dataset.col = String(pos.col);
  } else box.error.append(h("div.pos", { text: msg }));
}

/** Completer offers metric names, functions, label names and values while typing. */
class Completer {
  readonly el = h("ul.complete");
  private items: { text: string; kind: string }[] = [];
  private sel = 0;
  private replace: [number, number] = [0, 0];
  private target?: HTMLTextAreaElement;
  private seq = 0;

  hide(): void {
    this.el.style.display = "none";
    this.items = [];
  }

  async update(t: HTMLTextAreaElement): Promise<void> {
    const seq = ++this.seq;
    const pos = t.selectionStart;
    const before = t.value.slice(0, pos);
    let cands: { text: string; kind: string }[] = [];
    let start = pos;
    // Inside a label matcher's value: metric{label="pre|
    const val = /([a-zA-Z_:][a-zA-Z0-9_:]*)?\{[^{}]*?([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|=|!=)\s*"([^"]*)$/.exec(before);
    const lab = /([a-zA-Z_:][a-zA-Z0-9_:]*)?\{(?:[^{}"]*"[^"]*"\s*,?\s*)*([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(before);
    const grp = /(?:by|without|on|ignoring|group_left|group_right)\s*\(([a-zA-Z0-9_,\s]*?)([a-zA-Z_][a-zA-Z0-9_]*)?$/.exec(before);
    try {
      if (val) {
        const [, metric, label, , prefix] = val;
        start = pos - prefix.length;
        const vals = await api<string[]>(`api/v1/label/${encodeURIComponent(label)}/values`, metric ? { "match[]": [metric] } : {});
        cands = vals.filter((v) => v.toLowerCase().includes(prefix.toLowerCase())).map((v) => ({ text: v, kind: "value" }));
      } else if (lab) {
        const metric = lab[1];
        const prefix = lab[2] || "";
        start = pos - prefix.length;
        const names = await labelNames(metric);
        cands = names.filter((n) => n !== "__name__" && n.startsWith(prefix)).map((n) => ({ text: n, kind: "label" }));
      } else if (grp) {
        const prefix = grp[2] || "";
        start = pos - prefix.length;
        const m = /([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\[|\))/.exec(t.value);
        const names = await labelNames(m ? m[1] : undefined);
        cands = names.filter((n) => n !== "__name__" && n.startsWith(prefix)).map((n) => ({ text: n, kind: "label" }));
      } else {
        const word = /[a-zA-Z_:][a-zA-Z0-9_:]*$/.exec(before);
        if (!word || word[0].length < 1) return this.hide();
        const prefix = word[0];
        start = pos - prefix.length;
        const names = await metricNames();
        const lower = prefix.toLowerCase();
        const starts = names.filter((n) => n.toLowerCase().startsWith(lower));
        const contains = names.filter((n) => !n.toLowerCase().startsWith(lower) && n.toLowerCase().includes(lower));
        cands = [
          ...[...FUNCS, ...AGGS].filter((f) => f.startsWith(prefix)).map((f) => ({ text: f, kind: "function" })),
          ...starts.map((n) => ({ text: n, kind: "metric" })),
          ...contains.map((n) => ({ text: n, kind: "metric" })),
        ];
        if (cands.length === 1 && cands[0].text === prefix) cands = [];
      }
    } catch {
      cands = [];
    }
    if (seq !== this.seq) return;
    this.items = cands.slice(0, 50);
    if (!this.items.length) return this.hide();
    this.sel = 0;
    this.replace = [start, pos];
    this.target = t;
    this.el.innerHTML = "";
    this.items.forEach((it, i) => {
      const li = h("li" + (i === 0 ? ".on" : ""), { "data-kind": it.kind }, h("span", { text: it.text }), h("small", { text: it.kind }));
      li.addEventListener("mousedown", (e) => {
        e.preventDefault();
        this.sel = i;
        this.accept();
      });
      this.el.append(li);
    });
    const r = t.getBoundingClientRect();
    this.el.style.left = r.left + window.scrollX + "px";
    this.el.style.top = r.bottom + window.scrollY + "px";
    this.el.style.minWidth = Math.min(r.width, 420) + "px";
    this.el.style.display = "block";
  }

  /** key handles navigation keys while the list shows; true when it used the key. */
  key(e: KeyboardEvent, _t: HTMLTextAreaElement): boolean {
    if (!this.items.length || this.el.style.display === "none") return false;
    if (e.key === "ArrowDown" || e.key === "ArrowUp") {
      e.preventDefault();
      this.sel = (this.sel + (e.key === "ArrowDown" ? 1 : this.items.length - 1)) % this.items.length;
      [...this.el.children].forEach((c, i) => c.classList.toggle("on", i === this.sel));
      (this.el.children[this.sel] as HTMLElement).scrollIntoView({ block: "nearest" });
      return true;
    }
    if ((e.key === "Enter" && !e.shiftKey && !e.ctrlKey) || e.key === "Tab") {
      e.preventDefault();
      this.accept();
      return true;
    }
    if (e.key === "Escape") {
      this.hide();
      return true;
    }
    return false;
  }

  private accept(): void {
    const t = this.target;
    const it = this.items[this.sel];
    if (!t || !it) return;
    const [a, b] = this.replace;
    const suffix = it.kind === "function" && FUNCS.includes(it.text) ? "(" : "";
    t.value = t.value.slice(0, a) + it.text + suffix + t.value.slice(b);
    const p = a + it.text.length + suffix.length;
    t.setSelectionRange(p, p);
    this.hide();
    t.dispatchEvent(new Event("input"));
    t.focus();
  }
}

const labelCache = new Map<string, Promise<string[]>>();

/** labelNames lists the label names of a metric's series (/api/v1/labels with match[]), or all of them. */
function labelNames(metric?: string): Promise<string[]> {
  const k = metric || "";
  let p = labelCache.get(k);
  if (!p) {
    const now = Date.now() / 1000;
    p = api<string[]>("api/v1/labels", metric ? { "match[]": [metric], start: String(Math.floor(now - 3600)) } : {}).catch((e) => {
      labelCache.delete(k);
      throw e;
    });
    labelCache.set(k, p);
    setTimeout(() => labelCache.delete(k), 60000);
  }
  return p;
}
