import { MAGIC, VERSION } from "../protocol/constants.ts";
import type { Transport, TransportFactory } from "../transport/types.ts";
import type { Endpoint } from "../types.ts";

/**
 * After a punch over a WebSocket (connect({ serverTcp })) the tunnel cannot use the WebSocket itself: it
 * speaks UDP. This loopback UDP socket is its partner's address: what the tunnel sends to it goes over the
 * WebSocket to the relay, and what the relay forwards comes back to the tunnel (at `tunnelPort` until the
 * tunnel has written from elsewhere). netpunch's own packets (PINGs a partner still sends, its CLOSE) are
 * told apart by their header and never reach the tunnel.
 */
export interface TcpBridge {
  /** Where the tunnel sends: the partner, as far as it can tell. */
  readonly local: Endpoint;
  /** A datagram the relay forwarded over the WebSocket. */
  receive(data: Uint8Array): void;
  close(): void;
}

const LOOPBACK = "127.0.0.1";

const isNetpunch = (d: Uint8Array) =>
  d.length > 3 && d[0] === MAGIC[0] && d[1] === MAGIC[1] && d[2] === VERSION;

export async function openTcpBridge(o: {
  ws: Transport;
  relay: Endpoint;
  tunnelPort: number;
  factory: TransportFactory;
}): Promise<TcpBridge> {
  let tunnel: Endpoint = { host: LOOPBACK, port: o.tunnelPort };
  const udp = await o.factory({ host: LOOPBACK, port: 0 }, (data, from) => {
    // Only this host's programs reach a loopback socket; the latest sender is the tunnel.
    tunnel = from;
    o.ws.send(data, o.relay);
  });
  return {
    local: udp.local,
    receive(data) {
      if (!isNetpunch(data)) udp.send(data, tunnel);
    },
    close() {
      udp.close();
      o.ws.close();
    },
  };
}
