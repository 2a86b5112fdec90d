import { normalizeHost } from "../addr.ts";
import type { Endpoint } from "../types.ts";
import type { Datagram, DatagramHandler, ErrorHandler, Transport, TransportFactory } from "./types.ts";

/**
 * A server bound to a wildcard (0.0.0.0 or ::) on a host with several addresses (a VPS with a floating IP)
 * would answer from the kernel's choice of source address, which the peer's NAT then drops. Bun's UDP
 * socket cannot read or pick the source address per datagram, so this binds one socket per local address
 * on the same port and answers each peer from the address it wrote to.
 */

/** A route's key: unique (no IP address contains "/"), and cheaper than formatEndpoint on every datagram. */
const keyOf = (peer: Endpoint): string => `${peer.host}/${peer.port}`;

/** Remembers which local address each peer wrote to; shared by the server's ports so each answers alike. */
export class ReplyRoutes {
  private readonly routes = new Map<string, string>();
  /** @param max peers remembered; the oldest is forgotten first (it then gets the first address). */
  constructor(private readonly max = MAX_ROUTES) {}

  note(peer: Endpoint, localHost: string): void {
    const key = keyOf(peer);
    this.routes.delete(key); // re-insert: the map's order is then least recently heard first
    this.routes.set(key, localHost);
    if (this.routes.size > this.max) this.routes.delete(this.routes.keys().next().value as string);
  }

  hostFor(peer: Endpoint): string | undefined {
    return this.routes.get(keyOf(peer));
  }
}

/** @default 262,144 peers: above the server's session cap (100,000 sessions of two peers). */
const MAX_ROUTES = 262_144;
/** How often to look for addresses added (or removed) after start, e.g. a floating IP attached later. */
export const RESCAN_MS = 30_000;

export const isWildcard = (host: string): boolean => host === "0.0.0.0" || host === "::" || host === "";

/**
 * The addresses a wildcard stands for: 0.0.0.0 every IPv4 address, :: every address of both families
 * (as a dual-stack wildcard would take). IPv6 link-local addresses are left out: they need a scope id and
 * no peer reaches a rendezvous server over one.
 */
export function addressesFor(wildcard: string, all: { address: string; family: string }[]): string[] {
  const v6 = wildcard === "::";
  const out = all
    .filter((a) => a.family === "IPv4" || (v6 && a.family === "IPv6" && !/^fe[89ab]/i.test(a.address)))
    .map((a) => normalizeHost(a.address));
  return [...new Set(out)];
}

export interface PerAddressOptions {
  /** This host's addresses now, e.g. from os.networkInterfaces(). */
  addresses: () => string[];
  routes: ReplyRoutes;
  /** Schedules the rescan; returns a cancel function. */
  every?: (ms: number, fn: () => void) => () => void;
}

/**
 * Binds `bind` as asked, or, for a wildcard, once per local address on one port. The result is one
 * transport whose `local` is the wildcard and whose send goes out from the address the peer wrote to.
 */
export async function openPerAddress(
  factory: TransportFactory,
  bind: Endpoint,
  onDatagram: DatagramHandler,
  o: PerAddressOptions,
  onError?: ErrorHandler,
): Promise<Transport> {
  if (!isWildcard(bind.host)) return factory(bind, onDatagram, onError);
  const sockets = new Map<string, Transport>();
  const open = async (host: string, port: number): Promise<Transport> => {
    const t = await factory(
      { host, port },
      (data, from) => {
        o.routes.note(from, host);
        onDatagram(data, from);
      },
      onError,
    );
    sockets.set(host, t);
    return t;
  };
  const hosts = o.addresses();
  if (hosts.length === 0) return factory(bind, onDatagram, onError);
  // The first socket fixes the port (it may have been 0: any free one); the others take the same.
  const first = await open(hosts[0] as string, bind.port);
  const port = first.local.port;
  try {
    for (const h of hosts.slice(1)) await open(h, port);
  } catch (e) {
    for (const t of sockets.values()) t.close();
    throw e;
  }
  let closed = false;
  const rescan = async () => {
    if (closed) return;
    const now = new Set(o.addresses());
    for (const [h, t] of sockets) {
      if (!now.has(h) && sockets.size > 1) {
        t.close();
        sockets.delete(h);
      }
    }
    for (const h of now) {
      // A new address that cannot be bound (taken by another program) is skipped until the next scan.
      if (!sockets.has(h)) await open(h, port).catch(() => undefined);
    }
  };
  const cancel = o.every?.(RESCAN_MS, () => void rescan()) ?? (() => {});
  /** The socket that answers `to`: the one it wrote to; a peer not heard yet (or forgotten) gets the first of its family. */
  const socketFor = (to: Endpoint): Transport | undefined => {
    const host = o.routes.hostFor(to);
    const v6 = to.host.includes(":");
    return (
      (host ? sockets.get(host) : undefined) ??
      [...sockets.entries()].find(([h]) => h.includes(":") === v6)?.[1]
    );
  };
  return {
    local: { host: bind.host || "0.0.0.0", port },
    send(data, to) {
      return socketFor(to)?.send(data, to) ?? false;
    },
    sendMany(datagrams) {
      // Grouped by socket, each group in one call where the socket can (in order within a socket).
      const groups = new Map<Transport, Datagram[]>();
      let sent = 0;
      for (const d of datagrams) {
        const via = socketFor(d.to);
        if (!via) continue;
        const group = groups.get(via);
        if (group) group.push(d);
        else groups.set(via, [d]);
      }
      for (const [via, group] of groups) {
        if (via.sendMany) sent += via.sendMany(group);
        else for (const d of group) if (via.send(d.data, d.to)) sent++;
      }
      return sent;
    },
    close() {
      closed = true;
      cancel();
      for (const t of sockets.values()) t.close();
      sockets.clear();
    },
    /** Open while one of its sockets is: a peer can still reach the server at that address. */
    get open() {
      return !closed && [...sockets.values()].some((t) => t.open !== false);
    },
  };
}
