// The peer with several servers: registered with all at once, every MATCH punched, each server's clock its
// own, E_SERVER_SILENT only when every server is silent, LEAVE only to the servers that did not match us.
import { describe, expect, test } from "bun:test";
import { sameEndpoint } from "../../../src/addr.ts";
import type { NetpunchError } from "../../../src/errors.ts";
import type { Message, NatInfo } from "../../../src/protocol/messages.ts";
import type { PeerTimings } from "../../../src/punch/config.ts";
import { type PeerAction, type PeerInput, PeerMachine } from "../../../src/punch/machine.ts";
import type { Endpoint, NetpunchEvent } from "../../../src/types.ts";
import { frameOf } from "../support.ts";

const S1 = { host: "198.51.100.7", port: 10001 };
const S2 = { host: "203.0.113.9", port: 10001 };
const ME = "1111111111111111";
const PARTNER = "2222222222222222";
const P1 = "11111111111111111111111111111111";
const P2 = "22222222222222222222222222222222";
/** What each server sees of us: a symmetric NAT shows each another port. */
const SEEN_BY = { s1: { host: "198.51.100.10", port: 40001 }, s2: { host: "198.51.100.10", port: 40077 } };
/** The partner as each server saw it: the same host, another port at each (its NAT is symmetric too). */
const PARTNER_AT = { s1: { host: "192.0.2.20", port: 50001 }, s2: { host: "192.0.2.20", port: 50099 } };
const COOKIE = "0123456789abcdef0123456789abcdef";

/** Drives a PeerMachine with two servers on a fake clock and records every action with its time. */
class Peer {
  readonly m: PeerMachine;
  wake: number | undefined;
  now = 0;
  readonly log: { t: number; a: PeerAction }[] = [];
  private nonces = 0;

  constructor(timings: Partial<PeerTimings> = {}, servers: Endpoint[] = [S1, S2]) {
    this.m = new PeerMachine({
      session: "s1",
      role: "a",
      peerId: ME,
      server: servers,
      lanCandidates: [],
      timings,
      nonce: () => (++this.nonces).toString(16).padStart(24, "0"),
    });
  }

  step(input: PeerInput): PeerAction[] {
    this.now = input.now;
    const out = this.m.step(input);
    this.wake = out.wakeAt;
    for (const a of out.actions) this.log.push({ t: input.now, a });
    return out.actions;
  }
  start() {
    return this.step({ type: "start", now: 0 });
  }
  recv(from: Endpoint, msg: Message, now: number) {
    this.runUntil(now - 1e-9);
    return this.step({ type: "frame", now, from, frame: frameOf(msg) });
  }
  runUntil(until: number): void {
    for (let guard = 0; this.wake !== undefined && this.wake <= until; guard++) {
      if (guard > 10_000) throw new Error("runaway machine");
      this.step({ type: "tick", now: this.wake });
    }
  }
  /** The nonce of the last REGISTER sent to `server`: what its answers echo. */
  echo(server: Endpoint): string {
    const r = this.sent("register").filter((s) => sameEndpoint(s.to, server));
    const nonce = r[r.length - 1]?.nonce;
    if (!nonce) throw new Error("no REGISTER to that server");
    return nonce;
  }
  sent(type?: Message["type"], since = Number.NEGATIVE_INFINITY) {
    return this.log.flatMap(({ t, a }) =>
      a.kind === "send" && t >= since && (!type || a.msg.type === type)
        ? [{ t, to: a.to, msg: a.msg, nonce: a.nonce }]
        : [],
    );
  }
  events(): NetpunchEvent[] {
    return this.log.flatMap(({ a }) => (a.kind === "event" ? [a.event] : []));
  }
  failure(): { t: number; error: NetpunchError } | undefined {
    for (const { t, a } of this.log) if (a.kind === "fail") return { t, error: a.error };
    return undefined;
  }
  done() {
    for (const { t, a } of this.log) if (a.kind === "done") return { t, outcome: a.outcome };
    return undefined;
  }
  registered(server: Endpoint, now: number, serverTime = 0, altPort?: number) {
    const observed = sameEndpoint(server, S1) ? SEEN_BY.s1 : SEEN_BY.s2;
    const msg: Message = {
      type: "registered",
      echo: this.echo(server),
      status: "waiting",
      observed,
      serverTime,
      cookie: COOKIE,
      ...(altPort ? { altPort } : {}),
    };
    return this.recv(server, msg, now);
  }
  match(
    server: Endpoint,
    pairId: string,
    now: number,
    serverTime = 0,
    partnerNat?: NatInfo,
    partnerId = PARTNER,
  ) {
    const s1 = sameEndpoint(server, S1);
    const msg: Message = {
      ...(partnerNat ? { partnerNat } : {}),
      type: "match",
      to: ME,
      echo: this.echo(server),
      serverTime,
      cookie: COOKIE,
      pairId,
      partnerId,
      observed: s1 ? SEEN_BY.s1 : SEEN_BY.s2,
      candidates: [{ kind: "public", ...(s1 ? PARTNER_AT.s1 : PARTNER_AT.s2) }],
    };
    return this.recv(server, msg, now);
  }
}

const to = (server: Endpoint) => (s: { to: Endpoint }) => sameEndpoint(s.to, server);
/** Another peer than the partner, whose old registration one server still holds (it matches us with it). */
const STALE = "3333333333333333";
const pairMsg = (
  type: "ping" | "pong" | "close",
  pairId: string,
  extra: number,
  peerId = PARTNER,
): Message =>
  type === "close" ? { type, pairId, peerId, rttMs: extra } : { type, pairId, peerId, seq: extra };

describe("several servers", () => {
  test("registers with every server at once, each REGISTER its own nonce; a server listed twice counts once", () => {
    const p = new Peer({}, [S1, S2, { ...S1 }]);
    p.start();
    const registers = p.sent("register");
    expect(registers.map((r) => r.to)).toEqual([S1, S2]);
    expect(new Set(registers.map((r) => r.nonce)).size).toBe(2);
  });

  test("events say which server; the peer waits once any server has registered it", () => {
    const p = new Peer();
    p.start();
    p.registered(S2, 80);
    expect(p.m.state).toBe("waiting");
    expect(p.events()).toEqual([
      { type: "registered", publicAddr: SEEN_BY.s2, server: S2 },
      { type: "waiting", session: "s1", server: S2 },
    ]);
    p.runUntil(4_000); // REGISTERs at 0, 250, 750, 1 750; the fifth, at 3 750, says so
    expect(p.events().filter((e) => e.type === "server-silent")).toEqual([
      { type: "server-silent", tries: 4, server: S1 },
    ]);
  });

  test("a silent server is out after serverSilentMs and costs nothing: no failure, no more REGISTERs to it", () => {
    const p = new Peer();
    p.start();
    p.registered(S2, 80);
    p.runUntil(60_000);
    expect(p.failure()).toBeUndefined();
    expect(p.m.state).toBe("waiting");
    const toS1 = p.sent("register").filter(to(S1));
    expect(Math.max(...toS1.map((r) => r.t))).toBeLessThan(10_000);
    // Keepalives to the server that answered go on.
    expect(p.sent("register", 10_000).filter(to(S2)).length).toBeGreaterThan(2);
  });

  test("E_SERVER_SILENT only when every server is silent, naming them all, at serverSilentMs", () => {
    const p = new Peer();
    p.start();
    p.runUntil(30_000);
    const f = p.failure();
    expect(f?.t).toBe(10_000);
    expect(f?.error.code).toBe("E_SERVER_SILENT");
    expect(f?.error.message).toContain("198.51.100.7:10001");
    expect(f?.error.message).toContain("203.0.113.9:10001");
    // Nobody heard of us: no LEAVE to anyone.
    expect(p.sent("leave")).toEqual([]);
  });

  test("one server alone keeps its own E_SERVER_SILENT message", () => {
    const p = new Peer({}, [S1]);
    p.start();
    p.runUntil(30_000);
    expect(p.failure()?.error.message).toStartWith(
      "no authenticated answer from the rendezvous server 198.51.100.7:10001 after",
    );
  });

  test("the other server's MATCH with the same partner joins the punch: both acknowledged, both servers' addresses punched", () => {
    const p = new Peer();
    p.start();
    p.registered(S1, 50);
    p.registered(S2, 60);
    p.match(S1, P1, 1_000);
    expect(p.m.state).toBe("punching");
    p.match(S2, P2, 1_020);
    const acks = p.sent("matchAck").map((s) => [s.to, (s.msg as { pairId: string }).pairId]);
    expect(acks).toEqual([
      [S1, P1],
      [S2, P2],
    ]);
    // One punch, under the first pair's id, towards the partner where either server saw it; the second
    // server's address at once, when its MATCH came.
    const pings = p.sent("ping").map((s) => [s.t, (s.msg as { pairId: string }).pairId, s.to.port]);
    expect(pings).toContainEqual([1_000, P1, PARTNER_AT.s1.port]);
    expect(pings).toContainEqual([1_020, P1, PARTNER_AT.s2.port]);
    expect(pings.filter(([, id]) => id === P2)).toEqual([]);
    expect(p.events().filter((e) => e.type === "matched")).toHaveLength(1);
  });

  test("a partner that took the other server's MATCH first is answered under its pair id; no LEAVE (both matched us)", () => {
    const p = new Peer();
    p.start();
    p.registered(S1, 50);
    p.registered(S2, 60);
    p.match(S1, P1, 1_000);
    p.match(S2, P2, 1_020);
    // The partner took S2's MATCH first: its PING of pair P2 comes (answered), then its CLOSE on that path.
    p.recv(PARTNER_AT.s2, pairMsg("ping", P2, 0), 1_040);
    expect(p.sent("pong").map((s) => [s.to, s.msg])).toEqual([
      [PARTNER_AT.s2, { type: "pong", pairId: P1, peerId: ME, seq: 0 }],
    ]);
    p.recv(PARTNER_AT.s2, pairMsg("close", P2, 30), 1_060);
    expect(p.done()?.outcome.remote).toEqual(PARTNER_AT.s2);
    expect(p.sent("leave")).toEqual([]);
  });

  test("done through one server's pair: LEAVE to the server that did not match us, before `done`", () => {
    const p = new Peer();
    p.start();
    p.registered(S1, 50);
    p.registered(S2, 60);
    p.match(S1, P1, 1_000);
    const actions = p.recv(PARTNER_AT.s1, pairMsg("close", P1, 30), 1_040);
    const kinds = actions.map((a) => (a.kind === "send" ? `${a.msg.type}>${a.to.host}` : a.kind));
    expect(kinds.filter((k) => k.startsWith("leave"))).toEqual([
      `leave>${S2.host}`,
      `leave>${S2.host}`,
      `leave>${S2.host}`,
    ]);
    expect(kinds[kinds.length - 1]).toBe("done");
    expect(p.done()?.outcome.publicAddr).toEqual(SEEN_BY.s1);
  });

  test("a pair that fails while another server's pair (another partner) punches does not fail the peer", () => {
    const p = new Peer({ punchMs: 5_000 });
    p.start();
    p.registered(S1, 50);
    p.registered(S2, 60);
    // S1 still holds an old registration of the partner's role, from a peer long gone: its pair goes nowhere.
    p.match(S1, P1, 1_000, 0, undefined, STALE);
    p.match(S2, P2, 3_000);
    expect(p.events().filter((e) => e.type === "matched")).toHaveLength(2);
    p.runUntil(6_500); // P1's punch is over at 6 000, P2's goes on until 8 000
    expect(p.failure()).toBeUndefined();
    p.recv(PARTNER_AT.s2, pairMsg("close", P2, 30), 7_000);
    expect(p.done()?.outcome.remote).toEqual(PARTNER_AT.s2);
  });

  test("the last pair's failure fails the peer, and LEAVE goes to every server that heard of us", () => {
    const p = new Peer({ punchMs: 5_000 });
    p.start();
    p.registered(S1, 50);
    p.registered(S2, 60);
    p.match(S1, P1, 1_000);
    p.runUntil(10_000);
    expect(p.failure()?.t).toBe(6_000);
    expect(p.failure()?.error.code).toBe("E_PUNCH_FAILED");
    expect(p.sent("leave").map((s) => s.to.host)).toEqual([
      S1.host,
      S1.host,
      S1.host,
      S2.host,
      S2.host,
      S2.host,
    ]);
  });

  test("the end of the wait for the partner does not stop a pair another server started", () => {
    const p = new Peer({ waitMs: 5_000 });
    p.start();
    p.registered(S1, 50);
    p.registered(S2, 60);
    p.match(S1, P1, 4_900);
    p.runUntil(5_500);
    expect(p.failure()).toBeUndefined();
    p.recv(PARTNER_AT.s1, pairMsg("close", P1, 30), 5_600);
    expect(p.done()).toBeDefined();
  });

  test("without a pair, the end of the wait fails the peer (E_TIMEOUT), even with one server silent", () => {
    const p = new Peer({ waitMs: 5_000 });
    p.start();
    p.registered(S2, 60);
    p.runUntil(20_000);
    expect([p.failure()?.t, p.failure()?.error.code]).toEqual([5_000, "E_TIMEOUT"]);
  });

  test("each server's packets in its own time; a pair's in the time of the server that made it", () => {
    const p = new Peer();
    p.start();
    // S1 answers 100 ms after the REGISTER stamped 0 (50 ms behind us); S2's clock is 8 s ahead.
    p.registered(S1, 100, 0);
    p.registered(S2, 100, 8_050);
    const leave: Message = { type: "leave", session: "s1", role: "a", peerId: ME };
    expect([p.m.clockOffset(S1, leave), p.m.clockOffset(S2, leave)]).toEqual([-50, 8_000]);
    // S2's MATCH, answering the REGISTER of time 0 at 1 000, stamped 9 020: S2 is 8 520 ms ahead now.
    p.match(S2, P2, 1_000, 9_020);
    // A PING of S2's pair, to or from any address: S2's time, which the partner also learned from S2.
    expect(p.m.clockOffset(PARTNER_AT.s1, pairMsg("ping", P2, 0))).toBe(8_520);
    expect(p.m.clockOffset(S1, pairMsg("ping", P2, 0))).toBe(8_520);
    // An unknown pair from a stranger: the first server that told us its time.
    expect(p.m.clockOffset({ host: "192.0.2.99", port: 1 }, pairMsg("ping", P1, 0))).toBe(-50);
  });

  test("a server may not speak for another server's pair: its UNMATCH and RELAY_OFFER are dropped", () => {
    const p = new Peer();
    p.start();
    p.registered(S1, 50);
    p.registered(S2, 60);
    p.match(S1, P1, 1_000);
    const unmatch: Message = { type: "unmatch", to: ME, pairId: P1 };
    expect(p.recv(S2, unmatch, 1_100)).toEqual([
      { kind: "event", event: { type: "dropped", from: S2, reason: "unsolicited" } },
    ]);
    expect(p.m.state).toBe("punching");
    // From its own server, the same UNMATCH sends the peer back to waiting there.
    p.recv(S1, unmatch, 1_200);
    expect(p.m.state).toBe("waiting");
  });

  test("two pairs (two partners) that both want birthday sockets share one set: opened once, given to both", () => {
    const p = new Peer();
    p.start();
    p.registered(S1, 10, 0, 10002);
    p.registered(S2, 12);
    const probe = p.sent("probe")[0]?.msg;
    if (probe?.type !== "probe") throw new Error("no PROBE to the alt port");
    // The alt port saw us at another port than the main one: our NAT is symmetric.
    const alt = { host: S1.host, port: 10002 };
    const reply: Message = {
      type: "probeReply",
      probeId: probe.probeId,
      observed: { ...SEEN_BY.s1, port: 41234 },
      receivedOn: 10002,
      altPort: 10002,
    };
    p.recv(alt, reply, 20);
    const easy: NatInfo = { mapping: "independent", step: 0 };
    p.match(S1, P1, 1_000, 0, easy);
    p.step({ type: "sockets", now: 1_010, count: 256 });
    p.match(S2, P2, 1_020, 0, easy, STALE);
    const asked = p.log.flatMap(({ a }) => (a.kind === "open-sockets" ? [a.count] : []));
    expect(asked).toEqual([256]);
    // The second pair PINGs from the extra sockets at once, as the first did.
    const fromExtra = p.log.flatMap(({ t, a }) =>
      a.kind === "send" && a.msg.type === "ping" && a.path?.kind === "direct" && a.path.socket > 0
        ? [[t, a.msg.pairId]]
        : [],
    );
    expect(fromExtra.filter(([, id]) => id === P1).length).toBe(256);
    expect(fromExtra.filter(([t, id]) => id === P2 && t === 1_020).length).toBe(256);
  });
});
