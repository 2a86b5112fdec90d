// RunningProxy mode on the simulated internet: two real connect() drivers keep their punched sockets and run the
// real proxy driver (src/proxy/driver.ts) on the fake clock; "tunnels" are plain sockets on each host that
// bind LPORT and send to RHOST:RPORT, as the built-in hooks do.
import { afterEach, describe, expect, test } from "bun:test";
import { type RunningProxy, startProxy } from "../../src/proxy/driver.ts";
import type { PathTimings } from "../../src/proxy/paths.ts";
import type { PunchedSocket } from "../../src/punch/connect.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import type { NatOptions } from "../../src/transport/nat-box.ts";
import type { Transport, TransportFactory } from "../../src/transport/types.ts";
import type { PunchResult } from "../../src/types.ts";
import { type Placed, type Side, Sim } from "./world.ts";

let server: RendezvousServer | undefined;
const running: { close(): void }[] = [];
afterEach(() => {
  for (const x of running.splice(0)) x.close();
  server?.close();
  server = undefined;
});

/** The tunnel's port on each host (any free one; the sim has no other program). */
const TUNNEL_PORT = 51_820;
/** A NAT that forgets an idle mapping after 5 s, answered or not: a keepalive every 2 s must outrun it. */
const SHORT_NAT: NatOptions = { idleMs: 5_000, repliedIdleMs: 5_000 };
const text = (d: Uint8Array) => new TextDecoder().decode(d);
const bytes = (s: string) => new TextEncoder().encode(s);

interface Side1 {
  placed: Placed;
  proxy: RunningProxy;
  result: PunchResult;
  tunnel: Transport;
  heard: string[];
  /** The proxy's moves between direct and relay, as its events said. */
  switches: { at: number; to: string }[];
  /** The proxy's relay events: ready, rebinding, gave-up. */
  relayEvents: string[];
}

/**
 * A firewall between the two peers (an nft rule on a gateway, in the lab): while `blocked`, or for a `loss`
 * share of them, what either peer sends to the other's addresses is dropped; the server and its relay stay
 * reachable. Seeded, so a run is the same every time.
 */
class Wall {
  blocked = false;
  loss = 0;
  dropped = 0;
  private x = 0x2545_f491;
  wrap(factory: TransportFactory, partner: () => string[]): TransportFactory {
    return async (bind, onDatagram, onError) => {
      const t = await factory(bind, onDatagram, onError);
      return {
        ...t,
        local: t.local,
        send: (data, to) => {
          if (partner().includes(to.host) && (this.blocked || this.draw() < this.loss)) {
            this.dropped++;
            return true;
          }
          return t.send(data, to);
        },
        close: () => t.close(),
      };
    };
  }
  private draw(): number {
    this.x = (this.x * 1_103_515_245 + 12_345) % 2 ** 31;
    return this.x / 2 ** 31;
  }
}

async function proxied(
  sides: [Side, Side],
  o: {
    wall?: Wall;
    nat?: [NatOptions, NatOptions];
    keepaliveMs?: number;
    seed?: number;
    pathTimings?: Partial<PathTimings>;
    /** Both sides' pair key (connect({ pairKey })): the proxy's DATA, PING and PONG are then sealed with it. */
    pairKey?: Uint8Array;
  } = {},
): Promise<{ sim: Sim; a: Side1; b: Side1; punched: PunchedSocket[] }> {
  const sim = new Sim(o.seed ?? 1);
  server = await sim.serve();
  const placed = [sim.place(1, sides[0], o.nat?.[0]), sim.place(2, sides[1], o.nat?.[1])] as const;
  const punched: (PunchedSocket | undefined)[] = [undefined, undefined];
  const switches: { at: number; to: string }[][] = [[], []];
  const relayEvents: string[][] = [[], []];
  const wall = o.wall;
  const peers = (["a", "b"] as const).map((role, i) => {
    const host = (placed[i] as Placed).host;
    const other = placed[1 - i] as Placed;
    return sim.connect(host, role, {
      keepSocket: (s) => {
        punched[i] = s;
      },
      ...(wall ? { transport: wall.wrap(host.transport, () => [other.publicIp, other.lanIp]) } : {}),
      ...(o.pairKey ? { pairKey: o.pairKey } : {}),
    });
  });
  await sim.runUntil(() => peers.every((p) => p.done), 60_000);
  const out: Side1[] = [];
  for (const [i, p] of peers.entries()) {
    expect(p.error).toBeUndefined();
    const pl = placed[i] as Placed;
    const socket = punched[i];
    if (!socket || !p.result) throw new Error("no punched socket");
    let proxy: RunningProxy | undefined;
    void startProxy({
      punched: socket,
      onEvent: (e) => {
        if (e.type === "proxy-path") switches[i]?.push({ at: e.at, to: e.path });
        if (e.type === "proxy-relay") relayEvents[i]?.push(e.state);
      },
      host: pl.host.ip,
      tunnelPort: TUNNEL_PORT,
      transport: pl.host.transport,
      clock: sim.clock,
      random: sim.random(),
      timings: o.keepaliveMs ? { keepaliveMs: o.keepaliveMs } : {},
      ...(o.pathTimings ? { pathTimings: o.pathTimings } : {}),
    }).then((x) => {
      proxy = x;
    });
    await sim.runUntil(() => proxy !== undefined, 0);
    if (!proxy) throw new Error("proxy did not start");
    running.push(proxy);
    const heard: string[] = [];
    let tunnel: Transport | undefined;
    void pl.host
      .transport({ host: pl.host.ip, port: TUNNEL_PORT }, (d) => heard.push(text(d)))
      .then((t) => {
        tunnel = t;
      });
    await sim.runUntil(() => tunnel !== undefined, 0);
    if (!tunnel) throw new Error("tunnel socket did not bind");
    running.push(tunnel);
    out.push({
      placed: pl,
      proxy,
      result: p.result,
      tunnel,
      heard,
      switches: switches[i] ?? [],
      relayEvents: relayEvents[i] ?? [],
    });
  }
  return { sim, a: out[0] as Side1, b: out[1] as Side1, punched: punched as PunchedSocket[] };
}

/** Each tunnel sends one datagram to its proxy; returns what each tunnel heard after a second. */
async function exchange(sim: Sim, a: Side1, b: Side1, tag: string) {
  a.tunnel.send(bytes(`${tag} from a`), a.proxy.local);
  b.tunnel.send(bytes(`${tag} from b`), b.proxy.local);
  await sim.run(1_000);
  return { a: a.heard.filter((h) => h.startsWith(tag)), b: b.heard.filter((h) => h.startsWith(tag)) };
}

/** a's tunnel alone sends one datagram. */
async function oneWay(sim: Sim, a: Side1) {
  a.tunnel.send(bytes("later from a"), a.proxy.local);
  await sim.run(1_000);
}

describe("proxy mode", () => {
  test.each([
    ["nat", "nat"],
    ["public", "nat"],
    ["symmetric", "symmetric"],
  ] as [Side, Side][])(
    "%s / %s: the tunnels' datagrams cross, and nothing else reaches them",
    async (sa, sb) => {
      const { sim, a, b } = await proxied([sa, sb]);
      // The proxy's endpoint is what the tunnel is told, wherever the partner really is.
      expect(a.proxy.remote).toEqual({ host: a.result.rhost, port: a.result.rport });
      expect(await exchange(sim, a, b, "one")).toEqual({ a: ["one from b"], b: ["one from a"] });
      // Only the tunnels' own datagrams: the punch's late PINGs and CLOSEs never reached them.
      expect(a.heard).toEqual(["one from b"]);
      expect(b.heard).toEqual(["one from a"]);
      expect(a.proxy.counters).toMatchObject({ packetsOut: 1, packetsIn: 1, bytesOut: 10, bytesIn: 10 });
      if (sa === "symmetric") expect(a.result.via).toBe("relay");
    },
  );

  test("a datagram from another local port is not carried", async () => {
    const { sim, a, b } = await proxied(["nat", "nat"]);
    let other: Transport | undefined;
    void a.placed.host
      .transport({ host: a.placed.host.ip, port: 0 }, () => {})
      .then((t) => {
        other = t;
      });
    await sim.runUntil(() => other !== undefined, 0);
    other?.send(bytes("intruder"), a.proxy.local);
    other?.close();
    await sim.run(1_000);
    expect(b.heard).toEqual([]);
    expect(a.proxy.counters.packetsOut).toBe(0);
  });

  test("keepalives hold a NAT mapping with a 5 s timeout through 30 s of silence; without them it is lost", async () => {
    const kept = await proxied(["nat", "nat"], { nat: [SHORT_NAT, SHORT_NAT], keepaliveMs: 2_000 });
    await kept.sim.run(30_000);
    expect(kept.a.proxy.counters.keepalivesOut).toBeGreaterThanOrEqual(14);
    expect(await exchange(kept.sim, kept.a, kept.b, "later")).toEqual({
      a: ["later from b"],
      b: ["later from a"],
    });
    for (const x of running.splice(0)) x.close();
    server?.close();

    // The same, with keepalives (and the direct path's probes) rarer than the NAT's timeout: the mappings
    // expire and the datagrams are filtered.
    const lost = await proxied(["nat", "nat"], {
      nat: [SHORT_NAT, SHORT_NAT],
      keepaliveMs: 60_000,
      pathTimings: { aliveMs: 60_000 },
    });
    await lost.sim.run(30_000);
    await oneWay(lost.sim, lost.a);
    expect(lost.b.heard).toEqual([]);
    expect(lost.sim.net.trace).toContainEqual(expect.objectContaining({ why: "filtered" }));
  });

  test("a NAT rebinding (the partner's gateway forgets it and maps a new port) is followed", async () => {
    // b behind a NAT that picks a random port for a new mapping: after a flush, b's packets come from elsewhere.
    const { sim, a, b } = await proxied(["public", "nat"], { nat: [{}, { portPreservation: false }] });
    expect(await exchange(sim, a, b, "before")).toEqual({ a: ["before from b"], b: ["before from a"] });
    const old = a.proxy.remote;
    b.placed.gateway?.flush();
    // b speaks first after the flush (its tunnel, or its keepalive): a learns the new port from it.
    b.tunnel.send(bytes("after from b"), b.proxy.local);
    await sim.run(1_000);
    expect(a.proxy.remote).not.toEqual(old);
    expect(a.proxy.counters.moves).toBe(1);
    a.tunnel.send(bytes("after from a"), a.proxy.local);
    await sim.run(1_000);
    expect(a.heard).toContain("after from b");
    expect(b.heard).toContain("after from a");
  });

  test("close() releases both sockets: the ports are free again", async () => {
    const { sim, a } = await proxied(["nat", "nat"]);
    a.proxy.close();
    let rebound = false;
    void a.placed.host
      .transport({ host: a.placed.host.ip, port: a.proxy.local.port }, () => {})
      .then((t) => {
        rebound = true;
        t.close();
      });
    await sim.runUntil(() => rebound, 0);
    expect(rebound).toBe(true);
  });
});

/** Both tunnels send a numbered datagram every 100 ms for `ms`; returns how many each side heard. */
async function stream(sim: Sim, a: Side1, b: Side1, tag: string, ms: number) {
  for (let t = 0; t < ms; t += 100) {
    a.tunnel.send(bytes(`${tag} ${t} from a`), a.proxy.local);
    b.tunnel.send(bytes(`${tag} ${t} from b`), b.proxy.local);
    await sim.run(100);
  }
  await sim.run(500);
  return {
    a: a.heard.filter((h) => h.startsWith(`${tag} `)).length,
    b: b.heard.filter((h) => h.startsWith(`${tag} `)).length,
  };
}

describe("proxy mode of a paired tunnel (pair key on both sides)", () => {
  const PAIR_KEY = Uint8Array.from({ length: 32 }, (_, i) => 255 - i);

  test.each([
    ["nat", "nat"],
    ["symmetric", "symmetric"],
  ] as [Side, Side][])(
    "%s / %s: the tunnels' datagrams cross, sealed with the pair's key",
    async (sa, sb) => {
      const { sim, a, b, punched } = await proxied([sa, sb], { pairKey: PAIR_KEY });
      // The kept socket's packet key is the pair's, not the server's.
      for (const s of punched) expect([...s.key]).not.toEqual([...s.serverKey]);
      expect(await exchange(sim, a, b, "one")).toEqual({ a: ["one from b"], b: ["one from a"] });
      expect(a.proxy.counters).toMatchObject({ packetsOut: 1, packetsIn: 1 });
    },
  );

  test("direct blocked at first: on the relay (bound with the server's key), then direct once it opens", async () => {
    const wall = new Wall();
    wall.blocked = true;
    const { sim, a, b } = await proxied(["nat", "nat"], { wall, pairKey: PAIR_KEY });
    expect([a.proxy.path, b.proxy.path]).toEqual(["relay", "relay"]);
    expect(await exchange(sim, a, b, "relayed")).toEqual({ a: ["relayed from b"], b: ["relayed from a"] });
    wall.blocked = false;
    await sim.runUntil(() => a.proxy.path === "direct" && b.proxy.path === "direct", 60_000);
    expect([a.proxy.path, b.proxy.path]).toEqual(["direct", "direct"]);
    expect(await exchange(sim, a, b, "direct")).toEqual({ a: ["direct from b"], b: ["direct from a"] });
  });
});

describe("proxy mode: relay first, then direct; fallback; hysteresis", () => {
  test("direct blocked at first: the tunnel starts on the relay at once, and moves to direct once it opens", async () => {
    const wall = new Wall();
    wall.blocked = true;
    const { sim, a, b } = await proxied(["nat", "nat"], { wall });
    expect([a.result.via, b.result.via]).toEqual(["relay", "relay"]);
    expect([a.proxy.path, b.proxy.path]).toEqual(["relay", "relay"]);
    expect(await exchange(sim, a, b, "relayed")).toEqual({ a: ["relayed from b"], b: ["relayed from a"] });
    // Still blocked: probing goes on, nothing moves.
    await sim.run(20_000);
    expect([a.proxy.path, b.proxy.path, a.proxy.switches]).toEqual(["relay", "relay", 0]);
    wall.blocked = false;
    const opened = sim.clock.now();
    await sim.runUntil(() => a.proxy.path === "direct" && b.proxy.path === "direct", 60_000);
    expect([a.proxy.path, b.proxy.path]).toEqual(["direct", "direct"]);
    // Found within one probe round (at most 15 s apart by then) and three answers.
    expect((a.switches[0]?.at ?? Infinity) - opened).toBeLessThanOrEqual(16_000);
    expect(a.proxy.lastSwitch).toMatchObject({ to: "direct", reason: "3 probes answered in a row" });
    expect(a.proxy.remote).toEqual({ host: b.placed.publicIp, port: expect.any(Number) });
    // The datagrams now go straight between the two NATs, and still cross.
    const before = sim.net.trace.length;
    expect(await exchange(sim, a, b, "direct")).toEqual({ a: ["direct from b"], b: ["direct from a"] });
    const direct = sim.net.trace
      .slice(before)
      .filter(
        (r) => r.what === "deliver" && r.to.host === b.placed.lanIp && r.from.host === a.placed.publicIp,
      );
    expect(direct.length).toBeGreaterThan(0);
    expect([a.switches.length, b.switches.length]).toEqual([1, 1]);
  });

  test("the direct path dies: back to the relay within seconds, the tunnel keeps flowing; it comes back after the hold", async () => {
    const wall = new Wall();
    const { sim, a, b } = await proxied(["nat", "nat"], { wall });
    expect([a.result.via, a.proxy.path, b.proxy.path]).toEqual(["direct", "direct", "direct"]);
    // The relay the punch asked for beside it gets bound in the background.
    await sim.runUntil(() => a.proxy.relayReady && b.proxy.relayReady, 10_000);
    expect([a.proxy.relayReady, b.proxy.relayReady]).toEqual([true, true]);
    expect(await stream(sim, a, b, "before", 2_000)).toEqual({ a: 20, b: 20 });
    wall.blocked = true;
    const died = sim.clock.now();
    await sim.runUntil(() => a.proxy.path === "relay" && b.proxy.path === "relay", 10_000);
    expect([a.proxy.path, b.proxy.path]).toEqual(["relay", "relay"]);
    // The fallback time: about 3 s after the last answer, and the last answer came at most 1 s before.
    expect((a.switches[0]?.at ?? Infinity) - died).toBeLessThanOrEqual(5_000);
    expect(a.proxy.lastSwitch?.reason).toMatch(/^no answer on the direct path for \d+ s$/);
    // On the relay, every datagram crosses.
    expect(await stream(sim, a, b, "relayed", 3_000)).toEqual({ a: 30, b: 30 });
    wall.blocked = false;
    const back = sim.clock.now();
    await sim.runUntil(() => a.proxy.path === "direct" && b.proxy.path === "direct", 60_000);
    // Not before the hold (10 s after the fallback) is over.
    expect((a.switches[1]?.at ?? 0) - (a.switches[0]?.at ?? 0)).toBeGreaterThanOrEqual(10_000);
    expect((a.switches[1]?.at ?? Infinity) - back).toBeLessThanOrEqual(20_000);
    expect(a.switches.map((x) => x.to)).toEqual(["relay", "direct"]);
    // While held, the probes keep a proven path's pace (a PING and a PONG a second each way), however
    // the two sides' probes reach each other.
    const [fell, rose] = [a.switches[0]?.at ?? 0, a.switches[1]?.at ?? 0];
    const probes = sim.net.trace.filter(
      (r) =>
        r.what === "send" &&
        r.at > back &&
        r.at < rose &&
        r.from.host === a.placed.lanIp &&
        r.to.host === b.placed.publicIp,
    );
    expect(rose).toBeGreaterThan(fell);
    // At most a PING and a PONG a second, plus the search's (nudged ones 200 ms apart) before three answered.
    expect(probes.length).toBeLessThanOrEqual(4 * Math.ceil((rose - back) / 1000) + 4);
    expect(await stream(sim, a, b, "again", 2_000)).toEqual({ a: 20, b: 20 });
  });

  test("no flapping under intermittent loss: 20% of the direct datagrams lost for 2 minutes moves nothing", async () => {
    const wall = new Wall();
    const { sim, a, b } = await proxied(["nat", "nat"], { wall });
    await sim.runUntil(() => a.proxy.relayReady && b.proxy.relayReady, 10_000);
    wall.loss = 0.2;
    await sim.run(120_000);
    expect(wall.dropped).toBeGreaterThan(50);
    expect([a.proxy.path, b.proxy.path, a.proxy.switches, b.proxy.switches]).toEqual([
      "direct",
      "direct",
      0,
      0,
    ]);
  });

  test("the relay is kept alive while unused: after 3 minutes on direct the fallback still works", async () => {
    const wall = new Wall();
    const { sim, a, b } = await proxied(["nat", "nat"], { wall });
    await sim.runUntil(() => a.proxy.relayReady && b.proxy.relayReady, 10_000);
    // Three times the relay's 60 s idle timeout with no tunnel traffic at all.
    await sim.run(180_000);
    wall.blocked = true;
    await sim.runUntil(() => a.proxy.path === "relay" && b.proxy.path === "relay", 10_000);
    expect(await exchange(sim, a, b, "kept")).toEqual({ a: ["kept from b"], b: ["kept from a"] });
  });
});

describe("proxy mode: our own NAT rebinding on the relay path", () => {
  test.each([
    ["", undefined],
    [
      " (a paired tunnel: RELAY_BIND on the server's key, DATA on the pair's)",
      Uint8Array.from({ length: 32 }, (_, i) => i ^ 0x5a),
    ],
  ] as [string, Uint8Array | undefined][])(
    "two symmetric NATs, a's gateway forgets it: a binds at the relay again from its new port and the tunnel goes on%s",
    async (_, pairKey) => {
      const { sim, a, b } = await proxied(["symmetric", "symmetric"], pairKey ? { pairKey } : {});
      expect([a.proxy.path, b.proxy.path]).toEqual(["relay", "relay"]);
      expect(await stream(sim, a, b, "before", 1_000)).toEqual({ a: 10, b: 10 });
      a.placed.gateway?.flush();
      // The tunnel keeps sending through the cut; a's relay probes go unanswered (from a new port the relay
      // has not bound), so a binds again, and the datagrams cross again.
      await stream(sim, a, b, "cut", 8_000);
      expect(a.relayEvents).toContain("rebinding");
      expect(a.relayEvents.at(-1)).toBe("ready");
      expect(await stream(sim, a, b, "after", 2_000)).toEqual({ a: 20, b: 20 });
      expect([a.proxy.path, a.proxy.relayReady, b.proxy.relayReady]).toEqual(["relay", true, true]);
    },
  );
});
