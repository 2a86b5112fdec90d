import { lookup } from "node:dns/promises";
import { isIP } from "node:net";
import type { ParsedAddress } from "./addr.ts";
import { NetpunchError } from "./errors.ts";
import type { Endpoint } from "./types.ts";

/** Resolves the server's host name once, up front, so a typo fails fast with a clear message. */
export async function resolveServer(addr: ParsedAddress): Promise<Endpoint> {
  if (isIP(addr.host)) return { host: addr.host, port: addr.port };
  try {
    const found = await lookup(addr.host);
    return { host: found.address, port: addr.port };
  } catch (e) {
    throw new NetpunchError(
      "E_RESOLVE",
      `cannot resolve the server host "${addr.host}"`,
      "check the spelling and this host's DNS, or give the server's IP address",
      { cause: e },
    );
  }
}
