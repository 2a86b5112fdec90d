// Pairing codes: "7-guitar-meadow", a nameplate (the number: which rendezvous session the two hosts meet in,
// public) and words from WORDS (the password the PAKE proves, secret). Pure: the randomness is an input.
import { Fail } from "../errors.ts";
import { WORDS } from "./words.ts";

/**
 * Nameplates 1-999: three digits to type, and enough that two pairings on one server rarely draw the same one
 * at once (a clash only makes both fail, as a wrong code would).
 */
export const MAX_NAMEPLATE = 999;
/**
 * @default 2: 16 bits of password, 1 chance in 65,536 per guess, and the PAKE allows one online guess per
 * code (the code dies with it), as magic-wormhole's codes do. 3 gives 1 in 16,777,216 for a longer code.
 */
export const DEFAULT_CODE_WORDS = 2;
export const MIN_CODE_WORDS = 2;
export const MAX_CODE_WORDS = 3;
/** A word may be typed by its first three letters: no two words of the list share them. */
export const WORD_PREFIX_LETTERS = 3;

export interface PairCode {
  nameplate: number;
  words: readonly string[];
}

/** The code as people type it: "7-guitar-meadow". */
export const formatCode = (c: PairCode): string => [String(c.nameplate), ...c.words].join("-");

/** The guessing odds of a code of `words` words: one in this many per online guess. */
export const guessOdds = (words: number): number => WORDS.length ** words;

/**
 * A fresh code: a uniform nameplate and `count` uniform words. `bytes(n)`: n bytes from a CSPRNG. The
 * nameplate is drawn by rejection (two bytes below the largest multiple of 999) so that none is likelier.
 */
export function newCode(bytes: (n: number) => Uint8Array, count: number = DEFAULT_CODE_WORDS): PairCode {
  if (!Number.isInteger(count) || count < MIN_CODE_WORDS || count > MAX_CODE_WORDS)
    throw new RangeError(`a code has ${MIN_CODE_WORDS} to ${MAX_CODE_WORDS} words`);
  const limit = 65_536 - (65_536 % MAX_NAMEPLATE);
  let n: number;
  do {
    const b = bytes(2);
    n = ((b[0] ?? 0) << 8) | (b[1] ?? 0);
  } while (n >= limit);
  // WORDS has 256 entries, so one uniform byte is one uniform word.
  const words = Array.from(bytes(count), (b) => WORDS[b] as string);
  return { nameplate: (n % MAX_NAMEPLATE) + 1, words };
}

/** Levenshtein distance, for the "did you mean" of a mistyped word. */
export function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row.push(
        Math.min(
          (prev[j] ?? 0) + 1,
          (row[j - 1] ?? 0) + 1,
          (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
        ),
      );
    prev = row;
  }
  return prev[b.length] ?? 0;
}

/** Further than this from every word, a typed word gets no suggestion (it is not a slip of one of them). */
const SUGGEST_DISTANCE = 2;

/** The list's word for what was typed: the word itself, or its first three letters or more. */
function lookUp(typed: string): string | undefined {
  if (typed.length < WORD_PREFIX_LETTERS) return undefined;
  const matches = WORDS.filter((w) => w.startsWith(typed));
  return matches.length === 1 ? matches[0] : undefined;
}

/**
 * Reads a typed code: the number and the words, separated by "-" or spaces, any case; a word may be shortened
 * to its first three letters or more. Throws E_CODE naming the part that is wrong (and the nearest word for a
 * mistyped one), so a slip is caught here, before the code is spent on the partner.
 */
export function parseCode(text: string): PairCode {
  const parts = text
    .trim()
    .toLowerCase()
    .split(/[\s-]+/)
    .filter(Boolean);
  const [first, ...typed] = parts;
  if (first === undefined) throw Fail.badCode("it is empty");
  if (!/^\d{1,3}$/.test(first) || Number(first) < 1 || Number(first) > MAX_NAMEPLATE)
    throw Fail.badCode(`"${first}" is not a number from 1 to ${MAX_NAMEPLATE}`);
  if (typed.length < MIN_CODE_WORDS || typed.length > MAX_CODE_WORDS)
    throw Fail.badCode(
      `it has ${typed.length} word(s) after the number, not ${MIN_CODE_WORDS} or ${MAX_CODE_WORDS}`,
    );
  const words = typed.map((t) => {
    const word = lookUp(t);
    if (word !== undefined) return word;
    const near = WORDS.map((w) => [w, editDistance(t, w)] as const).sort((x, y) => x[1] - y[1])[0];
    const suggestion = near && near[1] <= SUGGEST_DISTANCE ? `; did you mean "${near[0]}"?` : "";
    return Fail.badCode(`"${t}" is not one of the code words${suggestion}`);
  });
  const bad = words.find((w) => typeof w !== "string");
  if (bad !== undefined) throw bad;
  return { nameplate: Number(first), words: words as string[] };
}
