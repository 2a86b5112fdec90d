// What port mapping does to the world, passed in: time, randomness, the two kinds of UDP socket, HTTP and the
// list of this host's addresses. The defaults are the system's; a simulation passes its own, so mapPort() as
// shipped runs on a fake clock against a fake gateway (test/sim/portmap.test.ts).
import { networkInterfaces } from "node:os";
import { type Clock, systemClock } from "../sys/clock.ts";
import { type Random, systemRandom } from "../sys/random.ts";
import type { ErrorHandler, TransportFactory } from "../transport/types.ts";
import { type ConnectedTransport, openConnectedUdp, openUdp } from "../transport/udp.ts";
import type { Endpoint } from "../types.ts";

/**
 * Opens a UDP socket connected to `remote` (the gateway's PCP/NAT-PMP port): only its datagrams come in, an
 * ICMP port unreachable arrives as onError("ECONNREFUSED"), and `localHost` is the address the gateway sees.
 */
export type GatewaySocketFactory = (
  remote: Endpoint,
  onDatagram: (data: Uint8Array) => void,
  onError?: ErrorHandler,
) => Promise<ConnectedTransport>;

/** fetch() as UPnP uses it: a URL and an init, the Response. */
export type Fetch = (url: string, init: RequestInit) => Promise<Response>;

/** This host's addresses with their netmasks, by interface (os.networkInterfaces() has this shape). */
export type SubnetAddresses = Record<
  string,
  readonly { address: string; family: string | number; netmask: string }[] | undefined
>;

export interface PortMapEffects {
  /** @default systemClock */
  clock: Clock;
  /** The PCP nonce, UPnP's alternate ports. @default systemRandom */
  random: Random;
  /** PCP and NAT-PMP. @default openConnectedUdp */
  gatewaySocket: GatewaySocketFactory;
  /** SSDP's unconnected socket (answers to multicast come from the gateway's own address). @default openUdp */
  transport: TransportFactory;
  /** UPnP's device description and SOAP calls. @default globalThis.fetch */
  fetch: Fetch;
  /** UPnP's NewInternalClient is this host's address in the gateway's subnet. @default os.networkInterfaces */
  interfaces: () => SubnetAddresses;
}

/** The system's effects, with any the caller passed instead. */
export function effects(o: Partial<PortMapEffects> = {}): PortMapEffects {
  return {
    clock: o.clock ?? systemClock,
    random: o.random ?? systemRandom,
    gatewaySocket: o.gatewaySocket ?? openConnectedUdp,
    transport: o.transport ?? openUdp,
    // Looked up when used, not at import: a test or a polyfill may replace the global later.
    fetch: o.fetch ?? ((url, init) => globalThis.fetch(url, init)),
    interfaces: o.interfaces ?? networkInterfaces,
  };
}
