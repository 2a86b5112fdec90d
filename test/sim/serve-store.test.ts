// serve() over the store it is given: its state goes through that store's interface only, and a store that
// fails stops the server instead of leaving it half working.
import { afterEach, expect, test } from "bun:test";
import { sameEndpoint } from "../../src/addr.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import { MemoryStore, type SessionChange, type SessionRecord } from "../../src/rendezvous/store.ts";
import { expectPair } from "./support.ts";
import { SERVER, Sim } from "./world.ts";

let server: RendezvousServer | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

/** The plain server: no alt port and no relay. */
const PLAIN = { altPort: undefined, relay: undefined };

/** A MemoryStore that records what it was asked to write, or fails every write with `failure`. */
class WatchedStore extends MemoryStore {
  readonly written: (SessionRecord | undefined)[] = [];
  constructor(private readonly failure?: Error) {
    super();
  }
  override async update(session: string, fn: (current: SessionRecord | undefined) => SessionChange) {
    if (this.failure) throw this.failure;
    const after = await super.update(session, fn);
    this.written.push(structuredClone(after) as SessionRecord | undefined);
    return after;
  }
}

test("the pair is made through the store given: both registrations and the pair are written there, and it ends empty", async () => {
  const sim = new Sim(3);
  const store = new WatchedStore();
  server = await sim.serve({ ...PLAIN, store });
  const a = sim.place(1, "nat");
  const b = sim.place(2, "nat");
  const pa = sim.connect(a.host, "a");
  const pb = sim.connect(b.host, "b");
  await sim.runUntil(() => pa.done && pb.done, 60_000);
  await expectPair(sim, [pa, pb], [a, b], "direct");
  const paired = store.written.find((r) => r?.pair !== undefined);
  expect(paired?.pair?.owner).toMatch(/^[0-9a-f]{16}$/); // this server's id, drawn at start
  expect(Object.keys(paired?.slots ?? {}).sort()).toEqual(["a", "b"]);
  expect(store.written.at(-1)).toBeUndefined(); // the session deleted once both acknowledged
  expect([await store.count(), server.stats().sessions, server.stats().pairsMade]).toEqual([0, 0, 1]);
});

test("a store that fails closes the server: `closed` rejects with its error and nothing more is sent", async () => {
  const sim = new Sim(4);
  const failure = new Error("store unreachable");
  server = await sim.serve({ ...PLAIN, store: new WatchedStore(failure) });
  const outcome = server.closed.then(
    () => "closed",
    (e: unknown) => e,
  );
  const a = sim.place(1, "nat");
  const pa = sim.connect(a.host, "a", { timeoutMs: 20_000 });
  // The first REGISTER is only challenged (no write); the second, with the cookie, needs the store.
  let settled: unknown;
  void outcome.then((o) => {
    settled = o;
  });
  await sim.runUntil(() => settled !== undefined, 10_000);
  expect(settled).toBe(failure);
  const fromServer = () =>
    sim.net.trace.filter((r) => r.what === "send" && sameEndpoint(r.from, SERVER)).length;
  const sentBefore = fromServer();
  expect(sentBefore).toBeGreaterThan(0); // the challenge
  await sim.runUntil(() => pa.done, 30_000);
  expect(fromServer()).toBe(sentBefore);
  expect(pa.error).toBeDefined();
});
