import { isEasy, isHard } from "../nat/classify.ts";
import type { NatInfo } from "../protocol/messages.ts";
import type { Endpoint } from "../types.ts";

/**
 * What to do beyond plain punching, from both sides' NAT behaviour (unknown stays plain):
 * - `hard`: we are behind a symmetric NAT and the partner is easy: open many sockets toward the partner, so
 *   the partner's probes of random ports are likely to hit one of our mappings (birthday paradox);
 * - `easy`: the reverse: probe ports of the partner's public IP, predicted ones first if its NAT is sequential;
 * - `relay`: both symmetric, no direct path can be found: go to the relay at once.
 */
export function strategyFor(
  me: NatInfo | undefined,
  partner: NatInfo | undefined,
): "plain" | "hard" | "easy" | "relay" {
  if (isHard(me) && isHard(partner)) return "relay";
  if (isHard(me) && isEasy(partner)) return "hard";
  if (isEasy(me) && isHard(partner)) return "easy";
  return "plain";
}

const LOW_PORT = 1024; // NATs allocate from the unprivileged range
const PREDICTED = 32; // mappings ahead of the last one seen, for a sequential allocator

/**
 * The ports of the partner's public IP to probe, in order: for a sequential allocator the next mappings
 * after the one the server saw, then distinct random ports. `random` is injected so tests are repeatable.
 */
export function sprayPorts(
  partner: Endpoint,
  nat: NatInfo | undefined,
  count: number,
  random: () => number,
): number[] {
  const out: number[] = [];
  const seen = new Set<number>([partner.port]);
  const add = (p: number) => {
    if (p >= LOW_PORT && p <= 65535 && !seen.has(p) && out.length < count) {
      seen.add(p);
      out.push(p);
    }
  };
  if (nat?.mapping === "sequential" && nat.step !== 0) {
    for (let k = 1; k <= PREDICTED; k++) add(partner.port + nat.step * k);
  }
  const span = 65536 - LOW_PORT;
  for (let guard = 0; out.length < count && guard < count * 20; guard++)
    add(LOW_PORT + Math.floor(random() * span));
  return out;
}

/** Hands out the spray a slice per tick, so the rate stays bounded (tick interval x slice size). */
export class Spray {
  private index = 0;
  private nextAt = 0;
  constructor(
    private readonly host: string,
    readonly ports: number[],
    private readonly perTick: number,
    private readonly tickMs: number,
    readonly predicted: number,
  ) {}

  next(now: number): Endpoint[] {
    if (now < this.nextAt || this.index >= this.ports.length) return [];
    this.nextAt = now + this.tickMs;
    const slice = this.ports.slice(this.index, this.index + this.perTick);
    this.index += slice.length;
    return slice.map((port) => ({ host: this.host, port }));
  }

  /** Whether `port` was one of the predicted ones (for the result's `via`). */
  isPredicted(port: number): boolean {
    return this.ports.indexOf(port) >= 0 && this.ports.indexOf(port) < this.predicted;
  }

  wakeAt(): number {
    return this.index < this.ports.length ? this.nextAt : Number.POSITIVE_INFINITY;
  }
}
