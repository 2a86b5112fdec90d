import type { DropReason } from "../types.ts";
import { tagInto, verifyTag } from "./auth.ts";
import { decodeBody, validMessage, writeBody } from "./body.ts";
import { Reader, Writer } from "./bytes.ts";
import {
  HEADER_LEN,
  MAGIC,
  MAX_DATA_PACKET,
  MAX_PACKET,
  MessageType,
  NONCE_LEN,
  OLD_VERSION,
  TAG_LEN,
  VERSION,
} from "./constants.ts";
import type { Message } from "./messages.ts";

/**
 * Envelope of every packet, peer-to-server and peer-to-peer alike:
 *   magic "NP" (2) | version (1) | type (1) | timestamp ms, u64 BE (8) | nonce (12) | body | tag (16)
 * The tag is HMAC-SHA256-128 over everything before it, so the header is authenticated too.
 */
export interface Frame {
  timestamp: number;
  /** Hex of the 12 random nonce bytes; the replay guard remembers it. */
  nonce: string;
  msg: Message;
  size: number;
  /**
   * Set by the channel for a message it delivers whatever its age: true when it also passed the time window
   * and the nonce memory (a first REGISTER may then be announced at once; see RendezvousCore).
   */
  fresh?: boolean;
}

export interface SealParams {
  timestamp: number;
  nonce: Uint8Array;
}

/**
 * One writer for every packet sealed: seal() runs to its end before anything else can, so the packet is
 * written in place and the only allocation left is the packet returned (and the HMAC's state).
 */
const scratch = new Writer(MAX_PACKET);

export function seal(key: Uint8Array, msg: Message, p: SealParams): Uint8Array {
  if (p.nonce.length !== NONCE_LEN) throw new RangeError(`nonce must be ${NONCE_LEN} bytes`);
  const w = scratch.reset().u8(MAGIC[0]).u8(MAGIC[1]).u8(VERSION).u8(0).u64(p.timestamp).bytes(p.nonce);
  const type = writeBody(w, msg, HEADER_LEN + TAG_LEN);
  const packet = w.done(TAG_LEN);
  packet[3] = type;
  const signed = packet.length - TAG_LEN;
  tagInto(key, packet, signed);
  return packet;
}

export type OpenResult = { ok: true; frame: Frame } | { ok: false; reason: DropReason };

/**
 * Authenticates, then decodes and validates. Authentication comes first so garbage costs one HMAC, no parsing.
 * With `oldKey`, a version 1 packet that fails is tried with version 1's key once more, so an old peer with
 * the right secret is reported as such ("old-version") instead of as a wrong secret; it is never answered.
 */
export function open(key: Uint8Array, packet: Uint8Array, oldKey?: Uint8Array): OpenResult {
  // Only DATA (the tunnel's own datagrams, proxy mode) may be larger than a control message.
  const max = packet[3] === MessageType.data ? MAX_DATA_PACKET : MAX_PACKET;
  if (packet.length < HEADER_LEN + TAG_LEN || packet.length > max) return { ok: false, reason: "malformed" };
  if (packet[0] !== MAGIC[0] || packet[1] !== MAGIC[1]) return { ok: false, reason: "malformed" };
  const signed = packet.subarray(0, packet.length - TAG_LEN);
  const got = packet.subarray(packet.length - TAG_LEN);
  if (!verifyTag(key, signed, got)) {
    const old = oldKey && packet[2] === OLD_VERSION && verifyTag(oldKey, signed, got);
    return { ok: false, reason: old ? "old-version" : "bad-auth" };
  }
  // Version sits under the tag: a peer of another version with the same secret is told apart from a forgery.
  if (packet[2] !== VERSION) return { ok: false, reason: "bad-version" };
  const r = new Reader(signed);
  r.bytes(3);
  const type = r.u8();
  const timestamp = r.u64();
  const nonce = r.hex(NONCE_LEN);
  let msg: unknown;
  try {
    msg = decodeBody(type, signed.subarray(HEADER_LEN));
  } catch {
    return { ok: false, reason: "malformed" };
  }
  if (!validMessage(msg)) return { ok: false, reason: "malformed" };
  return { ok: true, frame: { timestamp, nonce, msg, size: packet.length } };
}
