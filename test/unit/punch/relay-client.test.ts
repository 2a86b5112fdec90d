import { describe, expect, test } from "bun:test";
import { RelayClient } from "../../../src/punch/relay-client.ts";

const T = 1_000_000;

describe("RelayClient.rebind", () => {
  const SERVER = { host: "198.51.100.7", port: 10_001 };
  const ids = { session: "s", pairId: "00112233445566778899aabbccddeeff", peerId: "a0a0a0a0a0a0a0a0" };
  const ready = () => {
    const c = new RelayClient(SERVER, ids);
    c.start(T);
    c.onOffer({ type: "relayOffer", pairId: ids.pairId, to: ids.peerId, status: "ok", port: 20_000 }, T);
    c.onChallenge({ type: "relayChallenge", pairId: ids.pairId, token: "ab".repeat(16) }, T);
    c.onBound(true);
    return c;
  };

  test("a ready client binds again at once at the same port, without the old token, and is ready on RELAY_BOUND", () => {
    const c = ready();
    expect(c.phase).toBe("ready");
    expect(c.rebind(T + 60_000)).toEqual([
      {
        to: { host: SERVER.host, port: 20_000 },
        msg: { type: "relayBind", pairId: ids.pairId, peerId: ids.peerId },
      },
    ]);
    expect(c.phase).toBe("binding");
    expect(c.onBound(true)).toBe(true);
    expect(c.phase).toBe("ready");
  });

  test("a client that never had a port (asking, refused) does nothing", () => {
    const c = new RelayClient(SERVER, ids);
    expect(c.rebind(T)).toEqual([]);
    c.start(T);
    expect(c.rebind(T)).toEqual([]);
    expect(c.phase).toBe("requesting");
  });
});

describe("RelayClient: the relay on another server", () => {
  const SERVER = { host: "198.51.100.7", port: 10_001 };
  const OTHER = "198.51.100.8";
  const ids = { session: "s", pairId: "00112233445566778899aabbccddeeff", peerId: "a0a0a0a0a0a0a0a0" };
  const offer = (host?: string) => ({
    type: "relayOffer" as const,
    pairId: ids.pairId,
    to: ids.peerId,
    status: "ok" as const,
    port: 20_000,
    ...(host ? { host } : {}),
  });

  test("an offer naming a host: BINDs go to that host's relay port, the request still to the server", () => {
    const c = new RelayClient(SERVER, ids);
    expect(c.start(T).map((s) => s.to)).toEqual([SERVER]);
    expect(c.onOffer(offer(OTHER), T)).toEqual([
      {
        to: { host: OTHER, port: 20_000 },
        msg: { type: "relayBind", pairId: ids.pairId, peerId: ids.peerId },
      },
    ]);
    expect(c.endpoint).toEqual({ host: OTHER, port: 20_000 });
  });

  test("an offer without a host: the relay is on the server asked", () => {
    const c = new RelayClient(SERVER, ids);
    c.start(T);
    c.onOffer(offer(), T);
    expect(c.endpoint).toEqual({ host: SERVER.host, port: 20_000 });
  });

  test("a host of the other address family (unreachable from our socket) is no relay", () => {
    const c = new RelayClient(SERVER, ids);
    c.start(T);
    expect(c.onOffer(offer("2001:db8::8"), T)).toEqual([]);
    expect([c.phase, c.refusal, c.endpoint]).toEqual(["refused", "off", undefined]);
  });
});
