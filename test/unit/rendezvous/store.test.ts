// The store contract on the in-memory store, the default (a shared store runs the same suite with its factory).
import { describe, expect, test } from "bun:test";
import { MemoryStore } from "../../../src/rendezvous/store.ts";
import { describeStoreContract } from "./store-contract.ts";

describeStoreContract("MemoryStore", () => new MemoryStore());

describe("MemoryStore keeps records compact", () => {
  test("undefined properties are left out and an empty list is stored once, frozen", async () => {
    const store = new MemoryStore();
    const slot = (peerId: string) => ({
      peerId,
      addr: { host: "198.51.100.10", port: 40001 },
      candidates: [],
      nat: undefined,
      lastSeen: 0,
      echo: "0102030405060708090a0b0c",
      proven: true,
    });
    await store.update("one", () => ({ slots: { a: slot("a".repeat(16)) } }));
    await store.update("two", () => ({ slots: { b: slot("b".repeat(16)) } }));
    const a = (await store.get("one"))?.slots.a;
    const b = (await store.get("two"))?.slots.b;
    expect(a && Object.keys(a)).toEqual(["peerId", "addr", "candidates", "lastSeen", "echo", "proven"]);
    expect<unknown>(a?.candidates).toBe(b?.candidates);
    expect(Object.isFrozen(a?.candidates)).toBe(true);
    // An update still gets a list of its own to change.
    await store.update("one", (rec) => {
      rec?.slots.a?.candidates.push({ kind: "lan", host: "192.0.2.10", port: 10000 });
      return rec;
    });
    expect((await store.get("one"))?.slots.a?.candidates).toHaveLength(1);
    expect(b?.candidates).toHaveLength(0);
  });
});
