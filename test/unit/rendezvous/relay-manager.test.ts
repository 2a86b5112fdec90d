// RelayManager's data path on a transport with sendMany (the UDP one): datagrams forwarded in one event-loop
// turn leave together in one sendMany, a lone one by send, and nothing goes out before the turn ends.
import { expect, test } from "bun:test";
import { NONCE_LEN } from "../../../src/protocol/constants.ts";
import type { Message } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { ReplayGuard } from "../../../src/protocol/replay.ts";
import { RelayManager } from "../../../src/rendezvous/relay.ts";
import { DEFAULT_RELAY_LIMITS } from "../../../src/rendezvous/relay-session.ts";
import { ManualClock } from "../../../src/sys/clock.ts";
import type { Datagram, DatagramHandler, Transport } from "../../../src/transport/types.ts";
import type { Endpoint } from "../../../src/types.ts";
import { KEY, TS } from "../support.ts";

const PAIR = "00112233445566778899aabbccddeeff";
const PEERS = { a: "aaaaaaaaaaaaaaaa", b: "bbbbbbbbbbbbbbbb" };
const EA = { host: "198.18.2.2", port: 40001 };
const EB = { host: "198.18.3.2", port: 50002 };
const RELAY = { host: "198.51.100.7", port: 20000 };

interface Sent {
  by: "send" | "sendMany";
  datagrams: { data: Uint8Array; to: Endpoint }[];
}

/** A relay with one pair whose two peers have proven their addresses, on a transport that records sends. */
async function boundRelay() {
  const clock = new ManualClock(TS);
  const sent: Sent[] = [];
  let deliver: DatagramHandler = () => {};
  const transport: Transport = {
    local: RELAY,
    send(data, to) {
      sent.push({ by: "send", datagrams: [{ data, to }] });
      return true;
    },
    sendMany(datagrams: readonly Datagram[]) {
      // Copied: the relay reuses its outbox from turn to turn.
      sent.push({ by: "sendMany", datagrams: datagrams.map((d) => ({ data: d.data, to: d.to })) });
      return datagrams.length;
    },
    close() {},
  };
  const deferred: (() => void)[] = [];
  const relays = new RelayManager({
    host: RELAY.host,
    key: KEY,
    replay: new ReplayGuard(),
    transport: async (_bind, onDatagram) => {
      deliver = onDatagram;
      return transport;
    },
    maxSessions: 16,
    limits: DEFAULT_RELAY_LIMITS,
    onDrop() {},
    clock,
    defer: (flush) => deferred.push(flush),
  });
  await relays.offer(PAIR, PEERS, EA);
  let nonce = 0;
  const bindFrom = (peerId: string, from: Endpoint, token?: string) => {
    const n = new Uint8Array(NONCE_LEN);
    n[0] = ++nonce;
    deliver(
      seal(
        KEY,
        { type: "relayBind", pairId: PAIR, peerId, ...(token ? { token } : {}) },
        { timestamp: clock.now(), nonce: n },
      ),
      from,
    );
    // Everything the BIND made the relay send, opened, with where it went; the sends are then forgotten.
    return sent.splice(0).flatMap((x) =>
      x.datagrams.map((d) => {
        const r = open(KEY, d.data);
        return { to: d.to, msg: r.ok ? (r.frame.msg as Message) : undefined };
      }),
    );
  };
  const binds: { to: Endpoint; msg: Message | undefined }[][] = [];
  for (const [peerId, from] of [
    [PEERS.a, EA],
    [PEERS.b, EB],
  ] as const) {
    const c = bindFrom(peerId, from)[0]?.msg;
    if (c?.type !== "relayChallenge") throw new Error(`no challenge: ${JSON.stringify(c)}`);
    binds.push(bindFrom(peerId, from, c.token));
  }
  const turn = () => {
    for (const flush of deferred.splice(0)) flush();
  };
  return {
    relays,
    sent,
    deliver: (d: Uint8Array, from: Endpoint) => deliver(d, from),
    turn,
    deferred,
    binds,
    bindFrom,
  };
}

const datagram = (n: number) => new Uint8Array(100).fill(n);

test("the side bound first hears that the pair is ready when the second binds: once, at its proven address", async () => {
  const { binds, bindFrom } = await boundRelay();
  const bound = (ready: boolean): Message => ({ type: "relayBound", pairId: PAIR, ready });
  // a bound alone: told "not ready". b's bind makes the pair ready: b is told, and a too (not waiting for
  // a's next BIND, a retry interval later).
  expect(binds).toEqual([
    [{ to: EA, msg: bound(false) }],
    [
      { to: EB, msg: bound(true) },
      { to: EA, msg: bound(true) },
    ],
  ]);
  // Binding again (a lost RELAY_BOUND, a NAT that moved) is answered to the binder alone: a pair becomes
  // ready once, so the unasked RELAY_BOUND is sent once.
  const moved = { host: EB.host, port: EB.port + 1 };
  const c = bindFrom(PEERS.b, moved)[0]?.msg;
  if (c?.type !== "relayChallenge") throw new Error("no challenge");
  expect(bindFrom(PEERS.b, moved, c.token)).toEqual([{ to: moved, msg: bound(true) }]);
  const again = bindFrom(PEERS.a, EA)[0]?.msg;
  if (again?.type !== "relayChallenge") throw new Error("no challenge");
  expect(bindFrom(PEERS.a, EA, again.token)).toEqual([{ to: EA, msg: bound(true) }]);
});

test("a turn's datagrams go out together in one sendMany, in order, each to the partner", async () => {
  const { sent, deliver, turn, relays } = await boundRelay();
  deliver(datagram(1), EA);
  deliver(datagram(2), EB);
  deliver(datagram(3), { host: "::FFFF:198.18.2.2", port: EA.port }); // EA in another spelling
  expect(sent).toEqual([]); // nothing before the turn ends
  turn();
  expect(sent).toEqual([
    {
      by: "sendMany",
      datagrams: [
        { data: datagram(1), to: EB },
        { data: datagram(2), to: EA },
        { data: datagram(3), to: EB },
      ],
    },
  ]);
  expect(relays.relayedBytes).toBe(300);
});

test("a lone datagram goes by send; a later, smaller turn sends only its own datagrams", async () => {
  const { sent, deliver, turn, deferred } = await boundRelay();
  for (let i = 0; i < 3; i++) deliver(datagram(i), EA);
  expect(deferred.length).toBe(1); // one flush per turn, however many datagrams
  turn();
  deliver(datagram(7), EB);
  turn();
  deliver(datagram(8), EA);
  deliver(datagram(9), EA);
  turn();
  expect(sent.map((s) => [s.by, s.datagrams.map((d) => d.data[0])])).toEqual([
    ["sendMany", [0, 1, 2]],
    ["send", [7]],
    ["sendMany", [8, 9]],
  ]);
});

test("a stranger's datagram is not forwarded, and closing sends what the turn had queued", async () => {
  const { sent, deliver, relays } = await boundRelay();
  deliver(datagram(1), { host: "203.0.113.66", port: EA.port }); // EA's port on another host
  deliver(datagram(2), EA);
  relays.close();
  expect(sent).toEqual([{ by: "send", datagrams: [{ data: datagram(2), to: EB }] }]);
});
