// Two serve()s sharing one store and a bus, as shipped, on the simulated internet behind real NAT filtering:
// a peer hears only from the server it registered with, so the server holding each peer must send it its
// MATCH, whichever server made the pair.
import { afterEach, describe, expect, test } from "bun:test";
import type { NetpunchError } from "../../src/errors.ts";
import { MemoryRelayDirectory, type RelayPlace } from "../../src/rendezvous/relay-directory.ts";
import type { RendezvousServer, ServeOptions } from "../../src/rendezvous/server.ts";
import { MemoryBus, type Notice } from "../../src/rendezvous/server-bus.ts";
import { MemoryStore } from "../../src/rendezvous/store.ts";
import type { NetpunchEvent } from "../../src/types.ts";
import { expectPair } from "./support.ts";
import { ALT_PORT, SERVER, SERVER_PORT, Sim } from "./world.ts";

const SERVER2 = { host: "198.18.0.2", port: SERVER_PORT };
const servers: RendezvousServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A MemoryBus that notes every notice handed over. */
class WatchedBus extends MemoryBus {
  readonly notices: Notice[] = [];
  override publish(server: string, notice: Notice): void {
    this.notices.push(notice);
    super.publish(server, notice);
  }
}

async function twoServers(sim: Sim, shared: Partial<ServeOptions>) {
  const one = await sim.serve(shared);
  const host = sim.net.host(SERVER2.host);
  const two = await sim.serve({ ...shared, listen: SERVER2, altPort: ALT_PORT, transport: host.transport });
  servers.push(one, two);
  return { one, two };
}

test("a registered only at server 1, b only at server 2, one store: each gets its MATCH from its own server", async () => {
  const sim = new Sim(21);
  const bus = new WatchedBus();
  const { one, two } = await twoServers(sim, { store: new MemoryStore(), bus });
  const a = sim.place(1, "nat");
  const b = sim.place(2, "nat");
  const pa = sim.connect(a.host, "a", { server: [SERVER] });
  await sim.runUntil(() => one.stats().sessions === 1, 5_000);
  const pb = sim.connect(b.host, "b", { server: [SERVER2] });
  await sim.runUntil(() => pa.done && pb.done, 60_000);
  await expectPair(sim, [pa, pb], [a, b], "direct");
  // Server 2 made the pair (b completed it there) and asked server 1, a's holder, to send a its MATCH.
  expect([one.stats().pairsMade, two.stats().pairsMade]).toEqual([0, 1]);
  expect(bus.notices.map((n) => n.kind === "match" && [n.session, n.role])).toEqual([["sim", "a"]]);
});

test("a notice that is lost (no bus here) costs one retransmission: a's own server retransmits its MATCH", async () => {
  const sim = new Sim(22);
  const { one, two } = await twoServers(sim, { store: new MemoryStore() });
  const a = sim.place(1, "nat");
  const b = sim.place(2, "nat");
  const pa = sim.connect(a.host, "a", { server: [SERVER] });
  await sim.runUntil(() => one.stats().sessions === 1, 5_000);
  const pb = sim.connect(b.host, "b", { server: [SERVER2] });
  await sim.runUntil(() => pa.done && pb.done, 60_000);
  await expectPair(sim, [pa, pb], [a, b], "direct");
  expect([one.stats().pairsMade, two.stats().pairsMade]).toEqual([0, 1]);
});

describe("one relay per pair across servers", () => {
  /** Both behind symmetric NATs: no direct path, so each asks its own server for the relay. */
  async function relayed(seed: number, shared: Partial<ServeOptions>) {
    const sim = new Sim(seed);
    const { one, two } = await twoServers(sim, shared);
    const a = sim.place(1, "symmetric");
    const b = sim.place(2, "symmetric");
    const pa = sim.connect(a.host, "a", { server: [SERVER] });
    await sim.runUntil(() => one.stats().sessions === 1, 5_000);
    const pb = sim.connect(b.host, "b", { server: [SERVER2] });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    return { sim, one, two, a, b, pa, pb };
  }

  test("a held by server 1, b by server 2: both bind at one relay, on one of the two, and connect through it", async () => {
    const { sim, one, two, a, b, pa, pb } = await relayed(31, {
      store: new MemoryStore(),
      bus: new MemoryBus(),
      relayDirectory: new MemoryRelayDirectory(),
    });
    const [ra] = await expectPair(sim, [pa, pb], [a, b], "relay");
    // One relay opened in all, on the server whose address both results name.
    expect(one.stats().relaysOpened + two.stats().relaysOpened).toBe(1);
    const host = one.stats().relaysOpened === 1 ? SERVER.host : SERVER2.host;
    expect(ra.rhost).toBe(host);
  });

  test("without the directory (the old way) each server opens its own relay and the peers never meet", async () => {
    const { one, two, pa, pb } = await relayed(32, { store: new MemoryStore(), bus: new MemoryBus() });
    expect([one.stats().relaysOpened, two.stats().relaysOpened]).toEqual([1, 1]);
    expect([(pa.error as NetpunchError).code, (pb.error as NetpunchError).code]).toEqual([
      "E_PUNCH_FAILED",
      "E_PUNCH_FAILED",
    ]);
  });

  test("a refusal is the pair's: the partner's server offers the same refusal, not a relay of its own", async () => {
    const { one, two, pa, pb } = await relayed(33, {
      store: new MemoryStore(),
      bus: new MemoryBus(),
      relayDirectory: new MemoryRelayDirectory(),
      relay: { maxSessions: 0 },
    });
    expect([one.stats().relaysOpened, two.stats().relaysOpened]).toEqual([0, 0]);
    expect(one.stats().relaysRefused.full + two.stats().relaysRefused.full).toBe(2);
    expect([(pa.error as NetpunchError).code, (pb.error as NetpunchError).code]).toEqual([
      "E_PUNCH_FAILED",
      "E_PUNCH_FAILED",
    ]);
  });
});

describe("one relay per pair across servers: a store that takes its time", () => {
  /** How long the shared store takes to record that a relay is open (settle): a store some way off. */
  const SETTLE_MS = 30;
  /** A MemoryRelayDirectory whose settle takes SETTLE_MS of the simulation's time. */
  class SlowSettle extends MemoryRelayDirectory {
    constructor(private readonly sim: Sim) {
      super({ clock: sim.clock });
    }
    override async settle(pairId: string, place: RelayPlace): Promise<void> {
      await new Promise<void>((r) => this.sim.clock.setTimer(SETTLE_MS, r));
      return super.settle(pairId, place);
    }
  }

  test("a at server 1 and b at server 2 ask at once: the server that finds the other's claim opening offers its relay once it is recorded", async () => {
    const sim = new Sim(34);
    const { one, two } = await twoServers(sim, {
      store: new MemoryStore(),
      bus: new MemoryBus(),
      relayDirectory: new SlowSettle(sim),
    });
    const a = sim.place(1, "symmetric");
    const b = sim.place(2, "symmetric");
    const at: Record<string, number> = {};
    const note = (role: string) => (e: NetpunchEvent) => {
      if (e.type === "relay") at[`${role} ${e.state}`] ??= sim.clock.now();
    };
    const pa = sim.connect(a.host, "a", { server: [SERVER], onEvent: note("a") });
    await sim.runUntil(() => one.stats().sessions === 1, 5_000);
    const pb = sim.connect(b.host, "b", { server: [SERVER2], onEvent: note("b") });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    expect([pa.result?.via, pb.result?.via]).toEqual(["relay", "relay"]);
    expect(one.stats().relaysOpened + two.stats().relaysOpened).toBe(1);
    // Each link 5 ms: 15 ms from a peer to its server, a 30 ms server RTT. Both ask at one moment; one server
    // claims the pair, opens the relay and records it (SETTLE_MS), and the other, which found the claim
    // still opening, reads the place again until the port is there: both peers are offered the relay 60 ms
    // after they asked (a round trip and the store's 30), not one 500 ms retry later, and are bound 2 RTTs on.
    const asked = at["a requested"] ?? Number.NaN;
    const since = Object.fromEntries(Object.entries(at).map(([k, t]) => [k, t - asked]));
    expect(since).toEqual({
      "a requested": 0,
      "b requested": 0,
      "a binding": 60,
      "b binding": 60,
      "a ready": 120,
      "b ready": 120,
    });
  });
});
