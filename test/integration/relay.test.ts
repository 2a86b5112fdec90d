// The relay as shipped: serve() and two connect()s over the in-memory network, where no datagram passes
// between the two peers (as between two symmetric NATs), so they meet through the relay. Attackers spoof
// source addresses with MemoryNetwork.inject.
import { afterAll, afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { connect, type NetpunchEvent, type PunchResult, serve } from "../../src/index.ts";
import { deriveKey } from "../../src/protocol/auth.ts";
import { NONCE_LEN, RELAY_PADDED_LEN } from "../../src/protocol/constants.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { open, seal } from "../../src/protocol/packet.ts";
import { MAX_RELAYS_PER_SOURCE_IP } from "../../src/rendezvous/relay-admission.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import { MemoryNetwork } from "../../src/transport/memory.ts";
import type { Transport, TransportFactory } from "../../src/transport/types.ts";
import { freePort, run, stopAll } from "./cli.ts";

setDefaultTimeout(20_000);

const secret = "relay-integration-secret";
const KEY = deriveKey(secret);
const SERVER = { host: "198.51.100.7", port: 10001 };
const A_IP = "203.0.113.10";
const B_IP = "198.18.0.20";
const VICTIM = { host: "192.0.2.99", port: 5000 };

/** A host on the memory network: port 0 picks the next free one, as the OS would. */
function hostOn(net: MemoryNetwork, ip: string): TransportFactory {
  let next = 20_000;
  return async (bind, onDatagram) => {
    if (bind.port) return net.bind({ host: ip, port: bind.port }, onDatagram);
    for (;;) {
      try {
        return net.bind({ host: ip, port: next++ }, onDatagram);
      } catch {
        // in use: the next one
      }
    }
  };
}

const sealed = (msg: Message) => seal(KEY, msg, { timestamp: Date.now(), nonce: randomBytes(NONCE_LEN) });
const opened = (data: Uint8Array) => {
  const r = open(KEY, data);
  return r.ok ? r.frame.msg : undefined;
};

let server: RendezvousServer | undefined;
const tunnels: Transport[] = [];
afterAll(stopAll);
afterEach(() => {
  server?.close();
  server = undefined;
  for (const t of tunnels.splice(0)) t.close();
});

type RelayOptions = Parameters<typeof serve>[0]["relay"];

/** The server and any number of peer hosts, no two of which can reach each other (symmetric NATs). */
async function world(relay: RelayOptions) {
  const net = new MemoryNetwork();
  net.drop = (r) => r.from.host !== SERVER.host && r.to.host !== SERVER.host;
  const events: NetpunchEvent[] = [];
  server = await serve({
    listen: SERVER,
    secret,
    relay,
    transport: hostOn(net, SERVER.host),
    onEvent: (e) => events.push(e),
  });
  const hosts = new Map<string, TransportFactory>(); // one port allocator per host
  const pair = (session: string, ipA: string, ipB: string, punchMs = 5_000) => {
    const peer = (role: "a" | "b", ip: string) => {
      const factory = hosts.get(ip) ?? hostOn(net, ip);
      hosts.set(ip, factory);
      const peerEvents: NetpunchEvent[] = [];
      const done = connect({
        server: SERVER,
        secret,
        role,
        session,
        lan: false,
        transport: factory,
        timings: { relayAfterMs: 100, punchMs },
        onEvent: (e) => peerEvents.push(e),
      });
      return { done, events: peerEvents };
    };
    return [peer("a", ipA), peer("b", ipB)] as const;
  };
  return { net, events, pair };
}

/** A server with a relay, and a pair that cannot reach each other directly: they connect through the relay. */
async function relayedPair(relay: RelayOptions = {}) {
  const { net, events, pair } = await world(relay);
  const [pa, pb] = pair("relayed", A_IP, B_IP);
  const [a, b] = (await Promise.all([pa.done, pb.done])) as [PunchResult, PunchResult];
  const relayEp = { host: SERVER.host, port: a.rport };
  // The ids as they went over the wire, as an insider who holds the secret could learn them.
  const binds = net.sent.flatMap((r) => {
    const m = opened(r.data);
    return m?.type === "relayBind" ? [{ from: r.from, msg: m }] : [];
  });
  const bindOf = (ip: string) => {
    const b = binds.find((x) => x.from.host === ip);
    if (!b) throw new Error(`no RELAY_BIND from ${ip}`);
    return b.msg;
  };
  // The peers have exited; their tunnels now use the same ports.
  const at = (ip: string, port: number) => {
    const got: Uint8Array[] = [];
    const t = net.bind({ host: ip, port }, (d) => got.push(d));
    tunnels.push(t);
    return { t, got };
  };
  return { net, a, b, relayEp, events, bindOf, tunnelA: at(A_IP, a.lport), tunnelB: at(B_IP, b.lport) };
}

const settle = () => Bun.sleep(20);

test("two peers with no direct path meet through the relay, which then carries their tunnel", async () => {
  const { a, b, relayEp, tunnelA, tunnelB } = await relayedPair();
  expect([a.via, b.via]).toEqual(["relay", "relay"]);
  expect(b.rport).toBe(relayEp.port);
  const before = server?.stats();
  tunnelA.t.send(new TextEncoder().encode("wg handshake"), relayEp);
  await settle();
  expect(tunnelB.got.map((d) => new TextDecoder().decode(d))).toEqual(["wg handshake"]);
  // The server's stats (serve --metrics): one relay, the 12 bytes counted toward b, nothing back toward a.
  const after = server?.stats();
  expect([after?.relays, after?.relaysOpened]).toEqual([1, 1]);
  expect((after?.relayedBytesToward.b ?? 0) - (before?.relayedBytesToward.b ?? 0)).toBe(12);
  expect(after?.relayedBytesToward.a).toBe(before?.relayedBytesToward.a);
  expect(after?.relayedBytes).toBe((after?.relayedBytesToward.a ?? 0) + (after?.relayedBytesToward.b ?? 0));
});

// Audit (a): an insider bound a spoofed victim address and the relay sent that victim 10 MB in 10 s.
test("a RELAY_BIND from a spoofed victim address earns the victim one small challenge and binds nothing", async () => {
  const { net, relayEp, bindOf, tunnelA, tunnelB } = await relayedPair();
  const sentBefore = net.sent.length;
  net.inject(
    VICTIM,
    relayEp,
    sealed({ type: "relayBind", pairId: bindOf(A_IP).pairId, peerId: bindOf(A_IP).peerId }),
  );
  await settle();
  const toVictim = net.sent.slice(sentBefore).filter((r) => r.to.host === VICTIM.host);
  expect(toVictim.map((r) => opened(r.data)?.type)).toEqual(["relayChallenge"]);
  expect(toVictim[0]?.data.length).toBeLessThan(RELAY_PADDED_LEN); // smaller than the BIND: no amplification
  // Traffic still goes to A's proven address, never to the victim.
  for (let i = 0; i < 10; i++) tunnelB.t.send(new Uint8Array(1000), relayEp);
  await settle();
  expect(tunnelA.got.length).toBe(10);
  expect(net.sent.slice(sentBefore).filter((r) => r.to.host === VICTIM.host).length).toBe(1);
});

// Audit (b): 15 relays were held from one host, and a real pair then failed with "start it with serve
// --relay" though the relay was on and full.
test("one address holds at most its share of relays; honest pairs still get one; full, limit and off are told apart", async () => {
  const ATTACKER = "203.0.113.66";
  const { pair } = await world({ maxSessions: MAX_RELAYS_PER_SOURCE_IP + 1 });
  const held = Array.from({ length: MAX_RELAYS_PER_SOURCE_IP }, (_, i) =>
    pair(`held-${i}`, ATTACKER, ATTACKER),
  );
  const results = await Promise.all(held.flatMap(([x, y]) => [x.done, y.done]));
  expect(results.filter((r) => r.via !== "relay")).toEqual([]);
  const relayState = (p: { events: NetpunchEvent[] }) =>
    p.events.flatMap((e) => (e.type === "relay" ? [e.state] : []));
  const failure = (p: { done: Promise<PunchResult> }) =>
    p.done.then(
      () => "connected",
      (e: Error) => e.message,
    );

  const [xa, xb] = pair("one-too-many", ATTACKER, ATTACKER, 1_500);
  const over = await Promise.all([failure(xa), failure(xb)]);
  expect(over[0]).toContain("its address already holds its share of relays");
  expect(relayState(xa)).toContain("limit");

  const [ha, hb] = pair("honest", A_IP, B_IP);
  expect((await Promise.all([ha.done, hb.done])).map((r) => r.via)).toEqual(["relay", "relay"]);

  const [fa, fb] = pair("too-late", "198.18.0.30", "198.18.0.31", 1_500);
  const late = await Promise.all([failure(fa), failure(fb)]);
  expect(late).toEqual([
    expect.stringContaining("every slot is taken"),
    expect.stringContaining("every slot is taken"),
  ]);
  expect(relayState(fa)).toContain("full");
  const stats = server?.stats();
  expect(stats?.relaysOpened).toBe(MAX_RELAYS_PER_SOURCE_IP + 1);
  expect(stats?.relaysRefused.limit).toBeGreaterThan(0);
  expect(stats?.relaysRefused.full).toBeGreaterThan(0);
  expect(stats?.relaysRefused.off).toBe(0);
});

test("a server without --relay answers off, and the failure says to start it with serve --relay", async () => {
  const { pair } = await world(undefined);
  const [pa, pb] = pair("no-relay", A_IP, B_IP, 1_500);
  const [ea, eb] = await Promise.all(
    [pa.done, pb.done].map((p) =>
      p.then(
        () => "",
        (e: Error) => e.message,
      ),
    ),
  );
  expect(ea).toContain("start it with serve --relay");
  expect(eb).toContain("start it with serve --relay");
  expect(pa.events).toContainEqual({ type: "relay", state: "off" });
  const refused = server?.stats().relaysRefused;
  expect(refused?.off).toBeGreaterThan(0);
  expect([refused?.full, refused?.limit, server?.stats().relaysOpened]).toEqual([0, 0, 0]);
});

// Audit (c): an outsider spoofing a bound address had 15.9 MB of junk forwarded to the partner and kept the
// relay from idling out.
test("a spoofer of one bound address cannot hold the relay open once the other side is silent", async () => {
  const IDLE_MS = 400;
  const { net, a, relayEp, events, tunnelB } = await relayedPair({ idleMs: IDLE_MS });
  const spoofed = { host: A_IP, port: a.lport };
  const start = Date.now();
  while (Date.now() - start < 4 * IDLE_MS && !events.some((e) => e.type === "server-relay-closed")) {
    net.inject(spoofed, relayEp, new Uint8Array(100)); // junk "from" A, every 50 ms
    await Bun.sleep(50);
  }
  expect(events.map((e) => e.type)).toContain("server-relay-closed");
  // What still holds, until the data plane is authenticated: the junk reached B, within the rate limit.
  expect(tunnelB.got.length).toBeGreaterThan(0);
});

test("a pair whose tunnel talks from both ends keeps its relay past the idle time", async () => {
  const IDLE_MS = 400;
  const { relayEp, events, tunnelA, tunnelB } = await relayedPair({ idleMs: IDLE_MS });
  for (let i = 0; i < 12; i++) {
    tunnelA.t.send(new Uint8Array(32), relayEp); // keepalives both ways, as WireGuard and OpenVPN send
    tunnelB.t.send(new Uint8Array(32), relayEp);
    await Bun.sleep(100);
  }
  expect(events.map((e) => e.type)).not.toContain("server-relay-closed");
  expect([tunnelA.got.length, tunnelB.got.length]).toEqual([12, 12]);
});

test("a server-wide cap (totalBytesPerSecond) holds a pair under it, though its own rate would allow more", async () => {
  const { relayEp, tunnelA, tunnelB } = await relayedPair({ totalBytesPerSecond: 10_000 });
  for (let i = 0; i < 30; i++) tunnelA.t.send(new Uint8Array(1000), relayEp); // 30 kB at once
  await settle();
  expect(tunnelB.got.length).toBeGreaterThan(0);
  expect(tunnelB.got.length).toBeLessThan(30); // the pair's own 12.5 MB/s would have carried all 30
  expect(server?.stats().dropped["relay-rate"]).toBeGreaterThan(0);
});

test("serve --relay-total-rate 0 is a usage error naming the option", async () => {
  const port = await freePort();
  const p = run(["serve", "--listen", `127.0.0.1:${port}`, "--relay", "--relay-total-rate", "0"], {
    NETPUNCH_SECRET: secret,
  });
  expect(await p.done()).toBe(2);
  expect(await p.stderr).toContain('--relay-total-rate "0" is not a positive whole number');
});
