import { describe, expect, test } from "bun:test";
import { createHmac } from "node:crypto";
import { formatEndpoint } from "../../../src/addr.ts";
import { COOKIE_LEN } from "../../../src/protocol/constants.ts";
import {
  COOKIE_GENERATION_MS,
  type CookieSubject,
  checkCookie,
  makeCookie,
} from "../../../src/rendezvous/cookie.ts";
import type { Endpoint } from "../../../src/types.ts";

const KEY = new Uint8Array(32).fill(7);
const OTHER_KEY = new Uint8Array(32).fill(8);

/** The cookie as the server made it before bytes and Bun.CryptoHasher (node:crypto over the text): the oracle. */
function reference(key: Uint8Array, now: number, from: Endpoint, s: CookieSubject): string {
  const generation = Math.floor(now / COOKIE_GENERATION_MS);
  const h = createHmac("sha256", key)
    .update(`${generation}|${formatEndpoint(from)}|${s.peerId}|${s.role}|${s.session}`)
    .digest();
  const out = Buffer.alloc(COOKIE_LEN);
  out[0] = generation & 0xff;
  h.copy(out, 1, 0, COOKIE_LEN - 1);
  return out.toString("hex");
}

const subject: CookieSubject = { peerId: "0123456789abcdef", session: "s1", role: "a" };
const cases: [string, Endpoint, CookieSubject, number][] = [
  ["IPv4", { host: "198.51.100.7", port: 40001 }, subject, 1_000],
  ["port 1", { host: "203.0.113.1", port: 1 }, subject, 0],
  ["port 65535", { host: "192.0.2.200", port: 65_535 }, { ...subject, role: "b" }, 7 * COOKIE_GENERATION_MS],
  ["IPv6 (bracketed)", { host: "2001:db8::1", port: 10001 }, subject, 1_000],
  ["v4-mapped IPv6", { host: "::ffff:198.51.100.7", port: 10001 }, subject, 1_000],
  ["a long session", { host: "198.18.0.1", port: 9 }, { ...subject, session: "x.y@z:+-_".repeat(7) }, 1e12],
  [
    "a session past the fast path's room",
    { host: "198.18.0.1", port: 9 },
    { ...subject, session: "s".repeat(600) },
    5,
  ],
  ["a generation past 255", { host: "198.18.0.1", port: 9 }, subject, 300 * COOKIE_GENERATION_MS + 1],
];

describe("cookies", () => {
  test.each(cases)("%s: byte-identical to the HMAC of the subject's text", (_, from, s, now) => {
    expect(makeCookie(KEY, now, from, s)).toBe(reference(KEY, now, from, s));
    expect(makeCookie(OTHER_KEY, now, from, s)).toBe(reference(OTHER_KEY, now, from, s));
  });

  test("good in its own generation and the next, not after", () => {
    const from = { host: "198.51.100.7", port: 40001 };
    const c = makeCookie(KEY, 10, from, subject);
    expect(checkCookie(KEY, c, COOKIE_GENERATION_MS - 1, from, subject)).toBe(true);
    expect(checkCookie(KEY, c, 2 * COOKIE_GENERATION_MS - 1, from, subject)).toBe(true);
    expect(checkCookie(KEY, c, 2 * COOKIE_GENERATION_MS, from, subject)).toBe(false);
  });

  test("bound to the key, the address, the peer, the role and the session", () => {
    const from = { host: "198.51.100.7", port: 40001 };
    const c = makeCookie(KEY, 10, from, subject);
    expect(checkCookie(KEY, c, 10, from, subject)).toBe(true);
    expect(checkCookie(OTHER_KEY, c, 10, from, subject)).toBe(false);
    expect(checkCookie(KEY, c, 10, { ...from, port: 40002 }, subject)).toBe(false);
    expect(checkCookie(KEY, c, 10, { ...from, host: "198.51.100.8" }, subject)).toBe(false);
    expect(checkCookie(KEY, c, 10, from, { ...subject, peerId: "fedcba9876543210" })).toBe(false);
    expect(checkCookie(KEY, c, 10, from, { ...subject, role: "b" })).toBe(false);
    expect(checkCookie(KEY, c, 10, from, { ...subject, session: "s2" })).toBe(false);
  });

  test("anything but COOKIE_LEN bytes of hex is refused", () => {
    const from = { host: "198.51.100.7", port: 40001 };
    const c = makeCookie(KEY, 10, from, subject);
    for (const bad of ["", c.slice(2), `${c}00`, `${c.slice(0, -1)}z`, `${c.slice(0, -2)}`])
      expect(checkCookie(KEY, bad, 10, from, subject)).toBe(false);
  });
});
