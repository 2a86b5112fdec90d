import { normalizeHost } from "../addr.ts";
import type { Role } from "../types.ts";

/**
 * Relays opened from one source IP at once. Several pairs behind one office or carrier-grade NAT may need a
 * relay at the same time, so it is more than one; with the default 16 slots, filling the relay takes at
 * least four addresses instead of one (the audit held 15 slots from a single host).
 */
export const MAX_RELAYS_PER_SOURCE_IP = 4;
/** Relays per peer id: a peer is in one pair at a time and a pair has one relay, so a second is abuse. */
export const MAX_RELAYS_PER_PEER = 1;

/** A relay slot, open or opening: its pair, the pair's two peers, and the IP whose request opened it. */
export interface RelayHolding {
  pairId: string;
  peers: Record<Role, string>;
  openedBy: string;
}

/** `existing`: the pair has its relay already (the second peer, or a retry): answer with its port. */
export type Admission = "existing" | "open" | "full" | "limit";

/**
 * May this request have a relay? Pure. The limits come before "full", so a requester over its share is told
 * so (it cannot help by waiting) even when the relay happens to be full too.
 */
export function admit(
  holdings: Iterable<RelayHolding>,
  req: { pairId: string; peers: Record<Role, string>; from: string },
  maxSessions: number,
): Admission {
  const from = normalizeHost(req.from);
  const ids = [req.peers.a, req.peers.b];
  let total = 0;
  let fromHere = 0;
  const perPeer = new Map<string, number>();
  for (const h of holdings) {
    if (h.pairId === req.pairId) return "existing";
    total++;
    if (h.openedBy === from) fromHere++;
    for (const id of [h.peers.a, h.peers.b]) perPeer.set(id, (perPeer.get(id) ?? 0) + 1);
  }
  if (ids.some((id) => (perPeer.get(id) ?? 0) >= MAX_RELAYS_PER_PEER)) return "limit";
  if (fromHere >= MAX_RELAYS_PER_SOURCE_IP) return "limit";
  return total >= maxSessions ? "full" : "open";
}
