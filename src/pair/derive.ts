// What a pairing derives from its PAKE key, the same on both sides and unknown to the server: the long-term
// pair key (HKDF, RFC 5869, over SHA-512), and from the pair key the session name of the tunnel and, when
// nobody gave one, the two tunnel addresses. Pure.
import { isIP } from "node:net";
import { hkdf } from "@noble/hashes/hkdf.js";
import { sha512 } from "@noble/hashes/sha2.js";
import type { Role } from "../types.ts";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);
const hex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

/** 32 bytes: a 256-bit key, as the server secret's. */
export const PAIR_KEY_BYTES = 32;
/** 16 bytes (32 hex digits) of a session name: no two pairs meet by chance, and it fits MAX_SESSION_LEN (64). */
const SESSION_ID_BYTES = 16;

/**
 * The pair key: HKDF-SHA-512 of CPace's ISK, salted with its public sid_output (the draft recommends a KDF
 * over ISK before use). Both sides get it only when they used the same code and saw the same messages.
 */
export const derivePairKey = (isk: Uint8Array, sid: Uint8Array): Uint8Array =>
  hkdf(sha512, isk, sid, utf8("netpunch pair key v1"), PAIR_KEY_BYTES);

/** The rendezvous session the two sides first meet in: named by the nameplate alone (public). */
export const codeSession = (nameplate: number): string => `pair-v1-${nameplate}`;

/**
 * The session of the confirmation exchange: the nameplate's too, not anything of the messages, so that the
 * two sides meet there even when the server altered a message (and both then see it, at once).
 */
export const confirmSession = (nameplate: number): string => `pair-v1-${nameplate}-confirm`;

/** The session the paired tunnel meets in under `up`: from the pair key, so only the pair knows it in advance. */
export const tunnelSession = (pairKey: Uint8Array): string =>
  `np-${hex(hkdf(sha512, pairKey, undefined, utf8("netpunch tunnel session v1"), SESSION_ID_BYTES))}`;

/** The host part of a side's address: a gets 1 and b gets 2, so the two never collide. */
const hostNumber = (role: Role): number => (role === "a" ? 1 : 2);

/** 40 bits: the Global ID of a unique local IPv6 prefix (RFC 4193 3.2), here from the pair key. */
const ULA_GLOBAL_ID_BYTES = 5;
/** fd00::/8 with the L bit set: a locally assigned unique local address (RFC 4193). */
const ULA_FIRST_BYTE = 0xfd;

/**
 * This side's IPv6 tunnel address: the pair's own unique local /64 (fdXX:XXXX:XXXX::/48 from the pair key,
 * subnet 0), host ::1 for a and ::2 for b. Collides with another pair's only by chance (1 in 2^40).
 */
export function ulaAddress(pairKey: Uint8Array, role: Role): string {
  const id = hkdf(sha512, pairKey, undefined, utf8("netpunch ula v1"), ULA_GLOBAL_ID_BYTES);
  const b = [ULA_FIRST_BYTE, ...id];
  const group = (i: number) => (((b[i] ?? 0) << 8) | (b[i + 1] ?? 0)).toString(16);
  return `${group(0)}:${group(2)}:${group(4)}::${hostNumber(role)}/64`;
}

/** A /30 holds the two hosts (.1 and .2) with its network and broadcast addresses, as openvpn's --ifconfig wants. */
const IPV4_BLOCK_PREFIX = 30;

const ipv4ToNumber = (ip: string): number => ip.split(".").reduce((n, part) => n * 256 + Number(part), 0);
const numberToIpv4 = (n: number): string =>
  [24, 16, 8, 0].map((shift) => Math.floor(n / 2 ** shift) % 256).join(".");

/** An IPv4 range such as 198.18.0.0/16, as [network, prefix]; undefined when it is not one, or smaller than a /30. */
export function parseIpv4Range(range: string): [number, number] | undefined {
  const [ip, prefix, ...rest] = range.split("/");
  if (ip === undefined || prefix === undefined || rest.length > 0 || isIP(ip) !== 4) return undefined;
  if (!/^\d{1,2}$/.test(prefix) || Number(prefix) > IPV4_BLOCK_PREFIX) return undefined;
  const size = 2 ** (32 - Number(prefix));
  return [Math.floor(ipv4ToNumber(ip) / size) * size, Number(prefix)];
}

/**
 * This side's IPv4 tunnel address from a range both sides were given: one /30 of the range picked by the
 * pair key, host .1 for a and .2 for b. Undefined when `range` is not an IPv4 range of at least a /30.
 */
export function ipv4Address(pairKey: Uint8Array, role: Role, range: string): string | undefined {
  const parsed = parseIpv4Range(range);
  if (parsed === undefined) return undefined;
  const [network, prefix] = parsed;
  const blocks = 2 ** (IPV4_BLOCK_PREFIX - prefix);
  const pick = hkdf(sha512, pairKey, undefined, utf8("netpunch ipv4 v1"), 4);
  const index =
    (((pick[0] ?? 0) << 24) >>> 0) + ((pick[1] ?? 0) << 16) + ((pick[2] ?? 0) << 8) + (pick[3] ?? 0);
  const block = network + (index % blocks) * 2 ** (32 - IPV4_BLOCK_PREFIX);
  return `${numberToIpv4(block + hostNumber(role))}/${IPV4_BLOCK_PREFIX}`;
}

/** The bits of an address, for comparing prefixes. */
function addressBits(ip: string): string {
  if (isIP(ip) === 4)
    return ip
      .split(".")
      .map((p) => Number(p).toString(2).padStart(8, "0"))
      .join("");
  const [head = "", tail = ""] = ip.split("::");
  const h = head ? head.split(":") : [];
  const t = ip.includes("::") ? (tail ? tail.split(":") : []) : [];
  const groups = [...h, ...Array(8 - h.length - t.length).fill("0"), ...t];
  return groups
    .map((g) =>
      Number.parseInt(g || "0", 16)
        .toString(2)
        .padStart(16, "0"),
    )
    .join("");
}

/**
 * Whether two tunnel addresses with prefixes (198.18.201.1/24, 198.18.201.2/24) can talk: the same family,
 * the same prefix length, the same network, and not the same address. Pure.
 */
export function sameSubnet(mine: string, theirs: string): boolean {
  const [a = "", pa = ""] = mine.split("/");
  const [b = "", pb = ""] = theirs.split("/");
  if (isIP(a) === 0 || isIP(a) !== isIP(b) || pa !== pb) return false;
  const bitsA = addressBits(a);
  const bitsB = addressBits(b);
  return bitsA !== bitsB && bitsA.slice(0, Number(pa)) === bitsB.slice(0, Number(pa));
}
