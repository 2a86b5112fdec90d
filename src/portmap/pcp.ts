// PCP (RFC 6887), the MAP opcode for UDP: the request, the reply, and the run mapPort() tries first. A
// NAT-PMP-only gateway answers it with "unsupported version" in NAT-PMP's format, hence natpmp.ts's constants.
import type { Endpoint } from "../types.ts";
import { type GatewayContext, type GatewaySocket, withSocket } from "./gateway-socket.ts";
import { BACKGROUND_TIMEOUT_MS, type Grant, usable } from "./mapping.ts";
import { NATPMP_RESPONSE, NATPMP_UNSUPPORTED_VERSION, NATPMP_VERSION } from "./natpmp.ts";

const IPPROTO_UDP = 17;
const PCP_VERSION = 2;
const PCP_OP_MAP = 1;
const PCP_RESPONSE = 0x80;
const PCP_HEADER_LENGTH = 24;
const PCP_MAP_LENGTH = 60;
const PCP_NONCE_LENGTH = 12;
export const PCP_RESULT = {
  SUCCESS: 0,
  UNSUPP_VERSION: 1,
  NOT_AUTHORIZED: 2,
  MALFORMED_REQUEST: 3,
  UNSUPP_OPCODE: 4,
  UNSUPP_OPTION: 5,
  MALFORMED_OPTION: 6,
  NETWORK_FAILURE: 7,
  NO_RESOURCES: 8,
  UNSUPP_PROTOCOL: 9,
  USER_EX_QUOTA: 10,
  CANNOT_PROVIDE_EXTERNAL: 11,
  ADDRESS_MISMATCH: 12,
  EXCESSIVE_REMOTE_PEERS: 13,
} as const;

function ipv4Bytes(ip: string): number[] {
  return ip.split(".").map(Number);
}

/** IPv4-mapped IPv6 (::ffff:a.b.c.d), the form PCP carries IPv4 addresses in. */
export function ipv4ToMapped(ip: string): Uint8Array {
  const out = new Uint8Array(16);
  out[10] = 0xff;
  out[11] = 0xff;
  out.set(ipv4Bytes(ip), 12);
  return out;
}

/** The IPv4 address inside ::ffff:a.b.c.d, or undefined for anything else. */
export function mappedToIpv4(bytes: Uint8Array): string | undefined {
  if (bytes.length !== 16) return undefined;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return undefined;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return undefined;
  return Array.from(bytes.subarray(12, 16)).join(".");
}

export interface PcpMapRequest {
  nonce: Uint8Array;
  lifetime: number;
  clientIp: string;
  internalPort: number;
  suggestedPort: number;
}

/** A PCP MAP request for UDP, RFC 6887 sections 7.1 and 11.1 (60 bytes). */
export function encodePcpMap(req: PcpMapRequest): Uint8Array {
  const buf = new Uint8Array(PCP_MAP_LENGTH);
  const view = new DataView(buf.buffer);
  buf[0] = PCP_VERSION;
  buf[1] = PCP_OP_MAP;
  view.setUint32(4, req.lifetime);
  buf.set(ipv4ToMapped(req.clientIp), 8);
  buf.set(req.nonce.subarray(0, 12), 24);
  buf[36] = IPPROTO_UDP;
  view.setUint16(40, req.internalPort);
  view.setUint16(42, req.suggestedPort);
  // No preference for the external address: ::ffff:0.0.0.0.
  buf.set(ipv4ToMapped("0.0.0.0"), 44);
  return buf;
}

export type PcpReply =
  /** The server does not speak this PCP version (a NAT-PMP-only gateway answers so, in NAT-PMP format). */
  | { kind: "unsupported-version" }
  | { kind: "error"; resultCode: number }
  | { kind: "ok"; lifetime: number; epoch: number; external: Endpoint };

/** Parses a reply to our MAP request; undefined when the datagram is not one (wrong nonce, truncated...). */
export function decodePcpMapReply(data: Uint8Array, nonce: Uint8Array): PcpReply | undefined {
  if (data.length < 4) return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const version = data[0] ?? -1;
  const opByte = data[1] ?? 0;
  if (version === NATPMP_VERSION) {
    // RFC 6886 3.5: a NAT-PMP server answers an unknown version with result 1, opcode 128 + ours.
    const isReply =
      opByte === NATPMP_RESPONSE + PCP_OP_MAP && view.getUint16(2) === NATPMP_UNSUPPORTED_VERSION;
    return isReply ? { kind: "unsupported-version" } : undefined;
  }
  if ((opByte & PCP_RESPONSE) === 0 || (opByte & 0x7f) !== PCP_OP_MAP) return undefined;
  const resultCode = data[3] ?? -1;
  if (version !== PCP_VERSION) {
    // A server of another PCP version says which one it speaks, with UNSUPP_VERSION.
    return resultCode === PCP_RESULT.UNSUPP_VERSION ? { kind: "unsupported-version" } : undefined;
  }
  if (data.length < PCP_MAP_LENGTH) {
    // Errors may come without the opcode part (e.g. MALFORMED_REQUEST); success never does.
    return data.length >= PCP_HEADER_LENGTH && resultCode !== PCP_RESULT.SUCCESS
      ? { kind: "error", resultCode }
      : undefined;
  }
  for (let i = 0; i < 12; i++) if (data[24 + i] !== nonce[i]) return undefined;
  if (data[36] !== IPPROTO_UDP) return undefined;
  if (resultCode === PCP_RESULT.UNSUPP_VERSION) return { kind: "unsupported-version" };
  if (resultCode !== PCP_RESULT.SUCCESS) return { kind: "error", resultCode };
  const host = mappedToIpv4(data.subarray(44, 60));
  if (host === undefined) return undefined;
  return {
    kind: "ok",
    lifetime: view.getUint32(4),
    epoch: view.getUint32(8),
    external: { host, port: view.getUint16(42) },
  };
}

export async function tryPcp(
  s: GatewaySocket,
  ctx: GatewayContext,
): Promise<Grant | "unsupported" | undefined> {
  // RFC 6887 11.1: 96 random bits tie the answers, renewals and the deletion to this mapping.
  const nonce = ctx.fx.random.bytes(PCP_NONCE_LENGTH);
  const ask = (
    sock: GatewaySocket,
    lifetime: number,
    suggestedPort: number,
    deadline: number,
    signal?: AbortSignal,
  ) => {
    const packet = encodePcpMap({
      nonce,
      lifetime,
      clientIp: sock.clientIp,
      internalPort: ctx.localPort,
      suggestedPort,
    });
    return sock.request(packet, (d) => decodePcpMapReply(d, nonce), deadline, signal);
  };
  const first = await ask(s, ctx.ttl, ctx.localPort, ctx.deadline, ctx.signal);
  if (first?.kind === "unsupported-version") return "unsupported";
  if (first?.kind !== "ok") return undefined;
  const grant: Grant = {
    protocol: "pcp",
    external: first.external,
    lifetime: first.lifetime,
    // Renewal and deletion must carry the same nonce, or the gateway refuses (RFC 6887 11.2).
    request: (lifetime, timeoutMs, signal) =>
      withSocket(ctx, async (sock) => {
        const reply = await ask(sock, lifetime, grant.external.port, ctx.fx.clock.now() + timeoutMs, signal);
        return reply?.kind === "ok" ? { external: reply.external, lifetime: reply.lifetime } : undefined;
      }),
  };
  if (!usable(first.external)) {
    void grant.request(0, BACKGROUND_TIMEOUT_MS);
    return undefined;
  }
  return grant;
}
