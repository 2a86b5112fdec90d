// Two serve()s sharing one store and a bus, as shipped, on the simulated internet behind real NAT filtering:
// a peer hears only from the server it registered with, so the server holding each peer must send it its
// MATCH, whichever server made the pair.
import { afterEach, expect, test } from "bun:test";
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
