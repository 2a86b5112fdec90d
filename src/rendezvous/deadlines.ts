/**
 * Keys ordered by a deadline, for the memory store: what is due is found without walking every key, so a
 * timer costs what is due, not what is held (a Redis store has a sorted set for it). Keys sit in time
 * buckets; moving a key (a refreshed session) is a Set delete and add, and a min-heap of bucket numbers finds
 * the earliest bucket. Only the last bucket a query reaches holds keys both due and not yet due, so only its
 * keys have their deadline looked up.
 */

/**
 * @default 100 ms: about the server's tick (server.ts), so a tick reads the keys of one bucket that are not
 * yet due at most; a bucket holds the deadlines of 100 ms, e.g. 100,000 sessions' expiries spread over 45 s
 * put about 220 in each.
 */
export const BUCKET_MS = 100;

export class DeadlineIndex {
  private readonly buckets = new Map<number, Set<string>>();
  /** Bucket numbers, a min-heap; a number whose bucket emptied stays until it is popped (then skipped). */
  private readonly heap: number[] = [];

  /** @param deadlineOf the current deadline of a key in the index (for the last bucket a query reaches). */
  constructor(
    private readonly deadlineOf: (key: string) => number | undefined,
    private readonly bucketMs = BUCKET_MS,
  ) {}

  /** Moves `key` from deadline `from` to `to` (undefined: not in the index). */
  move(key: string, from: number | undefined, to: number | undefined): void {
    const a = from === undefined ? undefined : this.bucketOf(from);
    const b = to === undefined ? undefined : this.bucketOf(to);
    if (a === b) return;
    if (a !== undefined) {
      const set = this.buckets.get(a);
      set?.delete(key);
      if (set?.size === 0) this.buckets.delete(a);
    }
    if (b !== undefined) {
      let set = this.buckets.get(b);
      if (!set) {
        set = new Set();
        this.buckets.set(b, set);
        this.push(b);
      }
      set.add(key);
    }
  }

  /** The keys whose deadline is not later than `now`; they stay in the index until moved. */
  due(now: number): string[] {
    const last = this.bucketOf(now);
    const out: string[] = [];
    const seen = new Set<number>();
    while (this.heap.length > 0 && (this.heap[0] as number) <= last) {
      const b = this.pop();
      const set = this.buckets.get(b);
      if (!set || seen.has(b)) continue; // emptied, or a second heap entry of one bucket
      seen.add(b);
      for (const key of set)
        if (b < last || (this.deadlineOf(key) ?? Number.POSITIVE_INFINITY) <= now) out.push(key);
    }
    for (const b of seen) this.push(b); // still holding keys (their owners move or remove them)
    return out;
  }

  private bucketOf(t: number): number {
    return Math.floor(t / this.bucketMs);
  }

  private push(b: number): void {
    const h = this.heap;
    let i = h.push(b) - 1;
    while (i > 0) {
      const up = (i - 1) >> 1;
      if ((h[up] as number) <= b) break;
      h[i] = h[up] as number;
      i = up;
    }
    h[i] = b;
  }

  private pop(): number {
    const h = this.heap;
    const top = h[0] as number;
    const end = h.pop() as number;
    if (h.length === 0) return top;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const c = r < h.length && (h[r] as number) < (h[l] as number) ? r : l;
      if ((h[c] as number) >= end) break;
      h[i] = h[c] as number;
      i = c;
    }
    h[i] = end;
    return top;
  }
}
