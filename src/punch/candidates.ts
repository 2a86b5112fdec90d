import { networkInterfaces } from "node:os";
import { isIP, isLoopback, normalizeHost } from "../addr.ts";
import { MAX_CANDIDATES } from "../protocol/constants.ts";
import type { Endpoint } from "../types.ts";

/**
 * This host's addresses with the local port, offered to the partner as LAN candidates. Punching them too is
 * what makes two peers behind the same NAT connect when that NAT does not hairpin.
 * When the server is on loopback everything is on this host, so only loopback is offered: a test never
 * sends to a real interface address.
 */
export function lanCandidates(
  opts: {
    port: number;
    bindHost: string;
    server: Endpoint;
    family: 4 | 6;
  },
  interfaces: InterfaceAddress[] = systemInterfaces(),
): Endpoint[] {
  const { port, bindHost, server, family } = opts;
  if (bindHost !== "" && bindHost !== "0.0.0.0" && bindHost !== "::")
    return [{ host: normalizeHost(bindHost), port }];
  if (isLoopback(server.host)) return [{ host: family === 4 ? "127.0.0.1" : "::1", port }];
  const out: Endpoint[] = [];
  for (const info of interfaces) {
    if (info.internal) continue;
    const fam = isIP(info.address);
    // Link-local v6 needs a scope id the partner cannot use; a v4 socket cannot use v6 at all.
    if (fam === 6 && (family === 4 || info.address.toLowerCase().startsWith("fe80:"))) continue;
    if (fam === 4 && info.address.startsWith("169.254.")) continue;
    out.push({ host: normalizeHost(info.address), port });
  }
  return out.slice(0, MAX_CANDIDATES);
}

/** One address of one interface, as os.networkInterfaces() lists it (the fields netpunch reads). */
export interface InterfaceAddress {
  address: string;
  family: string;
  internal: boolean;
}

/** This host's interface addresses, every interface's in one list. */
export const systemInterfaces = (): InterfaceAddress[] =>
  Object.values(networkInterfaces()).flatMap((list) => list ?? []);
