import { describe, expect, test } from "bun:test";
import { HEADER_LEN, RELAY_PADDED_LEN, TAG_LEN } from "../../src/protocol/constants.ts";
import type { RelayOffer } from "../../src/protocol/messages.ts";
import { open, seal } from "../../src/protocol/packet.ts";
import { RelayClient } from "../../src/punch/relay-client.ts";
import { RendezvousCore } from "../../src/rendezvous/core.ts";
import { DEFAULT_RELAY_LIMITS, RelaySession } from "../../src/rendezvous/relay-session.ts";
import { MemoryStore } from "../../src/rendezvous/store.ts";
import { frameOf, KEY, nonceBytes } from "./support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const A = "aaaaaaaaaaaaaaaa";
const B = "bbbbbbbbbbbbbbbb";
const EA = { host: "198.18.2.2", port: 40001 };
const EB = { host: "198.18.3.2", port: 50002 };
const X = { host: "203.0.113.66", port: 666 };

describe("relay messages", () => {
  test("round trip; REQUEST and BIND are padded so OFFER and BOUND answers are smaller", () => {
    const p = { timestamp: 1_700_000_000_000, nonce: nonceBytes() };
    const req = seal(KEY, { type: "relayRequest", session: "s", pairId: PAIR, peerId: A }, p);
    const bind = seal(KEY, { type: "relayBind", pairId: PAIR, peerId: A }, p);
    const offer = seal(KEY, { type: "relayOffer", pairId: PAIR, to: A, status: "ok", port: 40000 }, p);
    const bound = seal(KEY, { type: "relayBound", pairId: PAIR, ready: true }, p);
    expect([req.length, bind.length]).toEqual([RELAY_PADDED_LEN, RELAY_PADDED_LEN]);
    expect(offer.length).toBeLessThan(RELAY_PADDED_LEN);
    expect(bound.length).toBeLessThan(RELAY_PADDED_LEN);
    expect(offer.length).toBe(HEADER_LEN + 16 + 8 + 1 + 2 + TAG_LEN);
    for (const pkt of [req, bind, offer, bound]) expect(open(KEY, pkt).ok).toBe(true);
    const o = open(KEY, bound);
    expect(o.ok && o.frame.msg).toEqual({ type: "relayBound", pairId: PAIR, ready: true });
  });
});

describe("RelaySession", () => {
  const limits = { ...DEFAULT_RELAY_LIMITS, bytesPerSecond: 1000, idleMs: 10_000, bindMs: 5_000 };
  test("forwards only between the two bound addresses, and only once both are bound", () => {
    const s = new RelaySession(PAIR, { a: A, b: B }, limits, 0);
    expect(s.route(EA, 10, 1)).toEqual({ drop: "unbound" });
    expect(s.bind(A, EA, 1)).toEqual({ ok: true, ready: false });
    expect(s.route(EA, 10, 2)).toEqual({ drop: "not-ready" });
    expect(s.bind("cccccccccccccccc", X, 3)).toEqual({ ok: false, ready: false }); // not a peer of this pair
    expect(s.bind(B, EB, 3)).toEqual({ ok: true, ready: true });
    expect(s.route(EA, 10, 4)).toEqual({ to: EB });
    expect(s.route(EB, 10, 4)).toEqual({ to: EA });
    expect(s.route(X, 10, 4)).toEqual({ drop: "unbound" }); // a stranger cannot use the relay
  });

  test("rate limit per session with a one-second bucket; idle and unbound sessions expire", () => {
    const s = new RelaySession(PAIR, { a: A, b: B }, limits, 0);
    s.bind(A, EA, 0);
    s.bind(B, EB, 0);
    expect(s.route(EA, 900, 0)).toEqual({ to: EB });
    expect(s.route(EA, 200, 0)).toEqual({ drop: "rate" });
    expect(s.route(EA, 200, 500)).toEqual({ to: EB }); // half a second refills 500 bytes
    expect(s.expired(10_400)).toBe(false);
    expect(s.expired(10_501)).toBe(true);
    const lonely = new RelaySession(PAIR, { a: A, b: B }, limits, 0);
    lonely.bind(A, EA, 0);
    expect(lonely.expired(5_001)).toBe(true);
  });

  test("a rebind moves a peer's address (its NAT remapped)", () => {
    const s = new RelaySession(PAIR, { a: A, b: B }, limits, 0);
    s.bind(A, EA, 0);
    s.bind(B, EB, 0);
    const moved = { host: EA.host, port: 40099 };
    s.bind(A, moved, 1);
    expect(s.route(EB, 10, 2)).toEqual({ to: moved });
    expect(s.route(EA, 10, 2)).toEqual({ drop: "unbound" });
  });
});

describe("RelayClient", () => {
  const server = { host: "198.18.1.2", port: 10001 };
  const offer = (status: RelayOffer["status"], port = 0): RelayOffer => ({
    type: "relayOffer",
    pairId: PAIR,
    to: A,
    status,
    port,
  });
  test("requests every 500 ms, then binds every 250 ms at the offered port until ready", () => {
    const c = new RelayClient(server, { session: "s", pairId: PAIR, peerId: A });
    expect(c.start(0).map((s) => [s.to, s.msg.type])).toEqual([[server, "relayRequest"]]);
    expect(c.tick(499)).toEqual([]);
    expect(c.tick(500).length).toBe(1);
    const bind = c.onOffer(offer("ok", 40000), 600);
    expect(bind.map((s) => [s.to, s.msg.type])).toEqual([[{ host: server.host, port: 40000 }, "relayBind"]]);
    expect(c.tick(849)).toEqual([]);
    expect(c.tick(850).length).toBe(1);
    expect(c.onBound(false)).toBe(false);
    expect(c.onBound(true)).toBe(true);
    expect(c.tick(2000)).toEqual([]);
    expect(c.wakeAt()).toBe(Number.POSITIVE_INFINITY);
  });

  test.each(["off", "full", "limit"] as const)("status %s: stop asking, and remember why", (status) => {
    const c = new RelayClient(server, { session: "s", pairId: PAIR, peerId: A });
    c.start(0);
    expect(c.onOffer(offer(status), 10)).toEqual([]);
    expect([c.phase, c.refusal]).toEqual(["refused", status]);
    expect(c.tick(10_000)).toEqual([]);
  });

  test("only an offer for this pair and this peer, while requesting, counts", () => {
    const c = new RelayClient(server, { session: "s", pairId: PAIR, peerId: A });
    expect(c.onOffer(offer("ok", 40000), 0)).toEqual([]); // not requesting yet
    c.start(0);
    expect(c.onOffer({ ...offer("ok", 40000), pairId: "ff".repeat(16) }, 10)).toEqual([]);
    expect(c.onOffer({ ...offer("ok", 40000), to: B }, 10)).toEqual([]); // the partner's copy
    expect(c.onOffer({ ...offer("off"), to: B }, 10)).toEqual([]);
    expect(c.phase).toBe("requesting");
    expect(c.onOffer(offer("ok", 40000), 20).length).toBe(1);
    expect(c.onOffer(offer("ok", 40001), 30)).toEqual([]); // binding already: a second offer moves nothing
    expect(c.onOffer(offer("full"), 30)).toEqual([]);
    expect([c.phase, c.endpoint]).toEqual(["binding", { host: server.host, port: 40000 }]);
  });
});

describe("RendezvousCore relay requests", () => {
  const setup = () => {
    const core = new RendezvousCore(new MemoryStore(), () => PAIR);
    const reg = (role: "a" | "b", peerId: string, from: typeof EA) =>
      core.onFrame(from, frameOf({ type: "register", session: "s", role, peerId, candidates: [] }), 0);
    reg("a", A, EA);
    reg("b", B, EB);
    return core;
  };
  const request = (peerId: string, pairId = PAIR) =>
    frameOf({ type: "relayRequest", session: "s", pairId, peerId });

  test("a peer of the pair gets a relay action, during the announcement and after both acked", () => {
    const core = setup();
    expect(core.onFrame(EA, request(A), 10)).toEqual([
      { kind: "relay", pairId: PAIR, peers: { a: A, b: B }, peerId: A, reply: EA },
    ]);
    core.onFrame(EA, frameOf({ type: "matchAck", session: "s", pairId: PAIR, peerId: A }), 20);
    core.onFrame(EB, frameOf({ type: "matchAck", session: "s", pairId: PAIR, peerId: B }), 20);
    expect(core.onFrame(EB, request(B), 3_000)).toEqual([
      { kind: "relay", pairId: PAIR, peers: { a: A, b: B }, peerId: B, reply: EB },
    ]);
  });

  test("anyone else, or an unknown pair, gets nothing", () => {
    const core = setup();
    const kinds = (acts: ReturnType<typeof core.onFrame>) => acts.map((x) => x.kind);
    expect(kinds(core.onFrame(X, request("cccccccccccccccc"), 10))).toEqual(["event"]);
    expect(kinds(core.onFrame(EA, request(A, "ff".repeat(16)), 10))).toEqual(["event"]);
  });
});
