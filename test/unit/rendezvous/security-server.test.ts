// Regression tests for the rendezvous server's side of the security audit (issue 8): replayed and spoofed
// REGISTERs after a restart, squatting, lost mappings, session caps. The pure core on a fake clock.
import { describe, expect, test } from "bun:test";
import type { Match, Message, Register, Registered } from "../../../src/protocol/messages.ts";
import { DEFAULT_TIMINGS, RendezvousCore, type ServerAction } from "../../../src/rendezvous/core.ts";
import { MemoryStore } from "../../../src/rendezvous/store.ts";
import type { Endpoint, Role } from "../../../src/types.ts";
import { frameOf, TS } from "../support.ts";

const A = { host: "203.0.113.10", port: 40001 };
const A_MOVED = { host: "203.0.113.10", port: 40777 };
const B = { host: "198.18.0.20", port: 40002 };
const EVE = { host: "198.51.100.66", port: 6666 };
const ID = { a: "aaaaaaaaaaaaaaaa", b: "bbbbbbbbbbbbbbbb", eve: "eeeeeeeeeeeeeeee" };

let nonce = 0;
const nextNonce = () => (++nonce).toString(16).padStart(24, "0");

function core(opts: { key?: number; limits?: { maxSessions: number; maxPerAddress: number } } = {}) {
  let pairs = 0;
  return new RendezvousCore({
    store: new MemoryStore(),
    randomHex: (n) => (++pairs).toString(16).padStart(n * 2, "0"),
    cookieKey: new Uint8Array(32).fill(opts.key ?? 1),
    timings: DEFAULT_TIMINGS,
    ...(opts.limits ? { limits: opts.limits } : {}),
  });
}

const reg = (role: Role, peerId: string, cookie?: string, session = "s"): Register => ({
  type: "register",
  session,
  role,
  peerId,
  candidates: [],
  ...(cookie ? { cookie } : {}),
});

const sends = (out: ServerAction[]) => out.flatMap((a) => (a.kind === "send" ? [a] : []));
const answer = (out: ServerAction[]): Registered => {
  const r = sends(out).find((s) => s.msg.type === "registered")?.msg;
  if (r?.type !== "registered") throw new Error(`no REGISTERED in ${JSON.stringify(out)}`);
  return r;
};
const matches = (out: ServerAction[]) =>
  sends(out).flatMap((s) => (s.msg.type === "match" ? [{ to: s.to, msg: s.msg as Match }] : []));

/** The cookie round trip a real peer does: REGISTER, challenge with a cookie, REGISTER with it. */
async function register(
  c: RendezvousCore,
  from: Endpoint,
  role: Role,
  peerId: string,
  now: number,
  session = "s",
) {
  const challenge = answer(await c.onFrame(from, frameOf(reg(role, peerId, undefined, session)), now));
  expect(challenge.status).toBe("challenge");
  const n = nextNonce();
  const out = await c.onFrame(from, frameOf(reg(role, peerId, challenge.cookie, session), { nonce: n }), now);
  return { out, nonce: n, cookie: challenge.cookie };
}

/** A new MATCH to A at A_MOVED and to B, B's naming A_MOVED, its pairId (the one to `at`) not `pairId`. */
function expectRematchedFromMovedA(
  out: Parameters<typeof matches>[0],
  pairId: string | undefined,
  at: 0 | 1,
) {
  const again = matches(out);
  expect(again.map((x) => x.to)).toEqual([A_MOVED, B]);
  expect(again[1]?.msg.candidates[0]).toEqual({ kind: "public", ...A_MOVED });
  expect(again[at]?.msg.pairId).not.toBe(pairId);
}

describe("return routability: no state without a cookie", () => {
  test("a REGISTER without a cookie is answered with a challenge and registers nothing", async () => {
    const c = core();
    const out = await c.onFrame(A, frameOf(reg("a", ID.a)), TS);
    expect(answer(out)).toMatchObject({ status: "challenge", observed: A, serverTime: TS });
    // The partner arrives: had the first REGISTER counted, this would be a MATCH.
    const b = await register(c, B, "b", ID.b, TS + 10);
    expect(matches(b.out)).toEqual([]);
    expect(answer(b.out).status).toBe("waiting");
  });

  test("a cookie is bound to its address: echoed from another address it is only a new challenge", async () => {
    const c = core();
    const ch = answer(await c.onFrame(A, frameOf(reg("a", ID.a)), TS));
    const out = await c.onFrame(EVE, frameOf(reg("a", ID.a, ch.cookie)), TS + 5);
    expect(answer(out).status).toBe("challenge");
    expect(answer(out).cookie).not.toBe(ch.cookie);
  });

  test("a cookie is bound to what it registers: another role, peer id or session gets a challenge", async () => {
    const c = core();
    const ch = answer(await c.onFrame(A, frameOf(reg("a", ID.a)), TS));
    for (const r of [reg("b", ID.a, ch.cookie), reg("a", ID.eve, ch.cookie), reg("a", ID.a, ch.cookie, "t")])
      expect(answer(await c.onFrame(A, frameOf(r), TS + 5)).status).toBe("challenge");
  });

  test("a cookie lives 2 to 4 minutes", async () => {
    const c = core();
    const ch = answer(await c.onFrame(A, frameOf(reg("a", ID.a)), 0));
    expect(answer(await c.onFrame(A, frameOf(reg("a", ID.a, ch.cookie)), 239_999)).status).toBe("waiting");
    const c2 = core();
    const ch2 = answer(await c2.onFrame(A, frameOf(reg("a", ID.a)), 0));
    expect(answer(await c2.onFrame(A, frameOf(reg("a", ID.a, ch2.cookie)), 240_000)).status).toBe(
      "challenge",
    );
  });

  test("after a restart (new cookie key) a captured REGISTER, even with its cookie, registers nothing", async () => {
    const before = core({ key: 1 });
    const a = await register(before, A, "a", ID.a, TS);
    expect(answer(a.out).status).toBe("waiting");
    const after = core({ key: 2 });
    // The attacker replays A's captured REGISTERs from its own address, and from A's address.
    for (const from of [EVE, A]) {
      expect(answer(await after.onFrame(from, frameOf(reg("a", ID.a)), TS + 3_600)).status).toBe("challenge");
      expect(answer(await after.onFrame(from, frameOf(reg("a", ID.a, a.cookie)), TS + 3_600)).status).toBe(
        "challenge",
      );
    }
    // The real partner comes: it waits; nobody was told to punch the attacker.
    const b = await register(after, B, "b", ID.b, TS + 3_700);
    expect(matches(b.out)).toEqual([]);
  });
});

describe("MATCH is bound to its recipient and the REGISTER that made its registration", () => {
  test("each MATCH names its recipient's peer id and echoes its last accepted REGISTER", async () => {
    const c = core();
    const a = await register(c, A, "a", ID.a, TS);
    const b = await register(c, B, "b", ID.b, TS + 10);
    const m = matches(b.out);
    expect(m.map((x) => [x.to, x.msg.to, x.msg.echo])).toEqual([
      [A, ID.a, a.nonce],
      [B, ID.b, b.nonce],
    ]);
  });
});

describe("squatting: a live registration is not taken over", () => {
  test("another peer id for a held role gets busy; the holder stays; after holdMs of silence it is replaced", async () => {
    const c = core();
    await register(c, A, "a", ID.a, TS);
    const eve = await register(c, EVE, "a", ID.eve, TS + 1_000);
    expect(answer(eve.out).status).toBe("busy");
    // The real partner is matched with the real holder, not the squatter.
    const b = await register(c, B, "b", ID.b, TS + 2_000);
    expect(matches(b.out).map((x) => x.to)).toEqual([A, B]);

    const c2 = core();
    await register(c2, A, "a", ID.a, TS);
    const late = await register(c2, EVE, "a", ID.eve, TS + DEFAULT_TIMINGS.holdMs);
    expect(answer(late.out).status).toBe("waiting");
  });

  test("the holder's keepalive keeps its hold", async () => {
    const c = core();
    const a = await register(c, A, "a", ID.a, TS);
    const n = nextNonce();
    await c.onFrame(A, frameOf(reg("a", ID.a, a.cookie), { nonce: n }), TS + 15_000);
    expect(answer((await register(c, EVE, "a", ID.eve, TS + 25_000)).out).status).toBe("busy");
  });
});

describe("a mapping lost while waiting costs at most one keepalive", () => {
  test("the silent peer's partner is sent back to waiting; the moved peer's keepalive re-pairs both", async () => {
    const c = core();
    await register(c, A, "a", ID.a, TS);
    // A's NAT forgets its mapping; B comes and is matched with A's dead address.
    const b = await register(c, B, "b", ID.b, TS + 1_000);
    const first = matches(b.out);
    expect(first).toHaveLength(2);
    const pairId = first[0]?.msg.pairId;
    await c.onFrame(
      B,
      frameOf({ type: "matchAck", session: "s", pairId: pairId ?? "", peerId: ID.b }),
      TS + 1_050,
    );
    // A never acknowledges: after ackTimeoutMs B is told to wait again, not left punching a corpse.
    let unmatch: Message | undefined;
    for (let t = TS + 1_100; t <= TS + 1_000 + DEFAULT_TIMINGS.ackTimeoutMs; t += 100) {
      for (const s of sends(await c.tick(t))) if (s.msg.type === "unmatch") unmatch = s.msg;
    }
    expect(unmatch).toEqual({ type: "unmatch", to: ID.b, pairId: pairId ?? "" });
    // B's own keepalive does not re-pair it with the silent A.
    const keep = await c.onFrame(B, frameOf(reg("b", ID.b, b.cookie), { nonce: nextNonce() }), TS + 8_000);
    expect(matches(keep)).toEqual([]);
    expect(answer(keep).status).toBe("waiting");
    // A's next keepalive comes from its new public port: one cookie round trip, then a MATCH to both with
    // the new address.
    const moved = await register(c, A_MOVED, "a", ID.a, TS + 15_000);
    expectRematchedFromMovedA(moved.out, pairId, 0);
  });

  test("a peer whose address changes while its MATCH is pending is re-announced to the partner", async () => {
    const c = core();
    await register(c, A, "a", ID.a, TS);
    const b = await register(c, B, "b", ID.b, TS + 1_000);
    const pairId = matches(b.out)[0]?.msg.pairId;
    const moved = await register(c, A_MOVED, "a", ID.a, TS + 1_500);
    expectRematchedFromMovedA(moved.out, pairId, 1);
  });
});

describe("session caps", () => {
  test("at maxSessions a new session gets full (and a server-limit event); existing ones go on", async () => {
    const c = core({ limits: { maxSessions: 2, maxPerAddress: 100 } });
    await register(c, A, "a", ID.a, TS, "s1");
    await register(c, B, "a", ID.b, TS, "s2");
    const third = await register(c, EVE, "a", ID.eve, TS, "s3");
    expect(answer(third.out).status).toBe("full");
    expect(third.out).toContainEqual({
      kind: "event",
      event: { type: "server-limit", limit: "sessions", from: EVE },
    });
    // s1's partner still pairs.
    expect(
      matches((await register(c, { host: "198.18.0.30", port: 1 }, "b", "cccccccccccccccc", TS, "s1")).out),
    ).toHaveLength(2);
  });

  test("at maxPerAddress one address gets limit; another address does not", async () => {
    const c = core({ limits: { maxSessions: 100, maxPerAddress: 2 } });
    await register(c, { ...EVE, port: 1 }, "a", "e000000000000001", TS, "x1");
    await register(c, { ...EVE, port: 2 }, "a", "e000000000000002", TS, "x2");
    expect(
      answer((await register(c, { ...EVE, port: 3 }, "a", "e000000000000003", TS, "x3")).out).status,
    ).toBe("limit");
    expect(answer((await register(c, A, "a", ID.a, TS, "x4")).out).status).toBe("waiting");
  });

  test("expired registrations free their address's count", async () => {
    const c = core({ limits: { maxSessions: 100, maxPerAddress: 1 } });
    await register(c, EVE, "a", ID.eve, TS, "x1");
    for (let t = TS; t <= TS + DEFAULT_TIMINGS.registrationTtlMs + 200; t += 100) await c.tick(t);
    const t = TS + DEFAULT_TIMINGS.registrationTtlMs + 300;
    expect(answer((await register(c, EVE, "a", "e000000000000009", t, "x2")).out).status).toBe("waiting");
  });
});

describe("a first REGISTER that completes a pair is announced at once, on probation", () => {
  const fresh = (m: Message, nonce = nextNonce(), timestamp = TS) => ({
    ...frameOf(m, { nonce, timestamp }),
    fresh: true,
  });
  const probationCore = (announceAfter = 0) =>
    new RendezvousCore({
      store: new MemoryStore(),
      randomHex: (n) => (++nonce).toString(16).padStart(n * 2, "0"),
      cookieKey: new Uint8Array(32).fill(9),
      timings: DEFAULT_TIMINGS,
      announceAfter,
    });
  const ack = (pairId: string, peerId: string) => frameOf({ type: "matchAck", session: "s", pairId, peerId });

  test("no extra round trip: MATCH to both at once, with the server's clock and a cookie", async () => {
    const c = probationCore();
    await register(c, A, "a", ID.a, TS);
    const out = await c.onFrame(B, fresh(reg("b", ID.b)), TS + 10);
    const m = matches(out);
    expect(m.map((x) => x.to)).toEqual([A, B]);
    expect(m[1]?.msg).toMatchObject({ to: ID.b, serverTime: TS + 10 });
    expect(m[1]?.msg.cookie).toMatch(/^[0-9a-f]{32}$/);
    expect(sends(out).filter((s) => s.msg.type === "registered")).toEqual([]);
  });

  test("both first contacts at once (neither proven yet): the second pairs both on probation, no challenge wait", async () => {
    const c = probationCore();
    const first = await c.onFrame(A, fresh(reg("a", ID.a)), TS);
    expect(answer(first).status).toBe("challenge"); // a still proves itself with the cookie...
    const out = await c.onFrame(B, fresh(reg("b", ID.b)), TS + 5); // ...but b need not wait for that
    expect(matches(out).map((x) => x.to)).toEqual([A, B]);
    // a's REGISTER with the cookie crosses the MATCH: it is answered with the MATCH again, and proves a.
    const ch = answer(first).cookie;
    expect(
      matches(await c.onFrame(A, frameOf(reg("a", ID.a, ch), { nonce: nextNonce() }), TS + 20)).map(
        (x) => x.to,
      ),
    ).toEqual([A]);
  });

  test("a lone slot on probation that never proves itself is gone after probationMs, and blocked nobody", async () => {
    const c = probationCore();
    await c.onFrame(EVE, fresh(reg("a", ID.eve)), TS); // a replayed first contact, say, from an address that never answers
    // A real peer for the same role is not told "busy".
    const real = await register(c, A, "a", ID.a, TS + 100);
    expect(answer(real.out).status).toBe("waiting");
    const c2 = probationCore();
    await c2.onFrame(EVE, fresh(reg("a", ID.eve)), TS);
    for (let t = TS; t <= TS + DEFAULT_TIMINGS.probationMs + 200; t += 100) await c2.tick(t);
    // Gone: b's first contact finds no partner to pair with, only a challenge.
    expect(answer(await c2.onFrame(B, fresh(reg("b", ID.b)), TS + 6_000)).status).toBe("challenge");
  });

  test("its MATCH_ACK from the address the MATCH went to proves it; from another address it does not", async () => {
    const c = probationCore();
    await register(c, A, "a", ID.a, TS);
    const pairId = matches(await c.onFrame(B, fresh(reg("b", ID.b)), TS + 10))[0]?.msg.pairId ?? "";
    await c.onFrame(EVE, ack(pairId, ID.b), TS + 20); // someone who read the pair id on the path
    await c.onFrame(A, ack(pairId, ID.a), TS + 20);
    // Not proven: after the ack timeout A is sent back to waiting and the unproven b is forgotten.
    let out: ServerAction[] = [];
    for (let t = TS + 100; t <= TS + 110 + DEFAULT_TIMINGS.ackTimeoutMs; t += 100)
      out = out.concat(await c.tick(t));
    expect(
      sends(out)
        .filter((s) => s.msg.type === "unmatch")
        .map((s) => s.to),
    ).toEqual([A, A, A]);
    // The real b (it was never heard: a replay from EVE's address would look the same) now pairs at once.
    expect(matches(await c.onFrame(B, fresh(reg("b", ID.b)), TS + 7_000)).map((x) => x.to)).toEqual([A, B]);

    const c2 = probationCore();
    await register(c2, A, "a", ID.a, TS);
    const p2 = matches(await c2.onFrame(B, fresh(reg("b", ID.b)), TS + 10))[0]?.msg.pairId ?? "";
    await c2.onFrame(B, ack(p2, ID.b), TS + 20);
    const done = await c2.onFrame(A, ack(p2, ID.a), TS + 30);
    expect(done).toContainEqual({ kind: "event", event: { type: "server-paired", session: "s" } });
  });

  test("a replayed or stale first REGISTER, or one in the first window after a start, gets only a challenge", async () => {
    const c = probationCore(TS + 10_000);
    await register(c, A, "a", ID.a, TS);
    const early = await c.onFrame(B, fresh(reg("b", ID.b), nextNonce(), TS + 9_999), TS + 9_999);
    expect(answer(early).status).toBe("challenge");
    const notFresh = { ...frameOf(reg("b", ID.b), { timestamp: TS + 20_000 }), fresh: false };
    expect(answer(await c.onFrame(B, notFresh, TS + 20_000)).status).toBe("challenge");
    expect(
      matches(await c.onFrame(B, fresh(reg("b", ID.b), nextNonce(), TS + 20_000), TS + 20_000)),
    ).toHaveLength(2);
  });

  test("an unproven REGISTER cannot move a proven registration (the same peer id from another address)", async () => {
    const c = probationCore();
    await register(c, A, "a", ID.a, TS);
    await register(c, B, "b", ID.b, TS);
    // Both proven and paired; now a replay of a's first REGISTER from EVE's address:
    const out = await c.onFrame(EVE, fresh(reg("a", ID.a)), TS + 100);
    expect(matches(out)).toEqual([]);
    expect(answer(out).status).toBe("challenge");
  });

  test("an unproven holder blocks nobody: a proven peer takes the role at once and the partner is re-announced", async () => {
    const c = probationCore();
    await register(c, A, "a", ID.a, TS);
    const first = matches(await c.onFrame(EVE, fresh(reg("b", ID.eve)), TS + 10));
    const oldPair = first[0]?.msg.pairId;
    const real = await register(c, B, "b", ID.b, TS + 50);
    const sent = sends(real.out);
    expect(sent.filter((s) => s.msg.type === "unmatch").map((s) => s.to)).toEqual([A, A, A]);
    const again = matches(real.out);
    expect(again.map((x) => x.to)).toEqual([A, B]);
    expect(again[0]?.msg.pairId).not.toBe(oldPair);
  });
});
