// The keys of a pair made by `netpunch pair` (issue 15): the server's key admits a peer to the server
// (REGISTER, MATCH, keepalives, RELAY_*), the pair's own key authenticates what the two peers say to each
// other (PING, PONG, CLOSE, DATA) and their offers, so nobody else holding the server's secret (its operator,
// another pair of the same server) can stand in for either peer. Which key a packet takes follows from its
// type byte alone, which the tag covers: a packet of a peer type sealed with the server's key is a forgery.
import { hkdf } from "@noble/hashes/hkdf.js";
import { hmac } from "@noble/hashes/hmac.js";
import { sha256 } from "@noble/hashes/sha2.js";
import type { Role } from "../types.ts";
import { MessageType, type MessageTypeName } from "./constants.ts";

const utf8 = (s: string): Uint8Array => new TextEncoder().encode(s);

/** The messages only the two peers of a pair exchange: the relay forwards them as they are. */
const PEER_TYPES: ReadonlySet<number> = new Set([
  MessageType.ping,
  MessageType.pong,
  MessageType.close,
  MessageType.data,
]);

/** Whether a packet of this type byte (byte 3 of the header) is sealed with the pair's key. */
export const isPeerType = (type: number | undefined): boolean => type !== undefined && PEER_TYPES.has(type);

/** The same for a message by name, when sealing. */
export const isPeerMessage = (name: MessageTypeName): boolean => PEER_TYPES.has(MessageType[name]);

/** 32 bytes: HMAC-SHA256's natural key size. */
const PEER_KEY_BYTES = 32;

/**
 * The packet key of the pair's own messages: HKDF-SHA256 of the pair key, its own label, so the pair key
 * itself is never an HMAC key of packets (the offers' MAC uses another label, offerKey).
 */
export const derivePeerKey = (pairKey: Uint8Array): Uint8Array =>
  hkdf(sha256, pairKey, undefined, utf8("netpunch peer packets v2"), PEER_KEY_BYTES);

/** The two keys of one peer; without a pair key both are the server's (one key, as before issue 15). */
export interface PacketKeys {
  server: Uint8Array;
  peer: Uint8Array;
}

/** The key a received packet must authenticate with, from its type byte. */
export const keyOfPacket = (keys: PacketKeys, packet: Uint8Array): Uint8Array =>
  isPeerType(packet[3]) ? keys.peer : keys.server;

/** The key a message is sealed with. */
export const keyOfMessage = (keys: PacketKeys, msg: { type: MessageTypeName }): Uint8Array =>
  isPeerMessage(msg.type) ? keys.peer : keys.server;

/**
 * The offer MAC's length: 16 bytes (128 bits) of HMAC-SHA256, as a packet's tag. It comes out of the hook's
 * MAX_OFFER_LEN (192), which leaves 176 bytes, more than three times a WireGuard offer.
 */
export const OFFER_MAC_LEN = 16;

const offerKey = (pairKey: Uint8Array): Uint8Array =>
  hkdf(sha256, pairKey, undefined, utf8("netpunch offer mac v1"), PEER_KEY_BYTES);

/** HMAC over the session, the sender's role and the offer, each length-prefixed so no two inputs collide. */
function offerMac(pairKey: Uint8Array, session: string, role: Role, offer: Uint8Array): Uint8Array {
  const s = utf8(session);
  const input = new Uint8Array(2 + s.length + 1 + offer.length);
  input[0] = s.length >> 8;
  input[1] = s.length & 0xff;
  input.set(s, 2);
  input[2 + s.length] = role === "a" ? 0x61 : 0x62;
  input.set(offer, 3 + s.length);
  return hmac(sha256, offerKey(pairKey), input).slice(0, OFFER_MAC_LEN);
}

/** The offer as the pair sends it: the hook's bytes and their MAC by the sender (`role`). */
export function macOffer(pairKey: Uint8Array, session: string, role: Role, offer: Uint8Array): Uint8Array {
  const out = new Uint8Array(offer.length + OFFER_MAC_LEN);
  out.set(offer);
  out.set(offerMac(pairKey, session, role, offer), offer.length);
  return out;
}

/**
 * The hook's bytes of an offer that `role` (the partner) MACed with the pair key, or undefined when the MAC
 * is missing or wrong (someone between, the server's operator say, changed or made it). Constant time.
 */
export function openOffer(
  pairKey: Uint8Array,
  session: string,
  role: Role,
  sent: Uint8Array,
): Uint8Array | undefined {
  if (sent.length <= OFFER_MAC_LEN) return undefined;
  const offer = sent.subarray(0, sent.length - OFFER_MAC_LEN);
  const want = offerMac(pairKey, session, role, offer);
  const got = sent.subarray(sent.length - OFFER_MAC_LEN);
  let diff = 0;
  for (let i = 0; i < OFFER_MAC_LEN; i++) diff |= (want[i] ?? 0) ^ (got[i] ?? 0);
  return diff === 0 ? offer.slice() : undefined;
}
