import { Fail } from "./errors.ts";
import type { Endpoint } from "./types.ts";

/** A decimal octet as node:net takes one: 0-255, no sign, no leading zero. */
const OCTET = /^(?:0|[1-9][0-9]{0,2})$/;
/** One group of an IPv6 address: 1 to 4 hex digits. */
const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
/** The characters node:net allows in an IPv6 zone id (`fe80::1%eth0`). */
const ZONE = /^[0-9a-zA-Z.:-]+$/;

function isIPv4(s: string): boolean {
  const parts = s.split(".");
  return parts.length === 4 && parts.every((p) => OCTET.test(p) && Number(p) <= 255);
}

function isIPv6(s: string): boolean {
  const percent = s.indexOf("%");
  if (percent >= 0 && !ZONE.test(s.slice(percent + 1))) return false;
  let text = percent >= 0 ? s.slice(0, percent) : s;
  const lastColon = text.lastIndexOf(":");
  if (lastColon < 0) return false;
  // An embedded dotted quad (::ffff:192.0.2.1) stands for the last two groups.
  if (text.includes(".", lastColon)) {
    if (!isIPv4(text.slice(lastColon + 1))) return false;
    text = `${text.slice(0, lastColon + 1)}0:0`;
  }
  const halves = text.split("::");
  if (halves.length > 2) return false;
  const groups = (h: string | undefined) => (h === undefined || h === "" ? [] : h.split(":"));
  const all = [...groups(halves[0]), ...groups(halves[1])];
  if (!all.every((g) => HEX_GROUP.test(g))) return false;
  // "::" stands for at least one zero group.
  return halves.length === 2 ? all.length <= 7 : all.length === 8;
}

/**
 * 4 for an IPv4 literal, 6 for IPv6, else 0: node:net's isIP, answered the same (a test compares them on a
 * table), without loading node:net, which costs a peer's start-up more than the rest of its address code.
 */
export function isIP(host: string): 0 | 4 | 6 {
  if (isIPv4(host)) return 4;
  return isIPv6(host) ? 6 : 0;
}

/** Strips the IPv4-mapped prefix a dual-stack socket reports, so addresses compare as users write them. */
export function normalizeHost(host: string): string {
  const lower = host.toLowerCase();
  return lower.startsWith("::ffff:") && isIP(lower.slice(7)) === 4 ? lower.slice(7) : lower;
}

export function formatEndpoint(ep: Endpoint): string {
  return isIP(ep.host) === 6 ? `[${ep.host}]:${ep.port}` : `${ep.host}:${ep.port}`;
}

export const sameEndpoint = (a: Endpoint, b: Endpoint): boolean =>
  a.port === b.port && normalizeHost(a.host) === normalizeHost(b.host);

export interface ParsedAddress {
  /** Empty when the user wrote only ":port" (any local address). */
  host: string;
  port: number;
}

/**
 * Parses "host:port", "[v6]:port" or ":port". `what` names the argument in the error,
 * because "invalid address" alone does not tell a user which of three addresses was wrong.
 */
export function parseAddress(
  input: string,
  what: string,
  opts: { allowEmptyHost?: boolean; allowPortZero?: boolean } = {},
): ParsedAddress {
  const fail = (why: string, hint: string): never => {
    throw Fail.badAddress(what, input, why, hint);
  };
  const example = opts.allowEmptyHost
    ? "e.g. :10000, 0.0.0.0:10000 or [::]:10000"
    : "e.g. 198.51.100.7:10001, example.net:10001 or [2001:db8::1]:10001";
  let host: string;
  let portText: string;
  if (input.startsWith("[")) {
    const close = input.indexOf("]");
    if (close < 0 || input[close + 1] !== ":") fail("an IPv6 address needs the form [addr]:port", example);
    host = input.slice(1, close);
    portText = input.slice(close + 2);
    if (isIP(host) !== 6) fail(`"${host}" is not an IPv6 address`, example);
  } else {
    const colon = input.lastIndexOf(":");
    if (colon < 0) fail("the port is missing", example);
    host = input.slice(0, colon);
    portText = input.slice(colon + 1);
    if (host.includes(":")) fail("write IPv6 addresses in brackets", example);
  }
  if (!/^\d{1,5}$/.test(portText)) fail(`port "${portText}" is not a number`, example);
  const port = Number(portText);
  if (port > 65535 || (port === 0 && !opts.allowPortZero))
    fail(`port ${port} is out of range (1-65535)`, example);
  if (host === "" && !opts.allowEmptyHost) fail("the host is missing", example);
  // "1.2.3" would be accepted by the resolver as 1.2.0.3: a typo must not reach another host.
  if (/^[\d.]+$/.test(host) && isIP(host) === 0) fail(`"${host}" is not a valid IPv4 address`, example);
  if (
    host !== "" &&
    isIP(host) === 0 &&
    !/^[a-z0-9]([a-z0-9-]*[a-z0-9])?(\.[a-z0-9]([a-z0-9-]*[a-z0-9])?)*\.?$/i.test(host)
  ) {
    fail(`"${host}" is neither an IP address nor a host name`, example);
  }
  return { host, port };
}

export const isLoopback = (host: string): boolean => {
  const h = normalizeHost(host);
  return h === "::1" || (isIP(h) === 4 && h.startsWith("127."));
};

/** 4 or 6 for an IP address (an IPv4-mapped IPv6 address is 4); undefined for "" (any) or a host name. Pure. */
export function ipFamily(host: string): 4 | 6 | undefined {
  const f = isIP(normalizeHost(host));
  return f === 4 || f === 6 ? f : undefined;
}

/**
 * A local address that cannot reach the server fails here, before anything is sent, instead of as a silent
 * server 10 s later: an IPv4 one for an IPv6 server, or an IPv6 one for an IPv4 server. "::" is left alone:
 * a dual-stack socket bound there reaches IPv4 too. An empty host or a host name is not checked. Pure.
 * @example
 * checkSameFamily({ host: "::1", port: 10000 }, { host: "198.51.100.7", port: 10001 }); // throws E_ADDRESS
 */
export function checkSameFamily(local: ParsedAddress, server: ParsedAddress): void {
  const l = ipFamily(local.host);
  const s = ipFamily(server.host);
  if (l === undefined || s === undefined || l === s) return;
  if (l === 6 && s === 4 && normalizeHost(local.host) === "::") return;
  const at = (a: ParsedAddress) => (a.host ? formatEndpoint(a) : `:${a.port}`);
  throw Fail.familyMismatch(at(local), at(server), l, s, local.port || 10000);
}
