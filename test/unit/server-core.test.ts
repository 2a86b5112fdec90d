import { describe, expect, test } from "bun:test";
import type { Message } from "../../src/protocol/messages.ts";
import {
  DEFAULT_TIMINGS,
  RendezvousCore,
  type RendezvousTimings,
  type ServerAction,
} from "../../src/rendezvous/core.ts";
import { MemoryStore } from "../../src/rendezvous/store.ts";
import type { Endpoint, Role } from "../../src/types.ts";
import { frameOf } from "./support.ts";

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
  const core = new RendezvousCore(store, randomHex, { ...DEFAULT_TIMINGS, ...timings });
  return { store, core, ids };
}

const register = (role: Role, peerId: string, candidates: Endpoint[] = [], session = "s1"): Message => ({
  type: "register",
  session,
  role,
  peerId,
  candidates,
});
const ack = (pairId: string, peerId: string, session = "s1"): Message => ({
  type: "matchAck",
  session,
  pairId,
  peerId,
});

const sends = (actions: ServerAction[]) => actions.flatMap((a) => (a.kind === "send" ? [a] : []));
const events = (actions: ServerAction[]) => actions.flatMap((a) => (a.kind === "event" ? [a.event] : []));

/** Pairs A and B in session s1 at `now`; returns the pair id. */
function pair(core: RendezvousCore, now = 0, session = "s1"): string {
  core.onFrame(A_ADDR, frameOf(register("a", A_ID, [], session)), now);
  const out = sends(core.onFrame(B_ADDR, frameOf(register("b", B_ID, [], session)), now));
  const m = out[0]?.msg;
  if (m?.type !== "match") throw new Error("no match");
  return m.pairId;
}

describe("registration", () => {
  test("the first REGISTER is answered with REGISTERED echoing the nonce and the observed address", () => {
    const { core, store } = setup();
    const frame = frameOf(register("a", A_ID, [{ host: "192.0.2.10", port: 10000 }]), {
      nonce: "0102030405060708090a0b0c",
    });
    const out = core.onFrame(A_ADDR, frame, 1000);
    expect(out).toEqual([
      { kind: "event", event: { type: "server-registration", session: "s1", role: "a", from: A_ADDR } },
      {
        kind: "send",
        to: A_ADDR,
        msg: { type: "registered", echo: "0102030405060708090a0b0c", observed: A_ADDR },
      },
    ]);
    expect(store.size).toBe(1);
    expect(store.get("s1")?.slots.a).toEqual({
      peerId: A_ID,
      addr: A_ADDR,
      candidates: [{ host: "192.0.2.10", port: 10000 }],
      lastSeen: 1000,
    });
  });

  test("a keepalive from the same peer and address is answered again, without a new registration event", () => {
    const { core } = setup();
    core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 0);
    const out = core.onFrame(
      A_ADDR,
      frameOf(register("a", A_ID), { nonce: "ffffffffffffffffffffffff" }),
      15_000,
    );
    expect(events(out)).toEqual([]);
    expect(sends(out)).toEqual([
      {
        kind: "send",
        to: A_ADDR,
        msg: { type: "registered", echo: "ffffffffffffffffffffffff", observed: A_ADDR },
      },
    ]);
  });

  test("the same peer from a new address (NAT rebinding) is a new registration and sees its new address", () => {
    const { core } = setup();
    core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 0);
    const moved = { host: "198.51.100.10", port: 50000 };
    const out = core.onFrame(moved, frameOf(register("a", A_ID)), 100);
    expect(events(out)).toEqual([{ type: "server-registration", session: "s1", role: "a", from: moved }]);
    expect(sends(out)[0]).toMatchObject({ to: moved, msg: { type: "registered", observed: moved } });
  });
});

describe("matching", () => {
  test("the second peer triggers a MATCH to both at once: public address first, then deduplicated LAN candidates", () => {
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
    core.onFrame(A_ADDR, frameOf(register("a", A_ID, aLan)), 0);
    const out = core.onFrame(B_ADDR, frameOf(register("b", B_ID, bLan)), 500);
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

  test("role order does not matter: b first, then a", () => {
    const { core } = setup();
    core.onFrame(B_ADDR, frameOf(register("b", B_ID)), 0);
    const out = core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 0);
    expect(events(out)).toContainEqual({ type: "server-pair", session: "s1", a: A_ADDR, b: B_ADDR });
    expect(sends(out).map((s) => [s.to, s.msg.type === "match" && s.msg.partnerId])).toEqual([
      [A_ADDR, B_ID],
      [B_ADDR, A_ID],
    ]);
  });

  test("a REGISTER retry that crossed the MATCH is answered with the same MATCH, to that peer only", () => {
    const { core, ids } = setup();
    const pairId = pair(core);
    const out = core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 100);
    expect(out).toHaveLength(1);
    expect(sends(out)[0]).toMatchObject({ to: A_ADDR, msg: { type: "match", pairId, partnerId: B_ID } });
    expect(ids).toHaveLength(1);
  });

  test("a new peer replacing a vanished one mid-announcement gets a fresh pair", () => {
    const { core, ids } = setup();
    const oldPair = pair(core);
    const a2 = { host: "198.51.100.11", port: 40003 };
    const out = core.onFrame(a2, frameOf(register("a", "a2a2a2a2a2a2a2a2")), 100);
    expect(ids).toHaveLength(2);
    const newPair = ids[1];
    expect(newPair).not.toBe(oldPair);
    expect(sends(out).map((s) => [s.to, s.msg])).toEqual([
      [a2, expect.objectContaining({ type: "match", pairId: newPair, partnerId: B_ID })],
      [B_ADDR, expect.objectContaining({ type: "match", pairId: newPair, partnerId: "a2a2a2a2a2a2a2a2" })],
    ]);
    // An ack for the old pair no longer counts.
    expect(core.onFrame(B_ADDR, frameOf(ack(oldPair, B_ID)), 200)).toEqual([]);
  });
});

describe("MATCH retransmission", () => {
  function matchTimes(core: RendezvousCore, until: number, step = 100) {
    const times: [number, Endpoint][] = [];
    for (let t = step; t <= until; t += step)
      for (const s of sends(core.tick(t))) if (s.msg.type === "match") times.push([t, s.to]);
    return times;
  }

  test("retransmits to both on tick with doubling delays, capped at matchRetryMaxMs", () => {
    const { core } = setup();
    pair(core, 0);
    expect(sends(core.tick(199))).toEqual([]);
    const times = matchTimes(core, 9000);
    const at = [...new Set(times.map(([t]) => t))];
    expect(at).toEqual([200, 600, 1400, 3000, 5000, 7000, 9000]);
    for (const t of at) expect(times.filter(([x]) => x === t).map(([, to]) => to)).toEqual([A_ADDR, B_ADDR]);
  });

  test("after one ack only the other peer still gets MATCHes, and after both the session is gone", () => {
    const { core, store } = setup();
    const pairId = pair(core, 0);
    expect(core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 50)).toEqual([]);
    const out = sends(core.tick(200));
    expect(out.map((s) => s.to)).toEqual([B_ADDR]);
    expect(out[0]?.msg).toMatchObject({ type: "match", pairId, partnerId: A_ID });
    const done = core.onFrame(B_ADDR, frameOf(ack(pairId, B_ID)), 250);
    expect(done).toEqual([{ kind: "event", event: { type: "server-paired", session: "s1" } }]);
    expect(store.size).toBe(0);
    expect(matchTimes(core, 10_000)).toEqual([]);
  });

  test("acks with a wrong pair id, an unknown peer or another session change nothing", () => {
    const { core } = setup();
    const pairId = pair(core, 0);
    expect(core.onFrame(A_ADDR, frameOf(ack("f".repeat(32), A_ID)), 10)).toEqual([]);
    expect(core.onFrame(A_ADDR, frameOf(ack(pairId, "cccccccccccccccc")), 10)).toEqual([]);
    expect(core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID, "other")), 10)).toEqual([]);
    expect(sends(core.tick(200)).map((s) => s.to)).toEqual([A_ADDR, B_ADDR]);
  });

  test("a late duplicate REGISTER from a finished peer is ignored; after doneMemoryMs it is a new registration", () => {
    const { core, store } = setup({ doneMemoryMs: 60_000 });
    const pairId = pair(core, 0);
    core.onFrame(A_ADDR, frameOf(ack(pairId, A_ID)), 10);
    core.onFrame(B_ADDR, frameOf(ack(pairId, B_ID)), 20);
    const late = core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 500);
    expect(late).toEqual([{ kind: "event", event: { type: "dropped", from: A_ADDR, reason: "unexpected" } }]);
    expect(store.size).toBe(0);
    // Even if the partner also comes back, no new pair is made from a finished peer.
    core.onFrame(B_ADDR, frameOf(register("b", B_ID)), 600);
    expect(sends(core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 700))).toEqual([]);
    // Marked done when the second ack came (at 20) until 20 + doneMemoryMs.
    expect(sends(core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 60_019))).toEqual([]);
    core.tick(60_021);
    expect(sends(core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 60_021))).toEqual([
      { kind: "send", to: A_ADDR, msg: expect.objectContaining({ type: "registered" }) },
    ]);
  });

  test("an unacknowledged pair is dropped after matchGiveUpMs and its peers are remembered as finished", () => {
    const { core, store } = setup({ matchGiveUpMs: 30_000 });
    pair(core, 0);
    core.tick(30_000);
    expect(store.size).toBe(1);
    const out = core.tick(30_001);
    expect(sends(out)).toEqual([]);
    expect(store.size).toBe(0);
    expect(events(core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 30_100))).toEqual([
      { type: "dropped", from: A_ADDR, reason: "unexpected" },
    ]);
  });
});

describe("expiry", () => {
  test("a silent registration expires after registrationTtlMs", () => {
    const { core, store } = setup({ registrationTtlMs: 45_000 });
    core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 0);
    expect(core.tick(45_000)).toEqual([]);
    expect(core.tick(45_001)).toEqual([
      { kind: "event", event: { type: "server-expired", session: "s1", role: "a" } },
    ]);
    expect(store.size).toBe(0);
    // The partner arriving now waits; it is not matched with the expired peer.
    const out = core.onFrame(B_ADDR, frameOf(register("b", B_ID)), 46_000);
    expect(sends(out).map((s) => s.msg.type)).toEqual(["registered"]);
  });

  test("keepalives keep a registration alive", () => {
    const { core } = setup({ registrationTtlMs: 45_000 });
    core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 0);
    core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 30_000);
    expect(core.tick(45_001)).toEqual([]);
    expect(core.tick(75_001)).toEqual([
      { kind: "event", event: { type: "server-expired", session: "s1", role: "a" } },
    ]);
  });

  test("only the silent role of a session expires", () => {
    const { core, store } = setup({ registrationTtlMs: 1000 });
    core.onFrame(A_ADDR, frameOf(register("a", A_ID, [], "one")), 0);
    core.onFrame(B_ADDR, frameOf(register("b", B_ID, [], "two")), 600);
    expect(events(core.tick(1001))).toEqual([{ type: "server-expired", session: "one", role: "a" }]);
    expect(store.size).toBe(1);
    expect(store.get("two")?.slots.b?.peerId).toBe(B_ID);
  });
});

describe("isolation", () => {
  test("many sessions are independent", () => {
    const { core, store } = setup();
    const N = 50;
    const addr = (role: Role, i: number) => ({
      host: role === "a" ? "198.51.100.10" : "203.0.113.20",
      port: 20000 + i,
    });
    const id = (role: Role, i: number) => `${role === "a" ? "a" : "b"}${i.toString(16).padStart(15, "0")}`;
    for (let i = 0; i < N; i++) {
      const out = sends(core.onFrame(addr("a", i), frameOf(register("a", id("a", i), [], `s${i}`)), i));
      expect(out.map((s) => s.msg.type)).toEqual(["registered"]);
    }
    const pairs = new Set<string>();
    for (let i = 0; i < N; i++) {
      const out = sends(core.onFrame(addr("b", i), frameOf(register("b", id("b", i), [], `s${i}`)), 100 + i));
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
    expect(store.size).toBe(N);
    // Finishing session 0 leaves the other 49 retransmitting.
    const p0 = store.get("s0")?.pair?.pairId as string;
    core.onFrame(addr("a", 0), frameOf(ack(p0, id("a", 0), "s0")), 150);
    core.onFrame(addr("b", 0), frameOf(ack(p0, id("b", 0), "s0")), 150);
    expect(store.size).toBe(N - 1);
    const retx = sends(core.tick(400));
    expect(retx).toHaveLength(2 * (N - 1));
    expect(retx.some((s) => s.to.port === 20000)).toBe(false);
  });

  test("the same peer id in another session is a different peer", () => {
    const { core } = setup();
    core.onFrame(A_ADDR, frameOf(register("a", A_ID, [], "x")), 0);
    const out = core.onFrame(B_ADDR, frameOf(register("b", B_ID, [], "y")), 0);
    expect(sends(out).map((s) => s.msg.type)).toEqual(["registered"]);
  });
});

describe("not a reflector", () => {
  const PAIR = "00112233445566778899aabbccddeeff";
  const strays: Message[] = [
    { type: "ping", pairId: PAIR, peerId: A_ID, seq: 1 },
    { type: "pong", pairId: PAIR, peerId: A_ID, seq: 1 },
    { type: "close", pairId: PAIR, peerId: A_ID, rttMs: 1 },
    { type: "registered", echo: "000000000000000000000000", observed: B_ADDR },
    {
      type: "match",
      pairId: PAIR,
      partnerId: B_ID,
      observed: A_ADDR,
      candidates: [{ kind: "public", ...B_ADDR }],
    },
  ];
  for (const msg of strays) {
    test(`a ${msg.type} sent to the server gets no reply`, () => {
      const { core, store } = setup();
      core.onFrame(A_ADDR, frameOf(register("a", A_ID)), 0);
      expect(core.onFrame(B_ADDR, frameOf(msg), 10)).toEqual([
        { kind: "event", event: { type: "dropped", from: B_ADDR, reason: "unexpected" } },
      ]);
      expect(store.get("s1")?.slots.b).toBeUndefined();
    });
  }

  test("a matchAck for a session that does not exist gets no reply", () => {
    const { core } = setup();
    expect(core.onFrame(A_ADDR, frameOf(ack(PAIR, A_ID)), 0)).toEqual([]);
  });
});
