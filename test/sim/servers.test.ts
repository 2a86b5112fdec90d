// Several servers, as shipped: two serve()s and two connect()s that each register with both, on the
// simulated internet. One pair made per server at most, a server that is down costs nothing, the peers may
// take different servers' MATCH first, and E_SERVER_SILENT only when both are silent.
import { afterEach, describe, expect, test } from "bun:test";
import { Fail, type NetpunchError } from "../../src/errors.ts";
import { MessageType } from "../../src/protocol/constants.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import type { Clock } from "../../src/sys/clock.ts";
import type { TransportFactory } from "../../src/transport/types.ts";
import type { Endpoint } from "../../src/types.ts";
import { expectPair } from "./support.ts";
import { ALT_PORT, SERVER, SERVER_PORT, Sim, T0 } from "./world.ts";

/** The second server, on its own host; the first is world.ts's SERVER. */
const SERVER2 = { host: "198.18.0.2", port: SERVER_PORT };

const servers: RendezvousServer[] = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** serve() on SERVER2's host; `aheadMs`: its clock runs that far ahead of the first server's. */
async function serveSecond(sim: Sim, aheadMs = 0): Promise<RendezvousServer> {
  const host = sim.net.host(SERVER2.host);
  const clock: Clock = {
    now: () => sim.clock.now() + aheadMs,
    setTimer: (ms, fn) => sim.clock.setTimer(ms, fn),
  };
  const s = await sim.serve({ listen: SERVER2, altPort: ALT_PORT, transport: host.transport, clock });
  servers.push(s);
  return s;
}

async function serveFirst(sim: Sim): Promise<RendezvousServer> {
  const s = await sim.serve();
  servers.push(s);
  return s;
}

/**
 * A peer's socket whose datagrams to and from `slow` hosts take `delayMs` longer (a far-away server), and
 * which notes the server each MATCH came from, in order.
 */
function farFrom(sim: Sim, factory: TransportFactory, slow: string, delayMs: number, matches: string[]) {
  const wrapped: TransportFactory = async (bind, onDatagram, onError) => {
    const t = await factory(
      bind,
      (data, from) => {
        const deliver = () => {
          if (data[3] === MessageType.match) matches.push(from.host);
          onDatagram(data, from);
        };
        if (from.host === slow) sim.clock.setTimer(delayMs, deliver);
        else deliver();
      },
      onError,
    );
    return {
      local: t.local,
      send(data, to) {
        if (to.host !== slow) return t.send(data, to);
        sim.clock.setTimer(delayMs, () => t.send(data, to));
        return true;
      },
      close: () => t.close(),
    };
  };
  return wrapped;
}

const elapsed = (p: { at?: number }) => (p.at ?? Number.POSITIVE_INFINITY) - T0;

describe("two servers", () => {
  test("both up: the peers connect, each server made one pair, and the results describe one path", async () => {
    const sim = new Sim(11);
    const s1 = await serveFirst(sim);
    const s2 = await serveSecond(sim);
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const both = { server: [SERVER, SERVER2] };
    const pa = sim.connect(a.host, "a", both);
    const pb = sim.connect(b.host, "b", both);
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], "direct");
    expect([ra.raddr, rb.raddr]).toEqual([`${b.publicIp}:${rb.lport}`, `${a.publicIp}:${ra.lport}`]);
    expect([s1.stats().pairsMade, s2.stats().pairsMade]).toEqual([1, 1]);
    // As fast as with one server: register, match, one round of PINGs, the CLOSE burst.
    expect(elapsed(pa)).toBeLessThan(1_000);
    expect(elapsed(pb)).toBeLessThan(1_000);
  });

  async function secondOnly(seed: number, list: Endpoint[]) {
    const sim = new Sim(seed);
    await serveSecond(sim);
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const pa = sim.connect(a.host, "a", { server: list });
    const pb = sim.connect(b.host, "b", { server: list });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], "direct");
    return { sim, pa, pb, ra, rb };
  }

  test("the first server down costs nothing: the same result, at about the same time, as the second alone", async () => {
    // Nothing listens at the first server's address: its REGISTERs vanish there (no answer, no ICMP).
    const alone = await secondOnly(5, [SERVER2]);
    const raced = await secondOnly(5, [SERVER, SERVER2]);
    expect([raced.ra.via, raced.rb.via]).toEqual([alone.ra.via, alone.rb.via]);
    expect([raced.ra.rttMs, raced.rb.rttMs]).toEqual([alone.ra.rttMs, alone.rb.rttMs]);
    for (const side of ["pa", "pb"] as const) {
      expect(elapsed(raced[side])).toBeLessThan(1_000);
      expect(Math.abs(elapsed(raced[side]) - elapsed(alone[side]))).toBeLessThanOrEqual(50);
    }
    // The peers did try the first server (their REGISTERs found no socket there), and never waited for it.
    const tried = raced.sim.net.trace.filter((r) => r.to.host === SERVER.host && r.what === "drop");
    expect(tried.length).toBeGreaterThanOrEqual(2);
  });

  test("the race: a takes the first server's MATCH first, b the second's, and they still connect", async () => {
    const sim = new Sim(3);
    await serveFirst(sim);
    // The second server's clock is 9 s ahead: just inside the replay window, so a peer that sealed in one
    // server's time and a partner that checked in the other's would be at its edge. Each pair is checked in
    // its own server's time, so it does not matter.
    await serveSecond(sim, 9_000);
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const aMatches: string[] = [];
    const bMatches: string[] = [];
    // a is far from the second server, b from the first: each hears first from the one near it.
    const pa = sim.connect(a.host, "a", {
      server: [SERVER, SERVER2],
      transport: farFrom(sim, a.host.transport, SERVER2.host, 200, aMatches),
    });
    const pb = sim.connect(b.host, "b", {
      server: [SERVER, SERVER2],
      transport: farFrom(sim, b.host.transport, SERVER.host, 200, bMatches),
    });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    expect([aMatches[0], bMatches[0]]).toEqual([SERVER.host, SERVER2.host]);
    const [ra, rb] = await expectPair(sim, [pa, pb], [a, b], "direct");
    expect([ra.rhost, rb.rhost]).toEqual([b.publicIp, a.publicIp]);
    expect(elapsed(pa)).toBeLessThan(2_000);
    expect(elapsed(pb)).toBeLessThan(2_000);
  });

  test("the race with servers a minute apart: each pair is sealed in its own server's time", async () => {
    const sim = new Sim(4);
    await serveFirst(sim);
    await serveSecond(sim, 60_000);
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const pa = sim.connect(a.host, "a", {
      server: [SERVER, SERVER2],
      transport: farFrom(sim, a.host.transport, SERVER2.host, 200, []),
    });
    const pb = sim.connect(b.host, "b", {
      server: [SERVER, SERVER2],
      transport: farFrom(sim, b.host.transport, SERVER.host, 200, []),
    });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    // Sealed and checked in one time base per peer, every packet of one of the two pairs would be a minute
    // off for one side: stale, on both pairs, and no path. (The PINGs of a pair that comes before its MATCH
    // are still dropped as stale, or as foreign, until the MATCH comes: they are sent again.)
    await expectPair(sim, [pa, pb], [a, b], "direct");
  });

  test("both down: E_SERVER_SILENT after serverSilentMs, naming both", async () => {
    const sim = new Sim(6);
    const a = sim.place(1, "nat");
    const pa = sim.connect(a.host, "a", { server: [SERVER, SERVER2] });
    await sim.runUntil(() => pa.done, 60_000);
    const err = pa.error as NetpunchError;
    expect(err.code).toBe("E_SERVER_SILENT");
    expect(err.message).toContain(`${SERVER.host}:${SERVER.port}`);
    expect(err.message).toContain(`${SERVER2.host}:${SERVER2.port}`);
    expect(elapsed(pa)).toBe(10_000);
  });

  test("a server name that does not resolve costs nothing while another answers", async () => {
    const sim = new Sim(7);
    await serveSecond(sim);
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const list = ["no-such-host.invalid:10001", `second.example:${SERVER2.port}`];
    const resolve = async (e: Endpoint) => {
      if (e.host !== "second.example") throw Fail.unresolved(e.host);
      return { host: SERVER2.host, port: e.port };
    };
    const pa = sim.connect(a.host, "a", { server: list, resolve });
    const pb = sim.connect(b.host, "b", { server: list, resolve });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    await expectPair(sim, [pa, pb], [a, b], "direct");
    expect(elapsed(pa)).toBeLessThan(1_000);
  });

  test("a name with two address records is two servers: the peers meet at the second while the first is down", async () => {
    const sim = new Sim(11);
    await serveSecond(sim);
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    // SERVER's host has no server running: the name's first record is silent.
    const resolve = async (e: Endpoint) =>
      e.host === "rendezvous.example"
        ? [
            { host: SERVER.host, port: e.port },
            { host: SERVER2.host, port: e.port },
          ]
        : e;
    const server = `rendezvous.example:${SERVER_PORT}`;
    const pa = sim.connect(a.host, "a", { server, resolve });
    const pb = sim.connect(b.host, "b", { server, resolve });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    await expectPair(sim, [pa, pb], [a, b], "direct");
  });

  test("every address record of a name is registered with, each address once", async () => {
    const sim = new Sim(12);
    await serveFirst(sim);
    await serveSecond(sim);
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    // SERVER2 twice: one server, registered with once.
    const resolve = async (e: Endpoint) =>
      [SERVER2, SERVER, SERVER2].map((s) => ({ host: s.host, port: e.port }));
    const server = `rendezvous.example:${SERVER_PORT}`;
    const pa = sim.connect(a.host, "a", { server, resolve });
    const waitingAt = () => pa.events.flatMap((e) => (e.type === "waiting" ? [e.server.host] : []));
    await sim.runUntil(() => waitingAt().length >= 2, 5_000);
    expect(waitingAt().sort()).toEqual([SERVER.host, SERVER2.host].sort());
    const pb = sim.connect(b.host, "b", { server, resolve });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    await expectPair(sim, [pa, pb], [a, b], "direct");
  });

  test("no server name resolves: the first one's E_RESOLVE", async () => {
    const sim = new Sim(8);
    const a = sim.place(1, "nat");
    const resolve = async (e: Endpoint): Promise<Endpoint> => {
      throw Fail.unresolved(e.host);
    };
    const pa = sim.connect(a.host, "a", { server: ["first.invalid:1", "second.invalid:2"], resolve });
    await sim.runUntil(() => pa.done, 1_000);
    expect([(pa.error as NetpunchError).code, pa.error?.message]).toEqual([
      "E_RESOLVE",
      Fail.unresolved("first.invalid").message,
    ]);
  });
});
