// Targets and Status: what the server scrapes and how it is doing, from
// /api/v1/targets and /api/v1/status/*.

import { api } from "./api";
import { type PanelState } from "./chart";
import { sortableTable, type Cell } from "./dashboard";
import { h } from "./state";
import { ago, fmt } from "./units";

function panel(title: string, ...body: (Node | string)[]): HTMLElement {
  return h("section.panel.wide", null, h("div.panel-title", null, h("span", { text: title })), h("div.panel-body", null, ...body));
}

function errorBox(e: any): HTMLElement {
  return h("div.error", { text: String(e?.message || e) });
}

export class TargetsPage {
  readonly el = h("div.targets", null, h("div.page-head", null, h("h1", { text: "Targets" })));
  private body = h("div");
  private state: PanelState = { title: "targets", kind: "table", state: "loading" };

  constructor() {
    this.el.append(this.body);
    window.__panoptes.panels = [this.state];
    void this.refresh();
  }

  async refresh(): Promise<void> {
    window.__panoptes.ready = false;
    try {
      const d = await api<{ activeTargets: any[]; droppedTargets?: any[] }>("api/v1/targets", { state: "active" });
      const byJob = new Map<string, any[]>();
      for (const t of d.activeTargets) {
        const job = t.scrapePool || t.labels?.job || "";
        if (!byJob.has(job)) byJob.set(job, []);
        byJob.get(job)!.push(t);
      }
      this.body.innerHTML = "";
      if (!byJob.size) this.body.append(panel("Targets", h("div.nodata", { text: "No targets" })));
      for (const [job, ts] of [...byJob.entries()].sort()) {
        const up = ts.filter((t) => t.health === "up").length;
        const rows: Cell[][] = ts.map((t) => {
          const last = Date.parse(t.lastScrape) / 1000;
          return [
            { text: t.scrapeUrl || t.labels?.instance || "", sort: t.scrapeUrl || "" },
            { text: t.health, sort: t.health, node: h("span.health." + t.health, { text: t.health }) },
            { text: "", sort: JSON.stringify(t.labels), node: h("span.labels", null, ...Object.entries(t.labels || {}).map(([k, v]) => h("code", { text: `${k}="${v}"` }))) },
            { text: isFinite(last) && last > 0 ? ago(last) : "never", sort: last || 0, num: true },
            { text: fmt("s", t.lastScrapeDuration), sort: t.lastScrapeDuration || 0, num: true },
            { text: t.lastError || "", sort: t.lastError || "", node: t.lastError ? h("span.err", { text: t.lastError }) : undefined },
          ];
        });
        this.body.append(panel(`${job} (${up}/${ts.length} up)`, sortableTable(["Endpoint", "State", "Labels", "Last scrape", "Duration", "Error"], rows)));
      }
      Object.assign(this.state, { state: d.activeTargets.length ? "ok" : "nodata", rows: d.activeTargets.length });
    } catch (e) {
      this.body.innerHTML = "";
      this.body.append(errorBox(e));
      Object.assign(this.state, { state: "error", error: String((e as any)?.message || e) });
    }
    window.__panoptes.ready = true;
  }
}

function kv(obj: Record<string, any>): HTMLElement {
  return sortableTable(["Name", "Value"], Object.entries(obj).map(([k, v]) => [
    { text: k, sort: k },
    { text: typeof v === "object" ? JSON.stringify(v) : String(v), sort: String(v) },
  ]));
}

export class StatusPage {
  readonly el = h("div.status", null, h("div.page-head", null, h("h1", { text: "Status" })));
  private body = h("div.status-grid");
  private state: PanelState = { title: "status", kind: "status", state: "loading" };

  constructor() {
    this.el.append(this.body);
    window.__panoptes.panels = [this.state];
    void this.refresh();
  }

  async refresh(): Promise<void> {
    window.__panoptes.ready = false;
    const [build, runtime, tsdb, flags, config] = await Promise.allSettled([
      api<Record<string, string>>("api/v1/status/buildinfo"),
      api<Record<string, any>>("api/v1/status/runtimeinfo"),
      api<any>("api/v1/status/tsdb", { limit: 20 }),
      api<Record<string, string>>("api/v1/status/flags"),
      api<{ yaml: string }>("api/v1/status/config"),
    ]);
    this.body.innerHTML = "";
    const show = <T,>(r: PromiseSettledResult<T>, title: string, f: (v: T) => Node) =>
      this.body.append(panel(title, r.status === "fulfilled" ? f(r.value) : errorBox(r.reason)));
    show(build, "Build", kv);
    show(runtime, "Runtime", kv);
    show(tsdb, "TSDB", (d: any) => {
      const hs = d.headStats || {};
      const top = (rows: { name: string; value: number }[] | undefined, what: string) =>
        sortableTable([what, "Count"], (rows || []).map((r) => [{ text: r.name, sort: r.name }, { text: String(r.value), sort: r.value, num: true }]), undefined, 1, true);
      return h("div", null,
        h("div.stat", null,
          ...[["Head series", hs.numSeries], ["Label pairs", hs.numLabelPairs], ["Chunks", hs.chunkCount]].map(([k, v]) =>
            h("div.stat-item", null, h("div.stat-value", { text: fmt("short", Number(v)) }), h("div.stat-name", { text: String(k) }))),
          h("div.stat-item", null, h("div.stat-value.small", { text: hs.minTime ? new Date(hs.minTime).toLocaleString() : "–" }), h("div.stat-name", { text: "Oldest sample in head" }))),
        h("h3", { text: "Top metric names by series count (cardinality)" }), top(d.seriesCountByMetricName, "Metric"),
        h("h3", { text: "Labels with the most values" }), top(d.labelValueCountByLabelName, "Label"),
        h("h3", { text: "Label pairs in the most series" }), top(d.seriesCountByLabelValuePair, "Pair"),
        h("h3", { text: "Labels using the most memory (bytes)" }), top(d.memoryInBytesByLabelName, "Label"));
    });
    show(flags, "Flags", kv);
    show(config, "Configuration", (c) => h("pre.config", { text: c.yaml }));
    const failed = [build, runtime, tsdb, flags, config].find((r) => r.status === "rejected") as PromiseRejectedResult | undefined;
    Object.assign(this.state, failed ? { state: "error", error: String(failed.reason?.message || failed.reason) } : { state: "ok" });
    window.__panoptes.ready = true;
  }
}
