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
// The folder, by protocol: pcp.ts, natpmp.ts (both over gateway-socket.ts), upnp/ (ssdp, description, soap,
// igd: tried last, after PCP and NAT-PMP have failed or been refused); mapping.ts the one result they give;
// effects.ts what is passed in (clock, random, sockets, fetch).

import { isIP } from "../addr.ts";
import type { Clock } from "../sys/clock.ts";
import type { Random } from "../sys/random.ts";
import { defaultGateway } from "../sys/route.ts";
import type { TransportFactory } from "../transport/types.ts";
import { effects, type Fetch, type GatewaySocketFactory, type SubnetAddresses } from "./effects.ts";
import { type GatewayContext, GatewaySocket, PCP_PORT } from "./gateway-socket.ts";
import {
  BACKGROUND_TIMEOUT_MS,
  type Grant,
  type PortMapProtocol,
  type PortMapping,
  track,
} from "./mapping.ts";
import { tryNatPmp } from "./natpmp.ts";
import { tryPcp } from "./pcp.ts";
import { mapPortUpnp } from "./upnp/igd.ts";

export type { Fetch, GatewaySocketFactory, SubnetAddresses } from "./effects.ts";
export type { PortMapProtocol, PortMapping } from "./mapping.ts";

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
  /** For tests and simulations: the time and the timers (deadline, retransmissions, renewals). @default systemClock */
  clock?: Clock;
  /** For tests and simulations: the PCP nonce, UPnP's alternate ports. @default systemRandom */
  random?: Random;
  /** For tests and simulations: PCP and NAT-PMP's socket, connected to the gateway. @default openConnectedUdp */
  gatewaySocket?: GatewaySocketFactory;
  /** For tests and simulations: SSDP's socket. @default openUdp */
  transport?: TransportFactory;
  /** For tests and simulations: UPnP's HTTP (device description, SOAP). @default globalThis.fetch */
  fetch?: Fetch;
  /** For tests and simulations: this host's addresses, for UPnP's NewInternalClient. @default os.networkInterfaces */
  interfaces?: () => SubnetAddresses;
}

/** A 3600 s lease: renewed at half of it, so an hour's worth of gateway state per host at most. */
const DEFAULT_TTL_SECONDS = 3600;
/**
 * A gateway that speaks PCP or NAT-PMP answers in one LAN round trip, and one without says so at once (ICMP);
 * 1.5 s leaves room for lost datagrams (sends at 0, 250, 750 ms) and for UPnP's SSDP, HTTP and SOAP steps,
 * while mapPort runs alongside registration rather than delaying it.
 */
const DEFAULT_TIMEOUT_MS = 1500;

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
  if (opts.gateway !== undefined && isIP(opts.gateway) !== 4)
    throw new TypeError(`mapPort: gateway must be an IPv4 address, got "${opts.gateway}"`);
  const protocols = opts.protocols ?? ["pcp", "nat-pmp", "upnp"];
  for (const p of protocols)
    if (p !== "pcp" && p !== "nat-pmp" && p !== "upnp")
      throw new TypeError(`mapPort: unknown protocol "${String(p)}"`);

  const fx = effects(opts);
  const deadline = fx.clock.now() + timeoutMs;
  const gateway = opts.gateway ?? defaultGateway();
  if (gateway === undefined || opts.signal?.aborted) return undefined;
  const ctx: GatewayContext = { gateway, port, localPort, ttl, deadline, signal: opts.signal, fx };

  // PCP and NAT-PMP share one socket, opened when first needed; once either has had its answer (or its
  // timeout, or ICMP) neither is asked again. UPnP-IGD is tried when those gave nothing, with the time left.
  let s: GatewaySocket | undefined | null = null;
  let pmpDone = false;
  let grant: Grant | undefined;
  try {
    for (const protocol of protocols) {
      if (opts.signal?.aborted) break;
      if (protocol === "upnp") {
        grant = await mapPortUpnp({ localPort, gateway, ttl, deadline, signal: opts.signal, fx });
        if (grant) break;
        continue;
      }
      if (pmpDone) continue;
      if (s === null) s = await GatewaySocket.open(gateway, port, fx);
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
  return track(grant, { gateway, ttl, timeoutMs, renew: opts.renew ?? true, clock: fx.clock });
}
