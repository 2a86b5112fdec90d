import type { CANDIDATE_KINDS } from "./protocol/kinds.ts";
import type { NatInfo } from "./protocol/messages.ts";

/** A UDP address: an IP literal and a port. */
export interface Endpoint {
  host: string;
  port: number;
}

/**
 * Where a candidate address came from: `lan`, `public`, `mapped`, `reflexive`, `relay`, `predicted`,
 * `birthday`. Each is a row of protocol/kinds.ts, with its wire code, its preference and its `via`.
 */
export type CandidateKind = keyof typeof CANDIDATE_KINDS;

export interface Candidate extends Endpoint {
  kind: CandidateKind;
}

export type Role = "a" | "b";

/** What a successful punch hands to hooks. */
export interface PunchResult {
  role: Role;
  session: string;
  /** Local bind address as "host:port" (host is the wildcard when bound to any). */
  laddr: string;
  lhost: string;
  lport: number;
  raddr: string;
  rhost: string;
  rport: number;
  /** `lan`: a LAN address won; `direct`: a path across the NATs; `relay`: through the server's relay. */
  via: "lan" | "direct" | "predicted" | "birthday" | "relay";
  /** Which of the partner's candidates answered. */
  candidate: CandidateKind;
  /** Round-trip time between the peers on the winning path, in milliseconds. */
  rttMs: number;
  /** This peer's address as the rendezvous server saw it. */
  publicAddr: string;
  /**
   * The partner's offer (its `ConnectOptions.offer`), exactly the bytes it gave, whichever path won; absent
   * when it made none. Authenticated with the shared secret only: anyone holding it could have written it.
   */
  partnerOffer?: Uint8Array;
  /**
   * Proxy mode: netpunch carries the tunnel's datagrams, so laddr/lhost/lport are the loopback address the
   * tunnel binds and raddr/rhost/rport netpunch's loopback endpoint; `via` still says which path they take.
   */
  proxy?: true;
}

/** Progress reports; the library never logs on its own, callers decide what to show. */
export type NetpunchEvent =
  | { type: "listening"; local: Endpoint }
  /** `server`: which of the servers (a peer may register with several at once). */
  | { type: "registered"; publicAddr: Endpoint; server: Endpoint }
  | { type: "waiting"; session: string; server: Endpoint }
  /** Now and then while waiting (after 1, 2, 5 minutes, then every 10), so a long wait is visible. */
  | { type: "still-waiting"; session: string; partnerRole: Role; waitedMs: number }
  | { type: "server-silent"; tries: number; server: Endpoint }
  /** No REGISTERED over UDP in `waitedMs` (or the UDP attempt failed: `why`): registering over `url` instead. */
  | { type: "server-fallback"; url: string; waitedMs: number; why: string }
  /** Another live peer holds our role in the session; we keep asking until it leaves or goes silent. */
  | { type: "role-busy"; session: string; role: Role }
  /** The partner never acknowledged its MATCH (it left, or its mapping was lost): waiting again. */
  | { type: "partner-lost"; session: string }
  | { type: "matched"; candidates: Candidate[] }
  | { type: "punch-ok"; from: Endpoint; kind: CandidateKind; rttMs: number }
  | { type: "nat"; nat: NatInfo }
  | { type: "strategy"; strategy: "hard" | "easy" | "relay"; detail: string }
  /**
   * The relay fallback's progress. The server may refuse: `off` (it has no relay), `full` (no free slot),
   * `limit` (this peer's address holds its share of relays).
   */
  | { type: "relay"; state: "requested" | "off" | "full" | "limit" | "binding" | "ready"; relay?: Endpoint }
  /** The path works both ways; the socket stays open a little longer (CLOSE burst) before `connected`. */
  | { type: "proven"; remote: Endpoint; kind: CandidateKind }
  | { type: "connected"; result: PunchResult }
  /** `tenant`, on the server's events: whose session it is, on a multi-tenant server (serve({ tenants })). */
  | { type: "server-registration"; session: string; role: Role; from: Endpoint; tenant?: string }
  | { type: "server-pair"; session: string; a: Endpoint; b: Endpoint; tenant?: string }
  | { type: "server-paired"; session: string; tenant?: string }
  /** A peer never acknowledged its MATCH: its partner was sent back to waiting. */
  | { type: "server-gave-up"; session: string; tenant?: string }
  | { type: "server-expired"; session: string; role: Role; tenant?: string }
  /** A peer that stopped before it was paired said so (LEAVE): its role is free at once. */
  | { type: "server-left"; session: string; role: Role; tenant?: string }
  /** A REGISTER was refused because the server, or its source address, holds as many sessions as allowed. */
  | { type: "server-limit"; limit: "sessions" | "address"; from: Endpoint; tenant?: string }
  | { type: "server-relay"; pairId: string; port: number; tenant?: string }
  | { type: "server-relay-closed"; pairId: string }
  | { type: "dropped"; from: Endpoint; reason: DropReason };

export type DropReason =
  | "malformed"
  | "bad-version"
  | "bad-auth"
  | "replay"
  | "stale"
  | "unexpected"
  | "foreign-pair"
  | "no-credit"
  | "relay-rate"
  | "relay-unbound"
  /** The replay memory is at its bound: the packet is refused rather than an old nonce forgotten. */
  | "overload"
  /** Authenticated with the right secret by a wire version 1 peer: it must be upgraded. */
  | "old-version"
  /** An answer to nothing we asked (an unknown echo or probe id, a MATCH for another peer or phase). */
  | "unsolicited"
  /** The server's shared store (Redis) could not be reached: the packet was not handled; the peer retransmits. */
  | "store-down";

export type EventHandler = (event: NetpunchEvent) => void;
