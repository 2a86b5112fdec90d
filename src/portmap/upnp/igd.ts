// UPnP-IGD port mapping (UPnP Device Architecture 1.1, IGD:1/IGD:2 WANIPConnection and WANPPPConnection),
// the third protocol mapPort() tries after PCP and NAT-PMP: many ISP routers offer only this one.
//
// 1. SSDP (ssdp.ts): an M-SEARCH to 239.255.255.250:1900 (at most 3 datagrams within the deadline).
// 2. The device description at LOCATION (description.ts) names the WANIPConnection (or WANPPPConnection)
//    control URL.
// 3. SOAP over HTTP (soap.ts): GetExternalIPAddress, AddPortMapping (external port = local port first, a few
//    random ones if it is taken: error 718; lease 0 if the gateway only does permanent mappings: error 725),
//    DeletePortMapping on removal.
// Everything is bounded by the caller's deadline and signal; failures resolve undefined, never throw.

import { networkInterfaces } from "node:os";
import { isIP } from "../../addr.ts";
import type { Random } from "../../sys/random.ts";
import type { Endpoint } from "../../types.ts";
import { effects, type PortMapEffects, type SubnetAddresses } from "../effects.ts";
import { BACKGROUND_TIMEOUT_MS, type Grant } from "../mapping.ts";
import { fetchDescription, parseDeviceDescription } from "./description.ts";
import { soapCall, UPNP_ERROR } from "./soap.ts";
import { discoverIgd, ssdpTargetFor } from "./ssdp.ts";

/** 718 on the local port: this many random others before giving up (each costs a LAN round trip). */
const RANDOM_PORT_TRIES = 3;
/** NewPortMappingDescription: what the gateway's admin page shows for the mapping. */
const DESCRIPTION = "netpunch";

// ---------------------------------------------------------------------------------------------------------
// This host's address on the gateway's subnet

const ipToInt = (ip: string): number => ip.split(".").reduce((acc, b) => ((acc << 8) | Number(b)) >>> 0, 0);

/** This host's IPv4 address in the same subnet as `gateway` (address and netmask from the interfaces). */
export function localAddressFor(
  gateway: string,
  interfaces: SubnetAddresses = networkInterfaces(),
): string | undefined {
  if (isIP(gateway) !== 4) return undefined;
  const gw = ipToInt(gateway);
  for (const addrs of Object.values(interfaces)) {
    for (const a of addrs ?? []) {
      if (a.family !== "IPv4" || isIP(a.netmask) !== 4) continue;
      const mask = ipToInt(a.netmask);
      if (mask !== 0 && ((ipToInt(a.address) ^ gw) & mask) >>> 0 === 0) return a.address;
    }
  }
  return undefined;
}

// ---------------------------------------------------------------------------------------------------------
// The protocol run

export interface UpnpMapOptions {
  localPort: number;
  gateway: string;
  ttl: number;
  deadline: number;
  signal?: AbortSignal;
  /** Where M-SEARCH goes (tests); default ssdpTargetFor(gateway). */
  ssdpTarget?: Endpoint;
  /** NewInternalClient; default this host's address in the gateway's subnet. */
  internalClient?: string;
  /** External ports to try after localPort (tests); default a few random ones >= 1024. */
  alternatePorts?: readonly number[];
  /** The clock, randomness, sockets, HTTP and interfaces; default the system's. */
  fx?: Partial<PortMapEffects>;
}

/** A UPnP mapping, in mapping.ts's Grant shape: what track() needs to renew and delete it. */
export type UpnpGrant = Grant & { protocol: "upnp" };

/** Alternate external ports come from above the well-known ones (some gateways refuse those anyway). */
const FIRST_UNPRIVILEGED_PORT = 1024;
const randomPort = (random: Random): number =>
  FIRST_UNPRIVILEGED_PORT + Math.floor(random.float() * (65536 - FIRST_UNPRIVILEGED_PORT));

/** Maps UDP `localPort` with UPnP-IGD; undefined when there is no IGD, it refuses, or time runs out. */
export async function mapPortUpnp(opts: UpnpMapOptions): Promise<UpnpGrant | undefined> {
  const { localPort, gateway, ttl, deadline, signal } = opts;
  const fx = effects(opts.fx);
  const client = opts.internalClient ?? localAddressFor(gateway, fx.interfaces());
  if (!client) return undefined;
  const location = await discoverIgd(
    gateway,
    deadline,
    signal,
    opts.ssdpTarget ?? ssdpTargetFor(gateway),
    fx,
  );
  if (!location) return undefined;
  const xml = await fetchDescription(fx, location, deadline, signal);
  if (xml === undefined) return undefined;
  const service = parseDeviceDescription(xml, location);
  // Safety: SOAP only to the gateway itself, whatever the description says.
  if (!service || new URL(service.controlUrl).hostname !== gateway) return undefined;

  const ipReply = await soapCall(fx, service, "GetExternalIPAddress", [], deadline, signal);
  const host = ipReply?.kind === "ok" ? ipReply.values.NewExternalIPAddress : undefined;
  if (!host || isIP(host) !== 4 || host === "0.0.0.0") return undefined;

  let lease = ttl;
  const add = (port: number, dl: number, sig?: AbortSignal) =>
    soapCall(
      fx,
      service,
      "AddPortMapping",
      [
        ["NewRemoteHost", ""],
        ["NewExternalPort", port],
        ["NewProtocol", "UDP"],
        ["NewInternalPort", localPort],
        ["NewInternalClient", client],
        ["NewEnabled", 1],
        ["NewPortMappingDescription", DESCRIPTION],
        ["NewLeaseDuration", lease],
      ],
      dl,
      sig,
    );
  /** AddPortMapping, again with lease 0 if the gateway does only permanent mappings. */
  const addWithLease = async (port: number, dl: number, sig?: AbortSignal) => {
    let r = await add(port, dl, sig);
    if (r?.kind === "error" && r.errorCode === UPNP_ERROR.ONLY_PERMANENT_LEASES_SUPPORTED && lease !== 0) {
      lease = 0;
      r = await add(port, dl, sig);
    }
    return r;
  };

  const ports = [
    localPort,
    ...(opts.alternatePorts ?? Array.from({ length: RANDOM_PORT_TRIES }, () => randomPort(fx.random))),
  ];
  let externalPort: number | undefined;
  for (const port of ports) {
    const r = await addWithLease(port, deadline, signal);
    if (r?.kind === "ok") {
      externalPort = port;
      break;
    }
    if (r?.kind !== "error" || r.errorCode !== UPNP_ERROR.CONFLICT_IN_MAPPING_ENTRY) return undefined;
  }
  if (externalPort === undefined) return undefined;

  const grant: UpnpGrant = {
    protocol: "upnp",
    external: { host, port: externalPort },
    // A permanent mapping (lease 0) is reported with the requested ttl: renewed at half of it, which also
    // re-creates it after a gateway reboot, and deleted on removal like any other.
    lifetime: lease === 0 ? ttl : lease,
    async request(lifetime, timeoutMs, sig) {
      const dl = fx.clock.now() + timeoutMs;
      if (lifetime === 0) {
        const r = await soapCall(
          fx,
          service,
          "DeletePortMapping",
          [
            ["NewRemoteHost", ""],
            ["NewExternalPort", grant.external.port],
            ["NewProtocol", "UDP"],
          ],
          dl,
          sig,
        );
        return r?.kind === "ok" ? { external: grant.external, lifetime: 0 } : undefined;
      }
      const r = await addWithLease(grant.external.port, dl, sig);
      return r?.kind === "ok" ? { external: grant.external, lifetime: lease === 0 ? ttl : lease } : undefined;
    },
  };
  if (signal?.aborted) {
    void grant.request(0, BACKGROUND_TIMEOUT_MS);
    return undefined;
  }
  return grant;
}
