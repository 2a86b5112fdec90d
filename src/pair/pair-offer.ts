// A side's tunnel offer inside the pairing handshake (CPace's AD): which hook, its public key (WireGuard's
// X25519 public key, or the SHA-256 fingerprint of OpenVPN's certificate) and its tunnel address, in a
// compact binary form so that the whole pairing message stays far within the wire's MAX_OFFER_LEN (192):
// 1 + 32 + 1 + 32 + at most 64 bytes of address text. Pure.
import { isIP } from "node:net";
import { Fail } from "../errors.ts";

export const PAIR_HOOKS = ["wireguard", "openvpn"] as const;
export type PairHook = (typeof PAIR_HOOKS)[number];

/** A WireGuard key and a SHA-256 fingerprint are both 32 bytes. */
export const PAIR_KEY_LEN = 32;
/** An address's text: "ffff:...:ffff/128" is 43 characters; a range marker "@" and an IPv4 range fewer. */
const MAX_ADDRESS_TEXT = 64;

/**
 * Where a side's tunnel address comes from: given (`cidr`, e.g. 198.18.201.1/24), or derived from the pair
 * key once there is one (`range` for IPv4 from a range both were given, `ula` for the pair's IPv6 ULA).
 */
export type AddressSpec = { cidr: string } | { range: string } | { ula: true };

export interface PairOffer {
  hook: PairHook;
  key: Uint8Array;
  address: AddressSpec;
}

const addressText = (a: AddressSpec): string =>
  "cidr" in a ? a.cidr : "range" in a ? `@${a.range}` : "@ula";

function parseAddressText(text: string): AddressSpec | undefined {
  if (text === "@ula") return { ula: true };
  const body = text.startsWith("@") ? text.slice(1) : text;
  const [ip, prefix, ...rest] = body.split("/");
  if (
    ip === undefined ||
    prefix === undefined ||
    rest.length > 0 ||
    isIP(ip) === 0 ||
    !/^\d{1,3}$/.test(prefix)
  )
    return undefined;
  if (Number(prefix) > (isIP(ip) === 4 ? 32 : 128)) return undefined;
  return text.startsWith("@") ? { range: body } : { cidr: body };
}

export function encodePairOffer(o: PairOffer): Uint8Array {
  const text = new TextEncoder().encode(addressText(o.address));
  if (o.key.length !== PAIR_KEY_LEN || text.length > MAX_ADDRESS_TEXT) throw new RangeError("bad pair offer");
  const out = new Uint8Array(2 + PAIR_KEY_LEN + text.length);
  out[0] = PAIR_HOOKS.indexOf(o.hook) + 1;
  out.set(o.key, 1);
  out[1 + PAIR_KEY_LEN] = text.length;
  out.set(text, 2 + PAIR_KEY_LEN);
  return out;
}

/** The partner's offer; E_PAIR (bad-message) when it is not one this netpunch reads. */
export function decodePairOffer(bytes: Uint8Array): PairOffer {
  const hook = PAIR_HOOKS[(bytes[0] ?? 0) - 1];
  const len = bytes[1 + PAIR_KEY_LEN];
  if (hook === undefined || len === undefined || bytes.length !== 2 + PAIR_KEY_LEN + len)
    throw Fail.pairFailed("bad-message");
  let text: string;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes.subarray(2 + PAIR_KEY_LEN));
  } catch {
    throw Fail.pairFailed("bad-message");
  }
  const address = parseAddressText(text);
  if (address === undefined) throw Fail.pairFailed("bad-message");
  return { hook, key: Uint8Array.from(bytes.subarray(1, 1 + PAIR_KEY_LEN)), address };
}
