// The relay as shipped: serve() and two connect()s over the in-memory network, where no datagram passes
// between the two peers (as between two symmetric NATs), so they meet through the relay. Attackers spoof
// source addresses with MemoryNetwork.inject.
import { afterEach, expect, setDefaultTimeout, test } from "bun:test";
import { randomBytes } from "node:crypto";
import { connect, type NetpunchEvent, type PunchResult, serve } from "../../src/index.ts";
import { deriveKey } from "../../src/protocol/auth.ts";
import { NONCE_LEN, RELAY_PADDED_LEN } from "../../src/protocol/constants.ts";
import type { Message } from "../../src/protocol/messages.ts";
import { open, seal } from "../../src/protocol/packet.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import { MemoryNetwork } from "../../src/transport/memory.ts";
import type { Transport, TransportFactory } from "../../src/transport/types.ts";

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
afterEach(() => {
  server?.close();
  server = undefined;
  for (const t of tunnels.splice(0)) t.close();
});

/** A server with a relay, and a pair that cannot reach each other directly: they connect through the relay. */
async function relayedPair(relay: NonNullable<Parameters<typeof serve>[0]["relay"]> = {}) {
  const net = new MemoryNetwork();
  const peers = [A_IP, B_IP];
  net.drop = (r) => peers.includes(r.from.host) && peers.includes(r.to.host);
  const events: NetpunchEvent[] = [];
  server = await serve({
    listen: SERVER,
    secret,
    relay,
    transport: hostOn(net, SERVER.host),
    onEvent: (e) => events.push(e),
  });
  const peer = (role: "a" | "b", ip: string) =>
    connect({
      server: SERVER,
      secret,
      role,
      session: "relayed",
      lan: false,
      transport: hostOn(net, ip),
      timings: { relayAfterMs: 100, punchMs: 5_000 },
    });
  const [a, b] = (await Promise.all([peer("a", A_IP), peer("b", B_IP)])) as [PunchResult, PunchResult];
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
  tunnelA.t.send(new TextEncoder().encode("wg handshake"), relayEp);
  await settle();
  expect(tunnelB.got.map((d) => new TextDecoder().decode(d))).toEqual(["wg handshake"]);
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
