import { describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import { AUTH_LOG, AuthFailureLog } from "../../../src/cli/auth-log.ts";
import { eventLogger } from "../../../src/cli/logger.ts";

const MIN = 60_000;
/** The i-th spoofed source, i < 131,072: all of 198.18.0.0/15 (addresses for tests), port varying too. */
const spoofed = (i: number) =>
  `198.${18 + ((i >> 16) & 1)}.${(i >> 8) & 255}.${i & 255}:${1024 + (i % 60_000)}`;
const REAL = "198.51.100.7:40000";

/** Drives an AuthFailureLog on a fake clock, ticking every 5 s as the CLI does, recording [time, line]. */
function harness(start = 1_000_000) {
  let now = start;
  const log = new AuthFailureLog(now);
  const lines: [number, string][] = [];
  let nextTick = now + 5_000;
  const advance = (to: number) => {
    while (nextTick <= to) {
      for (const l of log.tick(nextTick)) lines.push([nextTick, l]);
      nextTick += 5_000;
    }
    now = to;
  };
  return {
    lines,
    get now() {
      return now;
    },
    advance,
    fail(addr: string, at = now) {
      advance(at);
      for (const l of log.failed(addr, at)) lines.push([at, l]);
    },
    log,
  };
}

describe("AuthFailureLog", () => {
  test("the first failure from an address is named at once; repeats within 5 minutes are not", () => {
    const h = harness();
    h.fail(REAL);
    expect(h.lines).toEqual([
      [h.now, `dropped a packet from ${REAL} that failed authentication (a different secret?)`],
    ]);
    for (let s = 1; s < 300; s++) h.fail(REAL, h.now + 1_000);
    expect(h.lines.filter(([, l]) => l.startsWith("dropped"))).toHaveLength(1);
    h.fail(REAL, h.now + 1_000); // 300 s after the first line
    expect(h.lines.filter(([, l]) => l.startsWith("dropped"))).toHaveLength(2);
  });

  test("repeats that were not named are summed up in one line a minute later, so none is lost silently", () => {
    const h = harness();
    const t0 = h.now;
    for (let i = 0; i < 30; i++) h.fail(REAL, t0 + i * 1_000);
    h.advance(t0 + 2 * MIN);
    const summary = h.lines.filter(([, l]) => l.includes("more packet"));
    expect(summary).toHaveLength(1);
    expect(summary[0]?.[1]).toBe(
      "29 more packets from 1 address failed authentication in the last minute (not logged one by one)",
    );
    expect(summary[0]?.[0]).toBeLessThanOrEqual(t0 + 1_000 + MIN + 5_000);
    expect(h.log.idle()).toBe(true);
  });

  test("a flood of 100k forged addresses, then one real peer: the real one is named within 10 s", () => {
    const h = harness();
    const t0 = h.now;
    for (let i = 0; i < 100_000; i++) h.fail(spoofed(i), t0 + Math.floor(i / 10)); // 10 a millisecond for 10 s
    const floodEnd = h.now;
    h.fail(REAL, floodEnd + 1); // the real peer sends once
    h.advance(floodEnd + 10_000);
    const named = h.lines.find(([, l]) => l.includes(REAL));
    expect(named?.[1]).toBe(`dropped a packet from ${REAL} that failed authentication (a different secret?)`);
    expect(named?.[0]).toBeLessThanOrEqual(floodEnd + 10_000);
    // The log stayed small: the burst, the refills, and no more.
    const perAddress = h.lines.filter(([, l]) => l.startsWith("dropped"));
    expect(perAddress.length).toBeLessThanOrEqual(AUTH_LOG.burst + 4);
  });

  test("the flood is summed up: packets and addresses counted, memory bounded ('or more')", () => {
    const h = harness();
    const t0 = h.now;
    for (let i = 0; i < 100_000; i++) h.fail(spoofed(i), t0 + Math.floor(i / 10));
    h.advance(t0 + 2 * MIN);
    const summaries = h.lines.filter(([, l]) => l.includes("more packets"));
    expect(summaries).toHaveLength(1);
    expect(summaries[0]?.[1]).toMatch(
      /^99\d{3} more packets from 10000 or more addresses failed authentication in the last minute/,
    );
  });

  test("a sustained flood costs at most burst + 10 named lines a minute plus one summary", () => {
    const h = harness();
    const t0 = h.now;
    for (let i = 0; i < 60_000; i++) h.fail(spoofed(i), t0 + i * 5); // 200 a second for 5 minutes
    const minutes = 5;
    const named = h.lines.filter(([, l]) => l.startsWith("dropped")).length;
    const summaries = h.lines.filter(([, l]) => l.includes("more packets")).length;
    expect(named).toBeLessThanOrEqual(AUTH_LOG.burst + AUTH_LOG.linesPerMinute * minutes + 1);
    expect(summaries).toBeLessThanOrEqual(minutes);
  });

  test("pending names carry their count; the oldest pending are left to the summary", () => {
    const h = harness();
    const t0 = h.now;
    for (let i = 0; i < AUTH_LOG.burst; i++) h.fail(spoofed(i), t0); // empties the bucket
    h.fail(REAL, t0);
    h.fail(REAL, t0 + 1);
    h.fail(REAL, t0 + 2);
    h.advance(t0 + 6_000 + 5_000);
    expect(h.lines.map(([, l]) => l)).toContain(
      `dropped 3 packets from ${REAL} that failed authentication (a different secret?)`,
    );
  });
});

describe("eventLogger uses it", () => {
  test("after 100k forged failures, a real one a minute later is warned about at once", () => {
    const warnings: string[] = [];
    const log = createConsola({
      level: 3,
      reporters: [{ log: (o) => void (o.type === "warn" && warnings.push(o.args.map(String).join(" "))) }],
    });
    let now = 1_000_000;
    const on = eventLogger(log, () => now);
    const ep = (s: string) => {
      const i = s.lastIndexOf(":");
      return { host: s.slice(0, i), port: Number(s.slice(i + 1)) };
    };
    for (let i = 0; i < 100_000; i++) on({ type: "dropped", from: ep(spoofed(i)), reason: "bad-auth" });
    expect(warnings.length).toBeLessThanOrEqual(AUTH_LOG.burst);
    now += MIN;
    on({ type: "dropped", from: ep(REAL), reason: "bad-auth" });
    expect(warnings).toContainEqual(expect.stringContaining(REAL));
  });
});
