// The page's state lives in the URL's fragment (#/page?params), so that any
// view can be shared, bookmarked and reloaded: the time range (range=1h or
// from/to in ms), the refresh interval, dashboard variables (var-name, as
// Grafana writes them) and Explore's queries.

import { api } from "./api";
import { parseDuration, promDuration } from "./units";

export interface Route {
  path: string;
  params: URLSearchParams;
}

export function currentRoute(): Route {
  const h = location.hash.replace(/^#/, "") || "/";
  const q = h.indexOf("?");
  return { path: q < 0 ? h : h.slice(0, q), params: new URLSearchParams(q < 0 ? "" : h.slice(q + 1)) };
}

export function routeHash(path: string, params: URLSearchParams): string {
  const qs = params.toString();
  return "#" + path + (qs ? "?" + qs : "");
}

/** updateParams changes the fragment's parameters without re-rendering the page. */
export function updateParams(change: (p: URLSearchParams) => void, push = false): void {
  const r = currentRoute();
  change(r.params);
  const url = routeHash(r.path, r.params);
  if (url === location.hash) return;
  if (push) history.pushState(null, "", url);
  else history.replaceState(null, "", url);
}

/** The time window shown: a span ending now, or an absolute range. */
export interface Window {
  start: number; // Unix seconds
  end: number;
  relative: boolean;
  label: string;
}

export const presets = ["5m", "15m", "30m", "1h", "3h", "6h", "12h", "24h", "2d", "7d", "30d"];

export function timeWindow(p: URLSearchParams = currentRoute().params): Window {
  const from = Number(p.get("from"));
  const to = Number(p.get("to"));
  if (from > 0 && to > from) return { start: from / 1000, end: to / 1000, relative: false, label: "" };
  const r = parseDuration(p.get("range") || "1h");
  const span = isFinite(r) && r > 0 ? r : 3600;
  const end = Date.now() / 1000;
  return { start: end - span, end, relative: true, label: promDuration(span) };
}

/** autoStep is Grafana's: the range over the points that fit, rounded to a nice interval, no finer than minStep. */
export function autoStep(w: Window, maxPoints = 1100, minStep = 1): number {
  const raw = (w.end - w.start) / maxPoints;
  const nice = [1, 2, 5, 10, 15, 20, 30, 60, 120, 300, 600, 900, 1200, 1800, 3600, 7200, 10800, 21600, 43200, 86400];
  let step = nice[nice.length - 1];
  for (const n of nice) if (n >= raw) { step = n; break; }
  return Math.max(step, minStep);
}

let scrapeSeconds = 15;
let scrapeKnown: Promise<void> | null = null;

/**
 * loadScrapeInterval learns how often samples come: the shortest of the
 * config's scrape_interval values and the all-in-one's --collector.interval.
 * It resolves either way (15 s when the server does not say).
 */
export function loadScrapeInterval(): Promise<void> {
  if (!scrapeKnown) {
    scrapeKnown = Promise.all([
      api<{ yaml: string }>("api/v1/status/config").catch(() => null),
      api<Record<string, string>>("api/v1/status/flags").catch(() => null),
    ]).then(([config, flags]) => {
      const found: number[] = [];
      for (const m of (config?.yaml || "").matchAll(/^\s*scrape_interval:\s*(\S+)/gm)) found.push(parseDuration(m[1]));
      // A Go duration such as 15s or 1m0s.
      if (flags && flags["collector.interval"]) found.push(parseDuration(flags["collector.interval"]));
      const ok = found.filter((x) => isFinite(x) && x > 0);
      if (ok.length) scrapeSeconds = Math.min(...ok);
      else scrapeKnown = null; // ask again next time
    });
  }
  return scrapeKnown;
}

/** scrapeInterval is the shortest scrape interval loadScrapeInterval found (15 s until it has). */
export function scrapeInterval(): number {
  return scrapeSeconds;
}

/** rateInterval is Grafana's $__rate_interval: four scrape intervals, or the step and one more. */
export function rateInterval(step: number): number {
  return Math.max(4 * scrapeSeconds, step + scrapeSeconds);
}

type Fn = () => void;
const timeListeners = new Set<Fn>();

/** onTimeChange registers fn (for the current page) to run when the range changes. */
export function onTimeChange(fn: Fn): () => void {
  timeListeners.add(fn);
  return () => timeListeners.delete(fn);
}

export function timeChanged(): void {
  window.dispatchEvent(new Event("panoptes:time"));
  for (const fn of [...timeListeners]) fn();
}

/** zoomTo sets an absolute range (seconds) and pushes it on the history, so Back undoes a zoom. */
export function zoomTo(from: number, to: number): void {
  updateParams((p) => {
    p.delete("range");
    p.set("from", String(Math.round(from * 1000)));
    p.set("to", String(Math.round(to * 1000)));
  }, true);
  timeChanged();
}

export function esc(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!);
}

/** h builds an element: h("div.cls", {attr}, children...). */
export function h<K extends keyof HTMLElementTagNameMap>(tag: K | string, attrs?: Record<string, any> | null, ...children: (Node | string | null | undefined | false)[]): HTMLElement {
  const [name, ...classes] = tag.split(".");
  const el = document.createElement(name || "div");
  if (classes.length) el.className = classes.join(" ");
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on") && typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (k === "text") el.textContent = String(v);
    else if (k in el && typeof v !== "string") (el as any)[k] = v;
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}
