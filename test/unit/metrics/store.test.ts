import { describe, expect, test } from "bun:test";
import { formatExposition } from "../../../src/metrics/exposition.ts";
import type { Health } from "../../../src/metrics/health.ts";
import { instrumentStore, STORE_OPS, StoreMetrics, type StoreResult } from "../../../src/metrics/store.ts";
import { MemoryStore } from "../../../src/rendezvous/store.ts";
import { describeStoreContract } from "../rendezvous/store-contract.ts";

// The instrumented store is still a store: the whole contract runs through the wrapper.
describeStoreContract("MemoryStore, instrumented", () =>
  instrumentStore(new MemoryStore(), new StoreMetrics()),
);

/** A clock that moves 2 ms between readings: every operation takes 0.002 s. */
const steps = () => {
  let t = 0;
  return () => {
    t += 2;
    return t;
  };
};

class Recorder {
  readonly seen: [string, StoreResult, number][] = [];
  observe(op: string, result: StoreResult, seconds: number) {
    this.seen.push([op, result, seconds]);
  }
}

describe("instrumentStore", () => {
  test("reports each operation with its result and time, and returns what the store answered", async () => {
    const r = new Recorder();
    const store = instrumentStore(new MemoryStore(), r, steps());
    await store.update("s", () => ({ slots: {} }));
    expect(await store.count()).toBe(1);
    expect(r.seen).toEqual([
      ["update", "ok", 0.002],
      ["count", "ok", 0.002],
    ]);
  });

  test("a rejected operation is an error and still rejects with the store's error", async () => {
    const r = new Recorder();
    const store = instrumentStore(new MemoryStore(), r, steps());
    const boom = new Error("boom");
    await expect(
      store.update("s", () => {
        throw boom;
      }),
    ).rejects.toBe(boom);
    expect(r.seen).toEqual([["update", "error", 0.002]]);
  });

  test("methods outside the store interface pass through, bound to the store (a store's health)", async () => {
    class Pinging extends MemoryStore {
      readonly #answer: Health = { ok: false, reason: "redis: connection refused" };
      async health(): Promise<Health> {
        return this.#answer; // a private field: works only when called on the store itself
      }
    }
    const r = new Recorder();
    const store = instrumentStore(new Pinging(), r);
    expect(await store.health()).toEqual({ ok: false, reason: "redis: connection refused" });
    expect(r.seen).toEqual([]);
  });
});

describe("StoreMetrics", () => {
  test("every op has its series at 0 from the start, ok and error", () => {
    const text = formatExposition(new StoreMetrics().families());
    for (const op of STORE_OPS) {
      expect(text).toContain(`netpunch_store_operations_total{op="${op}",result="ok"} 0\n`);
      expect(text).toContain(`netpunch_store_operations_total{op="${op}",result="error"} 0\n`);
      expect(text).toContain(`netpunch_store_operation_duration_seconds_count{op="${op}"} 0\n`);
    }
  });

  test("counts by op and result; latency into the op's histogram", () => {
    const m = new StoreMetrics();
    m.observe("get", "ok", 0.0003);
    m.observe("get", "error", 0.2);
    const text = formatExposition(m.families());
    expect(text).toContain('netpunch_store_operations_total{op="get",result="ok"} 1\n');
    expect(text).toContain('netpunch_store_operations_total{op="get",result="error"} 1\n');
    expect(text).toContain('netpunch_store_operation_duration_seconds_bucket{op="get",le="0.0005"} 1\n');
    expect(text).toContain('netpunch_store_operation_duration_seconds_bucket{op="get",le="0.25"} 2\n');
    expect(text).toContain('netpunch_store_operation_duration_seconds_count{op="get"} 2\n');
  });

  test("an op outside its set is not counted: no new series from whatever a store passes", () => {
    const m = new StoreMetrics();
    m.observe("session:secret-name", "ok", 0.001);
    expect(formatExposition(m.families())).not.toContain("secret-name");
  });
});
