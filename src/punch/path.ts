import { sameEndpoint } from "../addr.ts";
import { CANDIDATE_KINDS } from "../protocol/kinds.ts";
import type { CandidateKind, Endpoint } from "../types.ts";

/**
 * How our packets reach the partner: the transport, not the address. Today every path is UDP from one of
 * our sockets; a new transport (a relay over TCP, say) is a new member here that the driver learns to carry.
 */
export type Path =
  /** UDP from one of our sockets to the partner's address: 0 is the punching socket, 1.. the birthday ones. */
  | { kind: "direct"; socket: number }
  /** UDP from the punching socket to our port at the server's relay, which forwards to the partner. */
  | { kind: "relay"; relay: Endpoint };

/** The punching socket, straight to the address: where server traffic and plain punching go. */
export const PUNCHING: Path = { kind: "direct", socket: 0 };

/** Which of our local sockets a path's packets leave from (the relay is reached from the punching socket). */
export const socketOf = (path: Path): number => (path.kind === "direct" ? path.socket : 0);

export function samePath(a: Path, b: Path): boolean {
  if (a.kind === "direct") return b.kind === "direct" && a.socket === b.socket;
  return b.kind === "relay" && sameEndpoint(a.relay, b.relay);
}

/** A path that was proven both ways: where the partner answers, how we reached it, its RTT, our path. */
export interface ProvenPath {
  ep: Endpoint;
  kind: CandidateKind;
  rttMs: number;
  path: Path;
}

/** How much a kind of path is preferred, lower first: its row in the kinds table says, and why. */
export const kindRank = (kind: CandidateKind): number => CANDIDATE_KINDS[kind].rank;

/** Whether `a` is the better path: kind first, then the lower RTT. Pure; ties keep the first found. */
export function betterPath(a: ProvenPath, b: ProvenPath): boolean {
  const byKind = kindRank(a.kind) - kindRank(b.kind);
  return byKind !== 0 ? byKind < 0 : a.rttMs < b.rttMs;
}

/** The best of the proven paths (the first of equals), or undefined when there is none. */
export function bestPath(paths: readonly ProvenPath[]): ProvenPath | undefined {
  let best: ProvenPath | undefined;
  for (const p of paths) if (!best || betterPath(p, best)) best = p;
  return best;
}
