import { Fail } from "../errors.ts";
import type { Endpoint } from "../types.ts";
import type { DatagramHandler, ErrorHandler, Transport } from "./types.ts";
import { frameWs, TO_SERVER, unframeWs } from "./ws-frame.ts";

/**
 * A peer's one socket to the server as a WebSocket (connect({ serverTcp })): datagrams to `server` (port
 * TO_SERVER: the rendezvous) or to a relay port on its host go over the connection, framed by ws-frame.ts;
 * anything else is dropped (no direct path goes over TCP). Bun's WebSocket client does TLS; `ca` trusts a
 * self-signed certificate.
 */
export interface WsClientOptions {
  url: string;
  /** PEM text of the CA (or the self-signed certificate) the server's certificate must chain to. */
  ca?: string;
  /** The server as the peer machine knows it: the URL's host, port TO_SERVER. */
  server: Endpoint;
}

/** @default 262,144 bytes: a datagram past this much unsent is dropped, as UDP would (TCP meltdown, README). */
const BACKPRESSURE_BYTES = 262_144;

/** Opens the WebSocket; settles once it is open (or has failed: E_SERVER_SILENT with the reason). */
export function openWsClient(
  o: WsClientOptions,
  onDatagram: DatagramHandler,
  onError?: ErrorHandler,
): Promise<Transport> {
  return new Promise((resolve, reject) => {
    // Bun's WebSocket takes TLS options in its second argument (Bun.WebSocketOptions); no compression:
    // tunnels carry encrypted bytes.
    const ws = new WebSocket(o.url, { ...(o.ca ? { tls: { ca: o.ca } } : {}), perMessageDeflate: false });
    ws.binaryType = "arraybuffer";
    let open = false;
    const transport: Transport = {
      local: { host: "0.0.0.0", port: 0 },
      send(data, to) {
        if (ws.readyState !== WebSocket.OPEN || to.host !== o.server.host) return false;
        if (ws.bufferedAmount > BACKPRESSURE_BYTES) return false;
        ws.send(frameWs(to.port === o.server.port ? TO_SERVER : to.port, data));
        return true;
      },
      close() {
        ws.close();
      },
    };
    ws.onopen = () => {
      open = true;
      resolve(transport);
    };
    ws.onmessage = (ev) => {
      if (!(ev.data instanceof ArrayBuffer)) return; // not a datagram
      const m = unframeWs(new Uint8Array(ev.data));
      if (m) onDatagram(m.data, { host: o.server.host, port: m.port === TO_SERVER ? o.server.port : m.port });
    };
    ws.onerror = (ev) => {
      if (!open) reject(Fail.wsUnreachable(o.url, (ev as ErrorEvent).message || "connection failed"));
    };
    ws.onclose = (ev) => {
      if (!open) reject(Fail.wsUnreachable(o.url, ev.reason || `closed (${ev.code})`));
      else onError?.("ECONNRESET");
    };
  });
}
