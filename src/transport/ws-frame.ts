import type { Endpoint } from "../types.ts";

/**
 * One binary WebSocket message carries one netpunch datagram, its bytes exactly as on UDP (sealed and
 * authenticated the same way), after a 2-byte big-endian port: 0 for the rendezvous server, else the UDP
 * port of the relay the datagram is for (the one RELAY_OFFER named). One connection thus reaches the server
 * and the pair's relay, as one UDP socket does.
 */
export const WS_HEADER_LEN = 2;
/** The port field's value for the rendezvous server itself (no relay listens on port 0). */
export const TO_SERVER = 0;
/** The largest port number, the field's range. */
const MAX_PORT = 65_535;

/** The message for a datagram to `port` (TO_SERVER or a relay's). Pure. */
export function frameWs(port: number, data: Uint8Array): Uint8Array {
  if (!Number.isInteger(port) || port < 0 || port > MAX_PORT) throw new RangeError(`port ${port}`);
  const out = new Uint8Array(WS_HEADER_LEN + data.length);
  out[0] = port >> 8;
  out[1] = port & 0xff;
  out.set(data, WS_HEADER_LEN);
  return out;
}

/** The port and the datagram of a message (a view, no copy); undefined for one too short to hold both. Pure. */
export function unframeWs(message: Uint8Array): { port: number; data: Uint8Array } | undefined {
  if (message.length <= WS_HEADER_LEN) return undefined;
  const port = ((message[0] as number) << 8) | (message[1] as number);
  return { port, data: message.subarray(WS_HEADER_LEN) };
}

/**
 * 240.0.0.0/4 (reserved, RFC 1112 section 4; never a source on the internet): a WebSocket connection's
 * address as the core sees it, so no UDP peer can share it. Its 28 bits are a hash of the client's real IP,
 * so the per-address limits still count one client's connections together; the port is the connection's
 * number.
 */
const SYNTHETIC_FIRST_OCTET = 240;
/** FNV-1a, 32 bits: spreads client IPs over the 28 free bits; not a secret, only a key. */
const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

/** The endpoint that stands for connection `id` (1..65535) from the client at `realHost`. Pure. */
export function syntheticEndpoint(realHost: string, id: number): Endpoint {
  let h = FNV_OFFSET;
  for (let i = 0; i < realHost.length; i++) h = Math.imul(h ^ realHost.charCodeAt(i), FNV_PRIME) >>> 0;
  const low28 = h & 0x0fffffff;
  const host = `${SYNTHETIC_FIRST_OCTET | (low28 >>> 24)}.${(low28 >>> 16) & 0xff}.${(low28 >>> 8) & 0xff}.${low28 & 0xff}`;
  return { host, port: id };
}

/**
 * Whether an address stands for a WebSocket connection (see syntheticEndpoint): "24x." or "25x.", read by
 * character code, since the relay asks for every datagram it forwards. Pure.
 */
export const isSynthetic = (host: string): boolean =>
  host.charCodeAt(3) === DOT &&
  host.charCodeAt(0) === DIGIT_2 &&
  (host.charCodeAt(1) === DIGIT_4 || host.charCodeAt(1) === DIGIT_5);
const DOT = 0x2e;
const DIGIT_2 = 0x32;
const DIGIT_4 = 0x34;
const DIGIT_5 = 0x35;
