// The fallbacks on their own: every method returns actions, so what each strategy does is a list to compare.
import { describe, expect, test } from "bun:test";
import type { NatInfo } from "../../../src/protocol/messages.ts";
import { DEFAULT_PEER_TIMINGS } from "../../../src/punch/config.ts";
import { Fallbacks, type PunchView } from "../../../src/punch/fallbacks.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const PAIR = "aa".repeat(16);
const ME = "1111111111111111";
const TARGET = { kind: "public", host: "203.0.113.20", port: 40002 } as const;
const SYMMETRIC: NatInfo = { mapping: "random", step: 0 };
const EASY: NatInfo = { mapping: "independent", step: 0 };
const view: PunchView = { pairId: PAIR, matchedAt: 1000, target: TARGET, nothingYet: true };
const ids = { server: SERVER, session: "s1", peerId: ME, random: () => 0.5 };

describe("Fallbacks", () => {
  test("both symmetric: the strategy, then the relay asked for at once", () => {
    const f = new Fallbacks(DEFAULT_PEER_TIMINGS, ids, SYMMETRIC, SYMMETRIC);
    expect(f.pick(view, 1000)).toEqual([
      {
        kind: "event",
        event: {
          type: "strategy",
          strategy: "relay",
          detail: "both NATs are symmetric: no direct path can exist",
        },
      },
      { kind: "event", event: { type: "relay", state: "requested" } },
      { kind: "send", to: SERVER, msg: { type: "relayRequest", session: "s1", pairId: PAIR, peerId: ME } },
    ]);
    expect(f.pick(view, 1010)).toEqual([]); // asked once
  });

  test("symmetric us, easy partner: more budget toward the target, then the birthday sockets; PINGs once open", () => {
    const f = new Fallbacks(DEFAULT_PEER_TIMINGS, ids, SYMMETRIC, EASY);
    const out = f.pick(view, 1000);
    expect(out.map((a) => a.kind)).toEqual(["event", "allow", "open-sockets"]);
    expect(out.slice(1)).toEqual([
      { kind: "allow", host: TARGET.host, extra: DEFAULT_PEER_TIMINGS.sprayCount },
      { kind: "open-sockets", count: DEFAULT_PEER_TIMINGS.birthdaySockets },
    ]);
    expect(f.onSockets(2, view, 1005)).toEqual([
      { kind: "ping", to: TARGET, path: { kind: "direct", socket: 1 } },
      { kind: "ping", to: TARGET, path: { kind: "direct", socket: 2 } },
    ]);
  });

  test("our behaviour learned after the match goes to the partner as NAT_UPDATE", () => {
    const f = new Fallbacks(DEFAULT_PEER_TIMINGS, ids, undefined, undefined);
    expect(f.announce(EASY, view, 1200)).toEqual([
      {
        kind: "send",
        to: SERVER,
        msg: { type: "natUpdate", session: "s1", pairId: PAIR, peerId: ME, nat: EASY },
      },
    ]);
  });
});
