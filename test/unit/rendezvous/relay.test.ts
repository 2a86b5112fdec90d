import { describe, expect, test } from "bun:test";
import { HEADER_LEN, RELAY_PADDED_LEN, TAG_LEN } from "../../../src/protocol/constants.ts";
import type { RelayOffer } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { RelayClient } from "../../../src/punch/relay-client.ts";
import type { ServerAction } from "../../../src/rendezvous/core.ts";
import { admit, MAX_RELAYS_PER_SOURCE_IP } from "../../../src/rendezvous/relay-admission.ts";
import {
  ByteBucket,
  DEFAULT_RELAY_LIMITS,
  RELAY_TOKEN_PERIOD_MS,
  RelaySession,
  relayToken,
} from "../../../src/rendezvous/relay-session.ts";
import type { Endpoint } from "../../../src/types.ts";
import { frameOf, KEY, makeCore, nonceBytes, registerWithCookie } from "../support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const A = "aaaaaaaaaaaaaaaa";
const B = "bbbbbbbbbbbbbbbb";
const EA = { host: "198.18.2.2", port: 40001 };
const EB = { host: "198.18.3.2", port: 50002 };
const X = { host: "203.0.113.66", port: 666 };

describe("relay messages", () => {
  test("round trip; REQUEST and BIND are padded so OFFER, CHALLENGE and BOUND answers are smaller", () => {
    const p = { timestamp: 1_700_000_000_000, nonce: nonceBytes() };
    const req = seal(KEY, { type: "relayRequest", session: "s", pairId: PAIR, peerId: A }, p);
    const bind = seal(KEY, { type: "relayBind", pairId: PAIR, peerId: A }, p);
    const offer = seal(KEY, { type: "relayOffer", pairId: PAIR, to: A, status: "ok", port: 40000 }, p);
    const bound = seal(KEY, { type: "relayBound", pairId: PAIR, ready: true }, p);
    const challenge = seal(KEY, { type: "relayChallenge", pairId: PAIR, token: "ab".repeat(16) }, p);
    const answer = seal(KEY, { type: "relayBind", pairId: PAIR, peerId: A, token: "ab".repeat(16) }, p);
    expect([req.length, bind.length, answer.length]).toEqual([
      RELAY_PADDED_LEN,
      RELAY_PADDED_LEN,
      RELAY_PADDED_LEN,
    ]);
    expect(challenge.length).toBe(HEADER_LEN + 16 + 16 + TAG_LEN); // 72 bytes for a 128-byte BIND
    expect(challenge.length).toBeLessThan(RELAY_PADDED_LEN);
    expect(offer.length).toBeLessThan(RELAY_PADDED_LEN);
    expect(bound.length).toBeLessThan(RELAY_PADDED_LEN);
    // status, port, and the host's family (0: this server's own address).
    expect(offer.length).toBe(HEADER_LEN + 16 + 8 + 1 + 2 + 1 + TAG_LEN);
    // The largest offer names another server's IPv6 relay: still smaller than the request it answers.
    const far = seal(
      KEY,
      { type: "relayOffer", pairId: PAIR, to: A, status: "ok", port: 40000, host: "2001:db8::7" },
      p,
    );
    expect(far.length).toBe(offer.length + 16);
    expect(far.length).toBeLessThan(RELAY_PADDED_LEN);
    for (const pkt of [req, bind, offer, bound, challenge, answer]) expect(open(KEY, pkt).ok).toBe(true);
    const o = open(KEY, bound);
    expect(o.ok && o.frame.msg).toEqual({ type: "relayBound", pairId: PAIR, ready: true });
  });
});

const TOKEN_KEY = new Uint8Array(32).fill(7);
/** Challenge, then answer from the same address: how a real peer binds. */
function prove(s: RelaySession, peerId: string, from: Endpoint, now: number) {
  const c = s.bind(peerId, from, undefined, now);
  if (!("challenge" in c)) throw new Error(`no challenge: ${JSON.stringify(c)}`);
  return s.bind(peerId, from, c.challenge, now);
}

describe("RelaySession", () => {
  const limits = { ...DEFAULT_RELAY_LIMITS, bytesPerSecond: 1000, idleMs: 10_000, bindMs: 5_000 };
  const session = () => new RelaySession(PAIR, { a: A, b: B }, limits, 0, TOKEN_KEY);
  test("forwards only between the two bound addresses, and only once both are bound", () => {
    const s = session();
    expect(s.route(EA, 10, 1)).toEqual({ drop: "unbound" });
    expect(prove(s, A, EA, 1)).toEqual({ ready: false });
    expect(s.route(EA, 10, 2)).toEqual({ drop: "not-ready" });
    expect(s.bind("cccccccccccccccc", X, undefined, 3)).toEqual({ drop: "foreign-peer" }); // not of this pair
    // b's bind makes the pair ready: a, bound first and told "not ready", is to be told too.
    expect(prove(s, B, EB, 3)).toEqual({ ready: true, partner: EA });
    expect(prove(s, B, EB, 3)).toEqual({ ready: true }); // once: a pair becomes ready only once
    expect(prove(s, A, EA, 3)).toEqual({ ready: true });
    expect(s.route(EA, 10, 4)).toEqual({ to: EB });
    expect(s.route(EB, 10, 4)).toEqual({ to: EA });
    expect(s.route(X, 10, 4)).toEqual({ drop: "unbound" }); // a stranger cannot use the relay
  });

  test("rate limit per session with a one-second bucket; idle and unbound sessions expire", () => {
    const s = session();
    prove(s, A, EA, 0);
    prove(s, B, EB, 0);
    expect(s.route(EA, 900, 0)).toEqual({ to: EB });
    expect(s.route(EA, 200, 0)).toEqual({ drop: "rate" });
    expect(s.route(EA, 200, 500)).toEqual({ to: EB }); // half a second refills 500 bytes
    expect(s.route(EB, 200, 500)).toEqual({ to: EA }); // both sides talk: an honest pair
    expect(s.expired(10_400)).toBe(false);
    expect(s.expired(10_501)).toBe(true);
    const lonely = session();
    prove(lonely, A, EA, 0);
    expect(lonely.expired(5_001)).toBe(true);
  });

  test("a server-wide bucket caps all sessions together; a datagram it refuses costs its pair nothing", () => {
    const total = new ByteBucket(1500, 0);
    const s = session();
    const t = new RelaySession(
      "ffeeddccbbaa99887766554433221100",
      { a: "c".repeat(16), b: "d".repeat(16) },
      limits,
      0,
      TOKEN_KEY,
    );
    prove(s, A, EA, 0);
    prove(s, B, EB, 0);
    const [TA, TB] = [
      { host: "192.0.2.10", port: 1 },
      { host: "192.0.2.11", port: 2 },
    ];
    prove(t, "c".repeat(16), TA, 0);
    prove(t, "d".repeat(16), TB, 0);
    expect(s.route(EA, 900, 0, total)).toEqual({ to: EB });
    expect(t.route(TA, 900, 0, total)).toEqual({ drop: "rate" }); // 600 left in total, though t has 1000
    expect(t.route(TA, 600, 0, total)).toEqual({ to: TB }); // its own bucket was not spent by the refusal
    expect(s.route(EB, 100, 0)).toEqual({ to: EA }); // without the shared bucket, only the pair's counts
    expect(s.route(EA, 10, 0, total)).toEqual({ drop: "rate" });
    expect(s.route(EA, 10, 100, total)).toEqual({ to: EB }); // a tenth of a second refills 150
  });

  test("a host spelled another way (v4-mapped, upper case) is the same bound address", () => {
    const s = session();
    prove(s, A, { host: "2001:DB8::1", port: 7 }, 0);
    prove(s, B, EB, 0);
    expect(s.route({ host: `::ffff:${EB.host}`, port: EB.port }, 10, 1)).toEqual({
      to: { host: "2001:DB8::1", port: 7 },
    });
    expect(s.route({ host: "2001:db8::1", port: 7 }, 10, 1)).toEqual({ to: EB });
    expect(s.route({ host: "2001:db8::1", port: 8 }, 10, 1)).toEqual({ drop: "unbound" });
  });

  // Audit (c): an outsider spoofing a bound address had junk forwarded to the partner and kept the relay
  // from idling out.
  test("traffic from one side alone does not keep a session open; the silent side's proven BIND does", () => {
    const s = session();
    prove(s, A, EA, 0);
    prove(s, B, EB, 0);
    for (let t = 0; t <= 20_000; t += 1000) expect(s.route(EA, 10, t)).toEqual({ to: EB }); // a spoofer of EA
    expect(s.expired(10_000)).toBe(false);
    expect(s.expired(10_001)).toBe(true); // B silent since 0, whatever comes "from" A
    const t = session();
    prove(t, A, EA, 0);
    prove(t, B, EB, 0);
    t.route(EA, 10, 9_000);
    prove(t, B, EB, 9_000); // an authenticated, proven RELAY_BIND is B alive
    expect(t.expired(18_999)).toBe(false);
    expect(t.bind(B, EB, undefined, 19_500)).toEqual(
      expect.objectContaining({ challenge: expect.any(String) }),
    );
    expect(t.expired(19_001)).toBe(true); // an unproven BIND (a spoofer can send one) is not
    const u = session();
    prove(u, A, EA, 0);
    prove(u, B, EB, 0);
    u.route(EA, 5000, 5_000); // over the rate limit: dropped, and not a sign of life either
    expect(u.expired(10_001)).toBe(true);
  });

  test("a proven rebind moves a peer's address (its NAT remapped)", () => {
    const s = session();
    prove(s, A, EA, 0);
    prove(s, B, EB, 0);
    const moved = { host: EA.host, port: 40099 };
    prove(s, A, moved, 1);
    expect(s.route(EB, 10, 2)).toEqual({ to: moved });
    expect(s.route(EA, 10, 2)).toEqual({ drop: "unbound" });
  });

  // Audit (a): an insider bound a spoofed victim address and the relay sent the victim 10 MB in 10 s.
  test("an address is bound only by a BIND that echoes the challenge sent to that very address", () => {
    const s = session();
    const victim = { host: "192.0.2.99", port: 5000 };
    const c = s.bind(A, victim, undefined, 0);
    expect("challenge" in c).toBe(true); // the challenge goes to the victim, where the insider cannot read it
    expect(s.bind(A, victim, `${"00".repeat(15)}01`, 1)).toEqual(c); // a guess: another challenge, no bind
    const mine = s.bind(A, EA, undefined, 2);
    if (!("challenge" in mine)) throw new Error("no challenge");
    expect(s.bind(A, victim, mine.challenge, 3)).toEqual(c); // EA's token does not prove the victim
    expect("challenge" in s.bind(B, EA, mine.challenge, 3)).toBe(true); // nor B at EA
    prove(s, B, EB, 4);
    expect(s.ready).toBe(false);
    expect(s.route(EB, 10, 5)).toEqual({ drop: "not-ready" }); // nothing is forwarded toward the victim
  });

  test("an unproven BIND never moves a proven binding", () => {
    const s = session();
    prove(s, A, EA, 0);
    prove(s, B, EB, 0);
    const victim = { host: "192.0.2.99", port: 5000 };
    expect("challenge" in s.bind(A, victim, undefined, 1)).toBe(true);
    expect(s.route(EB, 10, 2)).toEqual({ to: EA });
  });

  test("a token holds for its period and the next (10-20 s), then earns a new challenge", () => {
    const s = session();
    const c = s.bind(A, EA, undefined, RELAY_TOKEN_PERIOD_MS - 1);
    if (!("challenge" in c)) throw new Error("no challenge");
    expect(s.bind(A, EA, c.challenge, 2 * RELAY_TOKEN_PERIOD_MS - 1)).toEqual({ ready: false });
    const later = s.bind(A, EA, c.challenge, 2 * RELAY_TOKEN_PERIOD_MS);
    expect("challenge" in later && later.challenge !== c.challenge).toBe(true);
  });

  test("tokens are keyed by the relay's own key, not only by what a peer knows", () => {
    const other = new RelaySession(PAIR, { a: A, b: B }, limits, 0, new Uint8Array(32).fill(8));
    const c = session().bind(A, EA, undefined, 0);
    if (!("challenge" in c)) throw new Error("no challenge");
    expect("challenge" in other.bind(A, EA, c.challenge, 0)).toBe(true);
    expect(c.challenge).toBe(relayToken(TOKEN_KEY, PAIR, A, EA, 0));
  });
});

// Audit (b): 15 relays were held from one host with 1 byte per 10 s, and a real pair was then told the
// server had no relay at all.
describe("admit: one relay per pair and per peer, MAX_RELAYS_PER_SOURCE_IP per address, then full", () => {
  const pair = (i: number) => i.toString(16).padStart(32, "0");
  const peersOf = (i: number) => ({
    a: `a${i.toString(16).padStart(15, "0")}`,
    b: `b${i.toString(16).padStart(15, "0")}`,
  });
  const holding = (i: number, openedBy: string) => ({ pairId: pair(i), peers: peersOf(i), openedBy });
  const ATTACKER = "203.0.113.66";
  const held = Array.from({ length: MAX_RELAYS_PER_SOURCE_IP }, (_, i) => holding(i, ATTACKER));
  const others = Array.from({ length: 3 }, (_, i) => holding(100 + i, `198.51.100.${i + 1}`));
  test.each([
    [
      "a new pair from a fresh address",
      [],
      { pairId: pair(50), peers: peersOf(50), from: EA.host },
      8,
      "open",
    ],
    [
      "the pair's second peer (or a retry)",
      held,
      { pairId: pair(0), peers: peersOf(0), from: EB.host },
      4,
      "existing",
    ],
    [
      "a fifth relay from one address",
      held,
      { pairId: pair(50), peers: peersOf(50), from: ATTACKER },
      16,
      "limit",
    ],
    [
      "the same, written as IPv4-mapped IPv6",
      held,
      { pairId: pair(50), peers: peersOf(50), from: `::ffff:${ATTACKER}` },
      16,
      "limit",
    ],
    [
      "an honest pair beside the attacker",
      held,
      { pairId: pair(50), peers: peersOf(50), from: EA.host },
      16,
      "open",
    ],
    [
      "a peer already in another pair's relay",
      others,
      { pairId: pair(50), peers: { a: peersOf(101).b, b: B }, from: EA.host },
      16,
      "limit",
    ],
    [
      "every slot taken",
      [...held, ...others],
      { pairId: pair(50), peers: peersOf(50), from: EA.host },
      7,
      "full",
    ],
    [
      "over its share and full: the share is what it can act on",
      [...held, ...others],
      { pairId: pair(50), peers: peersOf(50), from: ATTACKER },
      7,
      "limit",
    ],
  ] as const)("%s", (_name, holdings, req, max, want) => {
    expect(admit(holdings, req, max)).toBe(want);
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

  test("a challenge is answered at once, and every later BIND echoes the latest token", () => {
    const c = new RelayClient(server, { session: "s", pairId: PAIR, peerId: A });
    c.start(0);
    c.onOffer(offer("ok", 40000), 100);
    const t1 = "01".repeat(16);
    const t2 = "02".repeat(16);
    expect(c.onChallenge({ type: "relayChallenge", pairId: "ff".repeat(16), token: t1 }, 110)).toEqual([]);
    const answer = c.onChallenge({ type: "relayChallenge", pairId: PAIR, token: t1 }, 120);
    expect(answer.map((s) => s.msg)).toEqual([{ type: "relayBind", pairId: PAIR, peerId: A, token: t1 }]);
    expect(c.tick(370).map((s) => s.msg)).toEqual([
      { type: "relayBind", pairId: PAIR, peerId: A, token: t1 },
    ]);
    c.onChallenge({ type: "relayChallenge", pairId: PAIR, token: t2 }, 400);
    expect(c.tick(650).map((s) => s.msg)).toEqual([
      { type: "relayBind", pairId: PAIR, peerId: A, token: t2 },
    ]);
    expect(c.onBound(true)).toBe(true);
    expect(c.onChallenge({ type: "relayChallenge", pairId: PAIR, token: t1 }, 700)).toEqual([]); // ready
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
  const setup = async () => {
    const core = makeCore({ randomHex: () => PAIR });
    const reg = (role: "a" | "b", peerId: string, from: typeof EA) =>
      registerWithCookie(core, from, { type: "register", session: "s", role, peerId, candidates: [] }, 0);
    await reg("a", A, EA);
    await reg("b", B, EB);
    return core;
  };
  const request = (peerId: string, pairId = PAIR) =>
    frameOf({ type: "relayRequest", session: "s", pairId, peerId });

  test("a peer of the pair gets a relay action, during the announcement and after both acked", async () => {
    const core = await setup();
    expect(await core.onFrame(EA, request(A), 10)).toEqual([
      { kind: "relay", pairId: PAIR, peers: { a: A, b: B }, peerId: A, reply: EA },
    ]);
    await core.onFrame(EA, frameOf({ type: "matchAck", session: "s", pairId: PAIR, peerId: A }), 20);
    await core.onFrame(EB, frameOf({ type: "matchAck", session: "s", pairId: PAIR, peerId: B }), 20);
    expect(await core.onFrame(EB, request(B), 3_000)).toEqual([
      { kind: "relay", pairId: PAIR, peers: { a: A, b: B }, peerId: B, reply: EB },
    ]);
  });

  test("anyone else, or an unknown pair, gets nothing", async () => {
    const core = await setup();
    const kinds = (acts: ServerAction[]) => acts.map((x) => x.kind);
    expect(kinds(await core.onFrame(X, request("cccccccccccccccc"), 10))).toEqual(["event"]);
    expect(kinds(await core.onFrame(EA, request(A, "ff".repeat(16)), 10))).toEqual(["event"]);
  });

  test("a peer's request counts only from the IP it registered from (a spoofed source spends nobody's share)", async () => {
    const core = await setup();
    const kinds = (acts: ServerAction[]) => acts.map((x) => x.kind);
    expect(kinds(await core.onFrame(X, request(A), 10))).toEqual(["event"]); // A's ids, another address
    expect(kinds(await core.onFrame(EB, request(A), 10))).toEqual(["event"]); // A's ids from B's address
    expect(kinds(await core.onFrame({ host: EA.host, port: 40999 }, request(A), 10))).toEqual(["relay"]); // remapped port
    await core.onFrame(EA, frameOf({ type: "matchAck", session: "s", pairId: PAIR, peerId: A }), 20);
    await core.onFrame(EB, frameOf({ type: "matchAck", session: "s", pairId: PAIR, peerId: B }), 20);
    expect(kinds(await core.onFrame(X, request(B), 3_000))).toEqual(["event"]); // after the pair finished too
    expect(kinds(await core.onFrame(EB, request(B), 3_000))).toEqual(["relay"]);
  });
});
