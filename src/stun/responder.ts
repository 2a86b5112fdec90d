// A minimal STUN Binding responder (RFC 8489 section 6.3), pure: bytes in, bytes (or nothing) out.
//
// Reflection trade-off. STUN Binding is unauthenticated by design: whoever sends a request gets told the
// address it came from, so anyone able to spoof a source address can make the server send a packet to a
// victim. netpunch accepts that only in a bounded form:
//   - the answer is never larger than the request (no amplification): a bare 20-byte request, which would
//     earn a 32-52 byte answer, is dropped, so a client must pad its request (SOFTWARE or PADDING) to be
//     answered; the victim receives at most what the attacker sent, from a different source;
//   - nothing else is ever sent: no error responses (420, 400 ...), which would be one more reflector;
//   - the responder is off by default: a server operator has to turn it on.

import { normalizeHost } from "../addr.ts";
import type { Endpoint } from "../types.ts";
import { BINDING, decodeStun, encodeStun, isStun, STUN_HEADER_LEN } from "./codec.ts";

/**
 * The smallest request this responder answers whatever the family: the answer is the header, an IPv6
 * XOR-MAPPED-ADDRESS (4 + 20 bytes) and a FINGERPRINT (8 bytes). A client that pads to this is always
 * answered (an IPv4 answer is 12 bytes smaller).
 */
export const MIN_ANSWERED_REQUEST_LEN = STUN_HEADER_LEN + 24 + 8;

/**
 * Answers a valid Binding request with a Binding success response carrying XOR-MAPPED-ADDRESS (`from`),
 * plus FINGERPRINT if the request had one. Returns undefined (drop) for anything else: not STUN, malformed,
 * not a Binding request, a comprehension-required attribute this responder does not implement (answering
 * as if it had understood, e.g. CHANGE-REQUEST, would mislead the client; RFC 8489 asks for a 420 error,
 * which we do not send, see above), or an answer that would be larger than the request.
 */
export function stunAnswer(request: Uint8Array, from: Endpoint): Uint8Array | undefined {
  if (!isStun(request)) return undefined;
  const decoded = decodeStun(request);
  if (!decoded.ok) return undefined;
  const m = decoded.message;
  if (m.method !== BINDING || m.cls !== "request" || m.unknownRequired.length > 0) return undefined;
  let answer: Uint8Array;
  try {
    answer = encodeStun({
      cls: "success",
      transactionId: m.transactionId,
      // A dual-stack socket reports IPv4 peers as ::ffff:a.b.c.d; the client wants the IPv4 family back.
      xorMappedAddress: { host: normalizeHost(from.host), port: from.port },
      fingerprint: m.fingerprint,
    });
  } catch {
    return undefined; // `from` was not an IP literal: nothing sensible to reflect
  }
  return answer.length <= request.length ? answer : undefined;
}
