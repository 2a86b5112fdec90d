// Pure helpers of bench/connect-time.ts: when a process started, reached each step and exited, from the
// lines it wrote (stamped as the bench read them), and the medians and worst cases of many runs.

export interface TimedLine {
  /** Wall-clock ms when the bench read the line. */
  at: number;
  stream: "stdout" | "stderr";
  text: string;
}

export interface TimedRun {
  lines: TimedLine[];
  /** Wall-clock ms when the bench saw the exit. */
  exitAt: number;
  code: number;
  /** Ended by a signal: the bench's time limit (SIGKILL), or someone else's. */
  killed: boolean;
}

/** A step seen in a process's log: the first stderr line matching `pattern`. */
export interface Step {
  name: string;
  pattern: RegExp;
}

/** exec-at.py's first line: "exec-at <wall-clock ns>". */
const EXEC_AT = /^exec-at (\d+)$/;

/** When the command was exec'd (wall-clock ms), from exec-at.py's line; undefined without one. */
export function execAt(run: TimedRun): number | undefined {
  for (const line of run.lines) {
    const m = line.stream === "stderr" ? EXEC_AT.exec(line.text) : null;
    if (m?.[1]) return Number(BigInt(m[1]) / 1000n) / 1000;
  }
  return undefined;
}

/**
 * Ms from the exec to each step (first matching stderr line), to the first non-empty stdout line ("result")
 * and to the exit ("exit"). A step never seen is absent.
 */
export function stepTimes(run: TimedRun, steps: readonly Step[]): Record<string, number> {
  const start = execAt(run);
  if (start === undefined) return {};
  const out: Record<string, number> = {};
  for (const step of steps) {
    const line = run.lines.find((l) => l.stream === "stderr" && step.pattern.test(l.text));
    if (line) out[step.name] = line.at - start;
  }
  const result = run.lines.find((l) => l.stream === "stdout" && l.text.trim() !== "");
  if (result) out.result = result.at - start;
  if (Number.isFinite(run.exitAt)) out.exit = run.exitAt - start;
  return out;
}

/** The first non-empty stdout line, the result line a script reads. */
export const resultLine = (run: TimedRun): string | undefined =>
  run.lines.find((l) => l.stream === "stdout" && l.text.trim() !== "")?.text;

/** Median (the lower middle one for an even count, so it is always a measured value); NaN for none. */
export function median(xs: readonly number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? Number.NaN;
}

export const worst = (xs: readonly number[]): number => (xs.length === 0 ? Number.NaN : Math.max(...xs));

/** "412 ms 3.41x (worst 3.90x)": a median time and its ratio to `unit`, with the worst run's ratio. */
export function formatTimes(xs: readonly number[], unit: number): string {
  if (xs.length === 0) return "n/a";
  const m = median(xs);
  return `${m.toFixed(0).padStart(5)} ms ${(m / unit).toFixed(2)}x (worst ${(worst(xs) / unit).toFixed(2)}x)`;
}

/** The round-trip times in ping's output, in ms. */
export const pingRtts = (output: string): number[] =>
  [...output.matchAll(/time=([\d.]+) ms/g)].map((m) => Number(m[1]));
