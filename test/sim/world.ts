// The simulation's fixtures (not a test file): the real serve() and connect() on a ManualClock, a seeded
// Random each, and the simulated internet's sockets. Placements follow the namespace lab's (test/lab).
import { formatEndpoint } from "../../src/addr.ts";
import type { ConnectOptions } from "../../src/punch/connect.ts";
import { connect } from "../../src/punch/connect.ts";
import { type RendezvousServer, type ServeOptions, serve } from "../../src/rendezvous/server.ts";
import { ManualClock } from "../../src/sys/clock.ts";
import { type Random, seededRandom } from "../../src/sys/random.ts";
import { Internet, type LinkOptions, type SimHost, type SimNat } from "../../src/transport/memory.ts";
import type { NatOptions } from "../../src/transport/nat-box.ts";
import type { TransportFactory } from "../../src/transport/types.ts";
import type { NetpunchEvent, PunchResult, Role } from "../../src/types.ts";

/** 2023-11-14: any fixed start; the peers seal in the server's time, so only its sameness matters. */
export const T0 = 1_700_000_000_000;
/** 32 bytes or more: used through HKDF alone, so no peer pays scrypt's 85 ms of real time. */
export const SECRET = "simulated internet secret, 32+ bytes long";
export const SERVER_IP = "198.18.0.1";
export const SERVER_PORT = 10_001;
export const ALT_PORT = 10_002;
export const SERVER = { host: SERVER_IP, port: SERVER_PORT };

/** Linux MASQUERADE: the source port kept, one mapping for every destination, answers only from there. */
export const MASQUERADE: NatOptions = {};
/** MASQUERADE --random-fully: a new random port for every destination (a symmetric NAT). */
export const RANDOM_FULLY: NatOptions = { mapping: "address-and-port-dependent", portPreservation: false };

export type Side = "public" | "nat" | "double" | "symmetric";

export interface Placed {
  host: SimHost;
  /** The address the server sees the host's first socket come from (its outermost NAT's, or its own). */
  publicIp: string;
  lanIp: string;
  /** The NAT the host sits behind (the inner one of two). */
  gateway?: SimNat;
}

export interface Peer {
  role: Role;
  events: NetpunchEvent[];
  result?: PunchResult;
  error?: Error;
  /** When connect() settled, on the simulated clock. */
  at?: number;
  readonly done: boolean;
}

/** A seeded world: a clock, an internet, and a Random per driver drawn from the seed. */
export class Sim {
  readonly clock = new ManualClock(T0);
  readonly net: Internet;
  private streams = 0;
  readonly serverEvents: NetpunchEvent[] = [];

  constructor(readonly seed: number) {
    this.net = new Internet(this.clock, seededRandom(seed));
  }

  /** A Random of its own for each driver, so adding one does not shift the others' draws. */
  random(): Random {
    return seededRandom(this.seed * 7_919 + ++this.streams);
  }

  /** Puts a host on the internet, behind a NAT, behind two (carrier-grade), or behind a symmetric NAT (`link` may also set the outer NAT's options). */
  place(name: number, side: Side, link: LinkOptions & NatOptions = {}): Placed {
    const pub = `198.18.${name}.1`;
    const lan = `198.19.${name}.10`; // LANs, like every address here, from the benchmarking range 198.18.0.0/15
    if (side === "public") {
      const host = this.net.host(pub, link);
      return { host, publicIp: pub, lanIp: pub };
    }
    if (side === "double") {
      const cgn = this.net.nat(pub, { ...MASQUERADE, ...link });
      const cpe = this.net.nat(`198.19.${100 + name}.2`, { ...MASQUERADE, behind: cgn });
      return { host: this.net.host(lan, { behind: cpe }), publicIp: pub, lanIp: lan, gateway: cpe };
    }
    const gateway = this.net.nat(pub, { ...(side === "symmetric" ? RANDOM_FULLY : MASQUERADE), ...link });
    return { host: this.net.host(lan, { behind: gateway }), publicIp: pub, lanIp: lan, gateway };
  }

  /**
   * serve() as the lab starts it: --alt-port and --relay. `wrap` stands between the server and its sockets
   * (a test's server that alters what it sends, as its operator could).
   */
  async serve(
    o: Partial<ServeOptions> = {},
    wrap: (f: TransportFactory) => TransportFactory = (f) => f,
  ): Promise<RendezvousServer> {
    const host = this.serverHost ?? this.net.host(SERVER_IP, this.serverLink);
    this.serverHost = host;
    const started = serve({
      listen: SERVER,
      secret: SECRET,
      altPort: ALT_PORT,
      relay: {},
      transport: wrap(host.transport),
      clock: this.clock,
      random: this.random(),
      onEvent: (e) => this.serverEvents.push(e),
      ...o,
    });
    let server: RendezvousServer | undefined;
    void started.then((s) => {
      server = s;
    });
    await this.runUntil(() => server !== undefined, 0);
    return started;
  }
  private serverHost: SimHost | undefined;
  /** The server's link, for a test that wants another delay or loss there; set before serve(). */
  serverLink: LinkOptions = {};

  /** connect() from `host`; the peer records its events and its outcome. */
  connect(host: SimHost, role: Role, o: Partial<ConnectOptions> = {}): Peer {
    const peer = {
      role,
      events: [] as NetpunchEvent[],
      result: undefined as PunchResult | undefined,
      error: undefined as Error | undefined,
      at: undefined as number | undefined,
      get done() {
        return this.result !== undefined || this.error !== undefined;
      },
    };
    connect({
      server: SERVER,
      secret: SECRET,
      role,
      session: "sim",
      transport: host.transport,
      interfaces: host.interfaces,
      clock: this.clock,
      random: this.random(),
      onEvent: (e) => peer.events.push(e),
      ...o,
    }).then(
      (r) => {
        peer.result = r;
        peer.at = this.clock.now();
      },
      (e: Error) => {
        peer.error = e;
        peer.at = this.clock.now();
      },
    );
    return peer;
  }

  /**
   * Runs the clock until `until()` holds or `forMs` have passed: every timer fires in order, and the promise
   * jobs it starts (socket binds, settled connects) run before the next one, as on a real event loop.
   */
  async runUntil(until: () => boolean, forMs: number): Promise<void> {
    const end = this.clock.now() + forMs;
    for (;;) {
      await drain();
      if (until()) return;
      const next = this.clock.nextAt();
      if (next === undefined || next > end) break;
      this.clock.fireNext();
    }
    this.clock.advanceTo(Math.max(this.clock.now(), end));
    await drain();
  }

  /** Runs for `ms` of simulated time. */
  run(ms: number): Promise<void> {
    return this.runUntil(() => false, ms);
  }

  /** The trace as one string: what two runs of one seed must share. */
  fingerprint(): string {
    const h = new Bun.CryptoHasher("sha256");
    for (const r of this.net.trace) {
      h.update(
        `${r.at} ${r.what} ${formatEndpoint(r.from)} ${formatEndpoint(r.to)} ${r.size} ${r.why ?? ""}\n`,
      );
      if (r.data) h.update(r.data);
    }
    return `${this.net.trace.length} datagrams, sha256 ${h.digest("hex")}`;
  }
}

/** Every promise job queued so far, and those they queue, has run (a macrotask comes after them all). */
const drain = () => new Promise<void>((r) => setImmediate(r));
