import { formatEndpoint } from "../addr.ts";
import { hasherFor } from "../protocol/auth.ts";
import { COOKIE_LEN } from "../protocol/constants.ts";
import type { Endpoint, Role } from "../types.ts";

/**
 * Return-routability cookies, pure. A cookie is a MAC, under a key the server draws at start-up, of the
 * address a REGISTER came from and what it registers, in a time generation: a peer that echoes it proves it
 * receives at that address now. A server that restarted has a new key, so nothing sealed before it counts.
 */

/**
 * A generation lasts 2 minutes and a cookie is good in its own and the next one (2 to 4 minutes): longer
 * than a keepalive (15 s) and a punch (10 s), short enough that a captured cookie soon dies.
 */
export const COOKIE_GENERATION_MS = 120_000;

/** What a cookie is bound to besides the address: a REGISTER carries these fields, so it can be passed as it is. */
export interface CookieSubject {
  peerId: string;
  session: string;
  role: Role;
}

// The MAC's input is the text `${generation}|${host}:${port}|${peerId}|${role}|${session}` (the address as
// formatEndpoint writes it). Up to three MACs per keepalive, so it is written as bytes into one buffer, and
// hashed with a copy of a hasher keyed once per key (src/protocol/auth.ts hasherFor): no string, no HMAC key
// set-up per call. Anything the fast path does not cover (an IPv6 host, non-ASCII, too long) hashes the text
// itself: the same bytes.

/** Room for the longest subject the fast path takes: generation, IPv4 endpoint, ids and a long session. */
const INPUT_ROOM = 512;
/** digest() into a buffer wants room for the largest digest Bun has (SHA-512's 64 bytes). */
const DIGEST_ROOM = 64;
const PIPE = 0x7c;
const COLON = 0x3a;
const ZERO = 0x30;
const ASCII_END = 0x80;

const input = new Uint8Array(INPUT_ROOM);
const digest = new Uint8Array(DIGEST_ROOM);
const cookie = Buffer.alloc(COOKIE_LEN);
const got = Buffer.alloc(COOKIE_LEN);

/** Writes ASCII `s` at `at`; returns the end, or -1 if it is not ASCII or does not fit. */
function put(s: string, at: number): number {
  if (at < 0 || at + s.length > INPUT_ROOM) return -1;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= ASCII_END) return -1;
    input[at + i] = c;
  }
  return at + s.length;
}

/** Writes the decimal digits of a port (an integer 0-65535) at `at`; -1 for anything else. */
function putPort(port: number, at: number): number {
  if (!Number.isInteger(port) || port < 0 || port > 65_535 || at + 5 > INPUT_ROOM) return -1;
  let digits = 1;
  for (let p = port; p >= 10; p = Math.floor(p / 10)) digits++;
  for (let i = digits - 1, p = port; i >= 0; i--, p = Math.floor(p / 10)) input[at + i] = ZERO + (p % 10);
  return at + digits;
}

let lastGeneration = Number.NaN;
let generationText = "";

/** The subject's bytes in `input`; their length, or -1 where the fast path does not apply. */
function subjectBytes(generation: number, from: Endpoint, s: CookieSubject): number {
  if (generation !== lastGeneration) {
    lastGeneration = generation;
    generationText = String(generation);
  }
  if (from.host.includes(":")) return -1; // IPv6: formatEndpoint brackets it
  let n = put(generationText, 0);
  if (n >= 0) input[n++] = PIPE;
  n = put(from.host, n);
  if (n >= 0) input[n++] = COLON;
  n = putPort(from.port, n);
  if (n >= 0) input[n++] = PIPE;
  n = put(s.peerId, n);
  if (n >= 0) input[n++] = PIPE;
  n = put(s.role, n);
  if (n >= 0) input[n++] = PIPE;
  return put(s.session, n);
}

/** The cookie for `generation`, into the module's `cookie` buffer (valid until the next call). */
function mac(key: Uint8Array, generation: number, from: Endpoint, s: CookieSubject): Buffer {
  const h = hasherFor(key);
  const n = subjectBytes(generation, from, s);
  if (n >= 0) h.update(input.subarray(0, n));
  else h.update(`${generation}|${formatEndpoint(from)}|${s.peerId}|${s.role}|${s.session}`);
  h.digest(digest);
  cookie[0] = generation & 0xff; // tells the verifier which of the two live generations to try
  cookie.set(digest.subarray(0, COOKIE_LEN - 1), 1);
  return cookie;
}

export function makeCookie(key: Uint8Array, now: number, from: Endpoint, s: CookieSubject): string {
  return mac(key, Math.floor(now / COOKIE_GENERATION_MS), from, s).toString("hex");
}

export function checkCookie(
  key: Uint8Array,
  hex: string,
  now: number,
  from: Endpoint,
  s: CookieSubject,
): boolean {
  // Exactly COOKIE_LEN bytes of hex (the codec only ever delivers that); anything else is no cookie.
  if (hex.length !== 2 * COOKIE_LEN || got.write(hex, "hex") !== COOKIE_LEN) return false;
  const current = Math.floor(now / COOKIE_GENERATION_MS);
  for (let g = current; g >= current - 1; g--) {
    if ((g & 0xff) !== got[0]) continue;
    const want = mac(key, g, from, s);
    let diff = 0; // constant time: every byte is compared, whatever differs first
    for (let i = 0; i < COOKIE_LEN; i++) diff |= (want[i] as number) ^ (got[i] as number);
    if (diff === 0) return true;
  }
  return false;
}
