import type { RendezvousStore } from "../rendezvous/store.ts";
import type { MetricFamily } from "./exposition.ts";
import { Histogram } from "./histogram.ts";

/** How a store operation ended: `error` is a rejected promise (or a throw), whatever the store's reason. */
export type StoreResult = "ok" | "error";

/**
 * Where a store reports its operations: the metrics registry's side of the store. `instrumentStore` reports
 * every method of RendezvousStore for any store; a store may also report its own (a Redis reconnect) with
 * an op name from the registry's fixed set. Never a session name or a key in `op`: it becomes a label.
 */
export interface StoreObserver {
  observe(op: string, result: StoreResult, seconds: number): void;
}

/** The operations of RendezvousStore, each a value of the `op` label: a fixed set, never data. */
export const STORE_OPS = [
  "get",
  "update",
  "sessions",
  "due",
  "count",
  "addressCount",
  "markDone",
  "isDone",
  "rememberPair",
  "recentPair",
  "sweep",
] as const satisfies readonly (keyof RendezvousStore)[];

/**
 * Upper bounds in seconds: the memory store answers in microseconds, a Redis store on the same network in
 * 0.1 to a few milliseconds; past 1 s a store is failing, which the last bounds still tell apart.
 */
export const STORE_LATENCY_BUCKETS = [
  0.000_05, 0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5,
];

/** Counts and latencies of store operations, by op and result, as Prometheus families. */
export class StoreMetrics implements StoreObserver {
  private readonly ops: ReadonlySet<string>;
  private readonly counts = new Map<string, Record<StoreResult, number>>();
  private readonly latency = new Map<string, Histogram>();

  /** @param ops the op label's values; an op outside them is not counted (it would be a new series). */
  constructor(ops: readonly string[] = STORE_OPS) {
    this.ops = new Set(ops);
    // Every series exists from the start at 0, so rate() sees the first operation.
    for (const op of ops) {
      this.counts.set(op, { ok: 0, error: 0 });
      this.latency.set(op, new Histogram(STORE_LATENCY_BUCKETS));
    }
  }

  observe(op: string, result: StoreResult, seconds: number): void {
    if (!this.ops.has(op)) return;
    const c = this.counts.get(op) as Record<StoreResult, number>;
    c[result]++;
    this.latency.get(op)?.observe(seconds);
  }

  families(): MetricFamily[] {
    const ops = [...this.ops];
    return [
      {
        name: "netpunch_store_operations_total",
        help: "Rendezvous store operations, by operation and result (error: the store failed it).",
        type: "counter",
        samples: ops.flatMap((op) => {
          const c = this.counts.get(op) as Record<StoreResult, number>;
          return (["ok", "error"] as const).map((result) => ({ labels: { op, result }, value: c[result] }));
        }),
      },
      {
        name: "netpunch_store_operation_duration_seconds",
        help: "Time from a store operation's call to its answer, by operation.",
        type: "histogram",
        samples: ops.map((op) => (this.latency.get(op) as Histogram).sample({ op })),
      },
    ];
  }
}

/**
 * `store`, each of its RendezvousStore methods reporting its op, result and time to `observer`; everything
 * else (a store's own close or health) is passed through untouched. The store itself is not changed.
 * @param now a monotonic clock in milliseconds. @default performance.now
 */
export function instrumentStore<S extends RendezvousStore>(
  store: S,
  observer: StoreObserver,
  now: () => number = () => performance.now(),
): S {
  const ops: ReadonlySet<string> = new Set(STORE_OPS);
  const wrapped = new Map<string, unknown>();
  return new Proxy(store, {
    get(target, prop) {
      const value: unknown = Reflect.get(target, prop);
      if (typeof prop !== "string" || typeof value !== "function") return value;
      if (!ops.has(prop)) return value.bind(target);
      let w = wrapped.get(prop);
      if (!w) {
        const fn = value as (...args: unknown[]) => Promise<unknown>;
        w = (...args: unknown[]) => {
          const start = now();
          const done = (result: StoreResult) => observer.observe(prop, result, (now() - start) / 1000);
          let p: Promise<unknown>;
          try {
            p = fn.apply(target, args);
          } catch (e) {
            done("error");
            throw e;
          }
          return p.then(
            (v) => {
              done("ok");
              return v;
            },
            (e: unknown) => {
              done("error");
              throw e;
            },
          );
        };
        wrapped.set(prop, w);
      }
      return w;
    },
  });
}
