import { Backoff } from "../backoff.ts";
import { classifyMapping } from "../nat/classify.ts";
import type { Message, NatInfo } from "../protocol/messages.ts";
import type { Endpoint } from "../types.ts";

/** @default every 300 ms, 4 tries: the alt port answers in one server RTT; four ride out 3 lost probes. */
const PROBE_RETRY = { firstMs: 300, factor: 1, maxMs: 300, maxTries: 4 };

/**
 * Learns our own NAT's mapping behaviour during a connect, pure: one PROBE to the server's alt port (retried
 * every 300 ms, at most 4 times); the address the alt port saw, against the one the main port saw, says
 * whether our NAT keeps one public port for every destination.
 */
export class NatProbe {
  private readonly retry = new Backoff(PROBE_RETRY);
  private altPort = 0;
  /** Ids of the probes sent and not yet answered: a reply must claim one (a replayed reply cannot). */
  private readonly open = new Set<number>();
  nat: NatInfo | undefined;

  constructor(
    private readonly server: Endpoint,
    private readonly local: { port: number; hosts: string[] },
    private readonly random: () => number = Math.random,
  ) {}

  get alt(): Endpoint | undefined {
    return this.altPort ? { host: this.server.host, port: this.altPort } : undefined;
  }

  start(altPort: number, now: number): { to: Endpoint; msg: Message }[] {
    if (this.altPort) return [];
    this.altPort = altPort;
    return this.tick(now);
  }

  tick(now: number): { to: Endpoint; msg: Message }[] {
    const alt = this.alt;
    if (!alt || this.nat || !this.retry.due(now)) return [];
    this.retry.sent(now);
    const probeId = Math.floor(this.random() * 0x100000000) >>> 0;
    this.open.add(probeId);
    return [{ to: alt, msg: { type: "probe", probeId, fromOtherPort: false } }];
  }

  /** True once for each id we sent. */
  claim(probeId: number): boolean {
    return this.open.delete(probeId);
  }

  /** The alt port's answer, compared with what the main port saw; returns the behaviour once known. */
  onReply(observedViaAlt: Endpoint, observedViaMain: Endpoint | undefined): NatInfo | undefined {
    if (this.nat || !observedViaMain) return undefined;
    this.nat = classifyMapping(observedViaMain, observedViaAlt, this.local);
    return this.nat;
  }

  wakeAt(): number {
    return this.alt && !this.nat ? this.retry.nextAt : Number.POSITIVE_INFINITY;
  }
}
