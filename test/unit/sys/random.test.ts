import { describe, expect, test } from "bun:test";
import { systemRandom, toHex } from "../../../src/sys/random.ts";

describe("systemRandom", () => {
  test("bytes are the size asked, each draw its own copy, never the same bytes twice", () => {
    const seen = new Set<string>();
    // Past several refills of the pool, with sizes that do not divide it.
    for (let i = 0; i < 2_000; i++) {
      const b = systemRandom.bytes(12);
      expect(b.length).toBe(12);
      expect(b.byteOffset).toBe(0);
      seen.add(toHex(b));
    }
    expect(seen.size).toBe(2_000);
    const kept = systemRandom.bytes(32);
    const copy = Uint8Array.from(kept);
    for (let i = 0; i < 1_000; i++) systemRandom.bytes(7);
    expect(kept).toEqual(copy); // later draws do not write into a key someone kept
  });

  test("draws larger than the pool, and larger than one getRandomValues call, are filled", () => {
    for (const n of [5_000, 100_000]) {
      const b = systemRandom.bytes(n);
      expect(b.length).toBe(n);
      // A zero-filled tail would mean a chunk was never drawn: 4 KB of zeros by chance is impossible.
      expect(b.subarray(n - 4_096).some((x) => x !== 0)).toBe(true);
    }
  });

  test("float is in [0, 1) and varies", () => {
    const xs = Array.from({ length: 200 }, () => systemRandom.float());
    expect(xs.every((x) => x >= 0 && x < 1)).toBe(true);
    expect(new Set(xs).size).toBeGreaterThan(190);
  });

  test("toHex reads a view in place", () => {
    const b = new Uint8Array([0, 1, 0xab, 0xff, 9]);
    expect(toHex(b.subarray(1, 4))).toBe("01abff");
  });
});
