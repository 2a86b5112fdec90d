/**
 * Randomness, passed in: nonces, peer and pair ids, keys, probe ids, port choices. The drivers draw only from
 * a Random, so a simulation can seed one and replay a run exactly.
 */
export interface Random {
  bytes(n: number): Uint8Array;
  /** A float in [0, 1). */
  float(): number;
}

const U32 = 0x1_0000_0000;

/**
 * @default 4096 bytes: the system generator is asked once per 341 nonces (12 bytes) instead of once per
 * nonce, a server's reply and a keepalive each drawing one; small enough that its refill is a short call.
 */
const POOL_BYTES = 4096;
/** getRandomValues fills at most 65,536 bytes per call (Web Crypto's quota). */
const MAX_FILL = 65_536;
const pool = new Uint8Array(POOL_BYTES);
let used = POOL_BYTES;

/** `n` bytes from the system's CSPRNG, cut from a pool refilled with crypto.getRandomValues. */
function systemBytes(n: number): Uint8Array {
  if (n > POOL_BYTES) {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += MAX_FILL) crypto.getRandomValues(out.subarray(at, at + MAX_FILL));
    return out;
  }
  if (used + n > POOL_BYTES) {
    crypto.getRandomValues(pool);
    used = 0;
  }
  // A copy (the caller keeps it, e.g. as a key), and the pool's bytes are never handed out twice.
  const out = pool.slice(used, used + n);
  used += n;
  return out;
}

/**
 * The system's CSPRNG (Web Crypto's getRandomValues, a global): what the drivers use unless told otherwise.
 * Not node:crypto, whose import costs every peer's start-up about 10 ms.
 */
export const systemRandom: Random = {
  bytes: systemBytes,
  float: () => {
    const [b0 = 0, b1 = 0, b2 = 0, b3 = 0] = systemBytes(4);
    return (((b0 << 24) | (b1 << 16) | (b2 << 8) | b3) >>> 0) / U32;
  },
};

/**
 * A seeded generator (mulberry32: 32 bits of state, fast, well mixed): the same seed gives the same stream.
 * For tests and simulations only; never for keys that must stay secret.
 */
export function seededRandom(seed: number): Random {
  let a = seed >>> 0;
  const float = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / U32;
  };
  return { float, bytes: (n) => Uint8Array.from({ length: n }, () => Math.floor(float() * 256)) };
}

/** Lowercase hex of `b`, read in place (no copy). */
export const toHex = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString("hex");
