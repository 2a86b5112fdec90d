// The pure path choice: kind first (LAN, then across the NATs, then the relay), then the lower RTT.
import { describe, expect, test } from "bun:test";
import { bestPath, betterPath, type ProvenPath } from "../../src/punch/path.ts";
import type { CandidateKind } from "../../src/types.ts";

const p = (kind: CandidateKind, rttMs: number, port = 1): ProvenPath => ({
  ep: { host: "198.18.0.1", port },
  kind,
  rttMs,
  socket: 0,
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
