/**
 * How many packets the peer may send to an IP address that has not answered with an authenticated packet,
 * pure. Whatever told us to punch an address (a forged or replayed MATCH, an insider's lie about the
 * partner's NAT), the peer sends a bounded amount there until it answers, so it cannot be made a flooder.
 */

/**
 * @default 64 PINGs: a plain punch sends about 50 to one address in its 10 s (rounds every 40-500 ms to each
 * of up to 9 candidates on a few IPs), so 64 never limits it.
 */
export const UNANSWERED_BUDGET = 64;

export class SendBudget {
  private readonly sent = new Map<string, number>();
  private readonly allowance = new Map<string, number>();
  private readonly answered = new Set<string>();

  constructor(private readonly base = UNANSWERED_BUDGET) {}

  /** Counts a packet to `host`; false when the budget for an unanswered host is spent (do not send). */
  take(host: string): boolean {
    if (this.answered.has(host)) return true;
    const n = this.sent.get(host) ?? 0;
    if (n >= this.base + (this.allowance.get(host) ?? 0)) return false;
    this.sent.set(host, n + 1);
    return true;
  }

  /** Birthday probing needs more before the first answer: allow `extra` more to `host` (once, not cumulative). */
  allow(host: string, extra: number): void {
    this.allowance.set(host, Math.max(this.allowance.get(host) ?? 0, extra));
  }

  /** An authenticated packet came from `host`: it is a peer that wants our packets. */
  answer(host: string): void {
    this.answered.add(host);
  }

  /** Packets refused so far, for the report. */
  spentOn(host: string): number {
    return this.sent.get(host) ?? 0;
  }
}
