// The rendezvous as shipped, datagram by datagram: serve() and two connect()s on the simulated internet. These
// were checks on a hand-written copy of the drivers (the old test/unit/memory-network.test.ts); now they run the real
// ones, sealing, opening, replay guards, credit ledger, cookies and clock offsets included.
import { afterEach, describe, expect, test } from "bun:test";
import { formatEndpoint, sameEndpoint } from "../../src/addr.ts";
import type { NetpunchError } from "../../src/errors.ts";
import { deriveKey } from "../../src/protocol/auth.ts";
import { MessageType, NONCE_LEN } from "../../src/protocol/constants.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { open, seal } from "../../src/protocol/packet.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import { seededRandom } from "../../src/sys/random.ts";
import type { LinkOptions, TraceRecord } from "../../src/transport/memory.ts";
import { expectNoAmplification, expectPair, fromServer } from "./support.ts";
import { MASQUERADE, type Placed, SECRET, SERVER, Sim, T0 } from "./world.ts";

let server: RendezvousServer | undefined;
afterEach(() => {
  server?.close();
  server = undefined;
});

/** The plain server: no alt port and no relay, so every datagram it sends is part of the rendezvous. */
const PLAIN = { altPort: undefined, relay: undefined };

async function natPair(
  o: { seed?: number; link?: LinkOptions; serverLink?: LinkOptions; bAfterMs?: number } = {},
) {
  const sim = new Sim(o.seed ?? 1);
  if (o.serverLink) sim.serverLink = o.serverLink;
  server = await sim.serve(PLAIN);
  const a = sim.place(1, "nat", o.link);
  const b = sim.place(2, "nat", o.link);
  const pa = sim.connect(a.host, "a");
  if (o.bAfterMs) await sim.run(o.bAfterMs);
  const pb = sim.connect(b.host, "b");
  await sim.runUntil(() => pa.done && pb.done, 120_000);
  return { sim, a, b, pa, pb };
}

const isPing = (r: TraceRecord) => r.what === "send" && r.data?.[3] === MessageType.ping;

describe("two peers and a server", () => {
  test("both finish with each other's addresses; the server forgets the session", async () => {
    const { sim, a, b, pa, pb } = await natPair();
    const [ra] = await expectPair(sim, [pa, pb], [a, b], "direct");
    // Register, match push, PING/PONG, LAN grace (150 ms at most), CLOSE burst: well under a second.
    expect((pa.at ?? Number.POSITIVE_INFINITY) - T0).toBeLessThan(1_000);
    expect((pb.at ?? Number.POSITIVE_INFINITY) - T0).toBeLessThan(1_000);
    expect(ra.rttMs).toBe(40); // four 5 ms links each way
    const stats = server?.stats();
    expect([stats?.sessions, stats?.pairsMade, stats?.dropped]).toEqual([0, 1, {}]);
    // The server answered exactly the two peers' public addresses, and never more than they sent it.
    expect(new Set(sim.net.trace.filter(fromServer).map((r) => formatEndpoint(r.to)))).toEqual(
      new Set([ra.publicAddr, pb.result?.publicAddr ?? ""]),
    );
    expectNoAmplification(sim.net.trace);
    // Both peers tried the partner's LAN address too (on another LAN: no route there).
    for (const lan of [a.lanIp, b.lanIp])
      expect(sim.net.trace.filter((r) => isPing(r) && r.to.host === lan).length).toBeGreaterThan(0);
  });

  test("a partner arriving 40 s later (after keepalives) still connects", async () => {
    const { sim, a, b, pa, pb } = await natPair({ bAfterMs: 40_000 });
    await expectPair(sim, [pa, pb], [a, b], "direct");
    const registers = sim.net.trace.filter(
      (r) =>
        r.what === "send" &&
        r.from.host === a.lanIp &&
        sameEndpoint(r.to, SERVER) &&
        r.data?.[3] === MessageType.register,
    );
    const key = deriveKey(SECRET);
    const cookies = registers.map((r) => {
      const o = open(key, r.data ?? new Uint8Array());
      return o.ok && o.frame.msg.type === "register" && o.frame.msg.cookie !== undefined;
    });
    // At start, again with the challenge's cookie a round trip later (three 5 ms links each way: 30 ms), then
    // a keepalive every 15 s from the moment it was registered (one more round trip).
    expect({ at: registers.map((r) => r.at - T0), cookies }).toEqual({
      at: [0, 30, 15_060, 30_060],
      cookies: [false, true, true, true],
    });
    expectNoAmplification(sim.net.trace);
  });

  test("a peer waiting 5.5 minutes reports still-waiting after 1, 2 and 5 minutes, then connects when b comes", async () => {
    const sim = new Sim(1);
    server = await sim.serve(PLAIN);
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const pa = sim.connect(a.host, "a");
    await sim.run(330_000);
    const reports = pa.events.flatMap((e) =>
      e.type === "still-waiting" ? [{ ...e, waitedMs: Math.round(e.waitedMs / 60_000) }] : [],
    );
    expect(reports).toEqual(
      [1, 2, 5].map((min) => ({ type: "still-waiting", session: "sim", partnerRole: "b", waitedMs: min })),
    );
    const pb = sim.connect(b.host, "b");
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    await expectPair(sim, [pa, pb], [a, b], "direct");
  });

  test("NAT filtering: a's first PINGs die at b's NAT until b has pinged a, and the peers still connect", async () => {
    const sim = new Sim(1);
    server = await sim.serve(PLAIN);
    const a = sim.place(1, "nat");
    // b's own link is slow, so b hears of the match (and pings) 45 ms after a does.
    const gw = sim.net.nat("198.18.2.1", MASQUERADE);
    const b: Placed = {
      host: sim.net.host("198.19.2.10", { behind: gw, delayMs: 50 }),
      publicIp: gw.publicIp,
      lanIp: "198.19.2.10",
      gateway: gw,
    };
    const pa = sim.connect(a.host, "a");
    const pb = sim.connect(b.host, "b");
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    await expectPair(sim, [pa, pb], [a, b], "direct");
    const filtered = sim.net.trace.filter((r) => r.why === "filtered" && r.to.host === b.publicIp);
    expect(filtered.length).toBeGreaterThan(0);
    // b's first PING to a opened b's NAT when it passed it, 50 ms after it left b; nothing was filtered after.
    const bFirstPing = sim.net.trace.find(
      (r) => isPing(r) && r.from.host === b.lanIp && r.to.host === a.publicIp,
    );
    for (const f of filtered) expect(f.at).toBeLessThan((bFirstPing?.at ?? 0) + 50);
  });

  // Loss on every link, server's too: each path crosses two links, so 10.56% a link is 20% a datagram.
  const LINK_LOSS = 1 - Math.sqrt(0.8);
  async function lossy(seed: number) {
    const link = { loss: LINK_LOSS };
    const sim = new Sim(seed);
    sim.serverLink = link;
    server = await sim.serve(PLAIN);
    const a = sim.place(1, "public", link);
    const b = sim.place(2, "public", link);
    const pa = sim.connect(a.host, "a");
    const pb = sim.connect(b.host, "b");
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    const sent = sim.net.trace.filter((r) => r.what === "send").length;
    const lost = sim.net.trace.filter((r) => r.why === "loss").length;
    return { sim, a, b, pa, pb, sent, lost };
  }

  test.each(Array.from({ length: 20 }, (_, i) => i + 1))(
    "20%% random loss in every direction, seed %d",
    async (seed) => {
      const { sim, a, b, pa, pb } = await lossy(seed);
      await expectPair(sim, [pa, pb], [a, b], "direct");
      expectNoAmplification(sim.net.trace);
    },
  );

  test("(those 20 runs do lose about 20% of their datagrams; a single run may happen to lose none)", async () => {
    let sent = 0;
    let lost = 0;
    for (let seed = 1; seed <= 20; seed++) {
      const r = await lossy(seed);
      server?.close();
      sent += r.sent;
      lost += r.lost;
    }
    expect(sent).toBeGreaterThan(400);
    // A datagram can be lost on its first link (then it never reaches the second) or its second.
    expect(lost / sent).toBeGreaterThan(0.12);
    expect(lost / sent).toBeLessThan(0.28);
  });

  test("a peer with the wrong secret: the server drops it (bad-auth), the peer fails with E_SERVER_SILENT", async () => {
    const sim = new Sim(1);
    server = await sim.serve(PLAIN);
    const a = sim.place(1, "nat");
    const pa = sim.connect(a.host, "a", { secret: "a wrong secret, also 32 bytes or more" });
    await sim.runUntil(() => pa.done, 30_000);
    expect((pa.error as NetpunchError | undefined)?.code).toBe("E_SERVER_SILENT");
    expect(pa.at).toBe(T0 + 10_000);
    const dropped = server.stats().dropped;
    expect(Object.keys(dropped)).toEqual(["bad-auth"]);
    expect(dropped["bad-auth"]).toBeGreaterThan(0);
    expect(sim.net.trace.filter(fromServer)).toHaveLength(0);
  });

  test("a replayed REGISTER is dropped by the server's replay guard; a replayed first contact changes nothing", async () => {
    const sim = new Sim(1);
    server = await sim.serve(PLAIN);
    const key = deriveKey(SECRET);
    const random = seededRandom(99);
    const got: Message[] = [];
    const peer = await sim.place(1, "public").host.transport({ host: "0.0.0.0", port: 40_001 }, (data) => {
      const o = open(key, data);
      if (o.ok) got.push(o.frame.msg);
    });
    const register: Message = {
      type: "register",
      session: "sim",
      role: "a",
      peerId: "aaaaaaaaaaaaaaaa",
      candidates: [],
    };
    const sealed = (m: Message) =>
      seal(key, m, { timestamp: sim.clock.now(), nonce: random.bytes(NONCE_LEN) });
    const statuses = () => got.map((m) => m.type === "registered" && m.status);
    // First contact, replayed: it skips the guard, but each copy only gets a challenge and registers nothing.
    const first = sealed(register);
    peer.send(first, SERVER);
    peer.send(first, SERVER);
    await sim.run(100);
    expect([server.stats().dropped, server.stats().sessions]).toEqual([{}, 0]);
    expect(statuses()).toEqual(["challenge", "challenge"]);
    const challenge = got[0];
    if (challenge?.type !== "registered") throw new Error("no challenge");
    // With the cookie, the REGISTER changes state: its replay is dropped by the guard.
    const packet = sealed({ ...register, cookie: challenge.cookie });
    peer.send(packet, SERVER);
    peer.send(packet, SERVER);
    await sim.run(100);
    expect([server.stats().dropped, server.stats().sessions]).toEqual([{ replay: 1 }, 1]);
    expect(statuses()).toEqual(["challenge", "challenge", "waiting"]);
    expect(sim.net.trace.filter(fromServer)).toHaveLength(3);
    peer.close();
  });

  test("negative control: two symmetric NATs and no relay: no PING gets through, both fail with E_PUNCH_FAILED", async () => {
    const sim = new Sim(1);
    server = await sim.serve({ relay: undefined });
    const a = sim.place(1, "symmetric");
    const b = sim.place(2, "symmetric");
    const pa = sim.connect(a.host, "a");
    const pb = sim.connect(b.host, "b");
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    expect([pa.result, pb.result]).toEqual([undefined, undefined]);
    expect([(pa.error as NetpunchError).code, (pb.error as NetpunchError).code]).toEqual([
      "E_PUNCH_FAILED",
      "E_PUNCH_FAILED",
    ]);
    // Not one datagram from b's NAT reached a, nor the other way round.
    const across = sim.net.trace.filter(
      (r) =>
        r.what === "deliver" &&
        ((r.to.host === a.lanIp && r.from.host === b.publicIp) ||
          (r.to.host === b.lanIp && r.from.host === a.publicIp)),
    );
    expect(across).toEqual([]);
  });
});

describe("peers' own clocks need not be set", () => {
  test("a peer an hour fast and one 40 s slow still connect: after the first contact all is in server time", async () => {
    const sim = new Sim(3);
    server = await sim.serve(PLAIN);
    await sim.run(11_000); // past the server's first replay window, as a server that has been up
    const a = sim.place(1, "nat");
    const b = sim.place(2, "nat");
    const skewed = (ms: number) => ({
      now: () => sim.clock.now() + ms,
      setTimer: (delay: number, fn: () => void) => sim.clock.setTimer(delay, fn),
    });
    const pa = sim.connect(a.host, "a", { clock: skewed(3_600_000) });
    const pb = sim.connect(b.host, "b", { clock: skewed(-40_000) });
    await sim.runUntil(() => pa.done && pb.done, 60_000);
    expect([pa.error?.message, pb.error?.message]).toEqual([undefined, undefined]);
    expect(pa.result?.rhost).toBe(b.publicIp);
    expect(pb.result?.rhost).toBe(a.publicIp);
  });
});

describe("the second peer waits for no challenge round trip", () => {
  const challengesTo = (sim: Sim, ip: string) =>
    sim.net.trace.filter((r) => fromServer(r) && r.to.host === ip && r.data?.[3] === MessageType.registered)
      .length;

  test("a server up for more than its replay window announces it at once, on probation; a just-started one challenges it", async () => {
    for (const [upMs, want] of [
      [11_000, 0],
      [0, 1],
    ] as const) {
      const sim = new Sim(5);
      server = await sim.serve(PLAIN);
      await sim.run(upMs);
      const a = sim.place(1, "nat");
      const b = sim.place(2, "nat");
      const pa = sim.connect(a.host, "a");
      await sim.run(1_000);
      const pb = sim.connect(b.host, "b");
      await sim.runUntil(() => pa.done && pb.done, 30_000);
      expect(pb.result?.rhost).toBe(a.publicIp);
      expect(challengesTo(sim, b.publicIp)).toBe(want);
      // The first peer is challenged either way: it waits for its partner anyway.
      expect(challengesTo(sim, a.publicIp)).toBeGreaterThanOrEqual(1);
      server.close();
      server = undefined;
    }
  });
});
