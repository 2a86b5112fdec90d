// Two serve()s sharing one store and a bus, as shipped, on the simulated internet behind real NAT filtering:
// a peer hears only from the server it registered with, so the server holding each peer must send it its
// MATCH, whichever server made the pair.
import { afterEach, describe, expect, test } from "bun:test";
import type { NetpunchError } from "../../src/errors.ts";
import { MemoryRelayDirectory } from "../../src/rendezvous/relay-directory.ts";
import type { RendezvousServer, ServeOptions } from "../../src/rendezvous/server.ts";
import { MemoryBus, type Notice } from "../../src/rendezvous/server-bus.ts";
import { MemoryStore } from "../../src/rendezvous/store.ts";
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
