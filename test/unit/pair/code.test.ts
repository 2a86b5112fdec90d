// Pairing codes (src/pair/code.ts): format, parsing with shortened words and suggestions, uniform drawing.
import { describe, expect, test } from "bun:test";
import { NetpunchError } from "../../../src/errors.ts";
import { formatCode, guessOdds, newCode, parseCode } from "../../../src/pair/code.ts";
import { WORDS } from "../../../src/pair/words.ts";

function codeError(text: string): string {
  try {
    parseCode(text);
  } catch (e) {
    if (!(e instanceof NetpunchError)) throw e;
    expect(e.code).toBe("E_CODE");
    expect(e.exitCode).toBe(2);
    return e.message;
  }
  throw new Error(`"${text}" parsed`);
}

describe("pairing codes", () => {
  test("format and parse round-trip", () => {
    const code = { nameplate: 7, words: ["guitar", "meadow"] };
    expect(formatCode(code)).toBe("7-guitar-meadow");
    expect(parseCode("7-guitar-meadow")).toEqual(code);
  });

  test.each([
    ["spaces, capitals and stray separators", " 7  Guitar--MEADOW "],
    ["three letters per word", "7-gui-mea"],
    ["a longer prefix", "7-guit-meado"],
  ])("parse accepts %s", (_what, text) => {
    expect(parseCode(text)).toEqual({ nameplate: 7, words: ["guitar", "meadow"] });
  });

  test("three words parse too", () => {
    expect(parseCode("999-acid-yogurt-lemon").words).toEqual(["acid", "yogurt", "lemon"]);
  });

  test.each([
    ["", "empty"],
    ["0-guitar-meadow", '"0" is not a number'],
    ["1000-guitar-meadow", '"1000" is not a number'],
    ["x-guitar-meadow", '"x" is not a number'],
    ["7-guitar", "1 word(s)"],
    ["7-a-b-c-d", "4 word(s)"],
    ["7-gu-meadow", '"gu" is not one of the code words'],
  ])("parse refuses %p (%s)", (text, says) => {
    expect(codeError(text)).toContain(says);
  });

  test("a mistyped word is refused with the word it is near", () => {
    expect(codeError("7-gitar-meadow")).toContain('did you mean "guitar"?');
    expect(codeError("7-guitar-zzzzzzzz")).not.toContain("did you mean");
  });

  test("newCode draws a nameplate in 1-999 and words of the list", () => {
    let i = 0;
    const bytes = (n: number) => Uint8Array.from({ length: n }, () => (i++ * 37) & 0xff);
    for (let k = 0; k < 50; k++) {
      const c = newCode(bytes);
      expect(c.nameplate).toBeGreaterThanOrEqual(1);
      expect(c.nameplate).toBeLessThanOrEqual(999);
      expect(c.words).toHaveLength(2);
      for (const w of c.words) expect(WORDS).toContain(w);
      expect(parseCode(formatCode(c))).toEqual(c);
    }
  });

  test("newCode rejects the bytes that would favour low nameplates", () => {
    // 0xffff is above the largest multiple of 999 below 65,536: drawn again, not folded onto a small number
    const draws = [Uint8Array.of(0xff, 0xff), Uint8Array.of(0, 41), Uint8Array.of(3, 4)];
    const c = newCode((n) => (n === 2 ? (draws.shift() as Uint8Array) : Uint8Array.of(3, 4)));
    expect(c.nameplate).toBe(42);
    expect(c.words).toEqual([WORDS[3] as string, WORDS[4] as string]);
  });

  test("the guessing odds: 1 in 65,536 for two words, 1 in 16,777,216 for three", () => {
    expect(guessOdds(2)).toBe(65_536);
    expect(guessOdds(3)).toBe(16_777_216);
  });
});
