import { isIP, type ParsedAddress } from "../addr.ts";
import { Fail } from "../errors.ts";
import type { Endpoint } from "../types.ts";

/**
 * Resolves the server's host name once, up front, so a typo fails fast with a clear message. The resolver
 * is imported only for a name: a server given as an IP address costs no start-up time here.
 */
export async function resolveServer(addr: ParsedAddress): Promise<Endpoint> {
  const [first] = await resolveServerAll(addr);
  return first as Endpoint;
}

/**
 * Every address record of the server's name (A and AAAA, in the system resolver's order, each once), each at
 * the given port: a name with one record per server (several servers behind one name) is several servers.
 * An IP address is itself.
 */
export async function resolveServerAll(addr: ParsedAddress): Promise<Endpoint[]> {
  if (isIP(addr.host)) return [{ host: addr.host, port: addr.port }];
  let found: { address: string }[];
  try {
    const { lookup } = await import("node:dns/promises");
    found = await lookup(addr.host, { all: true });
  } catch (e) {
    throw Fail.unresolved(addr.host, e);
  }
  if (found.length === 0) throw Fail.unresolved(addr.host);
  const hosts = [...new Set(found.map((f) => f.address))];
  return hosts.map((host) => ({ host, port: addr.port }));
}
