/** Wire constants of protocol version 2. The layout is documented in README.md ("Wire format"). */
export const MAGIC = [0x4e, 0x50] as const; // "NP"
export const VERSION = 2;
/** Version 1 packets are recognised (with the old key) only to tell an old peer it must upgrade. */
export const OLD_VERSION = 1;
/** A return-routability cookie: 1 byte of generation, 15 of MAC (120 bits cannot be guessed). */
export const COOKIE_LEN = 16;
export const HEADER_LEN = 24; // magic 2, version 1, type 1, timestamp 8, nonce 12
export const NONCE_LEN = 12;
export const TAG_LEN = 16; // HMAC-SHA256 truncated to 128 bits, as in RFC 4868's HMAC-SHA-256-128
export const MAX_PACKET = 1200; // stays under every path MTU that matters (QUIC's minimum is 1200)
/**
 * A REGISTER is padded to this size so that every server reply to it (REGISTERED, and MATCH pushes paid
 * for by the credit it leaves) is smaller than what the peer sent: the server never amplifies.
 */
export const REGISTER_PADDED_LEN = 512;
export const MAX_CANDIDATES = 8;
export const MAX_SESSION_LEN = 64;
/**
 * The most bytes a hook's offer may have (what a peer hands its partner through the rendezvous: a WireGuard
 * public key and tunnel address, an OpenVPN certificate fingerprint; README "Wire format"). 192: the largest
 * multiple of 64 that keeps the largest MATCH (nine IPv6 candidates, an offer of this size and the partner's
 * proxy mode byte, 508 bytes) within REGISTER_PADDED_LEN, so the server still answers every REGISTER with
 * less than it carries, whether or not that REGISTER had an offer of its own. A WireGuard key (32 bytes) with
 * an IPv6 address and prefix (17) takes a quarter of it; a SHA-256 fingerprint, a sixth.
 */
export const MAX_OFFER_LEN = 192;
/**
 * The offer's format byte (README "Wire format"): 0 is no offer, 1 is the hook's opaque bytes. A later
 * format takes the next number; a netpunch that does not know a format refuses the packet as malformed, so
 * an offer is never handed to a hook as something it is not.
 */
export const OfferFormat = { none: 0, opaque: 1 } as const;

/**
 * The type byte of each message: the numbers are allotted here; each message's row in message-table.ts says
 * how its body is laid out, and is typed to carry the same number.
 */
export const MessageType = {
  register: 1,
  registered: 2,
  match: 3,
  matchAck: 4,
  ping: 5,
  pong: 6,
  close: 7,
  probe: 8,
  probeReply: 9,
  relayRequest: 10,
  relayOffer: 11,
  relayBind: 12,
  relayBound: 13,
  natUpdate: 14,
  partnerNat: 15,
  unmatch: 16,
  leave: 17,
  // 20-23: the relay's return-routability check (relayChallenge), more relay messages to come.
  relayChallenge: 20,
  // 24: proxy mode's data plane (src/proxy): the tunnel's datagrams, and keepalives (an empty payload).
  data: 24,
} as const;

/**
 * The largest DATA packet: a UDP datagram's most over IPv4 (65535 - 20 IP - 8 UDP), so any datagram the tunnel
 * sends fits whole. Control messages stay under MAX_PACKET; only DATA may be larger (the tunnel chose its size).
 */
export const MAX_DATA_PACKET = 65_507;
/** What DATA adds to a tunnel datagram: header 24, pair id 16, sender role 1, sequence 8, tag 16. */
export const DATA_OVERHEAD = HEADER_LEN + 16 + 1 + 8 + TAG_LEN;
/** The most payload one DATA carries. */
export const MAX_DATA_PAYLOAD = MAX_DATA_PACKET - DATA_OVERHEAD;

/**
 * RELAY_REQUEST and RELAY_BIND are padded so the OFFER/CHALLENGE/BOUND answers are smaller (no amplification).
 */
export const RELAY_PADDED_LEN = 128;
/** The relay's address-proof token: 128 bits of HMAC, unguessable for anyone who cannot read the challenge. */
export const RELAY_TOKEN_LEN = 16;
/** PROBE is padded too: its reply (from either server port) is smaller. */
export const PROBE_PADDED_LEN = 96;
export type MessageTypeName = keyof typeof MessageType;
