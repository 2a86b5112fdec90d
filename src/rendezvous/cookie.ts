import { createHmac, timingSafeEqual } from "node:crypto";
import { formatEndpoint } from "../addr.ts";
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

export interface CookieSubject {
  from: Endpoint;
  peerId: string;
  session: string;
  role: Role;
}

function mac(key: Uint8Array, generation: number, s: CookieSubject): Buffer {
  const h = createHmac("sha256", key)
    .update(`${generation}|${formatEndpoint(s.from)}|${s.peerId}|${s.role}|${s.session}`)
    .digest();
  const out = Buffer.alloc(COOKIE_LEN);
  out[0] = generation & 0xff; // tells the verifier which of the two live generations to try
  h.copy(out, 1, 0, COOKIE_LEN - 1);
  return out;
}

export function makeCookie(key: Uint8Array, now: number, s: CookieSubject): string {
  return mac(key, Math.floor(now / COOKIE_GENERATION_MS), s).toString("hex");
}

export function checkCookie(key: Uint8Array, cookie: string, now: number, s: CookieSubject): boolean {
  const got = Buffer.from(cookie, "hex");
  if (got.length !== COOKIE_LEN) return false;
  const current = Math.floor(now / COOKIE_GENERATION_MS);
  for (const g of [current, current - 1]) {
    if ((g & 0xff) === got[0] && timingSafeEqual(mac(key, g, s), got)) return true;
  }
  return false;
}
