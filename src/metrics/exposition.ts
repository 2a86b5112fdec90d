/**
 * The Prometheus text exposition format, version 0.0.4: what a scrape of `/metrics` gets. Pure: families
 * in, text out. Every metric of netpunch goes through `formatExposition`, so the escaping and the naming
 * rules are checked in one place.
 */

/** The Content-Type Prometheus expects for this format. */
export const EXPOSITION_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type Labels = Readonly<Record<string, string>>;

/** One value of a counter or a gauge, with its labels. */
export interface Sample {
  labels?: Labels;
  value: number;
}

/** One histogram series: the cumulative count of observations at or below each bound, the sum, the count. */
export interface HistogramSample {
  labels?: Labels;
  /** Bounds in increasing order, each with how many observations were at most it (cumulative). */
  buckets: readonly (readonly [le: number, count: number])[];
  sum: number;
  count: number;
}

interface FamilyBase {
  /** With the `netpunch_` prefix and the base unit (`_seconds`, `_bytes`); a counter's ends in `_total`. */
  name: string;
  /** One line saying what it counts; escaped here. */
  help: string;
}

export type MetricFamily =
  | (FamilyBase & { type: "counter" | "gauge"; samples: readonly Sample[] })
  | (FamilyBase & { type: "histogram"; samples: readonly HistogramSample[] });

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
/** Label names starting with `__` are reserved for Prometheus itself. */
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

/** A HELP text: backslash and line feed escaped (the format's rule for HELP). */
export const escapeHelp = (text: string): string => text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");

/** A label value: backslash, double quote and line feed escaped (the format's rule for label values). */
export const escapeLabelValue = (text: string): string =>
  text.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");

/** A sample value as the format spells it: `+Inf`, `-Inf`, `NaN`, or the number. */
export function formatValue(n: number): string {
  if (Number.isNaN(n)) return "NaN";
  if (n === Number.POSITIVE_INFINITY) return "+Inf";
  if (n === Number.NEGATIVE_INFINITY) return "-Inf";
  return String(n);
}

/** `{a="1",b="2"}`, or nothing without labels; `extra` (a histogram's `le`) goes last. */
function labelSet(labels: Labels | undefined, extra?: [string, string]): string {
  const pairs = Object.entries(labels ?? {});
  if (extra) pairs.push(extra);
  if (pairs.length === 0) return "";
  return `{${pairs.map(([k, v]) => `${k}="${escapeLabelValue(v)}"`).join(",")}}`;
}

/** A family netpunch would print wrong is a bug in netpunch: refused loudly, never printed. */
function check(f: MetricFamily): void {
  if (!METRIC_NAME.test(f.name)) throw new Error(`metric name ${JSON.stringify(f.name)} is not valid`);
  if (f.type === "counter" && !f.name.endsWith("_total"))
    throw new Error(`counter ${f.name} must end in _total`);
  if (f.type !== "counter" && f.name.endsWith("_total"))
    throw new Error(`only a counter may end in _total (${f.name})`);
  for (const s of f.samples)
    for (const k of Object.keys(s.labels ?? {}))
      if (!LABEL_NAME.test(k) || k.startsWith("__") || (f.type === "histogram" && k === "le"))
        throw new Error(`label name ${JSON.stringify(k)} of ${f.name} is not valid`);
}

/** One family's lines: HELP, TYPE, then its samples. */
function familyLines(f: MetricFamily): string[] {
  check(f);
  const out = [`# HELP ${f.name} ${escapeHelp(f.help)}`, `# TYPE ${f.name} ${f.type}`];
  if (f.type !== "histogram") {
    for (const s of f.samples) out.push(`${f.name}${labelSet(s.labels)} ${formatValue(s.value)}`);
    return out;
  }
  for (const s of f.samples) {
    for (const [le, count] of s.buckets)
      out.push(`${f.name}_bucket${labelSet(s.labels, ["le", formatValue(le)])} ${formatValue(count)}`);
    // The +Inf bucket is required and equals the count.
    out.push(`${f.name}_bucket${labelSet(s.labels, ["le", "+Inf"])} ${formatValue(s.count)}`);
    out.push(`${f.name}_sum${labelSet(s.labels)} ${formatValue(s.sum)}`);
    out.push(`${f.name}_count${labelSet(s.labels)} ${formatValue(s.count)}`);
  }
  return out;
}

/** The whole exposition: every family once, in the order given, ending with a line feed. */
export function formatExposition(families: readonly MetricFamily[]): string {
  const seen = new Set<string>();
  const lines: string[] = [];
  for (const f of families) {
    if (seen.has(f.name)) throw new Error(`metric ${f.name} appears twice`);
    seen.add(f.name);
    lines.push(...familyLines(f));
  }
  return lines.length ? `${lines.join("\n")}\n` : "";
}
