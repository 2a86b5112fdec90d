// The proxy driver on fake sockets and a ManualClock: what goes to the partner and when, what reaches the
// tunnel, and what never does.
import { describe, expect, test } from "bun:test";
import { deriveKey } from "../../../src/protocol/auth.ts";
import { MAX_DATA_PACKET, MAX_DATA_PAYLOAD } from "../../../src/protocol/constants.ts";
import type { Message } from "../../../src/protocol/messages.ts";
import { open, seal } from "../../../src/protocol/packet.ts";
import { type ProxyEvent, startProxy } from "../../../src/proxy/driver.ts";
import type { PunchedSocket } from "../../../src/punch/connect.ts";
import { RelayClient } from "../../../src/punch/relay-client.ts";
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

async function setup(keepaliveMs = 15_000, over: Partial<PunchedSocket> = {}) {
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
    serverKey: KEY,
    path: "direct",
    session: "s",
    relayAllowed: false,
    peerId: OURS,
    partnerId: THEIRS,
    directTargets: [PARTNER],
    server: SERVER,
    clockOffsetMs: 0,
    listen: (h) => {
      fromPartner = h;
    },
    ...over,
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
  let nonces = 0;
  /** Sealed like the partner's control packets: a fresh nonce each (unless `nonce` replays one). */
  const partnerControl = (
    msg: Message,
    from: Endpoint = PARTNER,
    o: { nonce?: number; at?: number } = {},
  ) => {
    const nonce = new Uint8Array(12);
    new DataView(nonce.buffer).setUint32(8, o.nonce ?? ++nonces);
    const packet = seal(KEY, msg, { timestamp: o.at ?? clock.now(), nonce });
    fromPartner(packet, from);
    return packet.length;
  };
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
    partnerControl,
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

const RELAY = { host: "198.51.100.7", port: 20_000 };
const ping = (seq: number, peerId = THEIRS, pairId = PAIR): Message => ({
  type: "ping",
  pairId,
  peerId,
  seq,
});
const pong = (seq: number): Message => ({ type: "pong", pairId: PAIR, peerId: THEIRS, seq });
const sentOf = (s: { toPartner: Sent[] }, type: string) =>
  s.toPartner
    .filter((x) => decoded(x).type === type)
    .map((x) => ({ at: x.at - T0, to: x.to, msg: decoded(x), size: x.data.length }));

describe("startProxy: probes and paths", () => {
  test("the partner's fresh PING of our pair gets one PONG of the same size back to its source; nothing else does", async () => {
    const s = await setup();
    const size = s.partnerControl(ping(7));
    const pongs = sentOf(s, "pong");
    expect(pongs).toEqual([
      { at: 0, to: PARTNER, msg: { type: "pong", pairId: PAIR, peerId: OURS, seq: 7 }, size },
    ]);
    s.partnerControl(ping(7), PARTNER, { nonce: 1 }); // replayed
    s.partnerControl(ping(8, "c0c0c0c0c0c0c0c0")); // another peer of the secret
    s.partnerControl(ping(9, THEIRS, "ff".repeat(16))); // another pair
    s.partnerControl(ping(10), PARTNER, { at: T0 - 60_000 }); // far too old
    expect(sentOf(s, "pong")).toHaveLength(1);
    expect(s.toTunnel).toEqual([]);
    expect(s.events.map((e) => (e.type === "proxy-dropped" ? e.reason : e.type))).toEqual([
      "replay",
      "control",
      "control",
      "stale",
    ]);
  });

  test("on the direct path: one PING a second to the partner; unanswered, faster, then back to the relay", async () => {
    const s = await setup(15_000, { relay: readyRelay() });
    expect(s.proxy.relayReady).toBe(true);
    // Answered for 5 s: one probe a second, to the partner only.
    answering(s, 4_990);
    const early = sentOf(s, "ping").filter((p) => p.to.port === PARTNER.port);
    expect(early.map((p) => p.at)).toEqual([0, 1_000, 2_000, 3_000, 4_000]);
    // Then silence: a miss 1 s after the probe at 5 s, probes every 200 ms from then, and at the 8th miss
    // (4.2 s after the last answer, at 4 s) the relay takes over.
    s.clock.advanceTo(T0 + 12_000);
    expect(s.proxy.path).toBe("relay");
    expect(s.events).toContainEqual({
      type: "proxy-path",
      path: "relay",
      reason: "no answer on the direct path for 4 s",
      at: T0 + 8_200,
    });
    const fast = sentOf(s, "ping").filter((p) => p.to.port === PARTNER.port && p.at > 5_000 && p.at <= 8_200);
    // Each miss counts 1 s after its probe: the 8th is the probe of 7.2 s, and the probes go on till then.
    expect(fast.map((p) => p.at)).toEqual(Array.from({ length: 12 }, (_, i) => 6_000 + i * 200));
    expect(s.proxy.switches).toBe(1);
    s.tunnelSends(Uint8Array.of(4));
    expect(s.toPartner.at(-1)?.to).toEqual(RELAY);
  });

  test("starting on the relay: DATA goes to the relay, probes to the direct addresses; three answers move it", async () => {
    const s = await setup(15_000, { path: "relay", remote: RELAY, relay: readyRelay() });
    expect([s.proxy.path, s.proxy.remote]).toEqual(["relay", RELAY]);
    s.clock.advanceTo(T0);
    s.tunnelSends(Uint8Array.of(1));
    expect(s.toPartner.at(-1)?.to).toEqual(RELAY);
    // The partner's DATA through the relay is delivered and moves nothing.
    s.partnerSends(data(0, Uint8Array.of(2)), RELAY);
    expect(s.toTunnel).toHaveLength(1);
    const probes = () => sentOf(s, "ping").filter((p) => p.to.port === PARTNER.port);
    expect(probes().map((p) => p.at)).toEqual([0]);
    s.partnerControl(pong(0));
    s.clock.advanceTo(T0 + 200);
    s.partnerControl(pong(1));
    s.clock.advanceTo(T0 + 400);
    expect(s.proxy.path).toBe("relay"); // two answers: not yet
    s.partnerControl(pong(2));
    expect(s.proxy.path).toBe("direct");
    expect(s.events.filter((e) => e.type === "proxy-path")).toEqual([
      { type: "proxy-path", path: "direct", reason: "3 probes answered in a row", at: T0 + 400 },
    ]);
    s.tunnelSends(Uint8Array.of(3));
    expect(s.toPartner.at(-1)?.to).toEqual(PARTNER);
    // A PONG from anywhere else (a forger with the secret at another address) counts for nothing.
    s.clock.advanceTo(T0 + 1_400);
    s.partnerControl(pong(3), { host: "192.0.2.66", port: 9 });
    expect(s.proxy.remote).toEqual(PARTNER);
  });

  test("a relay the punch left binding is bound by the proxy, then kept alive by a PING every 15 s while unused (from when it was bound)", async () => {
    const relay = new RelayClient(SERVER, { session: "s", pairId: PAIR, peerId: OURS });
    relay.start(T0);
    relay.onOffer({ type: "relayOffer", pairId: PAIR, to: OURS, status: "ok", port: RELAY.port }, T0);
    const s = await setup(15_000, { relay });
    expect(s.proxy.relayReady).toBe(false);
    s.clock.advanceTo(T0 + 250);
    const binds = sentOf(s, "relayBind");
    expect(binds.map((b) => b.to)).toEqual([RELAY]);
    s.partnerControl({ type: "relayBound", pairId: PAIR, ready: true }, RELAY);
    expect(s.proxy.relayReady).toBe(true);
    expect(s.events).toContainEqual({ type: "proxy-relay", state: "ready" });
    answering(s, 46_000);
    expect(s.proxy.path).toBe("direct");
    expect(
      sentOf(s, "ping")
        .filter((p) => p.to === RELAY || p.to.port === RELAY.port)
        .map((p) => p.at),
    ).toEqual([15_250, 30_250, 45_250]);
  });

  test("a punch that proved direct before asking for the relay: the proxy asks the pair's server itself", async () => {
    const asks = await setup(15_000, { relayAllowed: true });
    asks.clock.advanceTo(T0);
    expect(sentOf(asks, "relayRequest")).toEqual([
      {
        at: 0,
        to: SERVER,
        msg: { type: "relayRequest", session: "s", pairId: PAIR, peerId: OURS },
        size: expect.any(Number),
      },
    ]);
    // --no-relay: never.
    const never = await setup(15_000, { relayAllowed: false });
    never.clock.advanceTo(T0 + 5_000);
    expect(sentOf(never, "relayRequest")).toEqual([]);
  });

  test("on the relay, three unanswered PINGs through it: bind again; a relay that stays silent is tried again after 30 s, then 60 s", async () => {
    const s = await setup(15_000, { path: "relay", remote: RELAY, relay: readyRelay() });
    s.clock.advanceTo(T0 + 200_000);
    const binds = sentOf(s, "relayBind").map((b) => b.at);
    // Lost at 4 s (probes at 1, 2, 3 s, each missed a second later), BINDs every 250 ms for 30 s, then a
    // pause of 30 s, 30 s of BINDs, a pause of 60 s.
    expect(binds[0]).toBe(4_000);
    expect(binds.filter((t) => t < 34_000)).toHaveLength(120);
    expect(binds.filter((t) => t >= 34_000 && t < 64_000)).toEqual([]);
    expect(binds.find((t) => t >= 64_000)).toBe(64_000);
    expect(binds.filter((t) => t >= 94_000 && t < 154_000)).toEqual([]);
    expect(binds.find((t) => t >= 154_000)).toBe(154_000);
    expect(
      s.events.filter((e) => e.type === "proxy-relay").map((e) => (e as { state: string }).state),
    ).toEqual(["rebinding", "gave-up", "rebinding", "gave-up", "rebinding", "gave-up"]);
    expect(s.proxy.relayReady).toBe(false);
  });

  test("a relay that never gets bound is given up after 30 s, with no more BINDs", async () => {
    const relay = new RelayClient(SERVER, { session: "s", pairId: PAIR, peerId: OURS });
    relay.start(T0);
    relay.onOffer({ type: "relayOffer", pairId: PAIR, to: OURS, status: "ok", port: RELAY.port }, T0);
    const s = await setup(15_000, { relay });
    s.clock.advanceTo(T0 + 60_000);
    const binds = sentOf(s, "relayBind");
    expect(binds.at(-1)?.at).toBeLessThan(30_000);
    expect(s.events).toContainEqual({ type: "proxy-relay", state: "gave-up" });
    expect(s.proxy.relayReady).toBe(false);
  });
});

/** Advances the clock to T0 + `untilMs` in 10 ms steps, the partner answering each probe at once. */
function answering(s: Awaited<ReturnType<typeof setup>>, untilMs: number) {
  for (let t = s.clock.now() - T0; t <= untilMs; t += 10) {
    s.clock.advanceTo(T0 + t);
    // The partner answers each PING, straight or through the relay (which forwards its PONG back).
    for (const p of sentOf(s, "ping").filter((x) => x.at === t))
      s.partnerControl(pong((p.msg as { seq: number }).seq), p.to.port === PARTNER.port ? PARTNER : RELAY);
  }
}

/** A relay client both peers have bound (what the punch hands over when the relay was ready). */
function readyRelay(): RelayClient {
  const relay = new RelayClient(SERVER, { session: "s", pairId: PAIR, peerId: OURS });
  relay.start(T0);
  relay.onOffer({ type: "relayOffer", pairId: PAIR, to: OURS, status: "ok", port: RELAY.port }, T0);
  relay.onBound(true);
  return relay;
}

describe("startProxy on the WebSocket, with the relay's UDP port to try (udp-return.ts)", () => {
  /** The punched socket of a peer that fell back: on the WebSocket relay, the relay's UDP port beside it. */
  async function onWebSocket() {
    const viaUdp: { at: number; to: Endpoint; msg: Message }[] = [];
    let left = 0;
    let clock: ManualClock | undefined;
    const s = await setup(15_000, {
      path: "relay",
      remote: RELAY,
      relay: readyRelay(),
      websocket: true,
      // The relay's UDP address is the WebSocket relay's (one host): only udpRelay.send reaches it over UDP.
      udpRelay: {
        at: RELAY,
        send: (bytes, to) => {
          const r = open(KEY, bytes);
          if (r.ok) viaUdp.push({ at: (clock?.now() ?? T0) - T0, to, msg: r.frame.msg });
          return true;
        },
        leaveWebSocket: () => {
          left++;
        },
      },
    });
    clock = s.clock;
    return { s, viaUdp, left: () => left };
  }

  test("BINDs over UDP on the direct path's search schedule; the challenge is echoed at once; RELAY_BOUND leaves the WebSocket", async () => {
    const { s, viaUdp, left } = await onWebSocket();
    expect(s.proxy.websocket).toBe(true);
    s.clock.advanceTo(T0 + 3_000);
    // 0, then 500 ms growing 1.5x: 500, 1,250, 2,375 ms; none of them over the WebSocket.
    expect(viaUdp.map((x) => [x.at, x.msg.type, x.to])).toEqual([
      [0, "relayBind", RELAY],
      [500, "relayBind", RELAY],
      [1_250, "relayBind", RELAY],
      [2_375, "relayBind", RELAY],
    ]);
    expect(viaUdp[0]?.msg).toEqual({ type: "relayBind", pairId: PAIR, peerId: OURS });
    expect(sentOf(s, "relayBind")).toEqual([]);
    const token = "ab".repeat(16);
    s.partnerControl({ type: "relayChallenge", pairId: PAIR, token }, RELAY);
    expect(viaUdp.at(-1)).toEqual({
      at: 3_000,
      to: RELAY,
      msg: { type: "relayBind", pairId: PAIR, peerId: OURS, token },
    });
    expect(left()).toBe(0);
    s.partnerControl({ type: "relayBound", pairId: PAIR, ready: true }, RELAY);
    expect(left()).toBe(1);
    expect(s.proxy.websocket).toBe(false);
    expect(s.events).toContainEqual({ type: "proxy-udp", relay: RELAY });
    expect([s.proxy.path, s.proxy.remote]).toEqual(["relay", RELAY]);
    // The tunnel changed its way (WebSocket relay -> UDP relay): status counts it as a switch.
    expect([s.proxy.switches, s.proxy.lastSwitch]).toEqual([
      1,
      { to: "relay", reason: "the relay answers over UDP: left the WebSocket", at: T0 + 3_000 },
    ]);
    // No more tries once on UDP.
    const tries = viaUdp.length;
    s.clock.advanceTo(T0 + 120_000);
    expect(viaUdp).toHaveLength(tries);
    expect(left()).toBe(1);
  });

  test("the tries back off to one per 15 s; a RELAY_BOUND with no challenge echoed, or not ready, leaves nothing", async () => {
    const { s, viaUdp, left } = await onWebSocket();
    s.clock.advanceTo(T0 + 120_000);
    const gaps = viaUdp.slice(1).map((x, i) => x.at - (viaUdp[i] as { at: number }).at);
    expect(gaps.slice(0, 4)).toEqual([500, 750, 1_125, 1_687.5]);
    expect(Math.max(...gaps)).toBe(15_000);
    expect(gaps.slice(-2)).toEqual([15_000, 15_000]);
    s.partnerControl({ type: "relayBound", pairId: PAIR, ready: true }, RELAY);
    expect(left()).toBe(0);
    s.partnerControl({ type: "relayChallenge", pairId: PAIR, token: "cd".repeat(16) }, RELAY);
    s.partnerControl({ type: "relayBound", pairId: PAIR, ready: false }, RELAY);
    expect(left()).toBe(0);
    expect(s.proxy.websocket).toBe(true);
  });

  test("a proxy on UDP alone, or on the WebSocket with no UDP server given, sends no such BIND", async () => {
    const plain = await setup(15_000, { path: "relay", remote: RELAY, relay: readyRelay() });
    const wsOnly = await setup(15_000, {
      path: "relay",
      remote: RELAY,
      relay: readyRelay(),
      websocket: true,
    });
    for (const s of [plain, wsOnly]) {
      // (Before 4 s: then the relay's own watch, unanswered here, would bind again, over the punched socket.)
      s.clock.advanceTo(T0 + 3_000);
      expect(sentOf(s, "relayBind")).toEqual([]);
    }
    expect(wsOnly.proxy.websocket).toBe(true);
  });
});
