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
  return hkdfSha256(isShortSecret(bytes) ? stretch(bytes) : bytes, "netpunch v2 packet authentication");
}

/** Wire version 1's key (plain HKDF), kept only to tell an old peer with the right secret from a forgery. */
export function deriveKeyV1(secret: string | Uint8Array): Uint8Array {
  return hkdfSha256(toBytes(secret), "netpunch v1 packet authentication");
}

/**
 * scrypt, from node:crypto, required here rather than imported: node:crypto brings Node's stream machinery
 * and costs a peer's start-up about 10 ms, so only a short secret, stretched anyway for ~100 ms, pays it.
 */
function stretch(secret: Uint8Array): Uint8Array {
  const { scryptSync } = require("node:crypto") as typeof import("node:crypto");
  return new Uint8Array(scryptSync(secret, "netpunch v2 secret stretching", 32, SCRYPT));
}

/**
 * HKDF-SHA256 (RFC 5869) with the salt "netpunch", for a 32-byte key: extract PRK = HMAC(salt, ikm), then
 * one expand block T(1) = HMAC(PRK, info | 0x01). The same bytes as node:crypto's hkdfSync (a test compares
 * them), through Bun.CryptoHasher, which needs no module loaded.
 */
function hkdfSha256(ikm: Uint8Array, info: string): Uint8Array {
  const prk = new Bun.CryptoHasher("sha256", HKDF_SALT).update(ikm).digest();
  const block = new Bun.CryptoHasher("sha256", prk).update(info).update(HKDF_FIRST_BLOCK).digest();
  return new Uint8Array(block.buffer, block.byteOffset, 32);
}
const HKDF_SALT = new TextEncoder().encode("netpunch");
/** The counter byte of the first (and, for 32 bytes of SHA-256, only) expand block. */
const HKDF_FIRST_BLOCK = Uint8Array.of(1);

/**
 * HMAC-SHA256 through Bun.CryptoHasher, the fastest way Bun has (bench/codec.ts: about 1.5-2x node:crypto's
 * createHmac for 70-500 bytes, byte-identical tags). One keyed hasher per key is kept, and each packet
 * hashes with a copy of it, so the key's two padded blocks are not hashed again per packet. A key must not
 * be changed in place once used (keys are derived once and never are).
 */
const keyed = new WeakMap<Uint8Array, Bun.CryptoHasher>();
export function hasherFor(key: Uint8Array): Bun.CryptoHasher {
  let h = keyed.get(key);
  if (!h) {
    h = new Bun.CryptoHasher("sha256", key);
    keyed.set(key, h);
  }
  return h.copy();
}
/** digest() into a buffer wants room for the largest digest Bun has (SHA-512's 64 bytes). */
const DIGEST_ROOM = 64;
const digest = new Uint8Array(DIGEST_ROOM);

/** HMAC-SHA256 of `data[0, len)`, into the module's digest buffer (valid until the next call). */
function mac(key: Uint8Array, data: Uint8Array, len: number): Uint8Array {
  hasherFor(key)
    .update(len === data.length ? data : data.subarray(0, len))
    .digest(digest);
  return digest;
}

/** The tag of `data`: HMAC-SHA256 truncated to TAG_LEN bytes. */
export function tag(key: Uint8Array, data: Uint8Array): Uint8Array {
  return mac(key, data, data.length).slice(0, TAG_LEN);
}

/** Writes the tag of `packet[0, len)` at `packet[len, len + TAG_LEN)`, which the caller left room for. */
export function tagInto(key: Uint8Array, packet: Uint8Array, len: number): void {
  const d = mac(key, packet, len);
  for (let i = 0; i < TAG_LEN; i++) packet[len + i] = d[i] ?? 0;
}

/**
 * Whether `packet[len, len + TAG_LEN)` is the tag of `packet[0, len)`: verifyTag without the two views of the
 * packet (DATA's fast path, data.ts), compared the same way. False when the packet is not exactly that long.
 */
export function verifyTagAt(key: Uint8Array, packet: Uint8Array, len: number): boolean {
  if (packet.length !== len + TAG_LEN) return false;
  const d = mac(key, packet, len);
  let diff = 0;
  for (let i = 0; i < TAG_LEN; i++) diff |= (d[i] ?? 0) ^ (packet[len + i] ?? 0);
  return diff === 0;
}

/** Whether `got` is the tag of `data`, compared in constant time (every byte, whatever differs first). */
export function verifyTag(key: Uint8Array, data: Uint8Array, got: Uint8Array): boolean {
  if (got.length !== TAG_LEN) return false;
  const d = mac(key, data, data.length);
  let diff = 0;
  for (let i = 0; i < TAG_LEN; i++) diff |= (d[i] ?? 0) ^ (got[i] ?? 0);
  return diff === 0;
}
