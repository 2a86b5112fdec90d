// Two PeerMachines and a RendezvousCore over a MemoryNetwork, on a fake clock: every packet is sealed and
// opened for real (seal/open, ReplayGuard with the same exemptions, CreditLedger, cookies and the peers' clock
// offset as serve() and connect() use them), only sockets and timers are fake.
import { describe, expect, test } from "bun:test";
import { sameEndpoint } from "../../src/addr.ts";
import type { NetpunchError } from "../../src/errors.ts";
import { deriveKey } from "../../src/protocol/auth.ts";
import { MessageType, NONCE_LEN } from "../../src/protocol/constants.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { open, seal } from "../../src/protocol/packet.ts";
import { ReplayGuard } from "../../src/protocol/replay.ts";
import { type PeerAction, PeerMachine, type PunchOutcome, type StepOutput } from "../../src/punch/machine.ts";
import { DEFAULT_TIMINGS, RendezvousCore, type ServerAction } from "../../src/rendezvous/core.ts";
import { CreditLedger } from "../../src/rendezvous/credit.ts";
import { MemoryStore } from "../../src/rendezvous/store.ts";
import { MemoryNetwork, type SentRecord } from "../../src/transport/memory.ts";
import type { Transport } from "../../src/transport/types.ts";
import type { DropReason, Endpoint, Role } from "../../src/types.ts";
import { COOKIE_KEY, fromHex, KEY, KEY_V1, prng, TS, toHex } from "./support.ts";

const SERVER = { host: "198.51.100.7", port: 10001 };
const A_ADDR = { host: "203.0.113.10", port: 40001 };
const B_ADDR = { host: "198.18.0.20", port: 40002 };
// LAN candidates nobody listens on (the peers are on different LANs): PINGs to them vanish.
const A_LAN = [{ host: "192.0.2.10", port: 10000 }];
const B_LAN = [{ host: "192.0.2.20", port: 10000 }];
const SERVER_TICK_MS = 100;

const key = (e: Endpoint) => `${e.host}|${e.port}`;

// What skips the replay guard, as in serve() and connect(): messages that change no state or are checked
// against what was sent (the echo of REGISTERED, the id of PROBE_REPLY).
const serverExempt = (m: Message) => (m.type === "register" && m.cookie === undefined) || m.type === "probe";
const peerExempt = (m: Message) => m.type === "registered" || m.type === "probeReply";

class World {
  now = TS;
  private queue: { at: number; order: number; fn: () => void }[] = [];
  private order = 0;
  private nonceCounter = 0;
  readonly net: MemoryNetwork;

  constructor(readonly latencyMs = 5) {
    this.net = new MemoryNetwork((fn) =>
      this.queue.push({ at: this.now + this.latencyMs, order: this.order++, fn }),
    );
  }

  nonce(): Uint8Array {
    const n = new Uint8Array(NONCE_LEN);
    new DataView(n.buffer).setUint32(8, ++this.nonceCounter);
    return n;
  }

  nextDelivery(): number {
    return this.queue.reduce((m, q) => Math.min(m, q.at), Number.POSITIVE_INFINITY);
  }

  deliverDue(): void {
    for (;;) {
      const due = this.queue
        .filter((q) => q.at <= this.now)
        .sort((x, y) => x.at - y.at || x.order - y.order)[0];
      if (!due) return;
      this.queue.splice(this.queue.indexOf(due), 1);
      due.fn();
    }
  }
}

class ServerNode {
  readonly store = new MemoryStore();
  readonly core: RendezvousCore;
  readonly ledger = new CreditLedger();
  readonly guard = new ReplayGuard();
  readonly transport: Transport;
  readonly drops: DropReason[] = [];
  readonly bytesIn = new Map<string, number>();
  readonly bytesOut = new Map<string, number>();
  nextTick: number;

  constructor(
    private readonly w: World,
    rand: () => number,
  ) {
    const hex = (bytes: number) =>
      Array.from({ length: bytes }, () =>
        Math.floor(rand() * 256)
          .toString(16)
          .padStart(2, "0"),
      ).join("");
    this.core = new RendezvousCore({
      store: this.store,
      randomHex: hex,
      cookieKey: COOKIE_KEY,
      timings: DEFAULT_TIMINGS,
    });
    this.nextTick = w.now + SERVER_TICK_MS;
    this.transport = w.net.bind(SERVER, (data, from) => {
      const r = open(KEY, data, KEY_V1);
      if (!r.ok) return void this.drops.push(r.reason);
      if (!serverExempt(r.frame.msg)) {
        const verdict = this.guard.check(r.frame.nonce, r.frame.timestamp, w.now);
        if (verdict !== "ok") return void this.drops.push(verdict);
      }
      this.ledger.earn(from, r.frame.size, w.now);
      this.bytesIn.set(key(from), (this.bytesIn.get(key(from)) ?? 0) + data.length);
      this.run(this.core.onFrame(from, r.frame, w.now));
    });
  }

  tick(): void {
    this.run(this.core.tick(this.w.now));
    this.nextTick += SERVER_TICK_MS;
  }

  private run(actions: ServerAction[]): void {
    for (const a of actions) {
      if (a.kind !== "send") continue;
      const packet = seal(KEY, a.msg, { timestamp: this.w.now, nonce: this.w.nonce() });
      if (!this.ledger.spend(a.to, packet.length)) {
        this.drops.push("no-credit");
        continue;
      }
      this.bytesOut.set(key(a.to), (this.bytesOut.get(key(a.to)) ?? 0) + packet.length);
      this.transport.send(packet, a.to);
    }
  }
}

class PeerNode {
  readonly machine: PeerMachine;
  readonly transport: Transport;
  readonly guard = new ReplayGuard();
  wake: number | undefined;
  outcome: PunchOutcome | undefined;
  error: NetpunchError | undefined;
  finishedAt: number | undefined;
  readonly actions: PeerAction[] = [];
  /** The server's clock minus ours, from the machine's `clock` action: packets are sealed in server time. */
  offsetMs = 0;

  constructor(
    private readonly w: World,
    readonly addr: Endpoint,
    role: Role,
    peerId: string,
    lan: Endpoint[],
    private readonly packetKey = KEY,
  ) {
    this.machine = new PeerMachine({
      session: "it",
      role,
      peerId,
      server: SERVER,
      lanCandidates: lan,
      nonce: () => toHex(w.nonce()),
    });
    this.transport = w.net.bind(addr, (data, from) => {
      if (this.done) return;
      const r = open(this.packetKey, data);
      if (!r.ok) return;
      if (
        !peerExempt(r.frame.msg) &&
        this.guard.check(r.frame.nonce, r.frame.timestamp, this.clock()) !== "ok"
      )
        return;
      this.apply(this.machine.step({ type: "frame", now: w.now, from, frame: r.frame }));
    });
  }

  clock(): number {
    return this.w.now + this.offsetMs;
  }

  get done(): boolean {
    return this.outcome !== undefined || this.error !== undefined;
  }

  start(): void {
    this.apply(this.machine.step({ type: "start", now: this.w.now }));
  }

  tick(): void {
    this.apply(this.machine.step({ type: "tick", now: this.w.now }));
  }

  private apply(out: StepOutput): void {
    this.wake = out.wakeAt;
    for (const a of out.actions) {
      this.actions.push(a);
      if (a.kind === "send") {
        const nonce = a.nonce ? fromHex(a.nonce) : this.w.nonce();
        this.transport.send(seal(this.packetKey, a.msg, { timestamp: this.clock(), nonce }), a.to);
      } else if (a.kind === "clock") this.offsetMs = a.offsetMs;
      else if (a.kind === "done") this.end(() => (this.outcome = a.outcome));
      else if (a.kind === "fail") this.end(() => (this.error = a.error));
    }
  }

  private end(record: () => void): void {
    record();
    this.finishedAt = this.w.now;
    this.wake = undefined;
    this.transport.close(); // as connect() does: the port is handed to the hook
  }
}

interface Scenario {
  seed?: number;
  drop?: (r: SentRecord) => boolean;
  bStartsAt?: number;
  limitMs?: number;
  aKey?: Uint8Array;
  latencyMs?: number;
}

function simulate(s: Scenario = {}) {
  const w = new World(s.latencyMs);
  const rand = prng(s.seed ?? 1);
  const server = new ServerNode(w, rand);
  const a = new PeerNode(w, A_ADDR, "a", "aaaaaaaaaaaaaaaa", A_LAN, s.aKey);
  const b = new PeerNode(w, B_ADDR, "b", "bbbbbbbbbbbbbbbb", B_LAN);
  if (s.drop) w.net.drop = s.drop;
  const t0 = w.now;
  const bStartsAt = t0 + (s.bStartsAt ?? 0);
  a.start();
  let bStarted = false;
  const end = t0 + (s.limitMs ?? 60_000);
  let steps = 0;
  while (!(a.done && b.done)) {
    if (++steps > 1_000_000) throw new Error("simulation did not settle");
    const next = Math.min(
      w.nextDelivery(),
      a.wake ?? Number.POSITIVE_INFINITY,
      b.wake ?? Number.POSITIVE_INFINITY,
      bStarted ? Number.POSITIVE_INFINITY : bStartsAt,
      server.nextTick,
    );
    if (next > end) break;
    w.now = Math.max(w.now, next);
    w.deliverDue();
    if (!bStarted && w.now >= bStartsAt) {
      bStarted = true;
      b.start();
    }
    for (const p of [a, b]) if (p.wake !== undefined && p.wake <= w.now) p.tick();
    if (server.nextTick <= w.now) server.tick();
  }
  return { w, server, a, b, t0 };
}

function expectConnected(r: ReturnType<typeof simulate>) {
  expect(r.a.error).toBeUndefined();
  expect(r.b.error).toBeUndefined();
  expect(r.a.outcome?.remote).toEqual(B_ADDR);
  expect(r.b.outcome?.remote).toEqual(A_ADDR);
  expect(r.a.outcome?.kind).toBe("public");
  expect(r.b.outcome?.kind).toBe("public");
  expect(r.a.outcome?.publicAddr).toEqual(A_ADDR);
  expect(r.b.outcome?.publicAddr).toEqual(B_ADDR);
}

/** The server never sent an address more bytes than it received from it. */
function expectNoAmplification(server: ServerNode) {
  for (const [addr, out] of server.bytesOut) expect(out).toBeLessThanOrEqual(server.bytesIn.get(addr) ?? 0);
}

const isPing = (r: SentRecord) => r.data[3] === MessageType.ping;

describe("MemoryNetwork", () => {
  test("delivers to the bound address with the sender's address, and records every send", () => {
    const queue: (() => void)[] = [];
    const net = new MemoryNetwork((fn) => queue.push(fn));
    const got: [string, Endpoint][] = [];
    const a = net.bind(A_ADDR, () => {});
    net.bind(B_ADDR, (data, from) => got.push([new TextDecoder().decode(data), from]));
    const data = new TextEncoder().encode("hi");
    expect(a.send(data, B_ADDR)).toBe(true);
    data[0] = 0; // the record is a copy
    expect(got).toEqual([]); // not before the scheduler runs it
    for (const fn of queue) fn();
    expect(got).toEqual([["hi", A_ADDR]]);
    expect(net.sent).toHaveLength(1);
    expect(net.sent[0]?.from).toEqual(A_ADDR);
    expect(net.sent[0]?.to).toEqual(B_ADDR);
    expect(new TextDecoder().decode(net.sent[0]?.data)).toBe("hi");
  });

  test("the default scheduler delivers asynchronously (microtask)", async () => {
    const net = new MemoryNetwork();
    let got = 0;
    const a = net.bind(A_ADDR, () => {});
    net.bind(B_ADDR, () => got++);
    a.send(new Uint8Array([1]), B_ADDR);
    expect(got).toBe(0);
    await Promise.resolve();
    await Promise.resolve();
    expect(got).toBe(1);
  });

  test("drop predicate: recorded but not delivered; nobody bound: lost silently", () => {
    const queue: (() => void)[] = [];
    const net = new MemoryNetwork((fn) => queue.push(fn));
    let got = 0;
    const a = net.bind(A_ADDR, () => {});
    net.bind(B_ADDR, () => got++);
    net.drop = (r) => r.data[0] === 0xff;
    a.send(new Uint8Array([0xff]), B_ADDR);
    a.send(new Uint8Array([1]), B_ADDR);
    a.send(new Uint8Array([2]), { host: "192.0.2.99", port: 1 });
    for (const fn of queue) fn();
    expect(got).toBe(1);
    expect(net.sent).toHaveLength(3);
  });

  test("an address binds once; a closed transport sends nothing and frees its address", () => {
    const net = new MemoryNetwork(() => {});
    const a = net.bind(A_ADDR, () => {});
    expect(() => net.bind(A_ADDR, () => {})).toThrow("in use");
    a.close();
    expect(a.send(new Uint8Array([1]), B_ADDR)).toBe(false);
    expect(net.sent).toHaveLength(0);
    expect(() => net.bind(A_ADDR, () => {})).not.toThrow();
  });
});

describe("two peers and a server over a memory network", () => {
  test("both peers finish with each other's addresses; the server forgets the session", () => {
    const r = simulate();
    expectConnected(r);
    // Register (5 ms), match push, PING/PONG (10 ms), LAN grace (150 ms), CLOSE burst: well under a second.
    expect((r.a.finishedAt ?? Number.POSITIVE_INFINITY) - r.t0).toBeLessThan(1000);
    expect((r.b.finishedAt ?? Number.POSITIVE_INFINITY) - r.t0).toBeLessThan(1000);
    expect(r.a.outcome?.rttMs).toBe(10);
    expect(r.server.store.size).toBe(0);
    expect(r.server.drops).toEqual([]);
    expect(r.server.bytesOut.size).toBe(2);
    expectNoAmplification(r.server);
    // Both peers tried the partner's (unreachable) LAN address too.
    expect(r.w.net.sent.some((s) => isPing(s) && sameEndpoint(s.to, B_LAN[0] as Endpoint))).toBe(true);
    expect(r.w.net.sent.some((s) => isPing(s) && sameEndpoint(s.to, A_LAN[0] as Endpoint))).toBe(true);
  });

  test("a partner arriving 40 s later (after keepalives) still connects", () => {
    const r = simulate({ bStartsAt: 40_000, limitMs: 120_000 });
    expectConnected(r);
    const keepalives = r.w.net.sent.filter(
      (s) => sameEndpoint(s.from, A_ADDR) && sameEndpoint(s.to, SERVER) && s.data[3] === MessageType.register,
    );
    // At start, again with the challenge's cookie (a round trip later), then keepalives at 15 s and 30 s.
    const opened = keepalives.map((s) => open(KEY, s.data));
    const at = opened.map((o) => (o.ok ? o.frame.timestamp - r.t0 : -1));
    const cookies = opened.map(
      (o) => o.ok && o.frame.msg.type === "register" && o.frame.msg.cookie !== undefined,
    );
    expect({ at, cookies }).toEqual({ at: [0, 10, 15_020, 30_020], cookies: [false, true, true, true] });
    expectNoAmplification(r.server);
  });

  test("NAT filtering: the first 6 PINGs are dropped, and the peers still connect", () => {
    let dropped = 0;
    const r = simulate({ drop: (s) => isPing(s) && dropped++ < 6 });
    expect(dropped).toBeGreaterThan(6);
    expectConnected(r);
    expect(r.w.net.sent.filter(isPing).length).toBeGreaterThan(6);
  });

  test("NAT filtering: every PING from a to b is dropped until b has pinged a", () => {
    let bPinged = false;
    const r = simulate({
      drop: (s) => {
        if (!isPing(s)) return false;
        if (sameEndpoint(s.from, B_ADDR) && sameEndpoint(s.to, A_ADDR)) {
          bPinged = true;
          return false;
        }
        return sameEndpoint(s.from, A_ADDR) && sameEndpoint(s.to, B_ADDR) && !bPinged;
      },
      latencyMs: 20,
    });
    expectConnected(r);
  });

  // Loss is applied to every packet (peer<->server and peer<->peer).
  function lossy(seed: number, stats = { packets: 0, lost: 0 }) {
    const loss = prng(1000 + seed);
    const r = simulate({
      seed,
      drop: () => {
        const drop = loss() < 0.2;
        stats.packets++;
        if (drop) stats.lost++;
        return drop;
      },
    });
    return { r, stats };
  }

  for (let seed = 1; seed <= 20; seed++) {
    test(`20% random loss in every direction, seed ${seed}`, () => {
      const { r } = lossy(seed);
      expectConnected(r);
      expectNoAmplification(r.server);
    });
  }

  test("(those 20 runs do lose about 20% of their packets; a single run may happen to lose none)", () => {
    const stats = { packets: 0, lost: 0 };
    for (let seed = 1; seed <= 20; seed++) lossy(seed, stats);
    expect(stats.packets).toBeGreaterThan(400);
    expect(stats.lost / stats.packets).toBeGreaterThan(0.12);
    expect(stats.lost / stats.packets).toBeLessThan(0.28);
  });

  test("a peer with the wrong secret: the server drops it (bad-auth), the peer fails with E_SERVER_SILENT", () => {
    const r = simulate({ aKey: deriveKey("wrong-secret"), bStartsAt: 1e9, limitMs: 30_000 });
    expect(r.a.error?.code).toBe("E_SERVER_SILENT");
    expect(r.a.finishedAt).toBe(r.t0 + 10_000);
    expect(r.server.drops.length).toBeGreaterThan(0);
    expect(new Set(r.server.drops)).toEqual(new Set(["bad-auth"]));
    expect(r.server.bytesOut.size).toBe(0);
  });

  test("a replayed REGISTER is dropped by the server's replay guard; a replayed first contact changes nothing", () => {
    const w = new World();
    const server = new ServerNode(w, prng(1));
    const got: Message[] = [];
    const peer = w.net.bind(A_ADDR, (data) => {
      const o = open(KEY, data);
      if (o.ok) got.push(o.frame.msg);
    });
    const register: Message = {
      type: "register",
      session: "it",
      role: "a",
      peerId: "aaaaaaaaaaaaaaaa",
      candidates: [],
    };
    // First contact, replayed: it skips the guard, but each copy only gets a challenge and registers nothing.
    const first = seal(KEY, register, { timestamp: w.now, nonce: w.nonce() });
    /** Runs the network until the server's answers have arrived. */
    const settle = () => {
      for (let i = 0; i < 4; i++) {
        w.now += w.latencyMs;
        w.deliverDue();
      }
    };
    peer.send(first, SERVER);
    peer.send(first, SERVER);
    settle();
    expect(server.drops).toEqual([]);
    expect(server.store.size).toBe(0);
    expect(got.map((m) => m.type === "registered" && m.status)).toEqual(["challenge", "challenge"]);
    const challenge = got[0];
    if (challenge?.type !== "registered") throw new Error("no challenge");
    // With the cookie, the REGISTER changes state: its replay is dropped by the guard.
    const packet = seal(
      KEY,
      { ...register, cookie: challenge.cookie },
      { timestamp: w.now, nonce: w.nonce() },
    );
    peer.send(packet, SERVER);
    peer.send(packet, SERVER);
    settle();
    expect(server.drops).toEqual(["replay"]);
    expect(server.store.size).toBe(1);
    expect(got.map((m) => m.type === "registered" && m.status)).toEqual([
      "challenge",
      "challenge",
      "waiting",
    ]);
    expect(w.net.sent.filter((s) => sameEndpoint(s.from, SERVER))).toHaveLength(3);
  });

  test("negative control: when every PING is dropped, both peers fail with E_PUNCH_FAILED", () => {
    const r = simulate({ drop: isPing });
    expect(r.a.outcome).toBeUndefined();
    expect(r.b.outcome).toBeUndefined();
    expect(r.a.error?.code).toBe("E_PUNCH_FAILED");
    expect(r.b.error?.code).toBe("E_PUNCH_FAILED");
  });
});
