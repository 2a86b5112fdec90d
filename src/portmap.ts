// Port mapping: ask the home gateway to forward a public UDP port to this host's local port, so the
// partner gets one more candidate that works even when punching through the NAT would not.
//
// Speaks PCP (RFC 6887, MAP opcode) and falls back to NAT-PMP (RFC 6886) when the gateway answers
// "unsupported version", as RFC 6887 appendix A describes. Both run over UDP to the gateway's port 5351.
//
// Why not @achingbrain/nat-port-mapper (evaluated at 4.0.5, the latest): under Bun its UPnP path cannot
// map UDP at all (it spreads the map options, including `protocol: "udp"`, into fetch(), and Bun's fetch
// rejects that as its own HTTP-version option), its UPnP unmap sends an empty NewProtocol that miniupnpd
// ignores, its NAT-PMP unmap always deletes the TCP mapping, its default auto-refresh mixes seconds and
// milliseconds (an immediate re-map loop that re-creates the mapping after unmap, then an uncaught
// ERR_SOCKET_ALREADY_BOUND), it never retransmits, binds the fixed client port 5350, and has no PCP.
//
// UPnP-IGD (SSDP, device description, SOAP) lives in portmap-upnp.ts and is tried last: after PCP and
// NAT-PMP have failed or been refused.

import { readFileSync } from "node:fs";
import { isIPv4 } from "node:net";
import { endianness } from "node:os";
import { mapPortUpnp } from "./portmap-upnp.ts";
import { type ConnectedTransport, openConnectedUdp } from "./transport/udp.ts";
import type { Endpoint } from "./types.ts";

export type PortMapProtocol = "upnp" | "nat-pmp" | "pcp";

export interface MapPortOptions {
  /** The local UDP port to forward to (the port netpunch punches from). */
  localPort: number;
  /** IPv4 address of the gateway; default: the default route's gateway from /proc/net/route (Linux). */
  gateway?: string;
  /** Requested lifetime of the mapping; the gateway may grant another (miniupnpd: 120 s to 24 h for PCP). */
  ttlSeconds?: number;
  /** Aborting gives up: mapPort resolves undefined and deletes a mapping it may just have made. */
  signal?: AbortSignal;
  /** How long to wait for the gateway in total; it answers in one LAN round trip if it speaks PCP/NAT-PMP. */
  timeoutMs?: number;
  /** Which protocols to try, in order of preference. Default ["pcp", "nat-pmp", "upnp"]. */
  protocols?: readonly PortMapProtocol[];
  /** Renew the mapping at half its lifetime until remove() (timers do not keep the process alive). */
  renew?: boolean;
  /** UDP port of the gateway's PCP/NAT-PMP server; 5351 is the standard one. */
  gatewayPort?: number;
}

export interface PortMapping {
  /** The public address the gateway forwards to localPort; updated if a renewal is given another one. */
  external: Endpoint;
  protocol: PortMapProtocol;
  /** The gateway that holds the mapping. */
  gateway: string;
  /** Lifetime the gateway granted at the last request, in seconds. */
  lifetimeSeconds: number;
  /**
   * Deletes the mapping (stops renewing, asks the gateway, waits up to timeoutMs for its answer). Never
   * rejects; calling it again returns the same promise. Does not use the mapPort signal, which at exit
   * time is usually aborted already.
   */
  remove(): Promise<void>;
}

export const PCP_PORT = 5351;
const DEFAULT_TTL_SECONDS = 3600;
const DEFAULT_TIMEOUT_MS = 1500;
/** RFC 6886 3.1: first retransmission after 250 ms, doubling each time. */
const FIRST_RETRY_MS = 250;
/** Renewals and retries after a failed renewal run in the background, so they can wait longer. */
const BACKGROUND_TIMEOUT_MS = 5000;
const RENEW_RETRY_MS = 30_000;
const MIN_RENEW_MS = 10_000;

const IPPROTO_UDP = 17;
const PCP_VERSION = 2;
const PCP_OP_MAP = 1;
const PCP_RESPONSE = 0x80;
const PCP_HEADER_LENGTH = 24;
const PCP_MAP_LENGTH = 60;
export const PCP_RESULT = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13,
} as const;

const NATPMP_VERSION = 0;
const NATPMP_OP_EXTERNAL = 0;
const NATPMP_OP_MAP_UDP = 1;
const NATPMP_RESPONSE = 128;
const NATPMP_UNSUPPORTED_VERSION = 1;

// ---------------------------------------------------------------------------------------------------------
// Default gateway

export interface RouteEntry {
  iface: string;
  destination: string;
  gateway: string;
  mask: string;
  flags: number;
  metric: number;
}

const RTF_UP = 0x1;
const RTF_GATEWAY = 0x2;

/**
 * Parses Linux /proc/net/route. Addresses there are the raw 32-bit value printed as hex in host byte
 * order, so on little-endian machines "0102000A" is 10.0.2.1.
 */
export function parseProcNetRoute(text: string, littleEndian = endianness() === "LE"): RouteEntry[] {
  const hexToIp = (hex: string): string | undefined => {
    if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
    const bytes = [0, 2, 4, 6].map((i) => Number.parseInt(hex.slice(i, i + 2), 16));
    return (littleEndian ? bytes.reverse() : bytes).join(".");
  };
  const out: RouteEntry[] = [];
  for (const line of text.split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length < 8) continue;
    const [iface = "", dest = "", gw = "", flags = "", , , metric = "", mask = ""] = f;
    const destination = hexToIp(dest);
    const gateway = hexToIp(gw);
    const netmask = hexToIp(mask);
    const flagBits = Number.parseInt(flags, 16);
    const metricValue = Number(metric);
    if (!destination || !gateway || !netmask || !Number.isInteger(flagBits) || !Number.isInteger(metricValue))
      continue;
    out.push({ iface, destination, gateway, mask: netmask, flags: flagBits, metric: metricValue });
  }
  return out;
}

/** The gateway of the default route with the lowest metric, or undefined if there is none. */
export function defaultGatewayFromRoutes(routes: readonly RouteEntry[]): string | undefined {
  let best: RouteEntry | undefined;
  for (const r of routes) {
    const isDefault = r.destination === "0.0.0.0" && r.mask === "0.0.0.0";
    const usable = (r.flags & RTF_UP) !== 0 && (r.flags & RTF_GATEWAY) !== 0 && r.gateway !== "0.0.0.0";
    if (isDefault && usable && (!best || r.metric < best.metric)) best = r;
  }
  return best?.gateway;
}

/** The default IPv4 gateway on Linux; undefined elsewhere or when there is no default route via a gateway. */
export function defaultGateway(): string | undefined {
  if (process.platform !== "linux") return undefined;
  try {
    return defaultGatewayFromRoutes(parseProcNetRoute(readFileSync("/proc/net/route", "utf8")));
  } catch {
    return undefined;
  }
}

// ---------------------------------------------------------------------------------------------------------
// Wire formats

function ipv4Bytes(ip: string): number[] {
  return ip.split(".").map(Number);
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d), the form PCP carries IPv4 addresses in. */
export function ipv4ToMapped(ip: string): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(ipv4Bytes(ip), 12);
  return out;
}

/** The IPv4 address inside ::ffff:a.b.c.d, or undefined for anything else. */
export function mappedToIpv4(bytes: Uint8Array): string | undefined {
  if (bytes.length !== 16) return undefined;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined;
  return Array.from(bytes.subarray(12, 16)).join(".");
}

export interface PcpMapRequest {
  nonce: Uint8Array;
  lifetime: number;
  clientIp: string;
  internalPort: number;
  suggestedPort: number;
}

/** A PCP MAP request for UDP, RFC 6887 sections 7.1 and 11.1 (60 bytes). */
export function encodePcpMap(req: PcpMapRequest): Uint8Array {
  const buf = new Uint8Array(PCP_MAP_LENGTH);
  const view = new DataView(buf.buffer);
  buf[0] = PCP_VERSION;
  buf[1] = PCP_OP_MAP;
  view.setUint32(4, req.lifetime);
  buf.set(ipv4ToMapped(req.clientIp), 8);
  buf.set(req.nonce.subarray(0, 12), 24);
  buf[36] = IPPROTO_UDP;
  view.setUint16(40, req.internalPort);
  view.setUint16(42, req.suggestedPort);
  // No preference for the external address: ::ffff:0.0.0.0.
  buf.set(ipv4ToMapped("0.0.0.0"), 44);
  return buf;
}

export type PcpReply =
  /** The server does not speak this PCP version (a NAT-PMP-only gateway answers so, in NAT-PMP format). */
  | { kind: "unsupported-version" }
  | { kind: "error"; resultCode: number }
  | { kind: "ok"; lifetime: number; epoch: number; external: Endpoint };

/** Parses a reply to our MAP request; undefined when the datagram is not one (wrong nonce, truncated...). */
export function decodePcpMapReply(data: Uint8Array, nonce: Uint8Array): PcpReply | undefined {
  if (data.length < 4) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = data[0] ?? -1;
  const opByte = data[1] ?? 0;
  if (version === NATPMP_VERSION) {
    // RFC 6886 3.5: a NAT-PMP server answers an unknown version with result 1, opcode 128 + ours.
    const isReply =
      opByte === NATPMP_RESPONSE + PCP_OP_MAP && view.getUint16(2) === NATPMP_UNSUPPORTED_VERSION;
    return isReply ? { kind: "unsupported-version" } : undefined;
  }
  if ((opByte & PCP_RESPONSE) === 0 || (opByte & 0x7f) !== PCP_OP_MAP) return undefined;
  const resultCode = data[3] ?? -1;
  if (version !== PCP_VERSION) {
    // A server of another PCP version says which one it speaks, with UNSUPP_VERSION.
    return resultCode === PCP_RESULT.UNSUPP_VERSION ? { kind: "unsupported-version" } : undefined;
  }
  if (data.length < PCP_MAP_LENGTH) {
    // Errors may come without the opcode part (e.g. MALFORMED_REQUEST); success never does.
    return data.length >= PCP_HEADER_LENGTH && resultCode !== PCP_RESULT.SUCCESS
      ? { kind: "error", resultCode }
      : undefined;
  }
  for (let i = 0; i < 12; i++) if (data[24 + i] !== nonce[i]) return undefined;
  if (data[36] !== IPPROTO_UDP) return undefined;
  if (resultCode === PCP_RESULT.UNSUPP_VERSION) return { kind: "unsupported-version" };
  if (resultCode !== PCP_RESULT.SUCCESS) return { kind: "error", resultCode };
  const host = mappedToIpv4(data.subarray(44, 60));
  if (host === undefined) return undefined;
  return {
    kind: "ok",
    lifetime: view.getUint32(4),
    epoch: view.getUint32(8),
    external: { host, port: view.getUint16(42) },
  };
}

/** A NAT-PMP UDP mapping request (RFC 6886 3.3); lifetime 0 and suggested port 0 delete it (3.4). */
export function encodeNatPmpMap(internalPort: number, suggestedPort: number, lifetime: number): Uint8Array {
  const buf = new Uint8Array(12);
  const view = new DataView(buf.buffer);
  buf[0] = NATPMP_VERSION;
  buf[1] = NATPMP_OP_MAP_UDP;
  view.setUint16(4, internalPort);
  view.setUint16(6, suggestedPort);
  view.setUint32(8, lifetime);
  return buf;
}

/** A NAT-PMP external address request (RFC 6886 3.2). */
export function encodeNatPmpExternal(): Uint8Array {
  return new Uint8Array([NATPMP_VERSION, NATPMP_OP_EXTERNAL]);
}

export type NatPmpMapReply =
  | { kind: "error"; resultCode: number }
  | { kind: "ok"; externalPort: number; lifetime: number; epoch: number };

export function decodeNatPmpMapReply(data: Uint8Array, internalPort: number): NatPmpMapReply | undefined {
  if (data.length < 4 || data[0] !== NATPMP_VERSION || data[1] !== NATPMP_RESPONSE + NATPMP_OP_MAP_UDP)
    return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const resultCode = view.getUint16(2);
  if (resultCode !== 0) return { kind: "error", resultCode };
  if (data.length < 16 || view.getUint16(8) !== internalPort) return undefined;
  return {
    kind: "ok",
    externalPort: view.getUint16(10),
    lifetime: view.getUint32(12),
    epoch: view.getUint32(4),
  };
}

export type NatPmpExternalReply = { kind: "error"; resultCode: number } | { kind: "ok"; host: string };

export function decodeNatPmpExternalReply(data: Uint8Array): NatPmpExternalReply | undefined {
  if (data.length < 4 || data[0] !== NATPMP_VERSION || data[1] !== NATPMP_RESPONSE + NATPMP_OP_EXTERNAL)
    return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const resultCode = view.getUint16(2);
  if (resultCode !== 0) return { kind: "error", resultCode };
  if (data.length < 12) return undefined;
  return { kind: "ok", host: Array.from(data.subarray(8, 12)).join(".") };
}

// ---------------------------------------------------------------------------------------------------------
// Transport: one connected UDP socket to the gateway

/**
 * A UDP socket connected to the gateway's port (transport/udp.ts openConnectedUdp). Connected on purpose:
 * the kernel picks the source address PCP must declare as the client address, only
 * the gateway's datagrams come through, and an ICMP port unreachable ("no daemon there") surfaces as
 * ECONNREFUSED, so a gateway without PCP/NAT-PMP costs one round trip instead of the whole timeout.
 */
class GatewaySocket {
  refused = false;
  readonly #waiters = new Set<{ data(d: Uint8Array): void; refused(): void }>();

  private constructor(
    private readonly socket: ConnectedTransport,
    readonly clientIp: string,
  ) {}

  static async open(gateway: string, port: number): Promise<GatewaySocket | undefined> {
    let self: GatewaySocket | undefined;
    try {
      const socket = await openConnectedUdp(
        { host: gateway, port },
        (data) => self?.dispatch(data),
        (code) => {
          if (code === "ECONNREFUSED") self?.refuse();
        },
      );
      self = new GatewaySocket(socket, socket.localHost);
      if (!isIPv4(self.clientIp)) {
        self.close();
        return undefined;
      }
      return self;
    } catch {
      // No route to the gateway, no IPv4, out of sockets: no mapping, not an error for the caller.
      self?.close();
      return undefined;
    }
  }

  dispatch(data: Uint8Array): void {
    for (const w of [...this.#waiters]) w.data(data);
  }

  refuse(): void {
    this.refused = true;
    for (const w of [...this.#waiters]) w.refused();
  }

  /**
   * Sends `packet` at once and again after 250, 500, 1000... ms until `parse` accepts a reply, the
   * deadline passes, the gateway refuses (ICMP) or the signal aborts; undefined in all but the first case.
   */
  request<T>(
    packet: Uint8Array,
    parse: (data: Uint8Array) => T | undefined,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    return new Promise<T | undefined>((resolve) => {
      let timer: ReturnType<typeof setTimeout> | undefined;
      let delay = FIRST_RETRY_MS;
      const finish = (value: T | undefined) => {
        clearTimeout(timer);
        this.#waiters.delete(waiter);
        signal?.removeEventListener("abort", onAbort);
        resolve(value);
      };
      const waiter = {
        data: (d: Uint8Array) => {
          const value = parse(d);
          if (value !== undefined) finish(value);
        },
        refused: () => finish(undefined),
      };
      const onAbort = () => finish(undefined);
      const send = () => {
        const left = deadline - Date.now();
        if (left <= 0) return finish(undefined);
        try {
          this.socket.send(packet);
        } catch {
          // A failed send is like a lost datagram: the next retransmission may get through.
        }
        timer = setTimeout(send, Math.min(delay, left));
        delay *= 2;
      };
      if (this.refused || signal?.aborted) return finish(undefined);
      this.#waiters.add(waiter);
      signal?.addEventListener("abort", onAbort, { once: true });
      send();
    });
  }

  close(): void {
    for (const w of [...this.#waiters]) w.refused();
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Protocol runs

/** What one protocol needs to renew and delete the mapping it made (portmap-upnp.ts makes them too). */
export interface Grant {
  protocol: PortMapProtocol;
  external: Endpoint;
  lifetime: number;
  /**
   * Asks again for the same mapping with `lifetime` (0 deletes), on a fresh socket and without the mapPort
   * signal; undefined when the gateway did not agree in time.
   */
  request(
    lifetime: number,
    timeoutMs: number,
    signal?: AbortSignal,
  ): Promise<{ external: Endpoint; lifetime: number } | undefined>;
}

interface Context {
  gateway: string;
  port: number;
  localPort: number;
  ttl: number;
  deadline: number;
  signal?: AbortSignal;
}

/** Opens a socket for one background exchange (renew, delete) and closes it again. */
async function withSocket<T>(
  gateway: string,
  port: number,
  fn: (s: GatewaySocket) => Promise<T | undefined>,
): Promise<T | undefined> {
  const s = await GatewaySocket.open(gateway, port);
  if (!s) return undefined;
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}

async function tryPcp(s: GatewaySocket, ctx: Context): Promise<Grant | "unsupported" | undefined> {
  const nonce = crypto.getRandomValues(new Uint8Array(12));
  const ask = (
    sock: GatewaySocket,
    lifetime: number,
    suggestedPort: number,
    deadline: number,
    signal?: AbortSignal,
  ) => {
    const packet = encodePcpMap({
      nonce,
      lifetime,
      clientIp: sock.clientIp,
      internalPort: ctx.localPort,
      suggestedPort,
    });
    return sock.request(packet, (d) => decodePcpMapReply(d, nonce), deadline, signal);
  };
  const first = await ask(s, ctx.ttl, ctx.localPort, ctx.deadline, ctx.signal);
  if (first?.kind === "unsupported-version") return "unsupported";
  if (first?.kind !== "ok") return undefined;
  const grant: Grant = {
    protocol: "pcp",
    external: first.external,
    lifetime: first.lifetime,
    // Renewal and deletion must carry the same nonce, or the gateway refuses (RFC 6887 11.2).
    request: (lifetime, timeoutMs, signal) =>
      withSocket(ctx.gateway, ctx.port, async (sock) => {
        const reply = await ask(sock, lifetime, grant.external.port, Date.now() + timeoutMs, signal);
        return reply?.kind === "ok" ? { external: reply.external, lifetime: reply.lifetime } : undefined;
      }),
  };
  if (!usable(first.external)) {
    void grant.request(0, BACKGROUND_TIMEOUT_MS);
    return undefined;
  }
  return grant;
}

/** A public address a partner could send to. */
const usable = (ep: Endpoint): boolean => ep.port !== 0 && ep.host !== "0.0.0.0";

async function tryNatPmp(s: GatewaySocket, ctx: Context): Promise<Grant | undefined> {
  const external = () =>
    s.request(encodeNatPmpExternal(), decodeNatPmpExternalReply, ctx.deadline, ctx.signal);
  const map = (
    sock: GatewaySocket,
    lifetime: number,
    suggestedPort: number,
    deadline: number,
    signal?: AbortSignal,
  ) =>
    sock.request(
      encodeNatPmpMap(ctx.localPort, suggestedPort, lifetime),
      (d) => decodeNatPmpMapReply(d, ctx.localPort),
      deadline,
      signal,
    );
  // Both at once: the replies differ by opcode, and the address costs no extra round trip.
  const [mapped, addr] = await Promise.all([
    map(s, ctx.ttl, ctx.localPort, ctx.deadline, ctx.signal),
    external(),
  ]);
  if (mapped?.kind !== "ok") return undefined;
  const host = addr?.kind === "ok" ? addr.host : undefined;
  const grant: Grant = {
    protocol: "nat-pmp",
    external: { host: host ?? "0.0.0.0", port: mapped.externalPort },
    lifetime: mapped.lifetime,
    request: (lifetime, timeoutMs, signal) =>
      withSocket(ctx.gateway, ctx.port, async (sock) => {
        // RFC 6886 3.4: a deletion suggests external port 0.
        const suggested = lifetime === 0 ? 0 : grant.external.port;
        const reply = await map(sock, lifetime, suggested, Date.now() + timeoutMs, signal);
        if (reply?.kind !== "ok") return undefined;
        return {
          external: { host: grant.external.host, port: reply.externalPort },
          lifetime: reply.lifetime,
        };
      }),
  };
  if (!usable(grant.external)) {
    // A mapping without a usable public address is no candidate; give it back.
    void grant.request(0, BACKGROUND_TIMEOUT_MS);
    return undefined;
  }
  return grant;
}

// ---------------------------------------------------------------------------------------------------------
// The API

/**
 * Asks the gateway to forward a public UDP port to `localPort` on this host. Resolves undefined when no
 * gateway is known or none answers within `timeoutMs`, when the gateway refuses, or when `signal` aborts;
 * it only throws for invalid options. Run it alongside registration, not before: a gateway without
 * PCP/NAT-PMP usually says so at once (ICMP port unreachable), but one that stays silent costs timeoutMs.
 */
export async function mapPort(opts: MapPortOptions): Promise<PortMapping | undefined> {
  const { localPort } = opts;
  if (!Number.isInteger(localPort) || localPort < 1 || localPort > 65535)
    throw new RangeError(`mapPort: localPort must be 1-65535, got ${localPort}`);
  const ttl = opts.ttlSeconds ?? DEFAULT_TTL_SECONDS;
  if (!Number.isInteger(ttl) || ttl < 1 || ttl > 0xffffffff)
    throw new RangeError(`mapPort: ttlSeconds must be a positive integer, got ${ttl}`);
  const timeoutMs = opts.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  if (!Number.isFinite(timeoutMs) || timeoutMs <= 0)
    throw new RangeError(`mapPort: timeoutMs must be positive, got ${timeoutMs}`);
  const port = opts.gatewayPort ?? PCP_PORT;
  if (!Number.isInteger(port) || port < 1 || port > 65535)
    throw new RangeError(`mapPort: gatewayPort must be 1-65535, got ${port}`);
  if (opts.gateway !== undefined && !isIPv4(opts.gateway))
    throw new TypeError(`mapPort: gateway must be an IPv4 address, got "${opts.gateway}"`);
  const protocols = opts.protocols ?? ["pcp", "nat-pmp", "upnp"];
  for (const p of protocols)
    if (p !== "pcp" && p !== "nat-pmp" && p !== "upnp")
      throw new TypeError(`mapPort: unknown protocol "${String(p)}"`);

  const deadline = Date.now() + timeoutMs;
  const gateway = opts.gateway ?? defaultGateway();
  if (gateway === undefined || opts.signal?.aborted) return undefined;
  const ctx: Context = { gateway, port, localPort, ttl, deadline, signal: opts.signal };

  // PCP and NAT-PMP share one socket, opened when first needed; once either has had its answer (or its
  // timeout, or ICMP) neither is asked again. UPnP-IGD is tried when those gave nothing, with the time left.
  let s: GatewaySocket | undefined | null = null;
  let pmpDone = false;
  let grant: Grant | undefined;
  try {
    for (const protocol of protocols) {
      if (opts.signal?.aborted) break;
      if (protocol === "upnp") {
        grant = await mapPortUpnp({ localPort, gateway, ttl, deadline, signal: opts.signal });
        if (grant) break;
        continue;
      }
      if (pmpDone) continue;
      if (s === null) s = await GatewaySocket.open(gateway, port);
      if (!s) {
        pmpDone = true;
        continue;
      }
      if (protocol === "pcp") {
        const r = await tryPcp(s, ctx);
        if (r === "unsupported") continue;
        grant = r;
      } else {
        grant = await tryNatPmp(s, ctx);
      }
      pmpDone = true;
      if (grant) break;
    }
  } catch {
    grant = undefined;
  } finally {
    s?.close();
  }
  if (!grant) return undefined;
  if (opts.signal?.aborted) {
    // Made it just as the caller gave up: do not leave it behind.
    void grant.request(0, BACKGROUND_TIMEOUT_MS);
    return undefined;
  }
  return track(grant, gateway, ttl, timeoutMs, opts.renew ?? true);
}

/** Wraps a grant into the PortMapping handed out: renewal at half the lifetime, remove(). */
function track(grant: Grant, gateway: string, ttl: number, timeoutMs: number, renew: boolean): PortMapping {
  let timer: ReturnType<typeof setTimeout> | undefined;
  let removal: Promise<void> | undefined;
  // A renewal in flight when remove() comes: stopped first, so no retransmission of it follows the delete.
  let renewal: { stop: AbortController; done: Promise<unknown> } | undefined;
  const mapping: PortMapping = {
    external: { ...grant.external },
    protocol: grant.protocol,
    gateway,
    lifetimeSeconds: grant.lifetime,
    remove() {
      removal ??= (async () => {
        clearTimeout(timer);
        renewal?.stop.abort();
        await renewal?.done;
        try {
          await grant.request(0, Math.max(timeoutMs, 1000));
        } catch {
          // best effort: the gateway drops it when its lifetime ends anyway
        }
      })();
      return removal;
    },
  };
  const schedule = (ms: number) => {
    if (!renew || removal) return;
    timer = setTimeout(async () => {
      if (removal) return;
      const stop = new AbortController();
      const done = grant.request(ttl, BACKGROUND_TIMEOUT_MS, stop.signal).catch(() => undefined);
      renewal = { stop, done };
      const r = await done;
      renewal = undefined;
      if (removal) return;
      if (r) {
        grant.external = r.external;
        mapping.external = { ...r.external };
        mapping.lifetimeSeconds = r.lifetime;
      }
      schedule(r ? Math.max(MIN_RENEW_MS, (r.lifetime * 1000) / 2) : RENEW_RETRY_MS);
    }, ms);
    timer.unref?.();
  };
  schedule(Math.max(MIN_RENEW_MS, (grant.lifetime * 1000) / 2));
  return mapping;
}
