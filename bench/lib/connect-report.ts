// The tables bench/connect-time.ts prints, from the step times of its runs. Pure.
import { formatTimes, median } from "./timeline.ts";

export interface ReportRow {
  client: string;
  gapMs: number;
  /** Per successful run: ms from the later peer's exec to each step, "result" and "exit" among them. */
  steps: Record<string, number>[];
  runs: number;
  failed: number;
  /** The issue's target for exec to exit, in units of the limit. */
  targetX?: number;
  /** The row the others are compared with at the same gap (the seed). */
  baseline?: boolean;
}

const CLIENT_WIDTH = 10;
const TIMES_WIDTH = 33;
const TARGET_WIDTH = 9;
const STEP_WIDTH = 15;

/** The times of one step over a row's runs, leaving out runs where the step was not seen. */
export const stepValues = (row: ReportRow, step: string): number[] =>
  row.steps.map((s) => s[step]).filter((x): x is number => x !== undefined);

const label = (row: ReportRow) => `${row.client.padEnd(CLIENT_WIDTH)} ${`${row.gapMs / 1000} s`.padStart(4)}`;

/**
 * One line per row: exec to the result line and to the exit, as median ms, median / unit and the worst
 * run / unit; whether the median exit meets the row's target; the median exit / the baseline's at that gap.
 */
export function resultTable(rows: readonly ReportRow[], unit: number): string[] {
  const baselineExit = (gapMs: number) => {
    const b = rows.find((r) => r.baseline && r.gapMs === gapMs);
    return b ? median(stepValues(b, "exit")) : Number.NaN;
  };
  const lines = [
    `${"client".padEnd(CLIENT_WIDTH)} ${"gap".padStart(4)} | ${"result line: median / L (worst)".padEnd(TIMES_WIDTH)} | ${"exit: median / L (worst)".padEnd(TIMES_WIDTH)} | ${"target".padEnd(TARGET_WIDTH)} | exit / seed's`,
  ];
  for (const row of rows) {
    const exit = median(stepValues(row, "exit"));
    const target =
      row.targetX === undefined || Number.isNaN(exit)
        ? ""
        : `${exit / unit <= row.targetX ? "met" : "over"} ${row.targetX}x`;
    const vs = row.baseline ? "" : exit / baselineExit(row.gapMs);
    const failed = row.failed > 0 ? `   FAILED ${row.failed} of ${row.runs}` : "";
    lines.push(
      `${label(row)} | ${formatTimes(stepValues(row, "result"), unit).padEnd(TIMES_WIDTH)} | ${formatTimes(stepValues(row, "exit"), unit).padEnd(TIMES_WIDTH)} | ${target.padEnd(TARGET_WIDTH)} | ${typeof vs === "number" ? (Number.isNaN(vs) ? "n/a" : vs.toPrecision(2)) : vs}${failed}`,
    );
  }
  return lines;
}

/** One line per row: the median ms from the exec to each step, and how much of it that step added. */
export function breakdownTable(rows: readonly ReportRow[], steps: readonly string[]): string[] {
  const lines = [
    `${"client".padEnd(CLIENT_WIDTH)} ${"gap".padStart(4)} | ${steps.map((s) => s.padStart(STEP_WIDTH)).join("")}`,
  ];
  for (const row of rows) {
    let previous = 0;
    const cells = steps.map((step) => {
      const xs = stepValues(row, step);
      if (xs.length === 0) return "-".padStart(STEP_WIDTH);
      const m = median(xs);
      const cell = `${m.toFixed(0)} (+${(m - previous).toFixed(0)})`;
      previous = m;
      return cell.padStart(STEP_WIDTH);
    });
    lines.push(`${label(row)} | ${cells.join("")}`);
  }
  return lines;
}
