import { formatEndpoint } from "../addr.ts";
import { Fail } from "../errors.ts";
import type { InterfaceAddress } from "../punch/candidates.ts";
import type { Clock } from "../sys/clock.ts";
import type { Random } from "../sys/random.ts";
import type { Endpoint } from "../types.ts";
import { type NatOptions, NatTable } from "./nat-box.ts";
import { isWildcard } from "./per-address.ts";
import type { DatagramHandler, Transport, TransportFactory } from "./types.ts";

/** What a memory network recorded: every datagram sent, delivered or not, for assertions. */
export interface SentRecord {
  from: Endpoint;
  to: Endpoint;
  data: Uint8Array;
}

/**
 * An in-process datagram network for unit tests: delivery is synchronous unless a scheduler is given, and a
 * `drop` predicate stands in for NAT filtering or loss. Records what was sent instead of mocking.
 */
export class MemoryNetwork {
  readonly sent: SentRecord[] = [];
  private readonly sockets = new Map<string, DatagramHandler>();
  drop: (r: SentRecord) => boolean = () => false;

  constructor(private readonly schedule: (fn: () => void) => void = (fn) => queueMicrotask(fn)) {}

  /**
   * Delivers `data` to `to` as if `from` had sent it, whether or not anything is bound at `from`: a spoofed
   * source address, as any host on a network without source address validation can send.
   */
  inject(from: Endpoint, to: Endpoint, data: Uint8Array): void {
    const rec = { from, to, data: data.slice() };
    this.sent.push(rec);
    if (this.drop(rec)) return;
    this.schedule(() => this.sockets.get(formatEndpoint(to))?.(rec.data, from));
  }

  bind(local: Endpoint, onDatagram: DatagramHandler): Transport {
    const key = formatEndpoint(local);
    if (this.sockets.has(key)) throw new Error(`memory network: ${key} in use`);
    this.sockets.set(key, onDatagram);
    let open = true;
    return {
      local,
      send: (data, to) => {
        if (!open) return false;
        const rec = { from: local, to, data: data.slice() };
        this.sent.push(rec);
        if (this.drop(rec)) return true;
        this.schedule(() => this.sockets.get(formatEndpoint(to))?.(rec.data, local));
        return true;
      },
      close: () => {
        open = false;
        this.sockets.delete(key);
      },
      get open() {
        return open;
      },
    };
  }
}

/** One hop's link to the network it sits on: each crossing costs `delayMs` and is lost with `loss`. */
export interface LinkOptions {
  /** @default 5 ms one way: short enough that a run spends its time in timers, not in flight. */
  delayMs?: number;
  /** @default 0: the chance, 0 to 1, that a datagram crossing the link (either way) is lost. */
  loss?: number;
}

/** What the simulated internet did with a datagram, in order: the trace two runs of one seed share. */
export interface TraceRecord {
  at: number;
  what: "send" | "deliver" | "drop";
  from: Endpoint;
  to: Endpoint;
  size: number;
  /** Why a datagram was dropped: lost on a link, filtered or unmapped at a NAT, no route, no socket. */
  why?: "loss" | "filtered" | "no-route" | "no-socket" | "no-hairpin";
  /** The datagram as it left its socket (send records only). */
  data?: Uint8Array;
}

/** An address space: the internet, or the inside of one NAT. */
class Realm {
  readonly members = new Map<string, SimHost | SimNat>();
  constructor(readonly gateway?: SimNat) {}
}

interface Packet {
  from: Endpoint;
  to: Endpoint;
  data: Uint8Array;
}

const LINK_DELAY_MS = 5;
/** Linux picks a socket's port at random in ip_local_port_range, 32768-60999 by default. */
const EPHEMERAL_LOW = 32_768;
const EPHEMERAL_HIGH = 60_999;

/**
 * A simulated internet on a Clock: hosts with addresses, NAT boxes (nat-box.ts) in front of them, nested as
 * deep as asked (a double NAT is a NAT inside a NAT), and per-link delay and loss. Every datagram crosses it
 * hop by hop as timers on the clock, so a NAT decides when the packet reaches it, as a real one does. All
 * randomness (loss, NAT ports, ephemeral ports) comes from one seeded Random: one seed, one trace.
 */
export class Internet {
  readonly trace: TraceRecord[] = [];
  private readonly root = new Realm();

  constructor(
    readonly clock: Clock,
    private readonly random: Random,
  ) {}

  /** A host at `ip` on the internet, or on the inside of `behind`. */
  host(ip: string, o: LinkOptions & { behind?: SimNat } = {}): SimHost {
    const realm = o.behind?.inside ?? this.root;
    const h = new SimHost(this, realm, ip, link(o));
    this.join(realm, ip, h);
    return h;
  }

  /** A NAT whose public side is `publicIp` on the internet (or inside `behind`: a double NAT). */
  nat(publicIp: string, o: NatOptions & LinkOptions & { behind?: SimNat } = {}): SimNat {
    const outside = o.behind?.inside ?? this.root;
    const n = new SimNat(publicIp, outside, link(o), new NatTable(publicIp, o, this.random));
    this.join(outside, publicIp, n);
    return n;
  }

  private join(realm: Realm, ip: string, node: SimHost | SimNat): void {
    if (realm.members.has(ip)) throw new Error(`simulated internet: ${ip} is taken`);
    realm.members.set(ip, node);
  }

  /** @internal A socket of `host` sends: up its link, then routed hop by hop. */
  send(host: SimHost, p: Packet): void {
    this.record("send", p, undefined, p.data.slice());
    this.cross(host.link, p, () => this.route(host.realm, p));
  }

  /** Crosses one link: lost, or handed on after its delay. */
  private cross(l: Required<LinkOptions>, p: Packet, next: () => void): void {
    if (l.loss > 0 && this.random.float() < l.loss) return this.record("drop", p, "loss");
    this.clock.setTimer(l.delayMs, next);
  }

  /** A packet on `realm`'s wire: to a member (host, or a NAT's public side), or out through its gateway. */
  private route(realm: Realm, p: Packet): void {
    const member = realm.members.get(p.to.host);
    if (member instanceof SimHost) return this.cross(member.link, p, () => this.deliver(member, p));
    if (member) return this.cross(member.link, p, () => this.intoNat(member, p));
    const gw = realm.gateway;
    if (!gw) return this.record("drop", p, "no-route");
    const now = this.clock.now();
    const out = { ...p, from: gw.table.outbound(p.from, p.to, now) };
    if (p.to.host === gw.publicIp) {
      // Hairpin: a packet for the NAT's own public address turns around inside, translated both ways.
      if (!gw.table.hairpin) return this.record("drop", p, "no-hairpin");
      return this.intoNat(gw, out);
    }
    this.cross(gw.link, out, () => this.route(gw.outside, out));
  }

  /** A packet reaches a NAT's public side: translated to the inside, or filtered. */
  private intoNat(nat: SimNat, p: Packet): void {
    const inside = nat.table.inbound(p.from, p.to.port, this.clock.now());
    if (!inside) return this.record("drop", p, "filtered");
    this.route(nat.inside, { ...p, to: inside });
  }

  private deliver(host: SimHost, p: Packet): void {
    const socket = host.socketAt(p.to.port);
    if (!socket) return this.record("drop", p, "no-socket");
    this.record("deliver", p);
    socket(p.data, p.from);
  }

  private record(what: TraceRecord["what"], p: Packet, why?: TraceRecord["why"], data?: Uint8Array): void {
    const r: TraceRecord = { at: this.clock.now(), what, from: p.from, to: p.to, size: p.data.length };
    if (why) r.why = why;
    if (data) r.data = data;
    this.trace.push(r);
  }

  /** @internal A free ephemeral port on `host`, at random as Linux picks them. */
  ephemeralPort(taken: (port: number) => boolean): number {
    const span = EPHEMERAL_HIGH - EPHEMERAL_LOW + 1;
    const start = Math.floor(this.random.float() * span);
    for (let i = 0; i < span; i++) {
      const port = EPHEMERAL_LOW + ((start + i) % span);
      if (!taken(port)) return port;
    }
    throw new Error("simulated host: no free ephemeral port");
  }
}

/** A NAT box of the simulated internet: its public side on `outside`, its own network inside. */
export class SimNat {
  readonly inside: Realm;
  constructor(
    readonly publicIp: string,
    readonly outside: Realm,
    readonly link: Required<LinkOptions>,
    readonly table: NatTable,
  ) {
    this.inside = new Realm(this);
  }

  /** Forgets every mapping (a NAT reboot, conntrack -F). */
  flush(): void {
    this.table.flush();
  }
}

/** A host of the simulated internet: one address, any number of UDP sockets. */
export class SimHost {
  private readonly sockets = new Map<number, DatagramHandler>();

  constructor(
    private readonly net: Internet,
    readonly realm: Realm,
    readonly ip: string,
    readonly link: Required<LinkOptions>,
  ) {}

  /** What os.networkInterfaces() would list on this host. */
  interfaces = (): InterfaceAddress[] => [{ address: this.ip, family: "IPv4", internal: false }];

  /** @internal */
  socketAt(port: number): DatagramHandler | undefined {
    return this.sockets.get(port);
  }

  /** Binds like the OS: a wildcard or this host's address; port 0 takes a free ephemeral one. */
  transport: TransportFactory = async (bind, onDatagram) => {
    if (!isWildcard(bind.host) && bind.host !== this.ip)
      throw Fail.bindFailed(bind.host, `not an address of ${this.ip}`);
    const port = bind.port || this.net.ephemeralPort((p) => this.sockets.has(p));
    if (this.sockets.has(port)) throw Fail.portInUse(port, this.ip);
    this.sockets.set(port, onDatagram);
    let open = true;
    const self = { host: this.ip, port };
    return {
      local: { host: bind.host || "0.0.0.0", port },
      send: (data, to) => {
        if (!open) return false;
        this.net.send(this, { from: self, to: { host: to.host, port: to.port }, data });
        return true;
      },
      close: () => {
        if (!open) return;
        open = false;
        this.sockets.delete(port);
      },
      get open() {
        return open;
      },
    };
  };
}

const link = (o: LinkOptions): Required<LinkOptions> => ({
  delayMs: o.delayMs ?? LINK_DELAY_MS,
  loss: o.loss ?? 0,
});
