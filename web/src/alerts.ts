// Alerts and Rules: what the rule manager evaluates, from Prometheus's own
// /api/v1/rules, and — when the all-in-one runs the built-in Alertmanager
// under /alertmanager/ — silences made and expired from the page through
// Alertmanager's API v2.

import { api, APIError, ServerDown } from "./api";
import { type PanelState } from "./chart";
import { currentRoute, h, updateParams } from "./state";
import { ago, fmt, parseDuration, promDuration } from "./units";

type Labels = Record<string, string>;

/** An alert of an alerting rule, as /api/v1/rules lists it. */
export interface RuleAlert {
  labels: Labels;
  annotations: Labels;
  state: "firing" | "pending" | "inactive";
  activeAt?: string;
  keepFiringSince?: string;
  value: string;
}

/** A rule of a group: alerting (with state and alerts) or recording. */
export interface Rule {
  type: "alerting" | "recording";
  name: string;
  query: string;
  labels?: Labels;
  annotations?: Labels;
  state?: "firing" | "pending" | "inactive" | "unknown";
  duration?: number; // for, seconds
  keepFiringFor?: number; // seconds
  alerts?: RuleAlert[];
  health: "ok" | "err" | "unknown";
  lastError?: string;
  evaluationTime: number; // seconds
  lastEvaluation: string;
}

export interface RuleGroup {
  name: string;
  file: string;
  rules: Rule[];
  interval: number; // seconds
  limit?: number;
  evaluationTime: number; // seconds
  lastEvaluation: string;
}

/** Alertmanager API v2 shapes, the parts the page reads. */
interface Matcher {
  name: string;
  value: string;
  isRegex: boolean;
  isEqual?: boolean; // absent before Alertmanager 0.22: equal
}

interface Silence {
  id: string;
  matchers: Matcher[];
  startsAt: string;
  endsAt: string;
  createdBy: string;
  comment: string;
  status: { state: "active" | "pending" | "expired" };
}

interface AMAlert {
  labels: Labels;
  status: { state: string; silencedBy: string[]; inhibitedBy: string[] };
}

// The built-in Alertmanager's API, relative to the UI like every other call.
const AM = "alertmanager/api/v2/";

/** unixSeconds parses an RFC 3339 time; NaN for Go's zero time (never evaluated). */
export function unixSeconds(t: string | undefined): number {
  const ms = t ? Date.parse(t) : NaN;
  return ms > 0 ? ms / 1000 : NaN;
}

function when(t: string | undefined, never = "never"): HTMLElement {
  const s = unixSeconds(t);
  if (!isFinite(s)) return h("span.muted", { text: never });
  return h("span.when", { title: new Date(s * 1000).toLocaleString(), text: ago(s) });
}

function labelChips(labels: Labels | undefined, skip: string[] = []): HTMLElement {
  return h("span.labels", null, ...Object.entries(labels || {}).filter(([k]) => !skip.includes(k)).map(([k, v]) => h("code", { text: `${k}="${v}"` })));
}

function exploreLink(expr: string): HTMLElement {
  const p = new URLSearchParams();
  p.set("q", expr);
  p.set("range", "1h");
  return h("a.expr", { href: "#/explore?" + p.toString(), title: "Open in Explore" }, h("code", { text: expr }));
}

function errText(e: any): string {
  return String(e?.message || e);
}

/**
 * matches tells whether a set of labels is selected by one term of the
 * filter box: name="value", name!="value", name=~"re", name!~"re" (quotes
 * optional) match a label; any other term is looked for, case-insensitively,
 * in the text given.
 */
export function termMatches(term: string, labels: Labels, text: string): boolean {
  const m = /^([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"?(.*?)"?$/.exec(term);
  if (!m) return text.toLowerCase().includes(term.toLowerCase());
  const [, name, op, value] = m;
  const v = labels[name] ?? "";
  switch (op) {
    case "=":
      return v === value;
    case "!=":
      return v !== value;
    default: {
      let re: RegExp;
      try {
        re = new RegExp("^(?:" + value + ")$");
      } catch {
        return false;
      }
      return re.test(v) === (op === "=~");
    }
  }
}

function filterTerms(s: string): string[] {
  // Terms are separated by spaces outside quotes, so summary="disk full" is one.
  return (s.match(/(?:[^\s"]+|"[^"]*")+/g) || []).filter(Boolean);
}

/** silenceMatches is Alertmanager's rule: every matcher matches the alert's labels. */
function silenceMatches(s: Silence, labels: Labels): boolean {
  return s.matchers.length > 0 && s.matchers.every((m) => {
    const v = labels[m.name] ?? "";
    let ok: boolean;
    if (m.isRegex) {
      try {
        ok = new RegExp("^(?:" + m.value + ")$").test(v);
      } catch {
        return false;
      }
    } else ok = v === m.value;
    return m.isEqual === false ? !ok : ok;
  });
}

function subset(a: Labels, b: Labels): boolean {
  return Object.entries(a).every(([k, v]) => b[k] === v);
}

/** amRequest calls the built-in Alertmanager, whose answers are bare JSON (no Prometheus envelope). */
async function amRequest<T>(method: string, path: string, body?: unknown): Promise<T> {
  let resp: Response;
  try {
    resp = await fetch(AM + path, {
      method,
      body: body === undefined ? undefined : JSON.stringify(body),
      headers: body === undefined ? undefined : { "Content-Type": "application/json" },
    });
  } catch {
    throw new ServerDown("The Panoptes server cannot be reached.");
  }
  const text = await resp.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    /* a plain-text error */
  }
  if (!resp.ok) {
    const msg = typeof json === "string" ? json : json?.message || json?.error || text || resp.statusText;
    throw new APIError(`Alertmanager: ${resp.status} ${String(msg).trim()}`, "", resp.status);
  }
  return json as T;
}

let amKnown: boolean | undefined;

/**
 * builtinAlertmanager tells whether the all-in-one runs its Alertmanager:
 * started with --alertmanager.config.file, it answers
 * /alertmanager/api/v2/status. The flag is read first so that a server
 * without one is not asked (a 404 would be a console error on every load).
 * Asked once per page load: whether it runs is fixed when the process starts.
 */
async function builtinAlertmanager(): Promise<boolean> {
  if (amKnown !== undefined) return amKnown;
  try {
    const flags = await api<Record<string, string>>("api/v1/status/flags").catch((e) => {
      if (e instanceof ServerDown) throw e;
      return null; // no flags to read: ask the Alertmanager itself
    });
    if (flags && !flags["alertmanager.config.file"]) return (amKnown = false);
    const r = await fetch(AM + "status", { cache: "no-store" });
    amKnown = r.ok && /json/.test(r.headers.get("Content-Type") || "");
  } catch {
    return false; // the server is away; ask again on the next refresh
  }
  return amKnown;
}

function setFiring(n: number): void {
  window.dispatchEvent(new CustomEvent("panoptes:firing", { detail: n }));
}

/** firingCount counts the firing alerts, for the navigation's badge. */
export async function firingCount(): Promise<number> {
  const d = await api<{ alerts: RuleAlert[] }>("api/v1/alerts");
  return (d.alerts || []).filter((a) => a.state === "firing").length;
}

function noRules(): HTMLElement {
  const c = (t: string) => h("code", { text: t });
  return h("section.panel.wide.empty", null, h("div.panel-body", null,
    h("p", null, h("strong", { text: "No rules are loaded." })),
    h("p", null, "Rules come from the files that ", c("rule_files"), " lists in the configuration file (", c("--config.file"),
      "), in Prometheus's rule-file format; globs are allowed, and relative paths start at the configuration file's directory:"),
    h("pre.config", { text: "rule_files:\n  - rules/*.yml\n" }),
    h("p", null, "Reload after an edit (SIGHUP or ", c("POST /-/reload"), "): a file that does not load is rejected with its error, and the rules already loaded stay. ",
      "The built-in rules (host, containers, Kubernetes, the server's own health) load with ", c("--rules.builtin"), ", on by default in the all-in-one ", c("panoptes"), ".")));
}

function plural(n: number, one: string, many: string): string {
  return n === 1 ? `${n} ${one}` : `${n} ${many}`;
}

const STATES = ["firing", "pending", "inactive"] as const;
type State = (typeof STATES)[number];

/**
 * AlertsPage lists the alerting rules by group with their alerts: labels,
 * annotations, value and since when, with a filter and state toggles kept
 * in the URL (#/alerts?filter=...&state=firing,pending).
 */
export class AlertsPage {
  readonly el: HTMLElement;
  readonly live = true; // refreshed on every tick, whatever the time range
  private body = h("div.alert-groups");
  private filter: HTMLInputElement;
  private toggles = new Map<State, HTMLInputElement>();
  private counts = new Map<State, HTMLElement>();
  private groups: RuleGroup[] = [];
  private am = false;
  private amAlerts: AMAlert[] = [];
  private silences: Silence[] = [];
  private amError = "";
  private open = new Map<string, boolean>(); // rules the user opened or closed
  private dialog?: HTMLDialogElement;
  private state: PanelState = { title: "alerts", kind: "alerts", state: "loading" };
  private loaded = false;

  constructor() {
    const p = currentRoute().params;
    const on = new Set((p.get("state") || "firing,pending").split(",").filter(Boolean));
    this.filter = h("input", {
      type: "search", placeholder: 'Filter: text, or label matchers such as severity="critical" team=~"ops|db"',
      value: p.get("filter") || "",
      oninput: () => {
        updateParams((q) => (this.filter.value ? q.set("filter", this.filter.value) : q.delete("filter")));
        this.render();
      },
    }) as HTMLInputElement;
    const toolbar = h("div.toolbar", null, this.filter);
    for (const s of STATES) {
      const box = h("input", { type: "checkbox", checked: on.has(s), "data-state": s, onchange: () => this.stateChanged() }) as HTMLInputElement;
      const count = h("span.count");
      this.toggles.set(s, box);
      this.counts.set(s, count);
      toolbar.append(h("label.check.state-toggle." + s, null, box, h("span.dot." + s), " " + s[0].toUpperCase() + s.slice(1) + " ", count));
    }
    this.el = h("div.alerts", null, h("div.page-head", null, h("h1", { text: "Alerts" })), toolbar, this.body);
    window.__panoptes.panels = [this.state];
    void this.refresh();
  }

  private stateChanged(): void {
    const on = STATES.filter((s) => this.toggles.get(s)!.checked);
    updateParams((q) => q.set("state", on.join(",")));
    this.render();
  }

  async refresh(): Promise<void> {
    window.__panoptes.ready = false;
    try {
      this.am = await builtinAlertmanager();
      const [rules, amAlerts, silences] = await Promise.all([
        api<{ groups: RuleGroup[] }>("api/v1/rules", { type: "alert" }),
        this.am ? amRequest<AMAlert[]>("GET", "alerts").catch((e) => e as Error) : null,
        this.am ? amRequest<Silence[]>("GET", "silences").catch((e) => e as Error) : null,
      ]);
      this.groups = rules.groups || [];
      // The Alertmanager's trouble does not hide the rules: it is shown above them.
      this.amError = [amAlerts, silences].filter((x) => x instanceof Error).map((e) => errText(e)).join("; ");
      this.amAlerts = Array.isArray(amAlerts) ? amAlerts : [];
      this.silences = Array.isArray(silences) ? silences.filter((s) => s.status?.state === "active") : [];
      this.loaded = true;
      this.render();
      setFiring(this.groups.reduce((n, g) => n + g.rules.reduce((m, r) => m + (r.alerts || []).filter((a) => a.state === "firing").length, 0), 0));
    } catch (e) {
      this.body.innerHTML = "";
      this.body.append(h("div.error", { text: errText(e) }));
      Object.assign(this.state, { state: "error", error: errText(e) });
    }
    window.__panoptes.ready = true;
  }

  /** silencesOf returns the active silences that mute an alert: the Alertmanager's verdict, else the matchers. */
  private silencesOf(labels: Labels): Silence[] {
    const ids = new Set<string>();
    for (const a of this.amAlerts) if (subset(labels, a.labels)) for (const id of a.status?.silencedBy || []) ids.add(id);
    // Pending alerts are not sent to the Alertmanager; a silence that
    // matches them applies as soon as they fire.
    return this.silences.filter((s) => ids.has(s.id) || silenceMatches(s, labels));
  }

  private render(): void {
    if (!this.loaded) return;
    const show = new Set(STATES.filter((s) => this.toggles.get(s)!.checked));
    const terms = filterTerms(this.filter.value.trim());
    const total: Record<State, number> = { firing: 0, pending: 0, inactive: 0 };
    let shown = 0, rulesShown = 0;
    const sections: HTMLElement[] = [];
    for (const g of this.groups) {
      const blocks: HTMLElement[] = [];
      for (const r of g.rules) {
        if (r.type !== "alerting") continue;
        const alerts = r.alerts || [];
        if (!alerts.length) total.inactive++;
        for (const a of alerts) if (a.state === "firing" || a.state === "pending") total[a.state]++;
        const text = (a?: RuleAlert) => [g.name, g.file, r.name, r.query, JSON.stringify(a ? a.labels : r.labels || {}), JSON.stringify(a ? a.annotations : r.annotations || {})].join(" ");
        const ruleLabels = { alertname: r.name, ...(r.labels || {}) };
        const pass = (labels: Labels, t: string) => terms.every((term) => termMatches(term, labels, t));
        const visible = alerts.filter((a) => show.has(a.state) && pass(a.labels, text(a)));
        const inactiveShown = !alerts.length && show.has("inactive") && pass(ruleLabels, text());
        if (!visible.length && !inactiveShown) continue;
        shown += visible.length;
        rulesShown++;
        blocks.push(this.ruleBlock(g, r, visible));
      }
      if (!blocks.length) continue;
      sections.push(h("section.panel.wide.alert-group", { "data-group": g.name },
        h("div.panel-title", null, h("span", { text: g.name }), " ", h("small.file", { text: g.file })),
        h("div.panel-body", null, ...blocks)));
    }
    for (const s of STATES) this.counts.get(s)!.textContent = `(${total[s]})`;
    this.body.innerHTML = "";
    if (this.amError) this.body.append(h("div.error", { text: "The built-in Alertmanager did not answer: " + this.amError }));
    const alerting = total.firing + total.pending + total.inactive;
    if (!this.groups.length) this.body.append(noRules());
    else if (!alerting) this.body.append(h("div.nodata.panel.empty", null, h("strong", { text: "Nothing is firing." }), h("div", { text: "The rules loaded are all recording rules (see Rules): no alerting rule can fire." })));
    else if (!sections.length) {
      const nothing = total.firing + total.pending === 0;
      this.body.append(h("div.nodata.panel.empty", null,
        h("strong", { text: nothing ? "Nothing is firing." : "No alert matches the filter." }),
        h("div", { text: nothing ? (alerting === 1 ? "The one alerting rule is inactive." : `All ${alerting} alerting rules are inactive.`) : "Clear the filter or turn on more states." })));
    } else this.body.append(...sections);
    if (this.am && this.silences.length) this.body.append(this.silenceList());
    Object.assign(this.state, { state: shown || rulesShown ? "ok" : "nodata", rows: shown, error: undefined });
  }

  private ruleBlock(g: RuleGroup, r: Rule, alerts: RuleAlert[]): HTMLElement {
    const key = g.file + "\x00" + g.name + "\x00" + r.name;
    const state = r.state || "inactive";
    const n = (s: string) => alerts.filter((a) => a.state === s).length;
    const details = h("details.rule." + state, { "data-rule": r.name, "data-state": state }) as HTMLDetailsElement;
    details.open = this.open.get(key) ?? alerts.length > 0;
    details.addEventListener("toggle", () => this.open.set(key, details.open));
    const tags: HTMLElement[] = [];
    if (n("firing")) tags.push(h("span.tag.firing", { text: `${n("firing")} firing` }));
    if (n("pending")) tags.push(h("span.tag.pending", { text: `${n("pending")} pending` }));
    // Prometheus says "unknown" until the rule's first evaluation.
    if (!alerts.length) tags.push(state === "unknown" ? h("span.tag.unknown", { text: "not evaluated yet" }) : h("span.tag.inactive", { text: "inactive" }));
    if (r.health === "err") tags.push(h("span.tag.err", { text: "error", title: r.lastError || "" }));
    details.append(h("summary", null, h("span.dot." + state), h("strong.rule-name", { text: r.name }), ...tags,
      r.duration ? h("small.muted", { text: `for ${promDuration(r.duration)}` }) : null));
    // The alerts' rows carry the rule's labels; an inactive rule shows them here.
    const meta = h("div.rule-meta", null, exploreLink(r.query), alerts.length ? null : labelChips(r.labels));
    if (r.health === "err") meta.append(h("div.error", { text: r.lastError || "evaluation failed" }));
    details.append(meta);
    if (alerts.length) {
      const table = h("table.data.alert-table");
      const head = table.appendChild(h("thead")).appendChild(h("tr"));
      for (const c of ["State", "Labels", "Annotations", "Value", "Since", ...(this.am ? [""] : [])]) head.append(h("th", { text: c }));
      const body = table.appendChild(h("tbody"));
      for (const a of alerts) body.append(this.alertRow(a));
      details.append(h("div.table-wrap", null, table));
    } else if (!r.alerts?.length) {
      details.append(h("div.muted.inactive-note", { text: "Inactive: the query returns nothing." }));
    }
    return details;
  }

  private alertRow(a: RuleAlert): HTMLElement {
    const silenced = this.am ? this.silencesOf(a.labels) : [];
    const ann = a.annotations || {};
    const annCell = h("td.annotations", null,
      ann.summary ? h("div.summary", { text: ann.summary }) : null,
      ann.description ? h("div.description", { text: ann.description }) : null,
      ...Object.entries(ann).filter(([k]) => k !== "summary" && k !== "description").map(([k, v]) =>
        h("div.annotation", null, h("span.muted", { text: k + ": " }), /^https?:\/\//.test(v) ? h("a", { href: v, text: v, target: "_blank", rel: "noopener noreferrer" }) : v)));
    const since = unixSeconds(a.activeAt);
    const value = Number(a.value);
    const row = h("tr.alert." + a.state + (silenced.length ? ".silenced" : ""), { "data-state": a.state, "data-alertname": a.labels.alertname || "" },
      h("td", null, h("span.tag." + a.state, { text: a.state }), silenced.length ? h("span.tag.silenced", { text: "silenced" }) : null,
        // keep_firing_for: the condition is gone, the alert still fires.
        isFinite(unixSeconds(a.keepFiringSince)) ? h("small.muted.keep", { text: " kept firing since ", title: "keep_firing_for" }, when(a.keepFiringSince)) : null),
      h("td", null, labelChips(a.labels, ["alertname"])),
      annCell,
      h("td.num", { title: a.value, text: isFinite(value) ? fmt("short", value, 3) : a.value }),
      h("td.since", null, isFinite(since) ? h("div", { text: ago(since) }) : h("span.muted", { text: "–" }),
        isFinite(since) ? h("small.muted", { text: new Date(since * 1000).toLocaleString() }) : null));
    if (this.am) {
      const cell = h("td.actions");
      for (const s of silenced) {
        cell.append(h("div.silence-info", null,
          h("small", { text: `until ${new Date(s.endsAt).toLocaleString()} by ${s.createdBy}`, title: s.comment }), " ",
          h("button.expire", { text: "Expire", title: "Expire silence " + s.id, onclick: () => void this.expire(s.id, cell) })));
      }
      if (!silenced.length) cell.append(h("button.silence", { text: "Silence", onclick: () => this.silenceForm(a) }));
      row.append(cell);
    }
    return row;
  }

  private silenceList(): HTMLElement {
    const table = h("table.data.silences");
    const head = table.appendChild(h("thead")).appendChild(h("tr"));
    for (const c of ["Matchers", "Ends", "By", "Comment", ""]) head.append(h("th", { text: c }));
    const body = table.appendChild(h("tbody"));
    for (const s of this.silences) {
      const cell = h("td");
      cell.append(h("button.expire", { text: "Expire", onclick: () => void this.expire(s.id, cell) }));
      body.append(h("tr", { "data-silence": s.id },
        h("td", null, h("span.labels", null, ...s.matchers.map((m) => h("code", { text: m.name + (m.isEqual === false ? "!" : "") + (m.isRegex ? "=~" : "=") + JSON.stringify(m.value) })))),
        h("td", null, when(s.endsAt)),
        h("td", { text: s.createdBy }),
        h("td", { text: s.comment }),
        cell));
    }
    return h("section.panel.wide.silence-list", null, h("div.panel-title", null, h("span", { text: `Active silences (${this.silences.length})` })), h("div.panel-body", null, h("div.table-wrap", null, table)));
  }

  private async expire(id: string, where: HTMLElement): Promise<void> {
    try {
      await amRequest("DELETE", "silence/" + encodeURIComponent(id));
      await this.refresh();
    } catch (e) {
      where.append(h("div.error", { text: errText(e) }));
    }
  }

  /** silenceForm opens a dialog prefilled with the alert's labels as matchers. */
  private silenceForm(a: RuleAlert): void {
    this.dialog?.remove();
    const rows = Object.entries(a.labels).map(([k, v]) => {
      const box = h("input", { type: "checkbox", checked: true, "data-name": k }) as HTMLInputElement;
      return { k, v, box, el: h("label.check.matcher", null, box, h("code", { text: `${k}="${v}"` })) };
    });
    const dur = h("input", { name: "duration", value: "2h", required: true, title: "A duration such as 30m, 2h or 1d" }) as HTMLInputElement;
    const ends = h("small.muted");
    const author = h("input", { name: "author", value: localStorage.getItem("panoptes-silence-author") || "", required: true, placeholder: "Your name or e-mail" }) as HTMLInputElement;
    const comment = h("textarea", { name: "comment", required: true, rows: 3, placeholder: "Why, and for how long" }) as HTMLTextAreaElement;
    const err = h("div.error", { hidden: true });
    const showEnds = () => {
      const d = parseDuration(dur.value.trim());
      ends.textContent = isFinite(d) && d > 0 ? "ends " + new Date(Date.now() + d * 1000).toLocaleString() : "not a duration";
    };
    dur.addEventListener("input", showEnds);
    showEnds();
    const dialog = h("dialog.silence-form") as HTMLDialogElement;
    const form = h("form", { method: "dialog" },
      h("h2", { text: "Silence " + (a.labels.alertname || "alert") }),
      h("div.field", null, h("div.muted", { text: "Matchers (the alert's labels)" }), ...rows.map((r) => r.el)),
      h("label.field", null, h("span", { text: "Duration" }), dur, ends),
      h("label.field", null, h("span", { text: "Author" }), author),
      h("label.field", null, h("span", { text: "Comment" }), comment),
      err,
      h("div.buttons", null,
        h("button", { type: "button", text: "Cancel", onclick: () => dialog.close() }),
        h("button.primary", { type: "submit", text: "Create silence" })));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const d = parseDuration(dur.value.trim());
      const matchers = rows.filter((r) => r.box.checked).map((r) => ({ name: r.k, value: r.v, isRegex: false, isEqual: true }));
      const problem = !matchers.length ? "Keep at least one matcher." : !(isFinite(d) && d > 0) ? `"${dur.value}" is not a duration (e.g. 2h).` :
        !author.value.trim() ? "Say who silences it." : !comment.value.trim() ? "Say why." : "";
      if (problem) {
        err.textContent = problem;
        err.hidden = false;
        return;
      }
      const now = Date.now();
      try {
        await amRequest<{ silenceID: string }>("POST", "silences", {
          matchers, startsAt: new Date(now).toISOString(), endsAt: new Date(now + d * 1000).toISOString(),
          createdBy: author.value.trim(), comment: comment.value.trim(),
        });
      } catch (e) {
        err.textContent = errText(e);
        err.hidden = false;
        return;
      }
      localStorage.setItem("panoptes-silence-author", author.value.trim());
      dialog.close();
      await this.refresh();
    });
    dialog.append(form);
    dialog.addEventListener("close", () => dialog.remove());
    document.body.append(dialog);
    this.dialog = dialog;
    dialog.showModal();
    (author.value ? comment : author).focus();
  }

  destroy(): void {
    this.dialog?.remove();
  }
}

/**
 * RulesPage lists every rule group with its file, interval and last
 * evaluation, and each rule's health, error, timing and query.
 */
export class RulesPage {
  readonly el: HTMLElement;
  readonly live = true;
  private body = h("div.rule-groups");
  private summary = h("div.rules-summary.muted");
  private filter: HTMLInputElement;
  private errorsOnly: HTMLInputElement;
  private groups: RuleGroup[] = [];
  private loaded = false;
  private state: PanelState = { title: "rules", kind: "rules", state: "loading" };

  constructor() {
    const p = currentRoute().params;
    this.filter = h("input", {
      type: "search", placeholder: "Filter by rule, group, file, query or label", value: p.get("filter") || "",
      oninput: () => {
        updateParams((q) => (this.filter.value ? q.set("filter", this.filter.value) : q.delete("filter")));
        this.render();
      },
    }) as HTMLInputElement;
    this.errorsOnly = h("input.errors-only", {
      type: "checkbox", checked: p.get("health") === "err",
      onchange: () => {
        updateParams((q) => (this.errorsOnly.checked ? q.set("health", "err") : q.delete("health")));
        this.render();
      },
    }) as HTMLInputElement;
    this.el = h("div.rules", null, h("div.page-head", null, h("h1", { text: "Rules" })),
      h("div.toolbar", null, this.filter, h("label.check", null, this.errorsOnly, " only unhealthy")), this.summary, this.body);
    window.__panoptes.panels = [this.state];
    void this.refresh();
  }

  async refresh(): Promise<void> {
    window.__panoptes.ready = false;
    try {
      this.groups = (await api<{ groups: RuleGroup[] }>("api/v1/rules")).groups || [];
      this.loaded = true;
      this.render();
    } catch (e) {
      this.body.innerHTML = "";
      this.body.append(h("div.error", { text: errText(e) }));
      Object.assign(this.state, { state: "error", error: errText(e) });
    }
    window.__panoptes.ready = true;
  }

  private render(): void {
    if (!this.loaded) return;
    const terms = filterTerms(this.filter.value.trim());
    let rules = 0, bad = 0, unknown = 0, shown = 0;
    const sections: HTMLElement[] = [];
    for (const g of this.groups) {
      rules += g.rules.length;
      bad += g.rules.filter((r) => r.health === "err").length;
      unknown += g.rules.filter((r) => r.health === "unknown").length;
      const keep = g.rules.filter((r) => (!this.errorsOnly.checked || r.health === "err") &&
        terms.every((t) => termMatches(t, { alertname: r.type === "alerting" ? r.name : "", __name__: r.type === "recording" ? r.name : "", ...(r.labels || {}) }, [g.name, g.file, r.name, r.query, JSON.stringify(r.labels || {})].join(" "))));
      if (!keep.length) continue;
      shown += keep.length;
      sections.push(this.groupPanel(g, keep));
    }
    this.summary.textContent = this.groups.length ? `${plural(rules, "rule", "rules")} in ${plural(this.groups.length, "group", "groups")}` +
      (bad ? `, ${bad} unhealthy` : unknown ? "" : ", all healthy") + (unknown ? `, ${unknown} not evaluated yet` : "") : "";
    this.body.innerHTML = "";
    if (!this.groups.length) this.body.append(noRules());
    else if (!sections.length) this.body.append(h("div.nodata.panel", { text: "No rule matches the filter." }));
    else this.body.append(...sections);
    Object.assign(this.state, { state: shown ? "ok" : "nodata", rows: shown, error: undefined });
  }

  private groupPanel(g: RuleGroup, rules: Rule[]): HTMLElement {
    const bad = g.rules.filter((r) => r.health === "err").length;
    const meta = h("div.group-meta", null,
      h("span", null, h("span.muted", { text: "file " }), h("code", { text: g.file })),
      h("span", null, h("span.muted", { text: "every " }), promDuration(g.interval)),
      h("span", null, h("span.muted", { text: "last evaluation " }), when(g.lastEvaluation)),
      isFinite(unixSeconds(g.lastEvaluation)) ? h("span", null, h("span.muted", { text: "took " }), fmt("s", g.evaluationTime)) : null,
      g.limit ? h("span", null, h("span.muted", { text: "limit " }), String(g.limit)) : null,
      bad ? h("span.err", { text: `${bad} unhealthy` }) : null);
    const table = h("table.data.rule-table");
    const head = table.appendChild(h("thead")).appendChild(h("tr"));
    for (const c of ["Rule", "Health", "Last evaluation", "Duration", "Query", "For", "Labels"]) head.append(h("th", { text: c }));
    const body = table.appendChild(h("tbody"));
    for (const r of rules) {
      const alerting = r.type === "alerting";
      const forText = alerting ? [r.duration ? "for " + promDuration(r.duration) : "", r.keepFiringFor ? "keep firing " + promDuration(r.keepFiringFor) : ""].filter(Boolean).join(", ") || "–" : "";
      body.append(h("tr.rule", { "data-name": r.name, "data-health": r.health, "data-type": r.type },
        h("td", null,
          h("span.tag.type", { text: alerting ? "alert" : "record", title: r.type }), " ",
          alerting ? h("a.rule-name", { href: "#/alerts?state=firing,pending,inactive&filter=" + encodeURIComponent(`alertname="${r.name}"`), text: r.name }) : h("strong.rule-name", { text: r.name }),
          alerting && (r.state === "firing" || r.state === "pending") ? h("span.tag." + r.state, { text: r.state }) : null),
        h("td", null, h("span.health." + r.health, { text: r.health })),
        h("td", null, when(r.lastEvaluation)),
        h("td.num", { text: isFinite(unixSeconds(r.lastEvaluation)) ? fmt("s", r.evaluationTime) : "–" }),
        h("td.query", null, exploreLink(r.query)),
        h("td", { text: forText }),
        h("td", null, labelChips(r.labels))));
      if (r.health === "err") {
        body.append(h("tr.rule-error", { "data-name": r.name }, h("td", { colSpan: 7 }, h("div.error", null, h("strong", { text: "Error: " }), r.lastError || "evaluation failed"))));
      }
    }
    return h("section.panel.wide.rule-group", { "data-group": g.name },
      h("div.panel-title", null, h("span", { text: g.name })), meta, h("div.panel-body", null, h("div.table-wrap", null, table)));
  }
}
