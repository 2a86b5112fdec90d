import { describe, expect, test } from "bun:test";
import type { NetpunchError } from "../../../src/errors.ts";
import type { Match, Message, RegisterStatus } from "../../../src/protocol/messages.ts";
import type { PeerTimings } from "../../../src/punch/config.ts";
import {
  type PeerAction,
  type PeerInput,
  PeerMachine,
  type PunchOutcome,
} from "../../../src/punch/machine.ts";
import type { Endpoint, NetpunchEvent, Role } from "../../../src/types.ts";
import { frameOf } from "../support.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const ME = "1111111111111111";
const PARTNER = "2222222222222222";
const PAIR = "00112233445566778899aabbccddeeff";
const MY_PUBLIC = { host: "198.51.100.10", port: 40001 };
const MY_LAN = [{ host: "192.0.2.10", port: 10000 }];
/** What the REGISTER lists: the same address, as a LAN candidate. */
const MY_ANNOUNCED = [{ kind: "lan" as const, host: "192.0.2.10", port: 10000 }];
const P_PUB = { host: "203.0.113.20", port: 40002 };
const P_LAN = { host: "192.0.2.20", port: 10000 };
/** The partner behind our own NAT: the server sees it at our public IP, so its LAN candidates may answer. */
const P_SAME_NAT = { host: MY_PUBLIC.host, port: 40002 };

/** Drives a PeerMachine on a fake clock and records everything it does. */
class Peer {
  readonly m: PeerMachine;
  wake: number | undefined;
  now = 0;
  readonly log: { t: number; a: PeerAction }[] = [];

  constructor(opts: { role?: Role; timings?: Partial<PeerTimings>; server?: Endpoint } = {}) {
    this.m = new PeerMachine({
      session: "s1",
      role: opts.role ?? "a",
      peerId: ME,
      server: opts.server ?? SERVER,
      lanCandidates: MY_LAN,
      timings: opts.timings,
      nonce: () => (++this.nonces).toString(16).padStart(24, "0"),
    });
  }
  private nonces = 0;

  /** The nonce of the last REGISTER sent: what the server's answers echo. */
  lastRegisterNonce(): string {
    for (let i = this.log.length - 1; i >= 0; i--) {
      const a = this.log[i]?.a;
      if (a?.kind === "send" && a.msg.type === "register" && a.nonce) return a.nonce;
    }
    throw new Error("no REGISTER sent yet");
  }

  step(input: PeerInput): PeerAction[] {
    expect(input.now).toBeGreaterThanOrEqual(this.now);
    this.now = input.now;
    const out = this.m.step(input);
    this.wake = out.wakeAt;
    // After a tick, everything due is done: the next wake is in the future (else the timer loop would spin).
    if (input.type !== "frame" && out.wakeAt !== undefined) expect(out.wakeAt).toBeGreaterThan(input.now);
    for (const a of out.actions) this.log.push({ t: input.now, a });
    return out.actions;
  }
  start(now = 0) {
    return this.step({ type: "start", now });
  }
  /** Delivers a frame at `now`, after the ticks that fall due before it (as the timers would fire). */
  recv(from: Endpoint, msg: Message, now: number) {
    this.runUntil(now - 1e-9);
    // Answers written with the ECHO placeholder echo the REGISTER this machine sent last, as a server's would.
    if ((msg.type === "registered" || msg.type === "match") && msg.echo === ECHO)
      msg = { ...msg, echo: this.lastRegisterNonce() };
    return this.step({ type: "frame", now, from, frame: frameOf(msg) });
  }
  tick(now: number) {
    return this.step({ type: "tick", now });
  }
  /** Ticks at every wakeAt up to and including `until`. */
  runUntil(until: number): void {
    let guard = 0;
    while (this.wake !== undefined && this.wake <= until) {
      this.tick(this.wake);
      if (++guard > 10_000) throw new Error("runaway machine");
    }
  }

  sent(type?: Message["type"], since = Number.NEGATIVE_INFINITY) {
    return this.log.flatMap(({ t, a }) =>
      a.kind === "send" && t >= since && (!type || a.msg.type === type)
        ? [{ t, to: ep(a.to), msg: a.msg }]
        : [],
    );
  }
  events(): NetpunchEvent[] {
    return this.log.flatMap(({ a }) => (a.kind === "event" ? [a.event] : []));
  }
  outcome(): { t: number; outcome: PunchOutcome } | undefined {
    for (const { t, a } of this.log) if (a.kind === "done") return { t, outcome: a.outcome };
    return undefined;
  }
  failure(): { t: number; error: NetpunchError } | undefined {
    for (const { t, a } of this.log) if (a.kind === "fail") return { t, error: a.error };
    return undefined;
  }

  /** Registered at `at`, then matched at `matchAt` with these candidates. */
  matched(candidates: Match["candidates"], matchAt = 1000, pairId = PAIR) {
    this.start(0);
    this.recv(SERVER, registered(), 100);
    return this.recv(SERVER, match(candidates, pairId), matchAt);
  }
}

const ECHO = "echo-of-the-last-register";
const COOKIE = "0123456789abcdef0123456789abcdef";
const registered = (observed: Endpoint = MY_PUBLIC, status: RegisterStatus = "waiting"): Message => ({
  type: "registered",
  echo: ECHO,
  status,
  observed,
  serverTime: 0,
  cookie: COOKIE,
});
const match = (candidates: Match["candidates"], pairId = PAIR): Message => ({
  type: "match",
  to: ME,
  echo: ECHO,
  serverTime: 0,
  cookie: COOKIE,
  pairId,
  partnerId: PARTNER,
  observed: MY_PUBLIC,
  candidates,
});
const pub = (ep: Endpoint = P_PUB) => ({ kind: "public" as const, ...ep });
const lan = (ep: Endpoint = P_LAN) => ({ kind: "lan" as const, ...ep });
const ping = (seq: number, pairId = PAIR, peerId = PARTNER): Message => ({
  type: "ping",
  pairId,
  peerId,
  seq,
});
const pong = (seq: number, pairId = PAIR, peerId = PARTNER): Message => ({
  type: "pong",
  pairId,
  peerId,
  seq,
});
const close = (rttMs: number, pairId = PAIR, peerId = PARTNER): Message => ({
  type: "close",
  pairId,
  peerId,
  rttMs,
});

const ep = (e: Endpoint): Endpoint => ({ host: e.host, port: e.port });
/** The packets in a step's actions, addresses reduced to host and port. */
const sendsIn = (actions: PeerAction[]) =>
  actions.flatMap((a) => (a.kind === "send" ? [{ to: ep(a.to), msg: a.msg }] : []));
const eventsIn = (actions: PeerAction[]) => actions.flatMap((a) => (a.kind === "event" ? [a.event] : []));
const doneIn = (actions: PeerAction[]) => actions.flatMap((a) => (a.kind === "done" ? [a.outcome] : []));

/** The seq of the PING we sent to `to` (the most recent one). */
function seqTo(p: Peer, to: Endpoint): number {
  const pings = p.sent("ping").filter((s) => s.to.host === to.host && s.to.port === to.port);
  const last = pings.at(-1)?.msg;
  if (last?.type !== "ping") throw new Error(`no ping to ${to.host}:${to.port}`);
  return last.seq;
}

describe("registering", () => {
  test("start sends one REGISTER to the server with our LAN candidates", () => {
    const p = new Peer();
    expect(p.start(0)).toEqual([
      {
        kind: "send",
        to: SERVER,
        msg: { type: "register", session: "s1", role: "a", peerId: ME, candidates: MY_ANNOUNCED },
        nonce: "000000000000000000000001",
      },
    ]);
    expect(p.m.state).toBe("registering");
    expect(p.wake).toBe(250);
  });

  test("retries with doubling delays capped at registerRetryMaxMs, and warns every 4 tries", () => {
    const p = new Peer();
    p.start(0);
    p.runUntil(9_999);
    const times = p.sent("register").map((s) => s.t);
    expect(times).toEqual([0, 250, 750, 1750, 3750, 5750, 7750, 9750]);
    for (const s of p.sent("register"))
      expect(s.msg).toEqual({
        type: "register",
        session: "s1",
        role: "a",
        peerId: ME,
        candidates: MY_ANNOUNCED,
      });
    expect(p.events()).toEqual([{ type: "server-silent", tries: 4, server: SERVER }]);
    expect(p.failure()).toBeUndefined();
  });

  test("E_SERVER_SILENT after serverSilentMs, naming the server address, with a hint about the secret and the UDP port", () => {
    const p = new Peer();
    p.start(0);
    p.runUntil(20_000);
    const f = p.failure();
    expect(f?.t).toBe(10_000);
    expect(f?.error.code).toBe("E_SERVER_SILENT");
    expect(f?.error.message).toContain("198.51.100.7:10001");
    expect(f?.error.message).toContain("8 tries");
    expect(f?.error.hint).toContain("secret");
    expect(f?.error.hint).toContain("UDP port 10001");
    expect(f?.error.exitCode).toBe(1);
    expect(p.m.state).toBe("finished");
    expect(p.wake).toBeUndefined();
    // A finished machine ignores everything.
    expect(p.m.step({ type: "frame", now: 10_001, from: SERVER, frame: frameOf(registered()) })).toEqual({
      actions: [],
      wakeAt: undefined,
    });
  });

  test("E_SERVER_SILENT names an IPv6 server in brackets; serverSilentMs is configurable", () => {
    const p = new Peer({ server: { host: "2001:db8::7", port: 10001 }, timings: { serverSilentMs: 3000 } });
    p.start(0);
    p.runUntil(10_000);
    expect(p.failure()?.t).toBe(3000);
    expect(p.failure()?.error.message).toContain("[2001:db8::7]:10001");
  });

  test("REGISTERED: events registered and waiting, then no more fast retries and no server-silent failure", () => {
    const p = new Peer();
    p.start(0);
    expect(p.recv(SERVER, registered(), 100)).toEqual([
      { kind: "event", event: { type: "registered", publicAddr: MY_PUBLIC, server: SERVER } },
      { kind: "event", event: { type: "waiting", session: "s1", server: SERVER } },
    ]);
    // serverTime 0, answered 100 ms after the REGISTER: the server's clock is 50 ms behind ours.
    expect(p.m.clockOffset(SERVER, { type: "leave", session: "s1", role: "a", peerId: ME })).toBe(-50);
    expect(p.m.state).toBe("waiting");
    expect(p.wake).toBe(100 + 15_000);
    p.runUntil(60_000);
    expect(p.failure()).toBeUndefined();
  });

  test("a REGISTERED from anyone but the server is not believed", () => {
    const p = new Peer();
    p.start(0);
    expect(p.recv(P_PUB, registered(), 100)).toEqual([
      { kind: "event", event: { type: "dropped", from: P_PUB, reason: "unexpected" } },
    ]);
    expect(p.m.state).toBe("registering");
  });

  test("the server is recognised in IPv4-mapped form too", () => {
    const p = new Peer();
    p.start(0);
    p.recv({ host: "::ffff:198.51.100.7", port: 10001 }, registered(), 100);
    expect(p.m.state).toBe("waiting");
  });
});

describe("waiting", () => {
  test("keepalive REGISTER every keepaliveMs while waiting; replies to keepalives raise no events", () => {
    const p = new Peer();
    p.start(0);
    p.recv(SERVER, registered(), 100);
    p.runUntil(15_099);
    expect(p.sent("register").map((s) => s.t)).toEqual([0]);
    p.runUntil(50_000);
    expect(p.sent("register").map((s) => s.t)).toEqual([0, 15_100, 30_100, 45_100]);
    const before = p.events().length;
    expect(p.recv(SERVER, registered(), 45_110)).toEqual([]);
    expect(p.events()).toHaveLength(before);
  });

  test("keepaliveMs is configurable", () => {
    const p = new Peer({ timings: { keepaliveMs: 5000 } });
    p.start(0);
    p.recv(SERVER, registered(), 100);
    p.runUntil(20_000);
    expect(p.sent("register").map((s) => s.t)).toEqual([0, 5100, 10_100, 15_100]);
  });

  test("E_TIMEOUT when waitMs passes without a partner, naming the other role and the session", () => {
    const p = new Peer({ timings: { waitMs: 5000 } });
    p.start(0);
    p.recv(SERVER, registered(), 100);
    p.runUntil(4999);
    expect(p.failure()).toBeUndefined();
    p.runUntil(100_000);
    const f = p.failure();
    expect(f?.t).toBe(5000);
    expect(f?.error.code).toBe("E_TIMEOUT");
    expect(f?.error.message).toContain("role b");
    expect(f?.error.message).toContain('"s1"');
    expect(f?.error.hint).toContain("role b in the same session"); // the CLI names --role (cli/hints.ts)
  });

  test("role b's E_TIMEOUT names role a", () => {
    const p = new Peer({ role: "b", timings: { waitMs: 1000 } });
    p.start(0);
    p.recv(SERVER, registered(), 100);
    p.runUntil(100_000);
    expect(p.failure()?.error.message).toContain("role a");
  });

  test("a PING before any MATCH belongs to no pair", () => {
    const p = new Peer();
    p.start(0);
    p.recv(SERVER, registered(), 100);
    expect(p.recv(P_PUB, ping(0), 200)).toEqual([
      { kind: "event", event: { type: "dropped", from: P_PUB, reason: "foreign-pair" } },
    ]);
  });
});

describe("punching", () => {
  test("on MATCH: matchAck to the server, and PINGs to every candidate in the same step", () => {
    const p = new Peer();
    const out = p.matched([pub(), lan()]);
    expect(sendsIn(out)).toEqual([
      { to: SERVER, msg: { type: "matchAck", session: "s1", pairId: PAIR, peerId: ME } },
      { to: P_PUB, msg: { type: "ping", pairId: PAIR, peerId: ME, seq: 0 } },
      { to: P_LAN, msg: { type: "ping", pairId: PAIR, peerId: ME, seq: 1 } },
    ]);
    expect(eventsIn(out)).toEqual([{ type: "matched", candidates: [pub(), lan()] }]);
    expect(p.m.state).toBe("punching");
    expect(p.wake).toBe(1040);
  });

  test("a MATCH while still registering (REGISTERED lost) works too", () => {
    const p = new Peer();
    p.start(0);
    p.recv(SERVER, match([pub()]), 300);
    expect(p.m.state).toBe("punching");
    p.runUntil(20_000); // no E_SERVER_SILENT: the MATCH was an answer
    expect(p.failure()?.error.code).toBe("E_PUNCH_FAILED");
  });

  test("PING rounds repeat to every candidate, the interval growing 1.5x up to pingIntervalMaxMs", () => {
    const p = new Peer();
    p.matched([pub(), lan()]);
    p.runUntil(3500);
    const rounds = [...new Set(p.sent("ping").map((s) => s.t))];
    const gaps = rounds.slice(1).map((t, i) => t - (rounds[i] as number));
    const want = [40, 60, 90, 135, 202.5, 303.75, 455.625, 500, 500];
    expect(gaps.length).toBeGreaterThanOrEqual(want.length);
    for (const [i, g] of want.entries()) expect(gaps[i]).toBeCloseTo(g, 6);
    for (const t of rounds)
      expect(
        p
          .sent("ping")
          .filter((s) => s.t === t)
          .map((s) => s.to),
      ).toEqual([P_PUB, P_LAN]);
    // Every PING has its own sequence number.
    const seqs = p.sent("ping").map((s) => (s.msg.type === "ping" ? s.msg.seq : -1));
    expect(new Set(seqs).size).toBe(seqs.length);
  });

  test("a retransmitted MATCH is acknowledged again but does not restart punching", () => {
    const p = new Peer();
    p.matched([pub()]);
    const out = p.recv(SERVER, match([pub()]), 1010);
    expect(out).toEqual([
      { kind: "send", to: SERVER, msg: { type: "matchAck", session: "s1", pairId: PAIR, peerId: ME } },
    ]);
    expect(p.sent("ping")).toHaveLength(1);
  });

  test("a MATCH with a new pair id while punching is refused (a replay); after UNMATCH a new pair is taken", () => {
    const p = new Peer();
    p.matched([pub()]);
    const NEW = "ffeeddccbbaa99887766554433221100";
    const other = pub({ host: "203.0.113.21", port: 1 });
    expect(p.recv(SERVER, match([other], NEW), 1500)).toEqual([
      { kind: "event", event: { type: "dropped", from: SERVER, reason: "unsolicited" } },
    ]);
    // The partner never acknowledged: the server sends us back to waiting, and we re-register at once.
    const back = p.recv(SERVER, { type: "unmatch", to: ME, pairId: PAIR }, 1600);
    expect(back.map((a) => (a.kind === "event" ? a.event.type : a.kind))).toEqual(["partner-lost", "send"]);
    expect(p.m.state).toBe("waiting");
    const out = p.recv(SERVER, match([other], NEW), 2000);
    expect(sendsIn(out).filter((x) => x.msg.type === "ping")).toEqual([
      {
        to: { host: "203.0.113.21", port: 1 },
        msg: { type: "ping", pairId: NEW, peerId: ME, seq: expect.any(Number) },
      },
    ]);
    expect(p.recv(P_PUB, ping(0, PAIR), 2001)).toEqual([
      { kind: "event", event: { type: "dropped", from: P_PUB, reason: "foreign-pair" } },
    ]);
  });

  test("PING is answered with a PONG to its source, carrying its seq", () => {
    const p = new Peer();
    p.matched([pub(), lan()]);
    expect(p.recv(P_PUB, ping(77), 1010)).toEqual([
      { kind: "send", to: P_PUB, msg: { type: "pong", pairId: PAIR, peerId: ME, seq: 77 } },
    ]);
  });

  test("a PING from a new source makes it a reflexive candidate that the next round pings", () => {
    const p = new Peer();
    p.matched([pub(), lan()]);
    const X = { host: "203.0.113.20", port: 50000 };
    expect(sendsIn(p.recv(X, ping(5), 1010))).toEqual([
      { to: X, msg: { type: "pong", pairId: PAIR, peerId: ME, seq: 5 } },
    ]);
    p.tick(1040);
    expect(p.sent("ping", 1040).map((s) => s.to)).toEqual([P_PUB, P_LAN, X]);
    // A PONG on that path counts, as reflexive.
    p.recv(X, pong(seqTo(p, X)), 1050);
    expect(p.events()).toContainEqual({ type: "punch-ok", from: X, kind: "reflexive", rttMs: 10 });
  });

  test("at most 4 reflexive candidates, however many sources ping", () => {
    const p = new Peer();
    p.matched([pub()]);
    for (let i = 0; i < 6; i++) p.recv({ host: "203.0.113.30", port: 50000 + i }, ping(i), 1001 + i);
    p.tick(1040);
    expect(p.sent("ping", 1040)).toHaveLength(1 + 4);
  });

  test("PONG -> a CLOSE burst of closeCount packets on that path, then done with remote and rtt", () => {
    const p = new Peer();
    p.matched([pub()]);
    const out = p.recv(P_PUB, pong(0), 1030);
    expect(sendsIn(out)).toEqual([
      { to: P_PUB, msg: { type: "close", pairId: PAIR, peerId: ME, rttMs: 30 } },
    ]);
    expect(eventsIn(out)).toContainEqual({ type: "punch-ok", from: P_PUB, kind: "public", rttMs: 30 });
    expect(p.m.state).toBe("closing");
    p.runUntil(10_000);
    const closes = p.sent("close");
    expect(closes.map((c) => c.t)).toEqual([1030, 1045, 1060, 1075, 1090]); // every rtt/2
    for (const c of closes) expect(c.to).toEqual(P_PUB);
    expect(p.outcome()).toEqual({
      t: 1105,
      outcome: {
        remote: P_PUB,
        kind: "public",
        rttMs: 30,
        publicAddr: MY_PUBLIC,
        path: { kind: "direct", socket: 0 },
        pairId: PAIR,
      },
    });
    expect(p.sent("ping", 1030)).toEqual([]); // no more PINGs once chosen
    expect(p.wake).toBeUndefined();
  });

  test.each(["a", "b"] as const)(
    "role %s, having answered the partner's PING on the path it chooses: the whole burst at once, and done without waiting for an answer",
    (role) => {
      const p = new Peer({ role });
      p.matched([pub(), lan()]);
      p.recv(P_PUB, ping(0), 1020); // our PONG to it proves the path to the partner by itself
      const out = p.recv(P_PUB, pong(0), 1030);
      const burst = { to: P_PUB, msg: { type: "close", pairId: PAIR, peerId: ME, rttMs: 30 } };
      expect(sendsIn(out).filter((x) => x.msg.type === "close")).toEqual(Array(5).fill(burst));
      expect(p.outcome()).toEqual({
        t: 1030,
        outcome: {
          remote: P_PUB,
          kind: "public",
          rttMs: 30,
          publicAddr: MY_PUBLIC,
          path: { kind: "direct", socket: 0 },
          pairId: PAIR,
        },
      });
      expect(sendsIn(out).at(-1)?.msg.type).toBe("matchAck"); // finished: the last MATCH_ACK, as always
      expect(p.wake).toBeUndefined();
    },
  );

  test("role b that answered PINGs from two sources waits for a's CLOSE: a may have proven the other path", () => {
    const p = new Peer({ role: "b" });
    p.matched([pub(), lan()]);
    p.recv(P_PUB, ping(0), 1010);
    p.recv(P_LAN, ping(1), 1015);
    p.recv(P_PUB, pong(0), 1030); // two public IPs: no LAN grace, the public path is chosen at once
    p.runUntil(1040);
    expect(p.m.state).toBe("closing");
    expect(p.sent("close").map((c) => c.t)).toEqual([1030]);
    expect(p.outcome()).toBeUndefined();
    // a chose its path to our LAN address; its CLOSE comes from its LAN address, and role b adopts it.
    expect(doneIn(p.recv(P_LAN, close(12), 1050))).toMatchObject([{ remote: P_LAN, kind: "lan" }]);
  });

  test("without a PING answered, the chooser waits for the partner's CLOSE, even as role a", () => {
    const p = new Peer({ role: "a" });
    p.matched([pub()]);
    p.recv(P_PUB, pong(0), 1030);
    expect(p.m.state).toBe("closing");
    expect(doneIn(p.recv(P_PUB, close(30), 1060))).toMatchObject([{ remote: P_PUB, kind: "public" }]);
    expect(p.sent("close").map((c) => c.t)).toEqual([1030, 1045]);
  });

  test("closeCount is configurable", () => {
    const p = new Peer({ timings: { closeCount: 3 } });
    p.matched([pub()]);
    p.recv(P_PUB, pong(0), 1030);
    p.runUntil(10_000);
    expect(p.sent("close")).toHaveLength(3);
    expect(p.outcome()?.t).toBe(1030 + 3 * 15);
  });

  test("PONGs with an unknown seq, or from another address than the PING went to, prove nothing", () => {
    const p = new Peer();
    p.matched([pub(), lan()]);
    expect(p.recv(P_PUB, pong(999), 1010)).toEqual([]);
    expect(p.recv(P_PUB, pong(1), 1011)).toEqual([]); // seq 1 went to the LAN candidate
    expect(p.recv({ host: "203.0.113.99", port: 40002 }, pong(0), 1012)).toEqual([]);
    expect(p.m.state).toBe("punching");
  });

  test("a PING while closing on the chosen path gets a PONG and another CLOSE; lingering is bounded by closeLingerMaxMs", () => {
    const p = new Peer();
    p.matched([pub()]);
    p.recv(P_PUB, pong(0), 1030);
    expect(sendsIn(p.recv(P_PUB, ping(9), 1035))).toEqual([
      { to: P_PUB, msg: { type: "pong", pairId: PAIR, peerId: ME, seq: 9 } },
      { to: P_PUB, msg: { type: "close", pairId: PAIR, peerId: ME, rttMs: 30 } },
    ]);
    // The partner never hears our CLOSE and keeps pinging every 20 ms.
    for (let t = 1055; t < 6000 && !p.outcome(); t += 20) {
      p.runUntil(t - 1);
      if (!p.outcome()) p.recv(P_PUB, ping(t), t);
    }
    p.runUntil(10_000);
    const done = p.outcome();
    expect(done).toBeDefined();
    expect(done?.t).toBeLessThanOrEqual(1030 + 2000 + 20);
    expect(done?.t).toBeGreaterThan(2900);
  });

  test("CLOSE while punching: done at once on the CLOSE's path, with the partner's rtt", () => {
    const p = new Peer();
    p.matched([pub(), lan()]);
    const out = p.recv(P_LAN, close(12), 1020);
    expect(doneIn(out)).toEqual([
      {
        remote: P_LAN,
        kind: "lan",
        rttMs: 12,
        publicAddr: MY_PUBLIC,
        path: { kind: "direct", socket: 0 },
        pairId: PAIR,
      },
    ]);
    // Exactly one CLOSE back on that path, so the chooser can stop its burst.
    const toPartner = sendsIn(out).filter((x) => x.to.host !== SERVER.host);
    expect(toPartner.map((x) => [x.to, x.msg.type])).toEqual([[P_LAN, "close"]]);
    expect(p.m.state).toBe("finished");
    expect(p.wake).toBeUndefined();
  });

  test("on done, one last matchAck goes to the server (in case every earlier one was lost)", () => {
    for (const finishBy of ["close-while-punching", "close-burst"] as const) {
      const p = new Peer();
      p.matched([pub()]);
      if (finishBy === "close-while-punching") p.recv(P_PUB, close(12), 1020);
      else {
        p.recv(P_PUB, pong(0), 1030);
        p.runUntil(10_000);
      }
      const done = p.outcome();
      expect(done).toBeDefined();
      const acks = p.sent("matchAck").filter((a) => a.t === done?.t);
      expect(acks).toEqual([
        { t: done?.t ?? -1, to: SERVER, msg: { type: "matchAck", session: "s1", pairId: PAIR, peerId: ME } },
      ]);
    }
  });

  test("CLOSE on a path we measured ourselves: our own rtt", () => {
    const p = new Peer();
    p.matched([pub(), lan()]);
    p.recv(P_PUB, pong(0), 1030);
    expect(doneIn(p.recv(P_PUB, close(99), 1040))).toEqual([
      {
        remote: P_PUB,
        kind: "public",
        rttMs: 30,
        publicAddr: MY_PUBLIC,
        path: { kind: "direct", socket: 0 },
        pairId: PAIR,
      },
    ]);
  });

  test("CLOSE from an unknown source is a reflexive path", () => {
    const p = new Peer();
    p.matched([pub()]);
    const X = { host: "203.0.113.20", port: 50001 };
    expect(doneIn(p.recv(X, close(7), 1020))).toEqual([
      {
        remote: X,
        kind: "reflexive",
        rttMs: 7,
        publicAddr: MY_PUBLIC,
        path: { kind: "direct", socket: 0 },
        pairId: PAIR,
      },
    ]);
  });

  test("LAN preferred: a public PONG first, then a LAN PONG within the grace -> LAN chosen", () => {
    const p = new Peer();
    p.matched([pub(P_SAME_NAT), lan()]);
    const first = p.recv(P_SAME_NAT, pong(0), 1040);
    expect(eventsIn(first)).toContainEqual({ type: "punch-ok", from: P_SAME_NAT, kind: "public", rttMs: 40 });
    expect(sendsIn(first)).toEqual([]);
    expect(p.m.state).toBe("punching");
    // The LAN PONG to the same round comes 5 ms later (jitter): still within any grace of at least 10 ms.
    const second = p.recv(P_LAN, pong(1), 1045);
    expect(eventsIn(second)).toContainEqual({ type: "punch-ok", from: P_LAN, kind: "lan", rttMs: 45 });
    expect(sendsIn(second)).toEqual([
      { to: P_LAN, msg: { type: "close", pairId: PAIR, peerId: ME, rttMs: 45 } },
    ]);
    p.runUntil(10_000);
    expect(p.outcome()?.outcome).toEqual({
      remote: P_LAN,
      kind: "lan",
      rttMs: 45,
      publicAddr: MY_PUBLIC,
      path: { kind: "direct", socket: 0 },
      pairId: PAIR,
    });
    for (const c of p.sent("close")) expect(c.to).toEqual(P_LAN);
  });

  test("no LAN PONG within the grace -> the public path is chosen when it ends (at most lanGraceMs later)", () => {
    const p = new Peer();
    p.matched([pub(P_SAME_NAT), lan()]);
    p.recv(P_SAME_NAT, pong(0), 1040);
    expect(p.sent("close")).toEqual([]);
    while (p.sent("close").length === 0 && p.wake !== undefined && p.wake <= 1040 + 150) p.tick(p.wake);
    const first = p.sent("close")[0];
    expect(first?.to).toEqual(P_SAME_NAT);
    expect(first?.t).toBeGreaterThan(1040);
    expect(first?.t).toBeLessThanOrEqual(1040 + 150);
    // A LAN PONG after the choice changes nothing.
    expect(p.recv(P_LAN, pong(1), (first?.t ?? 0) + 1)).toEqual([]);
    p.runUntil(10_000);
    expect(p.outcome()?.outcome).toMatchObject({ remote: P_SAME_NAT, kind: "public", rttMs: 40 });
    for (const c of p.sent("close")) expect(c.to).toEqual(P_SAME_NAT);
  });

  test("the grace is a quarter of the public RTT, at least 10 ms, at most lanGraceMs", () => {
    for (const [rtt, grace, lanGraceMs] of [
      [40, 10, 150],
      [20, 10, 150],
      [200, 50, 150],
      [2000, 150, 150],
      [400, 30, 30],
    ] as const) {
      const p = new Peer({ timings: { lanGraceMs } });
      p.matched([pub(P_SAME_NAT), lan()]);
      p.recv(P_SAME_NAT, pong(0), 1000 + rtt);
      p.runUntil(1000 + rtt + grace - 1);
      expect(p.sent("close")).toEqual([]);
      p.runUntil(1000 + rtt + grace);
      expect(p.sent("close").map((c) => c.t)).toEqual([1000 + rtt + grace]);
    }
  });

  test("different public IPs: the partner's LAN cannot answer, so a public PONG is chosen at once", () => {
    const p = new Peer();
    p.matched([pub(), lan()]); // the server sees us at MY_PUBLIC, the partner at P_PUB: two NATs
    expect(sendsIn(p.recv(P_PUB, pong(0), 1040))).toEqual([
      { to: P_PUB, msg: { type: "close", pairId: PAIR, peerId: ME, rttMs: 40 } },
    ]);
  });

  test("a LAN PONG first is chosen at once", () => {
    const p = new Peer();
    p.matched([pub(), lan()]);
    expect(sendsIn(p.recv(P_LAN, pong(1), 1005))).toEqual([
      { to: P_LAN, msg: { type: "close", pairId: PAIR, peerId: ME, rttMs: 5 } },
    ]);
  });

  test("the fastest of several public paths is chosen when the grace ends", () => {
    const p = new Peer();
    const P2 = { host: "203.0.113.20", port: 40003 };
    p.matched([pub(), pub(P2), lan()]);
    p.recv(P_PUB, pong(0), 1050);
    p.recv(P2, pong(1), 1060); // arrived later, but this PING was sent at 1000 too: rtt 60 vs 50
    p.runUntil(10_000);
    expect(p.outcome()?.outcome).toMatchObject({ remote: P_PUB, rttMs: 50 });
  });

  test("packets with another pairId or peerId are dropped as foreign-pair (including our own PINGs reflected back)", () => {
    const p = new Peer();
    p.matched([pub()]);
    const OTHER = "99999999999999999999999999999999";
    const dropped: PeerAction[] = [
      { kind: "event", event: { type: "dropped", from: P_PUB, reason: "foreign-pair" } },
    ];
    expect(p.recv(P_PUB, ping(1, OTHER), 1010)).toEqual(dropped);
    expect(p.recv(P_PUB, ping(1, PAIR, "3333333333333333"), 1011)).toEqual(dropped);
    expect(p.recv(P_PUB, ping(1, PAIR, ME), 1012)).toEqual(dropped);
    expect(p.recv(P_PUB, pong(0, OTHER), 1013)).toEqual(dropped);
    expect(p.recv(P_PUB, close(1, OTHER), 1014)).toEqual(dropped);
    expect(p.m.state).toBe("punching");
  });

  test("server messages from a peer, and peer messages from the server, are unexpected", () => {
    const p = new Peer();
    p.matched([pub()]);
    expect(p.recv(P_PUB, match([pub()]), 1010)).toEqual([
      { kind: "event", event: { type: "dropped", from: P_PUB, reason: "unexpected" } },
    ]);
    expect(p.recv(SERVER, ping(1), 1011)).toEqual([
      { kind: "event", event: { type: "dropped", from: SERVER, reason: "unexpected" } },
    ]);
    expect(p.recv(SERVER, { type: "matchAck", session: "s1", pairId: PAIR, peerId: PARTNER }, 1012)).toEqual([
      { kind: "event", event: { type: "dropped", from: SERVER, reason: "unexpected" } },
    ]);
  });

  test("E_PUNCH_FAILED after punchMs without a PONG, listing the candidates tried", () => {
    const p = new Peer();
    p.matched([pub(), lan()]);
    p.runUntil(10_999);
    expect(p.failure()).toBeUndefined();
    p.runUntil(100_000);
    const f = p.failure();
    expect(f?.t).toBe(11_000);
    expect(f?.error.code).toBe("E_PUNCH_FAILED");
    expect(f?.error.message).toContain("203.0.113.20:40002, 192.0.2.20:10000");
    expect(f?.error.message).toContain("10 s");
    expect(p.wake).toBeUndefined();
  });

  test("punchMs is configurable and counts from the MATCH", () => {
    const p = new Peer({ timings: { punchMs: 2000 } });
    p.matched([pub()], 5000);
    p.runUntil(100_000);
    expect(p.failure()?.t).toBe(7000);
  });
});

describe("both sides choose at once, differently", () => {
  function chooseLanThenHearCloseOnPublic(role: Role) {
    const p = new Peer({ role });
    p.matched([pub(), lan()]);
    p.recv(P_LAN, pong(1), 1010); // we choose LAN and start our CLOSE burst
    expect(p.sent("close").map((c) => c.to)).toEqual([P_LAN]);
    p.recv(P_PUB, close(8), 1012); // the partner chose the public path at the same time
    p.runUntil(10_000);
    return p;
  }

  test("role b adopts role a's path", () => {
    const p = chooseLanThenHearCloseOnPublic("b");
    expect(p.outcome()?.outcome).toEqual({
      remote: P_PUB,
      kind: "public",
      rttMs: 8,
      publicAddr: MY_PUBLIC,
      path: { kind: "direct", socket: 0 },
      pairId: PAIR,
    });
    // From then on b's CLOSEs confirm a's path (at least one, so a learns b agrees).
    const after = p.sent("close", 1012);
    expect(after.length).toBeGreaterThan(0);
    for (const c of after) expect(c.to).toEqual(P_PUB);
  });

  test("role a keeps its own path", () => {
    const p = chooseLanThenHearCloseOnPublic("a");
    expect(p.outcome()?.outcome).toEqual({
      remote: P_LAN,
      kind: "lan",
      rttMs: 10,
      publicAddr: MY_PUBLIC,
      path: { kind: "direct", socket: 0 },
      pairId: PAIR,
    });
    expect(p.sent("close").filter((c) => c.to.port !== P_LAN.port || c.to.host !== P_LAN.host)).toEqual([]);
  });

  for (const role of ["a", "b"] as const) {
    test(`role ${role}: the partner's CLOSE on the path we chose ends the linger at once, on that path`, () => {
      const p = new Peer({ role });
      p.matched([pub(), lan()]);
      p.recv(P_LAN, pong(1), 1010);
      expect(doneIn(p.recv(P_LAN, close(8), 1012))).toEqual([
        {
          remote: P_LAN,
          kind: "lan",
          rttMs: 10,
          publicAddr: MY_PUBLIC,
          path: { kind: "direct", socket: 0 },
          pairId: PAIR,
        },
      ]);
    });
  }

  test("role a, after ignoring b's other path, finishes when b confirms a's path", () => {
    const p = new Peer({ role: "a" });
    p.matched([pub(), lan()]);
    p.recv(P_LAN, pong(1), 1010);
    expect(doneIn(p.recv(P_PUB, close(8), 1011))).toEqual([]);
    expect(doneIn(p.recv(P_LAN, close(8), 1013))).toEqual([
      {
        remote: P_LAN,
        kind: "lan",
        rttMs: 10,
        publicAddr: MY_PUBLIC,
        path: { kind: "direct", socket: 0 },
        pairId: PAIR,
      },
    ]);
  });
});

// Bugs found by review, each pinned by a test that failed before its fix.
test("regression: a --timeout shorter than the server timeout still reports a silent server, not a missing partner", () => {
  const m = new PeerMachine({
    session: "s",
    role: "a",
    peerId: "1111111111111111",
    server: { host: "198.51.100.7", port: 10001 },
    lanCandidates: [],
    timings: { waitMs: 5_000, serverSilentMs: 10_000 },
  });
  m.step({ type: "start", now: 0 });
  const out = m.step({ type: "tick", now: 5_000 });
  const fail = out.actions.find((a) => a.kind === "fail");
  expect(fail && (fail as { error: NetpunchError }).error.code).toBe("E_SERVER_SILENT");
});
