/**
 * The most edits (insert, delete, substitute, swap two neighbours) a typo is taken to have: two catches
 * "sesion", "relay_afer" and "keepalive" for "wg-keepalive"'s neighbours without offering unrelated keys.
 */
const MAX_EDITS = 2;

/** Optimal string alignment distance (Damerau-Levenshtein without repeated edits of one substring). */
export function editDistance(a: string, b: string): number {
  const rows = a.length + 1;
  const cols = b.length + 1;
  const d: number[][] = Array.from({ length: rows }, (_, i) =>
    Array.from({ length: cols }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  const at = (i: number, j: number) => d[i]?.[j] ?? Number.POSITIVE_INFINITY;
  for (let i = 1; i < rows; i++) {
    for (let j = 1; j < cols; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(at(i - 1, j) + 1, at(i, j - 1) + 1, at(i - 1, j - 1) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        best = Math.min(best, at(i - 2, j - 2) + 1);
      (d[i] as number[])[j] = best;
    }
  }
  return at(a.length, b.length);
}

/** The closest of `known` to `key`, if it is close enough to be a typo of it. Case and _ vs - count as no edit. */
export function closest(key: string, known: Iterable<string>): string | undefined {
  const norm = (s: string) => s.toLowerCase().replaceAll("_", "-");
  const limit = Math.min(MAX_EDITS, Math.floor(key.length / 3)); // "ab" is no typo of "lan"
  let best: { name: string; distance: number } | undefined;
  for (const name of known) {
    const distance = editDistance(norm(key), norm(name));
    if (distance <= limit || distance === 0) {
      if (best === undefined || distance < best.distance) best = { name, distance };
    }
  }
  return best?.name;
}
