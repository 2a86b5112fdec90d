// The shipped word list (src/pair/words.ts) keeps the properties its comment promises.
import { expect, test } from "bun:test";
import { editDistance } from "../../../src/pair/code.ts";
import { WORDS } from "../../../src/pair/words.ts";

test("256 distinct words, sorted, lowercase a-z, 4 to 8 letters", () => {
  expect(WORDS).toHaveLength(256);
  expect(new Set(WORDS).size).toBe(256);
  expect([...WORDS].sort()).toEqual([...WORDS]);
  for (const w of WORDS) expect(w).toMatch(/^[a-z]{4,8}$/);
});

test("no two words share their first three letters", () => {
  const prefixes = new Set(WORDS.map((w) => w.slice(0, 3)));
  expect(prefixes.size).toBe(WORDS.length);
});

test("any two words differ in at least three letters (edit distance)", () => {
  const close: string[] = [];
  for (let i = 0; i < WORDS.length; i++)
    for (let j = i + 1; j < WORDS.length; j++) {
      const a = WORDS[i] as string;
      const b = WORDS[j] as string;
      if (editDistance(a, b) < 3) close.push(`${a}/${b}`);
    }
  expect(close).toEqual([]);
});

test("editDistance counts insertions, deletions and substitutions", () => {
  expect(editDistance("guitar", "guitar")).toBe(0);
  expect(editDistance("guitar", "gitar")).toBe(1);
  expect(editDistance("kitten", "sitting")).toBe(3);
});
