import { describe, expect, test } from "bun:test";
import type { Message, Register, Registered } from "../../../src/protocol/messages.ts";
import { checkCookie } from "../../../src/rendezvous/cookie.ts";
import {
  DEFAULT_TIMINGS,
  RendezvousCore,
  type RendezvousTimings,
  type ServerAction,
} from "../../../src/rendezvous/core.ts";
import { MemoryStore } from "../../../src/rendezvous/store.ts";
import type { Endpoint, Role } from "../../../src/types.ts";
import { COOKIE_KEY, challengeCookie, frameOf, makeCore, registerWithCookie } from "../support.ts";

const A_ADDR = { host: "198.51.100.10", port: 40001 };
const B_ADDR = { host: "203.0.113.20", port: 40002 };
const A_ID = "aaaaaaaaaaaaaaaa";
const B_ID = "bbbbbbbbbbbbbbbb";

function setup(timings: Partial<RendezvousTimings> = {}) {
  const store = new MemoryStore();
  let n = 0;
  const ids: string[] = [];
  const randomHex = (bytes: number) => {
    const id = (++n).toString(16).padStart(bytes * 2, "0");
    ids.push(id);
    return id;
  };
  const core = new RendezvousCore({
    store,
    randomHex,
    cookieKey: COOKIE_KEY,
    timings: { ...DEFAULT_TIMINGS, ...timings },
  });
  /** REGISTER as a peer does: first without a cookie (a challenge), then with it; returns the second answer. */
  const reg = (from: Endpoint, msg: Register, now: number, nonce?: string) =>
    registerWithCookie(core, from, msg, now, nonce);
  return { store, core, ids, reg };
}

const register = (role: Role, peerId: string, candidates: Endpoint[] = [], session = "s1"): Register => ({
  type: "register",
  session,
  role,
  peerId,
  candidates: candidates.map((c) => ({ kind: "lan", host: c.host, port: c.port })),
});
const ack = (pairId: string, peerId: string, session = "s1"): Message => ({
  type: "matchAck",
  session,
  pairId,
  peerId,
});

const sends = (actions: ServerAction[]) => actions.flatMap((a) => (a.kind === "send" ? [a] : []));
const events = (actions: ServerAction[]) => actions.flatMap((a) => (a.kind === "event" ? [a.event] : []));

/** Pairs A and B in session s1 at `now` (each with its cookie round trip); returns the pair id. */
async function pair(core: RendezvousCore, now = 0, session = "s1"): Promise<string> {
  await registerWithCookie(core, A_ADDR, register("a", A_ID, [], session), now);
  const out = sends(await registerWithCookie(core, B_ADDR, register("b", B_ID, [], session), now));
  const m = out[0]?.msg;
  if (m?.type !== "match") throw new Error("no match");
  return m.pairId;
}

/** The cookie a peer holds after registering: the one in the REGISTERED (or challenge) it got last. */
function cookieIn(out: ServerAction[]): string {
  for (const a of out) if (a.kind === "send" && a.msg.type === "registered") return a.msg.cookie;
  throw new Error(`no REGISTERED in ${JSON.stringify(out)}`);
}

/** The REGISTERED a REGISTER from A_ADDR is answered with: its nonce echoed, a fresh cookie. */
const registeredToA = (
  echo: string,
  status: Registered["status"],
  serverTime: number,
): Extract<ServerAction, { kind: "send" }> => ({
  kind: "send",
  to: A_ADDR,
  msg: {
    type: "registered",
    echo,
    status,
    observed: A_ADDR,
    serverTime,
    cookie: expect.stringMatching(/^[0-9a-f]{32}$/),
  },
});

describe("registration", () => {
  test("the first REGISTER is answered with a challenge echoing the nonce and the observed address, and changes nothing", async () => {
    const { core, store } = setup();
    const msg = register("a", A_ID, [{ host: "192.0.2.10", port: 10000 }]);
    const frame = frameOf(msg, { nonce: "0102030405060708090a0b0c" });
    const out = await core.onFrame(A_ADDR, frame, 1000);
    expect(out).toEqual([registeredToA("0102030405060708090a0b0c", "challenge", 1000)]);
    expect(await store.count()).toBe(0);
    // The cookie proves A receives at A_ADDR, for this peer, session and role only.
    const cookie = challengeCookie(out, A_ADDR);
    const subject = { peerId: A_ID, session: "s1", role: "a" } as const;
    expect(checkCookie(COOKIE_KEY, cookie, 1000, A_ADDR, subject)).toBe(true);
    expect(checkCookie(COOKIE_KEY, cookie, 1000, B_ADDR, subject)).toBe(false);

    // The same REGISTER again with the cookie: registered, answered "waiting" with the second nonce.
    const second = frameOf({ ...msg, cookie }, { nonce: "0c0b0a090807060504030201" });
    const out2 = await core.onFrame(A_ADDR, second, 1010);
    expect(out2).toEqual([
      { kind: "event", event: { type: "server-registration", session: "s1", role: "a", from: A_ADDR } },
      registeredToA("0c0b0a090807060504030201", "waiting", 1010),
    ]);
    expect(await store.count()).toBe(1);
    expect((await store.get("s1"))?.slots.a).toEqual({
      peerId: A_ID,
      addr: A_ADDR,
      candidates: [{ kind: "lan", host: "192.0.2.10", port: 10000 }],
      lastSeen: 1010,
      echo: "0c0b0a090807060504030201",
      proven: true,
      server: "local", // the server that took it (one alone: "local")
    });
  });

  test("a cookie made for another address, peer or session is answered with a new challenge", async () => {
    const { core, store } = setup();
    const cookie = challengeCookie(await core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 0), A_ADDR);
    for (const [from, msg] of [
      [B_ADDR, register("a", A_ID)],
      [A_ADDR, register("a", B_ID)],
      [A_ADDR, register("b", A_ID)],
      [A_ADDR, register("a", A_ID, [], "s2")],
    ] as const) {
      const out = await core.onFrame(from, frameOf({ ...msg, cookie }), 10);
      expect(challengeCookie(out, from)).not.toBe(cookie);
    }
    expect(await store.count()).toBe(0);
  });

  test("a keepalive from the same peer and address is answered again, without a new registration event", async () => {
    const { core, reg } = setup();
    const cookie = cookieIn(await reg(A_ADDR, register("a", A_ID), 0));
    // A keepalive carries the cookie of the last REGISTERED: no new challenge.
    const out = await core.onFrame(
      A_ADDR,
      frameOf({ ...register("a", A_ID), cookie }, { nonce: "ffffffffffffffffffffffff" }),
      15_000,
    );
    expect(events(out)).toEqual([]);
    expect(sends(out)).toEqual([registeredToA("ffffffffffffffffffffffff", "waiting", 15_000)]);
  });

  test("the same peer from a new address (NAT rebinding) is a new registration and sees its new address", async () => {
    const { core, reg } = setup();
    const cookie = cookieIn(await reg(A_ADDR, register("a", A_ID), 0));
    const moved = { host: "198.51.100.10", port: 50000 };
    // Its cookie was for the old address: challenged at the new one first, with nothing changed.
    const challenged = await core.onFrame(moved, frameOf({ ...register("a", A_ID), cookie }), 100);
    expect(challengeCookie(challenged, moved)).not.toBe(cookie);
    const out = await reg(moved, register("a", A_ID), 100);
    expect(events(out)).toEqual([{ type: "server-registration", session: "s1", role: "a", from: moved }]);
    expect(sends(out)[0]).toMatchObject({
      to: moved,
      msg: { type: "registered", status: "waiting", observed: moved },
    });
  });

  test("a live registration is not taken over by another peer id: busy, until it has been silent for holdMs", async () => {
    const { reg, store } = setup({ holdMs: 20_000 });
    await reg(A_ADDR, register("a", A_ID), 0);
    const squatter = { host: "198.51.100.66", port: 6666 };
    const busy = await reg(squatter, register("a", "cccccccccccccccc"), 19_999);
    expect(events(busy)).toEqual([]);
    expect(sends(busy)).toEqual([
      {
        kind: "send",
        to: squatter,
        msg: expect.objectContaining({ type: "registered", status: "busy", observed: squatter }),
      },
    ]);
    expect((await store.get("s1"))?.slots.a?.peerId).toBe(A_ID);
    const taken = await reg(squatter, register("a", "cccccccccccccccc"), 20_000);
    expect(events(taken)).toEqual([
      { type: "server-registration", session: "s1", role: "a", from: squatter },
    ]);
    expect((await store.get("s1"))?.slots.a?.peerId).toBe("cccccccccccccccc");
  });
});

describe("matching", () => {
  test("the second peer triggers a MATCH to both at once: public address first, then deduplicated LAN candidates", async () => {
    const { core, ids } = setup();
    const aLan = [
      { host: "192.0.2.10", port: 10000 },
      { host: "2001:db8::a", port: 10000 },
      { host: "192.0.2.10", port: 10000 }, // listed twice
    ];
    // B is not behind a NAT: one of its LAN candidates is its public address (once in IPv4-mapped form).
    const bLan = [
      { host: "203.0.113.20", port: 40002 },
      { host: "::ffff:203.0.113.20", port: 40002 },
      { host: "192.0.2.20", port: 10000 },
    ];
    const A_NONCE = "a0a0a0a0a0a0a0a0a0a0a0a0";
    const B_NONCE = "b0b0b0b0b0b0b0b0b0b0b0b0";
    await registerWithCookie(core, A_ADDR, register("a", A_ID, aLan), 0, A_NONCE);
    const out = await registerWithCookie(core, B_ADDR, register("b", B_ID, bLan), 500, B_NONCE);
    expect(ids).toHaveLength(1);
    const pairId = ids[0] as string;
    expect(pairId).toMatch(/^[0-9a-f]{32}$/);
    expect(events(out)).toEqual([
      { type: "server-registration", session: "s1", role: "b", from: B_ADDR },
      { type: "server-pair", session: "s1", a: A_ADDR, b: B_ADDR },
    ]);
    expect(sends(out)).toEqual([
      {
        kind: "send",
        to: A_ADDR,
        msg: {
          type: "match",
          to: A_ID,
          echo: A_NONCE, // the nonce of A's REGISTER that was accepted
          serverTime: 500,
          cookie: expect.stringMatching(/^[0-9a-f]{32}$/),
          pairId,
          partnerId: B_ID,
          observed: A_ADDR,
          candidates: [
            { kind: "public", ...B_ADDR },
            { kind: "lan", host: "192.0.2.20", port: 10000 },
          ],
        },
      },
      {
        kind: "send",
        to: B_ADDR,
        msg: {
          type: "match",
          to: B_ID,
          echo: B_NONCE,
          serverTime: 500,
          cookie: expect.stringMatching(/^[0-9a-f]{32}$/),
          pairId,
          partnerId: A_ID,
          observed: B_ADDR,
          candidates: [
            { kind: "public", ...A_ADDR },
            { kind: "lan", host: "192.0.2.10", port: 10000 },
            { kind: "lan", host: "2001:db8::a", port: 10000 },
          ],
        },
      },
    ]);
  });

  test("role order does not matter: b first, then a", async () => {
    const { reg } = setup();
    await reg(B_ADDR, register("b", B_ID), 0);
    const out = await reg(A_ADDR, register("a", A_ID), 0);
    expect(events(out)).toContainEqual({ type: "server-pair", session: "s1", a: A_ADDR, b: B_ADDR });
    expect(sends(out).map((s) => [s.to, s.msg.type === "match" && s.msg.partnerId])).toEqual([
      [A_ADDR, B_ID],
      [B_ADDR, A_ID],
    ]);
  });

  test("a REGISTER retry that crossed the MATCH is answered with the same MATCH, to that peer only", async () => {
    const { core, ids, reg } = setup();
    const pairId = await pair(core);
    const out = await reg(A_ADDR, register("a", A_ID), 100, "a1a1a1a1a1a1a1a1a1a1a1a1");
    expect(out).toHaveLength(1);
    expect(sends(out)[0]).toMatchObject({
      to: A_ADDR,
      msg: { type: "match", to: A_ID, echo: "a1a1a1a1a1a1a1a1a1a1a1a1", pairId, partnerId: B_ID },
    });
    expect(ids).toHaveLength(1);
  });

  test("a new peer replacing a vanished one mid-announcement gets a fresh pair, once the old one is silent for holdMs", async () => {
    const { core, ids, reg } = setup({ holdMs: 20_000, ackTimeoutMs: 6_000 });
    const oldPair = await pair(core);
    await core.onFrame(B_ADDR, frameOf(ack(oldPair, B_ID)), 50); // B is alive; A vanished
    const a2 = { host: "198.51.100.11", port: 40003 };
    // While A's registration is live, the role is busy and the old pair stands.
    expect(sends(await reg(a2, register("a", "a2a2a2a2a2a2a2a2"), 100))).toEqual([
      { kind: "send", to: a2, msg: expect.objectContaining({ type: "registered", status: "busy" }) },
    ]);
    expect(ids).toHaveLength(1);
    // A never acks: B is sent back to waiting and registers again, as its machine does.
    expect(sends(await core.tick(6_000))).toContainEqual({
      kind: "send",
      to: B_ADDR,
      msg: { type: "unmatch", to: B_ID, pairId: oldPair },
    });
    await reg(B_ADDR, register("b", B_ID), 6_010);
    expect(ids).toHaveLength(1);
    const out = await reg(a2, register("a", "a2a2a2a2a2a2a2a2"), 20_000);
    expect(ids).toHaveLength(2);
    const newPair = ids[1];
    expect(newPair).not.toBe(oldPair);
    expect(sends(out).map((s) => [s.to, s.msg])).toEqual([
      [a2, expect.objectContaining({ type: "match", pairId: newPair, partnerId: B_ID })],
      [B_ADDR, expect.objectContaining({ type: "match", pairId: newPair, partnerId: "a2a2a2a2a2a2a2a2" })],
    ]);
    // An ack for the old pair no longer counts.
    expect(await core.onFrame(B_ADDR, frameOf(ack(oldPair, B_ID)), 20_100)).toEqual([]);
  });
});

describe("MATCH retransmission", () => {
  async function matchTimes(core: RendezvousCore, until: number, step = 100) {
    const times: [number, Endpoint][] = [];
    for (let t = step; t <= until; t += step)
      for (const s of sends(await core.tick(t))) if (s.msg.type === "match") times.push([t, s.to]);
    return times;
  }

  test("retransmits to both on tick with doubling delays, capped at matchRetryMaxMs", async () => {
    const { core } = setup({ ackTimeoutMs: 10_000 }); // (the default, 6 s, would undo the pair first)
    await pair(core, 0);
    expect(sends(await core.tick(199))).toEqual([]);
    const times = await matchTimes(core, 9000);
    const at = [...new Set(times.map(([t]) => t))];
    expect(at).toEqual([200, 600, 1400, 3000, 5000, 7000, 9000]);
    for (const t of at) expect(times.filter(([x]) => x === t).map(([, to]) => to)).toEqual([A_ADDR, B_ADDR]);
  });

  test("after one ack only the other peer still gets MATCHes, and after both the session is gone", async () => {
    const { core, store } = setup();
    const pairId = await pair(core, 0);
    expect(await core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 50)).toEqual([]);
    const out = sends(await core.tick(200));
    expect(out.map((s) => s.to)).toEqual([B_ADDR]);
    expect(out[0]?.msg).toMatchObject({ type: "match", pairId, partnerId: A_ID });
    const done = await core.onFrame(B_ADDR, frameOf(ack(pairId, B_ID)), 250);
    expect(done).toEqual([{ kind: "event", event: { type: "server-paired", session: "s1" } }]);
    expect(await store.count()).toBe(0);
    expect(await matchTimes(core, 10_000)).toEqual([]);
  });

  test("acks with a wrong pair id, an unknown peer or another session change nothing", async () => {
    const { core } = setup();
    const pairId = await pair(core, 0);
    expect(await core.onFrame(A_ADDR, frameOf(ack("f".repeat(32), A_ID)), 10)).toEqual([]);
    expect(await core.onFrame(A_ADDR, frameOf(ack(pairId, "cccccccccccccccc")), 10)).toEqual([]);
    expect(await core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID, "other")), 10)).toEqual([]);
    expect(sends(await core.tick(200)).map((s) => s.to)).toEqual([A_ADDR, B_ADDR]);
  });

  test("a late duplicate REGISTER from a finished peer is ignored; after doneMemoryMs it is a new registration", async () => {
    const { core, store } = setup({ doneMemoryMs: 60_000 });
    const aCookie = cookieIn(await registerWithCookie(core, A_ADDR, register("a", A_ID), 0));
    // B's answer is the MATCH: the cookie it holds is the one from its challenge.
    const bCookie = challengeCookie(await core.onFrame(B_ADDR, frameOf(register("b", B_ID)), 0), B_ADDR);
    const match = sends(
      await core.onFrame(B_ADDR, frameOf({ ...register("b", B_ID), cookie: bCookie }), 0),
    )[0];
    if (match?.msg.type !== "match") throw new Error("no match");
    const pairId = match.msg.pairId;
    await core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 10);
    await core.onFrame(B_ADDR, frameOf(ack(pairId, B_ID)), 20);
    // A late REGISTER, with its valid cookie or without one: dropped before anything else.
    const late = await core.onFrame(A_ADDR, frameOf({ ...register("a", A_ID), cookie: aCookie }), 500);
    expect(late).toEqual([{ kind: "event", event: { type: "dropped", from: A_ADDR, reason: "unexpected" } }]);
    expect(await core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 500)).toEqual(late);
    expect(await store.count()).toBe(0);
    // Even if the partner also comes back, no new pair is made from a finished peer.
    await core.onFrame(B_ADDR, frameOf({ ...register("b", B_ID), cookie: bCookie }), 600);
    expect(
      sends(await core.onFrame(A_ADDR, frameOf({ ...register("a", A_ID), cookie: aCookie }), 700)),
    ).toEqual([]);
    // Marked done when the second ack came (at 20) until 20 + doneMemoryMs.
    expect(sends(await core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 60_019))).toEqual([]);
    await core.tick(60_021);
    expect(sends(await registerWithCookie(core, A_ADDR, register("a", A_ID), 60_021))).toEqual([
      { kind: "send", to: A_ADDR, msg: expect.objectContaining({ type: "registered", status: "waiting" }) },
    ]);
  });

  test("an unacknowledged pair is undone after ackTimeoutMs: UNMATCH to the peer that acked; the silent one is not paired again until it registers again", async () => {
    const { core, store, ids, reg } = setup({ ackTimeoutMs: 6_000 });
    const pairId = await pair(core, 0);
    await core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 50);
    expect(events(await core.tick(5_999))).toEqual([]);
    expect((await store.get("s1"))?.pair?.pairId).toBe(pairId);
    const out = await core.tick(6_000);
    expect(events(out)).toEqual([{ type: "server-gave-up", session: "s1" }]);
    const unmatch = {
      kind: "send" as const,
      to: A_ADDR,
      msg: { type: "unmatch" as const, to: A_ID, pairId },
    };
    expect(sends(out)).toEqual([unmatch, unmatch, unmatch]);
    // The session stays (both registrations), without a pair: no more MATCHes.
    expect(await store.count()).toBe(1);
    expect((await store.get("s1"))?.pair).toBeUndefined();
    for (let t = 6_100; t <= 10_000; t += 100) expect(sends(await core.tick(t))).toEqual([]);
    // A registers again (back to waiting): B is unresponsive, so A waits instead of being paired with it.
    expect(sends(await reg(A_ADDR, register("a", A_ID), 10_100)).map((s) => s.msg)).toEqual([
      expect.objectContaining({ type: "registered", status: "waiting" }),
    ]);
    expect(ids).toHaveLength(1);
    // B shows it is alive: a new pair.
    const again = await reg(B_ADDR, register("b", B_ID), 10_200);
    expect(ids).toHaveLength(2);
    const newPair = ids[1] as string;
    expect(sends(again).map((s) => [s.to, s.msg.type === "match" && s.msg.pairId])).toEqual([
      [A_ADDR, newPair],
      [B_ADDR, newPair],
    ]);
  });
});

test("a holder that never acknowledged is not live: a new peer for its role is paired at once, not told busy", async () => {
  const { core, ids, reg } = setup({ holdMs: 20_000, ackTimeoutMs: 6_000 });
  const pairId = await pair(core, 0);
  await core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 50); // A is alive; B was SIGKILLed (no LEAVE)
  await core.tick(6_000); // UNMATCH to A; B marked unresponsive
  await reg(A_ADDR, register("a", A_ID), 6_010); // A waits again, as its machine does
  // B's own next attempt, 7 s after B was last heard (within holdMs): it takes the role and the pair.
  const b2 = { host: "203.0.113.20", port: 40009 };
  const out = await reg(b2, register("b", "b2b2b2b2b2b2b2b2"), 7_000);
  expect(ids).toHaveLength(2);
  expect(sends(out).map((s) => [s.to, s.msg.type])).toEqual([
    [A_ADDR, "match"],
    [b2, "match"],
  ]);
});

describe("one session at a time", () => {
  /** Yields this many times before marking a peer done: the round trips of a shared store, say. */
  const SLOW_STEPS = 10;
  class SlowDoneStore extends MemoryStore {
    override async markDone(peerId: string, until: number) {
      for (let i = 0; i < SLOW_STEPS; i++) await null;
      return super.markDone(peerId, until);
    }
  }

  test("a packet waits for the one before it in its session: a late REGISTER racing the last ack finds its peer done", async () => {
    const store = new SlowDoneStore();
    const core = makeCore({ store });
    const aCookie = cookieIn(await registerWithCookie(core, A_ADDR, register("a", A_ID), 0));
    const match = sends(await registerWithCookie(core, B_ADDR, register("b", B_ID), 0))[0];
    if (match?.msg.type !== "match") throw new Error("no match");
    const pairId = match.msg.pairId;
    await core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 10);
    // B's ack ends the session; A's duplicate REGISTER (valid cookie) arrives before its end is written.
    const [done, late] = await Promise.all([
      core.onFrame(B_ADDR, frameOf(ack(pairId, B_ID)), 20),
      core.onFrame(A_ADDR, frameOf({ ...register("a", A_ID), cookie: aCookie }), 20),
    ]);
    expect(done).toEqual([{ kind: "event", event: { type: "server-paired", session: "s1" } }]);
    expect(late).toEqual([{ kind: "event", event: { type: "dropped", from: A_ADDR, reason: "unexpected" } }]);
    expect(await store.count()).toBe(0);
  });
});

describe("two servers sharing one store", () => {
  function twoServers(timings: Partial<RendezvousTimings> = {}) {
    const store = new MemoryStore();
    let n = 0;
    const server = (serverId: string) =>
      new RendezvousCore({
        store,
        randomHex: (bytes) => (++n).toString(16).padStart(bytes * 2, "0"),
        cookieKey: COOKIE_KEY,
        timings: { ...DEFAULT_TIMINGS, ...timings },
        serverId,
      });
    return { store, one: server("one"), two: server("two") };
  }

  test("only the server that made a pair retransmits its MATCH; either one takes the acknowledgements", async () => {
    const { store, one, two } = twoServers();
    const pairId = await pair(one, 0);
    expect((await store.get("s1"))?.pair?.owner).toBe("one");
    // Both tick on the same schedule: every retransmission comes from server one, none from server two.
    const fromOne: [number, Endpoint][] = [];
    for (let t = 100; t <= 1_400; t += 100) {
      expect(await two.tick(t)).toEqual([]);
      for (const s of sends(await one.tick(t))) if (s.msg.type === "match") fromOne.push([t, s.to]);
    }
    expect(fromOne).toEqual([
      [200, A_ADDR],
      [200, B_ADDR],
      [600, A_ADDR],
      [600, B_ADDR],
      [1_400, A_ADDR],
      [1_400, B_ADDR],
    ]);
    // A's acknowledgement reaches server two; server one, reading the shared record, goes on with B only.
    expect(await two.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 1_450)).toEqual([]);
    expect(await two.tick(3_000)).toEqual([]);
    expect(sends(await one.tick(3_000)).map((s) => [s.to, s.msg.type])).toEqual([[B_ADDR, "match"]]);
    // B's at server one ends the session for both.
    expect(await one.onFrame(B_ADDR, frameOf(ack(pairId, B_ID)), 3_050)).toEqual([
      { kind: "event", event: { type: "server-paired", session: "s1" } },
    ]);
    expect(await store.count()).toBe(0);
    expect([await one.tick(5_000), await two.tick(5_000)]).toEqual([[], []]);
  });

  /** A registers with server one, B with server two: two pairs them. */
  async function across(one: RendezvousCore, two: RendezvousCore) {
    await registerWithCookie(one, A_ADDR, register("a", A_ID), 0);
    const out = await registerWithCookie(two, B_ADDR, register("b", B_ID), 0);
    const match = sends(out).find((s) => s.msg.type === "match");
    if (match?.msg.type !== "match") throw new Error("no match");
    return { out, pairId: match.msg.pairId };
  }

  test("peers on two servers: the pairing server MATCHes its own peer and asks the other's holder to MATCH it", async () => {
    const { one, two } = twoServers();
    const { out, pairId } = await across(one, two);
    expect(out.filter((a) => a.kind === "notify")).toEqual([
      { kind: "notify", server: "one", session: "s1", role: "a", pairId },
    ]);
    expect(sends(out).map((s) => [s.to, s.msg.type, s.via])).toEqual([[B_ADDR, "match", undefined]]);
    // Server one builds A's MATCH itself (its cookie, its time), once per notice while A has not acknowledged.
    const toA = sends(await one.onNotice("s1", "a", pairId, 10));
    expect(
      toA.map((s) => [s.to, s.msg.type === "match" && s.msg.to, s.msg.type === "match" && s.msg.partnerId]),
    ).toEqual([[A_ADDR, A_ID, B_ID]]);
    // Not for a peer it does not hold, nor for another pair, nor once acknowledged.
    expect(await two.onNotice("s1", "a", pairId, 10)).toEqual([]);
    expect(await one.onNotice("s1", "a", "ff".repeat(16), 10)).toEqual([]);
    await one.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 20);
    expect(await one.onNotice("s1", "a", pairId, 30)).toEqual([]);
  });

  test("each server retransmits the MATCH of the peer it holds, and only that one", async () => {
    const { one, two } = twoServers();
    await across(one, two);
    const seen: [string, number, Endpoint][] = [];
    for (let t = 100; t <= 1_400; t += 100) {
      for (const s of sends(await one.tick(t))) if (s.msg.type === "match") seen.push(["one", t, s.to]);
      for (const s of sends(await two.tick(t))) if (s.msg.type === "match") seen.push(["two", t, s.to]);
    }
    expect(seen).toEqual([
      ["one", 200, A_ADDR],
      ["two", 200, B_ADDR],
      ["one", 600, A_ADDR],
      ["two", 600, B_ADDR],
      ["one", 1_400, A_ADDR],
      ["two", 1_400, B_ADDR],
    ]);
  });

  test("a peer that registers again at another server is held there: its retransmissions move with it", async () => {
    const { one, two } = twoServers();
    const { pairId } = await across(one, two);
    // B's next REGISTER (it listed both servers) reaches server one, which answers with B's MATCH.
    const again = await registerWithCookie(one, B_ADDR, register("b", B_ID), 100);
    const matches = sends(again).filter((s) => s.msg.type === "match");
    expect(matches.map((s) => [s.to, s.via, s.msg.type === "match" && s.msg.pairId])).toEqual([
      [B_ADDR, undefined, pairId],
    ]);
    const at200 = [...sends(await one.tick(200)), ...sends(await two.tick(200))];
    expect(at200.filter((s) => s.msg.type === "match").map((s) => s.to)).toEqual([A_ADDR, B_ADDR]);
    expect(await two.tick(600)).toEqual([]);
  });

  test("behind a symmetric NAT each server sees another port: a copy of the REGISTER at the other server keeps the pair", async () => {
    const { store, one, two } = twoServers();
    const A_AT_TWO = { host: A_ADDR.host, port: A_ADDR.port + 7 };
    await registerWithCookie(one, A_ADDR, register("a", A_ID), 0);
    // The same peer, from the same socket, at the second server: its NAT gave that flow another port.
    const atTwo = await registerWithCookie(two, A_AT_TWO, register("a", A_ID), 10);
    expect(events(atTwo)).toEqual([]); // not a new registration, not a move
    const paired = sends(await registerWithCookie(one, B_ADDR, register("b", B_ID), 20));
    const m = paired.find((x) => x.msg.type === "match");
    if (m?.msg.type !== "match") throw new Error("no match");
    const pairId = m.msg.pairId;
    // A's next copy reaches server one, which does not hold it now: one answers with the same pair's MATCH,
    // to the port it sees, and undoes nothing (no UNMATCH, no new pair).
    const copy = await registerWithCookie(one, A_ADDR, register("a", A_ID), 30);
    expect(sends(copy).map((x) => [x.to, x.msg.type, x.msg.type === "match" && x.msg.pairId])).toEqual([
      [A_ADDR, "match", pairId],
    ]);
    const rec = await store.get("s1");
    expect([rec?.pair?.pairId, rec?.slots.a?.addr, rec?.slots.a?.server]).toEqual([pairId, A_AT_TWO, "two"]);
  });

  test("at the ack timeout either server undoes the pair (its owner may be gone), and only one of them does", async () => {
    const { one, two } = twoServers({ ackTimeoutMs: 6_000 });
    const pairId = await pair(one, 0);
    await two.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 50);
    expect(events(await two.tick(5_999))).toEqual([]);
    const [byTwo, byOne] = await Promise.all([two.tick(6_000), one.tick(6_000)]);
    expect(events(byTwo)).toEqual([{ type: "server-gave-up", session: "s1" }]);
    // A registered with server one: its UNMATCH is handed to one, the only server its NAT lets in.
    const unmatch = {
      kind: "send",
      to: A_ADDR,
      msg: { type: "unmatch", to: A_ID, pairId },
      via: "one",
    } as const;
    expect(sends(byTwo)).toEqual([unmatch, unmatch, unmatch]);
    expect(byOne).toEqual([]);
  });
});

describe("expiry", () => {
  test("a silent registration expires after registrationTtlMs", async () => {
    const { core, store, reg } = setup({ registrationTtlMs: 45_000 });
    await reg(A_ADDR, register("a", A_ID), 0);
    expect(await core.tick(45_000)).toEqual([]);
    expect(await core.tick(45_001)).toEqual([
      { kind: "event", event: { type: "server-expired", session: "s1", role: "a" } },
    ]);
    expect(await store.count()).toBe(0);
    // The partner arriving now waits; it is not matched with the expired peer.
    const out = await reg(B_ADDR, register("b", B_ID), 46_000);
    expect(sends(out).map((s) => s.msg.type === "registered" && s.msg.status)).toEqual(["waiting"]);
  });

  test("keepalives keep a registration alive", async () => {
    const { core, reg } = setup({ registrationTtlMs: 45_000 });
    const cookie = cookieIn(await reg(A_ADDR, register("a", A_ID), 0));
    await core.onFrame(A_ADDR, frameOf({ ...register("a", A_ID), cookie }), 30_000);
    expect(await core.tick(45_001)).toEqual([]);
    expect(await core.tick(75_001)).toEqual([
      { kind: "event", event: { type: "server-expired", session: "s1", role: "a" } },
    ]);
  });

  test("only the silent role of a session expires", async () => {
    const { core, store, reg } = setup({ registrationTtlMs: 1000 });
    await reg(A_ADDR, register("a", A_ID, [], "one"), 0);
    await reg(B_ADDR, register("b", B_ID, [], "two"), 600);
    expect(events(await core.tick(1001))).toEqual([{ type: "server-expired", session: "one", role: "a" }]);
    expect(await store.count()).toBe(1);
    expect((await store.get("two"))?.slots.b?.peerId).toBe(B_ID);
  });
});

describe("isolation", () => {
  test("many sessions are independent", async () => {
    const { core, store, reg } = setup();
    const N = 50;
    const addr = (role: Role, i: number) => ({
      host: role === "a" ? "198.51.100.10" : "203.0.113.20",
      port: 20000 + i,
    });
    const id = (role: Role, i: number) => `${role === "a" ? "a" : "b"}${i.toString(16).padStart(15, "0")}`;
    for (let i = 0; i < N; i++) {
      const out = sends(await reg(addr("a", i), register("a", id("a", i), [], `s${i}`), i));
      expect(out.map((s) => s.msg.type === "registered" && s.msg.status)).toEqual(["waiting"]);
    }
    const pairs = new Set<string>();
    for (let i = 0; i < N; i++) {
      const out = sends(await reg(addr("b", i), register("b", id("b", i), [], `s${i}`), 100 + i));
      expect(out).toHaveLength(2);
      const [toA, toB] = out;
      expect(toA?.to).toEqual(addr("a", i));
      expect(toB?.to).toEqual(addr("b", i));
      expect(toA?.msg).toMatchObject({
        type: "match",
        partnerId: id("b", i),
        candidates: [{ kind: "public", ...addr("b", i) }],
      });
      expect(toB?.msg).toMatchObject({
        type: "match",
        partnerId: id("a", i),
        candidates: [{ kind: "public", ...addr("a", i) }],
      });
      if (toA?.msg.type === "match") pairs.add(toA.msg.pairId);
    }
    expect(pairs.size).toBe(N);
    expect(await store.count()).toBe(N);
    // Finishing session 0 leaves the other 49 retransmitting.
    const p0 = (await store.get("s0"))?.pair?.pairId as string;
    await core.onFrame(addr("a", 0), frameOf(ack(p0, id("a", 0), "s0")), 150);
    await core.onFrame(addr("b", 0), frameOf(ack(p0, id("b", 0), "s0")), 150);
    expect(await store.count()).toBe(N - 1);
    const retx = sends(await core.tick(400));
    expect(retx).toHaveLength(2 * (N - 1));
    expect(retx.map((s) => s.to.port)).not.toContain(20000);
  });

  test("the same peer id in another session is a different peer", async () => {
    const { reg } = setup();
    await reg(A_ADDR, register("a", A_ID, [], "x"), 0);
    const out = await reg(B_ADDR, register("b", B_ID, [], "y"), 0);
    expect(sends(out).map((s) => s.msg.type === "registered" && s.msg.status)).toEqual(["waiting"]);
  });
});

describe("not a reflector", () => {
  const PAIR = "00112233445566778899aabbccddeeff";
  const strays: Message[] = [
    { type: "ping", pairId: PAIR, peerId: A_ID, seq: 1 },
    { type: "pong", pairId: PAIR, peerId: A_ID, seq: 1 },
    { type: "close", pairId: PAIR, peerId: A_ID, rttMs: 1 },
    {
      type: "registered",
      echo: "000000000000000000000000",
      status: "waiting",
      observed: B_ADDR,
      serverTime: 0,
      cookie: "00".repeat(16),
    },
    {
      type: "match",
      to: A_ID,
      echo: "000000000000000000000000",
      serverTime: 0,
      cookie: expect.stringMatching(/^[0-9a-f]{32}$/),
      pairId: PAIR,
      partnerId: B_ID,
      observed: A_ADDR,
      candidates: [{ kind: "public", ...B_ADDR }],
    },
    { type: "unmatch", to: A_ID, pairId: PAIR },
    { type: "partnerNat", to: A_ID, pairId: PAIR, nat: { mapping: "random", step: 1 } },
  ];
  for (const msg of strays) {
    test(`a ${msg.type} sent to the server gets no reply`, async () => {
      const { core, store, reg } = setup();
      await reg(A_ADDR, register("a", A_ID), 0);
      expect(await core.onFrame(B_ADDR, frameOf(msg), 10)).toEqual([
        { kind: "event", event: { type: "dropped", from: B_ADDR, reason: "unexpected" } },
      ]);
      expect((await store.get("s1"))?.slots.b).toBeUndefined();
    });
  }

  test("a matchAck for a session that does not exist gets no reply", async () => {
    const { core } = setup();
    expect(await core.onFrame(A_ADDR, frameOf(ack(PAIR, A_ID)), 0)).toEqual([]);
  });
});

// Bugs found by review, each pinned by a test that failed before its fix.
test("regression: a pair dropped unacknowledged is reported as given up, not as paired", async () => {
  const core = makeCore();
  const A = "1".repeat(16);
  const reg = (role: "a" | "b", port: number) =>
    registerWithCookie(
      core,
      { host: "198.18.0.2", port },
      { type: "register", session: "s", role, peerId: `${role === "a" ? 1 : 2}`.repeat(16), candidates: [] },
      0,
    );
  await reg("a", 1000);
  const match = (await reg("b", 2000)).find((x) => x.kind === "send" && x.msg.type === "match");
  const pairId = match?.kind === "send" && match.msg.type === "match" ? match.msg.pairId : "";
  // Only A acknowledges; B stays silent until the ack timeout (6 s).
  await core.onFrame(
    { host: "198.18.0.2", port: 1000 },
    frameOf({ type: "matchAck", session: "s", pairId, peerId: A }),
    10,
  );
  expect((await core.tick(5_999)).map((a) => a.kind)).not.toContain("event");
  const out = await core.tick(6_000);
  const events = out.flatMap((a) => (a.kind === "event" ? [a.event.type] : []));
  expect(events).toContain("server-gave-up");
  expect(events).not.toContain("server-paired");
  // The peer that acknowledged is told (three copies: UNMATCH is not acknowledged), so it waits again instead
  // of punching a peer that is gone.
  const unmatch = [1000, { type: "unmatch" as const, to: A, pairId }];
  expect(out.flatMap((a) => (a.kind === "send" ? [[a.to.port, a.msg]] : []))).toEqual([
    unmatch,
    unmatch,
    unmatch,
  ]);
});
