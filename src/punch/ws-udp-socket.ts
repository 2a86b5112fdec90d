import { sameEndpoint } from "../addr.ts";
import type { Transport } from "../transport/types.ts";
import type { Endpoint } from "../types.ts";

/**
 * Proxy mode over a WebSocket (connect({ serverTcp, keepSocket })): the proxy's one socket, made of two. What
 * goes to the server or to our relay port goes over the WebSocket (the only way there); anything else (PINGs
 * to the partner's direct addresses, and DATA once a direct path is proven) leaves from a UDP socket of ours,
 * so the proxy keeps trying UDP in the background while the WebSocket relay carries the tunnel. Both sockets'
 * datagrams reach the one handler the caller gave each. Closing closes both.
 */
export function wsWithUdp(o: {
  ws: Transport;
  udp: Transport;
  server: Endpoint;
  relay: Endpoint;
}): Transport {
  const overWs = (to: Endpoint) => sameEndpoint(to, o.relay) || sameEndpoint(to, o.server);
  return {
    local: o.udp.local,
    send: (data, to) => (overWs(to) ? o.ws : o.udp).send(data, to),
    close() {
      o.udp.close();
      o.ws.close();
    },
  };
}
