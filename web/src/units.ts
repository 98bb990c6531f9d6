// Units formatted for people. Unit ids follow Grafana's where one exists
// (bytes, Bps, percent, percentunit, s, ops, short, none), so that an
// imported Grafana panel keeps its unit; "cores" is ours.

const IEC = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
const SI = ["", "k", "M", "G", "T", "P", "E"];

function trim(v: number, digits: number): string {
  if (!isFinite(v)) return v > 0 ? "∞" : v < 0 ? "-∞" : "NaN";
  const a = Math.abs(v);
  let d = digits;
  if (a >= 100) d = Math.max(0, digits - 2);
  else if (a >= 10) d = Math.max(0, digits - 1);
  let s = v.toFixed(d);
  if (s.includes(".")) s = s.replace(/\.?0+$/, "");
  return s === "-0" ? "0" : s;
}

function scaled(v: number, base: number, names: string[], digits: number): string {
  let i = 0;
  let a = Math.abs(v);
  while (a >= base && i < names.length - 1) {
    a /= base;
    v /= base;
    i++;
  }
  return trim(v, digits) + (names[i] ? " " + names[i] : "");
}

function si(v: number, digits: number): string {
  const a = Math.abs(v);
  if (a !== 0 && a < 0.01) {
    if (a >= 1e-3) return trim(v * 1e3, digits) + " m";
    if (a >= 1e-6) return trim(v * 1e6, digits) + " µ";
    return v.toExponential(1);
  }
  return scaled(v, 1000, SI, digits).replace(/ $/, "");
}

function duration(v: number, digits: number): string {
  const a = Math.abs(v);
  if (!isFinite(v)) return trim(v, digits);
  if (a === 0) return "0 s";
  if (a < 1e-3) return trim(v * 1e6, digits) + " µs";
  if (a < 1) return trim(v * 1e3, digits) + " ms";
  if (a < 60) return trim(v, digits) + " s";
  if (a < 3600) return trim(v / 60, digits) + " min";
  if (a < 86400) return trim(v / 3600, digits) + " h";
  if (a < 86400 * 365) return trim(v / 86400, digits) + " d";
  return trim(v / (86400 * 365), digits) + " y";
}

/** Formats v in unit; digits is the precision for values under 10. */
export function fmt(unit: string | undefined, v: number | null | undefined, digits = 2): string {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  switch (unit || "short") {
    case "bytes":
    case "decbytes":
      return unit === "decbytes" ? scaled(v, 1000, ["B", "kB", "MB", "GB", "TB", "PB"], digits) : scaled(v, 1024, IEC, digits);
    case "Bps":
    case "binBps":
      return scaled(v, 1024, IEC, digits) + "/s";
    case "bps":
      return si(v, digits) + "b/s";
    case "percent":
      return trim(v, digits) + "%";
    case "percentunit":
      return trim(v * 100, digits) + "%";
    case "cores":
      if (Math.abs(v) < 1 && v !== 0) return trim(v * 1000, digits) + "m";
      return trim(v, digits) + (Math.abs(v) === 1 ? " core" : " cores");
    case "s":
      return duration(v, digits);
    case "ms":
      return duration(v / 1000, digits);
    case "ops":
    case "reqps":
    case "iops":
    case "pps":
      return si(v, digits) + (unit === "iops" ? " IO/s" : unit === "pps" ? " p/s" : "/s");
    case "none":
      return trim(v, digits);
    case "dateTimeFromNow":
      return ago(v);
    default:
      return si(v, digits);
  }
}

/** "3 min ago" for a Unix time in seconds. */
export function ago(unixSeconds: number): string {
  const d = Date.now() / 1000 - unixSeconds;
  if (d < 0) return "in " + duration(-d, 0);
  return duration(d, 0) + " ago";
}

/** Formats seconds of span, e.g. for the range picker. */
export function span(seconds: number): string {
  return duration(seconds, 1);
}

/** Parses a Prometheus duration such as 1h30m or 15s into seconds; NaN if invalid. */
export function parseDuration(s: string): number {
  const re = /(\d+(?:\.\d+)?)(ms|s|m|h|d|w|y)/g;
  const mult: Record<string, number> = { ms: 0.001, s: 1, m: 60, h: 3600, d: 86400, w: 604800, y: 31536000 };
  let total = 0;
  let seen = "";
  let m: RegExpExecArray | null;
  while ((m = re.exec(s)) !== null) {
    total += parseFloat(m[1]) * mult[m[2]];
    seen += m[0];
  }
  return seen === s && s !== "" ? total : NaN;
}

/** Formats seconds as a Prometheus duration (e.g. 90 -> "1m30s"). */
export function promDuration(seconds: number): string {
  let ms = Math.round(seconds * 1000);
  if (ms <= 0) return "0s";
  let out = "";
  const parts: [string, number][] = [["d", 86400000], ["h", 3600000], ["m", 60000], ["s", 1000], ["ms", 1]];
  for (const [u, n] of parts) {
    if (ms >= n) {
      out += Math.floor(ms / n) + u;
      ms %= n;
    }
  }
  return out;
}
