// Standard STUN (RFC 8489) message codec: only what a Binding transaction needs. Pure: no I/O, no clock.
//
//   0                   1                   2                   3
//   |0 0|   message type (14 bits)  |        message length         |
//   |                  magic cookie 0x2112A442                      |
//   |                transaction id (96 bits)                       |
//   then attributes: type (16) | value length (16) | value, padded to a multiple of 4 bytes.

import { isIP } from "../addr.ts";
import { bytesToIp, ipToBytes } from "../protocol/ip.ts";
import type { Endpoint } from "../types.ts";

export const MAGIC_COOKIE = 0x2112a442;
export const STUN_HEADER_LEN = 20;
export const TRANSACTION_ID_LEN = 12;
/** RFC 8489 section 14.7: XORed into the CRC so FINGERPRINT differs from a CRC another protocol might carry. */
const FINGERPRINT_XOR = 0x5354554e;
/** RFC 8489 section 14.14: SOFTWARE is fewer than 128 characters, at most 763 bytes of UTF-8. */
const MAX_SOFTWARE_BYTES = 763;
const MAX_SOFTWARE_CHARS = 127;
/** RFC 8489 section 14.8: the reason phrase has the same bound. */
const MAX_REASON_BYTES = 763;
/** The 16-bit length field bounds a message; a datagram cannot hold more anyway. */
const MAX_BODY_LEN = 0xffff - (0xffff % 4);

export const BINDING = 0x001;

export const StunAttr = {
  MappedAddress: 0x0001,
  MessageIntegrity: 0x0008,
  ErrorCode: 0x0009,
  MessageIntegritySha256: 0x001c,
  XorMappedAddress: 0x0020,
  Padding: 0x0026, // RFC 5780
  Software: 0x8022,
  Fingerprint: 0x8028,
} as const;

export type StunClass = "request" | "indication" | "success" | "error";
const CLASS_BITS: Record<StunClass, number> = { request: 0, indication: 1, success: 2, error: 3 };
const CLASSES: readonly StunClass[] = ["request", "indication", "success", "error"];

export interface StunMessage {
  method: number;
  cls: StunClass;
  /** A copy, so it outlives a socket's receive buffer. */
  transactionId: Uint8Array;
  xorMappedAddress?: Endpoint;
  /** Only RFC 3489 servers send this instead of XOR-MAPPED-ADDRESS. */
  mappedAddress?: Endpoint;
  software?: string;
  /** Value length of a PADDING attribute, if there was one. */
  paddingLength?: number;
  error?: { code: number; reason: string };
  /** True when a FINGERPRINT was present; it was checked, a wrong one rejects the message. */
  fingerprint: boolean;
  /**
   * Comprehension-required attributes (type < 0x8000) this codec does not implement, e.g. USERNAME,
   * MESSAGE-INTEGRITY, CHANGE-REQUEST. A server must not answer such a request as if it had understood it.
   */
  unknownRequired: number[];
  /** Size of the whole message in bytes. */
  size: number;
}

export type StunRejectReason =
  | "too-short" // fewer than 20 bytes
  | "not-stun" // top bits not zero, or no magic cookie
  | "bad-length" // header length not a multiple of 4, or not the datagram's size
  | "bad-attribute-length" // an attribute runs past the end, or has a size its type does not allow
  | "bad-address" // an address attribute with an unknown family
  | "bad-fingerprint" // FINGERPRINT does not match the CRC-32 of the message
  | "fingerprint-not-last"; // RFC 8489: FINGERPRINT is always the last attribute

export type StunDecodeResult = { ok: true; message: StunMessage } | { ok: false; reason: StunRejectReason };

// --- CRC-32 (ISO 3309 / IEEE 802.3, reflected polynomial 0xEDB88320), as FINGERPRINT requires ------------

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

export function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const b of bytes) crc = (CRC_TABLE[(crc ^ b) & 0xff] ?? 0) ^ (crc >>> 8);
  return (crc ^ 0xffffffff) >>> 0;
}

// --- helpers --------------------------------------------------------------------------------------------

const pad4 = (n: number): number => (n + 3) & ~3;

const u16 = (b: Uint8Array, at: number): number => ((b[at] ?? 0) << 8) | (b[at + 1] ?? 0);
const u32 = (b: Uint8Array, at: number): number =>
  (((b[at] ?? 0) << 24) | ((b[at + 1] ?? 0) << 16) | ((b[at + 2] ?? 0) << 8) | (b[at + 3] ?? 0)) >>> 0;

function putU16(b: Uint8Array, at: number, v: number): void {
  b[at] = (v >>> 8) & 0xff;
  b[at + 1] = v & 0xff;
}
function putU32(b: Uint8Array, at: number, v: number): void {
  putU16(b, at, v >>> 16);
  putU16(b, at + 2, v & 0xffff);
}

/** The 14-bit type interleaves a 12-bit method with a 2-bit class (RFC 8489 section 5). */
function typeBits(method: number, cls: StunClass): number {
  const c = CLASS_BITS[cls];
  return (
    (method & 0x000f) | ((method & 0x0070) << 1) | ((method & 0x0f80) << 2) | ((c & 1) << 4) | ((c & 2) << 7)
  );
}

function splitType(type: number): { method: number; cls: StunClass } {
  const method = (type & 0x000f) | ((type >> 1) & 0x0070) | ((type >> 2) & 0x0f80);
  const cls = CLASSES[((type >> 4) & 1) | ((type >> 7) & 2)] ?? "request";
  return { method, cls };
}

/** Invalid UTF-8 in a free-text attribute is the sender's cosmetic problem, not a reason to drop the answer. */
const utf8 = new TextDecoder("utf-8", { fatal: false });

/** Bytes of the magic cookie followed by the transaction id: the XOR mask of an IPv6 address. */
function xorMask(header: Uint8Array): Uint8Array {
  return header.subarray(4, 20);
}

// --- decode ---------------------------------------------------------------------------------------------

/**
 * True when the datagram looks like STUN: the first two bits are zero and bytes 4-7 hold the magic cookie.
 * Cheap enough to demultiplex every packet of a shared socket (netpunch packets start with "NP", 0x4E50,
 * whose top bits are 01, so they never pass).
 */
export function isStun(bytes: Uint8Array): boolean {
  return bytes.length >= STUN_HEADER_LEN && ((bytes[0] ?? 0) & 0xc0) === 0 && u32(bytes, 4) === MAGIC_COOKIE;
}

function decodeAddress(value: Uint8Array, header: Uint8Array, xored: boolean): Endpoint | StunRejectReason {
  if (value.length < 4) return "bad-attribute-length";
  const family = value[1];
  const size = family === 0x01 ? 4 : family === 0x02 ? 16 : 0;
  if (size === 0) return "bad-address";
  if (value.length !== 4 + size) return "bad-attribute-length";
  const port = u16(value, 2) ^ (xored ? MAGIC_COOKIE >>> 16 : 0);
  const addr = value.slice(4);
  if (xored) {
    const mask = xorMask(header);
    for (let i = 0; i < size; i++) addr[i] = (addr[i] ?? 0) ^ (mask[i] ?? 0);
  }
  return { host: bytesToIp(addr), port };
}

/** Decodes one datagram as one STUN message. Never throws: anything malformed comes back as a reason. */
export function decodeStun(bytes: Uint8Array): StunDecodeResult {
  if (bytes.length < STUN_HEADER_LEN) return { ok: false, reason: "too-short" };
  if (!isStun(bytes)) return { ok: false, reason: "not-stun" };
  const length = u16(bytes, 2);
  // Over UDP a datagram is exactly one message: trailing bytes or a short body both mean a broken sender.
  if (length % 4 !== 0 || STUN_HEADER_LEN + length !== bytes.length)
    return { ok: false, reason: "bad-length" };
  const header = bytes.subarray(0, STUN_HEADER_LEN);
  const { method, cls } = splitType(u16(bytes, 0));
  const message: StunMessage = {
    method,
    cls,
    transactionId: bytes.slice(8, STUN_HEADER_LEN),
    fingerprint: false,
    unknownRequired: [],
    size: bytes.length,
  };
  const seen = new Set<number>();
  // RFC 8489 section 14.5: after MESSAGE-INTEGRITY only MESSAGE-INTEGRITY-SHA256 and FINGERPRINT count.
  let afterIntegrity = false;
  let at = STUN_HEADER_LEN;
  while (at < bytes.length) {
    if (at + 4 > bytes.length) return { ok: false, reason: "bad-attribute-length" };
    const type = u16(bytes, at);
    const len = u16(bytes, at + 2);
    const start = at + 4;
    // The last attribute's padding must be there too: the header length is a multiple of 4.
    if (start + pad4(len) > bytes.length) return { ok: false, reason: "bad-attribute-length" };
    const value = bytes.subarray(start, start + len);
    const next = start + pad4(len);

    if (type === StunAttr.Fingerprint) {
      if (len !== 4) return { ok: false, reason: "bad-attribute-length" };
      if (next !== bytes.length) return { ok: false, reason: "fingerprint-not-last" };
      // The header length already covers the FINGERPRINT, as the sender had it when computing the CRC.
      if ((crc32(bytes.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0 !== u32(value, 0))
        return { ok: false, reason: "bad-fingerprint" };
      message.fingerprint = true;
    } else if (afterIntegrity && type !== StunAttr.MessageIntegritySha256) {
      // ignored, per RFC 8489; its length was still checked above
    } else if (!seen.has(type)) {
      // Only the first of duplicate attributes counts (RFC 8489 section 14).
      seen.add(type);
      const problem = readAttribute(message, type, value, header);
      if (problem) return { ok: false, reason: problem };
      if (type === StunAttr.MessageIntegrity || type === StunAttr.MessageIntegritySha256)
        afterIntegrity = true;
    }
    at = next;
  }
  return { ok: true, message };
}

function readAttribute(
  m: StunMessage,
  type: number,
  value: Uint8Array,
  header: Uint8Array,
): StunRejectReason | undefined {
  switch (type) {
    case StunAttr.XorMappedAddress:
    case StunAttr.MappedAddress: {
      const addr = decodeAddress(value, header, type === StunAttr.XorMappedAddress);
      if (typeof addr === "string") return addr;
      if (type === StunAttr.XorMappedAddress) m.xorMappedAddress = addr;
      else m.mappedAddress = addr;
      return undefined;
    }
    case StunAttr.Software:
      if (value.length > MAX_SOFTWARE_BYTES) return "bad-attribute-length";
      m.software = utf8.decode(value);
      return undefined;
    case StunAttr.Padding:
      m.paddingLength = value.length;
      return undefined;
    case StunAttr.ErrorCode: {
      if (value.length < 4 || value.length > 4 + MAX_REASON_BYTES) return "bad-attribute-length";
      m.error = {
        code: ((value[2] ?? 0) & 0x07) * 100 + (value[3] ?? 0),
        reason: utf8.decode(value.subarray(4)),
      };
      return undefined;
    }
    default:
      if (type < 0x8000) m.unknownRequired.push(type);
      return undefined;
  }
}

// --- encode ---------------------------------------------------------------------------------------------

export interface StunEncodeInput {
  /** @default BINDING */
  method?: number;
  cls: StunClass;
  transactionId: Uint8Array;
  xorMappedAddress?: Endpoint;
  software?: string;
  /** Value length of a PADDING attribute (RFC 5780); its bytes are zeros. */
  padding?: number;
  fingerprint?: boolean;
}

interface RawAttribute {
  type: number;
  value: Uint8Array;
}

function encodeXorAddress(ep: Endpoint, header: Uint8Array): Uint8Array {
  const family = isIP(ep.host);
  if (family === 0) throw new TypeError(`XOR-MAPPED-ADDRESS needs an IP literal, not "${ep.host}"`);
  if (!Number.isInteger(ep.port) || ep.port < 0 || ep.port > 0xffff)
    throw new RangeError(`bad port ${ep.port}`);
  const addr = ipToBytes(ep.host);
  const out = new Uint8Array(4 + addr.length);
  out[1] = family === 4 ? 0x01 : 0x02;
  putU16(out, 2, ep.port ^ (MAGIC_COOKIE >>> 16));
  const mask = xorMask(header);
  for (let i = 0; i < addr.length; i++) out[4 + i] = (addr[i] ?? 0) ^ (mask[i] ?? 0);
  return out;
}

/**
 * Encodes a message with the attributes this codec knows, in the order RFC 8489 wants (FINGERPRINT last).
 * Throws TypeError/RangeError on programming errors (a bad transaction id, a host name, an oversized
 * SOFTWARE), never on anything that came off the network.
 */
export function encodeStun(input: StunEncodeInput): Uint8Array {
  if (input.transactionId.length !== TRANSACTION_ID_LEN)
    throw new RangeError(
      `a transaction id has ${TRANSACTION_ID_LEN} bytes, not ${input.transactionId.length}`,
    );
  const method = input.method ?? BINDING;
  if (!Number.isInteger(method) || method < 0 || method > 0xfff) throw new RangeError(`bad method ${method}`);
  const header = new Uint8Array(STUN_HEADER_LEN);
  putU16(header, 0, typeBits(method, input.cls));
  putU32(header, 4, MAGIC_COOKIE);
  header.set(input.transactionId, 8);

  const attrs: RawAttribute[] = [];
  if (input.xorMappedAddress)
    attrs.push({ type: StunAttr.XorMappedAddress, value: encodeXorAddress(input.xorMappedAddress, header) });
  if (input.software !== undefined) {
    const value = new TextEncoder().encode(input.software);
    if (value.length > MAX_SOFTWARE_BYTES || [...input.software].length > MAX_SOFTWARE_CHARS)
      throw new RangeError("SOFTWARE must be under 128 characters and 763 bytes");
    attrs.push({ type: StunAttr.Software, value });
  }
  if (input.padding !== undefined) {
    if (!Number.isInteger(input.padding) || input.padding < 0)
      throw new RangeError(`bad padding ${input.padding}`);
    attrs.push({ type: StunAttr.Padding, value: new Uint8Array(input.padding) });
  }

  const bodyLen = attrs.reduce((sum, a) => sum + 4 + pad4(a.value.length), 0) + (input.fingerprint ? 8 : 0);
  if (bodyLen > MAX_BODY_LEN) throw new RangeError(`a STUN message body is at most ${MAX_BODY_LEN} bytes`);
  const out = new Uint8Array(STUN_HEADER_LEN + bodyLen); // zero-filled, so attribute padding is zeros
  out.set(header);
  putU16(out, 2, bodyLen);
  let at = STUN_HEADER_LEN;
  for (const a of attrs) {
    putU16(out, at, a.type);
    putU16(out, at + 2, a.value.length);
    out.set(a.value, at + 4);
    at += 4 + pad4(a.value.length);
  }
  if (input.fingerprint) {
    putU16(out, at, StunAttr.Fingerprint);
    putU16(out, at + 2, 4);
    putU32(out, at + 4, (crc32(out.subarray(0, at)) ^ FINGERPRINT_XOR) >>> 0);
  }
  return out;
}

/** 96 random bits: what matches an answer to its request, and what keeps off-path forgers out. */
export function newTransactionId(): Uint8Array {
  return crypto.getRandomValues(new Uint8Array(TRANSACTION_ID_LEN));
}
