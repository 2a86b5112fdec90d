// The arithmetic of bench/proxy.ts, pure: percentiles of round-trip times, what one step delivered and what
// it cost, and the ratios the bench prints. Unit-tested (test/unit/bench/proxy-stats.test.ts).

/** The p-th percentile (0..100) by nearest rank of `values` (any order); NaN for none. */
export function percentile(values: readonly number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

/** The median of `values`; NaN for none (the middle pair's mean for an even count). */
export function median(values: readonly number[]): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((x, y) => x - y);
  const mid = sorted.length >> 1;
  return sorted.length % 2
    ? (sorted[mid] as number)
    : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}

/** What one throughput step measured: the sender's count and time, the sink's count, the CPU it took. */
export interface StepSample {
  size: number;
  /** Datagrams a second asked for; 0: as fast as the sender can. */
  offered: number;
  sent: number;
  delivered: number;
  /** How long the sender sent, in ms. */
  sendMs: number;
  /** CPU time of the two netpunch peers, and of the server, over the step (drain included), in us. */
  peerCpuUs: number;
  serverCpuUs: number;
}

export interface StepFigures {
  /** Delivered datagrams a second (over the sending time) and the payload's Mbit/s. */
  pps: number;
  mbps: number;
  loss: number;
  /** CPU per delivered datagram, in us. */
  peerUs: number;
  serverUs: number;
  /** Cores the peers kept busy while the sender sent. */
  peerCores: number;
  /** Payload Gbit carried per CPU-second of the two peers: Gbit/s per core. NaN when they hardly ran. */
  gbitPerCore: number;
}

/** Below this many CPU-seconds per second the peers were idle (a hand-off): no per-core figure. */
const IDLE_CORES = 0.02;

export function figures(s: StepSample): StepFigures {
  // A thread that ends during the step takes its time out of the sum of the live ones: never below zero.
  s = { ...s, peerCpuUs: Math.max(0, s.peerCpuUs), serverCpuUs: Math.max(0, s.serverCpuUs) };
  const seconds = s.sendMs / 1000;
  const pps = s.delivered / seconds;
  const delivered = Math.max(1, s.delivered);
  const peerCores = s.peerCpuUs / 1e6 / seconds;
  return {
    pps,
    mbps: (pps * s.size * 8) / 1e6,
    loss: s.sent > 0 ? 1 - s.delivered / s.sent : 0,
    peerUs: s.peerCpuUs / delivered,
    serverUs: s.serverCpuUs / delivered,
    peerCores,
    gbitPerCore: peerCores < IDLE_CORES ? Number.NaN : (s.delivered * s.size * 8) / 1e9 / (s.peerCpuUs / 1e6),
  };
}

/** `x` over `base` as "0.42x"; "-" when either is missing or the base is zero. */
export function ratio(x: number, base: number): string {
  if (!Number.isFinite(x) || !Number.isFinite(base) || base === 0) return "-";
  return `${(x / base).toFixed(2)}x`;
}

/** A number with `digits` decimals, or "-" for NaN (a figure that does not apply). */
export function fixed(x: number, digits: number): string {
  return Number.isFinite(x) ? x.toFixed(digits) : "-";
}

/** Added latency: a path's RTT minus the baseline's, in ms with 3 decimals, signed. */
export function added(rtt: number, base: number): string {
  if (!Number.isFinite(rtt) || !Number.isFinite(base)) return "-";
  const d = rtt - base;
  return `${d >= 0 ? "+" : ""}${d.toFixed(3)}`;
}

/** One table row: the first cell left-aligned to its width, the others right-aligned, one space apart. */
export function columns(cells: readonly string[], widths: readonly number[]): string {
  return cells
    .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
    .join(" ")
    .trimEnd();
}

/** Each figure's median over several rounds of one step. */
export function medianFigures(fs: readonly StepFigures[]): StepFigures {
  const m = (k: keyof StepFigures) => median(fs.map((f) => f[k]).filter((x) => !Number.isNaN(x)));
  return {
    pps: m("pps"),
    mbps: m("mbps"),
    loss: m("loss"),
    peerUs: m("peerUs"),
    serverUs: m("serverUs"),
    peerCores: m("peerCores"),
    gbitPerCore: m("gbitPerCore"),
  };
}

/**
 * A path's best step at one size: the offered rate whose median delivered rate over the rounds is highest
 * (a paced rate it kept up with, or flat out), with its median figures; undefined without samples.
 */
export function bestStep(
  samples: readonly StepSample[],
): { offered: number; figures: StepFigures } | undefined {
  const byRate = new Map<number, StepFigures[]>();
  for (const s of samples) byRate.set(s.offered, [...(byRate.get(s.offered) ?? []), figures(s)]);
  let best: { offered: number; figures: StepFigures } | undefined;
  for (const [offered, fs] of byRate) {
    const f = medianFigures(fs);
    if (!best || f.pps > best.figures.pps) best = { offered, figures: f };
  }
  return best;
}

/** A step as bench/proxy.ts keeps it: which path, which round. */
export interface RoundSample extends StepSample {
  path: string;
  round: number;
}

/**
 * `path` against `base` round by round, at one size and offered rate: in each round both ran the same step
 * back to back, so each round's ratio of CPU per delivered datagram (peers and server together) compares the
 * two under the same disturbance; the range over the rounds says how far to trust it. Undefined when either
 * has no step there.
 */
export function roundRatios(
  samples: readonly RoundSample[],
  path: string,
  base: string,
  size: number,
  offered: number,
): { min: number; max: number; median: number } | undefined {
  const cost = (s: StepSample) => {
    const f = figures(s);
    return f.peerUs + f.serverUs;
  };
  const at = (name: string) =>
    new Map(
      samples
        .filter((s) => s.path === name && s.size === size && s.offered === offered)
        .map((s) => [s.round, s] as const),
    );
  const mine = at(path);
  const theirs = at(base);
  const ratios: number[] = [];
  for (const [round, s] of mine) {
    const b = theirs.get(round);
    if (b && cost(b) > 0) ratios.push(cost(s) / cost(b));
  }
  if (ratios.length === 0) return undefined;
  return { min: Math.min(...ratios), max: Math.max(...ratios), median: median(ratios) };
}
