import { normalizeHost } from "../addr.ts";
import type { Endpoint } from "../types.ts";
import type { Datagram, DatagramHandler, Transport, TransportFactory } from "./types.ts";
import { frameWs, isSynthetic, syntheticEndpoint, unframeWs } from "./ws-frame.ts";

/**
 * The rendezvous server and its relays reached over a WebSocket (serve --relay-tcp), for peers whose
 * network drops UDP. Bun's WebSocket server does HTTP, the upgrade and TLS; this file only maps
 * connections to addresses. Each connection gets a synthetic endpoint (ws-frame.ts: 240.0.0.0/4, a hash of
 * the client's IP, the connection's number as port), which the core, the credit ledger, the limits and the
 * relays key on exactly as on a UDP address: nothing above this file knows a WebSocket exists.
 */
export interface WsServerOptions {
  listen: Endpoint;
  /** PEM text of the certificate chain and its key: WebSocket over TLS (wss://). @default plain ws:// */
  tls?: { cert: string; key: string };
  /** Seconds without a message before a connection is closed (Bun: 0 or 8..960). */
  idleTimeoutS: number;
  /** The largest message taken; a larger one closes the connection (code 1009). */
  maxMessageBytes: number;
}

export interface WsServer {
  readonly local: Endpoint;
  /** Routes messages for `port` (TO_SERVER or a relay's UDP port) to `handler`; returns the undo. */
  route(port: number, handler: DatagramHandler): () => void;
  /** Sends a datagram from `port` to the connection `to` stands for; false when it is gone or backed up. */
  send(port: number, data: Uint8Array, to: Endpoint): boolean;
  readonly connections: number;
  close(): void;
}

/**
 * @default 262,144 bytes buffered per connection: about 180 datagrams of 1,400 bytes. Past it a datagram is
 * dropped as UDP would drop it, rather than queued behind a slow TCP connection (which is what makes a
 * tunnel over TCP melt down).
 */
const BACKPRESSURE_BYTES = 262_144;
/** Connection numbers are ports of the synthetic endpoints. */
const MAX_CONNECTION_ID = 65_535;

type Conn = { from: Endpoint; key: string };
const keyOf = (e: Endpoint) => `${e.host}/${e.port}`;

/** Listens for WebSocket connections on `listen` (Bun.serve). */
export function openWsServer(o: WsServerOptions): WsServer {
  const routes = new Map<number, DatagramHandler>();
  const live = new Map<string, Bun.ServerWebSocket<Conn>>();
  let nextId = 0;
  /** The next connection number free for this client's synthetic host; bounded by the id space. */
  const allocate = (realHost: string): Endpoint | undefined => {
    for (let i = 0; i < MAX_CONNECTION_ID; i++) {
      nextId = (nextId % MAX_CONNECTION_ID) + 1;
      const ep = syntheticEndpoint(realHost, nextId);
      if (!live.has(keyOf(ep))) return ep;
    }
    return undefined;
  };
  const server = Bun.serve<Conn, never>({
    hostname: o.listen.host,
    port: o.listen.port,
    ...(o.tls ? { tls: { cert: o.tls.cert, key: o.tls.key } } : {}),
    fetch(req, srv) {
      const ip = srv.requestIP(req)?.address ?? "";
      const from = allocate(normalizeHost(ip));
      if (from && srv.upgrade(req, { data: { from, key: keyOf(from) } })) return undefined;
      // No body: a client that has not authenticated gets no more than a status line.
      return new Response(null, { status: from ? 426 : 503 });
    },
    websocket: {
      idleTimeout: o.idleTimeoutS,
      maxPayloadLength: o.maxMessageBytes,
      backpressureLimit: BACKPRESSURE_BYTES,
      // Tunnels carry encrypted bytes: compression costs CPU and saves nothing.
      perMessageDeflate: false,
      open(ws) {
        live.set(ws.data.key, ws);
      },
      message(ws, message) {
        if (typeof message === "string") return; // not a datagram
        const m = unframeWs(message);
        if (m) routes.get(m.port)?.(m.data, ws.data.from);
      },
      close(ws) {
        live.delete(ws.data.key);
      },
    },
  });
  return {
    local: { host: o.listen.host, port: server.port ?? o.listen.port },
    route(port, handler) {
      routes.set(port, handler);
      return () => {
        if (routes.get(port) === handler) routes.delete(port);
      };
    },
    send(port, data, to) {
      const ws = live.get(keyOf(to));
      return ws !== undefined && ws.sendBinary(frameWs(port, data)) > 0;
    },
    get connections() {
      return live.size;
    },
    close() {
      for (const ws of live.values()) ws.close();
      live.clear();
      routes.clear();
      server.stop(true);
    },
  };
}

/**
 * `transport` (a UDP socket of the server, answering as `port` over WebSocket) with sends to a synthetic
 * endpoint going over its connection instead. `onClose` undoes the route when the transport closes.
 */
export function withWs(transport: Transport, port: number, ws: WsServer, onClose?: () => void): Transport {
  return {
    local: transport.local,
    send: (data, to) => (isSynthetic(to.host) ? ws.send(port, data, to) : transport.send(data, to)),
    sendMany(datagrams: readonly Datagram[]) {
      // The relay's hot path: a batch with no WebSocket peer in it goes on as it is, with no copy.
      if (!datagrams.some((d) => isSynthetic(d.to.host)))
        return transport.sendMany ? transport.sendMany(datagrams) : sendEach(transport, datagrams);
      let sent = 0;
      const udp: Datagram[] = [];
      for (const d of datagrams) {
        if (!isSynthetic(d.to.host)) udp.push(d);
        else if (ws.send(port, d.data, d.to)) sent++;
      }
      return sent + (transport.sendMany ? transport.sendMany(udp) : sendEach(transport, udp));
    },
    close() {
      onClose?.();
      transport.close();
    },
  };
}

const sendEach = (t: Transport, datagrams: readonly Datagram[]): number =>
  datagrams.reduce((n, d) => n + (t.send(d.data, d.to) ? 1 : 0), 0);

/** A factory whose transports (the relays' sockets) also take and send their port's WebSocket messages. */
export function wsBridged(factory: TransportFactory, ws: WsServer): TransportFactory {
  return async (bind, onDatagram, onError) => {
    const t = await factory(bind, onDatagram, onError);
    return withWs(t, t.local.port, ws, ws.route(t.local.port, onDatagram));
  };
}
