import { CANDIDATE_KINDS } from "../protocol/kinds.ts";
import type { CandidateKind, Endpoint } from "../types.ts";

/** A path that was proven both ways: where the partner answers, how we reached it, its RTT, our socket. */
export interface ProvenPath {
  ep: Endpoint;
  kind: CandidateKind;
  rttMs: number;
  /** Which of our sockets: 0 the punching one, 1.. the birthday sockets. */
  socket: number;
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
