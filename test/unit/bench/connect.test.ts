import { describe, expect, test } from "bun:test";
import { breakdownTable, type ReportRow, resultTable } from "../../../bench/lib/connect-report.ts";
import { lowerGoDirective } from "../../../bench/lib/seed.ts";
import {
  execAt,
  formatTimes,
  median,
  pingRtts,
  resultLine,
  stepTimes,
  type TimedLine,
  type TimedRun,
} from "../../../bench/lib/timeline.ts";

const T0 = 1_796_000_000_000; // wall-clock ms of the exec in these runs
const line = (dt: number, stream: TimedLine["stream"], text: string): TimedLine => ({
  at: T0 + dt,
  stream,
  text,
});
const run = (lines: TimedLine[], exitDt = 300, code = 0): TimedRun => ({
  lines,
  exitAt: T0 + exitDt,
  code,
  killed: false,
});
const STEPS = [
  { name: "REGISTER sent", pattern: /listening on UDP/ },
  { name: "MATCH", pattern: /partner found/ },
  { name: "proven", pattern: /proven both ways/ },
];

describe("bench timeline", () => {
  test("execAt reads exec-at.py's nanoseconds, keeping sub-ms precision", () => {
    const r = run([line(0.5, "stderr", "exec-at 1796000000000250000")]);
    expect(execAt(r)).toBe(T0 + 0.25);
  });

  test("execAt ignores an exec-at line on stdout, and is undefined without one", () => {
    expect(execAt(run([line(0, "stdout", "exec-at 1796000000000000000")]))).toBeUndefined();
    expect(stepTimes(run([]), STEPS)).toEqual({});
  });

  test("stepTimes: ms from the exec to the first matching stderr line, the result line and the exit", () => {
    const r = run([
      line(0, "stderr", "exec-at 1796000000000000000"),
      line(80, "stderr", "⚙ listening on UDP 0.0.0.0:10000"),
      line(130, "stderr", "ℹ partner found; punching 198.18.2.2:10000 (public)"),
      line(140, "stderr", "ℹ partner found; again"),
      line(150, "stdout", ""),
      line(250, "stdout", "LADDR/LHOST/LPORT/RADDR/RHOST/RPORT: 0.0.0.0:10000 ..."),
    ]);
    // "proven" never appeared, so it is absent rather than a guess.
    expect(stepTimes(r, STEPS)).toEqual({ "REGISTER sent": 80, MATCH: 130, result: 250, exit: 300 });
    expect(resultLine(r)).toStartWith("LADDR/");
  });

  test("stepTimes matches steps on stderr only", () => {
    const r = run([line(0, "stderr", "exec-at 1796000000000000000"), line(10, "stdout", "partner found")]);
    expect(stepTimes(r, STEPS)).toEqual({ result: 10, exit: 300 });
  });

  test("median is a measured value (the lower middle one), NaN for none", () => {
    expect(median([5, 1, 3])).toBe(3);
    expect(median([4, 1, 3, 2])).toBe(2);
    expect(median([])).toBeNaN();
  });

  test("formatTimes gives the median and the worst run as ratios to the unit", () => {
    expect(formatTimes([240, 120, 180], 120)).toBe("  180 ms 1.50x (worst 2.00x)");
    expect(formatTimes([], 120)).toBe("n/a");
  });

  test("pingRtts reads every reply's time", () => {
    const out = "64 bytes from 198.18.1.2: icmp_seq=1 ttl=63 time=40.6 ms\n64 bytes: icmp_seq=2 time=41 ms\n";
    expect(pingRtts(out)).toEqual([40.6, 41]);
  });

  test("lowerGoDirective sets the local Go version and drops the toolchain line", () => {
    const goMod = "module github.com/michurin/netpunch\n\ngo 1.23.0\n\ntoolchain go1.24.1\n\nrequire (\n)\n";
    expect(lowerGoDirective(goMod, "1.19")).toBe(
      "module github.com/michurin/netpunch\n\ngo 1.19\n\n\nrequire (\n)\n",
    );
  });
});

describe("bench connect report", () => {
  const row = (client: string, exits: number[], extra: Partial<ReportRow> = {}): ReportRow => ({
    client,
    gapMs: 0,
    steps: exits.map((exit) => ({ result: exit - 5, exit })),
    runs: exits.length,
    failed: 0,
    ...extra,
  });

  test("resultTable: target met or over on the median exit, and the exit as a ratio to the seed's", () => {
    const lines = resultTable(
      [
        row("binary", [170, 180, 200], { targetX: 1.5 }),
        row("source", [230, 240, 250], { targetX: 1.8 }),
        row("seed (Go)", [300, 360, 390], { baseline: true }),
      ],
      120,
    );
    expect(lines).toHaveLength(4);
    expect(lines[1]).toContain("  180 ms 1.50x (worst 1.67x)");
    expect(lines[1]).toContain("met 1.5x");
    expect(lines[1]).toEndWith("| 0.50");
    expect(lines[2]).toContain("over 1.8x");
    expect(lines[2]).toEndWith("| 0.67");
    expect(lines[3]?.trimEnd()).toEndWith("|"); // the baseline is not compared with itself
  });

  test("resultTable: a row without runs says n/a and how many failed", () => {
    const lines = resultTable([row("binary", [], { targetX: 1.5, failed: 3, runs: 3 })], 120);
    expect(lines[1]).toContain("n/a");
    expect(lines[1]).not.toContain("met");
    expect(lines[1]).toEndWith("FAILED 3 of 3");
  });

  test("breakdownTable: median ms to each step with the step's own share; '-' for a step never seen", () => {
    const r = row("binary", [300]);
    r.steps = [
      { MATCH: 100, result: 250, exit: 260 },
      { MATCH: 120, result: 270, exit: 280 },
      { MATCH: 110, result: 240, exit: 290 },
    ];
    const [, line] = breakdownTable([r], ["MATCH", "proven", "result", "exit"]);
    expect(
      line
        ?.split("|")[1]
        ?.trim()
        .split(/\s{2,}/),
    ).toEqual(["110 (+110)", "-", "250 (+140)", "280 (+30)"]);
  });
});
