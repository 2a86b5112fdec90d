import { randomBytes } from "node:crypto";

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

/** node:crypto's generator: what the drivers use unless told otherwise. */
export const systemRandom: Random = {
  bytes: (n) => new Uint8Array(randomBytes(n)),
  float: () => randomBytes(4).readUInt32BE(0) / U32,
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
