// Regression tests for the peer's side of the security audit (issue 8): replayed MATCH, REGISTERED and
// PROBE_REPLY, the send budget to addresses that never answered, and the REGISTERED statuses.
import { describe, expect, test } from "bun:test";
import type { NetpunchError } from "../../../src/errors.ts";
import type { Match, Message, RegisterStatus } from "../../../src/protocol/messages.ts";
import { UNANSWERED_BUDGET } from "../../../src/punch/budget.ts";
import { type PeerAction, PeerMachine } from "../../../src/punch/machine.ts";
import type { Endpoint } from "../../../src/types.ts";
import { frameOf } from "../support.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const ALT = { host: "198.51.100.7", port: 10002 };
const ME = "1111111111111111";
const PARTNER = "2222222222222222";
const PAIR = "00112233445566778899aabbccddeeff";
const MY_PUBLIC = { host: "198.51.100.10", port: 40001 };
const VICTIM = { host: "192.0.2.99", port: 5000 };
const COOKIE = "0123456789abcdef0123456789abcdef";

class Peer {
  readonly m: PeerMachine;
  readonly log: PeerAction[] = [];
  now = 0;
  wake: number | undefined;
  private n = 0;
  constructor() {
    this.m = new PeerMachine({
      session: "s",
      role: "a",
      peerId: ME,
      server: SERVER,
      lanCandidates: [],
      localPort: 40001,
      nonce: () => (++this.n).toString(16).padStart(24, "0"),
      random: () => 0.5,
    });
  }
  private step(input: Parameters<PeerMachine["step"]>[0]) {
    this.now = input.now;
    const out = this.m.step(input);
    this.wake = out.wakeAt;
    this.log.push(...out.actions);
    return out.actions;
  }
  start() {
    return this.step({ type: "start", now: 0 });
  }
  recv(from: Endpoint, msg: Message, now: number) {
    this.runUntil(now - 1e-9);
    return this.step({ type: "frame", now, from, frame: frameOf(msg) });
  }
  runUntil(until: number) {
    for (let guard = 0; this.wake !== undefined && this.wake <= until; guard++) {
      if (guard > 100_000) throw new Error("runaway");
      this.step({ type: "tick", now: this.wake });
    }
  }
  lastNonce(): string {
    const r = [...this.log].reverse().find((a) => a.kind === "send" && a.msg.type === "register");
    if (r?.kind !== "send" || !r.nonce) throw new Error("no REGISTER sent");
    return r.nonce;
  }
  sends(type: Message["type"]) {
    return this.log.flatMap((a) => (a.kind === "send" && a.msg.type === type ? [a] : []));
  }
  events() {
    return this.log.flatMap((a) => (a.kind === "event" ? [a.event] : []));
  }
  failure(): NetpunchError | undefined {
    for (const a of this.log) if (a.kind === "fail") return a.error;
    return undefined;
  }
  registered(status: RegisterStatus, now: number, extra: { altPort?: number } = {}) {
    return this.recv(
      SERVER,
      {
        type: "registered",
        echo: this.lastNonce(),
        status,
        observed: MY_PUBLIC,
        serverTime: now,
        cookie: COOKIE,
        ...extra,
      },
      now,
    );
  }
  waiting() {
    this.start();
    this.registered("waiting", 20);
  }
}

const match = (p: Peer, over: Partial<Match> = {}): Message => ({
  type: "match",
  to: ME,
  echo: p.lastNonce(),
  serverTime: 0,
  cookie: COOKIE,
  pairId: PAIR,
  partnerId: PARTNER,
  observed: MY_PUBLIC,
  candidates: [{ kind: "public", host: "203.0.113.20", port: 40002 }],
  ...over,
});

const dropped = (out: PeerAction[]) =>
  out.flatMap((a) => (a.kind === "event" && a.event.type === "dropped" ? [a.event.reason] : []));

describe("a replayed or foreign MATCH does nothing", () => {
  test("a MATCH for another peer id, or echoing a REGISTER we never sent, is refused: no PING at all", () => {
    const p = new Peer();
    p.waiting();
    expect(dropped(p.recv(SERVER, match(p, { to: "3333333333333333" }), 100))).toEqual(["unsolicited"]);
    expect(dropped(p.recv(SERVER, match(p, { echo: "ffffffffffffffffffffffff" }), 110))).toEqual([
      "unsolicited",
    ]);
    expect(p.sends("ping")).toEqual([]);
    expect(p.sends("matchAck")).toEqual([]);
    expect(p.m.state).toBe("waiting");
  });

  test("mid-punch, a MATCH for another pair is refused and the punch goes on", () => {
    const p = new Peer();
    p.waiting();
    p.recv(SERVER, match(p), 100);
    const other = match(p, {
      pairId: "ffeeddccbbaa99887766554433221100",
      candidates: [{ kind: "public", ...VICTIM }],
    });
    expect(dropped(p.recv(SERVER, other, 200))).toEqual(["unsolicited"]);
    p.runUntil(10_500);
    expect(p.sends("ping").filter((s) => s.to.host === VICTIM.host)).toEqual([]);
  });
});

describe("send budget: bounded traffic to an address that never answered", () => {
  test("an insider's MATCH naming a victim makes us send it at most UNANSWERED_BUDGET PINGs", () => {
    const p = new Peer();
    p.waiting();
    const lie = match(p, {
      candidates: [
        { kind: "public", ...VICTIM },
        ...Array.from({ length: 8 }, (_, i) => ({ kind: "lan" as const, host: VICTIM.host, port: 6000 + i })),
      ],
    });
    p.recv(SERVER, lie, 100);
    p.runUntil(20_000);
    const toVictim = p.sends("ping").filter((s) => s.to.host === VICTIM.host).length;
    expect(toVictim).toBeGreaterThan(0);
    expect(toVictim).toBeLessThanOrEqual(UNANSWERED_BUDGET);
  });

  test("once the partner's address answers, the budget does not limit it", () => {
    const p = new Peer();
    p.waiting();
    p.recv(SERVER, match(p), 100);
    const partner = { host: "203.0.113.20", port: 40002 };
    p.recv(partner, { type: "ping", pairId: PAIR, peerId: PARTNER, seq: 0 }, 150);
    // Its PING proved it; our PINGs to it were never refused (the punch would otherwise stall).
    expect(p.sends("pong")).toHaveLength(1);
  });
});

describe("REGISTERED and PROBE_REPLY must answer something we sent, once", () => {
  test("a REGISTERED echoing a nonce we never sent is refused; the peer stays registering", () => {
    const p = new Peer();
    p.start();
    const forged: Message = {
      type: "registered",
      echo: "ffffffffffffffffffffffff",
      status: "waiting",
      observed: MY_PUBLIC,
      serverTime: 0,
      cookie: COOKIE,
    };
    expect(dropped(p.recv(SERVER, forged, 20))).toEqual(["unsolicited"]);
    expect(p.m.state).toBe("registering");
    // ...so a dead server is still reported as silent, not as "registered, waiting forever".
    p.runUntil(11_000);
    expect(p.failure()?.code).toBe("E_SERVER_SILENT");
  });

  test("the same REGISTERED twice: the second is refused", () => {
    const p = new Peer();
    p.start();
    const ok: Message = {
      type: "registered",
      echo: p.lastNonce(),
      status: "waiting",
      observed: MY_PUBLIC,
      serverTime: 0,
      cookie: COOKIE,
    };
    p.recv(SERVER, ok, 20);
    expect(dropped(p.recv(SERVER, ok, 30))).toEqual(["unsolicited"]);
  });

  test("a PROBE_REPLY with an id we did not send is refused and teaches nothing about our NAT", () => {
    const p = new Peer();
    p.start();
    p.registered("waiting", 20, { altPort: ALT.port });
    const probe = p.sends("probe")[0];
    expect(probe?.to).toEqual(ALT);
    const reply = (probeId: number): Message => ({
      type: "probeReply",
      probeId,
      observed: { host: MY_PUBLIC.host, port: 41111 },
      receivedOn: ALT.port,
      altPort: ALT.port,
    });
    expect(dropped(p.recv(ALT, reply(12345), 30))).toEqual(["unsolicited"]);
    expect(p.events().filter((e) => e.type === "nat")).toEqual([]);
    const id = probe?.msg.type === "probe" ? probe.msg.probeId : -1;
    p.recv(ALT, reply(id), 40);
    expect(p.events().filter((e) => e.type === "nat")).toHaveLength(1);
    // Replayed: refused.
    expect(dropped(p.recv(ALT, reply(id), 50))).toEqual(["unsolicited"]);
  });
});

describe("REGISTERED statuses", () => {
  test("challenge: the REGISTER is sent again at once, with the cookie", () => {
    const p = new Peer();
    p.start();
    const out = p.registered("challenge", 20);
    const again = out.find((a) => a.kind === "send" && a.msg.type === "register");
    expect(again?.kind === "send" && again.msg.type === "register" && again.msg.cookie).toBe(COOKIE);
    expect(p.m.state).toBe("registering");
  });

  test("busy: told once, the peer keeps asking and does not fail", () => {
    const p = new Peer();
    p.start();
    p.registered("busy", 20);
    p.runUntil(2_500);
    p.registered("busy", 2_600);
    expect(p.events().filter((e) => e.type === "role-busy")).toHaveLength(1);
    p.runUntil(30_000);
    expect(p.failure()).toBeUndefined();
    expect(p.sends("register").length).toBeGreaterThan(5);
    p.registered("waiting", 30_100);
    expect(p.m.state).toBe("waiting");
  });

  test("full and limit fail with E_SERVER_FULL and say which", () => {
    for (const [status, words] of [
      ["full", "as many sessions as it may"],
      ["limit", "from this address"],
    ] as const) {
      const p = new Peer();
      p.start();
      p.registered(status, 20);
      expect(p.failure()?.code).toBe("E_SERVER_FULL");
      expect(p.failure()?.message).toContain(words);
    }
  });
});

describe("UNMATCH", () => {
  test("ignored once the partner has reached us (only its acknowledgements were lost)", () => {
    const p = new Peer();
    p.waiting();
    p.recv(SERVER, match(p), 100);
    p.recv(
      { host: "203.0.113.20", port: 40002 },
      { type: "ping", pairId: PAIR, peerId: PARTNER, seq: 0 },
      150,
    );
    p.recv(SERVER, { type: "unmatch", to: ME, pairId: PAIR }, 200);
    expect(p.m.state).toBe("punching");
  });

  test("a late retransmission of the undone pair's MATCH does not start it again", () => {
    const p = new Peer();
    p.waiting();
    const old = match(p);
    p.recv(SERVER, old, 100);
    p.recv(SERVER, { type: "unmatch", to: ME, pairId: PAIR }, 6_100);
    expect(p.m.state).toBe("waiting");
    expect(dropped(p.recv(SERVER, old, 6_200))).toEqual(["unsolicited"]);
    expect(p.m.state).toBe("waiting");
  });

  test("for another pair or peer: refused", () => {
    const p = new Peer();
    p.waiting();
    p.recv(SERVER, match(p), 100);
    expect(dropped(p.recv(SERVER, { type: "unmatch", to: "3333333333333333", pairId: PAIR }, 200))).toEqual([
      "unsolicited",
    ]);
    expect(p.m.state).toBe("punching");
  });

  test("E_PUNCH_FAILED says when nothing at all came from the partner", () => {
    const p = new Peer();
    p.waiting();
    p.recv(SERVER, match(p), 100);
    p.runUntil(11_000);
    expect(p.failure()?.message).toContain("no packet from the partner arrived");
    expect(p.failure()?.hint).toContain("the partner may have stopped");
  });
});

describe("doctor's probe ids", () => {
  test("random, distinct, and u32 whatever the random bytes (a high first bit once made them negative)", async () => {
    const { probeIds } = await import("../../../src/nat/doctor.ts");
    for (const bytes of [
      [0, 0, 0, 0],
      [0xff, 0xff, 0xff, 0xff],
      [0x80, 0, 0, 0],
      [0x12, 0x34, 0x56, 0x78],
    ]) {
      const ids = Object.values(probeIds(Uint8Array.from(bytes)));
      expect(new Set(ids).size).toBe(5);
      for (const id of ids) expect(id >= 0 && id <= 0xffffffff && Number.isInteger(id)).toBe(true);
    }
  });
});

describe("the server-silent warning", () => {
  test("is not given once the server answered, even if only with challenges or busy", () => {
    const p = new Peer();
    p.start();
    p.registered("busy", 20);
    p.runUntil(9_000);
    expect(p.events().filter((e) => e.type === "server-silent")).toEqual([]);
    const q = new Peer();
    q.start();
    q.runUntil(4_000); // nothing came back: told before the 5th try, at 3.75 s
    expect(q.events().filter((e) => e.type === "server-silent")).toHaveLength(1);
  });
});
