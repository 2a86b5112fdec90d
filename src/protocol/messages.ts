import * as v from "valibot";
import {
  MAX_CANDIDATES,
  MAX_DATA_PAYLOAD,
  MAX_OFFER_LEN,
  MAX_SESSION_LEN,
  RELAY_TOKEN_LEN,
} from "./constants.ts";
import { ANNOUNCED_KINDS, WIRE_KINDS } from "./kinds.ts";

/** Valibot schemas for every decoded message: what came off the wire is checked before anyone uses it. */
const Port = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));
const Host = v.pipe(v.string(), v.ip());
export const EndpointSchema = v.object({ host: Host, port: Port });
const CandidateSchema = v.object({ host: Host, port: Port, kind: v.picklist(WIRE_KINDS) });
/** What a peer may list about itself: its LAN addresses and a mapped port, never a public address. */
const AnnouncedSchema = v.object({ host: Host, port: Port, kind: v.picklist(ANNOUNCED_KINDS) });
const Hex = (bytes: number) => v.pipe(v.string(), v.regex(new RegExp(`^[0-9a-f]{${bytes * 2}}$`)));
/** The characters a session name may have (message-table.ts checks decoded names with it too). */
export const SESSION_CHARS = /^[A-Za-z0-9._@:+-]+$/;
export const SessionName = v.pipe(
  v.string(),
  v.minLength(1),
  v.maxLength(MAX_SESSION_LEN),
  v.regex(SESSION_CHARS, "letters, digits and . _ @ : + - only"),
);
export const PeerId = Hex(8);
export const PairId = Hex(16);
export const Cookie = Hex(16);
export const Nonce = Hex(12);
/**
 * A hook's offer for the partner, opaque to netpunch: 1 to MAX_OFFER_LEN bytes, as lowercase hex (README
 * "Wire format" says how it travels; constants.ts why that many).
 */
export const Offer = v.pipe(v.string(), v.regex(new RegExp(`^(?:[0-9a-f]{2}){1,${MAX_OFFER_LEN}}$`)));
/** An offer as a caller gives it (connect's `offer`): the bytes themselves, checked before any packet. */
export const OfferBytes = v.pipe(v.instance(Uint8Array), v.minLength(1), v.maxLength(MAX_OFFER_LEN));
const U64 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));
const U32 = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff));

/**
 * A peer's NAT mapping behaviour, as learned by probing the server's two ports: `none` (a public address),
 * `independent` (one public port for every destination: easy), `sequential` or `random` (a new port per
 * destination; `step` is the last difference seen between two mappings).
 */
export const NatSchema = v.object({
  mapping: v.picklist(["none", "independent", "sequential", "random"]),
  step: v.pipe(v.number(), v.integer(), v.minValue(-32768), v.maxValue(32767)),
});
export type NatInfo = v.InferOutput<typeof NatSchema>;
const AltPort = v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535));

export const RegisterSchema = v.object({
  type: v.literal("register"),
  session: SessionName,
  role: v.picklist(["a", "b"]),
  peerId: PeerId,
  /** Its own addresses by kind: LAN addresses, and a port its gateway forwards to it (PCP/NAT-PMP, --port-map). */
  candidates: v.pipe(v.array(AnnouncedSchema), v.maxLength(MAX_CANDIDATES)),
  /** Absent until the peer has probed its NAT. */
  nat: v.optional(NatSchema),
  /** The server's return-routability cookie for the address this is sent from; absent on first contact. */
  cookie: v.optional(Cookie),
  /** The hook's offer for the partner, in every REGISTER of the run (it rides in the padding, for free). */
  offer: v.optional(Offer),
  /**
   * Proxy mode (src/proxy: the tunnel's datagrams cross as DATA), in every REGISTER of the run; absent: the
   * socket is handed to the tunnel. The server tells the partner (MATCH's partnerProxy), so a pair whose
   * peers disagree fails on both sides before any tunnel starts.
   */
  proxy: v.optional(v.literal(true)),
});
/**
 * What the server made of a REGISTER: `challenge`: send it again with this cookie, which proves that the peer
 * receives at its address; `waiting`: registered, the partner is not there yet; `busy`: another live peer
 * holds this role in the session; `full`: the server holds as many sessions as it may; `limit`: this address
 * holds as many sessions as one address may.
 */
export const RegisterStatus = v.picklist(["challenge", "waiting", "busy", "full", "limit"]);
export type RegisterStatus = v.InferOutput<typeof RegisterStatus>;
export const RegisteredSchema = v.object({
  type: v.literal("registered"),
  /** The nonce of the REGISTER this answers: binds the answer to it, so a replayed one is refused. */
  echo: Nonce,
  status: RegisterStatus,
  observed: EndpointSchema,
  /** The server's clock, ms since the epoch: every later packet is sealed in the server's time. */
  serverTime: U64,
  cookie: Cookie,
  /** The server's second port for NAT probing (serve --alt-port), if it has one. */
  altPort: v.optional(AltPort),
});
export const MatchSchema = v.object({
  type: v.literal("match"),
  /** The recipient's peer id and the nonce of its REGISTER that completed the pair: a MATCH for anyone else is refused. */
  to: PeerId,
  echo: Nonce,
  /** The server's clock and a cookie, as in REGISTERED: a peer matched on first contact gets them here. */
  serverTime: U64,
  cookie: Cookie,
  pairId: PairId,
  partnerId: PeerId,
  observed: EndpointSchema,
  candidates: v.pipe(v.array(CandidateSchema), v.minLength(1), v.maxLength(MAX_CANDIDATES + 1)),
  altPort: v.optional(AltPort),
  /** The partner's NAT behaviour, when it had probed before the match. */
  partnerNat: v.optional(NatSchema),
  /** The partner's offer, from its latest REGISTER, when it made one. */
  partnerOffer: v.optional(Offer),
  /** The partner runs proxy mode (its latest REGISTER said so); absent: it hands its socket to the tunnel. */
  partnerProxy: v.optional(v.literal(true)),
});
export const MatchAckSchema = v.object({
  type: v.literal("matchAck"),
  session: SessionName,
  pairId: PairId,
  peerId: PeerId,
});
export const PingSchema = v.object({ type: v.literal("ping"), pairId: PairId, peerId: PeerId, seq: U32 });
export const PongSchema = v.object({ type: v.literal("pong"), pairId: PairId, peerId: PeerId, seq: U32 });
export const CloseSchema = v.object({ type: v.literal("close"), pairId: PairId, peerId: PeerId, rttMs: U32 });
/**
 * Proxy mode (src/proxy): one datagram of the tunnel, peer to peer, after the punch. `from` is the sender's
 * role (a packet reflected back to its sender is refused), `seq` its counter (the receiver's sliding window
 * drops replays), `payload` the tunnel's bytes; an empty payload is a keepalive. Never answered.
 */
export const DataSchema = v.object({
  type: v.literal("data"),
  pairId: PairId,
  from: v.picklist(["a", "b"]),
  seq: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER)),
  payload: v.pipe(
    v.custom<Uint8Array>((x) => x instanceof Uint8Array),
    v.maxLength(MAX_DATA_PAYLOAD),
  ),
});

/** A peer asks the server for a relay for its pair, once direct punching has not worked. */
export const RelayRequestSchema = v.object({
  type: v.literal("relayRequest"),
  session: SessionName,
  pairId: PairId,
  peerId: PeerId,
});
/**
 * The server's answer to a RELAY_REQUEST, for peer `to`. `ok`: the relay listens on `port` of `host`, or of
 * the server's own address when there is no `host` (several servers on one store: the pair's one relay may
 * be on another server, the one that opened it for the partner). Otherwise `port` is 0, there is no `host`,
 * and `status` says why: `off` (no relay: serve --relay), `full` (every relay slot is taken; later may work),
 * `limit` (this peer or its address holds its share).
 */
export const RelayOfferSchema = v.object({
  type: v.literal("relayOffer"),
  pairId: PairId,
  to: PeerId,
  status: v.picklist(["ok", "off", "full", "limit"]),
  port: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)),
  host: v.optional(Host),
});
export type RelayOfferStatus = RelayOffer["status"];
const RelayToken = Hex(RELAY_TOKEN_LEN);
/**
 * Sent to the relay port from the peer's punching socket, so the relay learns its mapped address. The first
 * one carries no token and is answered with a RELAY_CHALLENGE; only a bind echoing that challenge's token,
 * from the address the challenge went to, binds the address (it is proven to be the sender's).
 */
export const RelayBindSchema = v.object({
  type: v.literal("relayBind"),
  pairId: PairId,
  peerId: PeerId,
  token: v.optional(RelayToken),
});
/** The relay's answer to an unproven RELAY_BIND: echo `token` in a RELAY_BIND from the same address. */
export const RelayChallengeSchema = v.object({
  type: v.literal("relayChallenge"),
  pairId: PairId,
  token: RelayToken,
});
/** The relay heard the bind; `ready` once both peers are bound and it forwards. */
export const RelayBoundSchema = v.object({
  type: v.literal("relayBound"),
  pairId: PairId,
  ready: v.boolean(),
});

/** NAT probing: "what address do you see me as?", optionally answered from the server's other port. */
export const ProbeSchema = v.object({
  type: v.literal("probe"),
  probeId: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff)),
  fromOtherPort: v.boolean(),
});
export const ProbeReplySchema = v.object({
  type: v.literal("probeReply"),
  probeId: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(0xffffffff)),
  observed: EndpointSchema,
  /** The server port the probe arrived at. */
  receivedOn: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(65535)),
  /** The server's other probing port (0: none), so a client needs to know only the main one. */
  altPort: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(65535)),
});

/** A peer that learned its NAT's behaviour after the match tells the server, which tells the partner. */
export const NatUpdateSchema = v.object({
  type: v.literal("natUpdate"),
  session: SessionName,
  pairId: PairId,
  peerId: PeerId,
  nat: NatSchema,
});
export const PartnerNatSchema = v.object({
  type: v.literal("partnerNat"),
  to: PeerId,
  pairId: PairId,
  nat: NatSchema,
});
/** A peer that stops before it is paired (Ctrl-C, its timeout) frees its role at once. Never answered. */
export const LeaveSchema = v.object({
  type: v.literal("leave"),
  session: SessionName,
  role: v.picklist(["a", "b"]),
  peerId: PeerId,
});
/** The partner never acknowledged its MATCH (gone, or its mapping was lost): go back to waiting. */
export const UnmatchSchema = v.object({ type: v.literal("unmatch"), to: PeerId, pairId: PairId });

export const MessageSchema = v.variant("type", [
  RegisterSchema,
  RegisteredSchema,
  MatchSchema,
  MatchAckSchema,
  PingSchema,
  PongSchema,
  CloseSchema,
  DataSchema,
  RelayRequestSchema,
  RelayOfferSchema,
  RelayBindSchema,
  RelayChallengeSchema,
  RelayBoundSchema,
  ProbeSchema,
  ProbeReplySchema,
  NatUpdateSchema,
  PartnerNatSchema,
  UnmatchSchema,
  LeaveSchema,
]);

export type Message = v.InferOutput<typeof MessageSchema>;
export type Register = v.InferOutput<typeof RegisterSchema>;
export type Registered = v.InferOutput<typeof RegisteredSchema>;
export type Match = v.InferOutput<typeof MatchSchema>;
export type Unmatch = v.InferOutput<typeof UnmatchSchema>;
export type Leave = v.InferOutput<typeof LeaveSchema>;
export type NatUpdate = v.InferOutput<typeof NatUpdateSchema>;
export type MatchAck = v.InferOutput<typeof MatchAckSchema>;
export type RelayRequest = v.InferOutput<typeof RelayRequestSchema>;
export type Ping = v.InferOutput<typeof PingSchema>;
export type Pong = v.InferOutput<typeof PongSchema>;
export type Close = v.InferOutput<typeof CloseSchema>;
export type Data = v.InferOutput<typeof DataSchema>;
export type RelayOffer = v.InferOutput<typeof RelayOfferSchema>;
export type RelayBind = v.InferOutput<typeof RelayBindSchema>;
export type RelayChallenge = v.InferOutput<typeof RelayChallengeSchema>;
export type RelayBound = v.InferOutput<typeof RelayBoundSchema>;
