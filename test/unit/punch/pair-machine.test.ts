// The per-pair punch machine on its own, on a fake clock: what it sends for one MATCH, and that pairs of one
// peer stay apart (their own frames, their own proofs) while sharing the peer's send budget.
import { describe, expect, test } from "bun:test";
import { SendBudget } from "../../../src/punch/budget.ts";
import { DEFAULT_PEER_TIMINGS } from "../../../src/punch/config.ts";
import {
  lanReachable,
  type PairAction,
  PairMachine,
  type PairSetup,
} from "../../../src/punch/pair-machine.ts";
import type { Candidate } from "../../../src/types.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const ME = "1111111111111111";
const PAIR_A = "aa".repeat(16);
const PAIR_B = "bb".repeat(16);
const PARTNER_A = "2222222222222222";
const PARTNER_B = "3333333333333333";
const A_PUB = { host: "203.0.113.20", port: 40002 };
const B_PUB = { host: "203.0.113.30", port: 40003 };
const A_LAN = { host: "192.0.2.20", port: 10000 };
const pub = (ep: { host: string; port: number }): Candidate => ({ kind: "public", ...ep });

function pair(over: Partial<PairSetup> = {}): PairMachine {
  return new PairMachine(
    {
      pairId: PAIR_A,
      partnerId: PARTNER_A,
      role: "a",
      peerId: ME,
      session: "s1",
      server: SERVER,
      candidates: [pub(A_PUB)],
      ownNat: undefined,
      partnerNat: undefined,
      random: () => 0.5,
      budget: new SendBudget(),
      ...over,
    },
    DEFAULT_PEER_TIMINGS,
  );
}

const sends = (actions: PairAction[]) =>
  actions.flatMap((a) =>
    a.kind === "send" ? [{ to: { host: a.to.host, port: a.to.port }, msg: a.msg }] : [],
  );

describe("PairMachine", () => {
  test("start: says matched and PINGs every candidate at once, numbering from 0", () => {
    const a = pair({ candidates: [pub(A_PUB), { kind: "lan", ...A_LAN }] });
    const out = a.start(1000);
    expect(out[0]).toEqual({ kind: "event", event: { type: "matched", candidates: expect.any(Array) } });
    expect(sends(out)).toEqual([
      { to: A_PUB, msg: { type: "ping", pairId: PAIR_A, peerId: ME, seq: 0 } },
      {
        to: A_LAN,
        msg: { type: "ping", pairId: PAIR_A, peerId: ME, seq: 1 },
      },
    ]);
    expect(a.wakeAt()).toBe(1000 + DEFAULT_PEER_TIMINGS.pingIntervalMs);
  });

  test("two pairs on one socket: each proves only its own path", () => {
    const budget = new SendBudget();
    const a = pair({ budget });
    const b = pair({ pairId: PAIR_B, partnerId: PARTNER_B, candidates: [pub(B_PUB)], budget });
    a.start(1000);
    b.start(1000);
    const direct = { kind: "direct", socket: 0 } as const;
    const outA = a.onFrame(A_PUB, { type: "pong", pairId: PAIR_A, peerId: PARTNER_A, seq: 0 }, direct, 1030);
    expect(outA).toContainEqual({ kind: "event", event: { type: "proven", remote: A_PUB, kind: "public" } });
    expect(a.phase).toBe("closing");
    expect(b.phase).toBe("punching");
    // B's own PONG still proves B's path, with B's RTT.
    const outB = b.onFrame(B_PUB, { type: "pong", pairId: PAIR_B, peerId: PARTNER_B, seq: 0 }, direct, 1050);
    expect(outB).toContainEqual({
      kind: "event",
      event: { type: "punch-ok", from: B_PUB, kind: "public", rttMs: 50 },
    });
  });

  test("this pair's id from another peer id: dropped as foreign, no PONG, nothing learned", () => {
    const a = pair();
    a.start(1000);
    const from = { host: "198.18.9.9", port: 5555 };
    const out = a.onFrame(
      from,
      { type: "ping", pairId: PAIR_A, peerId: PARTNER_B, seq: 7 },
      { kind: "direct", socket: 0 },
      1010,
    );
    expect(out).toEqual([{ kind: "event", event: { type: "dropped", from, reason: "foreign-pair" } }]);
    expect(a.heardFromPartner).toBe(false);
  });

  test("the punch timeout fails the pair with E_PUNCH_FAILED naming what it tried", () => {
    const a = pair();
    a.start(0);
    let failed: PairAction | undefined;
    for (let guard = 0; guard < 1_000 && !failed; guard++) {
      const at = a.wakeAt();
      if (at === undefined) break;
      failed = a.tick(at).find((x) => x.kind === "fail");
    }
    expect(
      failed?.kind === "fail" && [failed.error.code, failed.error.message.includes("203.0.113.20:40002")],
    ).toEqual(["E_PUNCH_FAILED", true]);
    expect(a.phase).toBe("finished");
    expect(a.wakeAt()).toBeUndefined();
  });
});

describe("lanReachable: whether the LAN grace can help", () => {
  const lan: Candidate = { kind: "lan", ...A_LAN };
  test.each([
    [
      "one NAT: the server sees both at one IP",
      { host: "203.0.113.20", port: 40001 },
      [pub(A_PUB), lan],
      true,
    ],
    ["two NATs: two public IPs", { host: "198.51.100.10", port: 40001 }, [pub(A_PUB), lan], false],
    [
      "one NAT, our address as a dual-stack socket reports it",
      { host: "::ffff:203.0.113.20", port: 1 },
      [pub(A_PUB), lan],
      true,
    ],
    ["our address unknown", undefined, [pub(A_PUB), lan], true],
    ["no public candidate", { host: "198.51.100.10", port: 40001 }, [lan], true],
  ] as const)("%s -> %p", (_, observed, candidates, expected) => {
    expect(lanReachable(observed, candidates)).toBe(expected);
  });
});
