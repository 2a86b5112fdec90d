// The candidate kinds table: one row per kind, read by the codec, the MATCH schema, the path choice and the
// result's `via`. The expected rows are written out here so that a change to a row is a visible test change.
import { describe, expect, test } from "bun:test";
import { CANDIDATE_KINDS, kindCode, kindOfCode, WIRE_KINDS } from "../../../src/protocol/kinds.ts";
import type { Message } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { kindRank } from "../../../src/punch/path.ts";
import type { CandidateKind, PunchResult } from "../../../src/types.ts";
import { KEY, nonceBytes, TS } from "../support.ts";

const ROWS: [CandidateKind, number | undefined, number, PunchResult["via"]][] = [
  ["lan", 1, 0, "lan"],
  ["public", 2, 1, "direct"],
  ["mapped", 3, 1, "direct"],
  ["reflexive", undefined, 1, "direct"],
  ["relay", undefined, 2, "relay"],
  ["predicted", undefined, 1, "predicted"],
  ["birthday", undefined, 1, "birthday"],
];

describe("one row per candidate kind", () => {
  test("the table has exactly these kinds", () => {
    expect(Object.keys(CANDIDATE_KINDS).sort()).toEqual(ROWS.map(([kind]) => kind).sort());
  });

  test.each(ROWS)("%s: wire code %p, rank %p, via %p", (kind, code, rank, via) => {
    const row: { code?: number; rank: number; via: string } = CANDIDATE_KINDS[kind];
    expect(row.code).toBe(code);
    expect(kindRank(kind)).toBe(rank);
    expect(row.via).toBe(via);
  });

  test("wire codes are distinct, non-zero bytes, and the picklist is in code order", () => {
    const codes = WIRE_KINDS.map(kindCode);
    expect(WIRE_KINDS).toEqual(["lan", "public", "mapped"]);
    expect(codes).toEqual([1, 2, 3]);
    expect(new Set(codes).size).toBe(codes.length);
    for (const c of codes) expect(c >= 1 && c <= 255).toBe(true);
  });

  test("a code maps back to its kind; no other code does", () => {
    for (const kind of WIRE_KINDS) expect(kindOfCode(kindCode(kind))).toBe(kind);
    for (const code of [0, 4, 9, 255]) expect(kindOfCode(code)).toBeUndefined();
  });
});

describe("the codec and the schema read the table", () => {
  const match = (kind: string): Message =>
    ({
      type: "match",
      to: "0123456789abcdef",
      echo: "a1a2a3a4a5a6a7a8a9aaabac",
      serverTime: TS,
      cookie: "c0c1c2c3c4c5c6c7c8c9cacbcccdcecf",
      pairId: "00112233445566778899aabbccddeeff",
      partnerId: "fedcba9876543210",
      observed: { host: "198.51.100.23", port: 40001 },
      candidates: [{ kind, host: "203.0.113.1", port: 40000 }],
    }) as Message;
  const opened = (kind: string) => open(KEY, seal(KEY, match(kind), { timestamp: TS, nonce: nonceBytes() }));

  test.each([...WIRE_KINDS])("a MATCH carries %s", (kind) => {
    const r = opened(kind);
    expect(r.ok && r.frame.msg.type === "match" && r.frame.msg.candidates[0]?.kind).toBe(kind);
  });

  test.each(["reflexive", "relay", "predicted", "birthday"])("a MATCH never carries %s", (kind) => {
    const r = opened(kind);
    expect(r.ok ? "ok" : r.reason).toBe("malformed");
  });
});
