// The pure path choice: kind first (LAN, then across the NATs, then the relay), then the lower RTT.
import { describe, expect, test } from "bun:test";
import { bestPath, betterPath, type ProvenPath, samePath, socketOf } from "../../../src/punch/path.ts";
import type { CandidateKind } from "../../../src/types.ts";

const p = (kind: CandidateKind, rttMs: number, port = 1): ProvenPath => ({
  ep: { host: "198.18.0.1", port },
  kind,
  rttMs,
  path: { kind: "direct", socket: 0 },
});

describe("betterPath(a, b)", () => {
  test.each([
    ["a LAN path beats a faster public one", p("lan", 40), p("public", 5), true],
    ["a public path loses to a slower LAN one", p("public", 5), p("lan", 40), false],
    ["any path across the NATs beats the relay", p("reflexive", 300), p("relay", 10), true],
    ["birthday beats the relay", p("birthday", 90), p("relay", 20), true],
    ["the relay loses to a mapped port", p("relay", 1), p("mapped", 200), false],
    ["same kind: the lower RTT wins", p("public", 20), p("reflexive", 30), true],
    ["same kind, higher RTT: no", p("public", 30), p("public", 20), false],
    ["equal: no (the first found stays)", p("public", 20), p("public", 20), false],
  ] as const)("%s", (_name, a, b, want) => {
    expect(betterPath(a, b)).toBe(want);
  });
});

describe("bestPath", () => {
  test("picks by kind, then RTT; the first of equals; none from none", () => {
    expect(bestPath([p("public", 20, 1), p("relay", 5, 2), p("public", 10, 3)])?.ep.port).toBe(3);
    expect(bestPath([p("public", 10, 1), p("public", 10, 2)])?.ep.port).toBe(1);
    expect(bestPath([p("relay", 5, 1), p("lan", 90, 2)])?.ep.port).toBe(2);
    expect(bestPath([])).toBeUndefined();
  });
});

describe("samePath / socketOf", () => {
  const RELAY = { host: "198.18.0.9", port: 20000 };
  test.each([
    ["the same socket", { kind: "direct", socket: 2 }, { kind: "direct", socket: 2 }, true],
    ["another socket", { kind: "direct", socket: 0 }, { kind: "direct", socket: 2 }, false],
    ["direct is not the relay", { kind: "direct", socket: 0 }, { kind: "relay", relay: RELAY }, false],
    ["the same relay port", { kind: "relay", relay: RELAY }, { kind: "relay", relay: { ...RELAY } }, true],
    [
      "another relay port",
      { kind: "relay", relay: RELAY },
      { kind: "relay", relay: { ...RELAY, port: 1 } },
      false,
    ],
  ] as const)("%s", (_name, a, b, want) => {
    expect(samePath(a, b)).toBe(want);
    expect(samePath(b, a)).toBe(want);
  });
  test("the relay is reached from the punching socket", () => {
    expect(socketOf({ kind: "relay", relay: RELAY })).toBe(0);
    expect(socketOf({ kind: "direct", socket: 3 })).toBe(3);
  });
});
