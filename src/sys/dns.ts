import { isIP, type ParsedAddress } from "../addr.ts";
import { Fail } from "../errors.ts";
import type { Endpoint } from "../types.ts";

/**
 * Resolves the server's host name once, up front, so a typo fails fast with a clear message. The resolver
 * is imported only for a name: a server given as an IP address costs no start-up time here.
 */
export async function resolveServer(addr: ParsedAddress): Promise<Endpoint> {
  if (isIP(addr.host)) return { host: addr.host, port: addr.port };
  try {
    const { lookup } = await import("node:dns/promises");
    const found = await lookup(addr.host);
    return { host: found.address, port: addr.port };
  } catch (e) {
    throw Fail.unresolved(addr.host, e);
  }
}
