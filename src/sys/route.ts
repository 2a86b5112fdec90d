// The default IPv4 gateway, from Linux's routing table: where port mapping (src/portmap/) sends its requests
// when the caller names no gateway.
import { readFileSync } from "node:fs";
import { endianness } from "node:os";

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
 * order, so on little-endian machines "010212C6" is 198.18.2.1.
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
