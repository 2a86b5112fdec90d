// NAT-PMP (RFC 6886): the UDP mapping and external address requests, and the run mapPort() makes of them when
// the gateway answers PCP with "unsupported version" (RFC 6887 appendix A).
import { type GatewayContext, type GatewaySocket, withSocket } from "./gateway-socket.ts";
import { BACKGROUND_TIMEOUT_MS, type Grant, usable } from "./mapping.ts";

export const NATPMP_VERSION = 0;
const NATPMP_OP_EXTERNAL = 0;
const NATPMP_OP_MAP_UDP = 1;
export const NATPMP_RESPONSE = 128;
export const NATPMP_UNSUPPORTED_VERSION = 1;

/** A NAT-PMP UDP mapping request (RFC 6886 3.3); lifetime 0 and suggested port 0 delete it (3.4). */
export function encodeNatPmpMap(internalPort: number, suggestedPort: number, lifetime: number): Uint8Array {
  const buf = new Uint8Array(12);
  const view = new DataView(buf.buffer);
  buf[0] = NATPMP_VERSION;
  buf[1] = NATPMP_OP_MAP_UDP;
  view.setUint16(4, internalPort);
  view.setUint16(6, suggestedPort);
  view.setUint32(8, lifetime);
  return buf;
}

/** A NAT-PMP external address request (RFC 6886 3.2). */
export function encodeNatPmpExternal(): Uint8Array {
  return new Uint8Array([NATPMP_VERSION, NATPMP_OP_EXTERNAL]);
}

export type NatPmpMapReply =
  | { kind: "error"; resultCode: number }
  | { kind: "ok"; externalPort: number; lifetime: number; epoch: number };

export function decodeNatPmpMapReply(data: Uint8Array, internalPort: number): NatPmpMapReply | undefined {
  if (data.length < 4 || data[0] !== NATPMP_VERSION || data[1] !== NATPMP_RESPONSE + NATPMP_OP_MAP_UDP)
    return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const resultCode = view.getUint16(2);
  if (resultCode !== 0) return { kind: "error", resultCode };
  if (data.length < 16 || view.getUint16(8) !== internalPort) return undefined;
  return {
    kind: "ok",
    externalPort: view.getUint16(10),
    lifetime: view.getUint32(12),
    epoch: view.getUint32(4),
  };
}

export type NatPmpExternalReply = { kind: "error"; resultCode: number } | { kind: "ok"; host: string };

export function decodeNatPmpExternalReply(data: Uint8Array): NatPmpExternalReply | undefined {
  if (data.length < 4 || data[0] !== NATPMP_VERSION || data[1] !== NATPMP_RESPONSE + NATPMP_OP_EXTERNAL)
    return undefined;
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const resultCode = view.getUint16(2);
  if (resultCode !== 0) return { kind: "error", resultCode };
  if (data.length < 12) return undefined;
  return { kind: "ok", host: Array.from(data.subarray(8, 12)).join(".") };
}

export async function tryNatPmp(s: GatewaySocket, ctx: GatewayContext): Promise<Grant | undefined> {
  const external = () =>
    s.request(encodeNatPmpExternal(), decodeNatPmpExternalReply, ctx.deadline, ctx.signal);
  const map = (
    sock: GatewaySocket,
    lifetime: number,
    suggestedPort: number,
    deadline: number,
    signal?: AbortSignal,
  ) =>
    sock.request(
      encodeNatPmpMap(ctx.localPort, suggestedPort, lifetime),
      (d) => decodeNatPmpMapReply(d, ctx.localPort),
      deadline,
      signal,
    );
  // Both at once: the replies differ by opcode, and the address costs no extra round trip.
  const [mapped, addr] = await Promise.all([
    map(s, ctx.ttl, ctx.localPort, ctx.deadline, ctx.signal),
    external(),
  ]);
  if (mapped?.kind !== "ok") return undefined;
  const host = addr?.kind === "ok" ? addr.host : undefined;
  const grant: Grant = {
    protocol: "nat-pmp",
    external: { host: host ?? "0.0.0.0", port: mapped.externalPort },
    lifetime: mapped.lifetime,
    request: (lifetime, timeoutMs, signal) =>
      withSocket(ctx, async (sock) => {
        // RFC 6886 3.4: a deletion suggests external port 0.
        const suggested = lifetime === 0 ? 0 : grant.external.port;
        const reply = await map(sock, lifetime, suggested, ctx.fx.clock.now() + timeoutMs, signal);
        if (reply?.kind !== "ok") return undefined;
        return {
          external: { host: grant.external.host, port: reply.externalPort },
          lifetime: reply.lifetime,
        };
      }),
  };
  if (!usable(grant.external)) {
    // A mapping without a usable public address is no candidate; give it back.
    void grant.request(0, BACKGROUND_TIMEOUT_MS);
    return undefined;
  }
  return grant;
}
