// The proxy driver on fake sockets and a ManualClock: what goes to the partner and when, what reaches the
// tunnel, and what never does.
import { describe, expect, test } from "bun:test";
import { deriveKey } from "../../../src/protocol/auth.ts";
import { MAX_DATA_PACKET, MAX_DATA_PAYLOAD } from "../../../src/protocol/constants.ts";
import type { Message } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { type ProxyEvent, startProxy } from "../../../src/proxy/driver.ts";
import type { PunchedSocket } from "../../../src/punch/connect.ts";
import { ManualClock } from "../../../src/sys/clock.ts";
import { seededRandom } from "../../../src/sys/random.ts";
import type { DatagramHandler, Transport, TransportFactory } from "../../../src/transport/types.ts";
import type { Endpoint } from "../../../src/types.ts";

const T0 = 1_700_000_000_000;
const KEY = deriveKey("proxy driver test secret, 32+ bytes long");
const PAIR = "00112233445566778899aabbccddeeff";
const PARTNER = { host: "203.0.113.20", port: 40000 };
const LOOP = "127.0.0.1";
const TUNNEL = { host: LOOP, port: 51820 };
const SERVER = { host: "198.51.100.7", port: 10001 };
const OURS = "a0a0a0a0a0a0a0a0";
const THEIRS = "b0b0b0b0b0b0b0b0";

interface Sent {
  at: number;
  to: Endpoint;
  data: Uint8Array;
}

function fakeTransport(local: Endpoint, sent: Sent[], clock: ManualClock): Transport & { closed: boolean } {
  const t = {
    local,
    closed: false,
    send(data: Uint8Array, to: Endpoint) {
      sent.push({ at: clock.now(), to, data: data.slice() });
      return true;
    },
    close() {
      t.closed = true;
    },
  };
  return t;
}

async function setup(keepaliveMs = 15_000) {
  const clock = new ManualClock(T0);
  const toPartner: Sent[] = [];
  const toTunnel: Sent[] = [];
  const events: ProxyEvent[] = [];
  const punchedT = fakeTransport({ host: "0.0.0.0", port: 10000 }, toPartner, clock);
  let fromPartner: DatagramHandler = () => {};
  let fromTunnel: DatagramHandler = () => {};
  let loopT: (Transport & { closed: boolean }) | undefined;
  const punched: PunchedSocket = {
    transport: punchedT,
    remote: PARTNER,
    pairId: PAIR,
    role: "a",
    key: KEY,
    path: "direct",
    peerId: OURS,
    partnerId: THEIRS,
    directTargets: [PARTNER],
    server: SERVER,
    clockOffsetMs: 0,
    listen: (h) => {
      fromPartner = h;
    },
  };
  const factory: TransportFactory = async (bind, onDatagram) => {
    fromTunnel = onDatagram;
    loopT = fakeTransport({ host: bind.host, port: 47000 }, toTunnel, clock);
    return loopT;
  };
  const proxy = await startProxy({
    punched,
    tunnelPort: TUNNEL.port,
    transport: factory,
    clock,
    random: seededRandom(1),
    timings: { keepaliveMs },
    onEvent: (e) => events.push(e),
  });
  const partnerSends = (msg: Message, from: Endpoint = PARTNER, key = KEY) =>
    fromPartner(seal(key, msg, { timestamp: clock.now(), nonce: new Uint8Array(12) }), from);
  return {
    clock,
    proxy,
    toPartner,
    toTunnel,
    events,
    punchedT,
    loop: () => loopT as Transport & { closed: boolean },
    tunnelSends: (data: Uint8Array, from: Endpoint = TUNNEL) => fromTunnel(data, from),
    partnerSends,
  };
}

const decoded = (s: Sent) => {
  const r = open(KEY, s.data);
  if (!r.ok) throw new Error(`sealed wrong: ${r.reason}`);
  return r.frame.msg;
};
const data = (seq: number, payload: Uint8Array, from: "a" | "b" = "b"): Message => ({
  type: "data",
  pairId: PAIR,
  from,
  seq,
  payload,
});

describe("startProxy", () => {
  test("the tunnel's datagram goes to the partner as DATA; the partner's DATA reaches the tunnel bare", async () => {
    const s = await setup();
    expect(s.proxy.local).toEqual({ host: LOOP, port: 47000 });
    expect(s.proxy.tunnel).toEqual(TUNNEL);
    s.tunnelSends(Uint8Array.of(1, 2, 3));
    expect(s.toPartner.map((x) => ({ to: x.to, msg: decoded(x) }))).toEqual([
      { to: PARTNER, msg: data(0, Uint8Array.of(1, 2, 3), "a") },
    ]);
    s.partnerSends(data(0, Uint8Array.of(9, 8)));
    expect(s.toTunnel.map((x) => ({ to: x.to, data: [...x.data] }))).toEqual([{ to: TUNNEL, data: [9, 8] }]);
  });

  test("the largest datagram seals to exactly MAX_DATA_PACKET and opens again", async () => {
    const s = await setup();
    s.tunnelSends(new Uint8Array(MAX_DATA_PAYLOAD).fill(3));
    expect(s.toPartner[0]?.data.length).toBe(MAX_DATA_PACKET);
    expect((decoded(s.toPartner[0] as Sent) as { payload: Uint8Array }).payload.length).toBe(
      MAX_DATA_PAYLOAD,
    );
  });

  test("keepalives at exactly keepaliveMs of silence, moved by traffic, never to the tunnel", async () => {
    const s = await setup(15_000);
    s.clock.advanceTo(T0 + 10_000);
    s.tunnelSends(Uint8Array.of(1));
    s.clock.advanceTo(T0 + 60_000);
    // DATA only: the direct path's probes (PINGs, every second) are the next tests' business.
    expect(
      s.toPartner
        .filter((x) => decoded(x).type === "data")
        .map((x) => [x.at - T0, (decoded(x) as { payload: Uint8Array }).payload.length]),
    ).toEqual([
      [10_000, 1],
      [25_000, 0],
      [40_000, 0],
      [55_000, 0],
    ]);
    s.partnerSends(data(0, new Uint8Array(0)));
    expect(s.toTunnel).toEqual([]);
  });

  test("control messages, forgeries, replays, another source: nothing reaches the tunnel, nothing is answered", async () => {
    const s = await setup();
    s.partnerSends({ type: "close", pairId: PAIR, peerId: "0123456789abcdef", rttMs: 5 });
    s.partnerSends({ type: "ping", pairId: PAIR, peerId: "0123456789abcdef", seq: 1 });
    s.partnerSends(data(0, Uint8Array.of(1)), PARTNER, deriveKey("another secret, also 32 bytes or more"));
    s.partnerSends(data(0, Uint8Array.of(1), "a")); // our own, reflected
    s.partnerSends(data(3, Uint8Array.of(1)));
    s.partnerSends(data(3, Uint8Array.of(1))); // replayed
    s.tunnelSends(Uint8Array.of(5), { host: LOOP, port: 51821 });
    s.tunnelSends(new Uint8Array(MAX_DATA_PAYLOAD + 1));
    expect(s.toTunnel.length).toBe(1);
    expect(s.toPartner).toEqual([]);
    expect(s.events.map((e) => (e.type === "proxy-dropped" ? e.reason : e.type))).toEqual([
      "control",
      "control",
      "bad-auth",
      "reflected",
      "replay",
      "not-the-tunnel",
      "too-large",
    ]);
  });

  test("a rebinding moves where DATA goes; close() closes both sockets and stops the keepalives", async () => {
    const s = await setup(1_000);
    const moved = { host: "203.0.113.20", port: 41234 };
    s.partnerSends(data(0, Uint8Array.of(1), "b"), moved);
    expect(s.events).toEqual([{ type: "proxy-moved", to: moved }]);
    s.tunnelSends(Uint8Array.of(2));
    expect(s.toPartner.at(-1)?.to).toEqual(moved);
    s.proxy.close();
    const before = s.toPartner.length;
    s.clock.advanceTo(T0 + 10_000);
    expect(s.toPartner.length).toBe(before);
    expect([s.punchedT.closed, s.loop().closed, s.clock.size]).toEqual([true, true, 0]);
  });
});
