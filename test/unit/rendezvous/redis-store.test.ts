// The store contract on the Redis store, against a real redis-server child (one per file, a fresh key prefix
// per test); and what only a store outside the process has: records read back are checked, conflicts retried.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { RedisClient } from "bun";
import { RedisStore } from "../../../src/rendezvous/redis-store.ts";
import { KEEP } from "../../../src/rendezvous/store.ts";
import { type RedisChild, startRedis, stopAllRedis } from "../../support/redis.ts";
import { describeStoreContract } from "./store-contract.ts";

let redis: RedisChild;
let client: RedisClient;
let n = 0;
/** The contract's times are small numbers; the store's clock at 0 keeps Redis's expiry just past them. */
const clock = { now: () => 0, setTimer: () => () => {} };
const fresh = () => new RedisStore(client, { prefix: `{t${++n}}:`, clock });

beforeAll(async () => {
  redis = await startRedis();
  client = new RedisClient(redis.url);
  await client.connect();
});
afterAll(async () => {
  client?.close();
  await stopAllRedis();
});

describeStoreContract("RedisStore", fresh);

const slot = {
  peerId: "a".repeat(16),
  addr: { host: "198.51.100.10", port: 40001 },
  candidates: [],
  lastSeen: 0,
  echo: "0102030405060708090a0b0c",
  proven: true,
};

describe("RedisStore", () => {
  test("a record that is not valid in Redis is taken as absent and counted; the next update replaces it", async () => {
    const store = fresh();
    const key = `{t${n}}:s:bad`;
    await client.send("SET", [key, JSON.stringify({ slots: { a: { ...slot, addr: "not an endpoint" } } })]);
    expect(await store.get("bad")).toBeUndefined();
    await client.send("SET", [`{t${n}}:s:junk`, "{not json"]);
    expect(await store.get("junk")).toBeUndefined();
    expect(store.corrupt).toBe(2);
    let seen: unknown = "not called";
    await store.update("bad", (rec) => {
      seen = rec;
      return { slots: { a: slot } };
    });
    expect(seen).toBeUndefined();
    expect(await store.get("bad")).toEqual({ slots: { a: slot } });
  });

  test("a session due at once (wakeAt -Infinity, no slot left) is stored, read back and due", async () => {
    const store = fresh();
    await store.update("empty", () => ({ slots: {}, wakeAt: Number.NEGATIVE_INFINITY }));
    expect(await store.get("empty")).toEqual({ slots: {}, wakeAt: Number.NEGATIVE_INFINITY });
    expect(await store.due(-1e15)).toEqual(["empty"]);
  });

  test("two servers' stores updating one session at once lose no update (compare and set, retried)", async () => {
    const one = fresh();
    const two = new RedisStore(client, { prefix: `{t${n}}:`, clock });
    await one.update("s", () => ({ slots: { a: slot } }));
    const bump = (store: RedisStore) =>
      store.update("s", (rec) => {
        if (rec?.slots.a) rec.slots.a.lastSeen += 1;
        return rec ?? KEEP;
      });
    await Promise.all(Array.from({ length: 10 }, (_, i) => bump(i % 2 ? one : two)));
    expect((await two.get("s"))?.slots.a?.lastSeen).toBe(10);
  });

  test("finished-peer marks and remembered pairs are keys Redis expires by itself, shortly after `until`", async () => {
    const store = fresh();
    await store.markDone("a".repeat(16), 5_000);
    const ttl = Number(await client.send("PTTL", [`{t${n}}:done:${"a".repeat(16)}`]));
    // The store's clock says 0: 5 s to go, and the margin after it.
    expect(ttl).toBeGreaterThan(5_000);
    expect(ttl).toBeLessThanOrEqual(65_000);
  });
});
