import { describe, expect, test } from "bun:test";
import type { Datagram, Transport } from "../../../src/transport/types.ts";
import { syntheticEndpoint } from "../../../src/transport/ws-frame.ts";
import { type WsServer, withWs } from "../../../src/transport/ws-server.ts";

const UDP_PEER = { host: "198.51.100.4", port: 40_000 };
const WS_PEER = syntheticEndpoint("203.0.113.9", 7);
const RELAY_PORT = 20_001;

/** A UDP transport and a WebSocket server that record what goes through each. */
function fakes() {
  const udpBatches: (readonly Datagram[])[] = [];
  const udpSends: Datagram[] = [];
  const wsSends: { port: number; to: string }[] = [];
  const udp: Transport = {
    local: { host: "0.0.0.0", port: RELAY_PORT },
    send(data, to) {
      udpSends.push({ data, to });
      return true;
    },
    sendMany(datagrams) {
      udpBatches.push(datagrams);
      return datagrams.length;
    },
    close() {},
  };
  const ws = {
    send(port: number, _data: Uint8Array, to: { host: string; port: number }) {
      wsSends.push({ port, to: `${to.host}:${to.port}` });
      return true;
    },
  } as unknown as WsServer;
  return { udp, ws, udpBatches, udpSends, wsSends };
}

const d = (to: { host: string; port: number }): Datagram => ({ data: new Uint8Array([1]), to });

describe("withWs", () => {
  test("a datagram to a connection's address goes over the WebSocket from this port, others by UDP", () => {
    const f = fakes();
    const t = withWs(f.udp, RELAY_PORT, f.ws);
    t.send(new Uint8Array([1]), WS_PEER);
    t.send(new Uint8Array([1]), UDP_PEER);
    expect(f.wsSends).toEqual([{ port: RELAY_PORT, to: `${WS_PEER.host}:7` }]);
    expect(f.udpSends.map((s) => s.to)).toEqual([UDP_PEER]);
  });

  test("a batch with no WebSocket peer is handed on as it is (the relay's hot path: no copy)", () => {
    const f = fakes();
    const batch = [d(UDP_PEER), d(UDP_PEER)];
    expect(withWs(f.udp, RELAY_PORT, f.ws).sendMany?.(batch)).toBe(2);
    expect(f.udpBatches[0]).toBe(batch);
  });

  test("a mixed batch is split: the WebSocket ones one by one, the rest in one UDP batch, in order", () => {
    const f = fakes();
    const other = { ...UDP_PEER, port: 40_001 };
    const n = withWs(f.udp, RELAY_PORT, f.ws).sendMany?.([d(UDP_PEER), d(WS_PEER), d(other)]);
    expect(n).toBe(3);
    expect(f.wsSends).toHaveLength(1);
    expect(f.udpBatches).toHaveLength(1);
    expect(f.udpBatches[0]?.map((x) => x.to)).toEqual([UDP_PEER, other]);
  });

  test("closing undoes the route and closes the socket", () => {
    const f = fakes();
    const calls: string[] = [];
    f.udp.close = () => calls.push("udp");
    withWs(f.udp, RELAY_PORT, f.ws, () => calls.push("route")).close();
    expect(calls).toEqual(["route", "udp"]);
  });
});
