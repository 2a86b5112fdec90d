import type * as v from "valibot";
import {
  COOKIE_LEN,
  MAX_CANDIDATES,
  MAX_SESSION_LEN,
  MessageType,
  NONCE_LEN,
  PROBE_PADDED_LEN,
  REGISTER_PADDED_LEN,
  RELAY_PADDED_LEN,
  RELAY_TOKEN_LEN,
} from "./constants.ts";
import {
  allZeros,
  announcedCandidate,
  candidate,
  char,
  endpoint,
  enumOf,
  type FieldCodec,
  flag,
  hex,
  hexWithLength,
  ipHost,
  list,
  nat,
  offer,
  on,
  optional,
  refine,
  rest,
  text,
  u16,
  u32,
  u64,
  zeroFirstByte,
} from "./fields.ts";
import * as m from "./messages.ts";

/**
 * One row per wire message: its type code, its schema, its padding and its fields in wire order. body.ts
 * encodes and decodes every message from these rows, and scripts/wire-table.ts renders README's wire tables
 * from them (a test checks README says the same).
 */
export interface MessageRow<M extends m.Message> {
  /** Its number in MessageType (constants.ts, where the numbers are allotted). */
  code: (typeof MessageType)[M["type"]];
  schema: v.GenericSchema<unknown, M>;
  /**
   * The whole packet (header and tag included) is zero-padded to this many bytes, so that what the server
   * sends back is smaller (no amplification). Absent: nothing may follow the last field.
   */
  padTo?: number;
  fields: readonly FieldOf<M>[];
  /** A rule across fields, checked when decoding: a throw makes the packet malformed. */
  check?: (msg: M) => void;
  /** `relay`: README documents it in "Relay fallback", next to the relay's story. */
  readme?: "relay";
  /** Said after the fields in README. */
  note?: string;
}

/** A row as the generic codec and the README renderer see it: any message's, its fields by name. */
export interface WireRow {
  code: number;
  schema: v.GenericSchema;
  padTo?: number;
  fields: readonly (readonly [string, FieldCodec<unknown>, string, string?])[];
  check?: (msg: never) => void;
  readme?: "relay";
  note?: string;
}

type Body<M> = Omit<M, "type">;
/** `[name, codec, label in README, note in README]`, the codec typed by the field it carries. */
export type FieldOf<M> = {
  [K in keyof Body<M>]-?: readonly [K & string, FieldCodec<Body<M>[K]>, string, string?];
}[keyof Body<M>];

type Table = { [K in m.Message["type"]]: MessageRow<Extract<m.Message, { type: K }>> };

const ROLES = ["a", "b"] as const;
/** Sized as messages.ts's PairId and PeerId schemas check them: 16 and 8 random bytes. */
const PAIR_ID = hex(16);
const PEER_ID = hex(8);
const NO_ALT_PORT = allZeros(2, "0: none");
const NO_NAT = zeroFirstByte(3, "mapping 0: unknown");
/** A hook's offer, or format 0: none (one byte; in REGISTER, the same byte as the padding). */
const OFFER = optional(offer, zeroFirstByte(1, "format 0: none"));
/** Proxy mode, or 0: the socket is handed to the tunnel (in REGISTER, the same byte as the padding). */
const PROXY = optional(on, zeroFirstByte(1, "0: hand-off"));
/** A session name, as messages.ts's SessionName schema takes one. */
const SESSION = refine(text, (s) => s.length >= 1 && s.length <= MAX_SESSION_LEN && m.SESSION_CHARS.test(s));
/** A port that is never 0 (the schema's minimum is 1). */
const PORT = refine(u16, (port) => port !== 0);
/** The wire carries RELAY_OFFER's status as its index here; see RelayOfferSchema for what each means. */
const OFFER_STATUS = ["ok", "off", "full", "limit"] as const;
/** REGISTERED's status codes start at 1. */
const REGISTER_STATUS = ["challenge", "waiting", "busy", "full", "limit"] as const;

export const MESSAGES = {
  register: {
    code: MessageType.register,
    schema: m.RegisterSchema,
    padTo: REGISTER_PADDED_LEN,
    fields: [
      ["session", SESSION, "session"],
      ["role", char(ROLES), "role"],
      ["peerId", PEER_ID, "peer id"],
      ["candidates", list(announcedCandidate, { max: MAX_CANDIDATES }), "its own candidates"],
      ["nat", optional(nat, NO_NAT), "NAT behaviour"],
      // The absent cookie's zero length byte is the same byte as padding: first contact.
      ["cookie", optional(hexWithLength(COOKIE_LEN), zeroFirstByte(1, "length 0: none")), "cookie"],
      // Last, so a REGISTER without an offer is the same bytes as before offers: its zero format is padding.
      ["offer", OFFER, "offer"],
      // After the offer, so a REGISTER in hand-off mode is the same bytes as before: its zero is padding.
      ["proxy", PROXY, "proxy mode"],
    ],
  },
  registered: {
    code: MessageType.registered,
    schema: m.RegisteredSchema,
    fields: [
      ["echo", hex(NONCE_LEN), "echoed nonce of the REGISTER"],
      ["status", enumOf(REGISTER_STATUS, 1), "status"],
      ["observed", endpoint, "the address the server saw"],
      ["serverTime", u64, "server clock"],
      ["cookie", hex(COOKIE_LEN), "cookie"],
      ["altPort", optional(u16, NO_ALT_PORT), "alt port"],
    ],
  },
  match: {
    code: MessageType.match,
    schema: m.MatchSchema,
    fields: [
      ["to", PEER_ID, "recipient's peer id"],
      ["echo", hex(NONCE_LEN), "echoed nonce of its REGISTER"],
      ["serverTime", u64, "server clock"],
      ["cookie", hex(COOKIE_LEN), "cookie"],
      ["pairId", PAIR_ID, "pair id"],
      ["partnerId", PEER_ID, "partner's peer id"],
      ["observed", endpoint, "your address as seen"],
      // The partner's public address, then up to MAX_CANDIDATES of its own.
      ["candidates", list(candidate, { min: 1, max: MAX_CANDIDATES + 1 }), "candidates"],
      ["altPort", optional(u16, NO_ALT_PORT), "alt port"],
      ["partnerNat", optional(nat, NO_NAT), "partner's NAT behaviour"],
      ["partnerOffer", OFFER, "partner's offer"],
      ["partnerProxy", PROXY, "partner's proxy mode"],
    ],
  },
  matchAck: {
    code: MessageType.matchAck,
    schema: m.MatchAckSchema,
    fields: [
      ["session", SESSION, "session"],
      ["pairId", PAIR_ID, "pair id"],
      ["peerId", PEER_ID, "peer id"],
    ],
  },
  ping: {
    code: MessageType.ping,
    schema: m.PingSchema,
    fields: [
      ["pairId", PAIR_ID, "pair id"],
      ["peerId", PEER_ID, "sender's peer id"],
      ["seq", u32, "sequence"],
    ],
  },
  pong: {
    code: MessageType.pong,
    schema: m.PongSchema,
    fields: [
      ["pairId", PAIR_ID, "pair id"],
      ["peerId", PEER_ID, "sender's peer id"],
      ["seq", u32, "sequence", "the PING's"],
    ],
  },
  close: {
    code: MessageType.close,
    schema: m.CloseSchema,
    fields: [
      ["pairId", PAIR_ID, "pair id"],
      ["peerId", PEER_ID, "sender's peer id"],
      ["rttMs", u32, "sender's measured RTT in ms"],
    ],
  },
  data: {
    code: MessageType.data,
    schema: m.DataSchema,
    fields: [
      ["pairId", PAIR_ID, "pair id"],
      ["from", char(ROLES), "sender's role"],
      ["seq", u64, "sequence", "per sender, from 0"],
      ["payload", rest, "the tunnel's datagram", "empty: keepalive"],
    ],
    note: "proxy mode only, peer to peer after the punch, never answered; the one message that may exceed 1200 bytes (up to 65507)",
  },
  probe: {
    code: MessageType.probe,
    schema: m.ProbeSchema,
    padTo: PROBE_PADDED_LEN,
    fields: [
      ["probeId", u32, "probe id", "random"],
      ["fromOtherPort", flag, "answer from the other port"],
    ],
  },
  probeReply: {
    code: MessageType.probeReply,
    schema: m.ProbeReplySchema,
    fields: [
      ["probeId", u32, "probe id"],
      ["observed", endpoint, "the address seen"],
      ["receivedOn", PORT, "the port it arrived at"],
      // 0 is decoded as 0, not as absent: the schema has this field always (0: the server has none).
      ["altPort", u16, "the alt port", "0: none"],
    ],
  },
  relayRequest: {
    code: MessageType.relayRequest,
    schema: m.RelayRequestSchema,
    padTo: RELAY_PADDED_LEN,
    readme: "relay",
    fields: [
      ["session", SESSION, "session"],
      ["pairId", PAIR_ID, "pair id"],
      ["peerId", PEER_ID, "peer id"],
    ],
  },
  relayOffer: {
    code: MessageType.relayOffer,
    schema: m.RelayOfferSchema,
    readme: "relay",
    fields: [
      ["pairId", PAIR_ID, "pair id"],
      ["to", PEER_ID, "recipient's peer id"],
      ["status", enumOf(OFFER_STATUS, 0), "status"],
      ["port", u16, "relay port", "non-zero exactly when ok"],
      [
        "host",
        optional(ipHost, zeroFirstByte(1, "family 0: the server's own address")),
        "relay host",
        "only when ok",
      ],
    ],
    // A port exactly when the status is ok, a host only then, so every offer has one meaning.
    check: (offer) => {
      if ((offer.status === "ok") !== (offer.port !== 0)) throw new RangeError("relay offer status");
      if (offer.status !== "ok" && offer.host !== undefined) throw new RangeError("relay offer host");
    },
  },
  relayBind: {
    code: MessageType.relayBind,
    schema: m.RelayBindSchema,
    padTo: RELAY_PADDED_LEN,
    readme: "relay",
    note: "sent to the relay port",
    fields: [
      ["pairId", PAIR_ID, "pair id"],
      ["peerId", PEER_ID, "peer id"],
      // A real token is all zeros 1 time in 2^128, so all zeros can stand for "none yet".
      ["token", optional(hex(RELAY_TOKEN_LEN), allZeros(RELAY_TOKEN_LEN, "all zero: none yet")), "token"],
    ],
  },
  relayBound: {
    code: MessageType.relayBound,
    schema: m.RelayBoundSchema,
    readme: "relay",
    fields: [
      ["pairId", PAIR_ID, "pair id"],
      ["ready", flag, "both bound"],
    ],
  },
  natUpdate: {
    code: MessageType.natUpdate,
    schema: m.NatUpdateSchema,
    padTo: PROBE_PADDED_LEN,
    fields: [
      ["session", SESSION, "session"],
      ["pairId", PAIR_ID, "pair id"],
      ["peerId", PEER_ID, "peer id"],
      ["nat", nat, "NAT behaviour"],
    ],
  },
  partnerNat: {
    code: MessageType.partnerNat,
    schema: m.PartnerNatSchema,
    fields: [
      ["to", PEER_ID, "recipient's peer id"],
      ["pairId", PAIR_ID, "pair id"],
      ["nat", nat, "NAT behaviour"],
    ],
  },
  unmatch: {
    code: MessageType.unmatch,
    schema: m.UnmatchSchema,
    fields: [
      ["to", PEER_ID, "recipient's peer id"],
      ["pairId", PAIR_ID, "pair id"],
    ],
  },
  leave: {
    code: MessageType.leave,
    schema: m.LeaveSchema,
    note: "a peer that stops before it is paired frees its role; never answered",
    fields: [
      ["session", SESSION, "session"],
      ["role", char(ROLES), "role"],
      ["peerId", PEER_ID, "peer id"],
    ],
  },
  relayChallenge: {
    code: MessageType.relayChallenge,
    schema: m.RelayChallengeSchema,
    readme: "relay",
    fields: [
      ["pairId", PAIR_ID, "pair id"],
      ["token", hex(RELAY_TOKEN_LEN), "token"],
    ],
  },
} as const satisfies Table;

export type MessageName = keyof typeof MESSAGES;
/** The rows in type-code order, each with its message name. */
export const MESSAGE_ROWS = (Object.entries(MESSAGES) as [MessageName, WireRow][]).sort(
  ([, a], [, b]) => a.code - b.code,
);
/** REGISTER, MATCH_ACK: how README and the logs spell a message. */
export const wireName = (name: MessageName): string => name.replace(/[A-Z]/g, (c) => `_${c}`).toUpperCase();
