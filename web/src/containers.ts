// Containers / Pods: every container the agents report (cAdvisor's metric
// names), with current CPU, CPU against its limit, memory working set against
// its limit, restarts (from kube-state metrics when present) and network
// rates; sortable, filterable, a CPU sparkline per row, and a click opens the
// container's dashboard.

import { queryInstant, queryRange, type Sample } from "./api";
import { sparkline, type PanelState } from "./chart";
import { sortableTable, type Cell } from "./dashboard";
import { align, num, stepGrid } from "./query";
import { autoStep, currentRoute, h, loadScrapeInterval, onTimeChange, rateInterval, timeWindow, updateParams } from "./state";
import { fmt, promDuration } from "./units";

interface Row {
  key: string;
  instance: string;
  id: string;
  name: string;
  namespace: string;
  pod: string;
  container: string;
  image: string;
  cpu: number | null;
  cpuLimit: number | null;
  mem: number | null;
  memLimit: number | null;
  restarts: number | null;
  rx: number | null;
  tx: number | null;
  spark: (number | null)[];
}

// Containers are the cgroups the agents name (cAdvisor's rule: "/" is the
// machine, shown on the host dashboard).
const SEL = `id!="/"`;

function key(m: Record<string, string>): string {
  return (m.instance || "") + "|" + (m.id || "");
}

export class ContainersPage {
  readonly el: HTMLElement;
  private body = h("div.panel-body");
  private filter: HTMLInputElement;
  private group: HTMLInputElement;
  private unsub: () => void;
  private rows: Row[] = [];
  private discovery: Discovery[] = [];
  private state: PanelState = { title: "containers", kind: "table", state: "loading" };

  constructor() {
    const p = currentRoute().params;
    this.filter = h("input", { type: "search", placeholder: "Filter by name, pod, namespace, image, id…", value: p.get("filter") || "", oninput: () => this.render() }) as HTMLInputElement;
    this.group = h("input", { type: "checkbox", checked: p.get("group") === "pod", onchange: () => this.render() }) as HTMLInputElement;
    this.el = h("div.containers", null,
      h("div.page-head", null, h("h1", { text: "Containers" })),
      h("div.toolbar", null, this.filter, h("label.check", null, this.group, " group by pod")),
      h("section.panel.wide", null, this.body));
    window.__panoptes.panels = [this.state];
    this.unsub = onTimeChange(() => this.refresh());
    void this.refresh();
  }

  async refresh(): Promise<void> {
    window.__panoptes.ready = false;
    const w = timeWindow();
    await loadScrapeInterval();
    const step = autoStep(w, 60, 15);
    const grid = stepGrid(w.start, w.end, step);
    const ri = promDuration(rateInterval(step));
    const q = (expr: string) => queryInstant(expr, w.end).then((r) => r.result).catch(() => [] as Sample[]);
    try {
      const [info, cpu, mem, quota, period, memLimit, rx, tx, restarts, spark] = await Promise.all([
        queryInstant(`max by (instance, id, name, namespace, pod, container, image) (container_memory_working_set_bytes{${SEL}} or container_last_seen{${SEL}})`, w.end).then((r) => r.result),
        q(`sum by (instance, id) (rate(container_cpu_usage_seconds_total{${SEL}}[${ri}]))`),
        q(`max by (instance, id) (container_memory_working_set_bytes{${SEL}})`),
        q(`max by (instance, id) (container_spec_cpu_quota{${SEL}} > 0)`),
        q(`max by (instance, id) (container_spec_cpu_period{${SEL}} > 0)`),
        q(`max by (instance, id) (container_spec_memory_limit_bytes{${SEL}} > 0 < 2^60)`),
        q(`sum by (instance, id) (rate(container_network_receive_bytes_total{${SEL}}[${ri}]))`),
        q(`sum by (instance, id) (rate(container_network_transmit_bytes_total{${SEL}}[${ri}]))`),
        q(`sum by (namespace, pod, container) (kube_pod_container_status_restarts_total)`),
        queryRange(`sum by (instance, id) (rate(container_cpu_usage_seconds_total{${SEL}}[${ri}]))`, grid.start, grid.end, step).then((r) => ({ r, step })).catch(() => null),
      ]);
      const byKey = (s: Sample[]) => new Map(s.map((x) => [key(x.metric), x.value ? num(x.value[1]) : null]));
      const cpuM = byKey(cpu), memM = byKey(mem), quotaM = byKey(quota), periodM = byKey(period), limM = byKey(memLimit), rxM = byKey(rx), txM = byKey(tx);
      const restartM = new Map(restarts.map((x) => [`${x.metric.namespace}/${x.metric.pod}/${x.metric.container}`, x.value ? num(x.value[1]) : null]));
      const sparkM = new Map<string, (number | null)[]>();
      if (spark) {
        const xs = grid.xs;
        const series = align(xs, spark.r.result);
        spark.r.result.forEach((s, i) => sparkM.set(key(s.metric), series[i].values));
      }
      const seen = new Set<string>();
      this.rows = [];
      for (const s of info) {
        const m = s.metric;
        const k = key(m);
        if (seen.has(k)) continue;
        seen.add(k);
        const q = quotaM.get(k), per = periodM.get(k);
        this.rows.push({
          key: k, instance: m.instance || "", id: m.id || "", name: m.name || m.container || m.id || "",
          namespace: m.namespace || "", pod: m.pod || "", container: m.container || "", image: m.image || "",
          cpu: cpuM.get(k) ?? null,
          cpuLimit: q && per ? q / per : null,
          mem: memM.get(k) ?? null,
          memLimit: limM.get(k) ?? null,
          restarts: m.pod ? restartM.get(`${m.namespace}/${m.pod}/${m.container}`) ?? null : null,
          rx: rxM.get(k) ?? null,
          tx: txM.get(k) ?? null,
          spark: sparkM.get(k) || [],
        });
      }
      // Nothing to list: fetch what the agents looked for, so that the page
      // can say why.
      this.discovery = this.rows.length ? [] : await loadDiscovery(w.end);
      this.render();
    } catch (e: any) {
      this.body.innerHTML = "";
      this.body.append(h("div.error", { text: String(e?.message || e) }));
      Object.assign(this.state, { state: "error", error: String(e?.message || e) });
    }
    window.__panoptes.ready = true;
  }

  private render(): void {
    const f = this.filter.value.trim().toLowerCase();
    const byPod = this.group.checked;
    updateParams((p) => {
      if (f) p.set("filter", f); else p.delete("filter");
      if (byPod) p.set("group", "pod"); else p.delete("group");
    });
    let rows = this.rows.filter((r) => !f || [r.name, r.pod, r.namespace, r.image, r.id, r.instance, r.container].some((x) => x.toLowerCase().includes(f)));
    if (byPod) rows = groupByPod(rows);
    this.body.innerHTML = "";
    Object.assign(this.state, { state: rows.length ? "ok" : "nodata", rows: rows.length, error: undefined });
    if (!rows.length) {
      this.body.append(this.rows.length ? h("div.nodata", { text: "No container matches the filter" }) : explainEmpty(this.discovery));
      return;
    }
    const pct = (a: number | null, b: number | null) => (a !== null && b ? a / b : null);
    const n = (v: number | null, unit: string): Cell => ({ text: fmt(unit, v), sort: v ?? -Infinity, num: true });
    const headers = ["Name", "Namespace / pod", "Instance", "CPU", "CPU trend", "CPU % limit", "Memory (WS)", "Mem % limit", "Restarts", "Net rx", "Net tx"];
    const cells: Cell[][] = rows.map((r) => [
      { text: r.name, sort: r.name, node: h("span", { title: r.id + (r.image ? "\n" + r.image : "") }, r.name) },
      { text: r.pod ? `${r.namespace}/${r.pod}` : "", sort: `${r.namespace}/${r.pod}` },
      { text: r.instance, sort: r.instance },
      n(r.cpu, "cores"),
      { text: "", sort: r.cpu ?? -Infinity, node: sparkline(r.spark, 100, 22) },
      n(pct(r.cpu, r.cpuLimit), "percentunit"),
      n(r.mem, "bytes"),
      n(pct(r.mem, r.memLimit), "percentunit"),
      { text: r.restarts === null ? "" : String(r.restarts), sort: r.restarts ?? -1, num: true },
      n(r.rx, "Bps"),
      n(r.tx, "Bps"),
    ]);
    this.body.append(sortableTable(headers, cells, (i) => {
      const r = rows[i];
      const p = new URLSearchParams(currentRoute().params);
      p.delete("filter");
      p.delete("group");
      if (r.id.startsWith("pod:")) {
        p.set("var-namespace", r.namespace);
        p.set("var-pod", r.pod);
        location.hash = "#/d/pod?" + p.toString();
        return;
      }
      p.set("var-instance", r.instance);
      p.set("var-id", r.id);
      location.hash = "#/d/container?" + p.toString();
    }, 3, true));
  }

  destroy(): void {
    this.unsub();
  }
}

function groupByPod(rows: Row[]): Row[] {
  const out = new Map<string, Row>();
  const add = (a: number | null, b: number | null) => (a === null ? b : b === null ? a : a + b);
  // A pod's own cgroup (container="") already holds its containers' usage:
  // use it when reported, else add up the containers.
  const podLevel = new Set(rows.filter((r) => r.pod && !r.container).map((r) => `${r.instance}|${r.namespace}/${r.pod}`));
  for (const r of rows) {
    if (!r.pod) continue;
    const pk = `${r.instance}|${r.namespace}/${r.pod}`;
    if (podLevel.has(pk) && r.container) {
      const g = out.get(pk);
      if (g) g.restarts = add(g.restarts, r.restarts);
      else out.set(pk, { ...r, key: pk, id: `pod:${r.namespace}/${r.pod}`, name: r.pod, container: "", image: "", cpu: null, mem: null, rx: null, tx: null, cpuLimit: null, memLimit: null, spark: [] });
      continue;
    }
    if (podLevel.has(pk)) {
      const g = out.get(pk);
      const restarts = g ? g.restarts : null;
      out.set(pk, { ...r, key: pk, id: `pod:${r.namespace}/${r.pod}`, name: r.pod, image: "", restarts });
      continue;
    }
    const k = `${r.instance}|${r.namespace}/${r.pod}`;
    const g = out.get(k);
    if (!g) {
      out.set(k, { ...r, key: k, id: `pod:${r.namespace}/${r.pod}`, name: r.pod, container: "", image: "", spark: r.spark.slice() });
      continue;
    }
    g.cpu = add(g.cpu, r.cpu);
    g.mem = add(g.mem, r.mem);
    g.cpuLimit = add(g.cpuLimit, r.cpuLimit);
    g.memLimit = add(g.memLimit, r.memLimit);
    g.restarts = add(g.restarts, r.restarts);
    g.rx = add(g.rx, r.rx);
    g.tx = add(g.tx, r.tx);
    g.spark = g.spark.map((v, i) => add(v, r.spark[i] ?? null));
  }
  return [...out.values()];
}

// What one agent's container collector looked for (the
// panoptes_container_* discovery families).
interface Discovery {
  instance: string;
  layout: string;
  walked: string[];
  allCgroups: boolean;
  endpoints: { endpoint: string; state: string }[];
  hierarchies: { mount: string; version: string; controllers: string }[];
  counts: Record<string, number>;
}

// loadDiscovery reads the discovery families of every agent, by instance.
async function loadDiscovery(at: number): Promise<Discovery[]> {
  const q = (expr: string) => queryInstant(expr, at).then((r) => r.result).catch(() => [] as Sample[]);
  const [info, endpoints, hierarchies, counts] = await Promise.all([
    q("panoptes_container_discovery_info"),
    q("panoptes_container_runtime_endpoint_info"),
    q("panoptes_container_cgroup_hierarchy_info"),
    q("panoptes_container_discovered_cgroups"),
  ]);
  const by = new Map<string, Discovery>();
  const get = (m: Record<string, string>) => {
    const inst = m.instance || "";
    let d = by.get(inst);
    if (!d) {
      d = { instance: inst, layout: "", walked: [], allCgroups: false, endpoints: [], hierarchies: [], counts: {} };
      by.set(inst, d);
    }
    return d;
  };
  for (const s of info) {
    const d = get(s.metric);
    d.layout = s.metric.layout || "";
    d.walked = (s.metric.walked || "").split(",").filter((x) => x);
    d.allCgroups = s.metric.all_cgroups === "true";
  }
  for (const s of endpoints) get(s.metric).endpoints.push({ endpoint: s.metric.endpoint || "", state: s.metric.state || "" });
  for (const s of hierarchies) get(s.metric).hierarchies.push({ mount: s.metric.mount || "", version: s.metric.version || "", controllers: s.metric.controllers || "" });
  for (const s of counts) get(s.metric).counts[s.metric.kind || ""] = s.value ? num(s.value[1]) ?? 0 : 0;
  return [...by.values()].sort((a, b) => a.instance.localeCompare(b.instance));
}

const layoutText: Record<string, string> = {
  v1: "cgroup v1 (one hierarchy per controller)",
  v2: "cgroup v2 (the unified hierarchy)",
  hybrid: "hybrid (cgroup v1 hierarchies, and a cgroup v2 one beside them)",
  none: "none: no cgroup hierarchy is mounted where the agent looks (--path.procfs, --path.sysfs)",
};

const stateText: Record<string, string> = {
  missing: "not there",
  socket: "a socket",
  "not-a-socket": "there, but not a socket",
  unreadable: "not readable by the agent",
};

// explainEmpty says why the page is empty: per agent, the runtime sockets
// it asks for names, the cgroup layout and hierarchies it walked, what it
// found there, and how to list every cgroup.
function explainEmpty(ds: Discovery[]): HTMLElement {
  const el = h("div.nodata.discovery", null, h("strong", { text: "No container is reported yet." }));
  if (!ds.length) {
    el.append(h("p", { text: "No agent reports where it looks for containers (panoptes_container_discovery_info is absent): check that an agent with the container collector (--collector.container, on by default) is scraped, under Status → Targets." }));
    return el;
  }
  for (const d of ds) {
    const c = (k: string) => d.counts[k] ?? 0;
    const found = `${c("pod")} pods, ${c("pod-container")} pod containers, ${c("container")} other containers, ${c("service")} systemd services, ${c("other")} other cgroups`;
    const sockets = d.endpoints.length
      ? d.endpoints.map((e) => `${e.endpoint} (${stateText[e.state] || e.state})`).join(", ")
      : "none";
    const mounts = d.hierarchies.map((x) => `${x.controllers || "no controllers"} at ${x.mount} (${x.version})`).join("; ");
    const items = [
      h("li.runtimes", null, "Container runtimes (CRI sockets, set with ", h("code", { text: "--container-runtime-endpoint" }), `): ${sockets}. Without a runtime answering there, containers are still found from their cgroups, named by their ID.`),
      h("li.layout", { text: `Cgroup layout: ${layoutText[d.layout] || d.layout || "unknown"}.${mounts ? " Hierarchies: " + mounts + "." : ""}` }),
      h("li.walked", { text: `Walked ${d.walked.length ? d.walked.join(", ") : "nothing"} and found ${found}.` }),
      d.allCgroups
        ? h("li.all", { text: "Every cgroup is reported (--collector.container.all-cgroups is on): this host has none besides the root, which the host dashboard shows." })
        : h("li.all", null, "Only pods, containers and systemd services are listed. To see every cgroup", c("other") ? ` (${c("other")} more here)` : "", ", start the agent with ", h("code", { text: "--collector.container.all-cgroups" }), "."),
    ];
    el.append(h("div.discovery-agent", { "data-instance": d.instance },
      h("p", { text: `The agent ${d.instance || "(no instance label)"} looked for:` }),
      h("ul", null, ...items)));
  }
  return el;
}
