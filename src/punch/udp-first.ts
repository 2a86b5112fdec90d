import { grow } from "../backoff.ts";
import type { NetpunchEvent } from "../types.ts";
import type { PeerTimings } from "./config.ts";

/**
 * @default 3 REGISTERs: the first and its first two retransmissions, each given its whole wait (250, 500 and
 * 1,000 ms on the default schedule) before the WebSocket is tried, at 1,750 ms, when the third
 * retransmission would go out. One or two lost datagrams are loss; three unanswered sends in a row are a
 * path that drops UDP (at 20% loss each way a round trip fails 36% of the time, three in a row 4.7%: a lossy
 * UDP path is still taken nearly always, and a lost race only costs the WebSocket relay, which moves back).
 */
export const UNANSWERED_REGISTERS = 3;

/**
 * How long a peer with both a UDP server and a WebSocket waits for REGISTERED over UDP: the sum of the
 * first UNANSWERED_REGISTERS waits of the REGISTER schedule (rendezvous-client.ts: registerRetryMs,
 * doubling up to registerRetryMaxMs).
 */
export function udpFirstMs(t: Pick<PeerTimings, "registerRetryMs" | "registerRetryMaxMs">): number {
  const schedule = { firstMs: t.registerRetryMs, factor: 2, maxMs: t.registerRetryMaxMs, maxTries: 1 };
  let total = 0;
  let wait = t.registerRetryMs;
  for (let i = 0; i < UNANSWERED_REGISTERS; i++) {
    total += wait;
    wait = grow(schedule, wait);
  }
  return total;
}

/**
 * The events that say a server answered over UDP: REGISTERED (the first one may be a challenge, which says
 * nothing of its own), the wait it starts, a MATCH (which may come before any REGISTERED: matched on first
 * contact), or our role held by another peer. Any of them: UDP works.
 */
export const answeredOverUdp = (e: NetpunchEvent): boolean =>
  e.type === "registered" || e.type === "waiting" || e.type === "matched" || e.type === "role-busy";

/**
 * UDP first, then the WebSocket, pure (the time comes in): a peer given both registers over UDP; when no
 * REGISTERED has come `waitMs` after the start, or the UDP attempt failed before one came (the port is
 * closed, the name does not resolve), it falls back to the WebSocket, once. A REGISTERED over UDP settles it
 * the other way for good: that peer never opens the WebSocket.
 */
export class UdpFirst {
  private state: "udp" | "registered" | "websocket" = "udp";
  readonly deadline: number;

  constructor(now: number, waitMs: number) {
    this.deadline = now + waitMs;
  }

  get phase(): "udp" | "registered" | "websocket" {
    return this.state;
  }

  /** A server answered over UDP: stay there. */
  registered(): void {
    if (this.state === "udp") this.state = "registered";
  }

  /** Whether to fall back now (true once): the wait is over, or `failed` (the UDP attempt ended). */
  step(now: number, failed = false): boolean {
    if (this.state !== "udp" || (!failed && now < this.deadline)) return false;
    this.state = "websocket";
    return true;
  }

  /** When step() may next say yes; Infinity once decided. */
  wakeAt(): number {
    return this.state === "udp" ? this.deadline : Number.POSITIVE_INFINITY;
  }
}
