// Proxy mode over a WebSocket: the proxy's socket sends to the server and to our relay port over the
// WebSocket, and everything else (the partner's direct addresses) from the UDP socket beside it.
import { describe, expect, test } from "bun:test";
import { wsWithUdp } from "../../../src/punch/ws-udp-socket.ts";
import type { Transport } from "../../../src/transport/types.ts";
import type { Endpoint } from "../../../src/types.ts";

/** A transport that records where each datagram went, and whether it was closed. */
function recorder(local: Endpoint) {
  const sent: Endpoint[] = [];
  let closed = false;
  const t: Transport = {
    local,
    send: (_data, to) => {
      sent.push(to);
      return true;
    },
    close: () => {
      closed = true;
    },
  };
  return { t, sent, closed: () => closed };
}

const SERVER = { host: "198.51.100.7", port: 0 };
const RELAY = { host: "198.51.100.7", port: 40000 };
const PARTNER = { host: "203.0.113.20", port: 40002 };
// The partner on the server's host, at another port: only the exact relay endpoint goes over the WebSocket.
const PARTNER_ON_SERVER_HOST = { host: "198.51.100.7", port: 40001 };

describe("wsWithUdp", () => {
  test("the server and the relay port over the WebSocket, every other address over UDP", () => {
    const ws = recorder({ host: "0.0.0.0", port: 0 });
    const udp = recorder({ host: "0.0.0.0", port: 41000 });
    const s = wsWithUdp({ ws: ws.t, udp: udp.t, server: SERVER, relay: RELAY });
    const bytes = new Uint8Array(1);
    for (const to of [SERVER, RELAY, PARTNER, PARTNER_ON_SERVER_HOST]) s.send(bytes, to);
    expect(ws.sent).toEqual([SERVER, RELAY]);
    expect(udp.sent).toEqual([PARTNER, PARTNER_ON_SERVER_HOST]);
    expect(s.local).toEqual({ host: "0.0.0.0", port: 41000 });
  });

  test("closing closes both", () => {
    const ws = recorder({ host: "0.0.0.0", port: 0 });
    const udp = recorder({ host: "0.0.0.0", port: 41000 });
    wsWithUdp({ ws: ws.t, udp: udp.t, server: SERVER, relay: RELAY }).close();
    expect([ws.closed(), udp.closed()]).toEqual([true, true]);
  });

  test("sendUdp goes from the UDP socket even to the relay's endpoint (the relay's own UDP port)", () => {
    const ws = recorder({ host: "0.0.0.0", port: 0 });
    const udp = recorder({ host: "0.0.0.0", port: 41000 });
    const s = wsWithUdp({ ws: ws.t, udp: udp.t, server: SERVER, relay: RELAY });
    s.sendUdp(new Uint8Array(1), RELAY);
    expect([ws.sent, udp.sent]).toEqual([[], [RELAY]]);
  });

  test("after leaveWebSocket every datagram leaves from the UDP socket and the WebSocket is closed", () => {
    const ws = recorder({ host: "0.0.0.0", port: 0 });
    const udp = recorder({ host: "0.0.0.0", port: 41000 });
    const s = wsWithUdp({ ws: ws.t, udp: udp.t, server: SERVER, relay: RELAY });
    s.leaveWebSocket();
    expect([ws.closed(), udp.closed()]).toEqual([true, false]);
    for (const to of [RELAY, PARTNER]) s.send(new Uint8Array(1), to);
    expect([ws.sent, udp.sent]).toEqual([[], [RELAY, PARTNER]]);
    s.close();
    expect(udp.closed()).toBe(true);
  });
});
