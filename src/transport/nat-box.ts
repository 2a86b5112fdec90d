import type { Random } from "../sys/random.ts";
import type { Endpoint } from "../types.ts";

/** RFC 4787's three behaviours, for mapping (section 4.1) and for filtering (section 5). */
export type NatBehaviour = "endpoint-independent" | "address-dependent" | "address-and-port-dependent";

export interface NatOptions {
  /**
   * @default "endpoint-independent": one public port per inside socket, whatever the destination (Linux
   * MASQUERADE in effect, since it keeps the source port). "address-and-port-dependent" with
   * `portPreservation: false` is a symmetric NAT with random ports (MASQUERADE --random-fully).
   */
  mapping?: NatBehaviour;
  /** @default "address-and-port-dependent": only what the mapping sent to may answer (Linux conntrack). */
  filtering?: NatBehaviour;
  /** @default true: a new mapping keeps the inside port when it is free (Linux does). */
  portPreservation?: boolean;
  /** @default "random": how a port is picked when it is not preserved; "sequential" counts up from the last. */
  allocation?: "random" | "sequential";
  /** @default false: Linux does not send a packet for its own public address back inside. */
  hairpin?: boolean;
  /** @default 30_000: Linux conntrack forgets a UDP mapping nothing has answered after 30 s (udp_timeout). */
  idleMs?: number;
  /** @default 120_000: and one that has seen traffic both ways after 120 s (udp_timeout_stream). */
  repliedIdleMs?: number;
}

interface Mapping {
  inside: Endpoint;
  port: number;
  key: string;
  /** Where it sent to: "ip" and "ip|port" keys, which the filtering checks answers against. */
  sentTo: Set<string>;
  lastUsed: number;
  replied: boolean;
}

/** Ports a NAT hands out: the unprivileged range, as Linux's MASQUERADE does when it cannot preserve. */
const LOW_PORT = 1024;
const HIGH_PORT = 65535;

/**
 * The translation table of one NAT box, pure (the time comes in with every call): mapping, filtering, port
 * allocation and idle expiry as RFC 4787 names them. The simulated internet (memory.ts) routes through it.
 */
export class NatTable {
  private readonly o: Required<NatOptions>;
  private readonly byKey = new Map<string, Mapping>();
  private readonly byPort = new Map<number, Mapping>();
  private nextPort: number;

  constructor(
    readonly publicIp: string,
    opts: NatOptions,
    private readonly random: Random,
  ) {
    this.o = {
      mapping: "endpoint-independent",
      filtering: "address-and-port-dependent",
      portPreservation: true,
      allocation: "random",
      hairpin: false,
      idleMs: 30_000,
      repliedIdleMs: 120_000,
      ...opts,
    };
    this.nextPort = this.randomPort();
  }

  get hairpin(): boolean {
    return this.o.hairpin;
  }

  /** The public source for a packet from `inside` to `to`, making or refreshing the mapping. */
  outbound(inside: Endpoint, to: Endpoint, now: number): Endpoint {
    const key = `${inside.host}|${inside.port}${destinationPart(this.o.mapping, to)}`;
    let m = this.byKey.get(key);
    if (m && this.expired(m, now)) m = this.remove(m);
    if (!m) {
      m = { inside, port: this.allocate(inside.port), key, sentTo: new Set(), lastUsed: now, replied: false };
      this.byKey.set(key, m);
      this.byPort.set(m.port, m);
    }
    m.sentTo.add(to.host);
    m.sentTo.add(`${to.host}|${to.port}`);
    m.lastUsed = now;
    return { host: this.publicIp, port: m.port };
  }

  /** Where a packet from `from` to our public `port` goes inside, or undefined when the NAT drops it. */
  inbound(from: Endpoint, port: number, now: number): Endpoint | undefined {
    const m = this.byPort.get(port);
    if (!m) return undefined;
    if (this.expired(m, now)) return void this.remove(m);
    const f = this.o.filtering;
    const allowed =
      f === "endpoint-independent" ||
      (f === "address-dependent" && m.sentTo.has(from.host)) ||
      m.sentTo.has(`${from.host}|${from.port}`);
    if (!allowed) return undefined;
    m.lastUsed = now;
    m.replied = true;
    return m.inside;
  }

  /** Forgets every mapping (a NAT reboot, conntrack -F): the next packet out gets a new one. */
  flush(): void {
    this.byKey.clear();
    this.byPort.clear();
  }

  get size(): number {
    return this.byKey.size;
  }

  private expired(m: Mapping, now: number): boolean {
    return now - m.lastUsed > (m.replied ? this.o.repliedIdleMs : this.o.idleMs);
  }

  private remove(m: Mapping): undefined {
    this.byKey.delete(m.key);
    this.byPort.delete(m.port);
    return undefined;
  }

  private allocate(insidePort: number): number {
    if (this.o.portPreservation && !this.byPort.has(insidePort)) return insidePort;
    for (let tries = 0; tries <= HIGH_PORT - LOW_PORT; tries++) {
      const p = this.o.allocation === "sequential" ? this.nextPort++ : this.randomPort();
      if (this.nextPort > HIGH_PORT) this.nextPort = LOW_PORT;
      if (!this.byPort.has(p)) return p;
    }
    throw new Error(`NAT ${this.publicIp}: no free port`);
  }

  private randomPort(): number {
    return LOW_PORT + Math.floor(this.random.float() * (HIGH_PORT - LOW_PORT + 1));
  }
}

/** What of the destination a mapping is keyed by. */
function destinationPart(b: NatBehaviour, to: Endpoint): string {
  if (b === "endpoint-independent") return "";
  return b === "address-dependent" ? `>${to.host}` : `>${to.host}|${to.port}`;
}
