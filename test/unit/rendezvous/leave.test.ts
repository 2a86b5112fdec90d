// Issue 9 items 1, 3 and 17: a peer that stops before it is paired frees its role (no ghost partners), a late
// NAT behaviour in a crossed REGISTER reaches the partner (no birthday stall), and a long wait is reported.
import { describe, expect, test } from "bun:test";
import type { Message, Register, Registered } from "../../../src/protocol/messages.ts";
import { type PeerAction, PeerMachine } from "../../../src/punch/machine.ts";
import { DEFAULT_TIMINGS, RendezvousCore, type ServerAction } from "../../../src/rendezvous/core.ts";
import { MemoryStore } from "../../../src/rendezvous/store.ts";
import type { Endpoint, Role } from "../../../src/types.ts";
import { frameOf, TS } from "../support.ts";

const A = { host: "203.0.113.10", port: 40001 };
const B = { host: "198.18.0.20", port: 40002 };
const B2 = { host: "198.18.0.20", port: 40003 };
const SERVER = { host: "198.51.100.7", port: 10001 };

let n = 0;
const core = () =>
  new RendezvousCore({
    store: new MemoryStore(),
    randomHex: (k) => (++n).toString(16).padStart(k * 2, "0"),
    cookieKey: new Uint8Array(32).fill(3),
    timings: DEFAULT_TIMINGS,
  });
const reg = (role: Role, peerId: string, cookie?: string, extra: Partial<Register> = {}): Register => ({
  type: "register",
  session: "s",
  role,
  peerId,
  candidates: [],
  ...(cookie ? { cookie } : {}),
  ...extra,
});
const sends = (out: ServerAction[]) => out.flatMap((a) => (a.kind === "send" ? [a] : []));
const registered = (out: ServerAction[]) =>
  sends(out).find((s) => s.msg.type === "registered")?.msg as Registered | undefined;
async function register(
  c: RendezvousCore,
  from: Endpoint,
  role: Role,
  peerId: string,
  now: number,
  extra = {},
) {
  const cookie = registered(await c.onFrame(from, frameOf(reg(role, peerId, undefined, extra)), now))?.cookie;
  return { out: await c.onFrame(from, frameOf(reg(role, peerId, cookie, extra)), now), cookie };
}

describe("LEAVE: no ghost partners", () => {
  test("a peer that left frees its role: the next partner waits, and a new peer takes the role at once", async () => {
    const c = core();
    await register(c, B, "b", "bbbbbbbbbbbbbbbb", TS);
    const left = await c.onFrame(
      B,
      frameOf({ type: "leave", session: "s", role: "b", peerId: "bbbbbbbbbbbbbbbb" }),
      TS + 1_000,
    );
    expect(left).toContainEqual({ kind: "event", event: { type: "server-left", session: "s", role: "b" } });
    expect(sends(left)).toEqual([]); // never answered
    // Role a one second later: it waits instead of being paired with the ghost.
    const a = await register(c, A, "a", "aaaaaaaaaaaaaaaa", TS + 2_000);
    expect(registered(a.out)?.status).toBe("waiting");
    // The script's next attempt (a new peer id) is not told "busy": it pairs at once.
    const b2 = await register(c, B2, "b", "b000000000000002", TS + 2_500);
    expect(
      sends(b2.out)
        .filter((s) => s.msg.type === "match")
        .map((s) => s.to),
    ).toEqual([A, B2]);
  });

  test("a LEAVE naming another peer id, or a role nobody holds, changes nothing", async () => {
    const c = core();
    await register(c, B, "b", "bbbbbbbbbbbbbbbb", TS);
    for (const m of [
      { type: "leave", session: "s", role: "b", peerId: "eeeeeeeeeeeeeeee" },
      { type: "leave", session: "s", role: "a", peerId: "bbbbbbbbbbbbbbbb" },
      { type: "leave", session: "t", role: "b", peerId: "bbbbbbbbbbbbbbbb" },
    ] as const)
      expect(await c.onFrame(B, frameOf(m), TS + 1)).toEqual([
        { kind: "event", event: { type: "dropped", from: B, reason: "unexpected" } },
      ]);
    expect(registered((await register(c, B2, "b", "b000000000000002", TS + 2)).out)?.status).toBe("busy");
  });

  test("leaving while the MATCH is pending undoes the pair: the partner gets UNMATCH and waits", async () => {
    const c = core();
    await register(c, A, "a", "aaaaaaaaaaaaaaaa", TS);
    const b = await register(c, B, "b", "bbbbbbbbbbbbbbbb", TS + 100);
    const pairId = sends(b.out).find((s) => s.msg.type === "match")?.msg;
    const out = await c.onFrame(
      B,
      frameOf({ type: "leave", session: "s", role: "b", peerId: "bbbbbbbbbbbbbbbb" }),
      TS + 200,
    );
    const unmatch = {
      kind: "send" as const,
      to: A,
      msg: {
        type: "unmatch" as const,
        to: "aaaaaaaaaaaaaaaa",
        pairId: pairId?.type === "match" ? pairId.pairId : "",
      },
    };
    expect(sends(out)).toEqual([unmatch, unmatch, unmatch]); // not acknowledged: three copies
  });
});

describe("birthday stall: NAT behaviour learned just before the match reaches the partner", () => {
  test("a REGISTER that crossed the MATCH with new NAT behaviour is passed on as PARTNER_NAT", async () => {
    const c = core();
    await register(c, A, "a", "aaaaaaaaaaaaaaaa", TS);
    const b = await register(c, B, "b", "bbbbbbbbbbbbbbbb", TS + 100);
    const nat = { mapping: "random", step: 0 } as const;
    const out = await c.onFrame(B, frameOf(reg("b", "bbbbbbbbbbbbbbbb", b.cookie, { nat })), TS + 150);
    const pn = sends(out).find((s) => s.msg.type === "partnerNat");
    expect(pn?.to).toEqual(A);
    expect(pn?.msg).toMatchObject({ type: "partnerNat", to: "aaaaaaaaaaaaaaaa", nat });
    // Said once: the same behaviour again is not repeated.
    const again = await c.onFrame(B, frameOf(reg("b", "bbbbbbbbbbbbbbbb", b.cookie, { nat })), TS + 200);
    expect(sends(again).filter((s) => s.msg.type === "partnerNat")).toEqual([]);
  });
});

describe("the peer says goodbye and reports long waits", () => {
  const peer = (timings = {}) => {
    let k = 0;
    return new PeerMachine({
      session: "s",
      role: "b",
      peerId: "bbbbbbbbbbbbbbbb",
      server: SERVER,
      lanCandidates: [],
      nonce: () => (++k).toString(16).padStart(24, "0"),
      timings,
    });
  };
  const waiting = (m: PeerMachine, log: PeerAction[]) => {
    log.push(...m.step({ type: "start", now: 0 }).actions);
    const reg = log.find((a) => a.kind === "send" && a.msg.type === "register");
    const echo = reg?.kind === "send" ? (reg.nonce ?? "") : "";
    const answer: Message = {
      type: "registered",
      echo,
      status: "waiting",
      observed: B,
      serverTime: 0,
      cookie: "00".repeat(16),
    };
    log.push(...m.step({ type: "frame", now: 10, from: SERVER, frame: frameOf(answer) }).actions);
  };
  const leaves = (log: PeerAction[]) =>
    log.filter((a) => a.kind === "send" && a.msg.type === "leave" && a.to === SERVER).length;

  test("its own timeout: three LEAVEs go out before the failure", async () => {
    const m = peer({ waitMs: 1_000 });
    const log: PeerAction[] = [];
    waiting(m, log);
    const out = m.step({ type: "tick", now: 1_000 }).actions;
    expect(out.map((a) => a.kind)).toEqual(["send", "send", "send", "fail"]);
    expect(leaves(out)).toBe(3);
  });

  test("cancelled while waiting: leave() gives three LEAVEs, and nothing after", async () => {
    const m = peer();
    const log: PeerAction[] = [];
    waiting(m, log);
    expect(leaves(m.leave())).toBe(3);
    expect(m.leave()).toEqual([]);
    expect(m.step({ type: "tick", now: 20_000 }).actions).toEqual([]);
  });

  test("never heard from the server: no LEAVE (there is nothing to free)", async () => {
    const m = peer();
    m.step({ type: "start", now: 0 });
    expect(leaves(m.leave())).toBe(0);
  });

  test("still waiting is reported after 1, 2, 5 and 10 minutes, then every 10", async () => {
    const m = peer();
    const log: PeerAction[] = [];
    waiting(m, log);
    let wake = m.step({ type: "tick", now: 11 }).wakeAt;
    while (wake !== undefined && wake <= 40 * 60_000) {
      const out = m.step({ type: "tick", now: wake });
      log.push(...out.actions);
      wake = out.wakeAt;
    }
    const reports = log.flatMap((a) =>
      a.kind === "event" && a.event.type === "still-waiting" ? [Math.round(a.event.waitedMs / 60_000)] : [],
    );
    expect(reports).toEqual([1, 2, 5, 10, 20, 30, 40]);
  });
});
