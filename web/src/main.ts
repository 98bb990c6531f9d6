// The Panoptes UI: a header (pages, time range, refresh, theme), a banner
// while the server is unreachable, and the page the URL's fragment names.

import "uplot/dist/uPlot.min.css";
import "./style.css";
import { AlertsPage, firingCount, RulesPage } from "./alerts";
import { api, metricNames, onServerState } from "./api";
import { ContainersPage } from "./containers";
import { DashboardView, loadDashboard } from "./dashboard";
import { ExplorePage } from "./explore";
import { StatusPage, TargetsPage } from "./pages";
import { currentRoute, h, presets, timeChanged, timeWindow, updateParams } from "./state";

import { parseDuration } from "./units";

interface Page {
  el: HTMLElement;
  refresh(): void | Promise<void>;
  destroy?(): void;
  /** live pages (alerts, rules) refresh on every tick, an absolute time range or not. */
  live?: boolean;
}

interface DashboardInfo {
  id: string;
  title: string;
  source: string;
  nav?: boolean;
  requires?: string;
  error?: string;
  /** The file's directory under --web.dashboards-dir ("" at its top). */
  folder?: string;
  tags?: string[];
  /** panoptes (YAML) or grafana (JSON). */
  format?: string;
  import?: { panels: number; rendered: number; placeholders?: unknown[] };
}

const main = h("main");
const nav = h("nav.pages");
const banner = h("div.banner", { role: "alert", text: "The Panoptes server cannot be reached. Retrying…" });
let page: Page | null = null;
let dashboards: DashboardInfo[] = [];
let hasKube = false;
let firing = 0;

function applyTheme(t: string): void {
  document.documentElement.dataset.theme = t;
}

function themeToggle(): HTMLElement {
  const saved = localStorage.getItem("panoptes-theme");
  const dark = saved ? saved === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
  applyTheme(dark ? "dark" : "light");
  return h("button.icon.theme", {
    title: "Light / dark theme",
    text: "◐",
    onclick: () => {
      const next = document.documentElement.dataset.theme === "dark" ? "light" : "dark";
      localStorage.setItem("panoptes-theme", next);
      applyTheme(next);
      render(); // charts read their colours when drawn
    },
  });
}

function toLocalInput(sec: number): string {
  const d = new Date(sec * 1000);
  const off = d.getTimezoneOffset() * 60000;
  return new Date(d.getTime() - off).toISOString().slice(0, 16);
}

function rangePicker(): HTMLElement {
  const sel = h("select.range", { title: "Time range" }) as HTMLSelectElement;
  const from = h("input", { type: "datetime-local", title: "From" }) as HTMLInputElement;
  const to = h("input", { type: "datetime-local", title: "To" }) as HTMLInputElement;
  const abs = h("span.abs", null, from, "→", to, h("button", { text: "Apply", onclick: () => {
    const f = Date.parse(from.value), t = Date.parse(to.value);
    if (!(t > f)) { alert("The end of the range must come after its start."); return; }
    updateParams((p) => { p.delete("range"); p.set("from", String(f)); p.set("to", String(t)); }, true);
    sync();
    timeChanged();
  } }));
  const sync = () => {
    const w = timeWindow();
    sel.innerHTML = "";
    for (const p of presets) sel.append(h("option", { value: p, text: "Last " + p, selected: w.relative && w.label === p }));
    if (w.relative && !presets.includes(w.label)) sel.append(h("option", { value: w.label, text: "Last " + w.label, selected: true }));
    sel.append(h("option", { value: "abs", text: "Absolute…", selected: !w.relative }));
    abs.style.display = w.relative ? "none" : "";
    from.value = toLocalInput(w.start);
    to.value = toLocalInput(w.end);
  };
  sel.addEventListener("change", () => {
    if (sel.value === "abs") {
      const w = timeWindow();
      updateParams((p) => { p.delete("range"); p.set("from", String(Math.round(w.start * 1000))); p.set("to", String(Math.round(w.end * 1000))); }, true);
    } else {
      updateParams((p) => { p.delete("from"); p.delete("to"); p.set("range", sel.value); }, true);
    }
    sync();
    timeChanged();
  });
  window.addEventListener("panoptes:time", sync);
  sync();
  return h("span.range-picker", null, sel, abs);
}

let refreshTimer: number | undefined;
function refreshPicker(): HTMLElement {
  const choices = ["off", "5s", "10s", "30s", "1m", "5m", "15m"];
  const sel = h("select.refresh", { title: "Auto-refresh" }) as HTMLSelectElement;
  const cur = currentRoute().params.get("refresh") || localStorage.getItem("panoptes-refresh") || "30s";
  for (const c of choices) sel.append(h("option", { value: c, text: c === "off" ? "Auto-refresh off" : "Every " + c, selected: c === cur }));
  const arm = () => {
    window.clearInterval(refreshTimer);
    const s = parseDuration(sel.value);
    if (isFinite(s) && s > 0) {
      refreshTimer = window.setInterval(() => {
        // Only a range that ends now moves; an absolute one stays put.
        if (page && (timeWindow().relative || page.live) && !document.hidden) void page.refresh();
      }, s * 1000);
    }
  };
  sel.addEventListener("change", () => {
    localStorage.setItem("panoptes-refresh", sel.value);
    updateParams((p) => p.set("refresh", sel.value));
    arm();
  });
  arm();
  return h("span", null, sel, h("button.icon", { text: "⟳", title: "Refresh now", onclick: () => page?.refresh() }));
}

function navLinks(): void {
  const r = currentRoute();
  const keep = new URLSearchParams();
  for (const k of ["range", "from", "to", "refresh"]) {
    const v = r.params.get(k);
    if (v) keep.set(k, v);
  }
  const qs = keep.toString() ? "?" + keep.toString() : "";
  const links: [string, string][] = [["#/d/overview", "Overview"], ["#/containers", "Containers"]];
  if (hasKube) links.push(["#/d/kubernetes", "Kubernetes"]);
  for (const d of dashboards) if (d.nav && !["overview", "kubernetes"].includes(d.id)) links.push(["#/d/" + d.id, d.title]);
  links.push(["#/explore", "Explore"], ["#/dashboards", "Dashboards"], ["#/alerts", "Alerts"], ["#/rules", "Rules"], ["#/targets", "Targets"], ["#/status", "Status"]);
  nav.innerHTML = "";
  const cur = "#" + (r.path === "/" ? "/d/overview" : r.path);
  for (const [href, text] of links) {
    const a = h("a" + (cur === href ? ".on" : ""), { href: href + qs, text });
    if (href === "#/alerts" && firing > 0) a.append(h("span.badge", { text: String(firing), title: `${firing} firing` }));
    nav.append(a);
  }
}

class DashboardList {
  readonly el = h("div.dashboards-list", null, h("div.page-head", null, h("h1", { text: "Dashboards" })));
  private search = h("input.search", { type: "search", placeholder: "Search by title, tag or folder", "aria-label": "Search dashboards" }) as HTMLInputElement;
  private body = h("div");
  constructor() {
    this.search.value = currentRoute().params.get("q") || "";
    this.search.addEventListener("input", () => {
      updateParams((p) => (this.search.value ? p.set("q", this.search.value) : p.delete("q")));
      this.show();
    });
    this.el.append(this.search, this.body);
    void this.refresh();
  }
  async refresh(): Promise<void> {
    window.__panoptes.ready = false;
    try {
      dashboards = await api<DashboardInfo[]>("api/ui/dashboards");
      this.show();
    } catch (e: any) {
      this.body.replaceChildren(h("div.error", { text: String(e?.message || e) }));
    }
    window.__panoptes.ready = true;
  }
  /** show lists the dashboards that match the search, by folder then title; one that failed to load shows why. */
  private show(): void {
    const q = this.search.value.trim().toLowerCase();
    const words = q.split(/\s+/).filter(Boolean);
    const match = (d: DashboardInfo) => {
      const hay = [d.title, d.id, d.folder || "", ...(d.tags || [])].join("\n").toLowerCase();
      return words.every((w) => hay.includes(w));
    };
    const list = dashboards.filter(match).sort((a, b) => (a.folder || "").localeCompare(b.folder || "") || (a.title || a.id).localeCompare(b.title || b.id));
    const table = h("table.data.dlist") as HTMLTableElement;
    const head = table.createTHead().insertRow();
    for (const c of ["Title", "Folder", "Tags", "File"]) head.append(h("th", { text: c }));
    const tb = table.createTBody();
    for (const d of list) {
      const tr = tb.insertRow();
      tr.dataset.id = d.id;
      if (d.error) tr.className = "failed";
      const title = tr.insertCell();
      title.append(d.error && !d.title ? h("span", { text: d.id }) : h("a", { href: "#/d/" + d.id, text: d.title || d.id }));
      if (d.format === "grafana") title.append(" ", h("small.format", { text: "Grafana" }));
      if (d.error) title.append(h("div.error", { text: d.error }));
      tr.insertCell().textContent = d.folder || "";
      const tags = tr.insertCell();
      for (const t of d.tags || []) tags.append(h("button.tag", { text: t, title: "Show dashboards tagged " + t, onclick: () => {
        this.search.value = t;
        this.search.dispatchEvent(new Event("input"));
      } }));
      tr.insertCell().append(h("small", { text: d.source }));
    }
    this.body.replaceChildren(list.length ? table : h("div.nodata", { text: q ? `No dashboard matches “${this.search.value}”` : "No dashboards" }));
  }
}

class DashboardPage {
  readonly el = h("div");
  private view?: DashboardView;
  constructor(id: string) {
    window.__panoptes.panels = [];
    loadDashboard(id).then((d) => {
      if (!this.el.isConnected && page?.el !== this.el) return;
      this.view = new DashboardView(d);
      this.el.append(this.view.el);
    }).catch((e) => {
      this.el.append(h("div.page-head", null, h("h1", { text: id })), h("div.error", { text: String(e?.message || e) }));
      window.__panoptes.panels = [{ title: id, kind: "dashboard", state: "error", error: String(e?.message || e) }];
      window.__panoptes.ready = true;
    });
  }
  refresh(): void {
    void this.view?.refresh();
  }
  destroy(): void {
    this.view?.destroy();
  }
}

function render(): void {
  page?.destroy?.();
  window.__panoptes.charts.length = 0;
  window.__panoptes.ready = false;
  main.innerHTML = "";
  const r = currentRoute();
  const m = /^\/d\/([\w-]+)$/.exec(r.path);
  if (r.path === "/" || r.path === "") page = new DashboardPage("overview");
  else if (m) page = new DashboardPage(m[1]);
  else if (r.path === "/containers") page = new ContainersPage();
  else if (r.path === "/explore") page = new ExplorePage();
  else if (r.path === "/targets") page = new TargetsPage();
  else if (r.path === "/status") page = new StatusPage();
  else if (r.path === "/alerts") page = new AlertsPage();
  else if (r.path === "/rules") page = new RulesPage();
  else if (r.path === "/dashboards") page = new DashboardList();
  else {
    page = null;
    main.append(h("div.error", { text: `No page at ${r.path}` }));
    window.__panoptes.ready = true;
  }
  if (page) main.append(page.el);
  navLinks();
  window.dispatchEvent(new Event("panoptes:time"));
}

async function discover(): Promise<void> {
  try {
    dashboards = await api<DashboardInfo[]>("api/ui/dashboards");
  } catch {
    dashboards = [];
  }
  try {
    hasKube = (await metricNames()).some((n) => n.startsWith("kube_"));
  } catch {
    hasKube = false;
  }
  navLinks();
}

function boot(): void {
  const menu = h("button.icon.menu", { text: "☰", title: "Pages", onclick: () => nav.classList.toggle("open") });
  const header = h("header", null,
    h("a.brand", { href: "#/d/overview", text: "Panoptes" }), menu, nav,
    h("div.controls", null, rangePicker(), refreshPicker(), themeToggle()));
  document.body.append(header, banner, main);
  nav.addEventListener("click", () => nav.classList.remove("open"));
  onServerState((down) => {
    banner.classList.toggle("show", down);
    if (!down) {
      void discover();
      void page?.refresh();
    }
  });
  window.addEventListener("hashchange", render);
  // The badge of firing alerts: the Alerts page reports its count as it
  // refreshes; elsewhere it is polled (every 15 s, as Prometheus evaluates
  // by default).
  window.addEventListener("panoptes:firing", (e) => {
    const n = (e as CustomEvent<number>).detail;
    if (n !== firing) {
      firing = n;
      navLinks();
    }
  });
  const pollFiring = () => {
    if (!document.hidden && !(page instanceof AlertsPage)) {
      firingCount().then((n) => window.dispatchEvent(new CustomEvent("panoptes:firing", { detail: n }))).catch(() => {});
    }
  };
  window.setInterval(pollFiring, 15000);
  render();
  // What the navigation needs beyond the built-in pages (the Kubernetes page
  // when kube_* metrics exist, users' dashboards) waits for the first page,
  // so that its queries are not queued behind these.
  const t0 = Date.now();
  const later = () => {
    if (!window.__panoptes.ready && Date.now() - t0 <= 3000) return void setTimeout(later, 50);
    void discover();
    pollFiring();
  };
  later();
}

boot();
