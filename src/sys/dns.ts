import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { ParsedAddress } from "../addr.ts";
import { Fail } from "../errors.ts";
import type { Endpoint } from "../types.ts";

/** Resolves the server's host name once, up front, so a typo fails fast with a clear message. */
export async function resolveServer(addr: ParsedAddress): Promise<Endpoint> {
  if (isIP(addr.host)) return { host: addr.host, port: addr.port };
  try {
    const found = await lookup(addr.host);
    return { host: found.address, port: addr.port };
  } catch (e) {
    throw Fail.unresolved(addr.host, e);
  }
}
