import { createHmac, hkdfSync, scryptSync, timingSafeEqual } from "node:crypto";
import { TAG_LEN } from "./constants.ts";

/**
 * A secret of at least this many bytes is used as it is (HKDF only): 32 random bytes cannot be guessed, and
 * `netpunch keygen` makes 43 characters. Anything shorter may be a word a person chose, so it is stretched.
 */
export const STRONG_SECRET_BYTES = 32;

/**
 * scrypt cost for short secrets: N = 2^15, r = 8 (32 MiB, about 100 ms once per process on this project's
 * machines), which makes each offline guess 16,000 to 48,000 times dearer than HKDF+HMAC (bench/kdf.ts),
 * above the 10,000x asked for. p = 1: parallelism would help an attacker as much as us.
 */
export const SCRYPT = { N: 2 ** 15, r: 8, p: 1, maxmem: 64 * 1024 * 1024 } as const;

/** Whether the secret is stretched with scrypt before use. Both sides decide from the secret alone. */
export const isShortSecret = (secret: Uint8Array): boolean => secret.length < STRONG_SECRET_BYTES;

const toBytes = (secret: string | Uint8Array): Uint8Array =>
  typeof secret === "string" ? new TextEncoder().encode(secret) : secret;

/**
 * The packet key (wire version 2). HKDF separates it from the raw secret, so the secret itself is never an
 * HMAC key; a short secret goes through scrypt first, so a captured packet does not make guessing it cheap.
 */
export function deriveKey(secret: string | Uint8Array): Uint8Array {
  const bytes = toBytes(secret);
  const ikm = isShortSecret(bytes) ? scryptSync(bytes, "netpunch v2 secret stretching", 32, SCRYPT) : bytes;
  return new Uint8Array(hkdfSync("sha256", ikm, "netpunch", "netpunch v2 packet authentication", 32));
}

/** Wire version 1's key (plain HKDF), kept only to tell an old peer with the right secret from a forgery. */
export function deriveKeyV1(secret: string | Uint8Array): Uint8Array {
  return new Uint8Array(
    hkdfSync("sha256", toBytes(secret), "netpunch", "netpunch v1 packet authentication", 32),
  );
}

export function tag(key: Uint8Array, data: Uint8Array): Uint8Array {
  return createHmac("sha256", key).update(data).digest().subarray(0, TAG_LEN);
}

export function verifyTag(key: Uint8Array, data: Uint8Array, got: Uint8Array): boolean {
  return got.length === TAG_LEN && timingSafeEqual(tag(key, data), got);
}
