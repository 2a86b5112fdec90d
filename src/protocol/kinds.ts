import type { CandidateKind, PunchResult } from "../types.ts";

/**
 * One row per candidate kind: everything that differs between kinds lives here, so a new kind is one row.
 * `code`: its byte in the candidate lists of REGISTER and MATCH, for the kinds that travel (the others are
 * found by the peers themselves and never sent); `announced`: a peer lists it in its REGISTER (the server
 * adds `public` itself, from what it saw, and refuses it from a peer); `rank`: how much a path of this kind
 * is preferred, lower first; `via`: what `PunchResult.via` says when a path of this kind wins.
 *
 * The ranks: a LAN path stays on the LAN (shortest, and it survives the NATs forgetting their mappings); any
 * path across the NATs beats the relay, which costs the server bandwidth and adds its RTT. Within a rank,
 * the lower RTT wins (punch/path.ts).
 */
export const CANDIDATE_KINDS = {
  /** An address of the partner's own interfaces. */
  lan: { code: 1, announced: true, rank: 0, via: "lan" },
  /** What the rendezvous server saw as the partner's source. */
  public: { code: 2, rank: 1, via: "direct" },
  /** A port the partner's gateway forwards to it on request (PCP/NAT-PMP, --port-map). */
  mapped: { code: 3, announced: true, rank: 1, via: "direct" },
  /** A source a PING actually arrived from: a symmetric NAT picks a new port per destination. */
  reflexive: { rank: 1, via: "direct" },
  /** The server's relay port for this pair: the fallback when no direct path works. */
  relay: { rank: 2, via: "relay" },
  /** A port of a symmetric NAT with a sequential allocator, found by prediction. */
  predicted: { rank: 1, via: "predicted" },
  /** A port of a symmetric NAT found by probing many ports (birthday paradox). */
  birthday: { rank: 1, via: "birthday" },
} as const satisfies Record<string, KindRow>;

interface KindRow {
  /** The wire code, 1-255 (0 is never a kind, so a zeroed byte is not mistaken for one); absent: not sent. */
  code?: number;
  /** A peer announces it in its REGISTER; needs a code. */
  announced?: true;
  rank: number;
  via: PunchResult["via"];
}

type Rows = typeof CANDIDATE_KINDS;
/** The kinds that have a wire code: the ones a MATCH may carry. */
export type WireKind = { [K in CandidateKind]: Rows[K] extends { code: number } ? K : never }[CandidateKind];

const rows = Object.entries(CANDIDATE_KINDS) as [CandidateKind, KindRow][];

/** The wire kinds in code order (the MATCH schema's picklist). */
export const WIRE_KINDS = rows
  .filter(([, row]) => row.code !== undefined)
  .sort(([, a], [, b]) => (a.code ?? 0) - (b.code ?? 0))
  .map(([kind]) => kind) as readonly WireKind[];

/** The kinds a peer announces in its REGISTER, in code order (the REGISTER schema's picklist). */
export type AnnouncedKind = {
  [K in CandidateKind]: Rows[K] extends { announced: true } ? K : never;
}[CandidateKind];
export const ANNOUNCED_KINDS = WIRE_KINDS.filter(
  (kind) => (CANDIDATE_KINDS[kind] as KindRow).announced,
) as readonly AnnouncedKind[];

const BY_CODE = new Map(rows.flatMap(([kind, row]) => (row.code === undefined ? [] : [[row.code, kind]])));

/** The wire code of a kind MATCH may carry. */
export const kindCode = (kind: WireKind): number => CANDIDATE_KINDS[kind].code;
/** The kind a wire code stands for, or undefined for a code no kind has. */
export const kindOfCode = (code: number): WireKind | undefined => BY_CODE.get(code) as WireKind | undefined;
