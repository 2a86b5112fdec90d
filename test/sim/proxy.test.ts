// RunningProxy mode on the simulated internet: two real connect() drivers keep their punched sockets and run the
// real proxy driver (src/proxy/driver.ts) on the fake clock; "tunnels" are plain sockets on each host that
// bind LPORT and send to RHOST:RPORT, as the built-in hooks do.
import { afterEach, describe, expect, test } from "bun:test";
import { type RunningProxy, startProxy } from "../../src/proxy/driver.ts";
import type { PunchedSocket } from "../../src/punch/connect.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import type { NatOptions } from "../../src/transport/nat-box.ts";
import type { Transport } from "../../src/transport/types.ts";
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
}

async function proxied(
  sides: [Side, Side],
  o: { nat?: [NatOptions, NatOptions]; keepaliveMs?: number; seed?: number } = {},
): Promise<{ sim: Sim; a: Side1; b: Side1 }> {
  const sim = new Sim(o.seed ?? 1);
  server = await sim.serve();
  const placed = [sim.place(1, sides[0], o.nat?.[0]), sim.place(2, sides[1], o.nat?.[1])] as const;
  const punched: (PunchedSocket | undefined)[] = [undefined, undefined];
  const peers = (["a", "b"] as const).map((role, i) =>
    sim.connect((placed[i] as Placed).host, role, {
      keepSocket: (s) => {
        punched[i] = s;
      },
    }),
  );
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
      host: pl.host.ip,
      tunnelPort: TUNNEL_PORT,
      transport: pl.host.transport,
      clock: sim.clock,
      random: sim.random(),
      timings: o.keepaliveMs ? { keepaliveMs: o.keepaliveMs } : {},
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
    out.push({ placed: pl, proxy, result: p.result, tunnel, heard });
  }
  return { sim, a: out[0] as Side1, b: out[1] as Side1 };
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

    // The same, with keepalives rarer than the NAT's timeout: the mappings expire and the datagrams are filtered.
    const lost = await proxied(["nat", "nat"], { nat: [SHORT_NAT, SHORT_NAT], keepaliveMs: 60_000 });
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
