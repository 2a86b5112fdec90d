import { createHmac, hkdfSync, timingSafeEqual } from "node:crypto";
import { TAG_LEN } from "./constants.ts";

/**
 * The packet key. HKDF separates it from the raw secret, so the secret itself is never used as an HMAC
 * key and a later protocol version can derive an independent key from the same secret.
 */
export function deriveKey(secret: string | Uint8Array): Uint8Array {
  return new Uint8Array(hkdfSync("sha256", secret, "netpunch", "netpunch v1 packet authentication", 32));
}

export function tag(key: Uint8Array, data: Uint8Array): Uint8Array {
  return createHmac("sha256", key).update(data).digest().subarray(0, TAG_LEN);
}

export function verifyTag(key: Uint8Array, data: Uint8Array, got: Uint8Array): boolean {
  return got.length === TAG_LEN && timingSafeEqual(tag(key, data), got);
}
