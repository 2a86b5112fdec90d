import { sameEndpoint } from "../addr.ts";
import type { Transport } from "../transport/types.ts";
import type { Endpoint } from "../types.ts";

/** The proxy's one socket over a WebSocket, with the UDP socket beside it reachable on its own. */
export interface WsWithUdp extends Transport {
  /** Sends from the UDP socket whatever the address: the relay's UDP port, tried while on the WebSocket. */
  sendUdp(data: Uint8Array, to: Endpoint): boolean;
  /** From now on every datagram leaves from the UDP socket, and the WebSocket is closed. */
  leaveWebSocket(): void;
}

/**
 * Proxy mode over a WebSocket (connect({ serverTcp, keepSocket })): the proxy's one socket, made of two. What
 * goes to the server or to our relay port goes over the WebSocket (the only way there); anything else (PINGs
 * to the partner's direct addresses, and DATA once a direct path is proven) leaves from a UDP socket of ours,
 * so the proxy keeps trying UDP in the background while the WebSocket relay carries the tunnel. Both sockets'
 * datagrams reach the one handler the caller gave each. Once the relay answers over UDP too, the proxy
 * leaves the WebSocket (leaveWebSocket). Closing closes both.
 */
export function wsWithUdp(o: {
  ws: Transport;
  udp: Transport;
  server: Endpoint;
  relay: Endpoint;
}): WsWithUdp {
  let ws: Transport | undefined = o.ws;
  const overWs = (to: Endpoint) => sameEndpoint(to, o.relay) || sameEndpoint(to, o.server);
  return {
    local: o.udp.local,
    send: (data, to) => (ws && overWs(to) ? ws : o.udp).send(data, to),
    sendUdp: (data, to) => o.udp.send(data, to),
    leaveWebSocket() {
      ws?.close();
      ws = undefined;
    },
    close() {
      o.udp.close();
      ws?.close();
      ws = undefined;
    },
  };
}
