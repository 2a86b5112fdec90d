// The one socket PCP and NAT-PMP talk over: connected to the gateway's port 5351, with retransmission.
import { isIP } from "../addr.ts";
import { Backoff, type BackoffSchedule } from "../backoff.ts";
import type { Clock } from "../sys/clock.ts";
import { settleOnce } from "../sys/settle.ts";
import type { ConnectedTransport } from "../transport/udp.ts";
import type { PortMapEffects } from "./effects.ts";

export const PCP_PORT = 5351;

/**
 * RFC 6886 3.1: the first retransmission after 250 ms, each wait twice the last. PCP uses the same schedule
 * here (RFC 6887 8.1.1 would start at 3 s): on a LAN the gateway answers in milliseconds, and mapPort's
 * 1.5 s budget would otherwise allow a single PCP send. No try limit: the deadline ends it.
 */
export const GATEWAY_RETRY: BackoffSchedule = {
  firstMs: 250,
  factor: 2,
  maxMs: Number.POSITIVE_INFINITY,
  maxTries: Number.POSITIVE_INFINITY,
};

/**
 * A UDP socket connected to the gateway's port (transport/udp.ts openConnectedUdp). Connected on purpose:
 * the kernel picks the source address PCP must declare as the client address, only
 * the gateway's datagrams come through, and an ICMP port unreachable ("no daemon there") surfaces as
 * ECONNREFUSED, so a gateway without PCP/NAT-PMP costs one round trip instead of the whole timeout.
 */
export class GatewaySocket {
  refused = false;
  readonly #waiters = new Set<{ data(d: Uint8Array): void; refused(): void }>();

  private constructor(
    private readonly socket: ConnectedTransport,
    readonly clientIp: string,
    private readonly clock: Clock,
  ) {}

  static async open(
    gateway: string,
    port: number,
    fx: Pick<PortMapEffects, "clock" | "gatewaySocket">,
  ): Promise<GatewaySocket | undefined> {
    let self: GatewaySocket | undefined;
    try {
      const socket = await fx.gatewaySocket(
        { host: gateway, port },
        (data) => self?.dispatch(data),
        (code) => {
          if (code === "ECONNREFUSED") self?.refuse();
        },
      );
      self = new GatewaySocket(socket, socket.localHost, fx.clock);
      if (isIP(self.clientIp) !== 4) {
        self.close();
        return undefined;
      }
      return self;
    } catch {
      // No route to the gateway, no IPv4, out of sockets: no mapping, not an error for the caller.
      self?.close();
      return undefined;
    }
  }

  dispatch(data: Uint8Array): void {
    for (const w of [...this.#waiters]) w.data(data);
  }

  refuse(): void {
    this.refused = true;
    for (const w of [...this.#waiters]) w.refused();
  }

  /**
   * Sends `packet` at once and again after 250, 500, 1000... ms until `parse` accepts a reply, the
   * deadline passes, the gateway refuses (ICMP) or the signal aborts; undefined in all but the first case.
   */
  request<T>(
    packet: Uint8Array,
    parse: (data: Uint8Array) => T | undefined,
    deadline: number,
    signal?: AbortSignal,
  ): Promise<T | undefined> {
    const clock = this.clock;
    if (this.refused || clock.now() >= deadline) return Promise.resolve(undefined);
    return settleOnce<T | undefined>({ clock, deadline, signal, onDeadline: () => undefined }, (s) => {
      const waiter = {
        data: (d: Uint8Array) => {
          const value = parse(d);
          if (value !== undefined) s.resolve(value);
        },
        refused: () => s.resolve(undefined),
      };
      this.#waiters.add(waiter);
      s.defer(() => this.#waiters.delete(waiter));
      const retry = new Backoff(GATEWAY_RETRY);
      let cancel: () => void = () => {};
      s.defer(() => cancel());
      const send = () => {
        try {
          this.socket.send(packet);
        } catch {
          // A failed send is like a lost datagram: the next retransmission may get through.
        }
        cancel = clock.setTimer(retry.sent(clock.now()) - clock.now(), send);
      };
      send();
    });
  }

  close(): void {
    for (const w of [...this.#waiters]) w.refused();
    try {
      this.socket.close();
    } catch {
      // already closed
    }
  }
}

/** Where PCP and NAT-PMP find their gateway, and the effects they run on. */
export interface GatewayContext {
  gateway: string;
  port: number;
  localPort: number;
  ttl: number;
  deadline: number;
  signal?: AbortSignal;
  fx: PortMapEffects;
}

/** Opens a socket for one background exchange (renew, delete) and closes it again. */
export async function withSocket<T>(
  ctx: GatewayContext,
  fn: (s: GatewaySocket) => Promise<T | undefined>,
): Promise<T | undefined> {
  const s = await GatewaySocket.open(ctx.gateway, ctx.port, ctx.fx);
  if (!s) return undefined;
  try {
    return await fn(s);
  } finally {
    s.close();
  }
}
