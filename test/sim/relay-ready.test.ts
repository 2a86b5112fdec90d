// How soon proxy mode's relay, asked for at the MATCH, is ready (issue 13), on the fake clock: the relay's
// messages for a pair that ends up direct, with their exact virtual times. The server's link is not delayed
// and each peer's is 25 ms one way (its NAT's 20 plus its own 5), so one server RTT is 50 ms and the relay,
// at the server, is ready three server RTTs after the MATCH reached the peers: REQUEST/OFFER, BIND/CHALLENGE,
// BIND/BOUND, on both sides at once.
import { afterEach, expect, test } from "bun:test";
import { sameEndpoint } from "../../src/addr.ts";
import { MessageType } from "../../src/protocol/constants.ts";
import { type RunningProxy, startProxy } from "../../src/proxy/driver.ts";
import type { RendezvousServer } from "../../src/rendezvous/server.ts";
import type { TraceRecord } from "../../src/transport/memory.ts";
import type { TransportFactory } from "../../src/transport/types.ts";
import type { Endpoint } from "../../src/types.ts";
import { SERVER, SERVER_IP, Sim } from "./world.ts";

let server: RendezvousServer | undefined;
const running: { close(): void }[] = [];
afterEach(() => {
  for (const x of running.splice(0)) x.close();
  server?.close();
  server = undefined;
});

/** The delay the lab's bench:proxy-first puts on each gateway's link; the sim adds 5 ms at each host. */
const GATEWAY_DELAY_MS = 20;
/** b connects this long after a, as in bench:proxy-first (a waits registered). */
const GAP_MS = 1_000;
/** The tunnel's port on each host (any free one). */
const TUNNEL_PORT = 51_820;
/** The relay's messages, by their type byte. */
const RELAY_TYPES = new Map<number, string>([
  [MessageType.relayRequest, "REQUEST"],
  [MessageType.relayOffer, "OFFER"],
  [MessageType.relayBind, "BIND"],
  [MessageType.relayChallenge, "CHALLENGE"],
  [MessageType.relayBound, "BOUND"],
]);
/** a's public address (Sim.place names host 1's NAT so): where the relay answers a. */
const A_PUBLIC = "198.18.1.1";
/** A relay message's type byte: after the magic (2) and the version (1). */
const TYPE_AT = 3;

/**
 * a, then b GAP_MS later, both in proxy mode (the relay asked for at the MATCH) behind MASQUERADE NATs:
 * the pair ends up direct. `wrap` stands between the server and its sockets (a test that loses a datagram).
 */
async function pair(wrap?: (f: TransportFactory) => TransportFactory) {
  const sim = new Sim(13);
  sim.serverLink = { delayMs: 0 };
  server = await sim.serve({}, wrap);
  const placed = [1, 2].map((n) => sim.place(n, "nat", { delayMs: GATEWAY_DELAY_MS }));
  const ready: Record<"a" | "b", number | undefined> = { a: undefined, b: undefined };
  const proxies: RunningProxy[] = [];
  const start = (i: 0 | 1) => {
    const role = i === 0 ? "a" : "b";
    const host = placed[i]?.host;
    if (!host) throw new Error("not placed");
    return sim.connect(host, role, {
      keepSocket: (punched) => {
        void startProxy({
          punched,
          host: host.ip,
          tunnelPort: TUNNEL_PORT,
          transport: host.transport,
          clock: sim.clock,
          random: sim.random(),
          onEvent: (e) => {
            if (e.type === "proxy-relay" && e.state === "ready") ready[role] ??= sim.clock.now();
          },
        }).then((p) => {
          proxies.push(p);
          running.push(p);
        });
      },
    });
  };
  const a = start(0);
  await sim.run(GAP_MS);
  const b = start(1);
  await sim.runUntil(() => ready.a !== undefined && ready.b !== undefined, 5_000);
  await sim.run(1_000); // anything still due (a retransmission) shows in the trace
  expect([a.result?.via, b.result?.via]).toEqual(["direct", "direct"]);
  const [pa, pb] = placed as [(typeof placed)[0], (typeof placed)[0]];
  const who = (e: Endpoint) =>
    sameEndpoint(e, SERVER)
      ? "server"
      : e.host === SERVER_IP
        ? "relay"
        : [pa.lanIp, pa.publicIp].includes(e.host)
          ? "a"
          : [pb.lanIp, pb.publicIp].includes(e.host)
            ? "b"
            : "?";
  const sent = (r: TraceRecord) => r.what === "send" && r.data !== undefined;
  const matchAt = sim.net.trace.find(
    (r) => sent(r) && sameEndpoint(r.from, SERVER) && r.data?.[TYPE_AT] === MessageType.match,
  )?.at;
  if (matchAt === undefined) throw new Error("no MATCH");
  // Each relay message as it left its socket: ms since the server sent the MATCH, sender, receiver, type.
  const relayLog = sim.net.trace
    .filter((r) => sent(r) && RELAY_TYPES.has(r.data?.[TYPE_AT] ?? 0))
    .map((r) => `${r.at - matchAt} ${who(r.from)}>${who(r.to)} ${RELAY_TYPES.get(r.data?.[TYPE_AT] ?? 0)}`);
  return { relayLog, since: (t: number | undefined) => (t ?? Infinity) - matchAt, ready, proxies };
}

test("proxy mode: the relay asked for at the MATCH is ready at both peers three server RTTs after it arrived", async () => {
  const { relayLog, since, ready, proxies } = await pair();
  // The MATCH reaches both peers 25 ms after the server sent it; from there every step is one server RTT
  // (50 ms), both peers in step. The relay's BOUND to the peer whose echo it took first says "not ready";
  // the second echo makes the pair ready, and the relay tells both at once: nobody binds a third time.
  expect(relayLog).toEqual([
    "25 a>server REQUEST",
    "25 b>server REQUEST",
    "50 server>a OFFER",
    "50 server>b OFFER",
    "75 a>relay BIND",
    "75 b>relay BIND",
    "100 relay>a CHALLENGE",
    "100 relay>b CHALLENGE",
    "125 a>relay BIND",
    "125 b>relay BIND",
    "150 relay>a BOUND",
    "150 relay>b BOUND",
    "150 relay>a BOUND",
  ]);
  expect([since(ready.a), since(ready.b)]).toEqual([175, 175]);
  expect(proxies.map((p) => p.relayReady)).toEqual([true, true]);
});

test("the relay's unasked BOUND lost: the peer bound first is ready by its own next BIND, 250 ms on", async () => {
  // The relay's second RELAY_BOUND to a's address (the unasked one) is lost at its socket (so the trace,
  // which records what sockets send, never shows it).
  let bounds = 0;
  const loseIt =
    (f: TransportFactory): TransportFactory =>
    async (bind, onDatagram, onError) => {
      const t = await f(bind, onDatagram, onError);
      return {
        ...t,
        local: t.local,
        send: (data, to) => {
          const toA = to.host === A_PUBLIC;
          if (toA && bind.port !== SERVER.port && data[TYPE_AT] === MessageType.relayBound && ++bounds === 2)
            return true;
          return t.send(data, to);
        },
        close: () => t.close(),
      };
    };
  const { relayLog, since, ready } = await pair(loseIt);
  expect(relayLog.slice(10)).toEqual([
    "150 relay>a BOUND",
    "150 relay>b BOUND",
    "375 a>relay BIND",
    "400 relay>a BOUND",
  ]);
  expect([since(ready.a), since(ready.b)]).toEqual([425, 175]);
});
