// The RendezvousStore contract as a suite (not a test file itself): every store runs it, the in-memory one in
// store.test.ts and a shared one (Redis, later) in its own, with its own factory.
import { describe, expect, test } from "bun:test";
import { KEEP, type RendezvousStore, type SessionRecord } from "../../../src/rendezvous/store.ts";
import type { Endpoint, Role } from "../../../src/types.ts";

const A_ADDR = { host: "198.51.100.10", port: 40001 };
const B_ADDR = { host: "203.0.113.20", port: 40002 };
/** More updates of one session at once than any server has in flight for it. */
const RACERS = 50;

const slot = (peerId: string, addr: Endpoint, lastSeen = 0) => ({
  peerId,
  addr,
  candidates: [{ kind: "lan" as const, host: "192.0.2.10", port: 10000 }],
  lastSeen,
  echo: "0102030405060708090a0b0c",
  proven: true,
});
const waiting = (role: Role = "a", addr: Endpoint = A_ADDR): SessionRecord => ({
  slots: { [role]: slot(`${role}`.repeat(16), addr) },
});
const paired = (): SessionRecord => ({
  slots: { a: slot("a".repeat(16), A_ADDR), b: slot("b".repeat(16), B_ADDR) },
  pair: {
    pairId: "01".repeat(16),
    owner: "server-1",
    acked: { a: false, b: false },
    createdAt: 0,
    retry: { a: { at: 200, delayMs: 200 }, b: { at: 200, delayMs: 200 } },
  },
});
const write = (store: RendezvousStore, session: string, rec: SessionRecord) =>
  store.update(session, () => rec);

/**
 * Runs the contract against stores made by `makeStore` (a fresh, empty one per test; it may be async, e.g.
 * to flush a database).
 */
export function describeStoreContract(
  name: string,
  makeStore: () => RendezvousStore | Promise<RendezvousStore>,
) {
  describe(`RendezvousStore contract: ${name}`, () => {
    describe("sessions", () => {
      test("an empty store has no session, counts none and lists none", async () => {
        const store = await makeStore();
        expect(await store.get("s")).toBeUndefined();
        expect(await store.count()).toBe(0);
        expect(await store.sessions()).toEqual([]);
      });

      test("update gets undefined for a new session; what it returns is stored, and update resolves with it", async () => {
        const store = await makeStore();
        const seen: (SessionRecord | undefined)[] = [];
        const stored = await store.update("s", (current) => {
          seen.push(current);
          return paired();
        });
        expect(seen).toEqual([undefined]);
        expect(stored).toEqual(paired());
        expect(await store.get("s")).toEqual(paired());
        expect(await store.count()).toBe(1);
        expect(await store.sessions()).toEqual([["s", paired()]]);
      });

      test("update gets the current record, and undefined deletes the session", async () => {
        const store = await makeStore();
        await write(store, "s", paired());
        let seen: SessionRecord | undefined;
        expect(
          await store.update("s", (current) => {
            seen = current;
            return undefined;
          }),
        ).toBeUndefined();
        expect(seen).toEqual(paired());
        expect(await store.get("s")).toBeUndefined();
        expect(await store.count()).toBe(0);
      });

      test("KEEP writes nothing, even when the function changed its copy", async () => {
        const store = await makeStore();
        expect(await store.update("new", () => KEEP)).toBeUndefined();
        expect(await store.count()).toBe(0);
        await write(store, "s", paired());
        const kept = await store.update("s", (current) => {
          if (current?.pair) current.pair.acked.a = true;
          delete current?.slots.b;
          return KEEP;
        });
        expect(kept).toEqual(paired());
        expect(await store.get("s")).toEqual(paired());
      });

      test("a snapshot from get does not change with later updates", async () => {
        const store = await makeStore();
        await write(store, "s", paired());
        const before = await store.get("s");
        await store.update("s", (current) => {
          if (current?.pair) current.pair.acked.b = true;
          if (current?.slots.a) current.slots.a.lastSeen = 99;
          return current;
        });
        await store.update("s", () => undefined);
        expect(before).toEqual(paired());
      });

      test("the store keeps its own copy: changing the record after writing it, or a snapshot, changes nothing", async () => {
        const store = await makeStore();
        const rec = paired();
        await write(store, "s", rec);
        if (rec.slots.a) rec.slots.a.lastSeen = 99;
        delete rec.pair;
        const snapshot = await store.get("s");
        try {
          // A snapshot is read-only by type; a caller that casts that away must not reach the stored record.
          (snapshot as SessionRecord).slots.b = undefined;
        } catch {
          // A store may hand out frozen snapshots: the write throws (ES modules are strict).
        }
        expect(await store.get("s")).toEqual(paired());
      });

      test("concurrent updates of one session are serialised: none is lost", async () => {
        const store = await makeStore();
        await write(store, "s", waiting());
        const bump = () =>
          store.update("s", (current) => {
            const a = current?.slots.a;
            if (!current || !a) throw new Error("the session vanished");
            a.lastSeen += 1;
            return current;
          });
        await Promise.all(Array.from({ length: RACERS }, bump));
        expect((await store.get("s"))?.slots.a?.lastSeen).toBe(RACERS);
      });

      test("sessions are independent, and all are listed with their records", async () => {
        const store = await makeStore();
        await Promise.all([write(store, "one", waiting("a")), write(store, "two", waiting("b", B_ADDR))]);
        await store.update("one", () => undefined);
        await write(store, "three", paired());
        expect(await store.count()).toBe(2);
        const listed = new Map(await store.sessions());
        expect([...listed.keys()].sort()).toEqual(["three", "two"]);
        expect(listed.get("two")).toEqual(waiting("b", B_ADDR));
        expect(listed.get("three")).toEqual(paired());
      });

      test("a function that throws writes nothing, and update rejects with its error", async () => {
        const store = await makeStore();
        await write(store, "s", paired());
        const boom = new Error("decided nothing");
        await expect(
          store.update("s", () => {
            throw boom;
          }),
        ).rejects.toBe(boom);
        expect(await store.get("s")).toEqual(paired());
      });
    });

    describe("registrations per address", () => {
      test("counts the slots of every session by their addr.host, following every write", async () => {
        const store = await makeStore();
        const host = A_ADDR.host;
        expect(await store.addressCount(host)).toBe(0);
        await write(store, "one", waiting("a"));
        // Another port of the same host, in another session and in the other role: each counts.
        await write(store, "two", {
          slots: { a: slot("c".repeat(16), { host, port: 5 }), b: slot("d".repeat(16), A_ADDR) },
        });
        expect([await store.addressCount(host), await store.addressCount(B_ADDR.host)]).toEqual([3, 0]);
        // A slot that moves to another host is counted there.
        await store.update("two", (rec) => {
          if (rec?.slots.b) rec.slots.b.addr = B_ADDR;
          return rec;
        });
        expect([await store.addressCount(host), await store.addressCount(B_ADDR.host)]).toEqual([2, 1]);
        await store.update("one", () => undefined);
        await store.update("two", (rec) => {
          delete rec?.slots.a;
          return rec;
        });
        expect([await store.addressCount(host), await store.addressCount(B_ADDR.host)]).toEqual([0, 1]);
      });

      test("KEEP and a failed update leave the counts as they were", async () => {
        const store = await makeStore();
        await write(store, "s", waiting());
        await store.update("s", () => KEEP);
        await store
          .update("s", () => {
            throw new Error("no");
          })
          .catch(() => {});
        await store.update("new", () => KEEP);
        expect(await store.addressCount(A_ADDR.host)).toBe(1);
      });

      test("the host is counted exactly as written (no normalisation)", async () => {
        const store = await makeStore();
        await write(store, "s", waiting("a", { host: "::ffff:198.51.100.10", port: 1 }));
        expect(await store.addressCount("::ffff:198.51.100.10")).toBe(1);
        expect(await store.addressCount("198.51.100.10")).toBe(0);
      });
    });

    describe("due sessions", () => {
      const wakingAt = (wakeAt: number, rec = waiting()): SessionRecord => ({ ...rec, wakeAt });
      const dueAt = async (store: RendezvousStore, now: number) => (await store.due(now)).sort();

      test("a session is due from its wakeAt on; one without wakeAt never is", async () => {
        const store = await makeStore();
        await write(store, "early", wakingAt(1_000));
        await write(store, "late", wakingAt(1_050, paired()));
        await write(store, "never", waiting());
        expect(await dueAt(store, 999)).toEqual([]);
        expect(await dueAt(store, 1_000)).toEqual(["early"]);
        expect(await dueAt(store, 1_049)).toEqual(["early"]);
        // Still due until its record changes: whoever looked at it decided to keep it.
        expect(await dueAt(store, 10_000_000)).toEqual(["early", "late"]);
      });

      test("due follows every write: a moved wakeAt, a deleted session, KEEP", async () => {
        const store = await makeStore();
        await write(store, "moved", wakingAt(1_000));
        await write(store, "gone", wakingAt(1_000));
        await write(store, "kept", wakingAt(1_000));
        await write(store, "sooner", wakingAt(60_000));
        await store.update("moved", (rec) => rec && { ...rec, wakeAt: 46_000 });
        await store.update("gone", () => undefined);
        await store.update("kept", () => KEEP);
        await store.update("sooner", (rec) => rec && { ...rec, wakeAt: 200 });
        expect(await dueAt(store, 1_000)).toEqual(["kept", "sooner"]);
        expect(await dueAt(store, 46_000)).toEqual(["kept", "moved", "sooner"]);
        await store.update("moved", (rec) => rec && { ...rec, wakeAt: undefined });
        expect(await dueAt(store, 1e12)).toEqual(["kept", "sooner"]);
      });
    });

    describe("finished peers", () => {
      test("a peer is done strictly before its `until`, and only the one marked", async () => {
        const store = await makeStore();
        await store.markDone("a".repeat(16), 1_000);
        expect(await store.isDone("a".repeat(16), 999)).toBe(true);
        expect(await store.isDone("a".repeat(16), 1_000)).toBe(false);
        expect(await store.isDone("b".repeat(16), 0)).toBe(false);
      });

      test("a later mark moves `until`; sweep forgets only what has expired", async () => {
        const store = await makeStore();
        await store.markDone("a".repeat(16), 1_000);
        await store.markDone("a".repeat(16), 5_000);
        await store.markDone("b".repeat(16), 1_000);
        await store.sweep(1_000);
        expect(await store.isDone("a".repeat(16), 4_999)).toBe(true);
        expect(await store.isDone("b".repeat(16), 0)).toBe(false);
      });
    });

    describe("recent pairs", () => {
      const pair = {
        session: "s",
        peers: { a: "a".repeat(16), b: "b".repeat(16) },
        addrs: { a: A_ADDR, b: B_ADDR },
      };

      test("a remembered pair is returned strictly before its `until`, by its id only", async () => {
        const store = await makeStore();
        await store.rememberPair("01".repeat(16), pair, 1_000);
        expect(await store.recentPair("01".repeat(16), 999)).toEqual(pair);
        expect(await store.recentPair("01".repeat(16), 1_000)).toBeUndefined();
        expect(await store.recentPair("02".repeat(16), 0)).toBeUndefined();
      });

      test("the store keeps its own copy of a pair; sweep forgets only what has expired", async () => {
        const store = await makeStore();
        const mine = structuredClone(pair);
        await store.rememberPair("01".repeat(16), mine, 5_000);
        await store.rememberPair("02".repeat(16), pair, 1_000);
        mine.peers.a = "c".repeat(16);
        await store.sweep(1_000);
        expect(await store.recentPair("01".repeat(16), 4_999)).toEqual(pair);
        expect(await store.recentPair("02".repeat(16), 0)).toBeUndefined();
      });
    });
  });
}
