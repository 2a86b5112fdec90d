// Issue 8 items 2, 7, 9 and 12: what the CLI's event logger says about a refused packet or a cap, so that
// each says what actually happened. A stale packet is not "a different secret" (peers were told to check
// their secret when the replay window refused them), a wire version 1 peer is told to upgrade, a full replay
// memory and the session caps are named, and none of these repeats more than once a minute under a flood.
import { describe, expect, test } from "bun:test";
import { createConsola } from "consola";
import { eventLogger } from "../../../src/cli/logger.ts";
import type { DropReason, NetpunchEvent } from "../../../src/types.ts";

const MIN = 60_000;
const REAL = { host: "198.51.100.7", port: 40000 };
const OTHER = { host: "203.0.113.9", port: 40001 };

/** The event logger at debug level on a fake clock, recording [level, line]. */
function harness() {
  const lines: [string, string][] = [];
  const log = createConsola({
    level: 4,
    reporters: [{ log: (o) => void lines.push([o.type, o.args.map(String).join(" ")]) }],
  });
  let now = 1_000_000;
  const on = eventLogger(log, () => now);
  return {
    lines,
    on,
    drop: (reason: DropReason, from = REAL) => on({ type: "dropped", from, reason }),
    advance(ms: number) {
      now += ms;
    },
    warnings: () => lines.filter(([type]) => type === "warn").map(([, l]) => l),
  };
}

describe("a refused packet is reported as what it is", () => {
  test("stale (outside the replay window): a debug line about clocks, no warning, no word of the secret", () => {
    const h = harness();
    for (let i = 0; i < 1_000; i++) h.drop("stale");
    expect(h.warnings()).toEqual([]);
    expect(h.lines[0]).toEqual([
      "debug",
      `dropped a packet from ${REAL.host}:${REAL.port}: timestamp outside the window (clocks out of sync?)`,
    ]);
    expect(h.lines.filter(([, l]) => /secret/.test(l))).toEqual([]);
  });

  test("a failed tag is the one that asks about the secret", () => {
    const h = harness();
    h.drop("bad-auth");
    expect(h.warnings()).toEqual([
      `dropped a packet from ${REAL.host}:${REAL.port} that failed authentication (a different secret?)`,
    ]);
  });

  test("wire version 1 with the right secret: upgrade it; once a minute per address", () => {
    const h = harness();
    for (let i = 0; i < 100; i++) h.drop("old-version");
    h.drop("old-version", OTHER);
    const said = (ep: typeof REAL) =>
      `${ep.host}:${ep.port} speaks netpunch wire version 1 with the right secret; upgrade it (version 1 and 2 cannot talk)`;
    expect(h.warnings()).toEqual([said(REAL), said(OTHER)]);
    h.advance(MIN);
    h.drop("old-version");
    expect(h.warnings()).toEqual([said(REAL), said(OTHER), said(REAL)]);
    expect(h.warnings().filter((w) => /different secret/.test(w))).toEqual([]);
  });

  test("a full replay memory is named (the server gets more than it can process), once a minute", () => {
    const h = harness();
    for (let i = 0; i < 100; i++) h.drop("overload", { host: "198.18.0.1", port: 1000 + i });
    expect(h.warnings()).toEqual([
      "replay memory full: refusing packets (the server gets more than it can process)",
    ]);
  });
});

describe("the session caps are named when reached", () => {
  const limit = (limit: "sessions" | "address", from = REAL): NetpunchEvent => ({
    type: "server-limit",
    limit,
    from,
  });

  test("the server-wide cap and the per-address cap: one line each, once a minute under a flood", () => {
    const h = harness();
    for (let i = 0; i < 50; i++) h.on(limit("sessions"));
    for (let i = 0; i < 50; i++) h.on(limit("address"));
    expect(h.warnings()).toEqual([
      "session limit reached: refusing new sessions until some end",
      `per-address session limit reached for ${REAL.host}: refusing its new sessions`,
    ]);
    h.advance(MIN);
    h.on(limit("address", OTHER));
    expect(h.warnings().at(-1)).toBe(
      `per-address session limit reached for ${OTHER.host}: refusing its new sessions`,
    );
  });
});
