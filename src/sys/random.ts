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

/** getRandomValues fills at most this many bytes per call (Web Crypto's quota). */
const QUOTA = 65_536;

/**
 * The OS's CSPRNG through Web Crypto, a global: what the drivers use unless told otherwise. Not node:crypto,
 * whose import costs every peer's start-up about 10 ms.
 */
export const systemRandom: Random = {
  bytes: (n) => {
    const out = new Uint8Array(n);
    for (let at = 0; at < n; at += QUOTA) crypto.getRandomValues(out.subarray(at, at + QUOTA));
    return out;
  },
  float: () => (crypto.getRandomValues(new Uint32Array(1))[0] ?? 0) / U32,
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

export const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");
